//! Panic-injection model test: random programs over several threads' lanes
//! in which user callbacks panic at random points (destructors during
//! `begin_frame` and the arena's drop, `alloc_slice_fill_with` closures,
//! iterators fed to `FrameVec::extend`, `retain` predicates), run under
//! `catch_unwind` and checked against a model after every step:
//!
//! * every value is dropped exactly once, at the time the model says (when
//!   its frame is reclaimed, or at once for a dropped `FrameVec`);
//! * handles read `None` or their intact value, as the model says;
//! * the arena is usable after every unwind (the next frame allocates).

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use tickmem_frame::{FrameArena, FrameConfig, FrameHandle, FrameVec};

const THREADS: usize = 3;

/// The message of every injected panic (silenced by the hook).
const INJECTED: &str = "injected panic";

/// Drop counts by probe id.
type Log = Arc<Mutex<BTreeMap<u64, u32>>>;

#[derive(Debug)]
struct Probe {
    id: u64,
    value: u64,
    /// Panics in `drop` (after counting).
    bomb: bool,
    log: Log,
}

impl Drop for Probe {
    fn drop(&mut self) {
        *self.log.lock().unwrap().entry(self.id).or_insert(0) += 1;
        if self.bomb {
            panic!("{INJECTED}: destructor of probe {}", self.id);
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// `alloc` a probe, maybe a bomb.
    Alloc { bomb: bool },
    /// `alloc_slice_fill_with` of `len` probes; the closure panics at
    /// `panic_at` (if `< len`); probes at indices in `bombs` are bombs.
    Slice {
        len: usize,
        panic_at: usize,
        bombs: u8,
    },
    /// A `FrameVec` extended from an iterator that panics at `panic_at` (if
    /// `< len`); kept with `into_slice` (on this thread or, with `cross`, on
    /// another one) or dropped.
    Vec {
        len: usize,
        panic_at: usize,
        keep: bool,
        cross: bool,
    },
    /// A `FrameVec` of `len` probes filtered by a predicate that panics at
    /// call `panic_at` (if `< len`), then dropped.
    Retain { len: usize, panic_at: usize },
    /// `persist` a probe (maybe a bomb).
    Persist { value: u64, bomb: bool },
    /// `get` a known handle (index modulo count).
    Get(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => prop::bool::weighted(0.25).prop_map(|bomb| Op::Alloc { bomb }),
        // A bomb is an element whose bit is set in both masks (a quarter).
        2 => (0..6usize, 0..8usize, any::<u8>(), any::<u8>())
            .prop_map(|(len, panic_at, a, b)| Op::Slice { len, panic_at, bombs: a & b }),
        2 => (0..6usize, 0..8usize, any::<bool>(), any::<bool>())
            .prop_map(|(len, panic_at, keep, cross)| Op::Vec { len, panic_at, keep, cross }),
        1 => (0..6usize, 0..8usize).prop_map(|(len, panic_at)| Op::Retain { len, panic_at }),
        2 => (any::<u64>(), prop::bool::weighted(0.2))
            .prop_map(|(value, bomb)| Op::Persist { value, bomb }),
        3 => any::<usize>().prop_map(Op::Get),
    ]
}

fn program() -> impl Strategy<Value = Vec<Vec<(usize, Op)>>> {
    let steps = if cfg!(miri) { 0..6usize } else { 0..20 };
    let frames = if cfg!(miri) { 1..4usize } else { 1..7 };
    prop::collection::vec(prop::collection::vec((0..THREADS, op()), steps), frames)
}

#[derive(Debug, Clone, Copy)]
struct Persisted {
    handle: FrameHandle<Probe>,
    id: u64,
    value: u64,
    epoch: u64,
}

/// What a thread did in a frame.
#[derive(Default)]
struct Report {
    /// Probes whose destructor belongs to this frame: (id, bomb).
    framed: Vec<(u64, bool)>,
    /// Probes already dropped (dropped `FrameVec`s, unwound fills).
    dropped_now: Vec<u64>,
    persisted: Vec<Persisted>,
}

struct Ctx<'a> {
    arena: &'a FrameArena,
    log: &'a Log,
    next_id: &'a AtomicU64,
    known: &'a [Persisted],
    epoch: u64,
}

impl Ctx<'_> {
    fn probe(&self, value: u64, bomb: bool) -> Probe {
        Probe {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            value,
            bomb,
            log: self.log.clone(),
        }
    }

