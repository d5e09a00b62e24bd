#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
// Layout: `lib.rs` holds the public API, identical in every build. Each
// public function forwards to `emit` (the one emission layer: recording sink
// + backend) when `record` is on (`tracy` and `tracy-network` turn it on),
// and is an empty `#[inline(always)]` body otherwise. `emit` forwards to
// `ffi` (the only module with `unsafe`, Tracy's C API) when a Tracy client is
// compiled in, and to empty functions otherwise.

#[cfg(feature = "record")]
mod emit;
#[cfg(any(feature = "tracy", feature = "tracy-network"))]
#[expect(
    unsafe_code,
    reason = "Tracy's C API (memory pools, plots) is only reachable through tracy-client-sys FFI; \
              this module is compiled only with the `tracy`/`tracy-network` features, never by \
              default, so the default build (and Miri) has no unsafe code"
)]
mod ffi;
#[cfg(feature = "record")]
mod name;
#[cfg(feature = "record")]
mod pool;
#[cfg(feature = "record")]
pub mod testing;
#[cfg(feature = "record")]
mod viewer;

use std::marker::PhantomData;

/// `true` when a Tracy client is compiled in (the `tracy` or `tracy-network`
/// feature).
///
/// # Examples
///
/// ```
/// if tickmem_tracy::ENABLED {
///     // e.g. skip computing a statistic that only Tracy would show
/// }
/// ```
pub const ENABLED: bool = cfg!(any(feature = "tracy", feature = "tracy-network"));

/// `true` when emissions go anywhere: to Tracy ([`ENABLED`]) or to the
/// recording sink of tests (the `record` feature, which `tracy` turns on).
///
/// Gate work that only feeds instrumentation on this rather than on
/// [`ENABLED`], so tests built with `record` (and no Tracy client) see it.
///
/// # Examples
///
/// ```
/// assert!(tickmem_tracy::ACTIVE || !tickmem_tracy::ENABLED);
/// if tickmem_tracy::ACTIVE {
///     // e.g. report a new arena chunk to a MemoryPool
/// }
/// ```
pub const ACTIVE: bool = cfg!(feature = "record");

/// How Tracy shows a plot's values.
///
/// # Examples
///
/// ```
/// use tickmem_tracy::{Plot, PlotFormat};
/// let bytes = Plot::new("tickmem/frame_bytes", PlotFormat::Memory); // KiB, MiB, ...
/// let calls = Plot::new("tickmem/allocs_per_frame", PlotFormat::Number);
/// bytes.set(65536.0);
/// calls.set(0.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlotFormat {
    /// Plain numbers (counts).
    Number,
    /// Bytes, shown as memory (KiB, MiB, ...).
    Memory,
    /// Percentages.
    Percentage,
}

/// A named plot, created once (e.g. when a system is installed) and set every
/// frame. Zero-sized without the `tracy` (or `record`) feature.
///
/// Tracy draws each plot as a stepped, filled graph under the timeline (one
/// value per frame), formatted by its [`PlotFormat`].
///
/// Names are interned: the first `Plot::new` of a name leaks one copy of it
/// (Tracy keeps the pointer and reads the string when a viewer asks for it),
/// later ones reuse it, so creating plots repeatedly does not grow memory.
/// Two `Plot`s with the same name feed the same graph; the format of the
/// latest `Plot::new` is the one Tracy uses.
///
/// # Panics
///
/// With the `tracy` or `record` feature, [`Plot::new`] panics if `name`
/// contains a NUL byte (Tracy names are C strings).
///
/// # Examples
///
/// ```
/// use tickmem_tracy::{Plot, PlotFormat};
/// let plot = Plot::new("tickmem/frame_bytes", PlotFormat::Memory);
/// plot.set(4096.0);
/// // Names may be built at run time, e.g. per pooled type:
/// let live = Plot::new(format!("tickmem/pool_live/{}", "Bullet"), PlotFormat::Number);
/// live.set(12_000.0);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Plot {
    #[cfg(feature = "record")]
    name: name::Name,
    #[cfg(not(feature = "record"))]
    _private: (),
}

