//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod game;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{MultiThreadedExecutor, SingleThreadedExecutor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Executor {
    Single,
    Multi,
}

/// A schedule with the chosen executor.
pub fn schedule(executor: Executor) -> Schedule {
    let mut schedule = Schedule::default();
    match executor {
        Executor::Single => schedule.set_executor(SingleThreadedExecutor::new()),
        Executor::Multi => schedule.set_executor(MultiThreadedExecutor::new()),
    };
    schedule
}

/// Make sure bevy's compute pool exists, with `threads` worker threads
/// (the first caller in a process decides).
pub fn init_compute_pool(threads: usize) -> usize {
    bevy_tasks::ComputeTaskPool::get_or_init(|| {
        bevy_tasks::TaskPoolBuilder::new()
            .num_threads(threads)
            .build()
    })
    .thread_num()
}

/// Run `ticks` ticks and return each tick's process-wide global-allocator
/// calls.
pub fn calls_per_tick(world: &mut World, schedule: &mut Schedule, ticks: usize) -> Vec<u64> {
    let mut out = Vec::with_capacity(ticks);
    for _ in 0..ticks {
        let before = tickmem_track::global_stats().calls();
        schedule.run(world);
        out.push(tickmem_track::global_stats().calls() - before);
    }
    out
}
