//! tickmem mode: the same game with tickmem's allocators.
//!
//! * bullets are recycled through an `EntityPool<Bullet>` (`PoolCommands`),
//!   released by `collide_and_think` and re-acquired by `emit` before the
//!   same flush, so most are overwritten in place;
//! * the broadphase grid, its cell lists, the enemy snapshot and the AI
//!   decisions live in the frame arena (`Frame`);
//! * each enemy's path query runs in a scratch arena inside a worker job;
//! * hits are persisted as `FrameHandle<Hit>`s and read by next tick's
//!   render extract;
//! * enemies live in a `Pool<Enemy>` (`ObjectPool`), named by `Handle`s.

use bevy_ecs::prelude::*;
use tickmem::ecs::{
    EntityPoolWorldExt, Frame, FrameMemory, ObjectPool, PoolCommands, TickmemWorldExt,
};
use tickmem::frame::FrameHandle;
use tickmem::pool::{Handle, Pool};

use crate::sim::*;

/// Each enemy slot's current handle into the enemy pool.
#[derive(Resource)]
pub(crate) struct EnemySlots(pub(crate) Vec<Handle<Enemy>>);

/// Last tick's bullets per cell (the broadphase's capacity hint), carried
/// into this tick by the frame arena.
#[derive(Resource, Default)]
pub(crate) struct LastCounts(pub(crate) Option<FrameHandle<[u16; GRID * GRID]>>);

/// Hits persisted this tick, read by the render extract next tick.
#[derive(Resource)]
pub(crate) struct PendingHits {
    pub(crate) handles: Vec<FrameHandle<Hit>>,
    /// One handle from two ticks ago: it must read `None`.
    pub(crate) stale_probe: Option<FrameHandle<Hit>>,
    pub(crate) stale_checked: u64,
}

/// Insert tickmem, the resources and the systems of tickmem mode.
#[allow(
    dead_code,
    reason = "the allocators bench uses it; the demo passes a config"
)]
pub(crate) fn setup(world: &mut World, schedule: &mut Schedule, cfg: SimConfig) {
    setup_with_config(world, schedule, cfg, tickmem::ecs::TickmemConfig::default());
}

/// [`setup`] with tickmem's configuration (an allocation budget, ...).
pub(crate) fn setup_with_config(
    world: &mut World,
    schedule: &mut Schedule,
    cfg: SimConfig,
    config: tickmem::ecs::TickmemConfig,
) {
    tickmem::ecs::install_with_config(world, schedule, config);
    world.register_entity_pool::<Bullet>();
    // Pre-warm: about as many bullets as will be alive at once.
    let expected = (cfg.per_enemy() * cfg.enemies) as usize * usize::from(BULLET_TTL);
    let blank = (
        Bullet { id: 0 },
        Pos(V2::default()),
        Vel(V2::default()),
        Ttl(0),
    );
    world.reserve_pooled::<Bullet, _>(expected, blank);

    let mut enemies = Pool::with_capacity(cfg.enemies as usize);
    let slots = (0..cfg.enemies)
        .map(|s| enemies.insert(Enemy::spawn(cfg.seed, s, 0)))
        .collect();
    world.insert_resource(ObjectPool::from(enemies));
    world.register_object_pool::<Enemy>();
    world.insert_resource(EnemySlots(slots));
    world.insert_resource(cfg);
    world.insert_resource(SimStats::default());
    world.insert_resource(LastCounts::default());
    world.insert_resource(PendingHits {
        handles: Vec::with_capacity(8192),
        stale_probe: None,
        stale_checked: 0,
    });
    schedule.add_systems(
        (
            render_extract,
            crate::baseline::move_bullets,
            // No sync point between them: bullets released by the first are
            // handed back by the second in the same flush, in place.
            (collide_and_think, emit).chain_ignore_deferred(),
            end_tick,
        )
            .chain(),
    );
}

fn render_extract(frame: Frame, mut pending: ResMut<PendingHits>, mut stats: ResMut<SimStats>) {
    let pending = &mut *pending;
    if let Some(old) = pending.stale_probe.take() {
        assert!(
            frame.get(old).is_none(),
            "a hit from two ticks ago must be gone"
        );
        pending.stale_checked += 1;
    }
    pending.stale_probe = pending.handles.first().copied();
    for h in pending.handles.drain(..) {
        let hit = frame
            .get(h)
            .expect("a hit persisted last tick is readable this tick");
        stats.render_sum = stats.render_sum.wrapping_add(hit.digest());
        stats.render_hits += 1;
    }
}

