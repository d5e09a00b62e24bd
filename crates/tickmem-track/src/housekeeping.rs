//! Housekeeping: global-allocator calls tickmem makes for itself, counted
//! apart from the user's.
//!
//! The frame arena grows a chunk when a frame needs more than ever before,
//! resizes and frees chunks when a frame is reclaimed (and after a run of
//! quiet frames), creates a lane for a thread's first allocation; scratch
//! arenas and entity pools do the same kinds of things. Those calls are
//! tickmem's, not the game's: [`housekeeping`] runs them in a scope that
//! counts them separately (per thread and for the process), so that
//! [`FrameBudget`](crate::FrameBudget) and tickmem-ecs's per-tick budget
//! charge only the user's calls, attribution shows them under their own
//! name instead of the system that happened to trigger them, and an
//! over-budget report never names one as the offender.
//!
//! Nothing is added to the allocator's path: a scope reads this thread's
//! counters when it starts and ends (as an attribution scope does).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::AllocStats;
use crate::counters::{LOCAL, local_snapshot};

/// Process totals of housekeeping calls (every thread), updated when a
/// scope ends.
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static DEALLOCS: AtomicU64 = AtomicU64::new(0);
static REALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES_ALLOCATED: AtomicU64 = AtomicU64::new(0);
static BYTES_FREED: AtomicU64 = AtomicU64::new(0);

/// This thread's housekeeping state, part of the counters' thread-local.
pub(crate) struct ThreadState {
    /// A housekeeping scope is open on this thread.
    pub(crate) active: Cell<bool>,
    /// This thread's housekeeping calls so far.
    totals: Cell<AllocStats>,
}

impl ThreadState {
    pub(crate) const fn new() -> Self {
        ThreadState {
            active: Cell::new(false),
            totals: Cell::new(AllocStats {
                allocs: 0,
                deallocs: 0,
                reallocs: 0,
                bytes_allocated: 0,
                bytes_freed: 0,
                peak_bytes: 0,
            }),
        }
    }
}

/// Run `f` as tickmem's own housekeeping: the global-allocator calls this
/// thread makes while it runs are counted in [`housekeeping_stats`] and
/// [`thread_housekeeping_stats`] (as well as in every other count), not
/// charged to a [`FrameBudget`](crate::FrameBudget) or to tickmem-ecs's
/// per-tick budget, and — with the `attribution` feature — not to the
/// attribution scope around it (it is a nested scope of its own), and
/// never captured as the offender of an over-budget tick. Nested calls
/// count once.
///
/// `f` should run tickmem's code only: user code running inside (a
/// destructor) would have its calls hidden from the budget too.
///
/// # Examples
///
/// ```
/// use tickmem_track::CountingAlloc;
///
/// #[global_allocator]
/// static GLOBAL: CountingAlloc = CountingAlloc::system();
///
/// let before = tickmem_track::thread_housekeeping_stats();
/// let chunk = tickmem_track::housekeeping(|| vec![0u8; 4096]); // a chunk of ours
/// drop(chunk); // freed outside: a call of the caller's
/// let hk = tickmem_track::thread_housekeeping_stats().since(&before);
/// assert_eq!((hk.allocs, hk.deallocs, hk.bytes_allocated), (1, 0, 4096));
/// ```
pub fn housekeeping<R>(f: impl FnOnce() -> R) -> R {
    let _scope = Scope::enter();
    f()
}

/// Add `stats` to the housekeeping counts after the fact: calls this
/// thread made for tickmem's housekeeping outside a [`housekeeping`] scope
/// (a scratch chunk grown inside the user's allocation, found when the
/// scope exits). Unlike a scope, the calls were already seen by
/// attribution and the over-budget capture.
pub fn note_housekeeping(stats: AllocStats) {
    let _ = LOCAL.try_with(|l| {
        let hk = &l.housekeeping;
        hk.totals.set(plus(hk.totals.get(), stats));
    });
    add_global(stats);
}

/// Housekeeping calls of every thread so far (see [`housekeeping`]).
/// All zeros when [`CountingAlloc`](crate::CountingAlloc) is not installed.
pub fn housekeeping_stats() -> AllocStats {
    AllocStats {
        allocs: ALLOCS.load(Relaxed),
        deallocs: DEALLOCS.load(Relaxed),
        reallocs: REALLOCS.load(Relaxed),
        bytes_allocated: BYTES_ALLOCATED.load(Relaxed),
        bytes_freed: BYTES_FREED.load(Relaxed),
        peak_bytes: 0,
    }
}

/// This thread's housekeeping calls so far (see [`housekeeping`]).
pub fn thread_housekeeping_stats() -> AllocStats {
    LOCAL.with(|l| l.housekeeping.totals.get())
}

/// `true` while this thread runs housekeeping (inside the allocator too).
#[cfg(feature = "attribution")]
pub(crate) fn active() -> bool {
    LOCAL
        .try_with(|l| l.housekeeping.active.get())
        .unwrap_or(false)
}

fn add_global(s: AllocStats) {
    ALLOCS.fetch_add(s.allocs, Relaxed);
    DEALLOCS.fetch_add(s.deallocs, Relaxed);
    REALLOCS.fetch_add(s.reallocs, Relaxed);
    BYTES_ALLOCATED.fetch_add(s.bytes_allocated, Relaxed);
    BYTES_FREED.fetch_add(s.bytes_freed, Relaxed);
}

fn plus(a: AllocStats, b: AllocStats) -> AllocStats {
    AllocStats {
        allocs: a.allocs + b.allocs,
        deallocs: a.deallocs + b.deallocs,
        reallocs: a.reallocs + b.reallocs,
        bytes_allocated: a.bytes_allocated + b.bytes_allocated,
        bytes_freed: a.bytes_freed + b.bytes_freed,
        peak_bytes: 0,
    }
}

/// An open housekeeping scope (the outermost on its thread: nested ones do
/// nothing). Closed on drop, also during a panic.
struct Scope {
    start: Option<AllocStats>,
    #[cfg(feature = "attribution")]
    _attribution: Option<crate::attribution::Scope>,
}

impl Scope {
    fn enter() -> Scope {
        let outermost = LOCAL
            .try_with(|l| !l.housekeeping.active.replace(true))
            .unwrap_or(false);
        if !outermost {
            return Scope {
                start: None,
                #[cfg(feature = "attribution")]
                _attribution: None,
            };
        }
        Scope {
            // An attribution scope of its own: the calls are not the
            // surrounding system's (the enclosing scope subtracts a nested
            // scope's counts).
            #[cfg(feature = "attribution")]
            _attribution: Some(crate::attribution::enter(
                crate::attribution::housekeeping_tag(),
            )),
            start: Some(local_snapshot()),
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let Some(start) = self.start else { return };
        let own = local_snapshot().since(&start);
        let own = AllocStats {
            peak_bytes: 0,
            ..own
        };
        let _ = LOCAL.try_with(|l| {
            let hk = &l.housekeeping;
            hk.totals.set(plus(hk.totals.get(), own));
            hk.active.set(false);
        });
        add_global(own);
    }
}
