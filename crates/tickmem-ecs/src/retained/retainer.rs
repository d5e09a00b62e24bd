//! [`Retainer`]: the capacity policy of a retained buffer, without bevy.

use std::num::NonZeroU32;

use super::buffer::RetainedBuffer;

/// When a retained buffer gives memory back: after
/// [`quiet_ticks`](Self::quiet_ticks) ticks in a row in which it used at
/// most half its capacity, it shrinks once, to twice the most it used in
/// those ticks (never below [`min_capacity`](Self::min_capacity)), if that
/// gives back at least a quarter of the capacity.
///
/// That is hysteresis: a load that stays between half the capacity and the
/// capacity never shrinks it (and so never regrows it); a one-off spike is
/// given back once, `quiet_ticks` ticks later; a load that falls for good
/// is followed down in one step; a load that wobbles by less than a quarter
/// after a shrink does not shrink it again. Bevy's rule of thumb (bevy
/// #2850, #23775): halve when usage stays under half the capacity for a
/// while.
///
/// Only ticks in which the system ran count (a system in `FixedUpdate` may
/// skip ticks).
///
/// # Examples
///
/// ```
/// use tickmem_ecs::RetainPolicy;
///
/// let policy = RetainPolicy::after_quiet_ticks(60).with_min_capacity(256);
/// assert_eq!(policy.quiet_ticks.map(|n| n.get()), Some(60));
/// assert_eq!(RetainPolicy::NEVER_SHRINK.quiet_ticks, None);
/// assert_eq!(RetainPolicy::default().quiet_ticks.unwrap().get(), 120);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetainPolicy {
    /// Quiet ticks in a row (at most half the capacity used) before the
    /// buffer shrinks; `None`: never shrink (a plain `Local`'s behaviour).
    pub quiet_ticks: Option<NonZeroU32>,
    /// Elements of capacity never given back.
    pub min_capacity: usize,
}

/// Quiet ticks before a shrink by default: 120 (two seconds at 60 ticks per
/// second), as for the frame arena's trim.
pub const DEFAULT_RETAIN_QUIET_TICKS: u32 = 120;

impl RetainPolicy {
    /// Keep whatever was reached (`quiet_ticks: None`).
    pub const NEVER_SHRINK: RetainPolicy = RetainPolicy {
        quiet_ticks: None,
        min_capacity: 0,
    };

    /// Shrink after `ticks` quiet ticks in a row (0: never).
    pub fn after_quiet_ticks(ticks: u32) -> Self {
        RetainPolicy {
            quiet_ticks: NonZeroU32::new(ticks),
            min_capacity: 0,
        }
    }

    /// Set [`min_capacity`](Self::min_capacity).
    pub fn with_min_capacity(mut self, elements: usize) -> Self {
        self.min_capacity = elements;
        self
    }
}

impl Default for RetainPolicy {
    /// Shrink after [`DEFAULT_RETAIN_QUIET_TICKS`] quiet ticks, down to any
    /// size.
    fn default() -> Self {
        Self::after_quiet_ticks(DEFAULT_RETAIN_QUIET_TICKS)
    }
}

/// A buffer that keeps its capacity from run to run and gives back spikes
/// by a [`RetainPolicy`]: what a [`Retained`](crate::Retained) system
/// parameter holds, usable in any loop.
///
/// Call [`end_run`](Self::end_run) at the end of each use, with the tick it
/// belongs to. A run's use is the buffer's length then (or its whole
/// capacity, if the run made it grow); a tick's use is the most of its
/// runs'.
///
/// # Examples
///
/// ```
/// use tickmem_ecs::{RetainPolicy, Retainer};
///
/// let mut hits = Retainer::<Vec<u32>>::new(RetainPolicy::after_quiet_ticks(3));
/// // A spike in tick 0, then ticks that need 10 elements.
/// for tick in 0..10u64 {
///     let n = if tick == 0 { 1000 } else { 10 };
///     hits.buffer_mut().extend(0..n);
///     hits.end_run(tick, true); // cleared for the next run
/// }
/// assert_eq!(hits.shrinks(), 1); // once, in tick 4, down to 2 x 10
/// assert_eq!(hits.buffer().capacity(), 20);
/// ```
#[derive(Debug, Clone)]
pub struct Retainer<C> {
    buf: C,
    policy: RetainPolicy,
    /// The tick of the last run.
    tick: Option<u64>,
    /// The most in use in a run of `tick`.
    tick_peak: usize,
    /// Quiet ticks in a row, closed (not counting `tick`).
    quiet: u32,
    /// The most in use in those quiet ticks.
    quiet_peak: usize,
    /// The capacity after the last run (a run that starts from it and ends
    /// above it grew the buffer).
    capacity_after: usize,
    /// The length at the end of the last run, before any clearing.
    last_len: usize,
    /// `used_bytes` then.
    last_used_bytes: usize,
    shrinks: u64,
    runs: u64,
}

