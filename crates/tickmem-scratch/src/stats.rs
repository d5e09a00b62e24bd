//! [`ScratchStats`] and the registry of per-thread published stats.

use std::fmt;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Mutex, OnceLock, PoisonError};

use crossbeam_utils::CachePadded;

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
    /// Threads counted: 1 for [`stats`](crate::stats) once the thread has
    /// opened a scope (0 after its scratch state is gone); for
    /// [`global_stats`](crate::global_stats), the registry's slots: one per
    /// thread that has used scratch and not exited, plus those exited
    /// threads left for reuse by new ones.
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

/// One thread's stats as last published. Written only by the thread that
/// has claimed the slot, with `Relaxed` stores, when one of its scopes exits
/// or it trims; read by [`global_stats`]. Cache-padded (in [`Slot`]) so no
/// two threads write the same line.
#[derive(Debug, Default)]
pub(crate) struct Published {
    pub(crate) bytes_in_use: AtomicUsize,
    pub(crate) high_water_bytes: AtomicUsize,
    pub(crate) bytes_reserved: AtomicUsize,
    pub(crate) depth: AtomicUsize,
    pub(crate) scopes: AtomicU64,
    /// A thread's scratch state owns the slot: from its first scope until
    /// its thread-local destructor has run. Only the owner writes the other
    /// fields.
    claimed: AtomicBool,
}

/// A registry entry: published stats, kept for the next thread once the
/// owner's state is gone.
#[derive(Debug)]
struct Slot {
    stats: CachePadded<Published>,
    /// The slot made before this one (set once, before the slot is
    /// reachable).
    next: OnceLock<&'static Slot>,
}

/// The registry: every slot ever made, newest first. Push-only: slots are
/// never freed (there are at most as many as threads were ever alive at
/// once). The lock is held only to read or swap the head, never while
/// allocating.
static SLOTS: Mutex<Option<&'static Slot>> = Mutex::new(None);

fn newest_slot() -> Option<&'static Slot> {
    // Nothing under the lock can panic; recover from poisoning anyway.
    *SLOTS.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Published {
    /// Claim a free slot for the calling thread, or make one (the only
    /// allocation, when every slot is claimed).
    pub(crate) fn claim() -> &'static Published {
        let mut next = newest_slot();
        while let Some(slot) = next {
            if slot
                .stats
                .claimed
                .compare_exchange(false, true, Acquire, Relaxed)
                .is_ok()
            {
                return &slot.stats;
            }
            next = slot.next.get().copied();
        }
        let slot: &'static Slot = Box::leak(Box::new(Slot {
            stats: CachePadded::new(Published {
                claimed: AtomicBool::new(true),
                ..Published::default()
            }),
            next: OnceLock::new(),
        }));
        let mut head = SLOTS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = *head {
            let _ = slot.next.set(old);
        }
        *head = Some(slot);
        &slot.stats
    }

    /// Give the slot up (the owner's scratch state is gone): nothing in use
    /// or reserved any more; scopes and high-water stay counted.
    pub(crate) fn release(&self) {
        self.bytes_in_use.store(0, Relaxed);
        self.bytes_reserved.store(0, Relaxed);
        self.depth.store(0, Relaxed);
        // The next owner's `Acquire` claim sees the stores above.
        self.claimed.store(false, Release);
    }
}

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
    let mut next = newest_slot();
    while let Some(node) = next {
        next = node.next.get().copied();
        let slot = &node.stats;
        total.bytes_in_use += slot.bytes_in_use.load(Relaxed);
        total.high_water_bytes += slot.high_water_bytes.load(Relaxed);
        total.bytes_reserved += slot.bytes_reserved.load(Relaxed);
        total.depth += slot.depth.load(Relaxed);
        total.scopes += slot.scopes.load(Relaxed);
        total.threads += 1;
    }
    total
}
