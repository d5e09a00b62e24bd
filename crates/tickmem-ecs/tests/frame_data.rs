//! Frame data between systems: a producer publishes, consumers read it later
//! in the same tick and during the next one, under the multi-threaded
//! executor; writers and readers are conflict-checked like resources; the
//! `FrameMemory` resource can move with values alive.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use allocator_api2::vec::Vec as AVec;
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{LogLevel, ScheduleBuildSettings};
use bevy_ecs::system::ScheduleSystem;
use common::{Executor, init_compute_pool, schedule};
use hashbrown::{DefaultHashBuilder, HashMap};
use tickmem_ecs::{Frame, FrameMemory, FrameReader, FrameSlot, FrameWriter, TickmemWorldExt};
use tickmem_frame::FrameAlloc;

#[derive(Component, Clone, Copy)]
struct Pos(i64);

#[derive(Resource, Default)]
struct Tick(i64);

/// What the producer publishes: cell populations and the occupied cells,
/// in frame memory.
struct Cells<'f> {
    tick: i64,
    per_cell: HashMap<i64, u32, DefaultHashBuilder, FrameAlloc<'f>>,
    occupied: &'f [i64],
}

tickmem_frame::frame_data! {
    /// This tick's cell populations.
    CellData<'f> = Cells<'f>;
    /// Positions sorted, from another producer running in parallel.
    Sorted<'f> = AVec<i64, FrameAlloc<'f>>;
}

const ENTITIES: i64 = 48;
const CELL: i64 = 10;

fn position(i: i64, tick: i64) -> i64 {
    (i * 7 + tick * 3) % 100
}

/// The expected populations, computed from scratch.
fn model(tick: i64) -> std::collections::BTreeMap<i64, u32> {
    let mut m = std::collections::BTreeMap::new();
    for i in 0..ENTITIES {
        *m.entry(position(i, tick) / CELL).or_insert(0) += 1;
    }
    m
}

fn check(cells: &Cells<'_>, tick: i64) {
    assert_eq!(cells.tick, tick);
    let model = model(tick);
    assert_eq!(cells.per_cell.len(), model.len());
    for (cell, n) in &model {
        assert_eq!(cells.per_cell[cell], *n, "tick {tick} cell {cell}");
    }
    let mut occupied = cells.occupied.to_vec();
    occupied.sort_unstable();
    assert_eq!(occupied, model.keys().copied().collect::<Vec<_>>());
}

fn advance(mut tick: ResMut<Tick>, mut q: Query<(Entity, &mut Pos)>, ids: Query<&Id>) {
    tick.0 += 1;
    for (e, mut p) in &mut q {
        p.0 = position(ids.get(e).unwrap().0, tick.0);
    }
}

#[derive(Component)]
struct Id(i64);

fn broadphase(mut out: FrameWriter<CellData>, q: Query<&Pos>, tick: Res<Tick>) {
    let tick = tick.0;
    let published = out.publish(|f| {
        let mut per_cell =
            HashMap::with_capacity_and_hasher_in(16, DefaultHashBuilder::default(), f.allocator());
        for p in &q {
            *per_cell.entry(p.0 / CELL).or_insert(0) += 1;
        }
        let mut occupied = AVec::with_capacity_in(per_cell.len(), f.allocator());
        occupied.extend(per_cell.keys().copied());
        Cells {
            tick,
            per_cell,
            occupied: f.alloc_slice_copy(&occupied),
        }
    });
    check(published, tick);
}

fn sort_positions(mut out: FrameWriter<Sorted>, q: Query<&Pos>) {
    out.publish(|f| {
        let mut v = AVec::with_capacity_in(ENTITIES as usize, f.allocator());
        v.extend(q.iter().map(|p| p.0));
        v.sort_unstable();
        v
    });
}

#[derive(Resource, Default)]
struct Seen {
    consumer_a: AtomicU64,
    consumer_b: AtomicU64,
    history: AtomicU64,
    sorted: AtomicU64,
    threads: std::sync::Mutex<std::collections::HashSet<std::thread::ThreadId>>,
}

fn consumer_a(cells: FrameReader<CellData>, tick: Res<Tick>, seen: Res<Seen>) {
    check(cells.get().expect("published earlier this tick"), tick.0);
    seen.consumer_a.fetch_add(1, Relaxed);
    seen.threads
        .lock()
        .unwrap()
        .insert(std::thread::current().id());
}

