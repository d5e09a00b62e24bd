//! The ECS test game: a small bullet schedule using every part of tickmem-ecs.
//!
//! Shared by the integration tests (`mod common;`) and by the
//! `tracy_overhead` bench (through `#[path]`), so that "the ECS test schedule"
//! is one definition.
//!
//! Per tick (systems, in order where it matters):
//! * `age` then `fire` (both through `PoolCommands<Bullet>`): bullets live
//!   `TTL` ticks; `FIRE_PER_TICK` new ones are fired each tick, reusing the
//!   entities released the same tick;
//! * `movement`: `par_iter_mut` over bullets, each job sub-stepping in a
//!   scratch arena;
//! * `enemy_ai`: enemies live in an `ObjectPool<Enemy>`, named from components
//!   by `Handle<Enemy>`; each runs a breadth-first path query in scratch;
//! * `extract` (before `collide`): the "render extract", reading last tick's
//!   `HitSummary` through `FrameHandle`s kept in a resource, a component and a
//!   message, and checking that the handle from two ticks ago reads `None`;
//! * `collide`: sweep-and-prune of the bullets into `FrameVec`s (collision
//!   pairs), the tick's summary persisted with `Frame::persist`;
//! * `probe`: records the frame epoch it sees;
//! * `update_messages`: swaps the message buffers.
//!
//! `Mode::Baseline` builds a schedule of the same shape (same systems, same
//! kinds of parameters, the same `par_iter` over the same number of bullets,
//! an exclusive no-op system first in place of the frame boundary) whose
//! bodies do no tickmem work: it is what bevy's executor itself costs.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use bevy_ecs::message::{Message, MessageReader, MessageWriter, Messages};
use bevy_ecs::prelude::*;
use tickmem_ecs::{Frame, ObjectPool, PoolCommands, TickmemConfig, TickmemWorldExt};
use tickmem_frame::FrameHandle;
use tickmem_pool::{Handle, Pool};

pub const FIRE_PER_TICK: u32 = 20;
pub const TTL: u32 = 30;
/// Bullets alive once the game has warmed up.
pub const LIVE_BULLETS: usize = (FIRE_PER_TICK * TTL) as usize;
pub const ENEMIES: usize = 8;
const WORLD: f32 = 100.0;
const RADIUS: f32 = 1.5;
const GRID: usize = 16;

#[derive(Component, Clone, Copy, Debug)]
pub struct Bullet {
    pub ttl: u32,
}

#[derive(Component, Clone, Copy, Debug)]
pub struct Pos {
    pub x: f32,
    pub y: f32,
}

#[derive(Component, Clone, Copy, Debug)]
pub struct Vel {
    pub x: f32,
    pub y: f32,
}

#[derive(Debug)]
pub struct Enemy {
    pub cell: (usize, usize),
    pub path_len: u32,
}

#[derive(Component, Debug)]
pub struct EnemyRef(pub Handle<Enemy>);

/// What `collide` found in one tick, persisted for the next.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HitSummary {
    pub epoch: u64,
    pub pairs: u32,
    pub checksum: u64,
}

/// A resource holding the latest summary's handle.
#[derive(Resource, Default)]
pub struct LastHits(pub Option<FrameHandle<HitSummary>>);

/// A component holding the latest summary's handle (on one "camera").
#[derive(Component, Default)]
pub struct ExtractTarget(pub Option<FrameHandle<HitSummary>>);

/// A message carrying the latest summary's handle.
#[derive(Message, Clone, Copy)]
pub struct HitsReady(pub FrameHandle<HitSummary>);

/// What the game observed (checked by the tests).
#[derive(Resource, Default, Debug, Clone)]
pub struct Report {
    /// Next-tick reads (resource, component, message) that found last
    /// tick's summary.
    pub extracted: u64,
    /// Next-tick reads that found nothing or the wrong tick's data.
    pub extract_missing: u64,
    /// Handles read two ticks after they were made.
    pub stale_checked: u64,
    /// ... that still returned `Some` (must stay 0).
    pub stale_live: u64,
    /// The epoch the `probe` system saw in the last tick.
    pub probe_epoch: u64,
    pub pairs: u64,
    pub checksum: u64,
    pub path_steps: u64,
    /// The handle read last tick (made the tick before).
    previous: Option<FrameHandle<HitSummary>>,
}

#[derive(Resource)]
pub struct GameRng(pub u64);

impl GameRng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Tickmem,
    Baseline,
}

