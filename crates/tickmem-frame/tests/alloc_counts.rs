//! Global-allocator calls, counted by `tickmem_track::CountingAlloc`: after
//! warm-up a frame makes none (even with ±50% fluctuation, on several
//! threads), memory above the high-water mark is released after quiet
//! frames, and `FrameStats::global_alloc_calls` matches what was counted.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tickmem_frame::allocator_api2::vec::Vec as AVec;
use tickmem_frame::{FrameArena, FrameConfig, Lane};
use tickmem_track::{CountingAlloc, FrameBudget};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();

/// Fewer frames under Miri.
const fn scaled(n: usize) -> usize {
    if cfg!(miri) { n / 25 + 2 } else { n }
}

/// Size of an average frame, in 64-byte objects.
const MEAN: usize = if cfg!(miri) { 40 } else { 2000 };

/// A seeded SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `MEAN` ± 50%.
    fn units(&mut self) -> usize {
        MEAN / 2 + (self.next() % (MEAN as u64 + 1)) as usize
    }
}

#[derive(Clone, Copy)]
#[allow(dead_code, reason = "only its size matters")]
struct Body {
    pos: [f32; 4],
    vel: [f32; 4],
    id: u64,
    flags: u64,
    pad: [u64; 2],
}

static DROPS: AtomicUsize = AtomicUsize::new(0);

/// Needs `Drop` (registered in the frame) but allocates nothing itself.
struct Tracked(#[allow(dead_code, reason = "payload")] u64);

impl Drop for Tracked {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::Relaxed);
    }
}

/// One frame's work on `lane`: about `units` 64-byte objects in various forms.
fn frame_work(lane: Lane<'_>, units: usize) {
    let body = Body {
        pos: [1.0; 4],
        vel: [0.5; 4],
        id: 1,
        flags: 0,
        pad: [0; 2],
    };
    for i in 0..units / 2 {
        let b = lane.alloc(body);
        b.id = i as u64;
    }
    for i in 0..units / 8 {
        lane.alloc(Tracked(i as u64));
    }
    lane.alloc_slice_copy(&[body; 16][..(units % 16)]);
    lane.alloc_str("collision pairs");
    let mut v = lane.vec();
    v.extend((0..units / 8).map(|i| i as u32));
    let mut map = hashbrown::HashMap::new_in(lane);
    for i in 0..units / 16 {
        map.insert(i as u32, i as u64);
    }
    let mut pairs = AVec::new_in(lane.arena().allocator());
    pairs.extend((0..units / 16).map(|i| (i, i + 1)));
    let _handle = lane.persist(units as u64);
}

#[test]
fn warmed_up_frames_make_no_global_allocator_calls() {
    let mut arena = FrameArena::with_config(FrameConfig::default().lane_capacity(4096));
    let mut rng = Rng(7);
    // Warm-up: the extremes of the range, then random sizes.
    for units in [MEAN / 2, MEAN * 3 / 2, MEAN, MEAN * 3 / 2, MEAN / 2] {
        arena.begin_frame();
        frame_work(arena.lane(), units);
    }
    for _ in 0..4 {
        arena.begin_frame();
        frame_work(arena.lane(), rng.units());
    }
    let calls_before = arena.stats().global_alloc_calls;
    let mut budget = FrameBudget::new(0);
    for _ in 0..scaled(300) {
        let units = rng.units();
        budget.assert_frame(|| {
            arena.begin_frame();
            frame_work(arena.lane(), units);
        });
    }
    assert_eq!(arena.stats().global_alloc_calls, calls_before);
    assert_eq!(budget.overruns(), 0);
    // The destructors of all but the last two frames ran, allocation-free.
    assert!(DROPS.load(Ordering::Relaxed) > 0);
}

#[test]
fn warmed_up_frames_make_no_calls_on_several_threads() {
    // A game's worker pool: threads that live across frames. They allocate
    // under a read lock during the frame; the main thread takes the write
    // lock for `begin_frame` between frames (lock and barrier do not allocate).
    const WORKERS: usize = 3;
    let arena = std::sync::RwLock::new(FrameArena::with_config(
        FrameConfig::default().lane_capacity(4096),
    ));
    let frames = scaled(60);
    let warm_up = 4;
    let start = std::sync::Barrier::new(WORKERS + 1);
    let done = std::sync::Barrier::new(WORKERS + 1);
    let calls = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..WORKERS as u64 {
            let (arena, start, done, calls) = (&arena, &start, &done, &calls);
            s.spawn(move || {
                let mut rng = Rng(t);
                for frame in 0..frames {
                    start.wait();
                    let units = if frame < warm_up {
                        MEAN * 3 / 2
                    } else {
                        rng.units()
                    };
                    let arena = arena.read().unwrap();
                    let ((), stats) = tickmem_track::count(|| frame_work(arena.lane(), units));
                    if frame >= warm_up {
                        calls.fetch_add(stats.calls(), Ordering::Relaxed);
                    }
                    drop(arena);
                    done.wait();
                }
            });
        }
        for frame in 0..frames {
            start.wait();
            done.wait();
            let mut arena = arena.write().unwrap();
            let ((), reset) = tickmem_track::count(|| arena.begin_frame());
            if frame >= warm_up {
                assert_eq!(reset.calls(), 0, "begin_frame after frame {frame}");
            }
        }
    });
    let arena = arena.into_inner().unwrap();
    assert_eq!(calls.load(Ordering::Relaxed), 0, "{}", arena.stats());
    assert_eq!(arena.stats().lanes, WORKERS);
}