    /// Run one op on this thread, recording what the model needs.
    fn run(&self, op: Op, report: &mut Report) {
        let arena = self.arena;
        match op {
            Op::Alloc { bomb } => {
                let p = arena.alloc(self.probe(7, bomb));
                report.framed.push((p.id, bomb));
            }
            Op::Slice {
                len,
                panic_at,
                bombs,
            } => {
                let made = Mutex::new(Vec::new());
                let result = catch_unwind(AssertUnwindSafe(|| {
                    arena.alloc_slice_fill_with(len, |i| {
                        assert!(i != panic_at, "{INJECTED}: fill_with at {i}");
                        let bomb = bombs & (1 << i) != 0;
                        let p = self.probe(i as u64, bomb);
                        made.lock().unwrap().push((p.id, bomb));
                        p
                    })
                }));
                let made = made.into_inner().unwrap();
                match result {
                    Ok(slice) => {
                        assert_eq!(slice.len(), len);
                        assert!(slice.iter().map(|p| p.id).eq(made.iter().map(|m| m.0)));
                    }
                    Err(_) => assert!(panic_at < len && made.len() == panic_at),
                }
                // Made values are dropped with the frame either way.
                report.framed.extend(made);
            }
            Op::Vec {
                len,
                panic_at,
                keep,
                cross,
            } => {
                let made = Mutex::new(Vec::new());
                let result = catch_unwind(AssertUnwindSafe(|| {
                    let mut v: FrameVec<'_, Probe> = arena.vec();
                    v.extend((0..len).map(|i| {
                        assert!(i != panic_at, "{INJECTED}: iterator at {i}");
                        let p = self.probe(i as u64, false);
                        made.lock().unwrap().push(p.id);
                        p
                    }));
                    v
                }));
                let made = made.into_inner().unwrap();
                match result {
                    Ok(v) => {
                        assert!(v.iter().map(|p| p.id).eq(made.iter().copied()));
                        if keep {
                            let check = |s: &mut [Probe]| {
                                assert!(s.iter().map(|p| p.id).eq(made.iter().copied()));
                            };
                            if cross {
                                std::thread::scope(|s| {
                                    s.spawn(move || check(v.into_slice()));
                                });
                            } else {
                                check(v.into_slice());
                            }
                            report.framed.extend(made.iter().map(|&id| (id, false)));
                        } else {
                            drop(v);
                            report.dropped_now.extend(made);
                        }
                    }
                    Err(_) => {
                        // The partly filled vector was dropped while unwinding.
                        assert!(panic_at < len && made.len() == panic_at);
                        report.dropped_now.extend(made);
                    }
                }
            }
            Op::Retain { len, panic_at } => {
                let mut v = arena.vec();
                v.extend((0..len).map(|i| self.probe(i as u64, false)));
                let ids: Vec<u64> = v.iter().map(|p| p.id).collect();
                let mut calls = 0;
                let result = catch_unwind(AssertUnwindSafe(|| {
                    v.retain(|p| {
                        calls += 1;
                        assert!(calls - 1 != panic_at, "{INJECTED}: retain");
                        p.value % 2 == 0
                    });
                }));
                assert_eq!(result.is_err(), panic_at < len);
                // Whatever was removed is dropped, the rest kept, once each.
                assert!(v.iter().all(|p| ids.contains(&p.id)));
                drop(v);
                report.dropped_now.extend(ids);
            }
            Op::Persist { value, bomb } => {
                let handle = arena.persist(self.probe(value, bomb));
                let p = arena.get(handle).expect("a fresh handle");
                assert_eq!(p.value, value);
                report.framed.push((p.id, bomb));
                report.persisted.push(Persisted {
                    handle,
                    id: p.id,
                    value,
                    epoch: self.epoch,
                });
            }
            Op::Get(i) => {
                if !self.known.is_empty() {
                    check_handle(arena, self.known[i % self.known.len()], self.epoch);
                }
            }
        }
    }
}

