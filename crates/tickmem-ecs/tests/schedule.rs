//! The frame boundary in a real bevy_ecs schedule: it runs first, frame
//! handles live exactly one extra tick, `Frame` systems do not conflict,
//! `MemoryStats` and the budget report what happened.

#[global_allocator]
static GLOBAL: tickmem_track::CountingAlloc = tickmem_track::CountingAlloc::system();

mod common;

use std::sync::Mutex;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{LogLevel, ScheduleBuildSettings, ScheduleLabel};
use bevy_ecs::system::ReadOnlySystemParam;
use common::{Executor, init_compute_pool, schedule};
use tickmem_ecs::{
    Frame, FrameMemory, MemoryStats, ObjectPool, TickmemConfig, TickmemSet, TickmemWorldExt,
};
use tickmem_frame::FrameHandle;

/// Epochs seen by probe systems: `(probe id, epoch)`.
#[derive(Resource, Default)]
struct Seen(Vec<(u32, u64)>);

fn probe<const ID: u32>(frame: Frame, mut seen: ResMut<Seen>) {
    seen.0.push((ID, frame.epoch()));
}

fn probe_with_commands<const ID: u32>(
    frame: Frame,
    mut seen: ResMut<Seen>,
    mut commands: Commands,
) {
    seen.0.push((ID, frame.epoch()));
    commands.spawn_empty();
}

fn probe_exclusive<const ID: u32>(world: &mut World) {
    let epoch = world.resource::<FrameMemory>().epoch();
    world.resource_mut::<Seen>().0.push((ID, epoch));
}

#[test]
fn boundary_runs_before_every_system_under_both_executors() {
    init_compute_pool(2);
    for executor in [Executor::Single, Executor::Multi] {
        let mut world = World::new();
        world.init_resource::<Seen>();
        let mut schedule = schedule(executor);
        // Systems added before install, after install, and after the first
        // run (which rebuilds the schedule), none ordered by hand.
        schedule.add_systems((probe::<0>, probe_exclusive::<1>));
        tickmem_ecs::install(&mut world, &mut schedule);
        schedule.add_systems((probe_with_commands::<2>, probe::<3>));
        schedule.run(&mut world);
        schedule.add_systems((probe::<4>, probe_exclusive::<5>.before(probe::<4>)));
        for tick in 2..=50u64 {
            world.resource_mut::<Seen>().0.clear();
            schedule.run(&mut world);
            let seen = &world.resource::<Seen>().0;
            assert_eq!(seen.len(), 6, "{executor:?}");
            for &(id, epoch) in seen {
                assert_eq!(
                    epoch, tick,
                    "{executor:?}: probe {id} ran before the frame boundary of tick {tick}"
                );
            }
        }
    }
}

#[test]
fn ordering_a_system_before_the_boundary_fails_to_build() {
    let mut world = World::new();
    world.init_resource::<Seen>();
    let mut schedule = Schedule::default();
    tickmem_ecs::install(&mut world, &mut schedule);
    schedule.add_systems(probe::<0>.before(TickmemSet::FrameBoundary));
    let Err(err) = schedule.initialize(&mut world) else {
        panic!("a system ordered before the frame boundary must not build");
    };
    let text = err.to_string(schedule.graph(), &world);
    assert!(text.contains("cycle"), "{text}");
}

#[test]
fn ordering_relative_to_the_set_works() {
    let mut world = World::new();
    world.init_resource::<Seen>();
    let mut schedule = Schedule::default();
    tickmem_ecs::install(&mut world, &mut schedule);
    schedule.add_systems(probe::<0>.after(TickmemSet::FrameBoundary));
    schedule.run(&mut world);
    assert_eq!(world.resource::<Seen>().0, [(0, 1)]);
}

#[test]
fn installing_twice_in_one_schedule_adds_one_boundary() {
    let mut world = World::new();
    let mut schedule = Schedule::default();
    tickmem_ecs::install(&mut world, &mut schedule);
    tickmem_ecs::install_with_config(
        &mut world,
        &mut schedule,
        TickmemConfig::default().with_budget(5, 1),
    );
    for _ in 0..4 {
        schedule.run(&mut world);
    }
    assert_eq!(world.resource::<FrameMemory>().epoch(), 4);
    assert_eq!(
        world
            .resource::<TickmemConfig>()
            .budget
            .unwrap()
            .max_calls_per_tick,
        5
    );
}

#[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
struct Other;