/// Fill `world` and `schedule` with the game. `Tickmem` mode installs
/// tickmem with `config`.
pub fn build(world: &mut World, schedule: &mut Schedule, mode: Mode, config: TickmemConfig) {
    world.insert_resource(GameRng(0x5EED));
    world.init_resource::<Report>();
    world.init_resource::<LastHits>();
    world.init_resource::<Messages<HitsReady>>();
    world.spawn(ExtractTarget::default());
    let mut enemies = Pool::with_capacity(ENEMIES);
    for i in 0..ENEMIES {
        let h = enemies.insert(Enemy {
            cell: (i * 2 % GRID, i * 5 % GRID),
            path_len: 0,
        });
        world.spawn(EnemyRef(h));
    }
    match mode {
        Mode::Tickmem => {
            tickmem_ecs::install_with_config(world, schedule, config);
            world.register_entity_pool::<Bullet>();
            world.insert_resource(ObjectPool::from(enemies));
            world.register_object_pool::<Enemy>();
            schedule.add_systems((
                // No sync point between them: bullets released by `age` are
                // re-acquired by `fire` before the flush, in place.
                (age, fire).chain_ignore_deferred(),
                movement,
                enemy_ai,
                extract.before(collide),
                collide,
                probe,
                update_messages.after(collide).after(extract),
            ));
        }
        Mode::Baseline => {
            world.insert_resource(BaselineEnemies(enemies));
            world.init_resource::<BaselinePool>();
            world.init_resource::<BaselineFrame>();
            // The same bullets the tickmem game has once warmed up, spawned
            // once: the same par_iter batches, no churn.
            let mut rng = GameRng(0x5EED);
            for i in 0..LIVE_BULLETS {
                world.spawn(new_bullet(&mut rng, 1 + (i as u32 % TTL)));
            }
            schedule.add_systems(
                (
                    boundary_stub,
                    (
                        (base_age, base_fire).chain_ignore_deferred(),
                        base_movement,
                        base_enemy_ai,
                        base_extract.before(base_collide),
                        base_collide,
                        base_probe,
                        update_messages.after(base_collide).after(base_extract),
                    ),
                )
                    .chain(),
            );
        }
    }
}

fn new_bullet(rng: &mut GameRng, ttl: u32) -> (Bullet, Pos, Vel) {
    (
        Bullet { ttl },
        Pos {
            x: rng.unit() * WORLD,
            y: rng.unit() * WORLD,
        },
        Vel {
            x: rng.unit() - 0.5,
            y: rng.unit() - 0.5,
        },
    )
}

// --- tickmem mode ----------------------------------------------------------

fn age(mut bullets: PoolCommands<Bullet>, mut q: Query<(Entity, &mut Bullet)>) {
    for (e, mut b) in &mut q {
        b.ttl -= 1;
        if b.ttl == 0 {
            bullets.release(e);
        }
    }
}

fn fire(mut bullets: PoolCommands<Bullet>, mut rng: ResMut<GameRng>) {
    for _ in 0..FIRE_PER_TICK {
        bullets.acquire(new_bullet(&mut rng, TTL));
    }
}

/// Global-allocator calls made inside `movement`'s scratch jobs, on
/// whichever thread ran them (counted exactly, per thread), once
/// `COUNT_JOBS` is set.
pub static JOB_CALLS: AtomicU64 = AtomicU64::new(0);
pub static JOBS: AtomicU64 = AtomicU64::new(0);
pub static COUNT_JOBS: AtomicBool = AtomicBool::new(false);

fn movement(mut q: Query<(&mut Pos, &Vel)>) {
    q.par_iter_mut().for_each(|(mut p, v)| {
        // Four sub-steps, kept in this worker's scratch arena.
        let job = || {
            tickmem_scratch::with(|s| {
                let steps = s.alloc_slice_fill_with(4, |i| {
                    let t = (i + 1) as f32 / 4.0;
                    (p.x + v.x * t, p.y + v.y * t)
                });
                steps[steps.len() - 1]
            })
        };
        let end = if COUNT_JOBS.load(Relaxed) {
            let (end, stats) = tickmem_track::count(job);
            JOB_CALLS.fetch_add(stats.calls(), Relaxed);
            JOBS.fetch_add(1, Relaxed);
            end
        } else {
            job()
        };
        p.x = end.0.rem_euclid(WORLD);
        p.y = end.1.rem_euclid(WORLD);
    });
}

