//! The allocator benchmark suite: glibc (`System`), mimalloc, jemalloc,
//! bumpalo and tickmem's frame arena and scratch arenas, side by side in one
//! binary.
//!
//! The general-purpose allocators are called through their `GlobalAlloc`
//! impls directly, so one run compares them all; this binary's own
//! `#[global_allocator]` stays `System`. Before anything is measured the
//! process is made multi-threaded
//! ([`tickmem_benches::make_process_multithreaded`]), so glibc runs its
//! multi-threaded (atomic) paths, as it does in a game.
//!
//! Groups (one *iteration* is what criterion times):
//!
//! - `churn_small/<allocator>`: allocate 1,600 chunks whose sizes cycle
//!   16, 32, 64, 128, 256 bytes (align 8), writing one byte into each; then
//!   free the first 800 in allocation order (FIFO) and the last 800 in
//!   reverse order (LIFO). Arenas allocate the same chunks, then reset:
//!   `bumpalo` calls `Bump::reset`; `tickmem_frame` ends the frame with one
//!   `begin_frame` (see "Frame arena" below); `tickmem_scratch` leaves its
//!   `tickmem_scratch::with` scope.
//! - `churn_threads/<allocator>/<threads>`: the same churn with 128-byte
//!   chunks, run by 2, 4 and 8 threads at once that share the allocator.
//!   One iteration = every thread doing one churn. Method: criterion's
//!   `iter_custom`; for each sample the threads are spawned (scoped), each
//!   does one untimed churn to warm its caches, then all meet at a barrier;
//!   the clock runs from that barrier until all threads have done `iters`
//!   churns and met at a second barrier. Thread spawn, warm-up and teardown
//!   are outside the clock. Arenas are per thread by design: each thread has
//!   its own `Bump`, its own scratch, and its own `FrameArena` (the frame is
//!   ended with `begin_frame(&mut self)`, which needs the arena exclusively;
//!   resetting one shared arena after every churn would need a barrier per
//!   iteration that would dominate the time, and a shared arena's lanes are
//!   per thread anyway).
//! - `large_blocks/<allocator>`: 1,000 rounds (fixed seed) of allocating a
//!   block of 5–25 MiB while keeping at most 20 alive: each round picks one
//!   of 20 slots at random, frees the block in it if any, and puts a new
//!   block there. The first and the last byte of each block are written (so
//!   at most two pages are touched: this measures the allocator's
//!   large-block path — mmap/munmap, retained memory, fragmentation — not
//!   page faults of touching 15 MiB per round). Blocks still alive after the
//!   1,000 rounds are freed inside the iteration. Arenas cannot free one
//!   block out of 20, so their ids name a different, per-frame workload
//!   with the same 1,000 block sizes (the slot choice unused), not
//!   comparable with the three above: `bumpalo_per_frame` (allocate, touch,
//!   `reset`: one block alive), `tickmem_frame_per_frame` (allocate, touch,
//!   `begin_frame` every round: at most two blocks alive), and
//!   `tickmem_scratch_per_scope` (one `with` scope per block). They show
//!   what the arenas do with blocks this big: after warm-up they reuse a
//!   chunk instead of asking the system for memory.
//!
//! # Frame arena
//!
//! Memory allocated in frame `N` is reclaimed by the `begin_frame` that
//! starts frame `N + 2`. One `churn_small` iteration of `tickmem_frame` is
//! one frame: the 1,600 allocations, then one `begin_frame`, which reclaims
//! the previous iteration's chunks. In the steady state every iteration
//! therefore pays exactly one batch of allocations and one reclaim, and two
//! frames of chunks are held, as in a game loop. `tickmem_frame` allocates
//! through `FrameArena::allocator()` (the `allocator_api2` handle: a lane
//! lookup per call, like collections do); `tickmem_frame_lane` takes the
//! thread's `Lane` once and bumps it directly.
//!
//! - `frame_loop/<mode>`: one tick of the `bullet_hell` demo game
//!   (`examples/bullet_hell`, same modules through `#[path]`), default
//!   settings (64 enemies, 2,048 bullets per tick, about 60,000 alive), one
//!   worker thread and the single-threaded executor, after 120 warm-up
//!   ticks: `tickmem` mode against `baseline` mode.
//!
//! Run: `cargo bench -p tickmem-benches --bench allocators`
//! (one group: append `-- churn_small`). Results: `benches/results/allocators.md`.
#![expect(
    unsafe_code,
    reason = "the bench calls GlobalAlloc::alloc/dealloc directly and writes through raw pointers"
)]

