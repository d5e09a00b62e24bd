#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![expect(
    unsafe_code,
    reason = "implementing GlobalAlloc is unsafe; the blocks forward to the inner allocator"
)]

mod alloc;
#[cfg(feature = "attribution")]
pub mod attribution;
mod budget;
mod counters;
mod housekeeping;

pub use alloc::CountingAlloc;
pub use budget::{BudgetError, BudgetScope, FrameBudget, FrameUsage};
pub use counters::{AllocStats, GlobalStats};
pub use housekeeping::{
    housekeeping, housekeeping_stats, note_housekeeping, thread_housekeeping_stats,
};

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

pub(crate) const NOT_INSTALLED: &str = "tickmem_track::CountingAlloc is not the global allocator, \
     so allocations cannot be counted; add \
     `#[global_allocator] static GLOBAL: tickmem_track::CountingAlloc = tickmem_track::CountingAlloc::system();` \
     to the binary (each integration-test file is its own binary)";

/// `true` when a [`CountingAlloc`] is the process's global allocator.
///
/// Checked by allocating one small box and seeing the count move, then
/// remembered.
pub fn is_installed() -> bool {
    static CONFIRMED: AtomicBool = AtomicBool::new(false);
    if CONFIRMED.load(Relaxed) {
        return true;
    }
    // Not confirmed yet: probe. (A `CountingAlloc` used directly as an
    // allocator value also counts calls, so "some call was counted" is not
    // proof; the probe goes through the global allocator.)
    let yes = probe();
    if yes {
        CONFIRMED.store(true, Relaxed);
    }
    yes
}

fn probe() -> bool {
    let before = counters::local_snapshot().allocs;
    drop(std::hint::black_box(Box::new(std::hint::black_box(0u64))));
    counters::local_snapshot().allocs > before
}

/// Why [`try_count`] could not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotInstalled;

impl std::fmt::Display for NotInstalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(NOT_INSTALLED)
    }
}

impl std::error::Error for NotInstalled {}

/// Run `f` and return what this thread asked of the global allocator while
/// it ran (other threads are not counted).
///
/// # Panics
///
/// If [`CountingAlloc`] is not the global allocator (see [`try_count`]).
#[track_caller]
pub fn count<R>(f: impl FnOnce() -> R) -> (R, AllocStats) {
    match try_count(f) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

/// Like [`count`], but returns [`NotInstalled`] (without running `f`) when
/// [`CountingAlloc`] is not the global allocator.
pub fn try_count<R>(f: impl FnOnce() -> R) -> Result<(R, AllocStats), NotInstalled> {
    if !is_installed() {
        return Err(NotInstalled);
    }
    let mut window = PeakWindow(Some(counters::begin_peak_window()));
    let before = counters::local_snapshot();
    let r = f();
    let after = counters::local_snapshot();
    let peak = window.end();
    let mut stats = after.since(&before);
    stats.peak_bytes = peak;
    Ok((r, stats))
}

/// Ends a peak window, also when the measured closure unwinds: otherwise the
/// thread's long-term peak would stay lowered to the window's.
struct PeakWindow(Option<(i64, i64)>);

impl PeakWindow {
    fn end(&mut self) -> u64 {
        self.0.take().map_or(0, counters::end_peak_window)
    }
}

impl Drop for PeakWindow {
    fn drop(&mut self) {
        self.end();
    }
}

/// Run `f` and return what the **whole process** (every thread) asked of the
/// global allocator while it ran: for work that fans out to other threads,
/// such as a bevy schedule with worker threads. Anything else running in the
/// process meanwhile counts too. `peak_bytes` is 0 (a per-thread measure;
/// see [`count`]).
///
/// # Panics
///
/// If [`CountingAlloc`] is not the global allocator.
///
/// # Examples
///
/// ```
/// use tickmem_track::CountingAlloc;
///
/// #[global_allocator]
/// static GLOBAL: CountingAlloc = CountingAlloc::system();
///
/// let ((), stats) = tickmem_track::count_process(|| {
///     std::thread::scope(|s| {
///         s.spawn(|| drop(vec![0u8; 4096]));
///     });
/// });
/// assert!(stats.bytes_allocated >= 4096, "{stats}"); // the worker's Vec, the thread's own
/// ```
#[track_caller]
pub fn count_process<R>(f: impl FnOnce() -> R) -> (R, AllocStats) {
    if !is_installed() {
        panic!("{NOT_INSTALLED}");
    }
    let before = counters::global_snapshot();
    let r = f();
    (r, counters::global_snapshot().since(&before))
}

/// What this thread has asked of the global allocator since it started.
///
/// All zeros when [`CountingAlloc`] is not installed; check [`is_installed`].
pub fn thread_stats() -> AllocStats {
    counters::local_snapshot()
}

/// Process-wide totals over every thread, including threads that have ended.
///
/// All zeros when [`CountingAlloc`] is not installed; check [`is_installed`].
pub fn global_stats() -> GlobalStats {
    counters::global_snapshot()
}
