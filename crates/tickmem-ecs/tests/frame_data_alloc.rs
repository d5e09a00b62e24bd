//! A warmed-up tick that publishes a hashbrown map and a vector as frame
//! data, and reads this tick's and last tick's values from other systems,
//! makes no global-allocator call (counted by `CountingAlloc`, process-wide).
//!
//! Its own binary: counts are process-wide.

#[global_allocator]
static GLOBAL: tickmem_track::CountingAlloc = tickmem_track::CountingAlloc::system();

use allocator_api2::vec::Vec as AVec;
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;
use hashbrown::{DefaultHashBuilder, HashMap};
use tickmem_ecs::{FrameReader, FrameWriter};
use tickmem_frame::FrameAlloc;

#[derive(Component)]
struct Cell(i32, i32);

/// Neighbour counts and the cells to look at, as in a Game of Life step.
struct Neighbours<'f> {
    counts: HashMap<(i32, i32), u8, DefaultHashBuilder, FrameAlloc<'f>>,
    candidates: AVec<(i32, i32), FrameAlloc<'f>>,
}

tickmem_frame::frame_data! {
    NeighbourData<'f> = Neighbours<'f>;
}

fn count(mut out: FrameWriter<NeighbourData>, cells: Query<&Cell>, mut tick: Local<i32>) {
    *tick += 1;
    let shift = *tick % 7;
    let n = cells.iter().len();
    out.publish(|f| {
        let mut counts = HashMap::with_capacity_and_hasher_in(
            9 * n,
            DefaultHashBuilder::default(),
            f.allocator(),
        );
        let mut candidates = AVec::with_capacity_in(9 * n, f.allocator());
        for c in &cells {
            for dx in -1..=1 {
                for dy in -1..=1 {
                    let at = (c.0 + dx + shift, c.1 + dy);
                    let e = counts.entry(at).or_insert(0);
                    if *e == 0 {
                        candidates.push(at);
                    }
                    *e += 1;
                }
            }
        }
        Neighbours { counts, candidates }
    });
}

fn spawn_despawn(data: FrameReader<NeighbourData>, mut born: Local<u64>) {
    let now = data.get().expect("published earlier in the tick");
    assert_eq!(now.candidates.len(), now.counts.len());
    *born += now.counts.values().filter(|&&c| c == 3).count() as u64;
}

fn render(data: FrameReader<NeighbourData>, mut total: Local<i64>) {
    if let Some(prev) = data.previous() {
        *total += prev.candidates.iter().map(|c| i64::from(c.0)).sum::<i64>();
    }
}

fn a_warm_tick_publishing_a_map_and_a_vector_allocates_nothing() {
    let mut world = World::new();
    let mut schedule = Schedule::default();
    schedule.set_executor(SingleThreadedExecutor::new());
    tickmem_ecs::install(&mut world, &mut schedule);
    world.spawn_batch((0..200).map(|i| Cell(i % 20 * 3, i / 20 * 3)));
    schedule.add_systems((render, count, spawn_despawn).chain());
    tickmem_ecs::testing::assert_allocation_free(&mut world, &mut schedule, 10, 200);
}

// No libtest harness (`harness = false` in Cargo.toml): the counts are
// process-wide, and libtest's main thread allocates right after it starts a
// test's thread (see `tests/housekeeping.rs`). Here no other thread runs.
fn main() {
    a_warm_tick_publishing_a_map_and_a_vector_allocates_nothing();
    println!("test a_warm_tick_publishing_a_map_and_a_vector_allocates_nothing ... ok");
}
