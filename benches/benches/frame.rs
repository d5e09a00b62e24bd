//! Bench groups for `tickmem_frame::FrameArena`.
//!
//! * `frame_alloc`: one iteration = one frame of 10,000 allocations of a
//!   64-byte struct, then the frame's reset (or the frees). Ids:
//!   `tickmem_lane` (through `FrameArena::lane`), `tickmem_arena` (through
//!   `&FrameArena::alloc`, the per-call lane lookup included), `bumpalo`
//!   (`Bump::alloc` + `reset`), `box_system` (`Box::new` with glibc's malloc,
//!   boxes kept in a reused `Vec` until the end of the frame, then dropped),
//!   `mimalloc` (`MiMalloc` called through `GlobalAlloc` directly, pointers
//!   kept the same way, then freed). Arena and bump ids only `black_box` each
//!   reference: their memory needs no bookkeeping to be freed.
//! * `frame_reset`: the cost of `begin_frame` alone (timed around the call;
//!   the allocations of the frame are made untimed before it).
//!   `lanes/{1,2,8}`: that many lanes exist (each filled by its own thread
//!   once, during setup), the main thread's lane allocates 10,000 objects per
//!   frame. `allocs/{0,100,10000,100000}`: one lane, that many allocations per
//!   frame: the cost must not depend on it.
//!
//! * `frame_data`: one iteration = one frame in which a producer builds
//!   1,000 `u64`s and two consumers sum them, then the frame advances. Ids:
//!   `publish_read` (a frame-allocated `allocator_api2` vector published
//!   into a `FrameHost`, read through its token), `publish_read_slice` (the
//!   same as a frame slice filled by `alloc_slice_fill_with`),
//!   `persist_std_vec` (the
//!   only way before frame data: a `'static` std `Vec`, heap-allocated each
//!   frame, persisted and read through a `FrameHandle`), `reused_std_vec`
//!   (anchor: a std `Vec` kept across frames and refilled, the
//!   `Local<Vec<T>>` pattern).
//!
//! glibc is measured as a game runs it: `make_process_multithreaded` starts
//! and joins a thread first (glibc's malloc gets slower for good once a
//! process has had a second thread).
//!
//! Run: `cargo bench -p tickmem-benches --bench frame`.
#![expect(
    unsafe_code,
    reason = "the mimalloc anchor calls GlobalAlloc::alloc/dealloc directly"
)]

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::time::{Duration, Instant};

use bumpalo::Bump;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mimalloc::MiMalloc;
use tickmem_benches::SplitMix64;
use tickmem_frame::{FrameAlloc, FrameArena, FrameConfig, FrameHost};

/// Allocations per frame.
const N: usize = 10_000;
const SEED: u64 = 0x5EED_0003;

/// The 64-byte struct every variant allocates.
#[derive(Debug, Clone, Copy)]
struct Obj(
    #[allow(dead_code, reason = "written, never read: only the allocation matters")] [u64; 8],
);

const _: () = assert!(size_of::<Obj>() == 64);

impl Obj {
    #[inline(always)]
    fn new(seed: u64, i: u64) -> Self {
        let x = seed ^ i;
        Obj([x, x + 1, x + 2, x + 3, x + 4, x + 5, x + 6, x + 7])
    }
}

/// Room for a whole frame of objects in one chunk per lane half.
fn config() -> FrameConfig {
    FrameConfig::default().lane_capacity(N * size_of::<Obj>() + 4096)
}

fn frame_alloc(c: &mut Criterion) {
    tickmem_benches::make_process_multithreaded();
    let seed = SplitMix64::new(SEED).next_u64();
    let mut group = c.benchmark_group("frame_alloc");
    group.throughput(Throughput::Elements(N as u64));

    group.bench_function("tickmem_lane", |b| {
        let mut arena = FrameArena::with_config(config());
        b.iter(|| {
            let lane = arena.lane();
            for i in 0..N as u64 {
                black_box(lane.alloc(Obj::new(seed, i)));
            }
            arena.begin_frame();
        });
    });

    group.bench_function("tickmem_arena", |b| {
        let mut arena = FrameArena::with_config(config());
        b.iter(|| {
            for i in 0..N as u64 {
                black_box(arena.alloc(Obj::new(seed, i)));
            }
            arena.begin_frame();
        });
    });

    group.bench_function("bumpalo", |b| {
        let mut bump = Bump::with_capacity(N * size_of::<Obj>() + 4096);
        b.iter(|| {
            for i in 0..N as u64 {
                black_box(bump.alloc(Obj::new(seed, i)));
            }
            bump.reset();
        });
    });

    group.bench_function("box_system", |b| {
        let mut frame: Vec<Box<Obj>> = Vec::with_capacity(N);
        b.iter(|| {
            for i in 0..N as u64 {
                frame.push(black_box(Box::new(Obj::new(seed, i))));
            }
            frame.clear();
        });
    });

    group.bench_function("mimalloc", |b| {
        let layout = Layout::new::<Obj>();
        let mut frame: Vec<*mut Obj> = Vec::with_capacity(N);
        b.iter(|| {
            for i in 0..N as u64 {
                // SAFETY: `layout` has a non-zero size.
                let ptr = unsafe { MiMalloc.alloc(layout) }.cast::<Obj>();
                assert!(!ptr.is_null(), "mimalloc out of memory");
                // SAFETY: fresh allocation with `Obj`'s layout.
                unsafe { ptr.write(Obj::new(seed, i)) };
                frame.push(black_box(ptr));
            }
            for ptr in frame.drain(..) {
                // SAFETY: allocated above by `MiMalloc` with `layout`, freed once.
                unsafe { MiMalloc.dealloc(ptr.cast(), layout) };
            }
        });
    });
    group.finish();
}

