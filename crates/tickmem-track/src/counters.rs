//! The counters behind [`CountingAlloc`](crate::CountingAlloc).
//!
//! Two views of the same events are kept:
//!
//! * **Per thread**, in a `const`-initialised `thread_local!` of plain
//!   [`Cell`]s. It has no destructor, so reading it never allocates, never
//!   registers a TLS destructor and stays valid while the thread is being torn
//!   down, which is what an allocator needs. Only the owning thread touches it:
//!   no atomics, no shared cache line.
//! * **Process totals**, in [`SHARDS`] cache-padded shards of atomics. A thread
//!   is given a shard the first time it allocates (round robin), so threads
//!   only share a shard once more than [`SHARDS`] threads have allocated. The
//!   updates are `Relaxed` read-modify-writes, which keeps totals exact even
//!   when a shard is shared; the line written is the thread's own in the usual
//!   case. Totals are the sum over shards when asked for.
//!
//! The global peak of live bytes is a process-wide maximum and cannot be
//! sharded; it is only tracked when asked for
//! ([`CountingAlloc::with_global_peak`](crate::CountingAlloc::with_global_peak)),
//! at the cost of one shared atomic per call.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering::Relaxed};

use crossbeam_utils::CachePadded;

/// Number of cache-padded shards holding the process totals.
pub(crate) const SHARDS: usize = 64;

/// What a thread (or a measured closure) asked of the global allocator.
///
/// A reallocation counts once in `reallocs` and, in the byte counters, as
/// freeing the old block and allocating the new one, so
/// `bytes_allocated - bytes_freed` is always the change in live bytes.
/// Calls that fail (the inner allocator returns null) are not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AllocStats {
    /// Successful `alloc` and `alloc_zeroed` calls.
    pub allocs: u64,
    /// `dealloc` calls.
    pub deallocs: u64,
    /// Successful `realloc` calls.
    pub reallocs: u64,
    /// Bytes handed out (allocations, and the new size of reallocations).
    pub bytes_allocated: u64,
    /// Bytes given back (deallocations, and the old size of reallocations).
    pub bytes_freed: u64,
    /// Highest number of live bytes reached, counted from the start of the
    /// measurement (the thread's start for [`thread_stats`](crate::thread_stats),
    /// the closure's start for [`count`](crate::count)). Bytes freed that were
    /// allocated elsewhere can make live bytes negative; the peak is never
    /// below 0.
    pub peak_bytes: u64,
}

impl AllocStats {
    /// Calls made to the global allocator: `allocs + deallocs + reallocs`.
    ///
    /// This is what a [`FrameBudget`](crate::FrameBudget) limits.
    pub const fn calls(&self) -> u64 {
        self.allocs + self.deallocs + self.reallocs
    }

    /// Change in live bytes: `bytes_allocated - bytes_freed`.
    pub const fn net_bytes(&self) -> i64 {
        self.bytes_allocated as i64 - self.bytes_freed as i64
    }

    /// `true` when no call was made.
    pub const fn is_empty(&self) -> bool {
        self.calls() == 0
    }

    /// The counts made between `earlier` and `self`, two readings of the
    /// same counters (`peak_bytes` is kept from `self`).
    ///
    /// ```
    /// let a = tickmem_track::thread_stats();
    /// let b = tickmem_track::thread_stats();
    /// assert!(b.since(&a).calls() <= b.calls());
    /// ```
    pub fn since(&self, earlier: &AllocStats) -> AllocStats {
        AllocStats {
            allocs: self.allocs - earlier.allocs,
            deallocs: self.deallocs - earlier.deallocs,
            reallocs: self.reallocs - earlier.reallocs,
            bytes_allocated: self.bytes_allocated - earlier.bytes_allocated,
            bytes_freed: self.bytes_freed - earlier.bytes_freed,
            peak_bytes: self.peak_bytes,
        }
    }
}

impl std::fmt::Display for AllocStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} calls ({} allocs, {} deallocs, {} reallocs; {} bytes allocated, {} freed)",
            self.calls(),
            self.allocs,
            self.deallocs,
            self.reallocs,
            self.bytes_allocated,
            self.bytes_freed
        )
    }
}

/// Process-wide totals over all threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct GlobalStats {
    /// Successful `alloc` and `alloc_zeroed` calls.
    pub allocs: u64,
    /// `dealloc` calls.
    pub deallocs: u64,
    /// Successful `realloc` calls.
    pub reallocs: u64,
    /// Bytes handed out.
    pub bytes_allocated: u64,
    /// Bytes given back.
    pub bytes_freed: u64,
    /// Highest number of live bytes in the process, or `None` when the
    /// allocator was not built with
    /// [`with_global_peak`](crate::CountingAlloc::with_global_peak) (tracking
    /// it needs one shared atomic per call).
    pub peak_live_bytes: Option<u64>,
}

