//! Thread-local destructors that call into scratch while the thread exits:
//! before scratch's own thread-local state is destroyed, after it, on a
//! thread whose first scratch use is in such a destructor, and while other
//! threads start and end. Also `std::process::exit` inside an open scope.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use tickmem_scratch::{release_all, stats, trim, with};

/// Runs a closure when dropped (in a thread-local destructor).
struct OnExit(Option<Box<dyn FnOnce()>>);

impl Drop for OnExit {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

thread_local! {
    /// Touched first on a thread: its destructor is registered before
    /// scratch's, so it runs after scratch's state is gone.
    static EARLY: RefCell<Option<OnExit>> = const { RefCell::new(None) };
    /// Touched after scratch: its destructor runs while scratch's state is
    /// still alive.
    static LATE: RefCell<Option<OnExit>> = const { RefCell::new(None) };
}

fn on_exit(
    slot: &'static std::thread::LocalKey<RefCell<Option<OnExit>>>,
    f: impl FnOnce() + 'static,
) {
    slot.with(|s| *s.borrow_mut() = Some(OnExit(Some(Box::new(f)))));
}

struct Counted<'a>(&'a Cell<usize>);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Sizes of `exercise`'s allocations.
const SMALL: usize = if cfg!(miri) { 16 } else { 1000 };
const BIG: usize = if cfg!(miri) { 600 } else { 10_000 };

/// What a destructor does with scratch: allocate, nest, drop values, panic
/// inside a nested scope, trim. `Err` says what went wrong.
fn exercise(seed: u32) -> Result<(), String> {
    let drops = Cell::new(0);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let base = stats().depth;
        with(|s| {
            assert_eq!(s.depth(), base + 1, "outermost depth");
            assert_eq!(stats().depth, base + 1, "stats depth");
            let kept = s.alloc_slice_fill_with(SMALL, |i| seed + i as u32);
            s.alloc(Counted(&drops));
            with(|t| {
                assert_eq!(t.depth(), base + 2, "nested depth");
                t.alloc(Counted(&drops));
                let big = t.alloc_slice_fill_with(BIG, |_| seed as u8);
                assert!(big.iter().all(|b| *b == seed as u8));
                let mut v = t.vec();
                v.extend((0..SMALL as u32).map(|i| i * seed));
                assert_eq!(v[SMALL - 1], (SMALL as u32 - 1) * seed);
                assert!(stats().bytes_in_use >= BIG, "{}", stats());
            });
            assert_eq!(drops.get(), 1, "nested scope's value dropped");
            let r = catch_unwind(AssertUnwindSafe(|| {
                with(|t| {
                    t.alloc(Counted(&drops));
                    panic!("planned");
                })
            }));
            assert!(r.is_err());
            assert_eq!(drops.get(), 2, "panicked scope's value dropped");
            trim();
            release_all();
            assert!(
                kept.iter().enumerate().all(|(i, v)| *v == seed + i as u32),
                "outer data intact"
            );
        });
        assert_eq!(drops.get(), 3, "every value dropped once");
        assert_eq!(stats().depth, base);
    }));
    outcome.map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "non-string panic".into())
    })
}

/// Spawn a thread that runs `setup` and reports what its exit-time
/// destructor saw.
fn run_thread(
    setup: impl FnOnce(mpsc::Sender<Result<(), String>>) + Send + 'static,
) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || setup(tx))
        .join()
        .expect("thread exited cleanly");
    rx.recv().expect("the destructor reported")
}

#[test]
fn a_destructor_running_after_scratch_state_is_gone_gets_temporary_scopes() {
    let result = run_thread(|tx| {
        on_exit(&EARLY, move || {
            // Scratch's thread-local state was destroyed before this runs.
            assert_eq!(stats().scopes, 0);
            tx.send(exercise(3)).expect("main alive");
        });
        // Registers scratch's state after `EARLY`.
        with(|s| {
            s.alloc_slice_copy(&[1u8; 100]);
        });
    });
    result.expect("scratch in a late destructor");
}

#[test]
fn a_destructor_running_before_scratch_state_is_gone_uses_the_thread_arena() {
    let result = run_thread(|tx| {
        with(|s| {
            s.alloc_slice_copy(&[1u8; 100]);
        });
        on_exit(&LATE, move || {
            let scopes = stats().scopes;
            let r = exercise(5).and_then(|()| {
                // The thread's own arena: its scopes are counted.
                if stats().scopes == scopes + 3 {
                    Ok(())
                } else {
                    Err(format!("scopes {} -> {}", scopes, stats().scopes))
                }
            });
            tx.send(r).expect("main alive");
        });
    });
    result.expect("scratch in an early destructor");
}

#[test]
fn first_scratch_use_in_a_destructor_after_other_thread_locals_are_gone() {
    // The destructor is registered before any other thread-local machinery
    // (the `thread_local` crate's id guard included), so it runs last.
    let result = run_thread(|tx| {
        on_exit(&EARLY, move || {
            tx.send(exercise(7)).expect("main alive");
        });
        let other = thread_local::ThreadLocal::new();
        assert_eq!(*other.get_or(|| 1), 1);
    });
    result.expect("first scratch use at thread exit");
}

#[test]
fn destructors_call_in_while_other_threads_start_and_end() {
    const WAVES: usize = if cfg!(miri) { 2 } else { 20 };
    const THREADS: usize = if cfg!(miri) { 3 } else { 6 };
    let (tx, rx) = mpsc::channel();
    for wave in 0..WAVES {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let seed = (wave * THREADS + t) as u32;
                    let early = t % 2 == 0;
                    let report = move || {
                        tx.send(exercise(seed)).expect("main alive");
                    };
                    let mut report = Some(report);
                    if early {
                        on_exit(&EARLY, report.take().expect("set"));
                    }
                    with(|s| {
                        s.alloc_slice_fill_with(64, |i| i as u32 + seed);
                    });
                    if let Some(report) = report {
                        on_exit(&LATE, report);
                    }
                })
            })
            .collect();
        // The next wave starts while this one is still exiting.
        if wave % 2 == 1 {
            for h in handles {
                h.join().expect("worker");
            }
        }
    }
    drop(tx);
    let results: Vec<_> = rx.iter().collect();
    assert_eq!(results.len(), WAVES * THREADS);
    for r in results {
        r.expect("scratch in a destructor");
    }
}

/// Run by `process_exit_inside_an_open_scope` in a child process.
#[test]
#[ignore = "run in a child process by process_exit_inside_an_open_scope"]
fn child_exits_inside_a_scope() {
    if std::env::var_os("TICKMEM_SCRATCH_EXIT_CHILD").is_none() {
        return;
    }
    let drops = Cell::new(0);
    with(|s| {
        s.alloc(Counted(&drops));
        with(|t| {
            t.alloc_slice_copy(&[9u8; 1000]);
            // glibc's `exit` runs this thread's thread-local destructors
            // while both scopes are open.
            std::process::exit(42);
        });
    });
}

#[cfg(not(miri))]
#[test]
fn process_exit_inside_an_open_scope() {
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_exits_inside_a_scope",
            "--ignored",
            "--nocapture",
        ])
        .env("TICKMEM_SCRATCH_EXIT_CHILD", "1")
        .output()
        .expect("child ran");
    assert_eq!(
        out.status.code(),
        Some(42),
        "child: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