use std::alloc::{GlobalAlloc, Layout, System, handle_alloc_error};
use std::hint::black_box;
use std::ptr::NonNull;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use bumpalo::Bump;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main, measurement::WallTime,
};
use mimalloc::MiMalloc;
use tickmem_benches::{SplitMix64, make_process_multithreaded};
use tickmem_frame::FrameArena;
use tickmem_frame::allocator_api2::alloc::Allocator;
use tikv_jemallocator::Jemalloc;

/// Chunks allocated per churn (per thread in `churn_threads`).
const CHUNKS: usize = 1_600;
/// `churn_small` sizes, cycled.
const SMALL_SIZES: [usize; 5] = [16, 32, 64, 128, 256];
/// `churn_threads` chunk size.
const THREAD_CHUNK: usize = 128;
/// `churn_threads` thread counts.
const THREAD_COUNTS: [usize; 3] = [2, 4, 8];
/// Alignment of every chunk and block (a `Vec<u64>`'s).
const ALIGN: usize = 8;
/// `large_blocks` rounds, live blocks, size range and seed.
const LARGE_ROUNDS: usize = 1_000;
const LARGE_SLOTS: usize = 20;
const LARGE_MIN: usize = 5 << 20;
const LARGE_MAX: usize = 25 << 20;
const LARGE_SEED: u64 = 0x7ac3_0a11_0c5e_ed01;
/// The byte written into every chunk.
const TOUCH: u8 = 0xA5;

/// Write [`TOUCH`] at `p + offset`, so the memory is really used.
///
/// # Safety
///
/// `p` points to a live allocation of more than `offset` bytes.
#[inline(always)]
unsafe fn touch(p: *mut u8, offset: usize) {
    // SAFETY: the caller guarantees `offset` is inside the allocation.
    let at = unsafe { p.add(offset) };
    // SAFETY: `at` is inside a live allocation (above); volatile so the
    // store is not dropped as dead before the free.
    unsafe { at.write_volatile(TOUCH) };
}

fn layouts_cycling(sizes: &[usize], count: usize) -> Vec<Layout> {
    sizes
        .iter()
        .cycle()
        .take(count)
        .map(|&size| Layout::from_size_align(size, ALIGN).expect("valid chunk layout"))
        .collect()
}

// ---------------------------------------------------------------------------
// One churn, per allocator. Each holds its own pointer list (allocated once,
// reused), so the churn itself makes no other allocation.

/// A per-thread allocator under test that can run one churn.
trait Churn {
    /// Allocate every layout (touching one byte), then free or reset.
    fn churn(&mut self, layouts: &[Layout]);
}

/// A general-purpose allocator through its `GlobalAlloc` impl.
struct GlobalChurn<A> {
    alloc: A,
    ptrs: Vec<*mut u8>,
}

impl<A: GlobalAlloc> GlobalChurn<A> {
    fn new(alloc: A) -> Self {
        Self {
            alloc,
            ptrs: Vec::with_capacity(CHUNKS),
        }
    }
}

impl<A: GlobalAlloc> Churn for GlobalChurn<A> {
    #[inline(never)]
    fn churn(&mut self, layouts: &[Layout]) {
        self.ptrs.clear();
        for &layout in layouts {
            // SAFETY: every workload layout has a non-zero size.
            let p = unsafe { self.alloc.alloc(layout) };
            if p.is_null() {
                handle_alloc_error(layout);
            }
            // SAFETY: `p` is a fresh allocation of `layout.size() >= 1` bytes.
            unsafe { touch(p, 0) };
            self.ptrs.push(p);
        }
        let half = layouts.len() / 2;
        // First half FIFO: in allocation order.
        for (&p, &layout) in self.ptrs[..half].iter().zip(&layouts[..half]) {
            // SAFETY: `p` was allocated above by `self.alloc` with `layout`
            // and is freed exactly once.
            unsafe { self.alloc.dealloc(p, layout) };
        }
        // Second half LIFO: newest first.
        for (&p, &layout) in self.ptrs[half..].iter().zip(&layouts[half..]).rev() {
            // SAFETY: as above.
            unsafe { self.alloc.dealloc(p, layout) };
        }
    }
}

/// bumpalo: `alloc_layout`, then `reset`.
struct BumpChurn {
    bump: Bump,
    ptrs: Vec<*mut u8>,
}

