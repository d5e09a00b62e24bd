//! Regression tests for the three undefined-behaviour programs of issue 11,
//! and their variants. Each one is a safe program; before the fix Miri
//! reported UB for all of them (Stacked and Tree Borrows), and the handle and
//! lane checks below failed natively too.
//!
//! 1. A destructor panicking inside `begin_frame` must not leave the frame
//!    readable through a `FrameHandle`.
//! 2. `FrameVec::into_slice` on another thread than the one whose lane holds
//!    the buffer: every lane's destructors run before any lane's memory is
//!    reset, freed or poisoned.
//! 3. Thread exit: a TLS destructor allocating from an arena (through the
//!    per-thread lane cache or a `Lane` kept in a TLS value) never shares a
//!    lane with a thread started meanwhile.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, LazyLock, Mutex};

use tickmem_frame::{FrameArena, FrameConfig, FrameHandle, Lane};

/// Counts its drops; panics in `drop` when `bomb` is set.
struct Bomb {
    drops: Arc<AtomicUsize>,
    bomb: bool,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::Relaxed);
        assert!(!self.bomb, "bomb in a frame destructor");
    }
}

/// Silence the expected panics' messages (they are caught).
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = info
                .payload()
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
                .unwrap_or("");
            if !text.contains("bomb") {
                default(info);
            }
        }));
    });
}

// ---------------------------------------------------------------------------
// 1. A panicking destructor in begin_frame

/// Persist a `String` in frame 0 on the lane of `handle_thread`, and a
/// panicking value in frame 0 on the lane of `bomb_thread` (0: the main
/// thread, 1: a scoped thread), then reclaim frame 0 with a panic.
fn panicking_reclaim(handle_on_worker: bool, bomb_on_worker: bool) {
    quiet_panics();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut arena = FrameArena::new();
    let on = |worker: bool, f: &(dyn Fn(&FrameArena) + Sync)| {
        if worker {
            std::thread::scope(|s| {
                s.spawn(|| f(&arena));
            });
        } else {
            f(&arena);
        }
    };
    let handle: Mutex<Option<FrameHandle<String>>> = Mutex::new(None);
    on(handle_on_worker, &|arena| {
        *handle.lock().unwrap() = Some(arena.persist(String::from("frame zero")));
    });
    on(bomb_on_worker, &|arena| {
        arena.alloc(Bomb {
            drops: drops.clone(),
            bomb: true,
        });
        arena.alloc(Bomb {
            drops: drops.clone(),
            bomb: false,
        });
    });
    let handle = handle.lock().unwrap().unwrap();
    arena.begin_frame();
    assert_eq!(arena.get(handle).map(String::as_str), Some("frame zero"));

    let result = catch_unwind(AssertUnwindSafe(|| arena.begin_frame()));
    assert!(result.is_err(), "the destructor's panic reaches the caller");
    // Frame 0 is dead: its handle reads `None` (before the fix, `Some` of a
    // dropped `String`: a use after free).
    assert_eq!(arena.get(handle), None);
    assert!(!arena.is_live(handle));
    assert_eq!(arena.epoch(), 2);
    // Every destructor of the frame ran, each once.
    assert_eq!(drops.load(Ordering::Relaxed), 2);

    // The arena is fully usable: the next frames allocate and reclaim.
    let h = arena.persist(String::from("after"));
    arena.alloc(Bomb {
        drops: drops.clone(),
        bomb: false,
    });
    arena.begin_frame();
    assert_eq!(arena.get(h).map(String::as_str), Some("after"));
    arena.begin_frame();
    assert_eq!(arena.get(h), None);
    assert_eq!(drops.load(Ordering::Relaxed), 3);
    drop(arena);
    assert_eq!(drops.load(Ordering::Relaxed), 3);
}

#[test]
fn a_panicking_destructor_kills_the_frame_for_handles_first() {
    panicking_reclaim(false, false);
}

#[test]
fn a_panicking_destructor_on_another_lane_kills_the_frame_for_handles_first() {
    panicking_reclaim(false, true);
    panicking_reclaim(true, false);
    panicking_reclaim(true, true);
}

#[test]
fn two_panicking_elements_of_one_slice_do_not_abort() {
    quiet_panics();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut arena = FrameArena::new();
    arena.alloc_slice_fill_with(6, |i| Bomb {
        drops: drops.clone(),
        bomb: i % 2 == 1,
    });
    let mut v = arena.vec();
    v.extend((0..4).map(|i| Bomb {
        drops: drops.clone(),
        bomb: i < 2,
    }));
    v.into_slice();
    arena.begin_frame();
    let result = catch_unwind(AssertUnwindSafe(|| arena.begin_frame()));
    assert!(result.is_err());
    assert_eq!(drops.load(Ordering::Relaxed), 10);
    arena.begin_frame();
    assert_eq!(drops.load(Ordering::Relaxed), 10);
}

