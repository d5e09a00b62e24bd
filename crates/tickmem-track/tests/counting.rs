//! Exact counts with `CountingAlloc` as this binary's global allocator.

use std::hint::black_box;
use std::sync::Barrier;

use tickmem_track::{BudgetError, BudgetScope, CountingAlloc, FrameBudget, count};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system().with_global_peak();

#[test]
fn is_installed_when_global() {
    assert!(tickmem_track::is_installed());
}

#[test]
fn vec_growing_to_100_u32() {
    let (v, s) = count(|| {
        let mut v: Vec<u32> = Vec::new();
        for i in 0..100 {
            v.push(black_box(i));
        }
        v
    });
    // RawVec starts at capacity 4 for 4-byte elements, then doubles:
    // alloc(16), realloc to 32, 64, 128, 256, 512 bytes.
    assert_eq!(s.allocs, 1, "{s}");
    assert_eq!(s.reallocs, 5, "{s}");
    assert_eq!(s.deallocs, 0, "{s}");
    assert_eq!(s.bytes_allocated, 16 + 32 + 64 + 128 + 256 + 512);
    assert_eq!(s.bytes_freed, 16 + 32 + 64 + 128 + 256);
    assert_eq!(s.net_bytes(), 512);
    assert_eq!(s.peak_bytes, 512);
    assert_eq!(v.capacity(), 128);

    let ((), s) = count(|| drop(v));
    assert_eq!((s.allocs, s.deallocs, s.reallocs), (0, 1, 0));
    assert_eq!(s.bytes_freed, 512);
    assert_eq!(s.calls(), 1);
}

#[test]
fn box_counts_one_alloc_and_one_dealloc() {
    let (b, s) = count(|| Box::new(black_box([7u64; 8])));
    assert_eq!((s.allocs, s.deallocs, s.bytes_allocated), (1, 0, 64));
    let ((), s) = count(|| drop(b));
    assert_eq!((s.allocs, s.deallocs, s.bytes_freed), (0, 1, 64));
}

#[test]
fn zero_sized_and_empty_things_do_not_allocate() {
    let ((), s) = count(|| {
        let v: Vec<u64> = Vec::new();
        black_box(&v);
        let b = Box::new(());
        black_box(&b);
        let s = String::new();
        black_box(&s);
    });
    assert!(s.is_empty(), "{s}");
}

#[test]
fn realloc_is_counted_as_one_call() {
    let mut v: Vec<u8> = Vec::with_capacity(10);
    v.extend_from_slice(&[1; 10]);
    let ((), s) = count(|| v.reserve_exact(90));
    assert_eq!((s.allocs, s.reallocs, s.deallocs), (0, 1, 0), "{s}");
    assert_eq!(s.bytes_freed, 10);
    assert_eq!(s.bytes_allocated, 100);
    let ((), s) = count(|| v.shrink_to_fit());
    assert_eq!(s.reallocs, 1, "{s}");
    assert_eq!(s.net_bytes(), 10 - 100);
}

#[test]
fn peak_bytes_tracks_the_high_point_inside_the_closure() {
    let ((), s) = count(|| {
        let a = black_box(vec![0u8; 1000]);
        drop(a);
        let b = black_box(vec![0u8; 300]);
        drop(b);
    });
    assert_eq!(s.peak_bytes, 1000);
    assert_eq!(s.net_bytes(), 0);
}

#[test]
fn counts_are_per_thread_while_others_allocate() {
    const THREADS: usize = 3;
    let start = Barrier::new(THREADS + 1);
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                start.wait();
                // Churn until told to stop, so the measurement below overlaps it.
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 1000 {
                    black_box(vec![n; 16]);
                    n += 1;
                }
            });
        }
        start.wait();
        for _ in 0..50 {
            let ((), s) = count(|| {
                for i in 0..10u64 {
                    black_box(Box::new(i));
                }
            });
            assert_eq!(
                (s.allocs, s.deallocs, s.bytes_allocated),
                (10, 10, 80),
                "{s}"
            );
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
}

#[test]
fn totals_include_other_threads() {
    let before = tickmem_track::global_stats();
    std::thread::spawn(|| {
        for i in 0..100u64 {
            black_box(Box::new(i));
        }
    })
    .join()
    .unwrap();
    let after = tickmem_track::global_stats();
    // Other tests may allocate meanwhile: the totals grow by at least ours.
    assert!(after.allocs - before.allocs >= 100);
    assert!(after.deallocs - before.deallocs >= 100);
    assert!(
        after.peak_live_bytes.is_some(),
        "with_global_peak tracks the peak"
    );
    assert!(after.live_bytes() > 0);
}

#[test]
fn thread_stats_of_a_new_thread_start_near_zero() {
    let s = std::thread::spawn(|| {
        let before = tickmem_track::thread_stats();
        let b = black_box(Box::new([0u8; 40]));
        let after = tickmem_track::thread_stats();
        drop(b);
        (before, after)
    })
    .join()
    .unwrap();
    assert_eq!(s.1.allocs - s.0.allocs, 1);
    assert_eq!(s.1.bytes_allocated - s.0.bytes_allocated, 40);
}