impl<C: RetainedBuffer + Default> Retainer<C> {
    /// An empty buffer (no allocation yet) under `policy`.
    pub fn new(policy: RetainPolicy) -> Self {
        Self::with_buffer(C::default(), policy)
    }
}

impl<C: Default> Default for Retainer<C> {
    fn default() -> Self {
        Retainer {
            buf: C::default(),
            policy: RetainPolicy::default(),
            tick: None,
            tick_peak: 0,
            quiet: 0,
            quiet_peak: 0,
            capacity_after: 0,
            last_len: 0,
            last_used_bytes: 0,
            shrinks: 0,
            runs: 0,
        }
    }
}

impl<C: RetainedBuffer> Retainer<C> {
    /// `buf` (with whatever it holds and its capacity) under `policy`.
    pub fn with_buffer(buf: C, policy: RetainPolicy) -> Self {
        let capacity_after = buf.capacity();
        Retainer {
            buf,
            policy,
            tick: None,
            tick_peak: 0,
            quiet: 0,
            quiet_peak: 0,
            capacity_after,
            last_len: 0,
            last_used_bytes: 0,
            shrinks: 0,
            runs: 0,
        }
    }

    /// The buffer.
    pub fn buffer(&self) -> &C {
        &self.buf
    }

    /// The buffer, to fill.
    pub fn buffer_mut(&mut self) -> &mut C {
        &mut self.buf
    }

    /// The policy.
    pub fn policy(&self) -> RetainPolicy {
        self.policy
    }

    /// Change the policy (from the next [`end_run`](Self::end_run) on).
    pub fn set_policy(&mut self, policy: RetainPolicy) {
        self.policy = policy;
    }

    /// Times the buffer gave memory back (its capacity went down).
    pub fn shrinks(&self) -> u64 {
        self.shrinks
    }

    /// Runs ended so far.
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// The buffer's length at the end of the last run (before clearing).
    pub fn last_run_len(&self) -> usize {
        self.last_len
    }

    /// Bytes of elements in use at the end of the last run (before
    /// clearing).
    pub fn last_run_used_bytes(&self) -> usize {
        self.last_used_bytes
    }

    /// End a run that belongs to `tick` (ticks never go back): account its
    /// use, clear the buffer if `clear`, and shrink it if the policy says so.
    /// Returns `true` when the capacity went down.
    ///
    /// The shrink happens in the first run of a tick after
    /// [`quiet_ticks`](RetainPolicy::quiet_ticks) quiet ticks, if that run
    /// was quiet too; after clearing, so no element is moved.
    pub fn end_run(&mut self, tick: u64, clear: bool) -> bool {
        let capacity = self.buf.capacity();
        let len = self.buf.len();
        let used = if capacity > self.capacity_after {
            capacity
        } else {
            len
        };
        if self.tick != Some(tick) {
            if self.tick.is_some() {
                // Close the previous tick, judged against the capacity it
                // ended with.
                if is_quiet(self.tick_peak, self.capacity_after) {
                    self.quiet = self.quiet.saturating_add(1);
                    self.quiet_peak = self.quiet_peak.max(self.tick_peak);
                } else {
                    self.quiet = 0;
                    self.quiet_peak = 0;
                }
            }
            self.tick = Some(tick);
            self.tick_peak = 0;
        }
        self.tick_peak = self.tick_peak.max(used);
        self.runs += 1;
        self.last_len = len;
        self.last_used_bytes = self.buf.used_bytes();
        if clear {
            self.buf.clear();
        }
        let mut shrank = false;
        if let Some(n) = self.policy.quiet_ticks
            && self.quiet >= n.get()
            && is_quiet(self.tick_peak, capacity)
        {
            let target = self
                .quiet_peak
                .max(self.tick_peak)
                .saturating_mul(2)
                .max(self.policy.min_capacity);
            if gives_back_enough(target, capacity) {
                self.buf.shrink_to(target);
                shrank = self.buf.capacity() < capacity;
                self.shrinks += u64::from(shrank);
            }
            // The streak is used up (also when the collection could not
            // go lower): the next shrink needs `n` new quiet ticks.
            self.quiet = 0;
            self.quiet_peak = 0;
        }
        self.capacity_after = self.buf.capacity();
        shrank
    }
}

/// A shrink from `capacity` to `target` is worth its reallocation when it
/// gives back at least a quarter (so a load that wobbles a little after a
/// shrink does not shrink it again and again).
fn gives_back_enough(target: usize, capacity: usize) -> bool {
    target.saturating_mul(4) <= capacity.saturating_mul(3) && target < capacity
}

/// A tick that used `peak` elements of `capacity` is quiet when that is at
/// most half.
fn is_quiet(peak: usize, capacity: usize) -> bool {
    peak.saturating_mul(2) <= capacity
}
