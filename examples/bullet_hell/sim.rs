//! The bullet-hell simulation, shared by both modes.
//!
//! Everything that decides *what happens* lives here and is written once:
//! bullet emission patterns, movement, the uniform-grid broadphase, the
//! collision test and the enemy AI (a short path search plus a visibility
//! ray). The memory-hungry parts are generic over an
//! [`allocator_api2::alloc::Allocator`]: the baseline passes `Global` (a fresh
//! heap allocation every time, the way such code is usually written), tickmem
//! passes the frame arena or a scratch arena. Same algorithm, same floating
//! point operations in the same order: both modes must end with the same
//! checksum.

#![allow(
    dead_code,
    reason = "each binary including this module uses a different part"
)]

use allocator_api2::alloc::Allocator;
use allocator_api2::boxed::Box as ABox;
use allocator_api2::vec::Vec as AVec;
use bevy_ecs::prelude::*;

/// Side of the square play field.
pub(crate) const WORLD: f32 = 1024.0;
/// Side of one broadphase cell.
pub(crate) const CELL: f32 = 32.0;
/// Cells per side.
pub(crate) const GRID: usize = (WORLD / CELL) as usize;
/// Bullets closer than this to an enemy's centre hit it.
pub(crate) const ENEMY_RADIUS: f32 = 14.0;
/// Bullet speed, per tick.
pub(crate) const BULLET_SPEED: f32 = 2.5;
/// Bullets live this many ticks unless they leave the field or hit.
pub(crate) const BULLET_TTL: u16 = 48;
/// Hit points of a fresh enemy.
pub(crate) const ENEMY_HP: i32 = 40;
/// Enemy speed, per tick.
pub(crate) const ENEMY_SPEED: f32 = 1.5;
/// How many cells (Chebyshev distance) an enemy's path search looks around.
pub(crate) const AI_RADIUS: i32 = 4;
/// Enemies per AI job.
pub(crate) const AI_CHUNK: usize = 16;

/// A 2D vector.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct V2 {
    pub(crate) x: f32,
    pub(crate) y: f32,
}

impl V2 {
    pub(crate) const fn new(x: f32, y: f32) -> Self {
        V2 { x, y }
    }
    pub(crate) fn add(self, o: V2) -> V2 {
        V2::new(self.x + o.x, self.y + o.y)
    }
    pub(crate) fn sub(self, o: V2) -> V2 {
        V2::new(self.x - o.x, self.y - o.y)
    }
    pub(crate) fn scale(self, s: f32) -> V2 {
        V2::new(self.x * s, self.y * s)
    }
    pub(crate) fn len2(self) -> f32 {
        self.x * self.x + self.y * self.y
    }
    pub(crate) fn bits(self) -> u64 {
        (u64::from(self.x.to_bits()) << 32) | u64::from(self.y.to_bits())
    }
}

/// A bullet's identity: unique for the whole run, assigned in emission order.
#[derive(Component, Clone, Copy, Debug)]
pub(crate) struct Bullet {
    pub(crate) id: u64,
}

/// Position.
#[derive(Component, Clone, Copy, Debug)]
pub(crate) struct Pos(pub(crate) V2);

/// Velocity.
#[derive(Component, Clone, Copy, Debug)]
pub(crate) struct Vel(pub(crate) V2);

/// Ticks left to live.
#[derive(Component, Clone, Copy, Debug)]
pub(crate) struct Ttl(pub(crate) u16);

/// An enemy: an emitter that moves, takes hits and respawns.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Enemy {
    /// Its fixed place in emission order.
    pub(crate) slot: u32,
    pub(crate) pos: V2,
    pub(crate) vel: V2,
    pub(crate) hp: i32,
    /// Rotation of its emission ring.
    pub(crate) phase: f32,
    /// How many times this slot has respawned.
    pub(crate) lives: u32,
}

impl Enemy {
    /// The enemy in `slot` after `lives` respawns: a place derived from the seed.
    pub(crate) fn spawn(seed: u64, slot: u32, lives: u32) -> Enemy {
        let h = mix(seed ^ (u64::from(slot) << 32) ^ u64::from(lives));
        let margin = 3.0 * CELL;
        let span = WORLD - 2.0 * margin;
        let x = margin + (h & 0xFFFF) as f32 / 65535.0 * span;
        let y = margin + ((h >> 16) & 0xFFFF) as f32 / 65535.0 * span;
        Enemy {
            slot,
            pos: V2::new(x, y),
            vel: V2::default(),
            hp: ENEMY_HP,
            phase: ((h >> 32) & 0xFFFF) as f32 / 65535.0 * std::f32::consts::TAU,
            lives,
        }
    }
}