#[test]
#[should_panic(expected = "tickmem is already installed in schedule")]
fn installing_in_a_second_schedule_panics() {
    let mut world = World::new();
    let mut first = Schedule::default();
    tickmem_ecs::install(&mut world, &mut first);
    tickmem_ecs::install(&mut world, &mut Schedule::new(Other));
}

/// Issue 15, item 6: two schedules with the same label (both
/// `Schedule::default()`) are two schedules: the arena would advance twice
/// per tick and a handle persisted in one tick would read `None` in the next.
#[test]
#[should_panic(expected = "tickmem is already installed in schedule")]
fn installing_in_a_second_schedule_with_the_same_label_panics() {
    let mut world = World::new();
    let mut first = Schedule::default();
    let mut second = Schedule::default();
    tickmem_ecs::install(&mut world, &mut first);
    tickmem_ecs::install(&mut world, &mut second);
}

/// A schedule that was dropped no longer holds the boundary: installing
/// into its replacement is allowed, and the arena still advances once per
/// tick.
#[test]
fn installing_after_the_first_schedule_was_dropped_is_allowed() {
    let mut world = World::new();
    let mut first = Schedule::default();
    tickmem_ecs::install(&mut world, &mut first);
    first.run(&mut world);
    drop(first);
    let mut second = Schedule::new(Other);
    tickmem_ecs::install(&mut world, &mut second);
    second.run(&mut world);
    second.run(&mut world);
    assert_eq!(world.resource::<FrameMemory>().epoch(), 3);
}

#[test]
fn frame_systems_never_conflict() {
    fn assert_read_only<P: ReadOnlySystemParam>() {}
    assert_read_only::<Frame<'static>>();

    let mut world = World::new();
    world.init_resource::<Seen>();
    let mut schedule = Schedule::default();
    schedule.set_build_settings(ScheduleBuildSettings {
        ambiguity_detection: LogLevel::Error,
        ..Default::default()
    });
    tickmem_ecs::install(&mut world, &mut schedule);
    let a = |frame: Frame| {
        frame.alloc(1u64);
    };
    let b = |frame: Frame| {
        frame.alloc_slice_copy(&[2u32; 4]);
    };
    let c = |frame: Frame, q: Query<Entity>| {
        let mut v = frame.vec();
        v.extend(q.iter());
    };
    schedule.add_systems((a, b, c));
    // Unordered systems sharing `Frame`: no ambiguity error.
    schedule.initialize(&mut world).expect("no conflicts");
    let conflicts = schedule.graph().conflicting_systems();
    assert!(conflicts.is_empty(), "{} conflicts", conflicts.len());
    schedule.run(&mut world);
    schedule.run(&mut world);
    // `c`'s vector gave its block back when dropped: it is not in use at the
    // end of the tick, but it was bumped.
    let stats = world.resource::<MemoryStats>();
    assert!(stats.frame_bytes > 8 + 16, "{stats:?}");
    assert!(stats.frame_peak >= 8 + 16 && stats.frame_bytes >= stats.frame_peak);
}

#[derive(Resource, Default)]
struct Handles(Vec<FrameHandle<[u64; 4]>>);

#[derive(Component)]
struct Carrier(FrameHandle<[u64; 4]>);

fn persist_one(frame: Frame, mut handles: ResMut<Handles>, mut commands: Commands) {
    let h = frame.persist([frame.epoch(); 4]);
    handles.0.push(h);
    commands.spawn(Carrier(h));
}

#[test]
fn frame_handles_live_for_the_next_tick_only() {
    let mut world = World::new();
    world.init_resource::<Handles>();
    let mut schedule = Schedule::default();
    tickmem_ecs::install(&mut world, &mut schedule);
    schedule.add_systems(persist_one);
    for tick in 1..=20u64 {
        schedule.run(&mut world);
        let memory = world.resource::<FrameMemory>();
        for (made, &h) in (1u64..).zip(&world.resource::<Handles>().0) {
            let expected = (tick - made <= 1).then_some([made; 4]);
            assert_eq!(memory.get(h).copied(), expected, "made {made}, now {tick}");
        }
        // The same through components.
        let mut q = world.query::<&Carrier>();
        let memory = world.resource::<FrameMemory>();
        let live = q.iter(&world).filter(|c| memory.get(c.0).is_some()).count();
        assert_eq!(live, tick.min(2) as usize);
    }
    // A handle from another world's arena reads None.
    let mut other = World::new();
    tickmem_ecs::install(&mut other, &mut Schedule::default());
    let foreign = other.resource::<FrameMemory>().persist([0u64; 4]);
    assert_eq!(world.resource::<FrameMemory>().get(foreign), None);
}

