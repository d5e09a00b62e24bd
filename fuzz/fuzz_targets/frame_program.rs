//! Random frame-arena programs: several threads' lanes, persist/get, vector
//! growth (moved across threads), slices whose fill closure panics,
//! destructors that panic when their frame is reclaimed, and the frame byte
//! limit. Checked against a model: allocations stay intact (a pattern
//! written and read back), handles resolve exactly while their frame is
//! live, every destructor runs exactly once, the limit is never exceeded,
//! and the arena stays usable after every caught panic.
#![no_main]

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use tickmem_frame::{FrameArena, FrameConfig, FrameHandle};

const THREADS: usize = 3;
const INJECTED: &str = "injected panic";

type Log = Arc<Mutex<BTreeMap<u64, u32>>>;

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
            panic!("{INJECTED}");
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    /// Bytes filled with a pattern (checked at the end of the frame).
    Bytes {
        len: u16,
        fill: u8,
    },
    /// A probe, maybe panicking in `drop`.
    Alloc {
        bomb: bool,
    },
    /// A slice of probes whose fill closure panics at `panic_at`.
    Slice {
        len: u8,
        panic_at: u8,
    },
    /// A vector of words grown to `len`, kept (on this or another thread)
    /// or dropped.
    Vec {
        len: u16,
        keep: bool,
        cross: bool,
    },
    /// A vector of probes left in the frame from another thread.
    ProbeVec {
        len: u8,
    },
    Persist {
        value: u64,
    },
    Get {
        index: u16,
    },
}

fn op(u: &mut Unstructured<'_>) -> Result<Op> {
    Ok(match u.int_in_range(0..=6u8)? {
        0 => Op::Bytes {
            len: u.int_in_range(0..=3000)?,
            fill: u.arbitrary()?,
        },
        1 => Op::Alloc {
            bomb: u.ratio(1, 4)?,
        },
        2 => Op::Slice {
            len: u.int_in_range(0..=8)?,
            panic_at: u.int_in_range(0..=10)?,
        },
        3 => Op::Vec {
            len: u.int_in_range(0..=600)?,
            keep: u.arbitrary()?,
            cross: u.arbitrary()?,
        },
        4 => Op::ProbeVec {
            len: u.int_in_range(0..=8)?,
        },
        5 => Op::Persist {
            value: u.arbitrary()?,
        },
        _ => Op::Get {
            index: u.arbitrary()?,
        },
    })
}

#[derive(Clone, Copy)]
struct Persisted {
    handle: FrameHandle<Probe>,
    id: u64,
    value: u64,
    epoch: u64,
}

#[derive(Default)]
struct Report {
    framed: Vec<(u64, bool)>,
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

    fn run(&self, ops: &[Op]) -> Report {
        let arena = self.arena;
        let mut report = Report::default();
        let mut bytes: Vec<(&[u8], u8)> = Vec::new();
        let mut words: Vec<(&[u64], u64)> = Vec::new();
        for &op in ops {
            match op {
                Op::Bytes { len, fill } => {
                    if let Ok(b) = arena.try_alloc_slice_copy(&vec![fill; len as usize]) {
                        bytes.push((b, fill));
                    }
                }
                Op::Alloc { bomb } => {
                    let probe = self.probe(1, bomb);
                    let id = probe.id;
                    // Over the limit the value comes back dropped (a bomb
                    // panics right there).
                    match catch_unwind(AssertUnwindSafe(|| arena.try_alloc(probe).is_ok())) {
                        Ok(true) => report.framed.push((id, bomb)),
                        _ => report.dropped_now.push(id),
                    }
                }
                Op::Slice { len, panic_at } => {
                    let made = Mutex::new(Vec::new());
                    let result = catch_unwind(AssertUnwindSafe(|| {
                        arena.try_alloc_slice_fill_with(len as usize, |i| {
                            assert!(i != panic_at as usize, "{INJECTED}");
                            let p = self.probe(i as u64, i % 3 == 2);
                            made.lock().unwrap().push((p.id, p.bomb));
                            p
                        })
                    }));
                    let made = made.into_inner().unwrap();
                    if let Ok(Ok(s)) = &result {
                        assert!(s.iter().map(|p| p.id).eq(made.iter().map(|m| m.0)));
                    }
                    report.framed.extend(made);
                }
                Op::Vec { len, keep, cross } => {
                    let seed = u64::from(len) << 32 | self.epoch;
                    let result = catch_unwind(AssertUnwindSafe(|| {
                        let mut v = arena.vec();
                        for i in 0..u64::from(len) {
                            v.push(seed + i);
                        }
                        v
                    }));
                    // Over the byte limit, growth panics with the limit's message.
                    let Ok(v) = result else { continue };
                    if keep {
                        let slice = if cross {
                            std::thread::scope(|s| s.spawn(move || v.into_slice()).join().unwrap())
                        } else {
                            v.into_slice()
                        };
                        words.push((slice, seed));
                    } else {
                        assert!(v.iter().copied().eq(seed..seed + u64::from(len)));
                    }
                }
                Op::ProbeVec { len } => {
                    let mut v = arena.vec();
                    let mut made = Vec::new();
                    let grown = catch_unwind(AssertUnwindSafe(|| {
                        for i in 0..len {
                            let p = self.probe(u64::from(i), false);
                            made.push(p.id);
                            // Over the limit, the push panics and drops `p`.
                            v.push(p);
                        }
                    }));
                    if grown.is_ok() {
                        assert!(v.iter().map(|p| p.id).eq(made.iter().copied()));
                        // Registered from another thread than the buffer's lane.
                        let kept =
                            std::thread::scope(|s| s.spawn(move || v.into_slice().len()).join());
                        match kept {
                            Ok(n) => {
                                assert_eq!(n, made.len());
                                report.framed.extend(made.iter().map(|&id| (id, false)));
                            }
                            // The node did not fit the limit: dropped at once.
                            Err(_) => report.dropped_now.extend(made),
                        }
                    } else {
                        drop(v);
                        report.dropped_now.extend(made);
                    }
                }
                Op::Persist { value } => {
                    let probe = self.probe(value, false);
                    let id = probe.id;
                    let result = arena.try_persist(probe);
                    if result.is_err() {
                        report.dropped_now.push(id);
                    }
                    if let Ok(handle) = result {
                        let p = arena.get(handle).expect("a fresh handle");
                        assert_eq!(p.value, value);
                        report.framed.push((p.id, false));
                        report.persisted.push(Persisted {
                            handle,
                            id: p.id,
                            value,
                            epoch: self.epoch,
                        });
                    }
                }
                Op::Get { index } => {
                    if !self.known.is_empty() {
                        let p = self.known[index as usize % self.known.len()];
                        check_handle(arena, p, self.epoch);
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
    assert_eq!(arena.get(p.handle).map(|x| (x.id, x.value)), expected);
}

fn silence_injected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !text.starts_with(INJECTED) && !text.starts_with("frame byte limit exceeded") {
                default(info);
            }
        }));
    });
}

