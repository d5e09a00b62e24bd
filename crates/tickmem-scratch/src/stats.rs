//! [`ScratchStats`] and the registry of per-thread published stats.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use crossbeam_utils::CachePadded;
use thread_local::ThreadLocal;

/// What scratch arenas hold: for this thread ([`stats`](crate::stats)) or
/// summed over every thread that has used scratch
/// ([`global_stats`](crate::global_stats)).
///
/// # Examples
///
/// ```
/// tickmem_scratch::with(|s| {
///     s.alloc_slice_copy(&[0u8; 1000]);
///     let stats = tickmem_scratch::stats();
///     assert!(stats.bytes_in_use >= 1000);
///     assert_eq!(stats.depth, 1);
/// });
/// let after = tickmem_scratch::stats();
/// assert_eq!((after.bytes_in_use, after.depth), (0, 0));
/// assert!(after.high_water_bytes >= 1000);
/// assert!(after.bytes_reserved >= 1000); // kept for the next job
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ScratchStats {
    /// Bytes used by the scopes that are open (including alignment padding
    /// and chunk tails skipped when an allocation did not fit).
    pub bytes_in_use: usize,
    /// The most bytes that were in use at once (for [`global_stats`]: the sum
    /// of each thread's high-water).
    ///
    /// [`global_stats`]: crate::global_stats
    pub high_water_bytes: usize,
    /// Bytes of chunks held, in use or kept for later scopes (bumpalo's small
    /// per-chunk footer not included).
    pub bytes_reserved: usize,
    /// Scopes open right now (0 outside [`with`](crate::with)).
    pub depth: usize,
    /// Scopes closed so far.
    pub scopes: u64,
    /// Threads counted: 1 for [`stats`](crate::stats), the threads that have
    /// used scratch for [`global_stats`](crate::global_stats) (an exited
    /// thread's slot is reused by the next new thread).
    pub threads: usize,
}

impl fmt::Display for ScratchStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} B in use, {} B high-water, {} B reserved, depth {}, {} scopes, {} thread(s)",
            self.bytes_in_use,
            self.high_water_bytes,
            self.bytes_reserved,
            self.depth,
            self.scopes,
            self.threads
        )
    }
}

/// One thread's stats as last published. Written only by the owning thread,
/// with `Relaxed` stores, when one of its scopes exits or it trims; read by
/// [`global_stats`]. Cache-padded so no two threads write the same line.
#[derive(Debug, Default)]
pub(crate) struct Published {
    pub(crate) bytes_in_use: AtomicUsize,
    pub(crate) high_water_bytes: AtomicUsize,
    pub(crate) bytes_reserved: AtomicUsize,
    pub(crate) depth: AtomicUsize,
    pub(crate) scopes: AtomicU64,
    /// Serial number of the thread that owns the slot now (slots of exited
    /// threads are handed to new threads by `thread_local`).
    pub(crate) owner: AtomicU64,
}

/// Every thread's published stats.
pub(crate) static REGISTRY: ThreadLocal<CachePadded<Published>> = ThreadLocal::new();

/// Serial numbers for threads (0 is "nobody").
pub(crate) static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

/// Scratch stats summed over every thread that has used scratch, as each
/// thread last published them (at its last scope exit). Exact once the
/// threads are between jobs.
///
/// # Examples
///
/// ```
/// std::thread::spawn(|| tickmem_scratch::with(|s| { s.alloc([0u8; 256]); })).join().unwrap();
/// let all = tickmem_scratch::global_stats();
/// assert!(all.threads >= 1 && all.scopes >= 1);
/// assert!(all.high_water_bytes >= 256);
/// ```
pub fn global_stats() -> ScratchStats {
    let mut total = ScratchStats::default();
    for slot in REGISTRY.iter() {
        total.bytes_in_use += slot.bytes_in_use.load(Relaxed);
        total.high_water_bytes += slot.high_water_bytes.load(Relaxed);
        total.bytes_reserved += slot.bytes_reserved.load(Relaxed);
        total.depth += slot.depth.load(Relaxed);
        total.scopes += slot.scopes.load(Relaxed);
        total.threads += 1;
    }
    total
}
