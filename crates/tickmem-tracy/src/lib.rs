//! Tracy instrumentation for tickmem: frame marks, zones, plots, messages and
//! named memory pools.
//!
//! Every tickmem crate emits through this one small layer. Without the
//! `tracy` feature, `tracy-client` is not compiled and every function here is
//! an empty `#[inline(always)]` body or a zero-sized type: instrumentation
//! compiles to nothing.
//!
//! (The `tracy` on-mode is being built; this file fixes the API every other
//! crate calls.)
#![warn(missing_docs)]

/// `true` when built with the `tracy` feature.
pub const ENABLED: bool = cfg!(feature = "tracy");

/// How Tracy shows a plot's values.
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
/// frame. Zero-sized without the `tracy` feature.
///
/// ```
/// use tickmem_tracy::{Plot, PlotFormat};
/// let plot = Plot::new("tickmem/frame_bytes", PlotFormat::Memory);
/// plot.set(4096.0);
/// ```
#[derive(Debug)]
pub struct Plot {
    _private: (),
}

impl Plot {
    /// A plot named `name` (e.g. `tickmem/pool_live/Bullet`).
    #[inline(always)]
    pub fn new(name: impl Into<String>, format: PlotFormat) -> Self {
        let _ = (name, format);
        Plot { _private: () }
    }

    /// Add a point to the plot.
    #[inline(always)]
    pub fn set(&self, value: f64) {
        let _ = value;
    }
}

/// A named Tracy memory pool (one per arena lane), in which tickmem reports
/// its chunks. Zero-sized without the `tracy` feature.
#[derive(Debug)]
pub struct MemoryPool {
    _private: (),
}

impl MemoryPool {
    /// A pool named `name` (e.g. `tickmem/frame/lane3`).
    #[inline(always)]
    pub fn new(name: impl Into<String>) -> Self {
        let _ = name;
        MemoryPool { _private: () }
    }

    /// Report `size` bytes at `ptr` as allocated in this pool.
    #[inline(always)]
    pub fn alloc(&self, ptr: *const u8, size: usize) {
        let _ = (ptr, size);
    }

    /// Report the block at `ptr` as freed.
    #[inline(always)]
    pub fn free(&self, ptr: *const u8) {
        let _ = ptr;
    }

    /// Report every block of the pool as freed, in one event (a frame is
    /// reclaimed).
    #[inline(always)]
    pub fn discard(&self) {}
}

/// Mark the end of a frame. The ECS frame-boundary system calls it once per
/// tick; call it yourself at the end of each tick of a non-ECS loop.
#[inline(always)]
pub fn frame_mark() {}

/// Send a text message to Tracy's message log (e.g. a budget overrun).
#[inline(always)]
pub fn message(text: &str) {
    let _ = text;
}

/// Report a global allocation (used by `tickmem-track`'s
/// `tracy-global-alloc` feature).
#[inline(always)]
pub fn global_alloc(ptr: *const u8, size: usize) {
    let _ = (ptr, size);
}

/// Report a global deallocation (see [`global_alloc`]).
#[inline(always)]
pub fn global_free(ptr: *const u8) {
    let _ = ptr;
}

/// Open a Tracy zone named by a string literal until the end of the enclosing
/// scope. Nothing without the `tracy` feature.
///
/// ```
/// fn begin_frame() {
///     tickmem_tracy::zone!("tickmem::begin_frame");
///     // ... the work the zone measures ...
/// }
/// begin_frame();
/// ```
#[macro_export]
macro_rules! zone {
    ($name:literal) => {
        let _tickmem_tracy_zone = ();
    };
}