/// Budget checks count the whole process: keep tests that need a quiet
/// process apart from each other.
static PROCESS: Mutex<()> = Mutex::new(());

fn allocate_every_tick() {
    std::hint::black_box(Box::new([0u8; 32]));
}

#[test]
fn budget_overrun_is_reported() {
    let _quiet = PROCESS.lock().unwrap_or_else(|p| p.into_inner());
    let mut world = World::new();
    let mut schedule = Schedule::default();
    tickmem_ecs::install_with_config(
        &mut world,
        &mut schedule,
        TickmemConfig::default().with_budget(0, 2),
    );
    schedule.add_systems(allocate_every_tick);
    for _ in 0..10 {
        schedule.run(&mut world);
    }
    let stats = world.resource::<MemoryStats>();
    // Ticks 1 and 2 are warm-up; 3..=9 have been checked (tick 10's check
    // comes at the next boundary). Each allocates and frees a box.
    assert_eq!(stats.budget_overruns, 7, "{stats:?}");
    let overrun = stats.last_overrun.as_ref().expect("reported");
    assert_eq!((overrun.epoch, overrun.max_calls), (9, 0));
    assert!(overrun.calls >= 2, "{overrun:?}");
    assert!(
        overrun
            .to_string()
            .contains("allocation budget overrun in tick 9")
    );
    assert!(stats.global_alloc_calls.unwrap() >= 2);
}

#[test]
fn budget_can_be_changed_at_run_time() {
    let _quiet = PROCESS.lock().unwrap_or_else(|p| p.into_inner());
    let mut world = World::new();
    let mut schedule = Schedule::default();
    tickmem_ecs::install(&mut world, &mut schedule);
    schedule.add_systems(allocate_every_tick);
    for _ in 0..5 {
        schedule.run(&mut world);
    }
    assert_eq!(
        world.resource::<MemoryStats>().budget_overruns,
        0,
        "no budget"
    );
    world.resource_mut::<TickmemConfig>().budget = Some(tickmem_ecs::AllocBudget {
        max_calls_per_tick: 0,
        warm_up_ticks: 0,
    });
    for _ in 0..5 {
        schedule.run(&mut world);
    }
    assert_eq!(world.resource::<MemoryStats>().budget_overruns, 4);
}

#[derive(Component)]
struct Thing;

struct Enemy;

/// The arena's stats at the end of the last two ticks.
#[derive(Resource, Default)]
struct EndOfTick {
    previous: Option<tickmem_frame::FrameStats>,
    last: Option<tickmem_frame::FrameStats>,
}

fn end_of_tick(world: &mut World) {
    let now = world.resource::<FrameMemory>().stats();
    let mut end = world.resource_mut::<EndOfTick>();
    end.previous = end.last.replace(now);
}

#[test]
fn memory_stats_describe_the_last_tick() {
    let mut world = World::new();
    world.init_resource::<EndOfTick>();
    let mut schedule = Schedule::default();
    tickmem_ecs::install(&mut world, &mut schedule);
    world.register_entity_pool::<Thing>();
    world.register_object_pool::<Enemy>();
    let allocate =
        |frame: Frame, mut bytes: Local<usize>, mut pool: tickmem_ecs::PoolCommands<Thing>| {
            *bytes += 100;
            frame.alloc_slice_fill_with(*bytes, |_| 0u8);
            pool.acquire(Thing);
        };
    schedule.add_systems((allocate, end_of_tick).chain());
    {
        let mut enemies = world.resource_mut::<ObjectPool<Enemy>>();
        enemies.insert(Enemy);
        enemies.insert(Enemy);
    }
    for _ in 0..3 {
        schedule.run(&mut world);
    }
    // Published at the start of tick 3, about tick 2.
    let tick2 = world.resource::<EndOfTick>().previous.unwrap();
    let stats = world.resource::<MemoryStats>();
    assert_eq!(stats.epoch, 3);
    assert_eq!((stats.frame_bytes, stats.frame_bytes_before), (200, 100));
    assert_eq!(stats.frame_bytes, tick2.bytes_this_frame);
    assert_eq!(stats.frame_high_water, 200);
    assert_eq!(stats.frame_reserved, tick2.bytes_reserved);
    assert_eq!(stats.frame_chunks, tick2.chunks);
    assert_eq!(stats.frame_lanes, tick2.lanes);
    // And the arena agrees now that tick 2 is "last frame".
    assert_eq!(
        world.resource::<FrameMemory>().stats().bytes_last_frame,
        200
    );
    let stats = world.resource::<MemoryStats>();
    let thing = stats.pool("Thing").unwrap();
    assert_eq!((thing.kind, thing.live), (tickmem_ecs::PoolKind::Entity, 2));
    let enemy = stats.pool("Enemy").unwrap();
    assert_eq!((enemy.kind, enemy.live), (tickmem_ecs::PoolKind::Object, 2));
    assert!(stats.global_alloc_calls.is_some());
}

