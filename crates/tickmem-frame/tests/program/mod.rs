//! Random frame-arena programs and their model, shared by the panic-injection
//! property test (`tests/panics.rs`, programs from proptest) and the fuzz
//! target (`fuzz/fuzz_targets/frame_program.rs`, programs from libFuzzer's
//! bytes). Only `std` and `tickmem_frame`.
//!
//! A program is a list of frames; a frame is a list of `(thread, op)`; the
//! threads of a frame run at once, each its own ops in order. User callbacks
//! panic at chosen points: destructors (when their frame is reclaimed or the
//! arena is dropped), `alloc_slice_fill_with` closures, iterators fed to
//! `FrameVec::extend`, `retain` predicates; and growth over the byte limit
//! panics. After every step the run is checked against the model:
//!
//! * every value is dropped exactly once, when the model says (its frame
//!   reclaimed, or at once: a dropped vector, a refused `try_*`);
//! * handles read `None` or their intact value, as the model says;
//! * allocations stay intact (patterns written and read back), and the
//!   frame's byte limit holds;
//! * the arena is usable after every unwind: the frame advances even when a
//!   destructor panics, and the next frame allocates.
//!
//! The arena is owned by a `FrameHost`, and threads also publish frame data
//! (values holding probes in a frame vector and a frame slice, whose build
//! closure may panic and whose probes may panic when dropped) and read
//! published values: `read` is `Some` and intact exactly while the model
//! says, and the values are dropped exactly once, with their frame.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};

use tickmem_frame::allocator_api2::vec::Vec as AVec;
use tickmem_frame::{
    FrameAlloc, FrameAllocError, FrameArena, FrameConfig, FrameHandle, FrameHost, FrameVec,
    Published,
};

/// Threads per frame.
pub(crate) const THREADS: usize = 3;

/// The message every injected panic starts with (silenced by the hook).
const INJECTED: &str = "injected panic";

/// One step of a thread.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    /// `try_alloc_slice_copy` of `len` bytes of `fill`.
    Bytes { len: u16, fill: u8 },
    /// `try_alloc` a probe; a `bomb` panics in `drop`.
    Alloc { bomb: bool },
    /// `try_alloc_slice_fill_with` of `len` probes; the closure panics at
    /// index `panic_at` (if `< len`); probe `i` is a bomb if bit `i` of
    /// `bombs` is set.
    Slice { len: u8, panic_at: u8, bombs: u8 },
    /// A `FrameVec` of probes extended from an iterator that panics at
    /// `panic_at`; then left in the frame with `into_slice` (`keep`; on
    /// another thread with `cross`) or dropped.
    Probes {
        len: u8,
        panic_at: u8,
        keep: bool,
        cross: bool,
    },
    /// A `FrameVec` of `len` words (grows through several blocks), kept
    /// (on another thread with `cross`) or dropped.
    Words { len: u16, keep: bool, cross: bool },
    /// A `FrameVec` of `len` probes filtered by a predicate that panics at
    /// its call number `panic_at`, then dropped.
    Retain { len: u8, panic_at: u8 },
    /// `try_persist` a probe.
    Persist { value: u64, bomb: bool },
    /// `get` a known handle (index modulo their number).
    Get { index: u16 },
    /// `try_publish` a value holding `len` probes (the first a bomb if
    /// `bomb` and the closure does not panic) in a frame vector and their
    /// ids in a frame slice; the build closure panics after making
    /// `panic_at` probes (if `< len`).
    Publish { len: u8, panic_at: u8, bomb: bool },
    /// `read` a known published value (index modulo their number).
    Read { index: u16 },
}

/// A published value: probes in a frame vector, their ids in a frame slice.
struct Shelf<'f> {
    probes: AVec<Probe, FrameAlloc<'f>>,
    ids: &'f [u64],
}

tickmem_frame::frame_data! {
    ShelfData<'f> = Shelf<'f>;
}

#[derive(Debug, Clone)]
struct Shelved {
    token: Published<ShelfData>,
    ids: Vec<u64>,
    epoch: u64,
}

/// A program: frames of `(thread, op)`.
pub(crate) type Program = Vec<Vec<(usize, Op)>>;

/// Drop counts by probe id.
type Log = Arc<Mutex<BTreeMap<u64, u32>>>;

