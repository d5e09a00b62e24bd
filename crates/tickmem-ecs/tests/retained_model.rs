//! The retained-buffer policy ([`Retainer`]) against a reference written
//! the other way round, and the properties the issue asks for.
//!
//! * `matches_the_reference`: random loads (1 to 3 runs per tick, some ticks
//!   skipped) on a model collection whose capacity doubles as it grows and
//!   shrinks exactly; after every run the capacity and the shrink count are
//!   the reference's. The reference re-reads the whole history at each run
//!   (a shrink happens in a run that is quiet, whose `n` previous ticks
//!   that ran were all quiet and saw no shrink after their first), where
//!   the `Retainer` keeps running counters.
//! * `one_shrink_after_a_spike`: a steady load (wobbling by 1%), a spike
//!   of 3x or more, the steady load again: exactly one shrink,
//!   `quiet_ticks` ticks after the spike, down to twice the steady load;
//!   never a regrowth.
//! * `no_shrink_while_the_load_stays_in_the_band`: after warm-up, loads
//!   between half the capacity and the capacity: no shrink, no growth.
//! * `steady_state_allocates_nothing` (with `CountingAlloc`): real `Vec`,
//!   `VecDeque`, hashbrown `HashMap` and `SmallVec` buffers, loads in the
//!   band: zero global-allocator calls after warm-up.

#[global_allocator]
static GLOBAL: tickmem_track::CountingAlloc = tickmem_track::CountingAlloc::system();

use std::collections::VecDeque;

use proptest::prelude::*;
use smallvec::SmallVec;
use tickmem_ecs::{RetainPolicy, RetainedBuffer, Retainer};

/// A collection that only counts: capacity doubles (at least to what is
/// needed) when it grows, `shrink_to` is exact.
#[derive(Debug, Default)]
struct ModelBuf {
    len: usize,
    cap: usize,
    grows: u32,
}

impl ModelBuf {
    fn fill(&mut self, n: usize) {
        if n > self.cap {
            self.cap = n.max(self.cap * 2);
            self.grows += 1;
        }
        self.len = n;
    }
}

impl RetainedBuffer for ModelBuf {
    fn len(&self) -> usize {
        self.len
    }
    fn capacity(&self) -> usize {
        self.cap
    }
    fn clear(&mut self) {
        self.len = 0;
    }
    fn shrink_to(&mut self, min_capacity: usize) {
        self.cap = self.cap.min(min_capacity.max(self.len));
    }
    fn heap_bytes(&self) -> usize {
        self.cap
    }
    fn used_bytes(&self) -> usize {
        self.len
    }
}

/// One run: its tick and the elements it puts in the buffer.
#[derive(Debug, Clone, Copy)]
struct Run {
    tick: u64,
    load: usize,
}

/// Runs from per-tick loads: `(skip, loads)` per tick: skip that many ticks,
/// then one run per load.
fn runs(ticks: &[(u64, Vec<usize>)]) -> Vec<Run> {
    let mut out = Vec::new();
    let mut tick = 0;
    for (skip, loads) in ticks {
        tick += 1 + skip;
        out.extend(loads.iter().map(|&load| Run { tick, load }));
    }
    out
}

/// What the reference knows of each run that has happened.
#[derive(Debug, Clone, Copy)]
struct Seen {
    tick: u64,
    /// Elements it used: its load, or the whole capacity if it grew.
    used: usize,
    /// The capacity after it (after the shrink, if it shrank).
    cap_after: usize,
    /// A shrink decision was taken in it (the capacity may not have moved).
    decided: bool,
}

