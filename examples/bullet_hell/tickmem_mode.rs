//! tickmem mode: the same game with tickmem's allocators.
//!
//! * bullets are recycled through an `EntityPool<Bullet>` (`PoolCommands`),
//!   released by `collide` and re-acquired by `emit` before the same flush,
//!   so most are overwritten in place;
//! * the broadphase grid and its cell lists live in the frame arena; what
//!   the collision pass found (bullets per cell, the enemy snapshot, damage,
//!   hits) is *frame data*: `collide` publishes it (`FrameWriter`), `think`
//!   reads it later in the tick and next tick's `render_extract` reads the
//!   hits (`FrameReader`), with no copy and no handle per hit; next tick's
//!   broadphase sizes its cells from it (`publish_with_previous`);
//! * each enemy's path query runs in a scratch arena inside a worker job;
//! * enemies live in a `Pool<Enemy>` (`ObjectPool`), named by `Handle`s.

use allocator_api2::vec::Vec as AVec;
use bevy_ecs::prelude::*;
use tickmem::ecs::{
    EntityPoolWorldExt, Frame, FrameMemory, FrameReader, FrameWriter, ObjectPool, PoolCommands,
    TickmemWorldExt,
};
use tickmem::frame::FrameAlloc;
use tickmem::pool::{Handle, Pool};

use crate::sim::{collide as collide_grid, think as think_enemy, *};

/// Each enemy slot's current handle into the enemy pool.
#[derive(Resource)]
pub(crate) struct EnemySlots(pub(crate) Vec<Handle<Enemy>>);

/// What the collision pass found, in this tick's frame memory.
pub(crate) struct Contacts<'f> {
    /// Bullets per cell (the AI's input, and next tick's capacity hint).
    pub(crate) counts: &'f [u16],
    /// The enemies as the collision pass saw them, in slot order.
    pub(crate) enemies: AVec<Enemy, FrameAlloc<'f>>,
    /// Damage per enemy, in slot order.
    pub(crate) damage: AVec<i32, FrameAlloc<'f>>,
    /// Bullets that hit an enemy, read by next tick's render extract.
    pub(crate) hits: AVec<Hit, FrameAlloc<'f>>,
}

tickmem::frame::frame_data! {
    /// This tick's collision results.
    pub(crate) ContactData<'f> = Contacts<'f>;
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
    schedule.add_systems(
        (
            render_extract,
            crate::baseline::move_bullets,
            // No sync point between them: bullets released by `collide` are
            // handed back by `emit` in the same flush, in place.
            (collide, think, emit).chain_ignore_deferred(),
            end_tick,
        )
            .chain(),
    );
}

/// Last tick's hits, read where `collide` left them (frame data of the
/// previous tick).
fn render_extract(contacts: FrameReader<ContactData>, mut stats: ResMut<SimStats>) {
    if let Some(last) = contacts.previous() {
        for hit in &last.hits {
            stats.render_sum = stats.render_sum.wrapping_add(hit.digest());
            stats.render_hits += 1;
        }
    }
}

/// The broadphase and the collision test. Expired bullets and bullets that
/// hit are released to the pool; the results are published for `think` and
/// next tick's `render_extract`.
fn collide(
    mut contacts: FrameWriter<ContactData>,
    mut pool: PoolCommands<Bullet>,
    bullets: Query<(Entity, &Pos, &Ttl, &Bullet)>,
    enemies: Res<ObjectPool<Enemy>>,
    slots: Res<EnemySlots>,
    mut stats: ResMut<SimStats>,
) {
    let found = contacts.publish_with_previous(|f, last| {
        let a = f.allocator();
        // Last tick's bullets per cell size this tick's cell lists, and its
        // hits this tick's hit list (frame memory is not reused within a
        // frame: pre-sizing keeps a growing list from leaving copies behind).
        let hint = last.map_or(&[][..], |c| c.counts);
        let expected_hits = last.map_or(64, |c| c.hits.len() + c.hits.len() / 4 + 64);
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
        let mut snapshot = AVec::with_capacity_in(slots.0.len(), a);
        snapshot.extend(slots.0.iter().map(|&h| enemies[h]));
        let mut hits = AVec::with_capacity_in(expected_hits, a);
        let damage = collide_grid(a, &mut grid, &snapshot, |h| hits.push(h));
        for item in grid.cells.iter().flat_map(|c| c.iter()) {
            if item.hit {
                pool.release(item.entity);
            }
        }
        let counts = f.alloc_slice_fill_with(GRID * GRID, |i| {
            grid.cells[i].len().min(u16::MAX as usize) as u16
        });
        Contacts {
            counts,
            enemies: snapshot,
            damage,
            hits,
        }
    });
    stats.hits += found.hits.len() as u64;
}

/// The enemies' AI, in scratch arenas inside worker jobs, on what `collide`
/// published this tick; then damage, movement and respawns.
fn think(
    frame: Frame,
    contacts: FrameReader<ContactData>,
    cfg: Res<SimConfig>,
    mut enemies: ResMut<ObjectPool<Enemy>>,
    mut slots: ResMut<EnemySlots>,
    mut stats: ResMut<SimStats>,
) {
    let found = contacts.get().expect("`collide` published this tick");
    let vels = frame.alloc_slice_fill_with(found.enemies.len(), |_| V2::default());
    run_jobs(vels, |first, out| {
        for (j, v) in out.iter_mut().enumerate() {
            *v = tickmem::scratch::with(|s| {
                think_enemy(s.allocator(), &found.enemies[first + j], found.counts)
            });
        }
    });
    for (i, h) in slots.0.iter_mut().enumerate() {
        if update_enemy(&mut enemies[*h], found.damage[i], vels[i]) {
            let old = enemies.remove(*h).expect("slot handles are live");
            *h = enemies.insert(Enemy::spawn(cfg.seed, old.slot, old.lives + 1));
            stats.respawns += 1;
        }
    }
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
