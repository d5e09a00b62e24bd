//! `Retained` as a system parameter: cleared or kept per run, ticks are the
//! frame arena's epochs (several runs in one tick count as one), the policy
//! from `TickmemConfig`, `MemoryStats::retained` (and its cleanup when the
//! system is gone), both executors, and a panicking system.

mod common;

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use bevy_ecs::prelude::*;
use common::{Executor, init_compute_pool, schedule};
use tickmem_ecs::{Kept, MemoryStats, RetainPolicy, Retained, TickmemConfig};

/// How many elements the next run of `fill` pushes.
#[derive(Resource, Default)]
struct Load(usize);

/// What `fill` saw at the start of each run: (length, capacity).
#[derive(Resource, Default)]
struct Seen(Vec<(usize, usize)>);

fn fill(mut buf: Retained<Vec<u32>>, load: Res<Load>, mut seen: ResMut<Seen>) {
    seen.0.push((buf.len(), buf.capacity()));
    buf.extend(0..load.0 as u32);
}

fn world_with(config: TickmemConfig) -> (World, Schedule) {
    let mut world = World::new();
    let mut main = schedule(Executor::Single);
    tickmem_ecs::install_with_config(&mut world, &mut main, config);
    world.init_resource::<Load>();
    world.init_resource::<Seen>();
    (world, main)
}

#[test]
fn a_cleared_buffer_starts_every_run_empty_with_its_capacity() {
    let (mut world, mut main) = world_with(TickmemConfig::default());
    main.add_systems(fill);
    for load in [100, 3, 50, 0, 7] {
        world.resource_mut::<Load>().0 = load;
        main.run(&mut world);
    }
    let seen = &world.resource::<Seen>().0;
    assert!(seen.iter().all(|&(len, _)| len == 0), "{seen:?}");
    // The capacity of the 100-element run stays (120 quiet ticks by default).
    assert!(seen[1..].iter().all(|&(_, cap)| cap >= 100), "{seen:?}");
}

#[test]
fn a_kept_buffer_keeps_its_contents() {
    fn queue(mut q: Retained<VecDeque<u32>, Kept>, mut seen: ResMut<Seen>) {
        seen.0.push((q.len(), q.capacity()));
        let next = q.len() as u32;
        q.push_back(next);
    }
    let (mut world, mut main) = world_with(TickmemConfig::default());
    main.add_systems(queue);
    for _ in 0..4 {
        main.run(&mut world);
    }
    let lens: Vec<usize> = world.resource::<Seen>().0.iter().map(|s| s.0).collect();
    assert_eq!(lens, [0, 1, 2, 3]);
}

/// A spike, then quiet ticks: the shrink comes `quiet_ticks` *ticks* later,
/// however many times the system runs per tick (here 3, through a second
/// schedule run between ticks of the main one, as `FixedUpdate` does).
#[test]
fn ticks_are_epochs_not_runs() {
    let config = TickmemConfig::default().with_retained(RetainPolicy::after_quiet_ticks(4));
    let (mut world, mut main) = world_with(config);
    let mut fixed = schedule(Executor::Single);
    fixed.add_systems(fill);
    let mut caps = Vec::new();
    for tick in 0..10 {
        main.run(&mut world);
        for _ in 0..3 {
            world.resource_mut::<Load>().0 = if tick == 0 { 1000 } else { 10 };
            fixed.run(&mut world);
        }
        caps.push(world.resource::<Seen>().0.last().unwrap().1);
    }
    // Seen at the start of each tick's last run: the spike's capacity until
    // the first run of tick 5 (after the quiet ticks 1 to 4) shrank it to
    // twice 10.
    assert_eq!(caps, [1000, 1000, 1000, 1000, 1000, 20, 20, 20, 20, 20]);
    main.run(&mut world);
    let stats = world.resource::<MemoryStats>();
    let r = &stats.retained[0];
    assert_eq!((r.buffer.as_str(), r.shrinks, r.runs), ("Vec<u32>", 1, 30));
}