/// The reference: capacities after each run and the shrink count, from the
/// whole history.
fn reference(runs: &[Run], policy: RetainPolicy, clear: bool) -> Vec<(usize, u64)> {
    let mut seen: Vec<Seen> = Vec::new();
    let mut out = Vec::new();
    let mut shrinks = 0;
    let mut cap = 0usize;
    for run in runs {
        // The run leaves `load` elements in the buffer (in `Kept` mode the
        // system may also have removed some).
        let need = run.load;
        let grew = need > cap;
        if grew {
            cap = need.max(cap * 2);
        }
        let used = if grew { cap } else { need };
        // The ticks that ran, in order, with their peak and end capacity.
        let mut ticks: Vec<(u64, usize, usize, bool)> = Vec::new(); // (tick, peak, cap at its end, decided)
        for s in &seen {
            match ticks.last_mut() {
                Some(t) if t.0 == s.tick => {
                    t.1 = t.1.max(s.used);
                    t.2 = s.cap_after;
                    t.3 |= s.decided;
                }
                _ => ticks.push((s.tick, s.used, s.cap_after, s.decided)),
            }
        }
        // This tick so far (earlier runs of it, then this one).
        let (closed, current): (Vec<_>, Vec<_>) = ticks.iter().partition(|t| t.0 != run.tick);
        let peak_so_far = current
            .first()
            .map_or(0, |t: &&(u64, usize, usize, bool)| t.1)
            .max(used);
        let decided_this_tick = current.first().is_some_and(|t| t.3);
        let quiet = |peak: usize, cap: usize| 2 * peak <= cap;
        let mut decided = false;
        let mut cap_after = cap;
        if let Some(n) = policy.quiet_ticks {
            let n = n.get() as usize;
            let window = closed.len() >= n && {
                let w = &closed[closed.len() - n..];
                w.iter().all(|t| quiet(t.1, t.2)) && !w[1..].iter().any(|t| t.3)
            };
            if window && !decided_this_tick && quiet(peak_so_far, cap) {
                decided = true;
                let w = &closed[closed.len() - n..];
                let peak = w.iter().map(|t| t.1).max().unwrap().max(peak_so_far);
                let target = (2 * peak).max(policy.min_capacity);
                let len_after = if clear { 0 } else { need };
                // Worth it only if it gives back at least a quarter.
                if 4 * target <= 3 * cap && target < cap {
                    let new_cap = target.max(len_after);
                    if new_cap < cap {
                        shrinks += 1;
                    }
                    cap_after = new_cap;
                }
            }
        }
        seen.push(Seen {
            tick: run.tick,
            used,
            cap_after,
            decided,
        });
        cap = cap_after;
        out.push((cap, shrinks));
    }
    out
}

/// The `Retainer` over a `ModelBuf`, same runs.
fn actual(runs: &[Run], policy: RetainPolicy, clear: bool) -> (Vec<(usize, u64)>, u32) {
    let mut r = Retainer::<ModelBuf>::new(policy);
    let mut out = Vec::new();
    for run in runs {
        r.buffer_mut().fill(run.load);
        r.end_run(run.tick, clear);
        out.push((r.buffer().cap, r.shrinks()));
    }
    (out, r.buffer().grows)
}

fn cases() -> u32 {
    if cfg!(miri) { 8 } else { 512 }
}

fn tick_loads(max_load: usize) -> impl Strategy<Value = Vec<(u64, Vec<usize>)>> {
    prop::collection::vec(
        (
            prop::sample::select(vec![0u64, 0, 0, 0, 1, 3]),
            prop::collection::vec(0..max_load, 1..4),
        ),
        1..200,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn matches_the_reference(
        ticks in tick_loads(300),
        quiet in 0u32..8,
        min_capacity in prop::sample::select(vec![0usize, 0, 16, 100]),
        clear in any::<bool>(),
    ) {
        let policy = RetainPolicy::after_quiet_ticks(quiet).with_min_capacity(min_capacity);
        let runs = runs(&ticks);
        let (got, _) = actual(&runs, policy, clear);
        let want = reference(&runs, policy, clear);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            prop_assert_eq!(g, w, "after run {} ({:?})", i, runs[i]);
        }
    }

    #[test]
    fn one_shrink_after_a_spike(
        steady in 1usize..200,
        spike_factor in 3usize..50,
        spike_ticks in 1usize..4,
        before in 1usize..20,
        quiet in 1u32..30,
        jitter in prop::collection::vec(0usize..100, 200),
    ) {
        let policy = RetainPolicy::after_quiet_ticks(quiet);
        let mut r = Retainer::<ModelBuf>::new(policy);
        let spike = steady * spike_factor;
        let mut tick = 0u64;
        // The steady load varies by up to 1% below `steady`.
        let load = |i: usize| steady - (steady * jitter[i % jitter.len()] / 10_000);
        for i in 0..before {
            r.buffer_mut().fill(load(i));
            r.end_run(tick, true);
            tick += 1;
        }
        for _ in 0..spike_ticks {
            r.buffer_mut().fill(spike);
            r.end_run(tick, true);
            tick += 1;
        }
        let grows = r.buffer().grows;
        let spike_cap = r.buffer().cap;
        prop_assert!(spike_cap >= spike);
        let mut shrunk_at = None;
        for i in 0..(quiet as usize + 1) * 4 {
            r.buffer_mut().fill(load(i));
            if r.end_run(tick, true) {
                prop_assert_eq!(shrunk_at, None, "a second shrink");
                shrunk_at = Some(i);
            }
            tick += 1;
        }
        // Exactly one shrink, in the first run after `quiet` quiet ticks,
        // down to twice the steady load, and the buffer never grew again.
        prop_assert_eq!(r.shrinks(), 1);
        prop_assert_eq!(shrunk_at, Some(quiet as usize));
        let cap = r.buffer().cap;
        prop_assert!(cap >= steady && cap <= 2 * steady, "capacity {} for a load of {}", cap, steady);
        prop_assert_eq!(r.buffer().grows, grows, "regrew after the shrink");
    }

    #[test]
    fn no_shrink_while_the_load_stays_in_the_band(
        peak in 2usize..5_000,
        loads in prop::collection::vec(0.5f64..=1.0, 1..400),
        runs_per_tick in 1usize..3,
        quiet in 1u32..10,
    ) {
        let mut r = Retainer::<ModelBuf>::new(RetainPolicy::after_quiet_ticks(quiet));
        // Warm up to the peak.
        r.buffer_mut().fill(peak);
        r.end_run(0, true);
        let cap = r.buffer().cap;
        let grows = r.buffer().grows;
        for (i, f) in loads.iter().enumerate() {
            // Between half the capacity (exclusive) and the capacity.
            let load = ((cap as f64 * f) as usize).clamp(cap / 2 + 1, cap);
            for _ in 0..runs_per_tick {
                r.buffer_mut().fill(load);
                r.end_run(1 + (i / runs_per_tick) as u64, true);
            }
        }
        prop_assert_eq!(r.shrinks(), 0);
        prop_assert_eq!(r.buffer().grows, grows);
        prop_assert_eq!(r.buffer().cap, cap);
    }
}

