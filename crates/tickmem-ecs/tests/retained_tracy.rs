//! With the `tracy` feature: each `Retained` buffer is plotted every tick
//! (`tickmem/retained/<system>/<buffer>/reserved` and `.../in_use`, bytes),
//! checked with tickmem-tracy's recording sink.
//!
//! Run with `cargo test -p tickmem-ecs --features tracy --test retained_tracy`.
#![cfg(feature = "tracy")]

use bevy_ecs::prelude::*;
use tickmem_ecs::{MemoryStats, Retained};
use tickmem_tracy::testing::{Event, record};

fn collect(mut hits: Retained<Vec<u32>>) {
    hits.extend(0..25);
}

#[test]
fn each_buffer_is_plotted_every_tick() {
    let mut world = World::new();
    let mut schedule = Schedule::default();
    tickmem_ecs::install(&mut world, &mut schedule);
    schedule.add_systems(collect);
    schedule.run(&mut world);
    let ((), events) = record(|| schedule.run(&mut world));
    let stats = world.resource::<MemoryStats>().retained[0].clone();
    // With bevy's `debug` feature (tickmem's `attribution`) systems have
    // names; without, the buffer's registration number stands in.
    let base = if stats.system.is_empty() {
        "tickmem/retained/#0/Vec<u32>".to_string()
    } else {
        format!("tickmem/retained/{}/Vec<u32>", stats.system)
    };
    let value = |suffix: &str| {
        let name = format!("{base}/{suffix}");
        events
            .iter()
            .find_map(|e| match e {
                Event::Plot { name: n, value } if **n == *name => Some(*value),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no plot {name} in {events:?}"))
    };
    assert_eq!(value("in_use"), 100.0);
    assert_eq!(value("reserved"), stats.bytes_reserved as f64);
    assert!(stats.bytes_reserved >= 100);
}
