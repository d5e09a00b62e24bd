//! The test helpers of `tickmem_ecs::testing`, on the ECS test game and on
//! a leaky system, for a bare `World` + `Schedule` and (feature `bevy_app`)
//! an `App`. Counts are process-wide: one test in this binary.

#[global_allocator]
static GLOBAL: tickmem_track::CountingAlloc = tickmem_track::CountingAlloc::system();

mod common;

use std::hint::black_box;

use bevy_ecs::prelude::*;
use common::game::{self, Mode};
use common::{Executor, init_compute_pool, schedule};
use tickmem_ecs::TickmemConfig;
use tickmem_ecs::testing::{TickAllocated, check_allocation_free};

#[derive(Resource, Default)]
struct Tick(u64);

/// Allocates on its 30th run only.
fn leaky(mut tick: ResMut<Tick>) {
    tick.0 += 1;
    if tick.0 == 30 {
        drop(black_box(vec![0u8; 321]));
    }
}

fn the_game_passes() {
    let mut world = World::new();
    let mut schedule = schedule(Executor::Single);
    let config = TickmemConfig::default().with_budget(7, 3);
    game::build(&mut world, &mut schedule, Mode::Tickmem, config);
    check_allocation_free(&mut world, &mut schedule, 2 * u64::from(game::TTL), 300)
        .unwrap_or_else(|e| panic!("{e}"));
    // The world's own budget is back.
    let budget = world.resource::<TickmemConfig>().budget.unwrap();
    assert_eq!((budget.max_calls_per_tick, budget.warm_up_ticks), (7, 3));
}

fn check_leaky(report: &TickAllocated, epoch: u64) {
    assert_eq!(report.epoch, epoch, "{report}");
    assert_eq!(report.calls, 2, "{report}");
    let text = report.to_string();
    if cfg!(feature = "attribution") {
        assert_eq!(report.systems[0].name, "leaky", "{text}");
        assert_eq!(report.systems[0].calls, 2, "{text}");
        let offender = report.offender.as_ref().expect("captured");
        assert_eq!(
            (offender.system.as_str(), offender.size),
            ("leaky", 321),
            "{text}"
        );
        assert!(
            text.contains("first call over the budget: allocation of 321 bytes"),
            "{text}"
        );
        #[cfg(unix)]
        assert!(
            offender.stack.iter().any(|f| f.contains("helpers::leaky")),
            "{text}"
        );
    } else {
        assert!(
            text.contains("enable tickmem-ecs's `attribution` feature"),
            "{text}"
        );
    }
}

fn a_leak_is_reported() {
    let mut world = World::new();
    world.init_resource::<Tick>();
    let mut schedule = schedule(Executor::Single);
    tickmem_ecs::install(&mut world, &mut schedule);
    schedule.add_systems(leaky);
    let report = check_allocation_free(&mut world, &mut schedule, 5, 100).unwrap_err();
    check_leaky(&report, 30);
    assert_eq!(report.checked, 24);
    assert_eq!(world.resource::<TickmemConfig>().budget, None);
    // The assert version panics with the same text.
    let mut world2 = World::new();
    world2.init_resource::<Tick>();
    let mut schedule2 = common::schedule(Executor::Single);
    tickmem_ecs::install(&mut world2, &mut schedule2);
    schedule2.add_systems(leaky);
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tickmem_ecs::testing::assert_allocation_free(&mut world2, &mut schedule2, 5, 100)
    }))
    .unwrap_err();
    let msg = panic.downcast_ref::<String>().unwrap();
    assert!(
        msg.starts_with(
            "tick 30 (checked tick 25 after 5 warm-up ticks) made 2 global-allocator calls"
        ),
        "{msg}"
    );
}

#[cfg(feature = "bevy_app")]
fn apps() {
    use bevy_app::{App, Update};
    use bevy_ecs::schedule::{Schedules, SingleThreadedExecutor};
    use tickmem_ecs::TickmemPlugin;
    use tickmem_ecs::testing::check_app_allocation_free;

    let single = |app: &mut App| {
        for (_, schedule) in app.world_mut().resource_mut::<Schedules>().iter_mut() {
            schedule.set_executor(SingleThreadedExecutor::new());
        }
    };
    let mut app = App::new();
    app.add_plugins(TickmemPlugin::default());
    app.add_systems(Update, |frame: tickmem_ecs::Frame| {
        black_box(frame.alloc_slice_copy(&[1u32; 100]));
    });
    single(&mut app);
    check_app_allocation_free(&mut app, 5, 200).unwrap_or_else(|e| panic!("{e}"));

    let mut app = App::new();
    app.add_plugins(TickmemPlugin::default());
    app.init_resource::<Tick>();
    app.add_systems(Update, leaky);
    single(&mut app);
    let report = check_app_allocation_free(&mut app, 5, 100).unwrap_err();
    check_leaky(&report, 30);
}

fn helpers() {
    init_compute_pool(1);
    the_game_passes();
    a_leak_is_reported();
    #[cfg(feature = "bevy_app")]
    apps();
}

// No libtest harness (`harness = false` in Cargo.toml): the counts are
// process-wide, and libtest's main thread allocates right after it starts a
// test's thread (see `tests/housekeeping.rs`). Here no other thread runs.
fn main() {
    helpers();
    println!("test helpers ... ok");
}