/// Simulation parameters (a resource).
#[derive(Resource, Clone, Copy, Debug)]
pub(crate) struct SimConfig {
    pub(crate) seed: u64,
    pub(crate) enemies: u32,
    pub(crate) bullets_per_tick: u32,
}

impl SimConfig {
    /// Bullets each enemy emits per tick.
    pub(crate) fn per_enemy(&self) -> u32 {
        (self.bullets_per_tick / self.enemies).max(1)
    }
}

/// Running totals (a resource), part of the checksum.
#[derive(Resource, Default, Debug, Clone, Copy)]
pub(crate) struct SimStats {
    pub(crate) tick: u64,
    pub(crate) next_bullet_id: u64,
    pub(crate) hits: u64,
    /// What the "render extract" system saw of last tick's hits.
    pub(crate) render_sum: u64,
    pub(crate) render_hits: u64,
    pub(crate) respawns: u64,
}

/// A bullet hitting an enemy: made in tick N, read by the render extract in N+1.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hit {
    pub(crate) enemy_slot: u32,
    pub(crate) bullet_id: u64,
    pub(crate) at: V2,
}

impl Hit {
    /// An order-independent digest (summed with wrapping adds).
    pub(crate) fn digest(&self) -> u64 {
        mix(u64::from(self.enemy_slot) ^ self.bullet_id.rotate_left(17) ^ self.at.bits())
    }
}

/// SplitMix64's finaliser.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Where bullet `i` of `k` leaves enemy `e`, and how fast.
pub(crate) fn emit_bullet(e: &Enemy, i: u32, k: u32) -> (V2, V2) {
    let angle = e.phase + i as f32 * (std::f32::consts::TAU / k as f32);
    let dir = V2::new(angle.cos(), angle.sin());
    (
        e.pos.add(dir.scale(ENEMY_RADIUS + 2.0)),
        dir.scale(BULLET_SPEED),
    )
}

/// Move a bullet one tick.
pub(crate) fn step_bullet(pos: &mut Pos, vel: &Vel, ttl: &mut Ttl) {
    pos.0 = pos.0.add(vel.0);
    ttl.0 = ttl.0.saturating_sub(1);
}

/// Does a bullet die this tick (time out or leave the field)?
pub(crate) fn bullet_expired(pos: &Pos, ttl: &Ttl) -> bool {
    ttl.0 == 0 || !in_field(pos.0)
}

fn in_field(p: V2) -> bool {
    p.x >= 0.0 && p.y >= 0.0 && p.x < WORLD && p.y < WORLD
}

/// The cell holding `p` (clamped to the field).
pub(crate) fn cell_of(p: V2) -> (i32, i32) {
    let cx = ((p.x / CELL) as i32).clamp(0, GRID as i32 - 1);
    let cy = ((p.y / CELL) as i32).clamp(0, GRID as i32 - 1);
    (cx, cy)
}

fn cell_index(cx: i32, cy: i32) -> usize {
    cy as usize * GRID + cx as usize
}

/// One bullet as the broadphase sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GridItem {
    pub(crate) entity: Entity,
    pub(crate) pos: V2,
    pub(crate) id: u64,
    pub(crate) hit: bool,
}

/// The uniform grid: one list of bullets per cell, built every tick.
pub(crate) struct Grid<A: Allocator + Copy> {
    pub(crate) cells: AVec<AVec<GridItem, A>, A>,
}

impl<A: Allocator + Copy> Grid<A> {
    /// Sort `bullets` into cells, one list per cell, as a `Vec<Vec<_>>`
    /// broadphase does. `hint` is last tick's count per cell (empty on the
    /// first tick): each list starts with room for about that many, so few
    /// have to grow.
    pub(crate) fn build(
        alloc: A,
        hint: &[u16],
        bullets: impl Iterator<Item = (Entity, V2, u64)>,
    ) -> Self {
        let mut cells = AVec::with_capacity_in(GRID * GRID, alloc);
        for i in 0..GRID * GRID {
            let expect = hint.get(i).map_or(0, |&n| n as usize + n as usize / 4 + 2);
            cells.push(AVec::with_capacity_in(expect, alloc));
        }
        for (entity, pos, id) in bullets {
            let (cx, cy) = cell_of(pos);
            cells[cell_index(cx, cy)].push(GridItem {
                entity,
                pos,
                id,
                hit: false,
            });
        }
        Grid { cells }
    }