#[derive(Debug)]
struct Probe {
    id: u64,
    value: u64,
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
    /// Probes whose destructor belongs to the frame: (id, bomb).
    framed: Vec<(u64, bool)>,
    /// Probes already dropped.
    dropped_now: Vec<u64>,
    persisted: Vec<Persisted>,
    shelved: Vec<Shelved>,
}

struct Ctx<'a> {
    host: &'a FrameHost,
    arena: &'a FrameArena,
    shelves: &'a [Shelved],
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

    /// A vector of the probes `0..len` (made ids recorded as they are made:
    /// over the limit a push panics and drops the probe it was given).
    fn probes<'a>(
        &self,
        arena: &'a FrameArena,
        len: u8,
        panic_at: u8,
        made: &mut Vec<u64>,
    ) -> std::thread::Result<FrameVec<'a, Probe>> {
        catch_unwind(AssertUnwindSafe(|| {
            let mut v = arena.vec();
            v.extend((0..len).map(|i| {
                assert!(i != panic_at, "{INJECTED}: iterator at {i}");
                let p = self.probe(u64::from(i), false);
                made.push(p.id);
                p
            }));
            v
        }))
    }

    /// Run a thread's ops for the frame.
    fn run(&self, ops: &[Op]) -> Report {
        let arena = self.arena;
        let mut report = Report::default();
        let mut bytes: Vec<(&[u8], u8)> = Vec::new();
        let mut words: Vec<(&[u64], u64)> = Vec::new();
        for &op in ops {
            match op {
                Op::Bytes { len, fill } => {
                    if let Ok(b) = arena.try_alloc_slice_copy(&vec![fill; usize::from(len)]) {
                        bytes.push((b, fill));
                    }
                }
                Op::Alloc { bomb } => {
                    let probe = self.probe(1, bomb);
                    let id = probe.id;
                    // A refused value comes back dropped (a bomb panics there).
                    match catch_unwind(AssertUnwindSafe(|| arena.try_alloc(probe).is_ok())) {
                        Ok(true) => report.framed.push((id, bomb)),
                        _ => report.dropped_now.push(id),
                    }
                }
                Op::Slice {
                    len,
                    panic_at,
                    bombs,
                } => {
                    let made = Mutex::new(Vec::new());
                    let result = catch_unwind(AssertUnwindSafe(|| {
                        arena.try_alloc_slice_fill_with(usize::from(len), |i| {
                            assert!(i != usize::from(panic_at), "{INJECTED}: fill_with at {i}");
                            let bomb = bombs & (1 << i) != 0;
                            let p = self.probe(i as u64, bomb);
                            made.lock().unwrap().push((p.id, bomb));
                            p
                        })
                    }));
                    let made = made.into_inner().unwrap();
                    match result {
                        Ok(Ok(s)) => {
                            assert!(s.iter().map(|p| p.id).eq(made.iter().map(|m| m.0)));
                        }
                        // Refused before the closure ran.
                        Ok(Err(err)) => {
                            assert!(made.is_empty(), "{err}");
                            assert!(matches!(err, FrameAllocError::LimitExceeded { .. }));
                        }
                        Err(_) => assert!(panic_at < len && made.len() == usize::from(panic_at)),
                    }
                    // The values made are dropped with the frame, whatever happened.
                    report.framed.extend(made);
                }
                Op::Probes {
                    len,
                    panic_at,
                    keep,
                    cross,
                } => {
                    let mut made = Vec::new();
                    let Ok(v) = self.probes(arena, len, panic_at, &mut made) else {
                        // The partly filled vector was dropped while unwinding.
                        report.dropped_now.extend(made);
                        continue;
                    };
                    assert!(v.iter().map(|p| p.id).eq(made.iter().copied()));
                    if !keep {
                        drop(v);
                        report.dropped_now.extend(made);
                        continue;
                    }
                    let finish = move || v.into_slice().iter().map(|p| p.id).collect::<Vec<_>>();
                    // Over the limit the destructor entry is refused: `into_slice`
                    // panics and the vector drops its values.
                    let kept = if cross {
                        // Registered on another thread than the buffer's lane.
                        std::thread::scope(|s| s.spawn(finish).join())
                    } else {
                        catch_unwind(AssertUnwindSafe(finish))
                    };
                    match kept {
                        Ok(ids) => {
                            assert_eq!(ids, made);
                            report.framed.extend(made.iter().map(|&id| (id, false)));
                        }
                        Err(_) => report.dropped_now.extend(made),
                    }
                }
                Op::Words { len, keep, cross } => {
                    let seed = u64::from(len) << 32 | self.epoch;
                    let grown = catch_unwind(AssertUnwindSafe(|| {
                        let mut v = arena.vec();
                        for i in 0..u64::from(len) {
                            v.push(seed + i);
                        }
                        v
                    }));
                    // Over the byte limit growth panics with the limit's message.
                    let Ok(v) = grown else { continue };
                    assert!(v.iter().copied().eq(seed..seed + u64::from(len)));
                    if keep {
                        let slice = if cross {
                            std::thread::scope(|s| s.spawn(move || v.into_slice()).join().unwrap())
                        } else {
                            v.into_slice()
                        };
                        words.push((slice, seed));
                    }
                }
                Op::Retain { len, panic_at } => {
                    let mut made = Vec::new();
                    let Ok(mut v) = self.probes(arena, len, u8::MAX, &mut made) else {
                        report.dropped_now.extend(made);
                        continue;
                    };
                    let mut calls = 0u8;
                    let result = catch_unwind(AssertUnwindSafe(|| {
                        v.retain(|p| {
                            calls += 1;
                            assert!(calls - 1 != panic_at, "{INJECTED}: retain");
                            p.value % 2 == 0
                        });
                    }));
                    assert_eq!(result.is_err(), panic_at < len);
                    // What was removed is dropped, the rest kept; once each.
                    assert!(v.iter().all(|p| made.contains(&p.id)));
                    drop(v);
                    report.dropped_now.extend(made);
                }
                Op::Persist { value, bomb } => {
                    let probe = self.probe(value, bomb);
                    let id = probe.id;
                    let result = catch_unwind(AssertUnwindSafe(|| arena.try_persist(probe).ok()));
                    let Ok(Some(handle)) = result else {
                        report.dropped_now.push(id);
                        continue;
                    };
                    let p = arena.get(handle).expect("a fresh handle");
                    assert_eq!((p.id, p.value), (id, value));
                    report.framed.push((id, bomb));
                    report.persisted.push(Persisted {
                        handle,
                        id,
                        value,
                        epoch: self.epoch,
                    });
                }
                Op::Get { index } => {
                    if !self.known.is_empty() {
                        let p = self.known[usize::from(index) % self.known.len()];
                        check_handle(arena, p, self.epoch);
                    }
                }
                Op::Publish {
                    len,
                    panic_at,
                    bomb,
                } => {
                    let made = Mutex::new(Vec::new());
                    let result = catch_unwind(AssertUnwindSafe(|| {
                        self.host.try_publish::<ShelfData>(|f| {
                            // Over the byte limit the vector stays empty (an
                            // `allocator_api2` collection would abort on a
                            // failed allocation; `try_reserve` does not).
                            let mut probes = AVec::new_in(f.allocator());
                            let n = if probes.try_reserve_exact(usize::from(len)).is_ok() {
                                len
                            } else {
                                0
                            };
                            for i in 0..n {
                                assert!(i != panic_at, "{INJECTED}: publish closure at {i}");
                                // A bomb only in a value that gets published: one
                                // dropped while the closure unwinds would panic
                                // during a panic (an abort, in any Rust code).
                                let p = self.probe(u64::from(i), bomb && i == 0 && panic_at >= len);
                                made.lock().unwrap().push((p.id, p.bomb));
                                probes.push(p);
                            }
                            let ids: Vec<u64> = probes.iter().map(|p| p.id).collect();
                            let ids = f.try_alloc_slice_copy(&ids).map_or(&[][..], |s| &*s);
                            Shelf { probes, ids }
                        })
                    }));
                    let made = made.into_inner().unwrap();
                    match result {
                        Ok(Ok(token)) => {
                            let ids: Vec<u64> = made.iter().map(|m| m.0).collect();
                            let shelf = self.host.read(token).expect("published this frame");
                            assert!(shelf.probes.iter().map(|p| p.id).eq(ids.iter().copied()));
                            report.framed.extend(made);
                            report.shelved.push(Shelved {
                                token,
                                ids,
                                epoch: self.epoch,
                            });
                        }
                        // Refused before the closure ran.
                        Ok(Err(err)) => {
                            assert!(made.is_empty(), "{err}");
                        }
                        // The half-built value unwound: its probes are dropped.
                        Err(_) => {
                            assert!(panic_at < len && made.len() == usize::from(panic_at));
                            report.dropped_now.extend(made.iter().map(|m| m.0));
                        }
                    }
                }
                Op::Read { index } => {
                    if !self.shelves.is_empty() {
                        let shelf = &self.shelves[usize::from(index) % self.shelves.len()];
                        check_shelf(self.host, shelf, self.epoch);
                    }
                }
            }
        }
        for (b, fill) in bytes {
            assert!(
                b.iter().all(|&x| x == fill),
                "a byte allocation was overwritten"
            );
        }
        for (w, seed) in words {
            assert!(
                w.iter().copied().eq(seed..seed + w.len() as u64),
                "a vector was overwritten"
            );
        }
        report
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

fn check_shelf(host: &FrameHost, shelf: &Shelved, epoch: u64) {
    let live = epoch - shelf.epoch <= 1;
    match host.read(shelf.token) {
        Some(value) => {
            assert!(
                live,
                "a value of frame {} read in frame {epoch}",
                shelf.epoch
            );
            assert!(
                value
                    .probes
                    .iter()
                    .map(|p| p.id)
                    .eq(shelf.ids.iter().copied())
            );
            assert!(
                value
                    .probes
                    .iter()
                    .enumerate()
                    .all(|(i, p)| p.value == i as u64)
            );
            assert!(value.ids.is_empty() || value.ids == shelf.ids.as_slice());
        }
        None => assert!(
            !live,
            "a live value of frame {} in frame {epoch}",
            shelf.epoch
        ),
    }
}

/// Keep the expected panics (injected ones, growth over the limit) out of
/// the output; anything else goes to the hook installed before.
fn silence_expected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !text.starts_with(INJECTED) && !text.starts_with("frame byte limit exceeded") {
                previous(info);
            }
        }));
    });
}