/// Drive a real buffer: `fill(buffer, n)` puts `n` elements in.
fn steady<C: RetainedBuffer + Default>(fill: impl Fn(&mut C, usize)) -> tickmem_track::AllocStats {
    const PEAK: usize = 1_000;
    let mut r = Retainer::<C>::new(RetainPolicy::after_quiet_ticks(4));
    // Warm-up: one tick at the peak.
    fill(r.buffer_mut(), PEAK);
    r.end_run(0, true);
    let cap = r.buffer().capacity();
    let ((), stats) = tickmem_track::count(|| {
        for tick in 1..300u64 {
            // Loads in the band (above half the capacity, at most the peak
            // that set it), a pseudo-random walk.
            let n = cap / 2 + 1 + (tick as usize * 7919) % (PEAK - cap / 2);
            fill(r.buffer_mut(), n.min(PEAK));
            r.end_run(tick, true);
        }
    });
    assert_eq!(r.shrinks(), 0);
    assert_eq!(r.buffer().capacity(), cap);
    stats
}

#[test]
fn steady_state_allocates_nothing() {
    assert!(tickmem_track::is_installed());
    let vec = steady::<Vec<u64>>(|v, n| v.extend(0..n as u64));
    assert_eq!(vec.calls(), 0, "Vec: {vec:?}");
    let deque = steady::<VecDeque<u64>>(|v, n| v.extend(0..n as u64));
    assert_eq!(deque.calls(), 0, "VecDeque: {deque:?}");
    let map =
        steady::<hashbrown::HashMap<u64, u64>>(|m, n| m.extend((0..n as u64).map(|i| (i, i))));
    assert_eq!(map.calls(), 0, "HashMap: {map:?}");
    let small = steady::<SmallVec<[u64; 8]>>(|v, n| v.extend(0..n as u64));
    assert_eq!(small.calls(), 0, "SmallVec: {small:?}");
}

#[test]
fn real_collections_shrink_once_after_a_spike() {
    fn run_spike<C: RetainedBuffer + Default>(fill: impl Fn(&mut C, usize)) -> (u64, usize, usize) {
        let mut r = Retainer::<C>::new(RetainPolicy::after_quiet_ticks(5));
        fill(r.buffer_mut(), 10_000);
        r.end_run(0, true);
        let spike_bytes = r.buffer().heap_bytes();
        for tick in 1..40 {
            fill(r.buffer_mut(), 100);
            r.end_run(tick, true);
        }
        (r.shrinks(), spike_bytes, r.buffer().heap_bytes())
    }
    let (shrinks, spike, after) = run_spike::<Vec<u64>>(|v, n| v.extend(0..n as u64));
    assert_eq!((shrinks, spike, after), (1, 80_000, 1_600));
    let (shrinks, spike, after) = run_spike::<VecDeque<u64>>(|v, n| v.extend(0..n as u64));
    assert_eq!((shrinks, spike, after), (1, 80_000, 1_600));
    let (shrinks, spike, after) =
        run_spike::<hashbrown::HashSet<u64>>(|s, n| s.extend(0..n as u64));
    assert_eq!(shrinks, 1);
    assert!(after * 20 < spike, "{after} of {spike}");
    // SmallVec: back inline (no heap block) when the load fits.
    let (shrinks, spike, after) = run_spike::<SmallVec<[u64; 256]>>(|v, n| v.extend(0..n as u64));
    assert_eq!((shrinks, after), (1, 0));
    assert!(spike >= 80_000);
}
