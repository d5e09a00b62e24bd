//! `attribution`: what per-system allocation attribution costs per tick, with
//! no offender (the normal case), on the two schedules of the project:
//!
//! * `ecs_game/{off,on}`: one tick of the tickmem-ecs test game (the schedule
//!   its integration tests run), single-threaded executor;
//! * `demo/{off,on}`: one tick of the `bullet_hell` demo in tickmem mode
//!   (2048 bullets per tick, 64 enemies), single-threaded executor.
//!
//! Both are built with the `attribution` feature; `off` installs tickmem
//! with `TickmemConfig::with_attribution(false)` (systems not wrapped), `on`
//! with it (every system wrapped). Without the feature nothing of
//! attribution is compiled at all. `capture` measures one first-offender
//! stack walk (inside the allocator it is the same walk).
//!
//! ```text
//! cargo bench -p tickmem-benches --bench attribution --features attribution
//! ```
#![allow(missing_docs)]

use std::hint::black_box;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;
use criterion::{Criterion, criterion_group};
use tickmem::ecs::TickmemConfig;

// Attribution counts through the counting allocator (both variants pay for
// counting; in the steady state the ticks make no allocator call anyway).
#[global_allocator]
static GLOBAL: tickmem::track::CountingAlloc = tickmem::track::CountingAlloc::system();

#[path = "../../crates/tickmem-ecs/tests/common/game.rs"]
mod game;

#[allow(
    dead_code,
    unreachable_pub,
    clippy::all,
    reason = "the demo's modules, reused"
)]
#[path = "../../examples/bullet_hell/sim.rs"]
mod sim;

#[allow(
    dead_code,
    unreachable_pub,
    clippy::all,
    reason = "the demo's modules, reused"
)]
#[path = "../../examples/bullet_hell/baseline.rs"]
mod baseline;

#[allow(
    dead_code,
    unreachable_pub,
    clippy::all,
    reason = "the demo's modules, reused"
)]
#[path = "../../examples/bullet_hell/tickmem_mode.rs"]
mod tickmem_mode;

fn game_world(attribution: bool) -> (World, Schedule) {
    let mut world = World::new();
    let mut schedule = Schedule::default();
    schedule.set_executor(SingleThreadedExecutor::new());
    let config = TickmemConfig::default().with_attribution(attribution);
    game::build(&mut world, &mut schedule, game::Mode::Tickmem, config);
    for _ in 0..200 {
        schedule.run(&mut world);
        world.clear_trackers();
    }
    (world, schedule)
}

fn demo_world(attribution: bool) -> (World, Schedule) {
    let mut world = World::new();
    let mut schedule = Schedule::default();
    schedule.set_executor(SingleThreadedExecutor::new());
    let cfg = sim::SimConfig {
        seed: 0x71C4_3E3A,
        enemies: 64,
        bullets_per_tick: 2048,
    };
    let config = TickmemConfig::default().with_attribution(attribution);
    tickmem_mode::setup_with_config(&mut world, &mut schedule, cfg, config);
    for _ in 0..120 {
        schedule.run(&mut world);
        world.clear_trackers();
    }
    (world, schedule)
}

fn bench(c: &mut Criterion) {
    tickmem_benches::make_process_multithreaded();
    bevy_tasks::ComputeTaskPool::get_or_init(|| {
        bevy_tasks::TaskPoolBuilder::new().num_threads(1).build()
    });

    let mut group = c.benchmark_group("attribution");
    for (id, attribution) in [("ecs_game/off", false), ("ecs_game/on", true)] {
        let (mut world, mut schedule) = game_world(attribution);
        group.bench_function(id, |b| {
            b.iter(|| {
                schedule.run(black_box(&mut world));
                world.clear_trackers();
            });
        });
        let stats = world.resource::<tickmem::ecs::MemoryStats>();
        assert_eq!(stats.systems.is_empty(), !attribution);
    }
    for (id, attribution) in [("demo/off", false), ("demo/on", true)] {
        let (mut world, mut schedule) = demo_world(attribution);
        group.bench_function(id, |b| {
            b.iter(|| {
                schedule.run(black_box(&mut world));
                world.clear_trackers();
            });
        });
    }
    group.bench_function("capture", |b| {
        let mut frames = [0usize; tickmem::track::attribution::MAX_FRAMES];
        b.iter(|| {
            black_box(tickmem::track::attribution::walk_stack(black_box(
                &mut frames,
            )))
        });
    });
    group.finish();
}

criterion_group!(benches, bench);

/// Deterministic instruction counts for close ratios (the machine is
/// shared): `TICKMEM_ICOUNT=<ecs_game|demo>/<off|on>:<ticks>` runs the set-up
/// and `ticks` ticks, nothing else; run it under
/// `valgrind --tool=callgrind` with two tick counts and take the
/// difference (the set-up cancels out).
fn icount(spec: &str) {
    let (id, ticks) = spec.split_once(':').expect("<id>:<ticks>");
    let ticks: u32 = ticks.parse().expect("ticks");
    bevy_tasks::ComputeTaskPool::get_or_init(|| {
        bevy_tasks::TaskPoolBuilder::new().num_threads(1).build()
    });
    let (mut world, mut schedule) = match id {
        "ecs_game/off" => game_world(false),
        "ecs_game/on" => game_world(true),
        "demo/off" => demo_world(false),
        "demo/on" => demo_world(true),
        other => panic!("unknown id {other}"),
    };
    for _ in 0..ticks {
        schedule.run(&mut world);
        world.clear_trackers();
    }
}

fn main() {
    if let Ok(spec) = std::env::var("TICKMEM_ICOUNT") {
        icount(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