impl GlobalStats {
    /// Calls made to the global allocator: `allocs + deallocs + reallocs`.
    pub const fn calls(&self) -> u64 {
        self.allocs + self.deallocs + self.reallocs
    }

    /// Bytes live right now: `bytes_allocated - bytes_freed`.
    pub const fn live_bytes(&self) -> i64 {
        self.bytes_allocated as i64 - self.bytes_freed as i64
    }

    /// What the whole process asked of the allocator between `earlier` and
    /// `self` (`peak_bytes` is 0: a per-thread measure).
    ///
    /// # Examples
    ///
    /// ```
    /// use tickmem_track::CountingAlloc;
    ///
    /// #[global_allocator]
    /// static GLOBAL: CountingAlloc = CountingAlloc::system();
    ///
    /// let before = tickmem_track::global_stats();
    /// std::thread::spawn(|| drop(vec![0u8; 100])).join().unwrap();
    /// let delta = tickmem_track::global_stats().since(&before);
    /// assert!(delta.bytes_allocated >= 100); // the thread's Vec, and more
    /// ```
    pub fn since(&self, earlier: &GlobalStats) -> AllocStats {
        AllocStats {
            allocs: self.allocs.wrapping_sub(earlier.allocs),
            deallocs: self.deallocs.wrapping_sub(earlier.deallocs),
            reallocs: self.reallocs.wrapping_sub(earlier.reallocs),
            bytes_allocated: self.bytes_allocated.wrapping_sub(earlier.bytes_allocated),
            bytes_freed: self.bytes_freed.wrapping_sub(earlier.bytes_freed),
            peak_bytes: 0,
        }
    }
}

pub(crate) struct Local {
    allocs: Cell<u64>,
    deallocs: Cell<u64>,
    reallocs: Cell<u64>,
    bytes_allocated: Cell<u64>,
    bytes_freed: Cell<u64>,
    /// `bytes_allocated - bytes_freed` of this thread.
    live: Cell<i64>,
    /// Highest `live` since `peak_base` was last set.
    peak: Cell<i64>,
    /// `shard index + 1`, or 0 before the first call.
    shard: Cell<u32>,
    /// Attribution state of this thread (see `attribution.rs`).
    #[cfg(feature = "attribution")]
    pub(crate) attribution: crate::attribution::ThreadState,
    /// Housekeeping scope and totals of this thread (see `housekeeping.rs`).
    pub(crate) housekeeping: crate::housekeeping::ThreadState,
}

impl Local {
    const fn new() -> Self {
        Local {
            allocs: Cell::new(0),
            deallocs: Cell::new(0),
            reallocs: Cell::new(0),
            bytes_allocated: Cell::new(0),
            bytes_freed: Cell::new(0),
            live: Cell::new(0),
            peak: Cell::new(0),
            shard: Cell::new(0),
            #[cfg(feature = "attribution")]
            attribution: crate::attribution::ThreadState::new(),
            housekeeping: crate::housekeeping::ThreadState::new(),
        }
    }

    fn shard(&self) -> &'static Shard {
        let mut s = self.shard.get();
        if s == 0 {
            s = NEXT_SHARD.fetch_add(1, Relaxed) % SHARDS as u32 + 1;
            self.shard.set(s);
        }
        &SHARD_TABLE[(s - 1) as usize]
    }

    fn add_live(&self, delta: i64) {
        let live = self.live.get() + delta;
        self.live.set(live);
        if live > self.peak.get() {
            self.peak.set(live);
        }
    }
}

thread_local! {
    // `const` and without `Drop`: no lazy initialisation, no destructor
    // registration, no allocation. Safe to use inside the global allocator.
    pub(crate) static LOCAL: Local = const { Local::new() };
}

#[derive(Default)]
struct ShardCounters {
    allocs: AtomicU64,
    deallocs: AtomicU64,
    reallocs: AtomicU64,
    bytes_allocated: AtomicU64,
    bytes_freed: AtomicU64,
}

type Shard = CachePadded<ShardCounters>;

#[allow(
    clippy::declare_interior_mutable_const,
    reason = "used only to initialise the static array"
)]
const EMPTY_SHARD: Shard = CachePadded::new(ShardCounters {
    allocs: AtomicU64::new(0),
    deallocs: AtomicU64::new(0),
    reallocs: AtomicU64::new(0),
    bytes_allocated: AtomicU64::new(0),
    bytes_freed: AtomicU64::new(0),
});

static SHARD_TABLE: [Shard; SHARDS] = [EMPTY_SHARD; SHARDS];
static NEXT_SHARD: AtomicU32 = AtomicU32::new(0);

