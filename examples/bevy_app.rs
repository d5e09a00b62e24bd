//! # bevy_app: tickmem in a real bevy `App`
//!
//! ```sh
//! cargo run --release --example bevy_app --features bevy_app
//! ```
//!
//! A headless bevy `App` (`App::new()`, the multi-threaded executor, worker
//! threads) with `TickmemPlugin`, and systems in three schedules:
//!
//! * `FixedUpdate`, run 0 to 3 times per update by a fixed-timestep loop
//!   over simulated time (50 steps per simulated second; updates last 1/60 s
//!   with hitches): `movement` (`par_iter_mut`), `broadphase` (a sorted
//!   cell list in the frame arena, `Frame`), `fire` and `age_shots` (shots
//!   recycled through an `EntityPool`);
//! * `Update`: `targeting`, the pairs of ships in range in a
//!   `Retained<Vec<_>>` (a burst of 16x every 10 simulated seconds, given
//!   back two seconds later), which also trades cargo held in each ship's
//!   `SmallVec` (inline, no heap block per ship);
//! * `PostUpdate`: `render_extract` (a sorted draw list in the frame arena,
//!   `Frame` again), and `report`, which prints `MemoryStats` every
//!   simulated second.
//!
//! The same app runs a second time without tickmem (`baseline`: the same
//! schedules, systems and executor; `Local<Vec<_>>` instead of `Frame` and
//! `Retained`, `Commands` spawn/despawn instead of the pool). Both must end
//! with the same checksum. `CountingAlloc` counts every global-allocator
//! call of the process per update; after the warm-up, the `summary` lines
//! give each mode's calls per update and the `added` line what tickmem adds
//! to bevy's own (its executor spawns tasks, which allocates): nothing
//! (`verdict: ok`; CI checks it).
//!
//! Flags: `--updates N` (default 600), `--warmup N` (default 150: two
//! bursts), `--threads N` (worker threads, default 3), `--mode
//! tickmem|baseline|both`, `--quiet` (no per-second report).

use bevy_app::{
    App, First, FixedMain, FixedUpdate, MainScheduleOrder, PostUpdate, RunFixedMainLoop,
    RunFixedMainLoopSystems, Update,
};
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{ScheduleLabel, SingleThreadedExecutor};
use bevy_tasks::{ComputeTaskPool, TaskPoolBuilder};
use smallvec::SmallVec;
use tickmem::ecs::{
    Frame, MemoryStats, PoolCommands, RetainPolicy, Retained, TickmemAppExt, TickmemPlugin,
};
use tickmem::track::CountingAlloc;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();

/// Ships in the simulation.
const SHIPS: u32 = 240;
/// Fixed steps per simulated second.
const FIXED_HZ: f64 = 50.0;
/// Side of the (wrapping) play field, and of one broadphase cell.
const FIELD: f32 = 1000.0;
const CELL: f32 = 50.0;
/// Shots live this many fixed steps.
const SHOT_TTL: u16 = 40;
/// Targeting range; 4x (16x the pairs) during a burst.
const RANGE: f32 = 40.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Tickmem,
    Baseline,
}

// --- Components and resources --------------------------------------------

#[derive(Component)]
struct Ship {
    id: u32,
}

#[derive(Component, Clone, Copy)]
struct Pos(f32, f32);

#[derive(Component, Clone, Copy)]
struct Vel(f32, f32);

/// What a ship carries: at most four items, inline in the component (a
/// `Vec` here would be one heap block per ship, kept for its whole life).
#[derive(Component)]
struct Cargo(SmallVec<[u16; 4]>);

/// A shot; `ttl` fixed steps left.
#[derive(Component)]
struct Shot {
    ttl: u16,
}

/// Simulated time: each update advances it by a deterministic `dt`; the
/// fixed-timestep loop runs `FixedMain` once per `1 / FIXED_HZ` of it.
#[derive(Resource, Default)]
struct Clock {
    update: u64,
    now: f64,
    dt: f64,
    acc: f64,
    fixed_steps: u64,
    next_report: f64,
    /// Inside a burst (range x4).
    burst: bool,
}

/// What the systems computed, for the checksum and the report.
#[derive(Resource, Default)]
struct Tally {
    contacts: u64,
    pairs: u64,
    trades: u64,
    fired: u64,
    drawn: u64,
    draw_sum: u64,
    max_pairs: usize,
}