#[test]
fn memory_stats_show_each_buffer_and_forget_dropped_systems() {
    let (mut world, mut main) = world_with(TickmemConfig::default());
    world.resource_mut::<Load>().0 = 40;
    main.add_systems(fill);
    let mut side = schedule(Executor::Single);
    side.add_systems(|mut set: Retained<hashbrown::HashSet<u64>>| {
        set.extend(0..5);
    });
    main.run(&mut world);
    side.run(&mut world);
    main.run(&mut world);
    let stats = world.resource::<MemoryStats>().retained.clone();
    assert_eq!(stats.len(), 2);
    let vec = &stats[0];
    assert_eq!(vec.buffer, "Vec<u32>");
    assert_eq!((vec.len, vec.bytes_in_use), (40, 160));
    assert!(vec.capacity >= 40 && vec.bytes_reserved == vec.capacity * 4);
    assert_eq!((vec.runs, vec.shrinks), (1, 0));
    let set = &stats[1];
    assert_eq!(set.buffer, "HashSet<u64>");
    assert_eq!((set.len, set.bytes_in_use), (5, 40));
    assert!(set.bytes_reserved > set.bytes_in_use);
    if cfg!(feature = "attribution") {
        // bevy names systems with its `debug` feature (on with attribution).
        assert_eq!(vec.system, "fill");
        assert_eq!(
            world.resource::<MemoryStats>().retained_buffer("fill"),
            Some(vec)
        );
    } else {
        assert_eq!(vec.system, "");
    }
    // The side schedule, and its system's buffer, are gone.
    drop(side);
    main.run(&mut world);
    let stats = &world.resource::<MemoryStats>().retained;
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].buffer, "Vec<u32>");
}

/// Several systems with buffers, run in parallel by the multi-threaded
/// executor: each has its own buffer.
#[test]
fn parallel_systems_each_have_their_own_buffer() {
    init_compute_pool(2);
    let mut world = World::new();
    let mut main = schedule(Executor::Multi);
    tickmem_ecs::install(&mut world, &mut main);
    let total = Arc::new(AtomicUsize::new(0));
    for n in 1..=4usize {
        let total = total.clone();
        main.add_systems(move |mut buf: Retained<Vec<usize>>| {
            assert!(buf.is_empty());
            buf.extend(std::iter::repeat_n(n, n * 100));
            total.fetch_add(buf.iter().sum::<usize>(), Relaxed);
        });
    }
    for _ in 0..5 {
        main.run(&mut world);
    }
    assert_eq!(total.load(Relaxed), 5 * (100 + 400 + 900 + 1600));
    let mut lens: Vec<usize> = world
        .resource::<MemoryStats>()
        .retained
        .iter()
        .map(|r| r.len)
        .collect();
    lens.sort_unstable();
    assert_eq!(lens, [100, 200, 300, 400]);
}

/// Dropped when its system's buffer is cleared; panics if `bomb`.
struct Noisy {
    drops: Arc<AtomicUsize>,
    bomb: bool,
}

impl Drop for Noisy {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Relaxed);
        if self.bomb {
            panic!("element destructor");
        }
    }
}

#[derive(Resource)]
struct Drops(Arc<AtomicUsize>);

/// A system that panics after filling its buffer (with an element whose
/// destructor panics too): the buffer is still cleared at the end of the
/// run, every element dropped once, without aborting the process; the next
/// run starts empty.
#[test]
fn a_panicking_system_still_clears_its_buffer() {
    fn explode(mut buf: Retained<Vec<Noisy>>, drops: Res<Drops>, mut seen: ResMut<Seen>) {
        seen.0.push((buf.len(), buf.capacity()));
        for i in 0..10 {
            buf.push(Noisy {
                drops: drops.0.clone(),
                bomb: i == 3,
            });
        }
        panic!("system");
    }
    let (mut world, _main) = world_with(TickmemConfig::default());
    let drops = Arc::new(AtomicUsize::new(0));
    world.insert_resource(Drops(drops.clone()));
    // Run directly (bevy's executors hand a panic to the error handler and
    // may skip the system afterwards).
    let mut system = IntoSystem::into_system(explode);
    system.initialize(&mut world);
    for run in 1..=2 {
        let result = catch_unwind(AssertUnwindSafe(|| system.run((), &mut world)));
        assert!(result.is_err());
        assert_eq!(drops.load(Relaxed), 10 * run);
    }
    let seen = &world.resource::<Seen>().0;
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].0, 0, "the second run started empty");
}

/// Without tickmem installed, every run is a tick.
#[test]
fn without_tickmem_each_run_is_a_tick() {
    let mut world = World::new();
    world.init_resource::<Load>();
    world.init_resource::<Seen>();
    let mut s = schedule(Executor::Single);
    s.add_systems(
        |mut buf: Retained<Vec<u32>>, load: Res<Load>, mut seen: ResMut<Seen>| {
            buf.set_policy(RetainPolicy::after_quiet_ticks(2));
            seen.0.push((buf.len(), buf.capacity()));
            buf.extend(0..load.0 as u32);
        },
    );
    for run in 0..6 {
        world.resource_mut::<Load>().0 = if run == 0 { 500 } else { 5 };
        s.run(&mut world);
    }
    let caps: Vec<usize> = world.resource::<Seen>().0.iter().map(|s| s.1).collect();
    assert_eq!(caps, [0, 500, 500, 500, 10, 10]);
}