fn consumer_b(
    cells: FrameReader<CellData>,
    sorted: FrameReader<Sorted>,
    tick: Res<Tick>,
    seen: Res<Seen>,
    frame: Frame,
) {
    let cells = cells.get().expect("published earlier this tick");
    check(cells, tick.0);
    let sorted = sorted.get().expect("published earlier this tick");
    let total: u32 = cells.per_cell.values().sum();
    assert_eq!(total as usize, sorted.len());
    // Frame allocation alongside: the reader's data stays intact.
    let scratch = frame.alloc_slice_fill_with(64, |i| i as i64);
    assert_eq!(scratch[63], 63);
    seen.consumer_b.fetch_add(1, Relaxed);
    seen.threads
        .lock()
        .unwrap()
        .insert(std::thread::current().id());
}

/// Runs before the producer: this tick's value is not there yet, last
/// tick's is.
fn history(cells: FrameReader<CellData>, tick: Res<Tick>, seen: Res<Seen>) {
    assert!(cells.get().is_none(), "not published yet this tick");
    match cells.previous() {
        Some(prev) => {
            check(prev, tick.0);
            seen.history.fetch_add(1, Relaxed);
        }
        None => assert_eq!(tick.0, 0, "every tick after the first has one"),
    }
}

fn sorted_reader(sorted: FrameReader<Sorted>, seen: Res<Seen>) {
    if let Some(prev) = sorted.previous() {
        assert!(prev.windows(2).all(|w| w[0] <= w[1]));
        seen.sorted.fetch_add(1, Relaxed);
    }
}

fn busy(frame: Frame) {
    let v = frame.alloc_slice_fill_with(256, |i| i as u64);
    assert_eq!(v.iter().sum::<u64>(), 255 * 256 / 2);
}

fn game(executor: Executor) -> (World, Schedule) {
    let mut world = World::new();
    let mut schedule = schedule(executor);
    tickmem_ecs::install(&mut world, &mut schedule);
    world.init_resource::<Tick>();
    world.init_resource::<Seen>();
    world.spawn_batch((0..ENTITIES).map(|i| (Id(i), Pos(position(i, 0)))));
    schedule.add_systems(
        (
            (history, sorted_reader),
            advance,
            (broadphase, sort_positions, busy),
            (consumer_a, consumer_b, busy),
        )
            .chain(),
    );
    (world, schedule)
}

#[test]
fn producer_to_consumers_in_one_tick_and_the_next() {
    assert!(init_compute_pool(3) >= 2, "needs worker threads");
    for executor in [Executor::Multi, Executor::Single] {
        let (mut world, mut schedule) = game(executor);
        let ticks = 30;
        for _ in 0..ticks {
            schedule.run(&mut world);
            world.clear_trackers();
        }
        let seen = world.resource::<Seen>();
        assert_eq!(seen.consumer_a.load(Relaxed), ticks, "{executor:?}");
        assert_eq!(seen.consumer_b.load(Relaxed), ticks, "{executor:?}");
        // The first tick has no previous value.
        assert_eq!(seen.history.load(Relaxed), ticks - 1, "{executor:?}");
        assert_eq!(seen.sorted.load(Relaxed), ticks - 1, "{executor:?}");
        if executor == Executor::Multi {
            let threads = seen.threads.lock().unwrap().len();
            println!("consumers ran on {threads} thread(s)");
        }
    }
}

/// Writers and readers of one kind conflict like `ResMut` and `Res` of one
/// resource; readers of one kind, and systems of different kinds, do not.
#[test]
fn writers_and_readers_are_conflict_checked_like_resources() {
    fn write_cells(mut w: FrameWriter<CellData>) {
        w.publish(|f| Cells {
            tick: 0,
            per_cell: HashMap::with_hasher_in(DefaultHashBuilder::default(), f.allocator()),
            occupied: &[],
        });
    }
    fn read_cells_1(r: FrameReader<CellData>) {
        let _ = r.get();
    }
    fn read_cells_2(r: FrameReader<CellData>) {
        let _ = r.previous();
    }
    fn write_sorted(mut w: FrameWriter<Sorted>) {
        w.publish(|f| AVec::new_in(f.allocator()));
    }
    fn read_sorted(r: FrameReader<Sorted>) {
        let _ = r.get();
    }
    fn frame_only(frame: Frame) {
        frame.alloc(1u8);
    }

    /// Do `a` and `b`, unordered, make an ambiguous conflicting pair?
    fn conflict<A, B>(
        a: impl IntoScheduleConfigs<ScheduleSystem, A>,
        b: impl IntoScheduleConfigs<ScheduleSystem, B>,
    ) -> bool {
        let mut world = World::new();
        let mut schedule = Schedule::default();
        schedule.set_build_settings(ScheduleBuildSettings {
            ambiguity_detection: LogLevel::Error,
            ..Default::default()
        });
        tickmem_ecs::install(&mut world, &mut schedule);
        schedule.add_systems((a, b));
        let conflict = schedule.initialize(&mut world).is_err();
        if !conflict {
            schedule.run(&mut world);
        }
        conflict
    }

    assert!(conflict(write_cells, read_cells_1));
    assert!(conflict(read_cells_2, write_cells));
    assert!(conflict(write_cells, write_cells));
    assert!(conflict(write_sorted, read_sorted));
    assert!(!conflict(read_cells_1, read_cells_2));
    assert!(!conflict(write_cells, write_sorted));
    assert!(!conflict(write_cells, read_sorted));
    assert!(!conflict(write_cells, frame_only));
    assert!(!conflict(read_cells_1, frame_only));
    // Ordered, a writer and its reader are fine.
    assert!(!conflict((write_cells, read_cells_1).chain(), frame_only));
}

