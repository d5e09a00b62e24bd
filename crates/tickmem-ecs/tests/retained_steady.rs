//! Retained buffers in a schedule make no global-allocator call per tick
//! once warmed up (single-threaded executor, every system on this thread),
//! while their
//! loads move within the band; a spike allocates in its tick, and the one
//! shrink `quiet_ticks` later is the only other tick that calls the
//! allocator.
//!

#[global_allocator]
static GLOBAL: tickmem_track::CountingAlloc = tickmem_track::CountingAlloc::system();

mod common;

use std::collections::VecDeque;

use bevy_ecs::prelude::*;
use common::{Executor, schedule};
use smallvec::SmallVec;
use tickmem_ecs::{Kept, MemoryStats, RetainPolicy, Retained, TickmemConfig};

const PEAK: usize = 512;
const QUIET: u32 = 8;

/// Elements each system puts in its buffer this tick.
#[derive(Resource)]
struct Load(usize);

fn vec_system(mut buf: Retained<Vec<u64>>, load: Res<Load>) {
    buf.extend(0..load.0 as u64);
}

fn deque_system(mut buf: Retained<VecDeque<u32>, Kept>, load: Res<Load>) {
    // A queue kept across ticks, trimmed to this tick's load.
    buf.truncate(load.0 / 2);
    while buf.len() < load.0 {
        let next = buf.len() as u32;
        buf.push_back(next);
    }
}

fn map_system(mut buf: Retained<hashbrown::HashMap<u32, u32>>, load: Res<Load>) {
    buf.extend((0..load.0 as u32).map(|i| (i, i * 2)));
}

fn bevy_set_system(mut buf: Retained<bevy_platform::collections::HashSet<u32>>, load: Res<Load>) {
    buf.extend(0..load.0 as u32);
}

fn small_system(mut buf: Retained<SmallVec<[u16; 16]>>, load: Res<Load>) {
    buf.extend((0..load.0).map(|i| i as u16));
}

fn warmed_up_retained_buffers_allocate_only_to_grow_and_to_shrink_once() {
    // No compute pool: nothing here uses it, so every system runs on this
    // thread.
    let mut world = World::new();
    let mut main = schedule(Executor::Single);
    let config = TickmemConfig::default().with_retained(RetainPolicy::after_quiet_ticks(QUIET));
    tickmem_ecs::install_with_config(&mut world, &mut main, config);
    world.insert_resource(Load(PEAK));
    main.add_systems((
        vec_system,
        deque_system,
        map_system,
        bevy_set_system,
        small_system,
    ));

    // This thread's calls: with the single-threaded executor and no compute
    // pool every system runs here, and the test harness's own thread (which
    // may still be printing when the first ticks run) is left out.
    let mut tick = |world: &mut World, load: usize| {
        world.resource_mut::<Load>().0 = load;
        let ((), spent) = tickmem_track::count(|| {
            main.run(world);
            world.clear_trackers();
        });
        spent.calls()
    };
    // Warm-up: the peak load, a few ticks (stats entries, names, plots).
    for _ in 0..4 {
        tick(&mut world, PEAK);
    }
    // The band: loads between half the peak and the peak, for far longer
    // than `QUIET` ticks.
    for i in 0..200usize {
        let load = PEAK / 2 + 1 + (i * 37) % (PEAK / 2);
        let calls = tick(&mut world, load);
        assert_eq!(calls, 0, "band tick {i} (load {load}) called the allocator");
    }
    let shrinks = |world: &World| -> Vec<u64> {
        world
            .resource::<MemoryStats>()
            .retained
            .iter()
            .map(|r| r.shrinks)
            .collect()
    };
    assert_eq!(shrinks(&world), [0; 5]);

    // A spike (8x), then a quarter of the peak: the spike tick grows the
    // buffers; the first tick after `QUIET` quiet ones shrinks each once;
    // nothing else allocates.
    assert!(tick(&mut world, 8 * PEAK) > 0);
    let mut allocating = Vec::new();
    for i in 0..4 * QUIET as usize {
        if tick(&mut world, PEAK / 4) > 0 {
            allocating.push(i);
        }
    }
    assert_eq!(
        allocating,
        [QUIET as usize],
        "ticks that called the allocator"
    );
    tick(&mut world, PEAK / 4);
    assert_eq!(shrinks(&world), [1; 5]);
    let stats = world.resource::<MemoryStats>();
    let vec = &stats.retained[0];
    assert_eq!(vec.capacity, PEAK / 2, "twice the quiet load");
    let small = &stats.retained[4];
    assert_eq!(small.buffer, "SmallVec<[u16; 16]>");
}

// No libtest harness (`harness = false` in Cargo.toml): the counts are
// process-wide, and libtest's main thread allocates right after it starts a
// test's thread (see `tests/housekeeping.rs`). Here no other thread runs.
fn main() {
    warmed_up_retained_buffers_allocate_only_to_grow_and_to_shrink_once();
    println!("test warmed_up_retained_buffers_allocate_only_to_grow_and_to_shrink_once ... ok");
}