// --- Both modes -------------------------------------------------------------

/// `First`: advance simulated time (1/60 s, with a long hitch every 7th
/// update and a short one every 5th), and the burst state.
fn advance_clock(mut clock: ResMut<Clock>) {
    clock.update += 1;
    let u = clock.update;
    clock.dt = match (u % 7, u % 5) {
        (0, _) => 3.0 / 60.0,
        (_, 0) => 0.25 / 60.0,
        _ => 1.0 / 60.0,
    };
    clock.now += clock.dt;
    clock.acc += clock.dt;
    // A 0.25 s burst every 10 s.
    clock.burst = clock.now % 10.0 < 0.25;
}

/// `RunFixedMainLoop`: run `FixedMain` (so `FixedUpdate`) as many times as
/// fixed steps fit in the time accumulated (what bevy_time does).
fn run_fixed_steps(world: &mut World) {
    let step = 1.0 / FIXED_HZ;
    loop {
        let mut clock = world.resource_mut::<Clock>();
        if clock.acc < step {
            break;
        }
        clock.acc -= step;
        clock.fixed_steps += 1;
        world.run_schedule(FixedMain);
    }
}

fn movement(mut ships: Query<(&mut Pos, &Vel)>) {
    let dt = (1.0 / FIXED_HZ) as f32;
    ships.par_iter_mut().for_each(|(mut p, v)| {
        p.0 = (p.0 + v.0 * dt).rem_euclid(FIELD);
        p.1 = (p.1 + v.1 * dt).rem_euclid(FIELD);
    });
}

fn cell_of(p: &Pos) -> u32 {
    let per_side = (FIELD / CELL) as u32;
    let (x, y) = ((p.0 / CELL) as u32, (p.1 / CELL) as u32);
    y.min(per_side - 1) * per_side + x.min(per_side - 1)
}

/// Ships sharing a cell, from a list sorted by cell.
fn count_contacts(sorted: &[(u32, u32)]) -> u64 {
    sorted
        .chunk_by(|a, b| a.0 == b.0)
        .map(|run| (run.len() * (run.len() - 1) / 2) as u64)
        .sum()
}

/// Pairs of ships closer than the range into `out` (ids, ascending).
fn pairs_in_range(ships: &[(u32, Pos)], burst: bool, out: &mut impl Extend<(u32, u32)>) {
    let range = if burst { 4.0 * RANGE } else { RANGE };
    for (i, (a, pa)) in ships.iter().enumerate() {
        for (b, pb) in &ships[i + 1..] {
            let (dx, dy) = (pa.0 - pb.0, pa.1 - pb.1);
            if dx * dx + dy * dy < range * range {
                out.extend([(*a, *b)]);
            }
        }
    }
}

/// Move one item from the first ship of each of the first `n` pairs to the
/// second, if it has one and the second has room.
fn trade(
    pairs: &[(u32, u32)],
    ships: &mut Query<(Entity, &Ship, &mut Cargo)>,
    index: &[Entity],
) -> u64 {
    let mut trades = 0;
    for &(a, b) in pairs.iter().take(32) {
        let Ok([(_, _, mut from), (_, _, mut to)]) =
            ships.get_many_mut([index[a as usize], index[b as usize]])
        else {
            continue;
        };
        if to.0.len() < 4
            && let Some(item) = from.0.pop()
        {
            to.0.push(item);
            trades += 1;
        }
    }
    trades
}

/// A depth-sorted draw list's digest.
fn draw_digest(sorted: &[(u32, u32)]) -> u64 {
    sorted
        .iter()
        .enumerate()
        .fold(0u64, |acc, (i, &(key, id))| {
            acc.wrapping_mul(31)
                .wrapping_add(u64::from(key ^ id) + i as u64)
        })
}

/// Ship entities by id (set up once).
#[derive(Resource)]
struct ShipIndex(Vec<Entity>);