impl Plot {
    /// A plot named `name` (e.g. `tickmem/pool_live/Bullet`), shown in
    /// `format`.
    #[inline(always)]
    pub fn new(name: impl Into<String>, format: PlotFormat) -> Self {
        #[cfg(feature = "record")]
        {
            Plot {
                name: emit::plot_new(name.into(), format),
            }
        }
        #[cfg(not(feature = "record"))]
        {
            let _ = (name, format);
            Plot { _private: () }
        }
    }

    /// Add a point to the plot (timestamped now).
    #[inline(always)]
    pub fn set(&self, value: f64) {
        #[cfg(feature = "record")]
        emit::plot(self.name, value);
        #[cfg(not(feature = "record"))]
        let _ = value;
    }
}

/// A named Tracy memory pool, in which tickmem reports its chunks (the frame
/// arena uses two per lane, one per frame parity:
/// `tickmem/frame/arena<A>/lane<N>/even` and `…/odd`, because two frames are
/// alive at once and a discard frees a whole pool). Zero-sized without the
/// `tracy` (or `record`) feature.
///
/// Tracy's memory window lists each pool by name with its allocations, a
/// memory-usage graph and the active allocations at any point of the
/// timeline. [`discard`](MemoryPool::discard) frees every block of the pool
/// in one event (Tracy's `___tracy_emit_memory_discard`), which is how a
/// frame is reclaimed.
///
/// **Correct whenever the viewer connects.** The pool remembers its live
/// blocks. A viewer that connects after they were allocated is told about
/// them at the next frame mark (or the pool's next allocation), and a free or
/// discard is only sent for a pool whose blocks this viewer was told about:
/// Tracy ignores a discard of a pool it never saw an allocation for without
/// advancing its memory-event clock, which would shift every later memory
/// event of the capture to about minus the process uptime.
///
/// Tracy identifies a pool by its name: names are interned like [`Plot`]
/// names, and two `MemoryPool`s with the same name are the same pool (so give
/// each arena lane its own name). Addresses are only reported, never read.
///
/// # Panics
///
/// With the `tracy` or `record` feature, [`MemoryPool::new`] panics if
/// `name` contains a NUL byte.
///
/// # Examples
///
/// ```
/// use tickmem_tracy::MemoryPool;
/// let pool = MemoryPool::new("tickmem/frame/arena0/lane0/even");
/// let chunk = vec![0u8; 4096];
/// pool.alloc(chunk.as_ptr(), chunk.len());
/// // ... the frame ends and its memory is reclaimed:
/// pool.discard();
/// ```
#[derive(Debug, Clone, Copy)]
pub struct MemoryPool {
    #[cfg(feature = "record")]
    state: &'static pool::PoolState,
    #[cfg(not(feature = "record"))]
    _private: (),
}

impl MemoryPool {
    /// A pool named `name` (e.g. `tickmem/frame/arena0/lane3/odd`).
    #[inline(always)]
    pub fn new(name: impl Into<String>) -> Self {
        #[cfg(feature = "record")]
        {
            MemoryPool {
                state: emit::pool_new(name.into()),
            }
        }
        #[cfg(not(feature = "record"))]
        {
            let _ = name;
            MemoryPool { _private: () }
        }
    }

    /// Report `size` bytes at `ptr` as allocated in this pool.
    #[inline(always)]
    pub fn alloc(&self, ptr: *const u8, size: usize) {
        #[cfg(feature = "record")]
        self.state.alloc(ptr.addr(), size);
        #[cfg(not(feature = "record"))]
        let _ = (ptr, size);
    }

    /// Report the block at `ptr` as freed.
    #[inline(always)]
    pub fn free(&self, ptr: *const u8) {
        #[cfg(feature = "record")]
        self.state.free(ptr.addr());
        #[cfg(not(feature = "record"))]
        let _ = ptr;
    }

