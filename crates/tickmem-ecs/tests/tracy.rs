//! With the `tracy` feature: the instrumented ECS test game runs with no
//! viewer connected, and one tick emits exactly what it should (checked
//! with tickmem-tracy's recording sink, without a viewer).
//!
//! Run with `cargo test -p tickmem-ecs --features tracy --test tracy`.
#![cfg(feature = "tracy")]

#[global_allocator]
static GLOBAL: tickmem_track::CountingAlloc = tickmem_track::CountingAlloc::system();

mod common;

use bevy_ecs::prelude::*;
use common::game::{self, Mode, Report};
use common::{Executor, init_compute_pool, schedule};
use tickmem_ecs::{EntityPool, FrameMemory, MemoryStats, TickmemConfig};
use tickmem_tracy::testing::{Event, record};

fn plot(events: &[Event], name: &str) -> Option<f64> {
    let mut found = events.iter().filter_map(|e| match e {
        Event::Plot { name: n, value } if *n == name => Some(*value),
        _ => None,
    });
    let value = found.next();
    assert!(found.next().is_none(), "{name} set twice in one tick");
    value
}

#[test]
fn instrumented_game_runs_without_a_viewer() {
    const { assert!(tickmem_tracy::ENABLED) };
    init_compute_pool(2);
    for (executor, ticks) in [(Executor::Single, 1_000), (Executor::Multi, 300)] {
        let mut world = World::new();
        let mut schedule = schedule(executor);
        game::build(&mut world, &mut schedule, Mode::Tickmem, Default::default());
        for _ in 0..ticks {
            schedule.run(&mut world);
            world.clear_trackers();
        }
        assert_eq!(world.resource::<MemoryStats>().epoch, ticks);
        assert_eq!(world.resource::<Report>().extract_missing, 0);
    }
}

#[test]
fn one_tick_emits_one_frame_mark_and_the_plots() {
    init_compute_pool(2);
    let mut world = World::new();
    let mut schedule = schedule(Executor::Single);
    game::build(&mut world, &mut schedule, Mode::Tickmem, Default::default());
    for _ in 0..50 {
        schedule.run(&mut world);
    }
    // What the boundary of the next tick will describe: this tick's end.
    let finished = world.resource::<FrameMemory>().stats();
    let live = world.resource::<EntityPool<game::Bullet>>().live();
    let ((), events) = record(|| schedule.run(&mut world));
    let stats = world.resource::<MemoryStats>().clone();

    let marks = events
        .iter()
        .filter(|e| matches!(e, Event::FrameMark))
        .count();
    assert_eq!(marks, 1, "{events:?}");
    assert_eq!(
        plot(&events, "tickmem/frame_bytes"),
        Some(finished.bytes_this_frame as f64)
    );
    assert_eq!(
        plot(&events, "tickmem/frame_bytes"),
        Some(stats.frame_bytes as f64)
    );
    assert!(stats.frame_bytes > 0);
    assert_eq!(
        plot(&events, "tickmem/frame_reserved"),
        Some(finished.bytes_reserved as f64)
    );
    assert_eq!(
        plot(&events, "tickmem/scratch_reserved"),
        Some(stats.scratch_reserved as f64)
    );
    assert_eq!(
        plot(&events, "tickmem/scratch_in_use"),
        Some(stats.scratch_in_use as f64)
    );
    assert_eq!(plot(&events, "tickmem/scratch_bytes"), None, "renamed");
    assert_eq!(
        plot(&events, "tickmem/allocs_per_frame"),
        stats.global_alloc_calls.map(|c| c as f64)
    );
    assert_eq!(plot(&events, "tickmem/pool_live/Bullet"), Some(live as f64));
    assert_eq!(live, game::LIVE_BULLETS);
    assert_eq!(
        plot(&events, "tickmem/pool_live/Enemy"),
        Some(game::ENEMIES as f64)
    );
    // Zones around the boundary and its parts, each once per tick.
    let entered = |zone: &str| {
        events
            .iter()
            .filter(|e| matches!(e, Event::ZoneEnter { name } if *name == zone))
            .count()
    };
    for zone in [
        "tickmem::frame_boundary",
        "tickmem::begin_frame",
        "tickmem::pool_flush",
    ] {
        assert_eq!(entered(zone), 1, "{zone} in {events:?}");
    }
    // No zone is ever opened inside a zone of the same name (the same work
    // shown twice, from two call sites).
    let mut open: Vec<&str> = Vec::new();
    for e in &events {
        match e {
            Event::ZoneEnter { name } => {
                assert!(!open.contains(name), "{name} nested in itself: {events:?}");
                open.push(name);
            }
            Event::ZoneExit { name } => assert_eq!(open.pop(), Some(*name)),
            _ => {}
        }
    }
    // (`tickmem::scratch_trim` is scratch's own zone, once per trim period of
    // the thread: period ends come from the boundary's request and from
    // scope counts, so it may appear several times, never nested.)
    // No budget configured: no message.
    assert!(!events.iter().any(|e| matches!(e, Event::Message(_))));
}

#[test]
fn budget_overrun_sends_a_message() {
    let mut world = World::new();
    let mut schedule = schedule(Executor::Single);
    tickmem_ecs::install_with_config(
        &mut world,
        &mut schedule,
        TickmemConfig::default().with_budget(0, 0),
    );
    schedule.add_systems(|| drop(std::hint::black_box(Box::new(1u64))));
    schedule.run(&mut world);
    let ((), events) = record(|| schedule.run(&mut world));
    let messages: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(messages.len(), 1, "{events:?}");
    let overrun = world
        .resource::<MemoryStats>()
        .last_overrun
        .clone()
        .expect("overrun");
    assert_eq!(*messages[0], overrun.to_string());
    assert!(
        messages[0].contains("allocation budget overrun in tick 1")
            && messages[0].contains("over a budget of 0"),
        "{}",
        messages[0]
    );
    // With attribution, the message carries the first offender (the capture
    // is process-wide: another test of this binary may have made the first
    // call, so only its presence is checked here; `offender.rs` checks the
    // contents in a binary of its own).
    if cfg!(feature = "attribution") {
        let offender = overrun.offender.expect("captured");
        assert!(
            messages[0].ends_with(&format!("; {offender}")),
            "{}",
            messages[0]
        );
    }
}

/// With attribution, each system's calls of the finished tick are plotted as
/// `tickmem/allocs/<system>`, and what no system made as
/// `tickmem/allocs/(outside systems)`.
#[cfg(feature = "attribution")]
#[test]
fn per_system_allocation_plots() {
    fn two_boxes() {
        drop(std::hint::black_box(Box::new(1u32)));
        drop(std::hint::black_box(Box::new(2u32)));
    }
    let mut world = World::new();
    let mut schedule = schedule(Executor::Single);
    tickmem_ecs::install(&mut world, &mut schedule);
    schedule.add_systems(two_boxes);
    for _ in 0..3 {
        schedule.run(&mut world);
    }
    let ((), events) = record(|| schedule.run(&mut world));
    assert_eq!(plot(&events, "tickmem/allocs/two_boxes"), Some(4.0));
    let stats = world.resource::<MemoryStats>();
    let outside = stats.system("(outside systems)").unwrap();
    assert_eq!(
        plot(&events, "tickmem/allocs/(outside systems)"),
        Some(outside.calls as f64)
    );
    assert_eq!(
        tickmem_tracy::testing::plot_format("tickmem/allocs/two_boxes"),
        Some(tickmem_tracy::PlotFormat::Number)
    );
}
