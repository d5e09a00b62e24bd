//! The first call over a budget is captured inside the allocator — size,
//! kind, thread, current tag, stack — and symbolised afterwards; exactly one
//! per arming even when many threads allocate at once; harmless during
//! thread exit; stale captures are never reported for another tick.
//!
//! Arming is process-wide: this binary holds one test, which runs the
//! scenarios in sequence.
#![cfg(feature = "attribution")]

use std::hint::black_box;
use std::sync::Barrier;

use tickmem_track::CountingAlloc;
use tickmem_track::attribution::{self, CallKind, Tag};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();

/// The allocation the report must point at.
#[inline(never)]
fn the_offending_function() -> Box<[u8; 40]> {
    black_box(Box::new([7u8; 40]))
}

fn within_budget_then_one_over() {
    let tag = Tag::unique();
    let scope = attribution::enter(tag);
    attribution::arm(2, 100);
    let a = black_box(Box::new(1u64)); // call 1
    let b = black_box(Box::new(2u64)); // call 2
    let c = the_offending_function(); // call 3: over a budget of 2
    drop((a, b)); // calls 4, 5: no second capture
    attribution::disarm();
    drop(scope);

    let offender = attribution::take(100).expect("the third call was captured");
    assert_eq!(offender.kind, CallKind::Alloc);
    assert_eq!(offender.size, 40);
    assert_eq!(offender.tag, Some(tag));
    assert_eq!(offender.thread, attribution::thread_index());
    assert!(attribution::take(100).is_none(), "taken once");
    #[cfg(all(unix, not(miri)))]
    {
        assert!(!offender.frames().is_empty());
        let stack = offender.symbolize();
        let names: Vec<&str> = stack.iter().filter_map(|f| f.function.as_deref()).collect();
        assert!(
            names.iter().any(|n| n.contains("the_offending_function")),
            "{names:#?}"
        );
        // The allocator's own frames are cut off the top.
        assert!(
            !names[0].contains("tickmem_track") && !names[0].starts_with("__rust"),
            "{names:#?}"
        );
        // With debug info (tests have it), the frame has its file and line.
        let here = stack
            .iter()
            .find(|f| {
                f.function
                    .as_deref()
                    .is_some_and(|n| n.contains("the_offending_function"))
            })
            .expect("found above");
        assert!(
            here.file
                .as_ref()
                .is_some_and(|p| p.ends_with("tests/offender.rs")),
            "{here}"
        );
    }
    drop(c);
}

fn zero_budget_catches_the_first_call_of_any_kind() {
    let mut v: Vec<u8> = Vec::with_capacity(8);
    v.extend_from_slice(&[1; 8]);
    attribution::arm(0, 101);
    v.reserve_exact(100); // a reallocation
    attribution::disarm();
    let o = attribution::take(101).expect("captured");
    assert_eq!((o.kind, o.size), (CallKind::Realloc, 108));
    assert_eq!(o.tag, None, "no scope open");

    let b = black_box(Box::new(5u16));
    attribution::arm(0, 102);
    drop(b);
    attribution::disarm();
    let o = attribution::take(102).expect("captured");
    assert_eq!((o.kind, o.size), (CallKind::Dealloc, 2));
}

fn many_threads_one_offender() {
    const THREADS: usize = 4;
    let start = Barrier::new(THREADS);
    let indices: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let start = &start;
                s.spawn(move || {
                    let me = attribution::thread_index();
                    start.wait();
                    for i in 0..200 {
                        // Sizes name the thread: 1000 * (t + 1) + i.
                        drop(black_box(vec![0u8; 1000 * (t + 1) + i]));
                    }
                    me
                })
            })
            .collect();
        // Armed while the threads wait at the barrier: call 50 of the
        // process is the offender, whoever makes it.
        attribution::arm(49, 103);
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    attribution::disarm();
    let o = attribution::take(103).expect("exactly one captured");
    assert!(attribution::take(103).is_none());
    // Consistent: the thread that made the call is the one recorded (or the
    // harness thread, whose joins may allocate).
    if let Some(t) = indices.iter().position(|&i| i == o.thread) {
        let lo = 1000 * (t + 1);
        assert!(
            (lo..lo + 200).contains(&o.size),
            "size {} is not thread {t}'s",
            o.size
        );
    }
}

fn capture_during_thread_exit() {
    struct AllocOnExit;
    impl Drop for AllocOnExit {
        fn drop(&mut self) {
            // A thread-local destructor allocating while armed.
            drop(black_box(vec![0u8; 77]));
        }
    }
    thread_local! {
        static ON_EXIT: AllocOnExit = const { AllocOnExit };
    }
    let index = std::thread::spawn(|| {
        ON_EXIT.with(|_| ());
        let me = attribution::thread_index();
        attribution::arm(0, 104);
        me
    })
    .join()
    .unwrap();
    attribution::disarm();
    // The first call after arming is the destructor's (the thread did
    // nothing else), or a runtime call of the thread's exit.
    let o = attribution::take(104).expect("captured during thread exit");
    assert_eq!(o.thread, index);
}

fn a_stale_capture_is_never_reported_for_another_tick() {
    attribution::arm(0, 105);
    drop(black_box(Box::new(1u8)));
    attribution::disarm();
    // Not taken for tick 105; tick 106 is armed and makes no call.
    attribution::arm(0, 106);
    attribution::disarm();
    assert!(attribution::take(106).is_none());
    assert!(attribution::take(105).is_none(), "re-arming dropped it");
}

fn nothing_is_captured_unarmed_or_within_budget() {
    attribution::disarm();
    drop(black_box(vec![1u8; 10]));
    assert!(attribution::take(0).is_none());
    attribution::arm(1_000, 107);
    for _ in 0..100 {
        drop(black_box(Box::new(0u32)));
    }
    attribution::disarm();
    assert!(attribution::take(107).is_none());
}

fn the_capture_itself_never_allocates() {
    // The capture runs inside the allocator, on the offending call: any
    // allocation of its own would show up in this thread's counts.
    let ((), stats) = tickmem_track::count(|| {
        attribution::arm(0, 108);
        drop(black_box(Box::new([0u8; 16])));
        attribution::disarm();
    });
    assert_eq!(stats.calls(), 2, "{stats}");
    assert!(attribution::take(108).is_some());
}

#[test]
fn offenders() {
    // Warm up what the harness and the first symbolisation allocate.
    within_budget_then_one_over();
    within_budget_then_one_over();
    zero_budget_catches_the_first_call_of_any_kind();
    many_threads_one_offender();
    capture_during_thread_exit();
    a_stale_capture_is_never_reported_for_another_tick();
    nothing_is_captured_unarmed_or_within_budget();
    the_capture_itself_never_allocates();
}