    /// Report every block of the pool as freed, in one event (a frame is
    /// reclaimed).
    #[inline(always)]
    pub fn discard(&self) {
        #[cfg(feature = "record")]
        self.state.discard();
    }
}

/// Mark the end of a frame. The ECS frame-boundary system calls it once per
/// tick; call it yourself at the end of each tick of a non-ECS loop.
///
/// # Examples
///
/// ```
/// for _tick in 0..3 {
///     // ... simulate ...
///     tickmem_tracy::frame_mark();
/// }
/// ```
#[inline(always)]
pub fn frame_mark() {
    #[cfg(feature = "record")]
    emit::frame_mark();
}

/// Send a text message to Tracy's message log (e.g. a budget overrun).
///
/// Tracy limits a message to 65,534 bytes; a longer `text` is cut at the
/// last character boundary before that.
///
/// # Examples
///
/// ```
/// let calls = 3;
/// tickmem_tracy::message(&format!("tickmem: frame allocation budget overrun: {calls} calls"));
/// ```
#[inline(always)]
pub fn message(text: &str) {
    #[cfg(feature = "record")]
    emit::message(text);
    #[cfg(not(feature = "record"))]
    let _ = text;
}

/// `true` while a Tracy viewer is connected (always `false` without a Tracy
/// client compiled in, unless a test simulates a viewer with
/// `testing::simulate_viewer`, feature `record`).
///
/// With on-demand mode, nothing is sent or queued while this is `false`, so
/// an expensive statistic that only Tracy shows can be skipped.
///
/// # Examples
///
/// ```
/// if tickmem_tracy::connected() {
///     // compute and plot something expensive
/// }
/// ```
#[inline(always)]
pub fn connected() -> bool {
    #[cfg(feature = "record")]
    if let Some(simulated) = viewer::simulated() {
        return simulated;
    }
    #[cfg(any(feature = "tracy", feature = "tracy-network"))]
    {
        ffi::connected()
    }
    #[cfg(not(any(feature = "tracy", feature = "tracy-network")))]
    {
        false
    }
}

/// Report a global allocation in Tracy's default memory pool (used by
/// `tickmem-track`'s `tracy-global-alloc` feature, from inside its
/// `GlobalAlloc`).
///
/// Safe to call from a global allocator: it never allocates through the
/// Rust global allocator, takes no Rust lock, never touches the recording
/// sink (global allocations are never recorded), and works before anything else of Tracy was used (it starts the client
/// first, like `tracy_client::ProfiledAllocator`). Nothing without a Tracy
/// client compiled in.
///
/// # Examples
///
/// ```
/// let block = vec![0u8; 64];
/// tickmem_tracy::global_alloc(block.as_ptr(), block.len());
/// tickmem_tracy::global_free(block.as_ptr());
/// ```
#[inline(always)]
pub fn global_alloc(ptr: *const u8, size: usize) {
    #[cfg(any(feature = "tracy", feature = "tracy-network"))]
    ffi::global_alloc(ptr, size);
    #[cfg(not(any(feature = "tracy", feature = "tracy-network")))]
    let _ = (ptr, size);
}

/// Report a global deallocation (see [`global_alloc`]).
#[inline(always)]
pub fn global_free(ptr: *const u8) {
    #[cfg(any(feature = "tracy", feature = "tracy-network"))]
    ffi::global_free(ptr);
    #[cfg(not(any(feature = "tracy", feature = "tracy-network")))]
    let _ = ptr;
}

/// A Tracy zone, open until dropped. Made by [`zone!`]; zero-sized and
/// without `Drop` when the `tracy` (and `record`) feature is off.
///
/// `!Send`: a zone ends on the thread that opened it.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<tickmem_tracy::Zone>();
/// ```
#[must_use = "a zone ends when its guard is dropped"]
pub struct Zone {
    #[cfg(feature = "record")]
    name: &'static str,
    #[cfg(any(feature = "tracy", feature = "tracy-network"))]
    _span: tracy_client::Span,
    _not_send: PhantomData<*const ()>,
}