fn spawn_ships(mut commands: Commands) {
    let ids: Vec<Entity> = (0..SHIPS)
        .map(|id| {
            let h = id.wrapping_mul(2_654_435_761);
            let pos = Pos((h % 1000) as f32, ((h >> 10) % 1000) as f32);
            let vel = Vel(((h >> 3) % 61) as f32 - 30.0, ((h >> 7) % 61) as f32 - 30.0);
            let cargo: SmallVec<[u16; 4]> = (0..(id % 4) as u16).collect();
            commands.spawn((Ship { id }, pos, vel, Cargo(cargo))).id()
        })
        .collect();
    commands.insert_resource(ShipIndex(ids));
}

/// Ships that fire this fixed step: a rotating tenth of them.
fn fires(step: u64, id: u32) -> bool {
    u64::from(id) % 10 == step % 10
}

// The bodies both modes share, over whatever buffer each mode uses.

/// Broadphase: each ship's cell into `cells`, sorted; ships sharing a cell.
fn broadphase<B>(cells: &mut B, ships: &Query<&Pos, With<Ship>>, tally: &mut Tally)
where
    B: Extend<(u32, u32)> + AsMut<[(u32, u32)]>,
{
    cells.extend(ships.iter().map(|p| (cell_of(p), 0u32)));
    cells.as_mut().sort_unstable();
    tally.contacts += count_contacts(cells.as_mut());
}

/// The shots to fire this step, each handed to `spawn`.
fn fire(
    ships: &Query<(&Ship, &Pos, &Vel)>,
    clock: &Clock,
    tally: &mut Tally,
    mut spawn: impl FnMut((Shot, Pos, Vel)),
) {
    for (ship, p, v) in ships {
        if fires(clock.fixed_steps, ship.id) {
            spawn((Shot { ttl: SHOT_TTL }, *p, Vel(v.0 * 3.0, v.1 * 3.0)));
            tally.fired += 1;
        }
    }
}

/// Move and age the shots; the expired ones are handed to `expire`.
fn age_shots(q: &mut Query<(Entity, &mut Shot, &mut Pos, &Vel)>, mut expire: impl FnMut(Entity)) {
    let dt = (1.0 / FIXED_HZ) as f32;
    for (e, mut shot, mut p, v) in q {
        shot.ttl -= 1;
        p.0 += v.0 * dt;
        p.1 += v.1 * dt;
        if shot.ttl == 0 {
            expire(e);
        }
    }
}

/// Ship positions by id into `by_id`, the pairs in range into `pairs`,
/// then cargo trades between the first pairs.
#[allow(
    clippy::too_many_arguments,
    reason = "a system's parameters, passed on"
)]
fn target_and_trade<B, P>(
    by_id: &mut B,
    pairs: &mut P,
    ships: &mut Query<(Entity, &Ship, &mut Cargo)>,
    positions: &Query<(&Ship, &Pos)>,
    index: &ShipIndex,
    clock: &Clock,
    tally: &mut Tally,
) where
    B: Extend<(u32, Pos)> + AsMut<[(u32, Pos)]>,
    P: Extend<(u32, u32)> + AsRef<[(u32, u32)]>,
{
    by_id.extend(positions.iter().map(|(s, p)| (s.id, *p)));
    by_id.as_mut().sort_unstable_by_key(|s| s.0);
    pairs_in_range(by_id.as_mut(), clock.burst, pairs);
    let pairs = pairs.as_ref();
    tally.pairs += pairs.len() as u64;
    tally.max_pairs = tally.max_pairs.max(pairs.len());
    tally.trades += trade(pairs, ships, &index.0);
}

/// The draw list: ships and shots by depth, sorted, digested.
fn render_extract<B>(
    draw: &mut B,
    ships: &Query<(&Ship, &Pos)>,
    shots: &Query<&Pos, With<Shot>>,
    tally: &mut Tally,
) where
    B: Extend<(u32, u32)> + AsMut<[(u32, u32)]>,
{
    draw.extend(ships.iter().map(|(s, p)| (p.1 as u32, s.id)));
    draw.extend(shots.iter().map(|p| (p.1 as u32, u32::MAX)));
    let draw = draw.as_mut();
    draw.sort_unstable();
    tally.drawn += draw.len() as u64;
    tally.draw_sum = tally.draw_sum.wrapping_add(draw_digest(draw));
}

// --- tickmem mode -------------------------------------------------------------

fn broadphase_tickmem(frame: Frame, ships: Query<&Pos, With<Ship>>, mut tally: ResMut<Tally>) {
    broadphase(
        &mut frame.vec_with_capacity(SHIPS as usize),
        &ships,
        &mut tally,
    );
}