#[test]
fn budget_passes_an_allocation_free_frame_after_warm_up() {
    let mut buf: Vec<u64> = Vec::new();
    let mut budget = FrameBudget::new(0).with_warm_up(3);
    for frame in 0..20u64 {
        // Frame sizes cycle 1, 51, 101: the buffer stops growing in frame 2.
        let len = budget.assert_frame(|| {
            buf.clear();
            buf.extend(0..(frame % 3) * 50 + 1);
            black_box(&buf).len()
        });
        assert_eq!(len as u64, (frame % 3) * 50 + 1);
    }
    assert_eq!(budget.frames(), 20);
    assert_eq!(budget.overruns(), 0);
}

#[test]
fn budget_reports_an_overrun_with_its_numbers() {
    let mut budget = FrameBudget::new(1).with_warm_up(1);
    // Warm-up frame: anything goes.
    let ((), r) = budget.frame(|| drop(black_box(vec![1u8; 8])));
    let usage = r.expect("warm-up frames are not checked");
    assert!(usage.warming_up);
    assert_eq!(usage.stats.calls(), 2);

    let ((), r) = budget.frame(|| {
        black_box(Box::new(1u32));
        black_box(Box::new(2u32));
    });
    match r {
        Err(BudgetError::Overrun {
            frame,
            max_calls,
            stats,
        }) => {
            assert_eq!(frame, 1);
            assert_eq!(max_calls, 1);
            assert_eq!((stats.allocs, stats.deallocs), (2, 2));
            let msg = r.unwrap_err().to_string();
            assert!(
                msg.contains("frame 1: 4 global-allocator calls over a budget of 1 (3 over"),
                "{msg}"
            );
        }
        other => panic!("expected an overrun, got {other:?}"),
    }
    assert_eq!(budget.overruns(), 1);
}

#[test]
#[should_panic(
    expected = "allocation budget overrun in frame 0: 2 global-allocator calls over a budget of 0"
)]
fn assert_frame_fails_a_test_on_overrun() {
    FrameBudget::new(0).assert_frame(|| drop(black_box(Box::new(5u8))));
}

#[test]
fn end_frame_without_begin_is_an_error() {
    assert_eq!(
        FrameBudget::new(0).end_frame(),
        Err(BudgetError::NotStarted)
    );
}

#[test]
fn process_scope_sees_worker_threads() {
    let mut budget = FrameBudget::new(0).with_scope(BudgetScope::Process);
    let ((), r) = budget.frame(|| {
        std::thread::scope(|s| {
            s.spawn(|| black_box(vec![0u8; 64]));
        });
    });
    // Spawning a thread and its Vec allocate: the process-wide view sees them.
    assert!(matches!(r, Err(BudgetError::Overrun { .. })), "{r:?}");
}

/// Issue 15, item 5: a panicking closure must not lower the thread's
/// long-term peak (the peak window is restored on unwind).
#[test]
fn a_panic_inside_count_keeps_the_threads_peak() {
    std::thread::spawn(|| {
        // A high peak on this thread: 10 MiB live at once.
        drop(black_box(vec![0u8; 10 << 20]));
        let peak = tickmem_track::thread_stats().peak_bytes;
        // (Live bytes may start below 0: the thread frees what its parent
        // allocated for it.)
        assert!(peak > 9 << 20, "{peak}");
        let r = std::panic::catch_unwind(|| {
            count(|| {
                black_box(Box::new(1u8));
                // `resume_unwind` skips the panic hook, whose backtrace
                // printing would allocate and raise the peak by itself.
                std::panic::resume_unwind(Box::new("inside count"));
            })
        });
        assert!(r.is_err());
        assert!(
            tickmem_track::thread_stats().peak_bytes >= peak,
            "peak lowered from {peak} to {}",
            tickmem_track::thread_stats().peak_bytes
        );
        // And a later count still measures its own window.
        let ((), s) = count(|| drop(black_box(vec![0u8; 100])));
        assert_eq!(s.peak_bytes, 100);
    })
    .join()
    .unwrap();
}

/// A frame whose closure panics is abandoned, not left open: a later
/// `end_frame` does not report the panicked frame plus everything since.
#[test]
fn a_panicking_frame_is_abandoned() {
    let mut budget = FrameBudget::new(0);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        budget.frame(|| std::panic::resume_unwind(Box::new("frame body")))
    }));
    assert!(r.is_err());
    drop(black_box(vec![1u8; 16]));
    assert_eq!(budget.end_frame(), Err(BudgetError::NotStarted));
    assert_eq!(budget.frames(), 0);
    // The budget still works afterwards.
    let ((), r) = budget.frame(|| ());
    assert_eq!(r.map(|u| u.frame), Ok(0));
}