/// A value whose destructor counts its drops and checks its frame memory.
struct Counted<'f> {
    words: &'f [u64],
    drops: Arc<AtomicUsize>,
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        assert_eq!(self.words, [1, 2, 3]);
        self.drops.fetch_add(1, Relaxed);
    }
}

tickmem_frame::frame_data! { CountedData<'f> = Counted<'f>; }

#[derive(Resource)]
struct Drops(Arc<AtomicUsize>);

fn publish_counted(mut w: FrameWriter<CountedData>, drops: Res<Drops>) {
    let drops = drops.0.clone();
    w.publish(|f| Counted {
        words: f.alloc_slice_copy(&[1, 2, 3]),
        drops,
    });
}

#[test]
fn values_are_dropped_once_also_when_the_resource_moves_or_the_world_drops() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut world = World::new();
    let mut schedule = Schedule::default();
    tickmem_ecs::install(&mut world, &mut schedule);
    world.register_frame_data::<CountedData>();
    world.insert_resource(Drops(drops.clone()));
    schedule.add_systems(publish_counted);
    schedule.run(&mut world); // tick 1: one value
    schedule.run(&mut world); // tick 2: two values alive
    assert_eq!(drops.load(Relaxed), 0);

    // Move the resource out and back, with both values alive.
    let memory = world.remove_resource::<FrameMemory>().unwrap();
    let memory = std::thread::spawn(move || memory).join().unwrap();
    world.insert_resource(memory);
    {
        let memory = world.resource::<FrameMemory>();
        let slot = world.resource::<FrameSlot<CountedData>>();
        assert_eq!(slot.get(memory).map(|c| c.words.len()), Some(3));
        assert_eq!(slot.previous(memory).map(|c| c.words.len()), Some(3));
    }
    schedule.run(&mut world); // tick 3: tick 1's value dropped
    assert_eq!(drops.load(Relaxed), 1);

    // A different FrameMemory: the slot's tokens do not resolve in it.
    let old = world.remove_resource::<FrameMemory>().unwrap();
    world.insert_resource(FrameMemory::new(tickmem_frame::FrameArena::new()));
    {
        let memory = world.resource::<FrameMemory>();
        let slot = world.resource::<FrameSlot<CountedData>>();
        assert!(slot.get(memory).is_none() && slot.previous(memory).is_none());
    }
    drop(old); // its two values
    assert_eq!(drops.load(Relaxed), 3);
    schedule.run(&mut world);
    drop(world); // the new one's value
    assert_eq!(drops.load(Relaxed), 4);
}

#[test]
fn readers_see_nothing_before_any_writer_ran() {
    fn reader(r: FrameReader<Sorted>, mut runs: Local<u32>) {
        *runs += 1;
        assert!(r.get().is_none() && r.previous().is_none());
    }
    let mut world = World::new();
    let mut schedule = Schedule::default();
    tickmem_ecs::install(&mut world, &mut schedule);
    // Not registered: the parameter inserts the slot.
    schedule.add_systems(reader);
    schedule.run(&mut world);
    schedule.run(&mut world);
    assert!(world.contains_resource::<FrameSlot<Sorted>>());
}

#[test]
fn a_second_publication_in_a_tick_replaces_the_first_for_later_readers() {
    tickmem_frame::frame_data! { Num<'f> = &'f u32; }
    fn first(mut w: FrameWriter<Num>) {
        w.publish(|f| f.alloc(1u32));
    }
    fn second(mut w: FrameWriter<Num>) {
        assert_eq!(w.get().copied().copied(), Some(1));
        w.publish(|f| f.alloc(2u32));
    }
    fn reader(r: FrameReader<Num>, mut ticks: Local<u32>) {
        *ticks += 1;
        assert_eq!(r.get().copied().copied(), Some(2));
        if *ticks > 1 {
            assert_eq!(r.previous().copied().copied(), Some(2));
        }
    }
    let mut world = World::new();
    let mut schedule = Schedule::default();
    tickmem_ecs::install(&mut world, &mut schedule);
    schedule.add_systems((first, second, reader).chain());
    for _ in 0..4 {
        schedule.run(&mut world);
    }
}