fn fire_tickmem(
    mut shots: PoolCommands<Shot>,
    ships: Query<(&Ship, &Pos, &Vel)>,
    clock: Res<Clock>,
    mut tally: ResMut<Tally>,
) {
    fire(&ships, &clock, &mut tally, |shot| {
        shots.acquire_typed(shot);
    });
}

fn age_shots_tickmem(
    mut shots: PoolCommands<Shot>,
    mut q: Query<(Entity, &mut Shot, &mut Pos, &Vel)>,
) {
    age_shots(&mut q, |e| shots.release(e));
}

fn targeting_tickmem(
    mut pairs: Retained<Vec<(u32, u32)>>,
    mut ships: Query<(Entity, &Ship, &mut Cargo)>,
    positions: Query<(&Ship, &Pos)>,
    index: Res<ShipIndex>,
    frame: Frame,
    clock: Res<Clock>,
    mut tally: ResMut<Tally>,
) {
    // Room for a busy tick's pairs is never given back; a burst's is, two
    // seconds (120 quiet ticks) after it.
    pairs.set_policy(RetainPolicy::default().with_min_capacity(512));
    let mut by_id = frame.vec_with_capacity(SHIPS as usize);
    target_and_trade(
        &mut by_id,
        &mut *pairs,
        &mut ships,
        &positions,
        &index,
        &clock,
        &mut tally,
    );
}

fn render_extract_tickmem(
    frame: Frame,
    ships: Query<(&Ship, &Pos)>,
    shots: Query<&Pos, With<Shot>>,
    mut tally: ResMut<Tally>,
) {
    let mut draw = frame.vec_with_capacity(SHIPS as usize * 8);
    render_extract(&mut draw, &ships, &shots, &mut tally);
}

/// A simulated second has passed since the last report (and reports are
/// printed).
fn report_due(clock: &mut Clock, quiet: &Quiet) -> bool {
    if clock.now < clock.next_report {
        return false;
    }
    clock.next_report += 1.0;
    !quiet.0
}

fn report_tickmem(
    mut clock: ResMut<Clock>,
    stats: Res<MemoryStats>,
    tally: Res<Tally>,
    quiet: Res<Quiet>,
) {
    if !report_due(&mut clock, &quiet) {
        return;
    }
    let shots = stats.pool("Shot").map_or((0, 0), |p| (p.live, p.free));
    println!(
        "t={:>4.1}s update={} epoch={} fixed_steps={} frame: {} B last tick, {} B reserved, {} lanes | \
         shots live={} free={} | allocator calls last tick={}",
        clock.now,
        clock.update,
        stats.epoch,
        clock.fixed_steps,
        stats.frame_bytes,
        stats.frame_reserved,
        stats.frame_lanes,
        shots.0,
        shots.1,
        stats.global_alloc_calls.unwrap_or(0),
    );
    for r in &stats.retained {
        println!(
            "         retained {} {}: {} of {} elements ({} of {} B), {} shrink(s); max pairs so far {}",
            if r.system.is_empty() { "-" } else { &r.system },
            r.buffer,
            r.len,
            r.capacity,
            r.bytes_in_use,
            r.bytes_reserved,
            r.shrinks,
            tally.max_pairs,
        );
    }
}

// --- baseline mode ------------------------------------------------------------

fn broadphase_baseline(
    mut cells: Local<Vec<(u32, u32)>>,
    ships: Query<&Pos, With<Ship>>,
    mut tally: ResMut<Tally>,
) {
    cells.clear();
    broadphase(&mut *cells, &ships, &mut tally);
}

fn fire_baseline(
    mut commands: Commands,
    ships: Query<(&Ship, &Pos, &Vel)>,
    clock: Res<Clock>,
    mut tally: ResMut<Tally>,
) {
    fire(&ships, &clock, &mut tally, |shot| {
        commands.spawn(shot);
    });
}

fn age_shots_baseline(mut commands: Commands, mut q: Query<(Entity, &mut Shot, &mut Pos, &Vel)>) {
    age_shots(&mut q, |e| commands.entity(e).despawn());
}