/// Breadth-first distance on a `GRID`×`GRID` grid from `from` to the centre,
/// around a wall, in scratch memory.
fn path_len(from: (usize, usize)) -> u32 {
    tickmem_scratch::with(|s| {
        let dist = s.alloc_slice_fill_with(GRID * GRID, |_| u32::MAX);
        let mut queue = s.vec_with_capacity::<(usize, usize)>(GRID * GRID);
        let goal = (GRID / 2, GRID / 2);
        let wall = |(x, y): (usize, usize)| x == GRID / 2 - 2 && (2..GRID - 2).contains(&y);
        dist[from.1 * GRID + from.0] = 0;
        queue.push(from);
        let mut head = 0;
        while head < queue.len() {
            let (x, y) = queue[head];
            head += 1;
            let d = dist[y * GRID + x];
            if (x, y) == goal {
                return d;
            }
            let around = [
                (x.wrapping_sub(1), y),
                (x + 1, y),
                (x, y.wrapping_sub(1)),
                (x, y + 1),
            ];
            for (nx, ny) in around {
                if nx < GRID && ny < GRID && !wall((nx, ny)) && dist[ny * GRID + nx] == u32::MAX {
                    dist[ny * GRID + nx] = d + 1;
                    queue.push((nx, ny));
                }
            }
        }
        u32::MAX
    })
}

fn enemy_ai(
    mut enemies: ResMut<ObjectPool<Enemy>>,
    q: Query<&EnemyRef>,
    mut report: ResMut<Report>,
) {
    for r in &q {
        let enemy = enemies.get_mut(r.0).expect("enemies are never removed");
        enemy.path_len = path_len(enemy.cell);
        enemy.cell = ((enemy.cell.0 + 1) % GRID, (enemy.cell.1 + 3) % GRID);
        report.path_steps += u64::from(enemy.path_len);
    }
}

fn collide(
    frame: Frame,
    q: Query<(Entity, &Pos), With<Bullet>>,
    mut last: ResMut<LastHits>,
    mut targets: Query<&mut ExtractTarget>,
    mut writer: MessageWriter<HitsReady>,
) {
    // Sweep and prune on x, entirely in frame memory.
    let mut items = frame.vec_with_capacity::<(f32, f32, Entity)>(q.iter().len());
    for (e, p) in &q {
        items.push((p.x, p.y, e));
    }
    items.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.2.cmp(&b.2)));
    let mut pairs = frame.vec::<(Entity, Entity)>();
    for (i, a) in items.iter().enumerate() {
        for b in &items[i + 1..] {
            if b.0 - a.0 > RADIUS {
                break;
            }
            if (b.1 - a.1).abs() <= RADIUS {
                pairs.push((a.2, b.2));
            }
        }
    }
    let checksum = pairs.iter().fold(0u64, |h, (a, b)| {
        (h ^ a.to_bits().wrapping_mul(31) ^ b.to_bits()).rotate_left(5)
    });
    let handle = frame.persist(HitSummary {
        epoch: frame.epoch(),
        pairs: pairs.len() as u32,
        checksum,
    });
    last.0 = Some(handle);
    for mut t in &mut targets {
        t.0 = Some(handle);
    }
    writer.write(HitsReady(handle));
}

fn extract(
    frame: Frame,
    last: Res<LastHits>,
    targets: Query<&ExtractTarget>,
    mut reader: MessageReader<HitsReady>,
    mut report: ResMut<Report>,
) {
    let report = &mut *report;
    let epoch = frame.epoch();
    let mut check = |h: FrameHandle<HitSummary>| match frame.get(h) {
        Some(s) if s.epoch + 1 == epoch => {
            report.extracted += 1;
            report.pairs += u64::from(s.pairs);
            report.checksum = report.checksum.rotate_left(7) ^ s.checksum;
        }
        _ => report.extract_missing += 1,
    };
    if let Some(h) = last.0 {
        check(h);
    }
    for t in &targets {
        if let Some(h) = t.0 {
            check(h);
        }
    }
    for m in reader.read() {
        check(m.0);
    }
    // The handle made two ticks ago must read None now.
    if let Some(old) = report.previous {
        report.stale_checked += 1;
        if frame.get(old).is_some() {
            report.stale_live += 1;
        }
    }
    report.previous = last.0;
}

fn probe(frame: Frame, mut report: ResMut<Report>) {
    report.probe_epoch = frame.epoch();
}

fn update_messages(mut messages: ResMut<Messages<HitsReady>>) {
    messages.update();
}

// --- baseline mode: same shape and work, no tickmem ------------------------
//
// The same computations, written allocation-free by hand in plain bevy
// (stack arrays, buffers kept in `Local`s), so that the executor sees
// systems and jobs of about the same length.

#[derive(Resource)]
pub struct BaselineEnemies(pub Pool<Enemy>);

#[derive(Resource, Default)]
pub struct BaselinePool;