fn check_handle(arena: &FrameArena, p: Persisted, epoch: u64) {
    let expected = (epoch - p.epoch <= 1).then_some((p.id, p.value));
    let got = arena.get(p.handle).map(|x| (x.id, x.value));
    assert_eq!(
        got, expected,
        "handle of frame {} in frame {epoch}",
        p.epoch
    );
}

fn silence_injected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let injected = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|s| s.starts_with(INJECTED));
            if !injected {
                default(info);
            }
        }));
    });
}

fn run(program: Vec<Vec<(usize, Op)>>, lane_capacity: usize) {
    silence_injected_panics();
    let log: Log = Arc::default();
    let next_id = AtomicU64::new(0);
    let mut arena = FrameArena::with_config(FrameConfig::default().lane_capacity(lane_capacity));
    let mut known: Vec<Persisted> = Vec::new();
    // (id, bomb) of the probes due when frame `epoch` is reclaimed.
    let mut due: BTreeMap<u64, Vec<(u64, bool)>> = BTreeMap::new();
    let mut must_be_dropped: Vec<u64> = Vec::new();

    let check_drops = |must: &[u64]| {
        let log = log.lock().unwrap();
        let mut want = must.to_vec();
        want.sort_unstable();
        assert_eq!(log.keys().copied().collect::<Vec<_>>(), want);
        assert!(
            log.values().all(|&n| n == 1),
            "a destructor ran twice: {log:?}"
        );
    };

    for (index, frame) in program.into_iter().enumerate() {
        if index > 0 {
            let result = catch_unwind(AssertUnwindSafe(|| arena.begin_frame()));
            let epoch = arena.epoch();
            assert_eq!(
                epoch, index as u64,
                "the frame advances even if a destructor panics"
            );
            let reclaimed = epoch
                .checked_sub(2)
                .and_then(|e| due.remove(&e))
                .unwrap_or_default();
            let bombs = reclaimed.iter().filter(|(_, bomb)| *bomb).count();
            assert_eq!(
                result.is_err(),
                bombs > 0,
                "the first destructor panic resumes"
            );
            must_be_dropped.extend(reclaimed.iter().map(|(id, _)| id));
            check_drops(&must_be_dropped);
            assert_eq!(arena.stats().bytes_this_frame, 0);
        }
        let epoch = arena.epoch();
        for &p in &known {
            check_handle(&arena, p, epoch);
        }
        let ctx = Ctx {
            arena: &arena,
            log: &log,
            next_id: &next_id,
            known: &known,
            epoch,
        };
        let reports: Vec<Report> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..THREADS)
                .map(|t| {
                    let ops: Vec<Op> = frame
                        .iter()
                        .filter(|(thread, _)| *thread == t)
                        .map(|(_, op)| op.clone())
                        .collect();
                    let ctx = &ctx;
                    s.spawn(move || {
                        let mut report = Report::default();
                        for op in ops {
                            ctx.run(op, &mut report);
                        }
                        report
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        for report in reports {
            due.entry(epoch).or_default().extend(report.framed);
            must_be_dropped.extend(report.dropped_now);
            known.extend(report.persisted);
        }
        check_drops(&must_be_dropped);
        // Usable: this thread allocates in the frame too.
        assert_eq!(*arena.alloc(epoch), epoch);
    }

    let live_bombs = due.values().flatten().filter(|(_, bomb)| *bomb).count();
    let result = catch_unwind(AssertUnwindSafe(move || drop(arena)));
    assert_eq!(result.is_err(), live_bombs > 0);
    let total = next_id.load(Ordering::Relaxed);
    let log = log.lock().unwrap();
    assert_eq!(log.len() as u64, total, "some destructor never ran");
    assert!(log.values().all(|&n| n == 1), "a destructor ran twice");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 64 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn panicking_callbacks_never_break_the_model(
        program in program(),
        small_chunks in any::<bool>(),
    ) {
        run(program, if small_chunks { 0 } else { 4096 });
    }
}