    /// Bullets per cell, saturated to `u16`.
    pub(crate) fn counts(&self) -> [u16; GRID * GRID] {
        let mut out = [0; GRID * GRID];
        for (o, c) in out.iter_mut().zip(&self.cells) {
            *o = c.len().min(u16::MAX as usize) as u16;
        }
        out
    }
}

/// Test every enemy against the bullets in the cells it overlaps. Returns the
/// damage per enemy (in `enemies` order) and pushes each hit to `on_hit`;
/// bullets that hit are flagged in the grid.
pub(crate) fn collide<A: Allocator + Copy>(
    alloc: A,
    grid: &mut Grid<A>,
    enemies: &[Enemy],
    mut on_hit: impl FnMut(Hit),
) -> AVec<i32, A> {
    let mut damage = AVec::with_capacity_in(enemies.len(), alloc);
    let r2 = ENEMY_RADIUS * ENEMY_RADIUS;
    for e in enemies {
        let mut d = 0;
        let (x0, y0) = cell_of(e.pos.sub(V2::new(ENEMY_RADIUS, ENEMY_RADIUS)));
        let (x1, y1) = cell_of(e.pos.add(V2::new(ENEMY_RADIUS, ENEMY_RADIUS)));
        for cy in y0..=y1 {
            for cx in x0..=x1 {
                for item in grid.cells[cell_index(cx, cy)].iter_mut() {
                    if item.pos.sub(e.pos).len2() < r2 {
                        item.hit = true;
                        d += 1;
                        on_hit(Hit {
                            enemy_slot: e.slot,
                            bullet_id: item.id,
                            at: item.pos,
                        });
                    }
                }
            }
        }
        damage.push(d);
    }
    damage
}

/// A candidate destination found by the path search (boxed, as such code
/// often does with its temporaries).
struct Candidate {
    cell: (i32, i32),
    cost: u32,
}

/// The AI of one enemy: a breadth-first search over the cells around it for
/// the least crowded reachable cell (cost = bullets there × 8 + steps), then
/// a visibility ray towards it counting bullets on the way. Returns the new
/// velocity. All temporaries come from `alloc`.
pub(crate) fn think<A: Allocator + Copy>(alloc: A, e: &Enemy, counts: &[u16]) -> V2 {
    let side = (2 * AI_RADIUS + 1) as usize;
    let (ex, ey) = cell_of(e.pos);
    let local =
        |cx: i32, cy: i32| ((cy - ey + AI_RADIUS) as usize) * side + (cx - ex + AI_RADIUS) as usize;

    let mut visited: AVec<bool, A> = AVec::with_capacity_in(side * side, alloc);
    visited.resize(side * side, false);
    let mut parent: AVec<u16, A> = AVec::with_capacity_in(side * side, alloc);
    parent.resize(side * side, u16::MAX);
    let mut steps: AVec<u32, A> = AVec::with_capacity_in(side * side, alloc);
    steps.resize(side * side, 0);
    let mut queue: AVec<(i32, i32), A> = AVec::new_in(alloc);
    let mut head = 0;

    visited[local(ex, ey)] = true;
    queue.push((ex, ey));
    let mut best = ABox::new_in(
        Candidate {
            cell: (ex, ey),
            cost: u32::from(counts[cell_index(ex, ey)]) * 8,
        },
        alloc,
    );
    const DIRS: [(i32, i32); 4] = [(1, 0), (0, 1), (-1, 0), (0, -1)];
    while head < queue.len() {
        let (cx, cy) = queue[head];
        head += 1;
        let here = local(cx, cy);
        for (dx, dy) in DIRS {
            let (nx, ny) = (cx + dx, cy + dy);
            if nx < 0 || ny < 0 || nx >= GRID as i32 || ny >= GRID as i32 {
                continue;
            }
            if (nx - ex).abs() > AI_RADIUS || (ny - ey).abs() > AI_RADIUS {
                continue;
            }
            let l = local(nx, ny);
            if visited[l] {
                continue;
            }
            visited[l] = true;
            parent[l] = here as u16;
            steps[l] = steps[here] + 1;
            queue.push((nx, ny));
            let cost = u32::from(counts[cell_index(nx, ny)]) * 8 + steps[l];
            if cost < best.cost {
                best = ABox::new_in(
                    Candidate {
                        cell: (nx, ny),
                        cost,
                    },
                    alloc,
                );
            }
        }
    }

    // Walk the path back to the first step.
    let mut path: AVec<(i32, i32), A> = AVec::new_in(alloc);
    let mut at = local(best.cell.0, best.cell.1);
    let start = local(ex, ey);
    while at != start {
        let (lx, ly) = ((at % side) as i32, (at / side) as i32);
        path.push((ex + lx - AI_RADIUS, ey + ly - AI_RADIUS));
        at = parent[at] as usize;
    }
    let Some(&(nx, ny)) = path.last() else {
        return V2::default(); // Already in the best cell: hold.
    };

    // Visibility: march from the enemy to the destination, counting bullets
    // in the cells crossed; a crowded line of sight halves the speed.
    let target = V2::new(
        (best.cell.0 as f32 + 0.5) * CELL,
        (best.cell.1 as f32 + 0.5) * CELL,
    );
    let delta = target.sub(e.pos);
    let samples = 8;
    let mut crossed: AVec<usize, A> = AVec::with_capacity_in(samples, alloc);
    for s in 1..=samples {
        let p = e.pos.add(delta.scale(s as f32 / samples as f32));
        let (cx, cy) = cell_of(p);
        let i = cell_index(cx, cy);
        if !crossed.contains(&i) {
            crossed.push(i);
        }
    }
    let danger: u32 = crossed.iter().map(|&i| u32::from(counts[i])).sum();
    let speed = if danger > 24 {
        ENEMY_SPEED * 0.5
    } else {
        ENEMY_SPEED
    };

    let step = V2::new((nx as f32 + 0.5) * CELL, (ny as f32 + 0.5) * CELL).sub(e.pos);
    let len = step.len2().sqrt();
    if len < 1e-3 {
        V2::default()
    } else {
        step.scale(speed / len)
    }
}

