//! [`CountingAlloc`]: the `GlobalAlloc` wrapper.

use std::alloc::{GlobalAlloc, Layout, System};

use crate::counters::{Event, record};

/// A global allocator that counts every call, then forwards it to `A`.
///
/// Install it once per binary (a test binary, a game):
///
/// ```
/// use tickmem_track::CountingAlloc;
///
/// #[global_allocator]
/// static GLOBAL: CountingAlloc = CountingAlloc::system();
///
/// let ((), stats) = tickmem_track::count(|| drop(Box::new([0u8; 64])));
/// assert_eq!((stats.allocs, stats.deallocs, stats.bytes_allocated), (1, 1, 64));
/// ```
///
/// Any inner allocator works, e.g. `CountingAlloc::new(mimalloc::MiMalloc)`.
///
/// # What it costs
///
/// Per call: a few non-atomic adds to this thread's counters and a few
/// `Relaxed` atomic adds to a cache-padded shard owned by this thread (shared
/// only once more than 64 threads have allocated). No lock, no allocation,
/// and no cache line shared between threads in the common case.
/// [`with_global_peak`](Self::with_global_peak) adds one shared atomic per
/// call to track the process-wide peak of live bytes.
///
/// # What it does not do
///
/// The counters are process-wide statics, not fields: only one
/// `CountingAlloc` should be the source of truth in a process, which is what
/// `#[global_allocator]` gives you. It does not change how memory is
/// allocated.
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAlloc<A = System> {
    inner: A,
    global_peak: bool,
}

impl CountingAlloc<System> {
    /// Counts calls and forwards them to [`System`] (glibc's malloc on Linux).
    pub const fn system() -> Self {
        Self::new(System)
    }
}

impl<A> CountingAlloc<A> {
    /// Counts calls and forwards them to `inner`.
    pub const fn new(inner: A) -> Self {
        CountingAlloc {
            inner,
            global_peak: false,
        }
    }

    /// Also track the process-wide peak of live bytes
    /// ([`GlobalStats::peak_live_bytes`](crate::GlobalStats::peak_live_bytes)),
    /// at the cost of one shared atomic per call.
    pub const fn with_global_peak(mut self) -> Self {
        self.global_peak = true;
        self
    }

    /// The allocator calls are forwarded to.
    pub const fn inner(&self) -> &A {
        &self.inner
    }

    /// Count a successful allocation (`alloc` or `alloc_zeroed`) and pass
    /// `ptr` through.
    #[inline(always)]
    fn counted_alloc(&self, ptr: *mut u8, layout: Layout) -> *mut u8 {
        if !ptr.is_null() {
            record(
                Event::Alloc {
                    size: layout.size(),
                },
                self.global_peak,
            );
            #[cfg(feature = "tracy-global-alloc")]
            tickmem_tracy::global_alloc(ptr, layout.size());
        }
        ptr
    }
}

// SAFETY: every method forwards to `self.inner` with the caller's arguments
// unchanged and returns its result unchanged, so `CountingAlloc<A>` upholds
// exactly the contract `A` upholds. Counting (`record`) does not allocate and
// does not touch the memory.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAlloc<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract for
        // `layout` (non-zero size), which is the inner allocator's contract.
        let ptr = unsafe { self.inner.alloc(layout) };
        self.counted_alloc(ptr, layout)
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { self.inner.alloc_zeroed(layout) };
        self.counted_alloc(ptr, layout)
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        #[cfg(feature = "tracy-global-alloc")]
        tickmem_tracy::global_free(ptr);
        // SAFETY: the caller guarantees `ptr` was allocated by this allocator
        // (hence by `inner`, which made every block we handed out) with
        // `layout`.
        unsafe { self.inner.dealloc(ptr, layout) };
        record(
            Event::Dealloc {
                size: layout.size(),
            },
            self.global_peak,
        );
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `ptr` came from this allocator (so
        // from `inner`) with `layout`, and that `new_size` is valid for it.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            record(
                Event::Realloc {
                    old: layout.size(),
                    new: new_size,
                },
                self.global_peak,
            );
            #[cfg(feature = "tracy-global-alloc")]
            {
                tickmem_tracy::global_free(ptr);
                tickmem_tracy::global_alloc(new, new_size);
            }
        }
        new
    }
}