#[allow(clippy::too_many_arguments, reason = "a bevy system's parameters")]
fn targeting_baseline(
    mut pairs: Local<Vec<(u32, u32)>>,
    mut by_id: Local<Vec<(u32, Pos)>>,
    mut ships: Query<(Entity, &Ship, &mut Cargo)>,
    positions: Query<(&Ship, &Pos)>,
    index: Res<ShipIndex>,
    clock: Res<Clock>,
    mut tally: ResMut<Tally>,
) {
    pairs.clear();
    by_id.clear();
    target_and_trade(
        &mut *by_id,
        &mut *pairs,
        &mut ships,
        &positions,
        &index,
        &clock,
        &mut tally,
    );
}

fn render_extract_baseline(
    mut draw: Local<Vec<(u32, u32)>>,
    ships: Query<(&Ship, &Pos)>,
    shots: Query<&Pos, With<Shot>>,
    mut tally: ResMut<Tally>,
) {
    draw.clear();
    render_extract(&mut *draw, &ships, &shots, &mut tally);
}

fn report_baseline(
    mut clock: ResMut<Clock>,
    shots: Query<(), With<Shot>>,
    tally: Res<Tally>,
    quiet: Res<Quiet>,
) {
    if !report_due(&mut clock, &quiet) {
        return;
    }
    println!(
        "t={:>4.1}s update={} fixed_steps={} shots live={} | max pairs so far {}",
        clock.now,
        clock.update,
        clock.fixed_steps,
        shots.iter().count(),
        tally.max_pairs,
    );
}

/// The baseline's stand-in for tickmem's frame-start schedule: the same
/// shape (a single-threaded schedule with one exclusive system, first in
/// every update), doing nothing.
#[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
struct BaselineFrameStart;

#[derive(Resource)]
struct Quiet(bool);

// --- The app --------------------------------------------------------------------

fn build(mode: Mode, quiet: bool) -> App {
    let mut app = App::new();
    app.init_resource::<Clock>()
        .init_resource::<Tally>()
        .insert_resource(Quiet(quiet))
        .add_systems(bevy_app::Startup, spawn_ships)
        .add_systems(First, advance_clock)
        .add_systems(
            RunFixedMainLoop,
            run_fixed_steps.in_set(RunFixedMainLoopSystems::FixedMainLoop),
        )
        .add_systems(FixedUpdate, movement);
    match mode {
        Mode::Tickmem => {
            app.add_plugins(TickmemPlugin::default())
                .register_entity_pool::<Shot>()
                .add_systems(
                    FixedUpdate,
                    (broadphase_tickmem, fire_tickmem, age_shots_tickmem).after(movement),
                )
                .add_systems(Update, targeting_tickmem)
                .add_systems(PostUpdate, (render_extract_tickmem, report_tickmem).chain());
        }
        Mode::Baseline => {
            let mut start = Schedule::new(BaselineFrameStart);
            start.set_executor(SingleThreadedExecutor::new());
            start.add_systems(|_: &mut World| {});
            app.add_schedule(start);
            app.world_mut()
                .resource_mut::<MainScheduleOrder>()
                .insert_before(First, BaselineFrameStart);
            app.add_systems(
                FixedUpdate,
                (broadphase_baseline, fire_baseline, age_shots_baseline).after(movement),
            )
            .add_systems(Update, targeting_baseline)
            .add_systems(
                PostUpdate,
                (render_extract_baseline, report_baseline).chain(),
            );
        }
    }
    app
}

/// Global-allocator calls and bytes of each measured update.
struct Run {
    calls: Vec<u64>,
    bytes: Vec<u64>,
    checksum: u64,
    fixed_steps: u64,
    shrinks: u64,
}