/// Time `begin_frame` alone, `iters` times; `fill` makes the frame's
/// allocations first (untimed).
fn time_begin_frame(arena: &mut FrameArena, iters: u64, fill: impl Fn(&FrameArena)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        fill(arena);
        let start = Instant::now();
        arena.begin_frame();
        total += start.elapsed();
    }
    total
}

fn fill_lane(arena: &FrameArena, allocs: usize, seed: u64) {
    let lane = arena.lane();
    for i in 0..allocs as u64 {
        black_box(lane.alloc(Obj::new(seed, i)));
    }
}

fn frame_reset(c: &mut Criterion) {
    tickmem_benches::make_process_multithreaded();
    let seed = SplitMix64::new(SEED).next_u64();
    let mut group = c.benchmark_group("frame_reset");

    for lanes in [1usize, 2, 8] {
        group.bench_with_input(BenchmarkId::new("lanes", lanes), &lanes, |b, &lanes| {
            let mut arena = FrameArena::with_config(config());
            fill_lane(&arena, N, seed);
            // The other lanes: one per thread, all alive at once.
            let barrier = std::sync::Barrier::new(lanes - 1);
            std::thread::scope(|s| {
                for _ in 1..lanes {
                    s.spawn(|| {
                        fill_lane(&arena, N, seed);
                        barrier.wait();
                    });
                }
            });
            assert_eq!(arena.lanes(), lanes);
            b.iter_custom(|iters| time_begin_frame(&mut arena, iters, |a| fill_lane(a, N, seed)));
        });
    }

    for allocs in [0usize, 100, 10_000, 100_000] {
        group.bench_with_input(BenchmarkId::new("allocs", allocs), &allocs, |b, &allocs| {
            let mut arena = FrameArena::with_config(
                FrameConfig::default().lane_capacity(allocs * size_of::<Obj>() + 4096),
            );
            fill_lane(&arena, allocs, seed);
            b.iter_custom(|iters| {
                time_begin_frame(&mut arena, iters, |a| fill_lane(a, allocs, seed))
            });
        });
    }
    group.finish();
}