/// Apply a tick's damage and decision to an enemy. Returns `true` when it
/// died (the caller respawns its slot with [`Enemy::spawn`]).
pub(crate) fn update_enemy(e: &mut Enemy, damage: i32, vel: V2) -> bool {
    e.hp -= damage;
    if e.hp <= 0 {
        return true;
    }
    e.vel = vel;
    let p = e.pos.add(vel);
    e.pos = V2::new(p.x.clamp(CELL, WORLD - CELL), p.y.clamp(CELL, WORLD - CELL));
    e.phase += 0.11;
    false
}

/// Run `job(first_index, chunk)` over `out` in chunks of [`AI_CHUNK`], on
/// bevy's compute task pool (inline when the pool has one thread).
pub(crate) fn run_jobs<T: Send>(out: &mut [T], job: impl Fn(usize, &mut [T]) + Sync) {
    let pool = bevy_tasks::ComputeTaskPool::get();
    if pool.thread_num() <= 1 {
        for (i, chunk) in out.chunks_mut(AI_CHUNK).enumerate() {
            job(i * AI_CHUNK, chunk);
        }
    } else {
        let job = &job;
        pool.scope(|s| {
            for (i, chunk) in out.chunks_mut(AI_CHUNK).enumerate() {
                s.spawn(async move { job(i * AI_CHUNK, chunk) });
            }
        });
    }
}

/// The end-of-run checksum: order-independent over bullets and enemies.
pub(crate) fn checksum(
    stats: &SimStats,
    bullets: impl Iterator<Item = (u64, V2, u16)>,
    enemies: impl Iterator<Item = Enemy>,
) -> u64 {
    let mut sum = mix(stats.tick ^ mix(stats.hits) ^ mix(stats.render_sum) ^ mix(stats.respawns));
    sum = sum.wrapping_add(mix(stats.next_bullet_id ^ stats.render_hits.rotate_left(7)));
    for (id, pos, ttl) in bullets {
        sum = sum.wrapping_add(mix(id ^ pos.bits().rotate_left(11) ^ u64::from(ttl)));
    }
    for e in enemies {
        sum = sum.wrapping_add(mix(u64::from(e.slot)
            ^ e.pos.bits().rotate_left(5)
            ^ (e.hp as u64)
            ^ (u64::from(e.lives) << 40)));
    }
    sum
}