impl Churn for BumpChurn {
    #[inline(never)]
    fn churn(&mut self, layouts: &[Layout]) {
        self.ptrs.clear();
        for &layout in layouts {
            let p = self.bump.alloc_layout(layout).as_ptr();
            // SAFETY: `p` is a fresh block of `layout.size() >= 1` bytes.
            unsafe { touch(p, 0) };
            self.ptrs.push(p);
        }
        black_box(&self.ptrs);
        self.bump.reset();
    }
}

/// Allocate `layout` from an `allocator_api2` allocator, or abort like std.
#[inline(always)]
fn allocate_raw(alloc: &impl Allocator, layout: Layout) -> *mut u8 {
    match alloc.allocate(layout) {
        Ok(block) => block.cast::<u8>().as_ptr(),
        Err(_) => handle_alloc_error(layout),
    }
}

/// tickmem's frame arena: one frame per churn (see the module docs).
struct FrameChurn {
    arena: FrameArena,
    /// Bump the thread's `Lane` directly instead of `arena.allocator()`.
    via_lane: bool,
    ptrs: Vec<*mut u8>,
}

impl FrameChurn {
    fn new(via_lane: bool) -> Self {
        Self {
            arena: FrameArena::new(),
            via_lane,
            ptrs: Vec::with_capacity(CHUNKS),
        }
    }
}

impl Churn for FrameChurn {
    #[inline(never)]
    fn churn(&mut self, layouts: &[Layout]) {
        self.ptrs.clear();
        if self.via_lane {
            let lane = self.arena.lane();
            for &layout in layouts {
                let p = allocate_raw(&lane, layout);
                // SAFETY: `p` is a fresh block of `layout.size() >= 1` bytes.
                unsafe { touch(p, 0) };
                self.ptrs.push(p);
            }
        } else {
            let alloc = self.arena.allocator();
            for &layout in layouts {
                let p = allocate_raw(&alloc, layout);
                // SAFETY: `p` is a fresh block of `layout.size() >= 1` bytes.
                unsafe { touch(p, 0) };
                self.ptrs.push(p);
            }
        }
        black_box(&self.ptrs);
        self.arena.begin_frame();
    }
}

/// tickmem's scratch: one `tickmem_scratch::with` scope per churn.
struct ScratchChurn {
    ptrs: Vec<*mut u8>,
}

impl Churn for ScratchChurn {
    #[inline(never)]
    fn churn(&mut self, layouts: &[Layout]) {
        self.ptrs.clear();
        let ptrs = &mut self.ptrs;
        tickmem_scratch::with(|s| {
            for &layout in layouts {
                let p = allocate_raw(&s, layout);
                // SAFETY: `p` is a fresh block of `layout.size() >= 1` bytes.
                unsafe { touch(p, 0) };
                ptrs.push(p);
            }
            black_box(&*ptrs);
        });
    }
}

/// The allocators compared, by bench id.
#[derive(Clone, Copy)]
enum Subject {
    System,
    Mimalloc,
    Jemalloc,
    Bumpalo,
    TickmemFrame,
    TickmemFrameLane,
    TickmemScratch,
}

const SUBJECTS: [Subject; 7] = [
    Subject::System,
    Subject::Mimalloc,
    Subject::Jemalloc,
    Subject::Bumpalo,
    Subject::TickmemFrame,
    Subject::TickmemFrameLane,
    Subject::TickmemScratch,
];

impl Subject {
    fn id(self) -> &'static str {
        match self {
            Subject::System => "system",
            Subject::Mimalloc => "mimalloc",
            Subject::Jemalloc => "jemalloc",
            Subject::Bumpalo => "bumpalo",
            Subject::TickmemFrame => "tickmem_frame",
            Subject::TickmemFrameLane => "tickmem_frame_lane",
            Subject::TickmemScratch => "tickmem_scratch",
        }
    }

    /// A fresh per-thread churner for this allocator.
    fn churner(self) -> Box<dyn Churn> {
        match self {
            Subject::System => Box::new(GlobalChurn::new(System)),
            Subject::Mimalloc => Box::new(GlobalChurn::new(MiMalloc)),
            Subject::Jemalloc => Box::new(GlobalChurn::new(Jemalloc)),
            Subject::Bumpalo => Box::new(BumpChurn {
                bump: Bump::new(),
                ptrs: Vec::with_capacity(CHUNKS),
            }),
            Subject::TickmemFrame => Box::new(FrameChurn::new(false)),
            Subject::TickmemFrameLane => Box::new(FrameChurn::new(true)),
            Subject::TickmemScratch => Box::new(ScratchChurn {
                ptrs: Vec::with_capacity(CHUNKS),
            }),
        }
    }
}