/// Run `program` on an arena made with `lane_capacity` and `limit`, checking
/// it against the model after every step (panics on a mismatch).
pub(crate) fn run(program: Program, lane_capacity: usize, limit: Option<usize>) {
    silence_expected_panics();
    let log: Log = Arc::default();
    let next_id = AtomicU64::new(0);
    let mut host = FrameHost::with_config(
        FrameConfig::default()
            .lane_capacity(lane_capacity)
            .frame_byte_limit(limit),
    );
    let mut known: Vec<Persisted> = Vec::new();
    let mut shelves: Vec<Shelved> = Vec::new();
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
            let result = catch_unwind(AssertUnwindSafe(|| host.begin_frame()));
            let epoch = host.epoch();
            assert_eq!(
                epoch, index as u64,
                "the frame advances even if a destructor panics"
            );
            let reclaimed = epoch
                .checked_sub(2)
                .and_then(|e| due.remove(&e))
                .unwrap_or_default();
            let bombs = reclaimed.iter().any(|&(_, bomb)| bomb);
            assert_eq!(result.is_err(), bombs, "the first destructor panic resumes");
            must_be_dropped.extend(reclaimed.iter().map(|&(id, _)| id));
            check_drops(&must_be_dropped);
            assert_eq!(host.stats().bytes_this_frame, 0);
        }
        let epoch = host.epoch();
        for &p in &known {
            check_handle(&host, p, epoch);
        }
        for shelf in &shelves {
            check_shelf(&host, shelf, epoch);
        }
        let ctx = Ctx {
            host: &host,
            arena: &host,
            shelves: &shelves,
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
                        .map(|&(_, op)| op)
                        .collect();
                    let ctx = &ctx;
                    s.spawn(move || ctx.run(&ops))
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        for report in reports {
            due.entry(epoch).or_default().extend(report.framed);
            must_be_dropped.extend(report.dropped_now);
            known.extend(report.persisted);
            shelves.extend(report.shelved);
        }
        check_drops(&must_be_dropped);
        let stats = host.stats();
        if let Some(limit) = limit {
            assert!(stats.bytes_this_frame <= limit, "{stats}");
        } else {
            // Usable: this thread allocates in the frame too.
            assert_eq!(*host.alloc(epoch), epoch);
        }
    }

    let bombs = due.values().flatten().any(|&(_, bomb)| bomb);
    let result = catch_unwind(AssertUnwindSafe(move || drop(host)));
    assert_eq!(
        result.is_err(),
        bombs,
        "the host's drop resumes the first panic"
    );
    let log = log.lock().unwrap();
    let total = next_id.load(Ordering::Relaxed);
    assert_eq!(log.len() as u64, total, "some destructor never ran");
    assert!(log.values().all(|&n| n == 1), "a destructor ran twice");
}
