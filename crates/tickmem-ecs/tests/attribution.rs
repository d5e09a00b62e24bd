//! Per-system attribution (feature `attribution`): what each system
//! allocated in the last tick, under both executors and with bevy_app; what
//! no system made shows up as `(outside systems)`. Wrapping a system keeps
//! its behaviour: access (no data race under the multi-threaded executor),
//! change detection, run conditions, exclusive access, panics.
#![cfg(feature = "attribution")]

#[global_allocator]
static GLOBAL: tickmem_track::CountingAlloc = tickmem_track::CountingAlloc::system();

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};

use bevy_ecs::prelude::*;
use common::{Executor, init_compute_pool, schedule};
use tickmem_ecs::{Frame, MemoryStats, SystemAllocStats};

/// Three boxes of 8, 16 and 24 bytes, allocated and freed: 6 calls, 48 bytes.
fn three_boxes() {
    drop(black_box(Box::new([0u8; 8])));
    drop(black_box(Box::new([0u8; 16])));
    drop(black_box(Box::new([0u8; 24])));
}

/// 256 bytes of frame memory, no global-allocator call.
fn frame_user(frame: Frame) {
    black_box(frame.alloc_slice_copy(&[1u8; 256]));
}

fn quiet(mut n: Local<u32>) {
    *n += 1;
}

fn exclusive_vec(world: &mut World) {
    black_box(world.id());
    drop(black_box(vec![0u64; 10]));
}

fn entry<'a>(stats: &'a MemoryStats, name: &str) -> &'a SystemAllocStats {
    stats
        .system(name)
        .unwrap_or_else(|| panic!("no {name} in {:#?}", stats.systems))
}

fn game(executor: Executor) -> (World, Schedule) {
    let mut world = World::new();
    let mut schedule = schedule(executor);
    tickmem_ecs::install(&mut world, &mut schedule);
    schedule.add_systems((three_boxes, frame_user, quiet, exclusive_vec));
    (world, schedule)
}

#[test]
fn every_system_reports_its_own_calls_bytes_and_frame_bytes() {
    init_compute_pool(2);
    for executor in [Executor::Single, Executor::Multi] {
        let (mut world, mut schedule) = game(executor);
        for _ in 0..5 {
            schedule.run(&mut world);
        }
        let stats = world.resource::<MemoryStats>();
        let boxes = entry(stats, "three_boxes");
        assert_eq!(
            (
                boxes.runs,
                boxes.calls,
                boxes.bytes_allocated,
                boxes.frame_bytes
            ),
            (1, 6, 48, 0),
            "{executor:?}"
        );
        assert!(
            boxes.path.ends_with("attribution::three_boxes"),
            "{}",
            boxes.path
        );
        let frame = entry(stats, "frame_user");
        assert_eq!((frame.runs, frame.frame_bytes), (1, 256), "{executor:?}");
        // The first frame allocation on a thread creates its lane (a few
        // global-allocator calls): under the multi-threaded executor the
        // system may meet a new worker thread in any tick, and that is its
        // own call, rightly charged to it.
        if executor == Executor::Single {
            assert_eq!(frame.calls, 0);
        }
        let q = entry(stats, "quiet");
        assert_eq!((q.runs, q.calls), (1, 0));
        let ex = entry(stats, "exclusive_vec");
        assert_eq!(
            (ex.runs, ex.calls, ex.bytes_allocated),
            (1, 2, 80),
            "{executor:?}"
        );
        // The boundary itself is a system too; everything else is outside.
        let boundary = entry(stats, "frame_boundary");
        assert_eq!(boundary.path, "tickmem::frame_boundary");
        assert_eq!(boundary.runs, 1);
        let outside = stats.systems.last().unwrap();
        assert_eq!(outside.name, "(outside systems)");
        let total: u64 = stats.systems.iter().map(|s| s.calls).sum();
        // Other tests of this binary allocate in parallel: the tick's
        // process-wide count is at least the sum.
        assert!(stats.global_alloc_calls.unwrap() >= total - outside.calls);
        // The top list is ordered by calls.
        let top = stats.top_systems(2);
        assert!(top[0].calls >= top[1].calls);
    }
}

#[test]
fn wrapped_exclusive_systems_stay_exclusive() {
    let (mut world, mut schedule) = game(Executor::Multi);
    schedule.run(&mut world);
    let mut seen = 0;
    for (_, system) in schedule.systems_with_access().unwrap() {
        let name = system.system().name().to_string();
        if name.ends_with("exclusive_vec") || name == "tickmem::frame_boundary" {
            assert!(system.access().is_exclusive(), "{name}");
            seen += 1;
        } else if name.ends_with("three_boxes") {
            // Its own access was none; the wrapper reads `FrameMemory`.
            assert!(system.access().is_shared(), "{name}");
            seen += 1;
        }
    }
    assert_eq!(seen, 3);
}