// ---------------------------------------------------------------------------
// churn_small

fn churn_small(c: &mut Criterion) {
    let layouts = layouts_cycling(&SMALL_SIZES, CHUNKS);
    let mut group = c.benchmark_group("churn_small");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(CHUNKS as u64));
    for subject in SUBJECTS {
        let mut churner = subject.churner();
        group.bench_function(subject.id(), |b| {
            b.iter(|| churner.churn(black_box(&layouts)));
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------
// churn_threads

/// Run `iters` churns on each of `threads` threads; the time from the start
/// barrier to the end barrier (see the module docs).
fn churn_on_threads(subject: Subject, threads: usize, iters: u64, layouts: &[Layout]) -> Duration {
    let start = Barrier::new(threads + 1);
    let done = Barrier::new(threads + 1);
    thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut churner = subject.churner();
                churner.churn(layouts); // untimed warm-up
                start.wait();
                for _ in 0..iters {
                    churner.churn(black_box(layouts));
                }
                done.wait();
                // `churner` is dropped after the clock stopped.
            });
        }
        start.wait();
        let began = Instant::now();
        done.wait();
        began.elapsed()
    })
}

fn churn_threads(c: &mut Criterion) {
    let layouts = layouts_cycling(&[THREAD_CHUNK], CHUNKS);
    let mut group = c.benchmark_group("churn_threads");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    for subject in SUBJECTS {
        for threads in THREAD_COUNTS {
            group.throughput(Throughput::Elements((CHUNKS * threads) as u64));
            group.bench_with_input(
                BenchmarkId::new(subject.id(), threads),
                &threads,
                |b, &threads| {
                    b.iter_custom(|iters| churn_on_threads(subject, threads, iters, &layouts));
                },
            );
        }
    }
    group.finish();
}

// ---------------------------------------------------------------------------
// large_blocks

/// One `large_blocks` round: free what is in `slot`, put a new block there.
#[derive(Clone, Copy)]
struct Round {
    slot: usize,
    layout: Layout,
}

fn large_rounds() -> Vec<Round> {
    let mut rng = SplitMix64::new(LARGE_SEED);
    (0..LARGE_ROUNDS)
        .map(|_| {
            let slot = rng.below(LARGE_SLOTS as u64) as usize;
            let size = LARGE_MIN + rng.below((LARGE_MAX - LARGE_MIN + 1) as u64) as usize;
            let layout = Layout::from_size_align(size, ALIGN).expect("valid block layout");
            Round { slot, layout }
        })
        .collect()
}

/// Write the first and the last byte of a block.
///
/// # Safety
///
/// `p` points to a live allocation of `size >= 1` bytes.
#[inline(always)]
unsafe fn touch_block(p: *mut u8, size: usize) {
    // SAFETY: offset 0 is inside the block (caller).
    unsafe { touch(p, 0) };
    // SAFETY: offset `size - 1` is inside the block (caller).
    unsafe { touch(p, size - 1) };
}

/// The 1,000 rounds through a `GlobalAlloc`; frees what is left at the end.
#[inline(never)]
fn large_global<A: GlobalAlloc>(alloc: &A, rounds: &[Round]) {
    let mut live: [Option<(NonNull<u8>, Layout)>; LARGE_SLOTS] = [None; LARGE_SLOTS];
    for round in rounds {
        if let Some((p, layout)) = live[round.slot].take() {
            // SAFETY: `p` was allocated by `alloc` with `layout` and is freed once.
            unsafe { alloc.dealloc(p.as_ptr(), layout) };
        }
        // SAFETY: block layouts have a non-zero size.
        let p = unsafe { alloc.alloc(round.layout) };
        let Some(p) = NonNull::new(p) else {
            handle_alloc_error(round.layout)
        };
        // SAFETY: `p` is a fresh block of `round.layout.size()` bytes.
        unsafe { touch_block(p.as_ptr(), round.layout.size()) };
        live[round.slot] = Some((p, round.layout));
    }
    for (p, layout) in live.into_iter().flatten() {
        // SAFETY: as above.
        unsafe { alloc.dealloc(p.as_ptr(), layout) };
    }
}

/// The frame-arena model: one block per frame, `begin_frame` every round,
/// so at most two frames of blocks are alive (the slot choice is unused).
#[inline(never)]
fn large_frame(arena: &mut FrameArena, rounds: &[Round]) {
    for round in rounds {
        let p = allocate_raw(&arena.allocator(), round.layout);
        // SAFETY: `p` is a fresh block of `round.layout.size()` bytes.
        unsafe { touch_block(p, round.layout.size()) };
        arena.begin_frame();
    }
}