#[allow(clippy::too_many_arguments, reason = "a bevy system's parameters")]
fn collide_and_think(
    frame: Frame,
    mut pool: PoolCommands<Bullet>,
    bullets: Query<(Entity, &Pos, &Ttl, &Bullet)>,
    cfg: Res<SimConfig>,
    mut enemies: ResMut<ObjectPool<Enemy>>,
    mut slots: ResMut<EnemySlots>,
    mut pending: ResMut<PendingHits>,
    mut last_counts: ResMut<LastCounts>,
    mut stats: ResMut<SimStats>,
) {
    let a = frame.allocator();
    let hint = last_counts
        .0
        .and_then(|h| frame.get(h))
        .map_or(&[][..], |c| &c[..]);
    let mut grid = Grid::build(
        a,
        hint,
        bullets.iter().filter_map(|(e, p, t, b)| {
            if bullet_expired(p, t) {
                pool.release(e);
                None
            } else {
                Some((e, p.0, b.id))
            }
        }),
    );
    let mut snapshot = allocator_api2::vec::Vec::with_capacity_in(slots.0.len(), a);
    snapshot.extend(slots.0.iter().map(|&h| enemies[h]));
    let mut hits = 0;
    let damage = collide(a, &mut grid, &snapshot, |h| {
        pending.handles.push(frame.persist(h));
        hits += 1;
    });
    for item in grid.cells.iter().flat_map(|c| c.iter()) {
        if item.hit {
            pool.release(item.entity);
        }
    }
    let handle = frame.persist(grid.counts());
    last_counts.0 = Some(handle);
    let counts: &[u16] = frame.get(handle).expect("made this tick");
    let vels = frame.alloc_slice_fill_with(snapshot.len(), |_| V2::default());
    run_jobs(vels, |first, out| {
        for (j, v) in out.iter_mut().enumerate() {
            *v = tickmem::scratch::with(|s| think(s.allocator(), &snapshot[first + j], counts));
        }
    });
    for (i, h) in slots.0.iter_mut().enumerate() {
        if update_enemy(&mut enemies[*h], damage[i], vels[i]) {
            let old = enemies.remove(*h).expect("slot handles are live");
            *h = enemies.insert(Enemy::spawn(cfg.seed, old.slot, old.lives + 1));
            stats.respawns += 1;
        }
    }
    stats.hits += hits;
}

fn emit(
    mut pool: PoolCommands<Bullet>,
    mut bullets: Query<(&mut Bullet, &mut Pos, &mut Vel, &mut Ttl)>,
    cfg: Res<SimConfig>,
    enemies: Res<ObjectPool<Enemy>>,
    slots: Res<EnemySlots>,
    mut stats: ResMut<SimStats>,
) {
    let k = cfg.per_enemy();
    for &h in &slots.0 {
        let e = &enemies[h];
        for i in 0..k {
            let (p, v) = emit_bullet(e, i, k);
            let id = stats.next_bullet_id;
            stats.next_bullet_id += 1;
            // A bullet released this tick is overwritten in place; only when
            // none is left does the pool hand out a parked one (or spawn).
            match pool.reuse() {
                Some(e) => {
                    let (mut b, mut pos, mut vel, mut ttl) = bullets
                        .get_mut(e)
                        .expect("released bullets stay enabled until the flush");
                    (b.id, pos.0, vel.0, ttl.0) = (id, p, v, BULLET_TTL);
                }
                None => {
                    pool.acquire((Bullet { id }, Pos(p), Vel(v), Ttl(BULLET_TTL)));
                }
            }
        }
    }
}

fn end_tick(mut stats: ResMut<SimStats>) {
    stats.tick += 1;
}

/// Bytes the frame arena handed out this tick.
pub(crate) fn frame_bytes(world: &World) -> u64 {
    world
        .resource::<FrameMemory>()
        .arena()
        .stats()
        .bytes_this_frame as u64
}

/// The end-of-run checksum (parked bullets are hidden by `Disabled`).
pub(crate) fn checksum(world: &mut World) -> u64 {
    let stats = *world.resource::<SimStats>();
    let mut q = world.query::<(&Bullet, &Pos, &Ttl)>();
    let bullets: Vec<(u64, V2, u16)> = q.iter(world).map(|(b, p, t)| (b.id, p.0, t.0)).collect();
    let enemies = world.resource::<ObjectPool<Enemy>>();
    let slots = world.resource::<EnemySlots>();
    let list: Vec<Enemy> = slots.0.iter().map(|&h| enemies[h]).collect();
    crate::sim::checksum(&stats, bullets.into_iter(), list.into_iter())
}
