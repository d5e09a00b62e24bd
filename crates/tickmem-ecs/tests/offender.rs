//! The first offender of an over-budget tick (feature `attribution`): the
//! report names the system, thread, size and call stack of the first call
//! over the budget; the `BudgetOverrun`, the log line (and, with `tracy`,
//! the Tracy message: see `tracy.rs`) carry it; reporting it does not make
//! the next tick go over the budget.
//!
//! The capture is process-wide (one armed budget per process): this binary
//! holds one test, which runs the scenarios in sequence.
#![cfg(feature = "attribution")]

#[global_allocator]
static GLOBAL: tickmem_track::CountingAlloc = tickmem_track::CountingAlloc::system();

mod common;

use std::hint::black_box;
use std::sync::Mutex;

use bevy_ecs::prelude::*;
use common::{Executor, init_compute_pool, schedule};
use tickmem_ecs::{MemoryStats, OffenderCall, TickmemConfig};

/// Collects `warn` log lines.
struct Lines(Mutex<Vec<String>>);

impl log::Log for Lines {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            self.0.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

static LOG: Lines = Lines(Mutex::new(Vec::new()));

#[derive(Resource, Default)]
struct Tick(u32);

#[inline(never)]
fn spike_allocation() -> Vec<u8> {
    black_box(vec![7u8; 123])
}

/// Allocates on tick 6 only.
fn spike(mut tick: ResMut<Tick>) {
    tick.0 += 1;
    if tick.0 == 6 {
        drop(spike_allocation());
    }
}

/// bevy's multi-threaded executor allocates every tick (its tasks): with a
/// budget of 0, every checked tick is over, and each report names the first
/// call of its tick — never a report of the previous tick (reporting and
/// replacing the last report are counted in no tick).
fn every_overrun_of_the_multi_threaded_executor_has_an_offender() {
    let mut world = World::new();
    world.init_resource::<Tick>();
    let mut schedule = schedule(Executor::Multi);
    tickmem_ecs::install_with_config(
        &mut world,
        &mut schedule,
        TickmemConfig::default().with_budget(0, 3),
    );
    schedule.add_systems(spike);
    for tick in 1..=12u64 {
        schedule.run(&mut world);
        world.clear_trackers();
        let stats = world.resource::<MemoryStats>();
        if let Some(overrun) = &stats.last_overrun
            && overrun.epoch + 1 == tick
        {
            let offender = overrun.offender.as_ref().expect("captured");
            assert!(!offender.system.is_empty());
            assert_ne!(offender.system, "frame_boundary", "{offender}");
            #[cfg(unix)]
            assert!(!offender.stack.is_empty());
        }
    }
    assert!(world.resource::<MemoryStats>().budget_overruns >= 1);
}

fn run_spike(executor: Executor) {
    let mut world = World::new();
    world.init_resource::<Tick>();
    let mut schedule = schedule(executor);
    tickmem_ecs::install_with_config(
        &mut world,
        &mut schedule,
        TickmemConfig::default().with_budget(0, 3),
    );
    schedule.add_systems(spike);
    for _ in 0..12 {
        schedule.run(&mut world);
        world.clear_trackers();
    }
    let stats = world.resource::<MemoryStats>();
    // Exactly one tick over: reporting the offender (symbolising its stack,
    // logging) is counted in neither tick.
    assert_eq!(
        stats.budget_overruns, 1,
        "{executor:?}: {:?}",
        stats.last_overrun
    );
    let overrun = stats.last_overrun.as_ref().unwrap();
    assert_eq!(overrun.epoch, 6);
    let offender = overrun.offender.as_ref().expect("captured");
    assert_eq!(offender.system, "spike", "{offender}");
    assert!(offender.system_path.ends_with("offender::spike"));
    assert_eq!(
        (offender.call, offender.size),
        (OffenderCall::Allocation, 123)
    );
    assert!(offender.thread.contains('#'), "{}", offender.thread);
    #[cfg(unix)]
    assert!(
        offender.stack[0].contains("spike_allocation")
            || offender
                .stack
                .iter()
                .take(8)
                .any(|f| f.contains("spike_allocation")),
        "{offender}"
    );
    let text = overrun.to_string();
    assert!(
        text.contains("allocation budget overrun in tick 6"),
        "{text}"
    );
    assert!(
        text.contains("allocation of 123 bytes in system `"),
        "{text}"
    );
    // The log line is the same text.
    assert!(LOG.0.lock().unwrap().contains(&text), "{text}");
}

fn between_ticks_is_outside_systems() {
    let mut world = World::new();
    let mut schedule = schedule(Executor::Single);
    tickmem_ecs::install_with_config(
        &mut world,
        &mut schedule,
        TickmemConfig::default().with_budget(0, 2),
    );
    for tick in 0..6 {
        schedule.run(&mut world);
        if tick == 3 {
            // The user's loop allocates between two ticks.
            drop(black_box(Box::new([0u8; 55])));
        }
    }
    let stats = world.resource::<MemoryStats>();
    assert_eq!(stats.budget_overruns, 1);
    let offender = stats
        .last_overrun
        .as_ref()
        .unwrap()
        .offender
        .as_ref()
        .unwrap();
    assert_eq!(offender.system, "(outside systems)");
    assert_eq!(offender.size, 55);
}

fn no_offender_within_budget() {
    let mut world = World::new();
    let mut schedule = schedule(Executor::Single);
    tickmem_ecs::install_with_config(
        &mut world,
        &mut schedule,
        TickmemConfig::default().with_budget(2, 1),
    );
    fn two_calls() {
        drop(black_box(Box::new(1u8)));
    }
    schedule.add_systems(two_calls);
    for _ in 0..10 {
        schedule.run(&mut world);
    }
    assert_eq!(world.resource::<MemoryStats>().budget_overruns, 0);
}

fn first_offender_reports() {
    log::set_logger(&LOG).unwrap();
    log::set_max_level(log::LevelFilter::Warn);
    init_compute_pool(2);
    run_spike(Executor::Single);
    every_overrun_of_the_multi_threaded_executor_has_an_offender();
    between_ticks_is_outside_systems();
    no_offender_within_budget();
}

// No libtest harness (`harness = false` in Cargo.toml): the counts are
// process-wide, and libtest's main thread allocates right after it starts a
// test's thread (see `tests/housekeeping.rs`). Here no other thread runs.
fn main() {
    first_offender_reports();
    println!("test first_offender_reports ... ok");
}
