//! Scratch arenas for worker jobs: `tickmem_scratch::with` against a
//! thread-local bumpalo arena, glibc `Box` and mimalloc.
//!
//! One iteration is one job: open a scope, make 1,000 allocations of a
//! 64-byte value (seeded contents, each read back through `black_box`), then
//! free everything. `scope_overhead/tickmem` is an empty `with`.
//! `scratch_threads` runs the same job on 2 threads at once (scoped threads
//! that loop over the iterations; the time is the slower thread's, measured
//! after a barrier, so thread start-up is not counted).
//!
//! Run: `cargo bench -p tickmem-benches --bench scratch`
#![expect(
    unsafe_code,
    reason = "the mimalloc anchor calls MiMalloc's GlobalAlloc directly"
)]

use std::alloc::{GlobalAlloc, Layout};
use std::cell::RefCell;
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use bumpalo::Bump;
use criterion::{Criterion, criterion_group, criterion_main};
use mimalloc::MiMalloc;
use tickmem_benches::{SplitMix64, make_process_multithreaded};

/// Allocations per job.
const ALLOCS: usize = 1000;

/// The 64-byte value each allocation holds.
#[derive(Clone, Copy)]
#[repr(C)]
struct Payload([u64; 8]);

impl Payload {
    #[inline(always)]
    fn new(seed: u64) -> Self {
        Payload([
            seed,
            seed ^ 1,
            seed ^ 2,
            seed ^ 3,
            seed ^ 4,
            seed ^ 5,
            seed ^ 6,
            seed ^ 7,
        ])
    }
}

const _: () = assert!(size_of::<Payload>() == 64);

fn seeds() -> Vec<u64> {
    let mut rng = SplitMix64::new(0x5C8A_7C11);
    (0..ALLOCS).map(|_| rng.next_u64()).collect()
}

/// One worker job, with whatever per-thread state the variant needs.
trait Job {
    fn new() -> Self;
    fn run(&mut self, seeds: &[u64]) -> u64;
}

struct Tickmem;

impl Job for Tickmem {
    fn new() -> Self {
        Tickmem
    }

    #[inline]
    fn run(&mut self, seeds: &[u64]) -> u64 {
        tickmem_scratch::with(|s| {
            let mut sum = 0;
            for &seed in seeds {
                let p = s.alloc(Payload::new(seed));
                sum ^= black_box(p).0[7];
            }
            sum
        })
    }
}

thread_local! {
    static BUMP: RefCell<Bump> = RefCell::new(Bump::new());
}

struct BumpaloThreadLocal;

impl Job for BumpaloThreadLocal {
    fn new() -> Self {
        BumpaloThreadLocal
    }

    #[inline]
    fn run(&mut self, seeds: &[u64]) -> u64 {
        BUMP.with(|bump| {
            let mut bump = bump.borrow_mut();
            let mut sum = 0;
            for &seed in seeds {
                let p = bump.alloc(Payload::new(seed));
                sum ^= black_box(p).0[7];
            }
            bump.reset();
            sum
        })
    }
}

/// `Box::new` with the system allocator (glibc), freed at the end of the job.
#[expect(
    clippy::vec_box,
    reason = "the anchor is one heap allocation per value"
)]
struct BoxSystem(Vec<Box<Payload>>);

impl Job for BoxSystem {
    fn new() -> Self {
        BoxSystem(Vec::with_capacity(ALLOCS))
    }

    #[inline]
    fn run(&mut self, seeds: &[u64]) -> u64 {
        let mut sum = 0;
        for &seed in seeds {
            let p = Box::new(Payload::new(seed));
            sum ^= black_box(&p).0[7];
            self.0.push(p);
        }
        self.0.clear();
        sum
    }
}

/// mimalloc through its `GlobalAlloc` impl, freed at the end of the job.
struct Mimalloc(Vec<*mut Payload>);

const LAYOUT: Layout = Layout::new::<Payload>();

impl Job for Mimalloc {
    fn new() -> Self {
        Mimalloc(Vec::with_capacity(ALLOCS))
    }

    #[inline]
    fn run(&mut self, seeds: &[u64]) -> u64 {
        let mut sum = 0;
        for &seed in seeds {
            // SAFETY: `LAYOUT` has a non-zero size.
            let p = unsafe { MiMalloc.alloc(LAYOUT) }.cast::<Payload>();
            assert!(!p.is_null(), "mimalloc out of memory");
            // SAFETY: `p` is a fresh, aligned block for one `Payload`.
            unsafe { p.write(Payload::new(seed)) };
            // SAFETY: `p` was initialised just above.
            sum ^= black_box(unsafe { &*p }).0[7];
            self.0.push(p);
        }
        for p in self.0.drain(..) {
            // SAFETY: `p` came from `MiMalloc.alloc(LAYOUT)` and is freed once.
            unsafe { MiMalloc.dealloc(p.cast(), LAYOUT) };
        }
        sum
    }
}

fn bench_one<J: Job>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    seeds: &[u64],
) {
    let mut job = J::new();
    c.bench_function(id, |b| b.iter(|| job.run(black_box(seeds))));
}

/// `iters` jobs on each of 2 threads at once; the slower thread's time.
fn two_threads<J: Job>(iters: u64, seeds: &[u64]) -> Duration {
    let barrier = Barrier::new(2);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut job = J::new();
                    // Warm the thread's arena / allocator caches.
                    black_box(job.run(seeds));
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(job.run(black_box(seeds)));
                    }
                    start.elapsed()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("bench thread panicked"))
            .max()
            .expect("two threads")
    })
}

fn bench_two<J: Job>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    seeds: &[u64],
) {
    c.bench_function(id, |b| {
        b.iter_custom(|iters| two_threads::<J>(iters, seeds))
    });
}

fn scratch(c: &mut Criterion) {
    make_process_multithreaded();
    let seeds = seeds();

    let mut group = c.benchmark_group("scratch");
    bench_one::<Tickmem>(&mut group, "tickmem", &seeds);
    bench_one::<BumpaloThreadLocal>(&mut group, "bumpalo_thread_local", &seeds);
    bench_one::<BoxSystem>(&mut group, "box_system", &seeds);
    bench_one::<Mimalloc>(&mut group, "mimalloc", &seeds);
    group.bench_function("scope_overhead/tickmem", |b| {
        b.iter(|| {
            tickmem_scratch::with(|s| {
                black_box(s);
            })
        })
    });
    // Anchor: the same empty scope with a thread-local `RefCell<Bump>`.
    group.bench_function("scope_overhead/bumpalo_thread_local", |b| {
        b.iter(|| {
            BUMP.with(|bump| {
                let mut bump = bump.borrow_mut();
                black_box(&*bump);
                bump.reset();
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("scratch_threads");
    bench_two::<Tickmem>(&mut group, "tickmem", &seeds);
    bench_two::<BumpaloThreadLocal>(&mut group, "bumpalo_thread_local", &seeds);
    bench_two::<BoxSystem>(&mut group, "box_system", &seeds);
    bench_two::<Mimalloc>(&mut group, "mimalloc", &seeds);
    group.finish();
}

criterion_group!(benches, scratch);
criterion_main!(benches);