/// The same per-frame model for bumpalo: one block, then `reset`.
#[inline(never)]
fn large_bump(bump: &mut Bump, rounds: &[Round]) {
    for round in rounds {
        let p = bump.alloc_layout(round.layout).as_ptr();
        // SAFETY: `p` is a fresh block of `round.layout.size()` bytes.
        unsafe { touch_block(p, round.layout.size()) };
        bump.reset();
    }
}

/// The same per-frame model for scratch: one block per `with` scope.
#[inline(never)]
fn large_scratch(rounds: &[Round]) {
    for round in rounds {
        tickmem_scratch::with(|s| {
            let p = allocate_raw(&s, round.layout);
            // SAFETY: `p` is a fresh block of `round.layout.size()` bytes.
            unsafe { touch_block(p, round.layout.size()) };
        });
    }
}

fn large_blocks(c: &mut Criterion) {
    let rounds = large_rounds();
    let mut group = c.benchmark_group("large_blocks");
    bench_large_group(&mut group, &rounds);
    group.finish();
}

fn bench_large_group(group: &mut BenchmarkGroup<'_, WallTime>, rounds: &[Round]) {
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(LARGE_ROUNDS as u64));
    group.bench_function("system", |b| b.iter(|| large_global(&System, rounds)));
    group.bench_function("mimalloc", |b| b.iter(|| large_global(&MiMalloc, rounds)));
    group.bench_function("jemalloc", |b| b.iter(|| large_global(&Jemalloc, rounds)));
    let mut bump = Bump::new();
    group.bench_function("bumpalo_per_frame", |b| {
        b.iter(|| large_bump(&mut bump, rounds));
    });
    let mut arena = FrameArena::new();
    group.bench_function("tickmem_frame_per_frame", |b| {
        b.iter(|| large_frame(&mut arena, rounds));
    });
    group.bench_function("tickmem_scratch_per_scope", |b| {
        b.iter(|| large_scratch(rounds));
    });
}

// ---------------------------------------------------------------------------
// frame_loop: one tick of the demo game, both modes.

#[allow(unreachable_pub, reason = "shared with the bullet_hell example")]
#[path = "../../examples/bullet_hell/sim.rs"]
mod sim;

#[allow(
    dead_code,
    unreachable_pub,
    reason = "shared with the bullet_hell example"
)]
#[path = "../../examples/bullet_hell/baseline.rs"]
mod baseline;

#[allow(
    dead_code,
    unreachable_pub,
    reason = "shared with the bullet_hell example"
)]
#[path = "../../examples/bullet_hell/tickmem_mode.rs"]
mod tickmem_mode;

type Setup = fn(&mut bevy_ecs::world::World, &mut bevy_ecs::schedule::Schedule, sim::SimConfig);

fn frame_loop(c: &mut Criterion) {
    use bevy_ecs::schedule::{Schedule, SingleThreadedExecutor};
    use bevy_ecs::world::World;
    bevy_tasks::ComputeTaskPool::get_or_init(|| {
        bevy_tasks::TaskPoolBuilder::new().num_threads(1).build()
    });
    let cfg = sim::SimConfig {
        seed: 0x71C4_3E3A,
        enemies: 64,
        bullets_per_tick: 2048,
    };
    let mut group = c.benchmark_group("frame_loop");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(6));
    let modes: [(&str, Setup); 2] = [
        ("tickmem", tickmem_mode::setup),
        ("baseline", baseline::setup),
    ];
    for (name, setup) in modes {
        let mut world = World::new();
        let mut schedule = Schedule::default();
        schedule.set_executor(SingleThreadedExecutor::new());
        setup(&mut world, &mut schedule, cfg);
        // Each tick is what `App::update` does: the schedule, then
        // `clear_trackers` (without it bevy's removed-component buffers grow
        // for the whole run, most in baseline mode, which despawns).
        let mut tick = || {
            schedule.run(&mut world);
            world.clear_trackers();
        };
        for _ in 0..120 {
            tick();
        }
        group.bench_function(name, |b| b.iter(&mut tick));
    }
    group.finish();
}

// ---------------------------------------------------------------------------

fn setup() -> Criterion {
    make_process_multithreaded();
    Criterion::default()
}

criterion_group! {
    name = allocators;
    config = setup();
    targets = churn_small, churn_threads, large_blocks, frame_loop
}
criterion_main!(allocators);