#[test]
fn a_panicking_destructor_when_the_arena_is_dropped_runs_the_others() {
    quiet_panics();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut arena = FrameArena::new();
    for i in 0..3 {
        arena.alloc(Bomb {
            drops: drops.clone(),
            bomb: i == 1,
        });
    }
    arena.begin_frame();
    for i in 0..3 {
        arena.alloc(Bomb {
            drops: drops.clone(),
            bomb: i == 0,
        });
    }
    let result = catch_unwind(AssertUnwindSafe(|| drop(arena)));
    assert!(result.is_err());
    assert_eq!(drops.load(Ordering::Relaxed), 6);
}

// ---------------------------------------------------------------------------
// 2. into_slice on another thread than the buffer's lane

/// Build a `FrameVec<String>` on one thread and `into_slice` it on another;
/// then force the buffer's chunk out (reset frees every chunk but the
/// newest; with `poison` it is overwritten) while reclaiming.
fn cross_thread_into_slice(build_on_worker: bool) {
    let mut arena = FrameArena::with_config(FrameConfig::default().lane_capacity(0));
    let n = if cfg!(miri) { 8 } else { 64 };
    fn build(arena: &FrameArena, n: usize) -> tickmem_frame::FrameVec<'_, String> {
        let lane = arena.lane();
        let mut v = lane.vec();
        v.extend((0..n).map(|i| format!("value {i}")));
        // Push the lane into newer chunks, so that resetting it frees the
        // chunk that holds the vector's buffer.
        for i in 0..n * 8 {
            lane.alloc_slice_copy(&[i as u64; 16]);
        }
        v
    }
    let finish = |v: tickmem_frame::FrameVec<'_, String>| {
        let s = v.into_slice();
        assert_eq!(s[1], "value 1");
    };
    std::thread::scope(|s| {
        if build_on_worker {
            let v = s.spawn(|| build(&arena, n)).join().unwrap();
            finish(v);
        } else {
            let v = build(&arena, n);
            s.spawn(move || finish(v)).join().unwrap();
        }
    });
    assert!(arena.stats().chunks > 2, "{}", arena.stats());
    arena.begin_frame();
    // Reclaims the frame: the destructors of the strings run (on whichever
    // lane their node is) before any lane's memory is reset.
    arena.begin_frame();
    arena.begin_frame();
}

#[test]
fn into_slice_on_another_thread_than_the_buffer_main_to_worker() {
    cross_thread_into_slice(false);
}

#[test]
fn into_slice_on_another_thread_than_the_buffer_worker_to_main() {
    cross_thread_into_slice(true);
}

#[test]
fn a_collection_grown_and_dropped_on_other_threads_stays_sound() {
    let mut arena = FrameArena::with_config(FrameConfig::default().lane_capacity(0));
    let n = if cfg!(miri) { 20 } else { 500 };
    for _ in 0..3 {
        let mut v = arena.vec();
        v.extend((0..n).map(|i| i.to_string()));
        let v = std::thread::scope(|s| {
            s.spawn(move || {
                let mut v = v;
                v.extend((n..2 * n).map(|i| i.to_string()));
                v
            })
            .join()
            .unwrap()
        });
        let mut map = hashbrown::HashMap::new_in(arena.allocator());
        for (i, x) in v.iter().enumerate() {
            map.insert(i, x.clone());
        }
        std::thread::scope(|s| {
            s.spawn(move || {
                assert!(v.iter().enumerate().all(|(i, x)| *x == i.to_string()));
                assert_eq!(map.len(), 2 * n);
                drop(map);
                v.into_slice();
            });
        });
        arena.begin_frame();
    }
}

// ---------------------------------------------------------------------------
// 3. Thread exit

/// What a dying thread's TLS destructor does, and whom it tells.
struct ExitCheck {
    arena: &'static FrameArena,
    /// When the destructor has allocated, it sends where to send it the
    /// lane number of the thread started meanwhile.
    ready: mpsc::Sender<mpsc::Sender<usize>>,
    /// (own lane, other lane, own allocations intact).
    report: mpsc::Sender<(usize, usize, bool)>,
}