#[test]
fn spike_memory_is_released_after_quiet_frames() {
    let quiet_frames = 8;
    let mut arena = FrameArena::with_config(
        FrameConfig::default()
            .lane_capacity(if cfg!(miri) { 512 } else { 16 * 1024 })
            .trim_after_quiet_frames(quiet_frames),
    );
    for _ in 0..6 {
        arena.begin_frame();
        frame_work(arena.lane(), MEAN);
    }
    let normal = arena.stats().bytes_reserved;

    // One spike frame, 40 times the usual size.
    arena.begin_frame();
    frame_work(arena.lane(), MEAN * 40);
    arena.begin_frame();
    arena.begin_frame();
    let spiked = arena.stats().bytes_reserved;
    assert!(
        spiked > 10 * normal,
        "spike kept: {spiked} vs normal {normal}"
    );

    // Quiet frames: after `quiet_frames` of them both halves shrink back.
    let ((), trimmed) = tickmem_track::count(|| {
        for _ in 0..quiet_frames + 2 {
            arena.begin_frame();
            frame_work(arena.lane(), MEAN);
        }
    });
    let after = arena.stats().bytes_reserved;
    assert!(
        after <= 2 * normal,
        "not trimmed: {after} vs normal {normal}"
    );
    assert!(
        trimmed.bytes_freed as usize >= spiked - after,
        "freed only {} of {}",
        trimmed.bytes_freed,
        spiked - after
    );

    // And the trimmed arena is allocation-free again.
    let mut budget = FrameBudget::new(0).with_warm_up(2);
    for _ in 0..scaled(50) {
        budget.assert_frame(|| {
            arena.begin_frame();
            frame_work(arena.lane(), MEAN);
        });
    }
}

#[test]
fn repeated_spikes_do_not_grow_memory_without_bound() {
    let mut arena = FrameArena::with_config(
        FrameConfig::default()
            .lane_capacity(4096)
            .trim_after_quiet_frames(4),
    );
    let mut peak_reserved = 0;
    for round in 0..scaled(12) {
        arena.begin_frame();
        frame_work(arena.lane(), MEAN * 10);
        for _ in 0..6 {
            arena.begin_frame();
            frame_work(arena.lane(), MEAN / 2);
        }
        let reserved = arena.stats().bytes_reserved;
        if round == 1 {
            peak_reserved = reserved;
        }
        assert!(
            round < 2 || reserved <= peak_reserved,
            "round {round}: {reserved} > {peak_reserved}"
        );
    }
}

#[test]
fn stats_count_exactly_the_global_allocator_calls() {
    let mut arena = FrameArena::with_config(
        FrameConfig::default()
            .lane_capacity(1024)
            .trim_after_quiet_frames(3),
    );
    arena.alloc(0u8); // create the lane (its registration is not counted)
    let before = arena.stats().global_alloc_calls;
    let mut rng = Rng(99);
    let ((), counted) = tickmem_track::count(|| {
        for frame in 0..if cfg!(miri) { 12 } else { 40 } {
            arena.begin_frame();
            let units = match frame % 10 {
                1 | 3 => MEAN * 8, // spikes, growth, trims
                _ => rng.units() / 4,
            };
            frame_work(arena.lane(), units);
        }
    });
    let made = arena.stats().global_alloc_calls - before;
    assert!(made > 0);
    assert_eq!(made, counted.calls(), "{counted}");
}

/// Chunk growth (a frame needing more than ever before), resizes and trims
/// (after quiet frames) are the arena's housekeeping: counted as such, and
/// not charged to a frame's budget. Before, a `FrameBudget` of 0 failed on
/// each of those frames.
#[test]
fn growth_and_trims_are_housekeeping_not_the_frames_calls() {
    let mut arena = FrameArena::with_config(
        FrameConfig::default()
            .lane_capacity(1024)
            .trim_after_quiet_frames(3),
    );
    arena.alloc(0u8);
    let calls_before = arena.stats().global_alloc_calls;
    let hk_before = tickmem_track::thread_housekeeping_stats();
    // One warm-up frame: built with the whole workspace's features
    // (`cargo test --workspace`), the first frame makes one small
    // allocation and free of its own. The spikes come after.
    let mut budget = FrameBudget::new(0).with_warm_up(1);
    let mut rng = Rng(7);
    for frame in 0..if cfg!(miri) { 12 } else { 40 } {
        budget.assert_frame(|| {
            arena.begin_frame();
            let units = match frame % 10 {
                1 | 3 => MEAN * 8, // growth, then trims after quiet frames
                _ => rng.units() / 4,
            };
            frame_work(arena.lane(), units);
        });
    }
    let made = arena.stats().global_alloc_calls - calls_before;
    let housekeeping = tickmem_track::thread_housekeeping_stats().since(&hk_before);
    assert!(made > 0, "the program grows and trims");
    assert_eq!(housekeeping.calls(), made, "{housekeeping}");
}
