//! A thread that is exiting must not publish into the stats slot of a thread
//! that started after it (its own test binary: it reads `global_stats`).

use std::cell::RefCell;
use std::sync::mpsc;

use tickmem_scratch::{global_stats, stats, with};

struct OnExit(Option<Box<dyn FnOnce()>>);

impl Drop for OnExit {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

thread_local! {
    static HOOK: RefCell<Option<OnExit>> = const { RefCell::new(None) };
}

#[test]
fn an_exiting_thread_does_not_clobber_a_new_threads_stats() {
    let (freed_tx, freed_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();

    // Thread A: scratch's thread-local state first (`stats` touches it),
    // then the hook, then its first scope. At exit, destructors run newest
    // first: whatever registered during the first scope, then the hook
    // (scratch's state still alive), then scratch's state.
    let a = std::thread::spawn(move || {
        assert_eq!(stats().depth, 0);
        HOOK.with(|h| {
            *h.borrow_mut() = Some(OnExit(Some(Box::new(move || {
                // Everything registered after the hook is gone now; let
                // another thread start and open a scope, then use scratch.
                freed_tx.send(()).expect("main alive");
                go_rx.recv().expect("main alive");
                with(|s| {
                    s.alloc_slice_copy(&[0u8; 100]);
                });
                done_tx.send(()).expect("main alive");
            }))));
        });
        with(|s| {
            s.alloc_slice_copy(&[0u8; 100]);
        });
    });
    freed_rx.recv().expect("A's hook runs");

    // Thread B holds a scope open with 20 kB in use, published at an inner
    // scope's exit.
    let (b_ready_tx, b_ready_rx) = mpsc::channel::<()>();
    let (b_go_tx, b_go_rx) = mpsc::channel::<()>();
    let b = std::thread::spawn(move || {
        with(|s| {
            s.alloc_slice_copy(&[1u8; 20_000]);
            with(|_| ());
            b_ready_tx.send(()).expect("main alive");
            b_go_rx.recv().expect("main alive");
        });
    });
    b_ready_rx.recv().expect("B is in its scope");
    let before = global_stats();
    assert_eq!(before.depth, 1, "{before}");
    assert!(before.bytes_in_use >= 20_000, "{before}");

    // A, still exiting, runs a scope.
    go_tx.send(()).expect("A alive");
    done_rx.recv().expect("A's scope ran");
    let after = global_stats();
    assert_eq!(after.depth, 1, "B is still in its scope: {after}");
    assert!(
        after.bytes_in_use >= 20_000,
        "B's bytes are still in use: {after}"
    );

    a.join().expect("A");
    b_go_tx.send(()).expect("B alive");
    b.join().expect("B");
    let end = global_stats();
    assert_eq!(
        (end.depth, end.bytes_in_use, end.bytes_reserved),
        (0, 0, 0),
        "{end}"
    );
    // A: 1 scope + 1 at exit; B: 2.
    assert_eq!(end.scopes, 4, "{end}");
}