impl std::fmt::Debug for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Zone");
        #[cfg(feature = "record")]
        d.field("name", &self.name);
        d.finish_non_exhaustive()
    }
}

impl Zone {
    /// Used by [`zone!`] when nothing is compiled in.
    #[doc(hidden)]
    #[inline(always)]
    #[cfg(not(feature = "record"))]
    pub const fn __disabled() -> Zone {
        Zone {
            _not_send: PhantomData,
        }
    }

    /// Used by [`zone!`] with `record` but no Tracy client.
    #[doc(hidden)]
    #[inline(always)]
    #[cfg(all(
        feature = "record",
        not(any(feature = "tracy", feature = "tracy-network"))
    ))]
    pub fn __enter(name: &'static str) -> Zone {
        emit::zone_enter(name);
        Zone {
            name,
            _not_send: PhantomData,
        }
    }

    /// Used by [`zone!`] with a Tracy client: `location` is the call site's
    /// static source location (from `tracy_client::span_location!`).
    #[doc(hidden)]
    #[inline(always)]
    #[cfg(any(feature = "tracy", feature = "tracy-network"))]
    pub fn __enter(name: &'static str, location: &'static tracy_client::SpanLocation) -> Zone {
        emit::zone_enter(name);
        Zone {
            name,
            _span: ffi::span(location),
            _not_send: PhantomData,
        }
    }
}

#[cfg(feature = "record")]
impl Drop for Zone {
    #[inline(always)]
    fn drop(&mut self) {
        // Runs before `_span` is dropped (which ends the Tracy zone).
        emit::zone_exit(self.name);
    }
}

/// Items the macros of this crate expand to. Not public API.
#[doc(hidden)]
pub mod __private {
    #[cfg(any(feature = "tracy", feature = "tracy-network"))]
    pub use tracy_client;
}

/// Open a Tracy zone named by a string literal until the end of the enclosing
/// scope. Nothing without the `tracy` feature.
///
/// With the feature, the zone carries a static source location (file, line,
/// function), made once per call site, like `tracy_client::span!`. Callers
/// do not need `tracy-client` as a dependency.
///
/// ```
/// fn begin_frame() {
///     tickmem_tracy::zone!("tickmem::begin_frame");
///     // ... the work the zone measures ...
/// }
/// begin_frame();
/// ```
#[cfg(any(feature = "tracy", feature = "tracy-network"))]
#[macro_export]
macro_rules! zone {
    ($name:literal) => {
        let _tickmem_tracy_zone = $crate::Zone::__enter(
            $name,
            $crate::__private::tracy_client::span_location!($name),
        );
    };
}

/// Open a Tracy zone named by a string literal until the end of the enclosing
/// scope. Nothing without the `tracy` feature (with only `record`, the zone
/// is recorded).
///
/// ```
/// fn begin_frame() {
///     tickmem_tracy::zone!("tickmem::begin_frame");
///     // ... the work the zone measures ...
/// }
/// begin_frame();
/// ```
#[cfg(all(
    feature = "record",
    not(any(feature = "tracy", feature = "tracy-network"))
))]
#[macro_export]
macro_rules! zone {
    ($name:literal) => {
        let _tickmem_tracy_zone = $crate::Zone::__enter($name);
    };
}

/// Open a Tracy zone named by a string literal until the end of the enclosing
/// scope. Nothing without the `tracy` feature: this build expands to a
/// zero-sized guard without `Drop`.
///
/// ```
/// fn begin_frame() {
///     tickmem_tracy::zone!("tickmem::begin_frame");
///     // ... the work the zone measures ...
/// }
/// begin_frame();
/// ```
#[cfg(not(feature = "record"))]
#[macro_export]
macro_rules! zone {
    ($name:literal) => {
        let _tickmem_tracy_zone = $crate::Zone::__disabled();
    };
}
