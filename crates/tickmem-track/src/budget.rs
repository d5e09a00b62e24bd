//! [`FrameBudget`]: a per-frame limit on global-allocator calls.

use std::fmt;

use crate::{AllocStats, counters};

/// Whose allocations a [`FrameBudget`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BudgetScope {
    /// Only the thread that calls [`FrameBudget::begin_frame`] and
    /// [`FrameBudget::end_frame`]. Deterministic even while other threads
    /// (such as other tests) allocate; this is the default.
    #[default]
    Thread,
    /// Every thread of the process (workers included). Use it for a whole
    /// game loop; anything else running in the process counts too.
    Process,
}

/// A limit on global-allocator calls per frame, with warm-up frames that are
/// not checked.
///
/// tickmem's own housekeeping (see [`housekeeping`](crate::housekeeping):
/// frame-arena chunks grown when a frame needs more than ever before, or
/// freed after a run of quiet frames) is not charged to the frame: the
/// reported [`FrameUsage::stats`] are the other calls.
///
/// ```
/// use tickmem_track::{CountingAlloc, FrameBudget};
///
/// #[global_allocator]
/// static GLOBAL: CountingAlloc = CountingAlloc::system();
///
/// let mut scratch: Vec<u32> = Vec::new();
/// // After 1 warm-up frame, a frame may not call the allocator at all.
/// let mut budget = FrameBudget::new(0).with_warm_up(1);
/// for frame in 0..10 {
///     budget.begin_frame();
///     scratch.clear();
///     scratch.extend(0..100); // grows in frame 0 only
///     let report = budget.end_frame().expect("allocation-free after warm-up");
///     assert_eq!(report.frame, frame);
/// }
/// ```
#[derive(Debug, Clone)]
pub struct FrameBudget {
    max_calls: u64,
    warm_up: u64,
    scope: BudgetScope,
    frame: u64,
    start: Option<Start>,
    overruns: u64,
}

#[derive(Debug, Clone, Copy)]
enum Start {
    /// This thread's counts, and its housekeeping counts.
    Thread(AllocStats, AllocStats),
    /// The process's counts, and its housekeeping counts.
    Process(crate::GlobalStats, AllocStats),
}

/// `total` minus the `housekeeping` part of it.
fn without(total: AllocStats, housekeeping: AllocStats) -> AllocStats {
    AllocStats {
        allocs: total.allocs.saturating_sub(housekeeping.allocs),
        deallocs: total.deallocs.saturating_sub(housekeeping.deallocs),
        reallocs: total.reallocs.saturating_sub(housekeeping.reallocs),
        bytes_allocated: total
            .bytes_allocated
            .saturating_sub(housekeeping.bytes_allocated),
        bytes_freed: total.bytes_freed.saturating_sub(housekeeping.bytes_freed),
        peak_bytes: total.peak_bytes,
    }
}

/// What one frame asked of the allocator, returned by
/// [`FrameBudget::end_frame`] when the frame kept to its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameUsage {
    /// The frame's number, counting from 0.
    pub frame: u64,
    /// What the frame allocated.
    pub stats: AllocStats,
    /// `true` while the frame is one of the unchecked warm-up frames.
    pub warming_up: bool,
}

/// Why [`FrameBudget::end_frame`] did not accept a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetError {
    /// The frame made more global-allocator calls than the budget allows.
    Overrun {
        /// The frame's number, counting from 0.
        frame: u64,
        /// The budget: calls allowed per frame.
        max_calls: u64,
        /// What the frame allocated (`stats.calls() > max_calls`).
        stats: AllocStats,
    },
    /// [`CountingAlloc`](crate::CountingAlloc) is not the global allocator,
    /// so there is nothing to check; the budget refuses to report success.
    NotInstalled,
    /// [`FrameBudget::end_frame`] was called without
    /// [`FrameBudget::begin_frame`].
    NotStarted,
}

impl fmt::Display for BudgetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BudgetError::Overrun {
                frame,
                max_calls,
                stats,
            } => write!(
                f,
                "allocation budget overrun in frame {frame}: {} global-allocator calls \
                 over a budget of {max_calls} ({} over; {stats})",
                stats.calls(),
                stats.calls() - max_calls,
            ),
            BudgetError::NotInstalled => f.write_str(crate::NOT_INSTALLED),
            BudgetError::NotStarted => {
                f.write_str("FrameBudget::end_frame called without FrameBudget::begin_frame")
            }
        }
    }
}