#[derive(Resource, Default)]
pub struct BaselineFrame;

fn boundary_stub(_world: &mut World) {}

fn base_age(_pool: ResMut<BaselinePool>, _commands: Commands, mut q: Query<(Entity, &mut Bullet)>) {
    for (_, mut b) in &mut q {
        b.ttl = if b.ttl == 1 { TTL } else { b.ttl - 1 };
    }
}

fn base_fire(_pool: ResMut<BaselinePool>, _commands: Commands, mut rng: ResMut<GameRng>) {
    for _ in 0..FIRE_PER_TICK {
        std::hint::black_box(new_bullet(&mut rng, TTL));
    }
}

fn base_movement(mut q: Query<(&mut Pos, &Vel)>) {
    q.par_iter_mut().for_each(|(mut p, v)| {
        let job = || {
            let mut steps = [(0.0f32, 0.0f32); 4];
            for (i, s) in steps.iter_mut().enumerate() {
                let t = (i + 1) as f32 / 4.0;
                *s = (p.x + v.x * t, p.y + v.y * t);
            }
            std::hint::black_box(steps)[3]
        };
        // Measured like the tickmem jobs, so that jobs last about as long.
        let end = if COUNT_JOBS.load(Relaxed) {
            tickmem_track::count(job).0
        } else {
            job()
        };
        p.x = end.0.rem_euclid(WORLD);
        p.y = end.1.rem_euclid(WORLD);
    });
}

fn base_path_len(from: (usize, usize)) -> u32 {
    let mut dist = [u32::MAX; GRID * GRID];
    let mut queue = [(0usize, 0usize); GRID * GRID];
    let (mut head, mut tail) = (0, 0);
    let goal = (GRID / 2, GRID / 2);
    let wall = |(x, y): (usize, usize)| x == GRID / 2 - 2 && (2..GRID - 2).contains(&y);
    dist[from.1 * GRID + from.0] = 0;
    queue[tail] = from;
    tail += 1;
    while head < tail {
        let (x, y) = queue[head];
        head += 1;
        let d = dist[y * GRID + x];
        if (x, y) == goal {
            return d;
        }
        for (nx, ny) in [
            (x.wrapping_sub(1), y),
            (x + 1, y),
            (x, y.wrapping_sub(1)),
            (x, y + 1),
        ] {
            if nx < GRID && ny < GRID && !wall((nx, ny)) && dist[ny * GRID + nx] == u32::MAX {
                dist[ny * GRID + nx] = d + 1;
                queue[tail] = (nx, ny);
                tail += 1;
            }
        }
    }
    u32::MAX
}

fn base_enemy_ai(
    mut enemies: ResMut<BaselineEnemies>,
    q: Query<&EnemyRef>,
    mut report: ResMut<Report>,
) {
    for r in &q {
        let enemy = enemies.0.get_mut(r.0).expect("enemies are never removed");
        enemy.path_len = base_path_len(enemy.cell);
        enemy.cell = ((enemy.cell.0 + 1) % GRID, (enemy.cell.1 + 3) % GRID);
        report.path_steps += u64::from(enemy.path_len);
    }
}

/// `base_collide`'s buffers, kept between runs.
#[derive(Default)]
struct CollideBuffers {
    items: Vec<(f32, f32, Entity)>,
    pairs: Vec<(Entity, Entity)>,
    total: u64,
}

fn base_collide(
    _frame: Res<BaselineFrame>,
    q: Query<(Entity, &Pos), With<Bullet>>,
    _last: ResMut<LastHits>,
    _targets: Query<&mut ExtractTarget>,
    _writer: MessageWriter<HitsReady>,
    mut buffers: Local<CollideBuffers>,
) {
    let CollideBuffers {
        items,
        pairs,
        total,
    } = &mut *buffers;
    items.clear();
    pairs.clear();
    for (e, p) in &q {
        items.push((p.x, p.y, e));
    }
    items.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.2.cmp(&b.2)));
    for (i, a) in items.iter().enumerate() {
        for b in &items[i + 1..] {
            if b.0 - a.0 > RADIUS {
                break;
            }
            if (b.1 - a.1).abs() <= RADIUS {
                pairs.push((a.2, b.2));
            }
        }
    }
    *total += pairs.len() as u64;
}

fn base_extract(
    _frame: Res<BaselineFrame>,
    _last: Res<LastHits>,
    _targets: Query<&ExtractTarget>,
    _reader: MessageReader<HitsReady>,
    _report: ResMut<Report>,
) {
}

fn base_probe(_frame: Res<BaselineFrame>, _report: ResMut<Report>) {}
