//! [`TrimPolicy`]: how much memory a thread's scratch arena keeps between jobs.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};

use crossbeam_utils::CachePadded;

/// How much memory each thread's scratch arena keeps between scopes.
///
/// Scratch memory is kept after a scope exits so that the next job on the
/// thread allocates nothing from the global allocator. The policy bounds what
/// is kept, in two ways:
///
/// * **Recent high-water.** Time is counted in *periods*. A period ends on a
///   thread when [`request_trim_all`] was called since its last period (each
///   call counts as one period; the tickmem ECS frame boundary calls it once
///   per tick, so a period is a frame), or when the thread has run
///   [`period_scopes`](Self::period_scopes) outermost scopes since its last
///   period. Each nesting level remembers the most it used over the last
///   [`quiet_periods`](Self::quiet_periods) to 2 × `quiet_periods` periods
///   (its *recent high-water*). At the end of a period, a level that reserves
///   more than twice its recent high-water (and more than 64 KiB) is shrunk
///   to its recent high-water: after a one-off spike, memory goes back to
///   what the thread's jobs really use within 2 × `quiet_periods` periods.
/// * **A hard cap.** When an outermost scope exits and the thread reserves
///   more than [`max_retained_bytes`](Self::max_retained_bytes), levels are
///   released from the deepest up until it reserves no more than that. A job
///   bigger than the cap gets its memory back from the global allocator each
///   time it runs, but an idle thread never pins more than the cap.
///
/// Trimming only happens on the thread that owns the arena, at its outermost
/// scope boundaries (another thread's thread-local memory cannot be touched):
/// a thread that never opens a scope again keeps what it held, at most the cap.
///
/// # Examples
///
/// ```
/// use tickmem_scratch::TrimPolicy;
///
/// // Keep the high-water of the last 60..120 frames, never more than 8 MiB.
/// let policy = TrimPolicy::new()
///     .with_quiet_periods(60)
///     .with_max_retained_bytes(8 << 20);
/// tickmem_scratch::set_trim_policy(policy);
/// assert_eq!(tickmem_scratch::trim_policy(), policy);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrimPolicy {
    /// Periods of history (at least 1): memory above the most a level used in
    /// the last `quiet_periods` to 2 × `quiet_periods` periods is released.
    pub quiet_periods: u32,
    /// Outermost scopes that end a period on a thread that sees no
    /// [`request_trim_all`] (0: only trim requests end periods).
    pub period_scopes: u32,
    /// Most bytes a thread's scratch arena keeps once its outermost scope
    /// exits.
    pub max_retained_bytes: usize,
}

impl TrimPolicy {
    /// The default policy: 120 quiet periods (2 s of frames at 60 Hz), a
    /// period every 256 outermost scopes without trim requests, and at most
    /// 64 MiB kept per thread.
    pub const DEFAULT: TrimPolicy = TrimPolicy {
        quiet_periods: 120,
        period_scopes: 256,
        max_retained_bytes: 64 << 20,
    };

    /// The [default policy](Self::DEFAULT).
    pub const fn new() -> Self {
        Self::DEFAULT
    }

    /// Set [`quiet_periods`](Self::quiet_periods).
    ///
    /// # Panics
    ///
    /// If `periods` is 0.
    ///
    /// ```should_panic
    /// # use tickmem_scratch::TrimPolicy;
    /// let _ = TrimPolicy::new().with_quiet_periods(0); // panics
    /// ```
    #[track_caller]
    pub const fn with_quiet_periods(mut self, periods: u32) -> Self {
        assert!(periods > 0, "TrimPolicy::quiet_periods must be at least 1");
        self.quiet_periods = periods;
        self
    }

    /// Set [`period_scopes`](Self::period_scopes).
    pub const fn with_period_scopes(mut self, scopes: u32) -> Self {
        self.period_scopes = scopes;
        self
    }

    /// Set [`max_retained_bytes`](Self::max_retained_bytes).
    pub const fn with_max_retained_bytes(mut self, bytes: usize) -> Self {
        self.max_retained_bytes = bytes;
        self
    }
}

impl Default for TrimPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

static QUIET_PERIODS: AtomicU32 = AtomicU32::new(TrimPolicy::DEFAULT.quiet_periods);
static PERIOD_SCOPES: AtomicU32 = AtomicU32::new(TrimPolicy::DEFAULT.period_scopes);
static MAX_RETAINED: AtomicUsize = AtomicUsize::new(TrimPolicy::DEFAULT.max_retained_bytes);

/// Trim requests so far. Written once per frame by the frame boundary, read
/// (Relaxed) by every thread when it enters an outermost scope; it has a
/// cache line of its own so those reads never share a line with hot writes.
static TRIM_REQUESTS: CachePadded<AtomicU64> = CachePadded::new(AtomicU64::new(0));

/// Set the process-wide [`TrimPolicy`]. The calling thread uses it from its
/// next scope; other threads pick it up at their next period boundary.
///
/// # Panics
///
/// If `policy.quiet_periods` is 0.
///
/// # Examples
///
/// ```
/// tickmem_scratch::set_trim_policy(tickmem_scratch::TrimPolicy::new().with_max_retained_bytes(1 << 20));
/// ```
#[track_caller]
pub fn set_trim_policy(policy: TrimPolicy) {
    assert!(
        policy.quiet_periods > 0,
        "TrimPolicy::quiet_periods must be at least 1 (got 0)"
    );
    QUIET_PERIODS.store(policy.quiet_periods, Relaxed);
    PERIOD_SCOPES.store(policy.period_scopes, Relaxed);
    MAX_RETAINED.store(policy.max_retained_bytes, Relaxed);
    crate::state::refresh_policy_here();
}

/// The process-wide [`TrimPolicy`] in effect.
///
/// ```
/// assert!(tickmem_scratch::trim_policy().quiet_periods >= 1);
/// ```
pub fn trim_policy() -> TrimPolicy {
    TrimPolicy {
        quiet_periods: QUIET_PERIODS.load(Relaxed),
        period_scopes: PERIOD_SCOPES.load(Relaxed),
        max_retained_bytes: MAX_RETAINED.load(Relaxed),
    }
}

/// End a trim period on every thread: each thread that uses scratch applies
/// the [`TrimPolicy`] when it next enters an outermost scope.
///
/// Call it once per frame from the main loop (the tickmem ECS frame boundary
/// does). It is one `Relaxed` atomic increment; no thread is interrupted.
///
/// ```
/// tickmem_scratch::request_trim_all();
/// ```
pub fn request_trim_all() {
    TRIM_REQUESTS.fetch_add(1, Relaxed);
}

/// Trim requests made so far (read on every outermost scope entry).
#[inline]
pub(crate) fn trim_requests() -> u64 {
    TRIM_REQUESTS.load(Relaxed)
}
