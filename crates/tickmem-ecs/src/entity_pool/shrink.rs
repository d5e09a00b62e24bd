//! When an [`EntityPool`](super::EntityPool) gives parked entities back: the
//! shrink policy and its hysteresis, as plain arithmetic on counts (the pool
//! applies the result to the world).

use std::num::NonZeroU32;

/// When an [`EntityPool`](super::EntityPool) gives parked entities back to
/// the world (despawns them), so that a population that fell for good does
/// not keep its peak's entities forever.
///
/// The pool measures its **demand** each tick: the most entities acquired at
/// once during the tick (every acquisition counts, also those released again
/// before the tick ended). A tick is **quiet** when the pool owns more than
/// the demand plus headroom (`demand + max(min_free, demand ×
/// headroom_percent / 100)`). After `quiet_ticks` quiet ticks in a row, the
/// pool despawns parked entities until it owns the headroom above the
/// *highest* demand of those ticks, and starts counting again. One busy tick
/// (demand close to what the pool owns) resets the count.
///
/// So the pool follows a falling population with a lag of `quiet_ticks`, and
/// a load that oscillates with a period shorter than `quiet_ticks` never
/// makes it shrink and regrow (no ping-pong): every window of quiet ticks
/// contains a peak, and the pool keeps that peak's entities.
///
/// The default gives back after 300 quiet ticks (5 s at 60 ticks per
/// second), keeping 25% (at least 32 entities) above the peak.
///
/// # Examples
///
/// ```
/// use tickmem_ecs::ShrinkPolicy;
///
/// let policy = ShrinkPolicy::after_quiet_ticks(600)
///     .headroom_percent(50)
///     .min_free(0);
/// // Keeps the peak plus 50% of it.
/// assert_eq!(policy.keep_for(1000), 1500);
/// assert_eq!(policy.quiet_ticks(), Some(600));
/// assert_eq!(ShrinkPolicy::never().quiet_ticks(), None);
/// assert_eq!(ShrinkPolicy::default().keep_for(10), 42); // min_free = 32
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShrinkPolicy {
    quiet_ticks: Option<NonZeroU32>,
    headroom_percent: u32,
    min_free: usize,
}

impl Default for ShrinkPolicy {
    fn default() -> Self {
        ShrinkPolicy::after_quiet_ticks(300)
    }
}

impl ShrinkPolicy {
    /// Never give entities back (the pool keeps its peak).
    pub const fn never() -> Self {
        ShrinkPolicy {
            quiet_ticks: None,
            headroom_percent: 25,
            min_free: 32,
        }
    }

    /// Give back after `ticks` quiet ticks in a row (25% headroom, at least
    /// 32 free entities kept). `0` is taken as `1`.
    pub const fn after_quiet_ticks(ticks: u32) -> Self {
        let ticks = match NonZeroU32::new(ticks) {
            Some(t) => t,
            None => NonZeroU32::MIN,
        };
        ShrinkPolicy {
            quiet_ticks: Some(ticks),
            headroom_percent: 25,
            min_free: 32,
        }
    }

    /// Keep `percent` of the peak demand free above it (default 25).
    pub const fn headroom_percent(mut self, percent: u32) -> Self {
        self.headroom_percent = percent;
        self
    }

    /// Keep at least `n` entities free above the peak demand (default 32).
    pub const fn min_free(mut self, n: usize) -> Self {
        self.min_free = n;
        self
    }

    /// The quiet ticks before giving back; `None` for [`never`](Self::never).
    pub const fn quiet_ticks(&self) -> Option<u32> {
        match self.quiet_ticks {
            Some(t) => Some(t.get()),
            None => None,
        }
    }

    /// How many entities the pool keeps for a peak demand of `demand`:
    /// `demand + max(min_free, demand × headroom_percent / 100)`, saturating.
    pub const fn keep_for(&self, demand: usize) -> usize {
        let headroom = (demand / 100)
            .saturating_mul(self.headroom_percent as usize)
            .saturating_add((demand % 100) * self.headroom_percent as usize / 100);
        let headroom = if headroom > self.min_free {
            headroom
        } else {
            self.min_free
        };
        demand.saturating_add(headroom)
    }
}

/// The pool's demand measurement and quiet-tick count.
#[derive(Debug, Clone, Default)]
pub(crate) struct ShrinkTracker {
    /// The most entities live at once since the tick started.
    tick_peak: usize,
    /// Quiet ticks in a row.
    quiet: u32,
    /// The highest demand of those quiet ticks.
    quiet_peak: usize,
}

impl ShrinkTracker {
    /// Note that `live` entities are acquired right now.
    #[inline]
    pub(crate) fn saw_live(&mut self, live: usize) {
        if live > self.tick_peak {
            self.tick_peak = live;
        }
    }

    /// End a tick in which the pool owned `owned` entities at the end and
    /// has `live` acquired now. Returns how many entities the pool should
    /// own from now on, when it should give some back.
    pub(crate) fn end_tick(
        &mut self,
        policy: &ShrinkPolicy,
        live: usize,
        owned: usize,
    ) -> Option<usize> {
        let demand = self.tick_peak.max(live);
        self.tick_peak = live;
        let quiet_ticks = policy.quiet_ticks?.get();
        if owned <= policy.keep_for(demand) {
            self.quiet = 0;
            self.quiet_peak = 0;
            return None;
        }
        self.quiet += 1;
        self.quiet_peak = self.quiet_peak.max(demand);
        if self.quiet < quiet_ticks {
            return None;
        }
        let keep = policy.keep_for(self.quiet_peak);
        self.quiet = 0;
        self.quiet_peak = 0;
        Some(keep)
    }

    /// Quiet ticks counted so far.
    #[cfg(test)]
    pub(crate) fn quiet(&self) -> u32 {
        self.quiet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_for_saturates_and_rounds_down() {
        let p = ShrinkPolicy::after_quiet_ticks(1)
            .headroom_percent(25)
            .min_free(0);
        assert_eq!(p.keep_for(0), 0);
        assert_eq!(p.keep_for(3), 3);
        assert_eq!(p.keep_for(4), 5);
        assert_eq!(p.keep_for(199), 248);
        assert_eq!(p.keep_for(usize::MAX), usize::MAX);
        let p = p.headroom_percent(u32::MAX);
        assert_eq!(p.keep_for(usize::MAX / 2), usize::MAX);
    }

    #[test]
    fn zero_quiet_ticks_means_one() {
        assert_eq!(ShrinkPolicy::after_quiet_ticks(0).quiet_ticks(), Some(1));
    }

    #[test]
    fn gives_back_after_quiet_ticks_only() {
        let p = ShrinkPolicy::after_quiet_ticks(3)
            .headroom_percent(0)
            .min_free(0);
        let mut t = ShrinkTracker::default();
        t.saw_live(100);
        assert_eq!(t.end_tick(&p, 10, 100), None); // demand 100: busy
        assert_eq!(t.end_tick(&p, 10, 100), None); // quiet 1
        t.saw_live(20);
        assert_eq!(t.end_tick(&p, 10, 100), None); // quiet 2, peak 20
        assert_eq!(t.end_tick(&p, 10, 100), Some(20)); // quiet 3
        assert_eq!(t.quiet(), 0);
        assert_eq!(t.end_tick(&p, 10, 20), None);
    }
}