fn program(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let lane_capacity = *u.choose(&[0usize, 64, 4096])?;
    let limit = if u.arbitrary()? {
        Some(u.int_in_range(0..=20_000usize)?)
    } else {
        None
    };
    let frames: Vec<Vec<(usize, Op)>> = {
        let n = u.int_in_range(1..=8)?;
        let mut frames = Vec::with_capacity(n);
        for _ in 0..n {
            let steps = u.int_in_range(0..=24)?;
            let mut frame = Vec::with_capacity(steps);
            for _ in 0..steps {
                frame.push((u.int_in_range(0..=THREADS - 1)?, op(&mut u)?));
            }
            frames.push(frame);
        }
        frames
    };

    if std::env::var_os("FRAME_PROGRAM_DEBUG").is_some() {
        eprintln!("lane_capacity {lane_capacity}, limit {limit:?}, frames {frames:#?}");
    }
    let log: Log = Arc::default();
    let next_id = AtomicU64::new(0);
    let mut arena = FrameArena::with_config(
        FrameConfig::default()
            .lane_capacity(lane_capacity)
            .frame_byte_limit(limit),
    );
    let mut known = Vec::new();
    let mut due: BTreeMap<u64, Vec<(u64, bool)>> = BTreeMap::new();
    let mut must_be_dropped: Vec<u64> = Vec::new();
    let check_drops = |must: &[u64]| {
        let log = log.lock().unwrap();
        let mut want = must.to_vec();
        want.sort_unstable();
        assert_eq!(log.keys().copied().collect::<Vec<_>>(), want);
        assert!(log.values().all(|&n| n == 1), "a destructor ran twice");
    };
    for (index, frame) in frames.into_iter().enumerate() {
        if index > 0 {
            let result = catch_unwind(AssertUnwindSafe(|| arena.begin_frame()));
            let epoch = arena.epoch();
            assert_eq!(epoch, index as u64);
            let reclaimed = epoch
                .checked_sub(2)
                .and_then(|e| due.remove(&e))
                .unwrap_or_default();
            assert_eq!(result.is_err(), reclaimed.iter().any(|&(_, bomb)| bomb));
            must_be_dropped.extend(reclaimed.iter().map(|&(id, _)| id));
            check_drops(&must_be_dropped);
        }
        let epoch = arena.epoch();
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
        }
        check_drops(&must_be_dropped);
        let stats = arena.stats();
        if let Some(limit) = limit {
            assert!(stats.bytes_this_frame <= limit, "{stats}");
        }
    }
    let bombs = due.values().flatten().any(|&(_, bomb)| bomb);
    let result = catch_unwind(AssertUnwindSafe(move || drop(arena)));
    assert_eq!(result.is_err(), bombs);
    let log = log.lock().unwrap();
    assert_eq!(
        log.len() as u64,
        next_id.load(Ordering::Relaxed),
        "a destructor never ran"
    );
    assert!(log.values().all(|&n| n == 1), "a destructor ran twice");
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    silence_injected_panics();
    let _ = program(data);
});
