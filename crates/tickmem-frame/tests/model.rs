//! Model-based property test: random programs of alloc / persist / get /
//! begin_frame, run over several threads at once, checked against a simple
//! model of which handles must resolve (and to what), which values must be
//! intact, and which destructors must have run (each exactly once).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use tickmem_frame::{FrameArena, FrameConfig, FrameHandle};

const THREADS: usize = 3;

/// A value that records its destruction: `log[id]` counts drops.
#[derive(Debug)]
struct Probe {
    id: u64,
    value: u64,
    log: Arc<Mutex<BTreeMap<u64, u32>>>,
}

impl Drop for Probe {
    fn drop(&mut self) {
        *self.log.lock().unwrap().entry(self.id).or_insert(0) += 1;
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// `alloc` a probe (checked intact at the end of the thread's frame).
    Alloc(u64),
    /// `alloc` a plain value through the lane.
    LaneAlloc(u64),
    /// `alloc_slice_fill_with` probes.
    Slice(usize),
    /// `alloc_str`.
    Str(String),
    /// `persist` a probe.
    Persist(u64),
    /// `get` one of the handles made in earlier frames (index modulo count).
    Get(usize),
    /// `get` a handle of another arena.
    ForeignGet(usize),
    /// A `FrameVec` of probes, kept in the frame (`true`) or dropped.
    Vec(usize, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<u64>().prop_map(Op::Alloc),
        2 => any::<u64>().prop_map(Op::LaneAlloc),
        1 => (0..5usize).prop_map(Op::Slice),
        1 => "[a-z]{0,12}".prop_map(Op::Str),
        3 => any::<u64>().prop_map(Op::Persist),
        4 => any::<usize>().prop_map(Op::Get),
        1 => any::<usize>().prop_map(Op::ForeignGet),
        1 => ((0..6usize), any::<bool>()).prop_map(|(n, keep)| Op::Vec(n, keep)),
    ]
}

/// A frame: for each step, the thread that runs it and the operation.
fn program() -> impl Strategy<Value = Vec<Vec<(usize, Op)>>> {
    let steps = if cfg!(miri) { 0..8usize } else { 0..24 };
    let frames = if cfg!(miri) { 1..4usize } else { 1..7 };
    prop::collection::vec(prop::collection::vec((0..THREADS, op()), steps), frames)
}

/// What the model knows about a persisted value.
#[derive(Debug, Clone, Copy)]
struct Persisted {
    handle: FrameHandle<Probe>,
    id: u64,
    value: u64,
    epoch: u64,
}

/// What one thread did in a frame.
#[derive(Default)]
struct ThreadReport {
    /// Probes whose destructor belongs to this frame.
    framed: Vec<u64>,
    /// Probes dropped during the frame (a dropped `FrameVec`).
    dropped_now: Vec<u64>,
    persisted: Vec<Persisted>,
}

fn run(program: Vec<Vec<(usize, Op)>>, lane_capacity: usize) {
    let log = Arc::new(Mutex::new(BTreeMap::<u64, u32>::new()));
    let next_id = AtomicU64::new(0);
    let new_probe = |value: u64| Probe {
        id: next_id.fetch_add(1, Ordering::Relaxed),
        value,
        log: log.clone(),
    };

    let other = FrameArena::new();
    let foreign: Vec<FrameHandle<Probe>> = (0..3).map(|v| other.persist(new_probe(v))).collect();
    let foreign_ids: Vec<u64> = foreign.iter().map(|&h| other.get(h).unwrap().id).collect();

    let mut arena = FrameArena::with_config(FrameConfig::default().lane_capacity(lane_capacity));
    let mut known: Vec<Persisted> = Vec::new();
    // Probes whose destructor is due when frame `epoch` is reclaimed.
    let mut due: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    // Probes that must have been dropped by now.
    let mut must_be_dropped: Vec<u64> = Vec::new();

    for (frame_index, frame) in program.into_iter().enumerate() {
        if frame_index > 0 {
            let bytes = arena.stats().bytes_this_frame;
            arena.begin_frame();
            let epoch = arena.epoch();
            if epoch >= 2 {
                must_be_dropped.extend(due.remove(&(epoch - 2)).unwrap_or_default());
            }
            let stats = arena.stats();
            assert_eq!((stats.bytes_this_frame, stats.bytes_last_frame), (0, bytes));
        }
        let epoch = arena.epoch();
        let arena_ref = &arena;
        let known_ref = &known;
        let foreign_ref = &foreign;
        let new_probe = &new_probe;
        let reports: Vec<ThreadReport> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..THREADS)
                .map(|t| {
                    let ops: Vec<Op> = frame
                        .iter()
                        .filter(|(thread, _)| *thread == t)
                        .map(|(_, op)| op.clone())
                        .collect();
                    s.spawn(move || {
                        let arena = arena_ref;
                        let mut report = ThreadReport::default();
                        let mut probes: Vec<(&mut Probe, u64)> = Vec::new();
                        let mut plain: Vec<(&mut u64, u64)> = Vec::new();
                        let mut strs: Vec<(&mut str, String)> = Vec::new();
                        let mut slices: Vec<(&mut [Probe], Vec<u64>)> = Vec::new();
                        for op in ops {
                            match op {
                                Op::Alloc(v) => {
                                    let p = arena.alloc(new_probe(v));
                                    report.framed.push(p.id);
                                    probes.push((p, v));
                                }
                                Op::LaneAlloc(v) => plain.push((arena.lane().alloc(v), v)),
                                Op::Slice(n) => {
                                    let s = arena.alloc_slice_fill_with(n, |i| new_probe(i as u64));
                                    let ids: Vec<u64> = s.iter().map(|p| p.id).collect();
                                    report.framed.extend(&ids);
                                    slices.push((s, ids));
                                }
                                Op::Str(text) => strs.push((arena.alloc_str(&text), text)),
                                Op::Persist(v) => {
                                    let handle = arena.persist(new_probe(v));
                                    let probe = arena.get(handle).expect("fresh handle");
                                    assert_eq!(probe.value, v);
                                    report.framed.push(probe.id);
                                    report.persisted.push(Persisted {
                                        handle,
                                        id: probe.id,
                                        value: v,
                                        epoch,
                                    });
                                }
                                Op::Get(i) => {
                                    if !known_ref.is_empty() {
                                        let p = known_ref[i % known_ref.len()];
                                        let expected =
                                            (epoch - p.epoch <= 1).then_some((p.id, p.value));
                                        let got = arena.get(p.handle).map(|x| (x.id, x.value));
                                        assert_eq!(
                                            got, expected,
                                            "handle from frame {} in frame {epoch}",
                                            p.epoch
                                        );
                                    }
                                }
                                Op::ForeignGet(i) => {
                                    assert!(
                                        arena.get(foreign_ref[i % foreign_ref.len()]).is_none()
                                    );
                                }
                                Op::Vec(n, keep) => {
                                    let mut v = arena.vec();
                                    v.extend((0..n).map(|i| new_probe(i as u64)));
                                    let ids: Vec<u64> = v.iter().map(|p| p.id).collect();
                                    if keep {
                                        let s = v.into_slice();
                                        report.framed.extend(&ids);
                                        slices.push((s, ids));
                                    } else {
                                        drop(v);
                                        report.dropped_now.extend(ids);
                                    }
                                }
                            }
                        }
                        // Everything this thread allocated is intact.
                        for (p, v) in &probes {
                            assert_eq!(p.value, *v);
                        }
                        for (x, v) in &plain {
                            assert_eq!(**x, *v);
                        }
                        for (s, text) in &strs {
                            assert_eq!(&**s, text.as_str());
                        }
                        for (s, ids) in &slices {
                            assert!(s.iter().map(|p| p.id).eq(ids.iter().copied()));
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
        // The model of handles, checked from the main thread too.
        for p in &known {
            let expected = (epoch - p.epoch <= 1).then_some((p.id, p.value));
            assert_eq!(arena.get(p.handle).map(|x| (x.id, x.value)), expected);
            assert!(other.get(p.handle).is_none());
        }
        // Exactly the due destructors have run, once each.
        let log_now = log.lock().unwrap().clone();
        let mut expected: Vec<u64> = must_be_dropped.clone();
        expected.sort_unstable();
        assert_eq!(log_now.keys().copied().collect::<Vec<_>>(), expected);
        assert!(
            log_now.values().all(|&n| n == 1),
            "a destructor ran twice: {log_now:?}"
        );
    }

    drop(arena);
    drop(other);
    let log_now = log.lock().unwrap().clone();
    let total = next_id.load(Ordering::Relaxed);
    assert_eq!(log_now.len() as u64, total, "some destructor never ran");
    assert!(log_now.values().all(|&n| n == 1), "a destructor ran twice");
    assert!(foreign_ids.iter().all(|id| log_now[id] == 1));
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 3 } else { 48 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn programs_over_threads_match_the_model(
        program in program(),
        small_chunks in any::<bool>(),
    ) {
        // Tiny lanes exercise chunk growth, reset and resizing.
        run(program, if small_chunks { 0 } else { 4096 });
    }
}

/// Raw block requests through the `Allocator` interface.
#[derive(Debug, Clone)]
enum BlockOp {
    /// Allocate `size` bytes aligned to `1 << align_pow`.
    Alloc { size: usize, align_pow: u32 },
    /// Free the most recent live block (reusing its bytes when it is last).
    FreeLast,
    /// Grow the most recent live block by `by` bytes.
    GrowLast { by: usize },
    /// Shrink the most recent live block to half its size.
    ShrinkLast,
    /// Start a new frame.
    NewFrame,
}

fn block_op() -> impl Strategy<Value = BlockOp> {
    prop_oneof![
        6 => ((0..300usize), (0..7u32)).prop_map(|(size, align_pow)| BlockOp::Alloc { size, align_pow }),
        1 => Just(BlockOp::FreeLast),
        2 => (1..200usize).prop_map(|by| BlockOp::GrowLast { by }),
        1 => Just(BlockOp::ShrinkLast),
        1 => Just(BlockOp::NewFrame),
    ]
}

/// A live block: where, its layout, the byte it is filled with, its frame.
struct Live {
    ptr: std::ptr::NonNull<u8>,
    layout: std::alloc::Layout,
    fill: u8,
}

#[allow(
    unsafe_code,
    reason = "raw Allocator blocks are written through pointers"
)]
fn fill(block: &Live) {
    // SAFETY: the block is live and `layout.size()` bytes long.
    unsafe { std::ptr::write_bytes(block.ptr.as_ptr(), block.fill, block.layout.size()) };
}

#[allow(unsafe_code, reason = "raw Allocator blocks are read through pointers")]
fn intact(block: &Live) -> bool {
    // SAFETY: the block is live, initialised and `layout.size()` long.
    let bytes = unsafe { std::slice::from_raw_parts(block.ptr.as_ptr(), block.layout.size()) };
    bytes.iter().all(|&b| b == block.fill)
}

#[allow(
    unsafe_code,
    reason = "drives the Allocator interface, whose methods are unsafe"
)]
fn run_blocks(ops: Vec<BlockOp>, limit: Option<usize>, lane_capacity: usize) {
    use std::alloc::Layout;
    use tickmem_frame::allocator_api2::alloc::Allocator;

    let mut arena = FrameArena::with_config(
        FrameConfig::default()
            .lane_capacity(lane_capacity)
            .frame_byte_limit(limit),
    );
    let mut ops = ops.into_iter().peekable();
    let mut next_fill = 1u8;
    while ops.peek().is_some() {
        {
            let alloc = arena.allocator();
            let mut live: Vec<Live> = Vec::new();
            for op in ops.by_ref() {
                match op {
                    BlockOp::NewFrame => break,
                    BlockOp::Alloc { size, align_pow } => {
                        let layout = Layout::from_size_align(size, 1 << align_pow).unwrap();
                        match alloc.allocate(layout) {
                            Ok(block) => {
                                let ptr = block.cast::<u8>();
                                assert_eq!(ptr.as_ptr().addr() % layout.align(), 0);
                                let b = Live {
                                    ptr,
                                    layout,
                                    fill: next_fill,
                                };
                                next_fill = next_fill.wrapping_add(1).max(1);
                                fill(&b);
                                live.push(b);
                            }
                            Err(_) => {
                                assert!(limit.is_some(), "only a limit makes allocation fail")
                            }
                        }
                    }
                    BlockOp::FreeLast => {
                        if let Some(b) = live.pop() {
                            // SAFETY: allocated by this allocator with `b.layout`, live.
                            unsafe { alloc.deallocate(b.ptr, b.layout) };
                        }
                    }
                    BlockOp::GrowLast { by } => {
                        if let Some(b) = live.last_mut() {
                            let new =
                                Layout::from_size_align(b.layout.size() + by, b.layout.align())
                                    .unwrap();
                            // SAFETY: live block of this allocator; `new` is larger.
                            if let Ok(grown) = unsafe { alloc.grow(b.ptr, b.layout, new) } {
                                b.ptr = grown.cast();
                                assert_eq!(b.ptr.as_ptr().addr() % new.align(), 0);
                                // The old bytes moved along.
                                let old = Live {
                                    ptr: b.ptr,
                                    layout: b.layout,
                                    fill: b.fill,
                                };
                                assert!(intact(&old), "grow lost the contents");
                                b.layout = new;
                                fill(b);
                            }
                        }
                    }
                    BlockOp::ShrinkLast => {
                        if let Some(b) = live.last_mut() {
                            let new =
                                Layout::from_size_align(b.layout.size() / 2, b.layout.align())
                                    .unwrap();
                            // SAFETY: live block of this allocator; `new` is smaller.
                            let shrunk = unsafe { alloc.shrink(b.ptr, b.layout, new) }.unwrap();
                            b.ptr = shrunk.cast();
                            b.layout = new;
                            assert!(intact(b), "shrink lost the contents");
                        }
                    }
                }
                // Every live block is intact and none overlap.
                let mut ranges: Vec<(usize, usize)> = live
                    .iter()
                    .filter(|b| b.layout.size() > 0)
                    .map(|b| {
                        (
                            b.ptr.as_ptr().addr(),
                            b.ptr.as_ptr().addr() + b.layout.size(),
                        )
                    })
                    .collect();
                ranges.sort_unstable();
                assert!(
                    ranges.windows(2).all(|w| w[0].1 <= w[1].0),
                    "overlapping blocks"
                );
                assert!(live.iter().all(intact), "a block was overwritten");
            }
            let used = arena.stats().bytes_this_frame;
            if let Some(limit) = limit {
                assert!(used <= limit, "{used} bytes used over a limit of {limit}");
            }
        }
        arena.begin_frame();
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 128 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn raw_blocks_are_aligned_disjoint_intact_and_within_the_limit(
        ops in prop::collection::vec(block_op(), 0..if cfg!(miri) { 40 } else { 200 }),
        limit in prop::option::of(0..20_000usize),
        lane_capacity in prop_oneof![Just(0usize), Just(256), Just(4096)],
    ) {
        run_blocks(ops, limit, lane_capacity);
    }
}