fn run(mode: Mode, updates: u64, warmup: u64, quiet: bool) -> Run {
    let mut app = build(mode, quiet);
    let (mut calls, mut bytes) = (Vec::new(), Vec::new());
    calls.reserve(updates as usize);
    bytes.reserve(updates as usize);
    for u in 0..updates {
        let before = tickmem::track::global_stats();
        app.update();
        let spent = tickmem::track::global_stats().since(&before);
        if u >= warmup {
            calls.push(spent.calls());
            bytes.push(spent.bytes_allocated);
        }
    }
    let world = app.world_mut();
    let mut q = world.query::<(&Ship, &Pos, &Cargo)>();
    let mut ships: Vec<(u32, u32, u32, usize)> = q
        .iter(world)
        .map(|(s, p, c)| (s.id, p.0.to_bits(), p.1.to_bits(), c.0.len()))
        .collect();
    ships.sort_unstable();
    let tally = world.resource::<Tally>();
    let start = tally.contacts
        ^ tally.pairs.rotate_left(13)
        ^ tally.trades.rotate_left(29)
        ^ tally.fired.rotate_left(41)
        ^ tally.draw_sum;
    let checksum = ships.iter().fold(start, |acc, &(id, x, y, n)| {
        let ship = u64::from(id) ^ (u64::from(x) << 8) ^ (u64::from(y) << 24) ^ ((n as u64) << 56);
        acc.wrapping_mul(0x100_0000_01B3).wrapping_add(ship)
    });
    let shrinks = world
        .get_resource::<MemoryStats>()
        .map_or(0, |s| s.retained.iter().map(|r| r.shrinks).sum());
    Run {
        calls,
        bytes,
        checksum,
        fixed_steps: world.resource::<Clock>().fixed_steps,
        shrinks,
    }
}

fn mean(xs: &[u64]) -> f64 {
    xs.iter().sum::<u64>() as f64 / xs.len().max(1) as f64
}

fn main() {
    let mut updates = 600u64;
    let mut warmup = 150u64;
    let mut threads = 3usize;
    let mut modes = vec![Mode::Baseline, Mode::Tickmem];
    let mut quiet = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--updates" => updates = value().parse().expect("--updates N"),
            "--warmup" => warmup = value().parse().expect("--warmup N"),
            "--threads" => threads = value().parse().expect("--threads N"),
            "--quiet" => quiet = true,
            "--mode" => {
                modes = match value().as_str() {
                    "tickmem" => vec![Mode::Tickmem],
                    "baseline" => vec![Mode::Baseline],
                    "both" => vec![Mode::Baseline, Mode::Tickmem],
                    other => panic!("--mode tickmem|baseline|both, not {other}"),
                }
            }
            other => panic!("unknown flag {other} (see the example's docs)"),
        }
    }
    assert!(warmup < updates, "--warmup must be below --updates");
    let pool = ComputeTaskPool::get_or_init(|| TaskPoolBuilder::new().num_threads(threads).build());
    println!(
        "bevy_app example: {updates} updates ({warmup} warm-up), {} worker threads",
        pool.thread_num()
    );

    let mut results = Vec::new();
    for mode in modes {
        let name = match mode {
            Mode::Tickmem => "tickmem",
            Mode::Baseline => "baseline",
        };
        println!("--- {name}");
        let r = run(mode, updates, warmup, quiet);
        println!(
            "summary mode={name} updates={updates} warmup={warmup} fixed_steps={} calls_per_update={:.2} \
             max_calls={} bytes_per_update={:.0} retained_shrinks={} checksum={:016x}",
            r.fixed_steps,
            mean(&r.calls),
            r.calls.iter().max().copied().unwrap_or(0),
            mean(&r.bytes),
            r.shrinks,
            r.checksum,
        );
        results.push((mode, r));
    }
    if let [(_, base), (_, tm)] = &results[..] {
        let added = mean(&tm.calls) - mean(&base.calls);
        println!(
            "added by tickmem: {added:+.2} calls per update (tickmem {:.2}, bevy alone {:.2}; \
             median {} vs {})",
            mean(&tm.calls),
            mean(&base.calls),
            median(&tm.calls),
            median(&base.calls),
        );
        // bevy's multi-threaded executor allocates a little differently
        // from run to run (thread timing): the medians must match, and the
        // means be within one call per 20 updates.
        let ok = median(&tm.calls) <= median(&base.calls) && added <= 0.05;
        println!(
            "verdict: {}",
            if ok {
                "ok, tickmem adds no allocation"
            } else {
                "FAIL, tickmem allocates more than bevy alone"
            }
        );
        if base.checksum == tm.checksum {
            println!("checksums match");
        } else {
            println!(
                "checksums DIFFER: {:016x} vs {:016x}",
                base.checksum, tm.checksum
            );
        }
    }
}

fn median(xs: &[u64]) -> u64 {
    let mut sorted = xs.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or(0)
}