impl std::error::Error for BudgetError {}

impl FrameBudget {
    /// At most `max_calls_per_frame` global-allocator calls per frame
    /// (allocations + deallocations + reallocations), counted on this thread.
    pub const fn new(max_calls_per_frame: u64) -> Self {
        FrameBudget {
            max_calls: max_calls_per_frame,
            warm_up: 0,
            scope: BudgetScope::Thread,
            frame: 0,
            start: None,
            overruns: 0,
        }
    }

    /// Do not check the first `frames` frames (caches and pools fill up).
    pub const fn with_warm_up(mut self, frames: u64) -> Self {
        self.warm_up = frames;
        self
    }

    /// Count this thread only, or the whole process.
    pub const fn with_scope(mut self, scope: BudgetScope) -> Self {
        self.scope = scope;
        self
    }

    /// Calls allowed per frame.
    pub const fn max_calls(&self) -> u64 {
        self.max_calls
    }

    /// Frames ended so far.
    pub const fn frames(&self) -> u64 {
        self.frame
    }

    /// Frames that went over the budget so far.
    pub const fn overruns(&self) -> u64 {
        self.overruns
    }

    /// Start counting a frame.
    pub fn begin_frame(&mut self) {
        self.start = Some(match self.scope {
            BudgetScope::Thread => Start::Thread(
                counters::local_snapshot(),
                crate::thread_housekeeping_stats(),
            ),
            BudgetScope::Process => {
                Start::Process(counters::global_snapshot(), crate::housekeeping_stats())
            }
        });
    }

    /// End the frame started by [`begin_frame`](Self::begin_frame) and check
    /// it. An overrun is also logged (`log::warn!`) with its numbers.
    pub fn end_frame(&mut self) -> Result<FrameUsage, BudgetError> {
        let start = self.start.take().ok_or(BudgetError::NotStarted)?;
        // Read the counters before `is_installed`, whose first call probes
        // the allocator and must not count against the frame.
        // tickmem's own housekeeping (frame-arena chunks grown and trimmed,
        // ...) is not charged to the frame.
        let stats = match start {
            Start::Thread(s, hk) => without(
                counters::local_snapshot().since(&s),
                crate::thread_housekeeping_stats().since(&hk),
            ),
            Start::Process(s, hk) => without(
                counters::global_snapshot().since(&s),
                crate::housekeeping_stats().since(&hk),
            ),
        };
        if !crate::is_installed() {
            return Err(BudgetError::NotInstalled);
        }
        let frame = self.frame;
        self.frame += 1;
        let warming_up = frame < self.warm_up;
        if !warming_up && stats.calls() > self.max_calls {
            self.overruns += 1;
            let err = BudgetError::Overrun {
                frame,
                max_calls: self.max_calls,
                stats,
            };
            log::warn!("{err}");
            return Err(err);
        }
        Ok(FrameUsage {
            frame,
            stats,
            warming_up,
        })
    }

    /// Run one frame `f` between [`begin_frame`](Self::begin_frame) and
    /// [`end_frame`](Self::end_frame).
    ///
    /// If `f` panics, the frame is abandoned (neither counted nor checked): a
    /// later [`end_frame`](Self::end_frame) without a new
    /// [`begin_frame`](Self::begin_frame) is [`BudgetError::NotStarted`].
    pub fn frame<R>(&mut self, f: impl FnOnce() -> R) -> (R, Result<FrameUsage, BudgetError>) {
        /// Abandons the frame if `f` unwinds.
        struct Abandon<'a>(&'a mut FrameBudget);
        impl Drop for Abandon<'_> {
            fn drop(&mut self) {
                self.0.start = None;
            }
        }

        self.begin_frame();
        let guard = Abandon(self);
        let r = f();
        let budget = &mut *guard.0;
        let result = budget.end_frame();
        drop(guard);
        (r, result)
    }

    /// Test helper: run one frame `f` and panic with the overrun's numbers if
    /// it goes over the budget (or if nothing is counting).
    #[track_caller]
    pub fn assert_frame<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let (r, res) = self.frame(f);
        if let Err(e) = res {
            panic!("{e}");
        }
        r
    }
}