/// `frame_alloc_threads`: the `frame_alloc` frame (10,000 × 64 B) made by 1
/// and 2 threads at once, each through the same `&FrameArena`. Time is per
/// thread: what each thread spends allocating its 10,000 objects (for
/// mimalloc, and freeing them; for `bumpalo`, and resetting its `Bump`),
/// taken inside the thread, the slowest thread of each frame counted. Lanes
/// are independent, so the 2-thread time should match the 1-thread one.
/// Between frames the threads wait at a barrier while the main thread calls
/// `begin_frame` (not timed; see `frame_reset`). Each batch of frames runs on
/// fresh threads, after two untimed frames.
///
/// Ids `<variant>/<threads>`: `tickmem_arena` (`FrameArena::alloc`, the
/// per-call lane lookup included), `tickmem_lane` (`FrameArena::lane` once per
/// frame, then `Lane::alloc`), `bumpalo` (a `Bump` per thread), `mimalloc`
/// (`MiMalloc` through `GlobalAlloc`).
fn frame_alloc_threads(c: &mut Criterion) {
    use std::sync::{Barrier, RwLock};

    #[derive(Clone, Copy)]
    enum Variant {
        Arena,
        Lane,
        Bumpalo,
        Mimalloc,
    }

    /// One thread's frame; returns the time it took.
    fn frame(
        variant: Variant,
        arena: &RwLock<FrameArena>,
        bump: &mut Bump,
        ptrs: &mut Vec<*mut Obj>,
        seed: u64,
    ) -> Duration {
        match variant {
            Variant::Arena | Variant::Lane => {
                let arena = arena.read().expect("not poisoned");
                let start = Instant::now();
                if let Variant::Lane = variant {
                    let lane = arena.lane();
                    for i in 0..N as u64 {
                        black_box(lane.alloc(Obj::new(seed, i)));
                    }
                } else {
                    for i in 0..N as u64 {
                        black_box(arena.alloc(Obj::new(seed, i)));
                    }
                }
                start.elapsed()
            }
            Variant::Bumpalo => {
                let start = Instant::now();
                for i in 0..N as u64 {
                    black_box(bump.alloc(Obj::new(seed, i)));
                }
                bump.reset();
                start.elapsed()
            }
            Variant::Mimalloc => {
                let layout = Layout::new::<Obj>();
                let start = Instant::now();
                for i in 0..N as u64 {
                    // SAFETY: `layout` has a non-zero size.
                    let ptr = unsafe { MiMalloc.alloc(layout) }.cast::<Obj>();
                    assert!(!ptr.is_null(), "mimalloc out of memory");
                    // SAFETY: fresh allocation with `Obj`'s layout.
                    unsafe { ptr.write(Obj::new(seed, i)) };
                    ptrs.push(black_box(ptr));
                }
                for ptr in ptrs.drain(..) {
                    // SAFETY: allocated above by `MiMalloc` with `layout`, freed once.
                    unsafe { MiMalloc.dealloc(ptr.cast(), layout) };
                }
                start.elapsed()
            }
        }
    }

    const WARM_FRAMES: u64 = 2;

    tickmem_benches::make_process_multithreaded();
    let seed = SplitMix64::new(SEED).next_u64();
    let mut group = c.benchmark_group("frame_alloc_threads");
    group.throughput(Throughput::Elements(N as u64));
    let variants = [
        ("tickmem_arena", Variant::Arena),
        ("tickmem_lane", Variant::Lane),
        ("bumpalo", Variant::Bumpalo),
        ("mimalloc", Variant::Mimalloc),
    ];
    for (id, variant) in variants {
        for threads in [1usize, 2] {
            group.bench_with_input(BenchmarkId::new(id, threads), &threads, |b, &threads| {
                let arena = RwLock::new(FrameArena::with_config(config()));
                b.iter_custom(|iters| {
                    let start = Barrier::new(threads + 1);
                    let done = Barrier::new(threads + 1);
                    let slowest = std::sync::Mutex::new(vec![Duration::ZERO; iters as usize]);
                    std::thread::scope(|s| {
                        for _ in 0..threads {
                            s.spawn(|| {
                                let mut bump = Bump::with_capacity(N * size_of::<Obj>() + 4096);
                                let mut ptrs = Vec::with_capacity(N);
                                let mut times = Vec::with_capacity(iters as usize);
                                // Two untimed frames first: the thread's
                                // memory (both halves of its lane) warmed up.
                                for k in 0..iters + WARM_FRAMES {
                                    start.wait();
                                    let t = frame(variant, &arena, &mut bump, &mut ptrs, seed);
                                    if k >= WARM_FRAMES {
                                        times.push(t);
                                    }
                                    done.wait();
                                }
                                let mut slowest = slowest.lock().expect("not poisoned");
                                for (s, t) in slowest.iter_mut().zip(times) {
                                    *s = (*s).max(t);
                                }
                            });
                        }
                        for _ in 0..iters + WARM_FRAMES {
                            start.wait();
                            done.wait();
                            arena.write().expect("not poisoned").begin_frame();
                        }
                    });
                    slowest.into_inner().expect("not poisoned").iter().sum()
                });
            });
        }
    }
    group.finish();
}

tickmem_frame::frame_data! {
    /// The bench's published vector.
    Words<'f> = allocator_api2::vec::Vec<u64, FrameAlloc<'f>>;
    /// The same as a frame slice.
    WordSlice<'f> = &'f [u64];
}

/// Elements a frame-data producer builds.
const WORDS: u64 = 1_000;

fn frame_data(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame_data");
    group.throughput(Throughput::Elements(WORDS));

    group.bench_function("publish_read", |b| {
        let mut host = FrameHost::new(FrameArena::with_config(config()));
        b.iter(|| {
            let token = host.publish::<Words>(|f| {
                let mut v =
                    allocator_api2::vec::Vec::with_capacity_in(WORDS as usize, f.allocator());
                v.extend(0..black_box(WORDS));
                v
            });
            for _ in 0..2 {
                black_box(host.read(token).map(|v| v.iter().sum::<u64>()));
            }
            host.begin_frame();
        });
    });

    group.bench_function("publish_read_slice", |b| {
        let mut host = FrameHost::new(FrameArena::with_config(config()));
        b.iter(|| {
            let n = black_box(WORDS) as usize;
            let token = host.publish::<WordSlice>(|f| &*f.alloc_slice_fill_with(n, |i| i as u64));
            for _ in 0..2 {
                black_box(host.read(token).map(|v| v.iter().sum::<u64>()));
            }
            host.begin_frame();
        });
    });

    group.bench_function("persist_std_vec", |b| {
        let mut arena = FrameArena::with_config(config());
        b.iter(|| {
            let v: Vec<u64> = (0..black_box(WORDS)).collect();
            let handle = arena.persist(v);
            for _ in 0..2 {
                black_box(arena.get(handle).map(|v| v.iter().sum::<u64>()));
            }
            arena.begin_frame();
        });
    });

    group.bench_function("reused_std_vec", |b| {
        let mut v: Vec<u64> = Vec::with_capacity(WORDS as usize);
        b.iter(|| {
            v.clear();
            v.extend(0..black_box(WORDS));
            for _ in 0..2 {
                black_box(v.iter().sum::<u64>());
            }
        });
    });
    group.finish();
}

criterion_group!(
    benches,
    frame_alloc,
    frame_reset,
    frame_alloc_threads,
    frame_data
);
criterion_main!(benches);