#[test]
fn systems_added_after_the_first_tick_are_attributed() {
    let (mut world, mut schedule) = game(Executor::Single);
    schedule.run(&mut world);
    fn late() {
        drop(black_box(vec![1u8; 33]));
    }
    schedule.add_systems(late);
    schedule.run(&mut world);
    schedule.run(&mut world);
    let stats = world.resource::<MemoryStats>();
    let late = entry(stats, "late");
    assert_eq!((late.runs, late.calls, late.bytes_allocated), (1, 2, 33));
    // The systems wrapped earlier are still counted once, not twice.
    assert_eq!(entry(stats, "three_boxes").calls, 6);
}

#[test]
fn another_schedule_of_the_world_can_be_attributed() {
    let (mut world, mut schedule) = game(Executor::Single);
    let mut render = Schedule::new(RenderSchedule);
    fn render_step() {
        drop(black_box(Box::new(0u32)));
    }
    render.add_systems(render_step);
    tickmem_ecs::attribute(&mut world, &mut render);
    for _ in 0..3 {
        schedule.run(&mut world);
        render.run(&mut world);
    }
    let r = entry(world.resource::<MemoryStats>(), "render_step");
    assert_eq!((r.runs, r.calls), (1, 2));
}

#[derive(bevy_ecs::schedule::ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
struct RenderSchedule;

#[derive(Resource, Default)]
struct Shared(u64);

static IN_USE: AtomicBool = AtomicBool::new(false);
static OVERLAPS: AtomicU32 = AtomicU32::new(0);

/// Writes `Shared`: two instances (`ID` 0 and 1) must never run at once.
fn writer<const ID: u8>(mut shared: ResMut<Shared>) {
    if IN_USE.swap(true, SeqCst) {
        OVERLAPS.fetch_add(1, SeqCst);
    }
    std::thread::sleep(std::time::Duration::from_micros(300));
    shared.0 += 1;
    IN_USE.store(false, SeqCst);
}

/// Reads nothing of `Shared`: free to run beside the writers.
fn bystander(mut n: Local<u64>) {
    std::thread::sleep(std::time::Duration::from_micros(300));
    *n += 1;
}

#[test]
fn wrapped_systems_keep_their_access_under_the_multi_threaded_executor() {
    init_compute_pool(2);
    let mut world = World::new();
    world.init_resource::<Shared>();
    let mut schedule = schedule(Executor::Multi);
    tickmem_ecs::install(&mut world, &mut schedule);
    // Ambiguous order on purpose: only the access keeps them apart.
    schedule.add_systems((writer::<0>, writer::<1>, bystander));
    for _ in 0..50 {
        schedule.run(&mut world);
    }
    assert_eq!(
        OVERLAPS.load(SeqCst),
        0,
        "two writers of one resource ran at once"
    );
    assert_eq!(world.resource::<Shared>().0, 100);
    let stats = world.resource::<MemoryStats>();
    assert_eq!(entry(stats, "writer<0>").runs, 1);
}

#[derive(Component)]
struct Hp(u32);

#[derive(Resource, Default)]
struct ChangedSeen(Vec<u32>);

fn count_changed(q: Query<&Hp, Changed<Hp>>, mut seen: ResMut<ChangedSeen>) {
    seen.0.push(q.iter().count() as u32);
}

#[test]
fn change_detection_survives_wrapping_and_rebuilds() {
    let mut world = World::new();
    world.init_resource::<ChangedSeen>();
    world.spawn(Hp(1));
    world.spawn(Hp(2));
    let mut schedule = Schedule::default();
    tickmem_ecs::install(&mut world, &mut schedule);
    schedule.add_systems(count_changed);
    schedule.run(&mut world); // both new: 2
    schedule.run(&mut world); // nothing changed: 0
    // A rebuild (a system added) must not make old changes look new.
    schedule.add_systems(quiet);
    schedule.run(&mut world); // 0
    if let Some(mut hp) = world.query::<&mut Hp>().iter_mut(&mut world).next() {
        hp.0 += 1;
    }
    schedule.run(&mut world); // 1
    assert_eq!(world.resource::<ChangedSeen>().0, [2, 0, 0, 1]);
}

