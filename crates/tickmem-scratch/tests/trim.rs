//! The trim policy: a one-off spike is released after the quiet periods, trim
//! requests end periods on other threads, the per-thread cap applies at
//! scope exit, `trim` and `release_all` free what they should.
//!
//! The policy is process-wide, so these tests take a lock and each runs on a
//! fresh thread.

use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};

use allocator_api2::alloc::{Allocator, Layout};
use tickmem_scratch::{
    Scratch, TrimPolicy, release_all, request_trim_all, set_trim_policy, stats, trim, trim_policy,
    with,
};
use tickmem_track::{AllocStats, CountingAlloc, count};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();

const MIB: usize = 1 << 20;
/// The one-off job's size (not written to, so it costs no real memory).
const SPIKE: usize = if cfg!(miri) { 4 * MIB } else { 100 * MIB };

/// Repetitions of steady-state jobs.
const REPEAT: usize = if cfg!(miri) { 4 } else { 50 };

static LOCK: Mutex<()> = Mutex::new(());

/// Holds the lock and restores the default policy when the test ends.
struct PolicyGuard(#[expect(dead_code, reason = "held for its Drop")] MutexGuard<'static, ()>);

impl Drop for PolicyGuard {
    fn drop(&mut self) {
        set_trim_policy(TrimPolicy::DEFAULT);
    }
}

fn with_policy(policy: TrimPolicy) -> PolicyGuard {
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    set_trim_policy(policy);
    assert_eq!(trim_policy(), policy);
    PolicyGuard(guard)
}

fn spike(s: &Scratch<'_>) {
    let block = s
        .allocate(Layout::from_size_align(SPIKE, 8).expect("layout"))
        .expect("spike allocation");
    assert!(block.len() >= SPIKE);
}

fn small_job() {
    with(|s| {
        s.alloc_slice_copy(&[7u8; 4096]);
    });
}

fn reserved() -> usize {
    stats().bytes_reserved
}

#[test]
fn a_spike_is_released_after_the_quiet_periods() {
    let _policy = with_policy(
        TrimPolicy::new()
            .with_quiet_periods(2)
            .with_period_scopes(1)
            .with_max_retained_bytes(usize::MAX),
    );
    std::thread::spawn(|| {
        with(spike);
        assert!(reserved() >= SPIKE, "{}", stats());
        // Still recent: the policy keeps it (the next job this size would
        // otherwise have to allocate it again).
        small_job();
        assert!(reserved() >= SPIKE, "kept while recent: {}", stats());
        // Within 2 x quiet_periods periods of small jobs it is released.
        let mut released_after = None;
        for job in 2..=5 {
            let ((), calls) = count(small_job);
            if reserved() < MIB {
                assert!(
                    calls.deallocs >= 1,
                    "the chunk went back to the allocator: {calls}"
                );
                released_after = Some(job);
                break;
            }
        }
        let after = released_after.expect("spike released within 2 x quiet_periods");
        assert!(
            (3..=5).contains(&after),
            "released after {after} small jobs"
        );
        // What is kept is enough for the small jobs: no more allocator calls.
        let ((), calls) = count(|| {
            for _ in 0..REPEAT {
                small_job();
            }
        });
        assert_eq!(calls, AllocStats::default(), "{calls}");
        assert!(reserved() >= 4096);
    })
    .join()
    .expect("worker panicked");
}

#[test]
fn trim_requests_end_periods_on_worker_threads() {
    // Periods end only on trim requests (as with the ECS frame boundary).
    let _policy = with_policy(
        TrimPolicy::new()
            .with_quiet_periods(2)
            .with_period_scopes(0)
            .with_max_retained_bytes(usize::MAX),
    );
    let (to_worker, jobs) = mpsc::channel::<bool>();
    let (report, reports) = mpsc::channel::<usize>();
    let worker = std::thread::spawn(move || {
        for big in jobs {
            if big {
                with(spike);
            } else {
                small_job();
            }
            report.send(reserved()).expect("main thread alive");
        }
    });
    let run = |big| {
        to_worker.send(big).expect("worker alive");
        reports.recv().expect("worker report")
    };
    assert!(run(true) >= SPIKE);
    // Any number of jobs without trim requests: no period ends.
    for _ in 0..10 {
        assert!(run(false) >= SPIKE);
    }
    // The frame boundary asks every thread to trim, once per frame.
    for _ in 0..4 {
        request_trim_all();
    }
    // The worker applies it when it next enters a scope.
    assert!(
        run(false) < MIB,
        "released at the next job after 2 x quiet_periods requests"
    );
    drop(to_worker);
    worker.join().expect("worker panicked");
}

#[test]
fn the_cap_applies_as_soon_as_the_outermost_scope_exits() {
    let _policy = with_policy(
        TrimPolicy::new()
            .with_quiet_periods(1000)
            .with_period_scopes(0)
            .with_max_retained_bytes(MIB),
    );
    std::thread::spawn(|| {
        with(spike);
        assert!(
            reserved() <= MIB,
            "one-off job released at exit: {}",
            stats()
        );
        // Nested: the deepest level goes first, the outer one is kept.
        with(|outer| {
            outer
                .allocate(Layout::from_size_align(256 << 10, 8).expect("layout"))
                .expect("256 KiB");
            with(spike);
            // Not while the outer scope is open.
            assert!(reserved() >= SPIKE);
        });
        let after = reserved();
        assert!((256 << 10..=MIB).contains(&after), "{}", stats());
        // Small jobs under the cap are not affected.
        let ((), calls) = count(|| {
            for _ in 0..REPEAT {
                small_job();
            }
        });
        assert_eq!(calls, AllocStats::default(), "{calls}");
    })
    .join()
    .expect("worker panicked");
}

#[test]
fn trim_keeps_the_recent_high_water_and_release_all_keeps_nothing() {
    // Every outermost scope is a period and a window: the recent high-water
    // is the larger of the last two jobs.
    let _policy = with_policy(
        TrimPolicy::new()
            .with_quiet_periods(1)
            .with_period_scopes(1)
            .with_max_retained_bytes(usize::MAX),
    );
    std::thread::spawn(|| {
        let job = |bytes: usize| {
            with(|s| {
                s.allocate(Layout::from_size_align(bytes, 8).expect("layout"))
                    .expect("allocation");
            })
        };
        job(1900 << 10);
        job(MIB);
        job(MIB);
        // Under twice the high-water: the policy leaves it...
        let before = reserved();
        assert!(before >= 1900 << 10, "{}", stats());
        // ...`trim` brings it down to the high-water.
        trim();
        let trimmed = reserved();
        assert!(
            (MIB..MIB + 8192).contains(&trimmed),
            "{before} -> {trimmed}"
        );
        // Nothing more to trim.
        let ((), calls) = count(trim);
        assert_eq!(calls, AllocStats::default());
        job(MIB);
        assert_eq!(reserved(), trimmed, "a 1 MiB job fits what was kept");

        release_all();
        assert_eq!(reserved(), 0);
    })
    .join()
    .expect("worker panicked");
}

#[test]
fn trimming_leaves_open_scopes_alone() {
    let _policy = with_policy(TrimPolicy::new());
    std::thread::spawn(|| {
        const N: usize = if cfg!(miri) { 5_000 } else { 100_000 };
        with(|outer| {
            let data = outer.alloc_slice_fill_with(N, |i| i as u32);
            with(|inner| {
                inner.alloc_slice_fill_with(N, |i| i as u32);
            });
            release_all();
            trim();
            let s = stats();
            assert!(s.bytes_reserved >= 4 * N && s.bytes_in_use >= 4 * N, "{s}");
            assert!(data.iter().enumerate().all(|(i, v)| *v == i as u32));
            // The freed inner level is made again on demand.
            with(|inner| assert_eq!(*inner.alloc(3u8), 3));
        });
    })
    .join()
    .expect("worker panicked");
}

#[test]
fn level_records_of_a_depth_spike_are_freed() {
    let _policy = with_policy(TrimPolicy::new());
    std::thread::spawn(|| {
        const DEPTH: usize = if cfg!(miri) { 20 } else { 500 };
        fn dive(depth: usize) {
            if depth > 0 {
                with(|s| {
                    s.alloc(depth);
                    dive(depth - 1);
                });
            }
        }
        dive(DEPTH);
        let ((), calls) = count(release_all);
        // Each level's record and chunk went back.
        assert!(calls.deallocs >= 2 * DEPTH as u64, "{calls}");
        assert_eq!(reserved(), 0);
        // And the arena still works afterwards.
        dive(3);
    })
    .join()
    .expect("worker panicked");
}
