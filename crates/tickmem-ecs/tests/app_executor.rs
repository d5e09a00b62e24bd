//! bevy_app with zero calls per tick (issue 16): with `TickmemPlugin` in a
//! default `App`, bevy's multi-threaded executors allocate every update
//! (the calls are counted and printed); with
//! `TickmemPlugin::single_threaded()` a warmed-up update makes none, also
//! for schedules added after the app was built.
//!
//! Its own binary: counts are process-wide.
#![cfg(feature = "bevy_app")]

#[global_allocator]
static GLOBAL: tickmem_track::CountingAlloc = tickmem_track::CountingAlloc::system();

use bevy_app::{App, FixedUpdate, PostUpdate, PreUpdate, Update};
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::ScheduleLabel;
use tickmem_ecs::{Frame, FrameReader, FrameWriter, TickmemPlugin};

#[derive(Component)]
struct Pos(f32);

tickmem_frame::frame_data! { Xs<'f> = &'f [f32]; }

fn collect(mut out: FrameWriter<Xs>, q: Query<&Pos>) {
    let n = q.iter().len();
    let mut xs = q.iter().map(|p| p.0);
    out.publish(|f| &*f.alloc_slice_fill_with(n, |_| xs.next().unwrap_or(0.0)));
}

fn sum(xs: FrameReader<Xs>, mut total: Local<f64>) {
    *total += xs
        .get()
        .map_or(0.0, |x| x.iter().map(|&v| f64::from(v)).sum());
}

fn step(mut q: Query<&mut Pos>) {
    for mut p in &mut q {
        p.0 += 1.0;
    }
}

fn scratch_work(frame: Frame) {
    let v = frame.alloc_slice_fill_with(128, |i| i as u32);
    tickmem_scratch::with(|s| s.alloc_slice_copy(v).len());
}

#[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
struct Late;

fn app(single_threaded: bool) -> App {
    let mut app = App::new();
    let plugin = if single_threaded {
        TickmemPlugin::default().single_threaded()
    } else {
        TickmemPlugin::default()
    };
    app.add_plugins(plugin)
        .add_systems(PreUpdate, step)
        .add_systems(Update, (collect, (sum, scratch_work)).chain())
        .add_systems(Update, scratch_work)
        .add_systems(PostUpdate, sum)
        .add_systems(FixedUpdate, scratch_work);
    app.world_mut().spawn_batch((0..64).map(|i| Pos(i as f32)));
    app
}

fn calls_per_update(app: &mut App, updates: usize) -> Vec<u64> {
    (0..updates)
        .map(|_| {
            let before = tickmem_track::global_stats().calls();
            app.update();
            tickmem_track::global_stats().calls() - before
        })
        .collect()
}

fn the_default_executors_allocate_and_single_threaded_makes_zero() {
    // Default: bevy's multi-threaded executor spawns tasks every update.
    let mut default = app(false);
    calls_per_update(&mut default, 20);
    let calls = calls_per_update(&mut default, 50);
    let (min, max) = (calls.iter().min().unwrap(), calls.iter().max().unwrap());
    let mean = calls.iter().sum::<u64>() as f64 / calls.len() as f64;
    println!("default executors: {min} to {max} calls per update (mean {mean:.1})");
    assert!(
        *min > 0,
        "bevy's multi-threaded executor allocated nothing?"
    );

    // The option: zero after warm-up (checked tick by tick).
    let mut single = app(true);
    single.finish();
    single.cleanup();
    tickmem_ecs::testing::assert_app_allocation_free(&mut single, 10, 200);

    // A schedule added later is made single-threaded at the next boundary.
    single.add_schedule(Schedule::new(Late));
    single.add_systems(Late, (scratch_work, sum));
    single.add_systems(Update, |world: &mut World| world.run_schedule(Late));
    tickmem_ecs::testing::assert_app_allocation_free(&mut single, 10, 200);

    // Without `finish` (a manual update loop), the first boundary applies it.
    // (In this one test: counts are process-wide, tests run in parallel.)
    let mut manual = app(true);
    tickmem_ecs::testing::assert_app_allocation_free(&mut manual, 10, 100);
}

// No libtest harness (`harness = false` in Cargo.toml): the counts are
// process-wide, and libtest's main thread allocates right after it starts a
// test's thread (see `tests/housekeeping.rs`). Here no other thread runs.
fn main() {
    the_default_executors_allocate_and_single_threaded_makes_zero();
    println!("test the_default_executors_allocate_and_single_threaded_makes_zero ... ok");
}
