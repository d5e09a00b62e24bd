//! `global_stats` as published by other threads at their scope exits (its
//! own test binary, so no other test's threads are counted).

use std::sync::mpsc;

use tickmem_scratch::{ScratchStats, global_stats, with};

#[test]
fn other_threads_publish_at_scope_exit_and_clear_at_thread_exit() {
    let (to_main, from_worker) = mpsc::channel::<&'static str>();
    let (to_worker, from_main) = mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        with(|outer| {
            outer.alloc_slice_copy(&[1u8; 10_000]);
            with(|inner| {
                inner.alloc_slice_copy(&[2u8; 5_000]);
            });
            // Published at the inner exit: the outer scope is still open.
            to_main.send("inside").expect("main alive");
            from_main.recv().expect("main alive");
        });
        to_main.send("between jobs").expect("main alive");
        from_main.recv().expect("main alive");
        with(|_| ());
        to_main.send("empty job").expect("main alive");
        from_main.recv().expect("main alive");
    });
    let step = |expected: &str| -> ScratchStats {
        assert_eq!(from_worker.recv().expect("worker alive"), expected);
        global_stats()
    };

    let inside = step("inside");
    assert_eq!(
        (inside.depth, inside.scopes, inside.threads),
        (1, 1, 1),
        "{inside}"
    );
    assert!(
        inside.bytes_in_use >= 10_000 && inside.bytes_in_use < 15_000,
        "{inside}"
    );
    assert!(inside.high_water_bytes >= 15_000, "{inside}");
    to_worker.send(()).expect("worker alive");

    let between = step("between jobs");
    assert_eq!(
        (between.depth, between.bytes_in_use, between.scopes),
        (0, 0, 2),
        "{between}"
    );
    assert!(
        between.bytes_reserved >= 15_000,
        "kept for the next job: {between}"
    );
    assert!(between.high_water_bytes >= 15_000, "{between}");
    to_worker.send(()).expect("worker alive");

    let empty = step("empty job");
    assert_eq!(
        (empty.depth, empty.bytes_in_use, empty.scopes),
        (0, 0, 3),
        "{empty}"
    );
    assert_eq!(empty.bytes_reserved, between.bytes_reserved);
    to_worker.send(()).expect("worker alive");

    worker.join().expect("worker panicked");
    // The thread's memory is gone; what it did is still counted.
    let after = global_stats();
    assert_eq!(
        (after.bytes_reserved, after.bytes_in_use, after.depth),
        (0, 0, 0),
        "{after}"
    );
    assert_eq!(after.scopes, 3);
    assert!(after.high_water_bytes >= 15_000, "{after}");
}