impl ExitCheck {
    /// In a TLS destructor: allocate with `lane` (or the cached lane when
    /// `None`), let a new thread start and allocate, allocate again, report.
    fn run(self, lane: Option<Lane<'static>>) {
        let lane = lane.unwrap_or_else(|| self.arena.lane());
        let mine = lane.alloc([0xA5A5_A5A5_u64; 32]);
        let (tx, rx) = mpsc::channel();
        self.ready.send(tx).unwrap();
        let other = rx.recv().unwrap();
        let more = lane.alloc([0x5A5A_5A5A_u64; 32]);
        let intact =
            mine.iter().all(|&x| x == 0xA5A5_A5A5) && more.iter().all(|&x| x == 0x5A5A_5A5A);
        self.report.send((lane.index(), other, intact)).unwrap();
    }
}

/// A TLS value whose destructor allocates from a `'static` arena.
struct AllocAtExit {
    check: Cell<Option<ExitCheck>>,
    lane: Cell<Option<Lane<'static>>>,
}

impl Drop for AllocAtExit {
    fn drop(&mut self) {
        if let Some(check) = self.check.take() {
            check.run(self.lane.take());
        }
    }
}

thread_local! {
    static FIRST: AllocAtExit = const { AllocAtExit { check: Cell::new(None), lane: Cell::new(None) } };
    static SECOND: AllocAtExit = const { AllocAtExit { check: Cell::new(None), lane: Cell::new(None) } };
}

/// A thread `T1` allocates from a `'static` arena; two TLS destructors of
/// `T1` (one registered before the arena's first use on `T1` and one after,
/// so that whatever order the runtime runs TLS destructors in, one of them
/// runs after all other per-thread state of `T1`, such as the
/// `thread_local` crate's thread id, is gone) allocate again while a new
/// thread starts and allocates. Two live threads must never bump one lane,
/// and allocations never overlap.
fn thread_exit_scenario(arena: &'static FrameArena, keep_lane_in_tls: bool) {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (report_tx, report_rx) = mpsc::channel();
    let mut checks: Vec<ExitCheck> = (0..2)
        .map(|_| ExitCheck {
            arena,
            ready: ready_tx.clone(),
            report: report_tx.clone(),
        })
        .collect();
    drop((ready_tx, report_tx));
    let second = checks.pop().unwrap();
    let first = checks.pop().unwrap();
    let dying = std::thread::spawn(move || {
        // Registered before the arena's first use on this thread ...
        FIRST.with(|v| v.check.set(Some(first)));
        let lane = arena.lane();
        assert_eq!(*lane.alloc(1u32), 1);
        // ... and after it.
        SECOND.with(|v| v.check.set(Some(second)));
        if keep_lane_in_tls {
            FIRST.with(|v| v.lane.set(Some(lane)));
            SECOND.with(|v| v.lane.set(Some(lane)));
        }
    });
    // For each destructor: once it allocated, start a new thread that
    // allocates, and tell the destructor that thread's lane.
    let mut newcomers = Vec::new();
    for _ in 0..2 {
        let tx = ready_rx.recv().unwrap();
        let (lane_tx, lane_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        newcomers.push((
            std::thread::spawn(move || {
                let lane = arena.lane();
                let x = lane.alloc([0x1111_1111_u64; 32]);
                lane_tx.send(lane.index()).unwrap();
                // Stay alive, allocating, until the dying thread checked.
                let y = lane.alloc([0x2222_2222_u64; 32]);
                done_rx.recv().unwrap();
                assert!(x.iter().all(|&v| v == 0x1111_1111));
                assert!(y.iter().all(|&v| v == 0x2222_2222));
            }),
            done_tx,
        ));
        tx.send(lane_rx.recv().unwrap()).unwrap();
        let (own, other, intact) = report_rx.recv().unwrap();
        assert_ne!(own, other, "two live threads bump the same lane");
        assert!(intact, "an allocation of the dying thread was overwritten");
    }
    dying.join().unwrap();
    for (t, done) in newcomers {
        done.send(()).unwrap();
        t.join().unwrap();
    }
}

#[test]
fn a_tls_destructor_allocating_never_shares_a_lane_with_a_new_thread() {
    static ARENA: LazyLock<FrameArena> = LazyLock::new(FrameArena::new);
    thread_exit_scenario(&ARENA, false);
}

#[test]
fn a_lane_kept_in_a_tls_value_never_serves_a_new_thread() {
    static ARENA: LazyLock<FrameArena> = LazyLock::new(FrameArena::new);
    thread_exit_scenario(&ARENA, true);
}
