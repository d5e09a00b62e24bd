//! `tracy_overhead`: one tick of the tickmem-ecs test game (the schedule its
//! integration tests run: entity-pool churn, `par_iter` with scratch, frame
//! arena collision pairs, next-tick `FrameHandle` reads, object pool), with
//! the single-threaded executor and bevy's compute pool on 2 threads.
//!
//! The id says how it was built: `tracy_off` without the `tracy` feature,
//! `tracy_on_no_viewer` with it (frame mark, zones and plots emitted, no
//! viewer connected). Run it twice and compare:
//!
//! ```text
//! cargo bench -p tickmem-benches --bench tracy_overhead
//! cargo bench -p tickmem-benches --bench tracy_overhead --features tracy
//! ```
//! Only the loopback-only `tracy` feature is used here, never `tracy-network`.

use std::hint::black_box;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;
use criterion::{Criterion, criterion_group, criterion_main};

#[path = "../../crates/tickmem-ecs/tests/common/game.rs"]
mod game;

const ID: &str = if cfg!(feature = "tracy") {
    "tracy_on_no_viewer"
} else {
    "tracy_off"
};

fn bench(c: &mut Criterion) {
    tickmem_benches::make_process_multithreaded();
    // The multi-threaded executor creates bevy's compute pool (2 threads on
    // this machine) for `par_iter` when it first runs a system.
    let mut init = Schedule::default();
    init.add_systems(|| {});
    init.run(&mut World::new());

    let mut world = World::new();
    let mut schedule = Schedule::default();
    schedule.set_executor(SingleThreadedExecutor::new());
    game::build(
        &mut world,
        &mut schedule,
        game::Mode::Tickmem,
        Default::default(),
    );
    // Warm up: pools, tables and arenas at their steady-state size.
    for _ in 0..200 {
        schedule.run(&mut world);
        world.clear_trackers();
    }

    let mut group = c.benchmark_group("tracy_overhead");
    group.bench_function(ID, |b| {
        b.iter(|| {
            schedule.run(black_box(&mut world));
            world.clear_trackers();
        });
    });
    group.finish();
    assert_eq!(world.resource::<game::Report>().extract_missing, 0);
}

criterion_group!(benches, bench);
criterion_main!(benches);