#[test]
fn first_tick_counts_from_install() {
    let _quiet = PROCESS.lock().unwrap_or_else(|p| p.into_inner());
    let before = tickmem_track::global_stats().calls();
    let mut world = World::new();
    let mut schedule = Schedule::default();
    tickmem_ecs::install(&mut world, &mut schedule);
    schedule.run(&mut world);
    let since_start = tickmem_track::global_stats().calls();
    let first = world.resource::<MemoryStats>().global_alloc_calls.unwrap();
    // Not everything since the process started (other tests may allocate
    // meanwhile, so only an upper bound is exact).
    assert!(
        first <= since_start - before,
        "{first} > {}",
        since_start - before
    );
}

#[test]
fn scratch_in_par_iter_jobs_under_the_multi_threaded_executor() {
    #[derive(Component)]
    struct Value(u64);

    init_compute_pool(2);
    let mut world = World::new();
    let mut schedule = schedule(Executor::Multi);
    tickmem_ecs::install(&mut world, &mut schedule);
    world.spawn_batch((0..2_000u64).map(Value));
    schedule.add_systems(|mut q: Query<&mut Value>| {
        q.par_iter_mut().for_each(|mut v| {
            // Digits of the value, reversed, in scratch memory.
            let n = v.0;
            v.0 = tickmem_scratch::with(|s| {
                let mut digits = s.vec::<u64>();
                let mut m = n;
                loop {
                    digits.push(m % 10);
                    m /= 10;
                    if m == 0 {
                        break;
                    }
                }
                digits.iter().fold(0, |acc, d| acc * 10 + d)
            });
        });
    });
    schedule.run(&mut world);
    let mut q = world.query::<&Value>();
    let mut got: Vec<u64> = q.iter(&world).map(|v| v.0).collect();
    got.sort_unstable();
    let mut want: Vec<u64> = (0..2_000u64)
        .map(|n| {
            n.to_string()
                .chars()
                .rev()
                .collect::<String>()
                .parse()
                .unwrap()
        })
        .collect();
    want.sort_unstable();
    assert_eq!(got, want);
    // All scopes closed; the next boundary publishes what they hold.
    schedule.run(&mut world);
    assert_eq!(world.resource::<MemoryStats>().scratch_in_use, 0);
    assert!(world.resource::<MemoryStats>().scratch_reserved > 0);
}

#[cfg(feature = "bevy_app")]
mod app {
    use bevy_app::{App, First, PostUpdate, PreUpdate, Update};
    use bevy_ecs::prelude::*;
    use tickmem_ecs::{Frame, MemoryStats, TickmemConfig, TickmemPlugin};

    use super::Seen;

    fn probe(frame: Frame, mut seen: ResMut<Seen>) {
        let epoch = *frame.alloc(frame.epoch());
        seen.0.push((0, epoch));
    }

    #[test]
    fn plugin_runs_the_boundary_before_every_schedule() {
        let mut app = App::new();
        app.init_resource::<Seen>();
        app.add_plugins(TickmemPlugin::new(
            TickmemConfig::default()
                .with_frame(tickmem_frame::FrameConfig::default().lane_capacity(4096)),
        ));
        app.add_systems(First, probe)
            .add_systems(PreUpdate, probe)
            .add_systems(Update, probe)
            .add_systems(PostUpdate, probe);
        for update in 1..=10u64 {
            app.world_mut().resource_mut::<Seen>().0.clear();
            app.update();
            let seen = &app.world().resource::<Seen>().0;
            assert_eq!(seen.len(), 4);
            assert!(seen.iter().all(|&(_, e)| e == update), "{seen:?}");
        }
        let stats = app.world().resource::<MemoryStats>();
        assert_eq!(stats.epoch, 10);
        assert_eq!(stats.frame_bytes, 4 * 8, "four probes, one u64 each");
        let memory = app.world().resource::<tickmem_ecs::FrameMemory>();
        assert_eq!(memory.config().lane_capacity, 4096, "the plugin's config");
    }
}
