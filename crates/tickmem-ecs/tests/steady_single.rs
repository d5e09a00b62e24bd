//! The ECS test game under the single-threaded executor makes zero
//! global-allocator calls per tick once warmed up, in the whole process.
//!
//! One test in its own binary: counts are process-wide (every thread,
//! bevy's compute pool included), so nothing else may run beside it.
//!
//! bevy's compute pool has one thread here, so `par_iter` runs its jobs
//! inline (bevy only spawns tasks, which allocate, when the pool has more
//! than one thread; `steady_multi.rs` measures that case against bevy's own
//! baseline).

#[global_allocator]
static GLOBAL: tickmem_track::CountingAlloc = tickmem_track::CountingAlloc::system();

mod common;

use bevy_ecs::prelude::*;
use common::game::{self, Mode, Report};
use common::{Executor, init_compute_pool, schedule};
use tickmem_ecs::{MemoryStats, TickmemConfig};

const TICKS: u64 = 1_000;
const WARM_UP: u64 = 2 * game::TTL as u64;

fn single_threaded_ticks_make_no_allocator_calls_after_warm_up() {
    assert_eq!(init_compute_pool(1), 1);
    let mut world = World::new();
    let mut schedule = schedule(Executor::Single);
    // tickmem's own budget check, process-wide: 0 calls per tick.
    let config = TickmemConfig::default().with_budget(0, WARM_UP);
    game::build(&mut world, &mut schedule, Mode::Tickmem, config);

    for tick in 1..=TICKS {
        let before = tickmem_track::global_stats().calls();
        schedule.run(&mut world);
        let calls = tickmem_track::global_stats().calls() - before;
        // What a bevy_app `App::update` does after the schedules.
        world.clear_trackers();
        if tick > WARM_UP {
            assert_eq!(
                calls, 0,
                "tick {tick} called the global allocator {calls} times"
            );
            // The boundary of this tick saw the previous one: zero too.
            assert_eq!(
                world.resource::<MemoryStats>().global_alloc_calls,
                Some(0),
                "tick {tick}"
            );
        }
        // The frame boundary ran before every system of the tick.
        assert_eq!(world.resource::<Report>().probe_epoch, tick);
    }

    let stats = world.resource::<MemoryStats>();
    assert_eq!(stats.budget_overruns, 0, "{:?}", stats.last_overrun);
    assert_eq!(stats.epoch, TICKS);
    let bullets = stats.pool("Bullet").expect("registered");
    assert_eq!(bullets.live, game::LIVE_BULLETS);
    assert_eq!(stats.pool("Enemy").expect("registered").live, game::ENEMIES);
    assert!(stats.frame_bytes > 0 && stats.frame_reserved >= stats.frame_bytes);

    // The game itself worked: every tick's summary was read the next tick
    // through the resource, the component and the message, and the handle
    // from two ticks back always read None.
    let report = world.resource::<Report>();
    assert_eq!(report.extracted, 3 * (TICKS - 1));
    assert_eq!(report.extract_missing, 0);
    assert_eq!(report.stale_checked, TICKS - 2);
    assert_eq!(report.stale_live, 0);
    assert!(report.pairs > 0 && report.path_steps > 0);
}

// No libtest harness (`harness = false` in Cargo.toml): the counts are
// process-wide, and libtest's main thread allocates right after it starts a
// test's thread (see `tests/housekeeping.rs`). Here no other thread runs.
fn main() {
    single_threaded_ticks_make_no_allocator_calls_after_warm_up();
    println!("test single_threaded_ticks_make_no_allocator_calls_after_warm_up ... ok");
}