/// Live bytes and their peak, only written when global-peak tracking is on.
static GLOBAL_LIVE: AtomicI64 = AtomicI64::new(0);
static GLOBAL_PEAK: AtomicI64 = AtomicI64::new(0);
static GLOBAL_PEAK_ON: AtomicBool = AtomicBool::new(false);

/// What happened, for [`record`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Event {
    Alloc { size: usize },
    Dealloc { size: usize },
    Realloc { old: usize, new: usize },
}

/// Count one successful call. Called from inside the global allocator: it
/// must not allocate, and it does not.
#[inline]
pub(crate) fn record(event: Event, global_peak: bool) {
    let shard = match LOCAL.try_with(|local| {
        match event {
            Event::Alloc { size } => {
                local.allocs.set(local.allocs.get() + 1);
                local
                    .bytes_allocated
                    .set(local.bytes_allocated.get() + size as u64);
                local.add_live(size as i64);
            }
            Event::Dealloc { size } => {
                local.deallocs.set(local.deallocs.get() + 1);
                local.bytes_freed.set(local.bytes_freed.get() + size as u64);
                local.add_live(-(size as i64));
            }
            Event::Realloc { old, new } => {
                local.reallocs.set(local.reallocs.get() + 1);
                local
                    .bytes_allocated
                    .set(local.bytes_allocated.get() + new as u64);
                local.bytes_freed.set(local.bytes_freed.get() + old as u64);
                local.add_live(new as i64 - old as i64);
            }
        }
        local.shard()
    }) {
        Ok(shard) => shard,
        // The thread-local is gone (very late in thread teardown): the call
        // still counts in the totals.
        Err(_) => &SHARD_TABLE[0],
    };
    let delta = match event {
        Event::Alloc { size } => {
            shard.allocs.fetch_add(1, Relaxed);
            shard.bytes_allocated.fetch_add(size as u64, Relaxed);
            size as i64
        }
        Event::Dealloc { size } => {
            shard.deallocs.fetch_add(1, Relaxed);
            shard.bytes_freed.fetch_add(size as u64, Relaxed);
            -(size as i64)
        }
        Event::Realloc { old, new } => {
            shard.reallocs.fetch_add(1, Relaxed);
            shard.bytes_allocated.fetch_add(new as u64, Relaxed);
            shard.bytes_freed.fetch_add(old as u64, Relaxed);
            new as i64 - old as i64
        }
    };
    if global_peak {
        GLOBAL_PEAK_ON.store(true, Relaxed);
        let live = GLOBAL_LIVE.fetch_add(delta, Relaxed) + delta;
        GLOBAL_PEAK.fetch_max(live, Relaxed);
    }
    #[cfg(feature = "attribution")]
    crate::attribution::on_call(event);
}

/// This thread's counts so far (zeros if `CountingAlloc` is not installed:
/// check [`is_installed`](crate::is_installed)).
pub(crate) fn local_snapshot() -> AllocStats {
    LOCAL.with(|l| AllocStats {
        allocs: l.allocs.get(),
        deallocs: l.deallocs.get(),
        reallocs: l.reallocs.get(),
        bytes_allocated: l.bytes_allocated.get(),
        bytes_freed: l.bytes_freed.get(),
        peak_bytes: l.peak.get().max(0) as u64,
    })
}

/// Restart this thread's peak at the current live bytes; returns
/// `(live now, peak before)` so that [`end_peak_window`] can restore it.
pub(crate) fn begin_peak_window() -> (i64, i64) {
    LOCAL.with(|l| {
        let old = l.peak.get();
        let live = l.live.get();
        l.peak.set(live);
        (live, old)
    })
}

/// The peak reached since [`begin_peak_window`], relative to the live bytes
/// then; restores the thread's long-term peak.
pub(crate) fn end_peak_window((base, old_peak): (i64, i64)) -> u64 {
    LOCAL.with(|l| {
        let window_peak = l.peak.get();
        l.peak.set(old_peak.max(window_peak));
        (window_peak - base).max(0) as u64
    })
}

/// Sum of all shards.
pub(crate) fn global_snapshot() -> GlobalStats {
    let mut g = GlobalStats::default();
    for shard in &SHARD_TABLE {
        g.allocs += shard.allocs.load(Relaxed);
        g.deallocs += shard.deallocs.load(Relaxed);
        g.reallocs += shard.reallocs.load(Relaxed);
        g.bytes_allocated += shard.bytes_allocated.load(Relaxed);
        g.bytes_freed += shard.bytes_freed.load(Relaxed);
    }
    if GLOBAL_PEAK_ON.load(Relaxed) {
        g.peak_live_bytes = Some(GLOBAL_PEAK.load(Relaxed).max(0) as u64);
    }
    g
}