#[test]
fn run_conditions_still_decide() {
    let mut world = World::new();
    let mut schedule = Schedule::default();
    tickmem_ecs::install(&mut world, &mut schedule);
    fn never() -> bool {
        false
    }
    fn gated() {
        drop(black_box(Box::new(1u8)));
    }
    schedule.add_systems(gated.run_if(never));
    for _ in 0..3 {
        schedule.run(&mut world);
    }
    let g = entry(world.resource::<MemoryStats>(), "gated");
    assert_eq!((g.runs, g.calls), (0, 0));
}

#[test]
fn a_panicking_system_leaves_no_stale_tag() {
    let mut world = World::new();
    let mut schedule = Schedule::default();
    tickmem_ecs::install(&mut world, &mut schedule);
    fn boom() {
        std::panic::resume_unwind(Box::new("system failed"));
    }
    schedule.add_systems(boom);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| schedule.run(&mut world)));
    assert!(r.is_err());
    assert_eq!(tickmem_track::attribution::current(), None);
}

#[test]
fn commands_of_wrapped_systems_are_applied() {
    #[derive(Component)]
    struct Spawned;
    let mut world = World::new();
    let mut schedule = Schedule::default();
    tickmem_ecs::install(&mut world, &mut schedule);
    fn spawner(mut commands: Commands) {
        commands.spawn(Spawned);
    }
    fn counter(q: Query<(), With<Spawned>>, mut n: Local<usize>) {
        *n = q.iter().count();
        assert!(*n <= 3);
    }
    schedule.add_systems((spawner, counter).chain());
    for _ in 0..3 {
        schedule.run(&mut world);
    }
    assert_eq!(world.query::<&Spawned>().iter(&world).count(), 3);
}

#[cfg(feature = "bevy_app")]
mod app {
    use super::*;
    use bevy_app::{App, PostUpdate, Update};
    use tickmem_ecs::TickmemPlugin;

    fn update_boxes() {
        drop(black_box(Box::new([0u8; 40])));
    }

    #[test]
    fn the_plugin_attributes_every_schedule_of_the_main_loop() {
        init_compute_pool(2);
        let mut app = App::new();
        app.add_plugins(TickmemPlugin::default());
        app.add_systems(Update, update_boxes);
        for _ in 0..5 {
            app.update();
        }
        // A schedule added after the first updates is found too.
        fn late_step() {
            drop(black_box(vec![0u8; 5]));
        }
        app.add_systems(PostUpdate, late_step);
        for _ in 0..5 {
            app.update();
        }
        let stats = app.world().resource::<MemoryStats>();
        let u = entry(stats, "update_boxes");
        assert_eq!((u.runs, u.calls, u.bytes_allocated), (1, 2, 40));
        assert!(stats.system("late_step").is_some(), "{:#?}", stats.systems);
        // bevy_app's multi-threaded executors spawn tasks every update:
        // that is outside any system.
        let outside = stats.system("(outside systems)").unwrap();
        assert!(outside.calls > 0, "{:#?}", stats.systems);
    }
}

/// Sync points inserted by bevy's own build pass (before ours) must not
/// stop the wrapping: systems with `Commands` in a chain are attributed.
#[test]
fn schedules_with_auto_inserted_sync_points_are_attributed() {
    #[derive(Component)]
    struct Marker;
    let mut world = World::new();
    let mut schedule = Schedule::default();
    fn spawn_one(mut commands: Commands) {
        commands.spawn(Marker);
    }
    fn boxes_after() {
        drop(black_box(Box::new([0u8; 12])));
    }
    schedule.add_systems((spawn_one, boxes_after).chain());
    tickmem_ecs::attribute(&mut world, &mut schedule);
    schedule.run(&mut world);
    let stats = tickmem_ecs::take_system_stats(&mut world);
    let b = stats
        .iter()
        .find(|s| s.name == "boxes_after")
        .expect("wrapped");
    assert_eq!((b.runs, b.calls, b.bytes_allocated), (1, 2, 12));
    assert_eq!(world.query::<&Marker>().iter(&world).count(), 1);
}

#[test]
fn attribution_can_be_turned_off_per_world() {
    let mut world = World::new();
    let mut schedule = Schedule::default();
    tickmem_ecs::install_with_config(
        &mut world,
        &mut schedule,
        tickmem_ecs::TickmemConfig::default().with_attribution(false),
    );
    schedule.add_systems(three_boxes);
    for _ in 0..3 {
        schedule.run(&mut world);
    }
    assert!(world.resource::<MemoryStats>().systems.is_empty());
    // Not wrapped: the system keeps its own (empty) access.
    for (_, system) in schedule.systems_with_access().unwrap() {
        if system.system().name().to_string().ends_with("three_boxes") {
            assert!(system.access().is_none());
        }
    }
}
