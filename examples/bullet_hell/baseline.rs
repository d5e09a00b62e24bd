//! Baseline mode: the same game written the way it usually is without
//! tickmem. Per-tick `Vec`s from the global allocator (the broadphase's cell
//! lists, the AI's search buffers), `Box`ed temporaries and hits, and
//! bullets spawned and despawned through `Commands`.
#![allow(
    clippy::vec_box,
    clippy::replace_box,
    reason = "the baseline is written the way such code often is: objects and temporaries in their own boxes"
)]

use allocator_api2::alloc::Global;
use bevy_ecs::prelude::*;

use crate::sim::*;

/// Enemies by slot, each in its own box.
#[derive(Resource)]
pub(crate) struct Enemies(pub(crate) Vec<Box<Enemy>>);

/// Last tick's bullets per cell, the broadphase's capacity hint.
#[derive(Resource, Default)]
pub(crate) struct LastCounts(pub(crate) Vec<u16>);

/// Last tick's hits, for the render extract.
#[derive(Resource, Default)]
pub(crate) struct LastTickHits(pub(crate) Vec<Box<Hit>>);

/// Insert the resources and systems of baseline mode.
pub(crate) fn setup(world: &mut World, schedule: &mut Schedule, cfg: SimConfig) {
    world.insert_resource(cfg);
    world.insert_resource(SimStats::default());
    world.insert_resource(Enemies(
        (0..cfg.enemies)
            .map(|s| Box::new(Enemy::spawn(cfg.seed, s, 0)))
            .collect(),
    ));
    world.insert_resource(LastTickHits::default());
    world.insert_resource(LastCounts::default());
    schedule.add_systems(
        (
            render_extract,
            move_bullets,
            collide_and_think,
            emit,
            end_tick,
        )
            .chain(),
    );
}

fn render_extract(mut last: ResMut<LastTickHits>, mut stats: ResMut<SimStats>) {
    let hits = std::mem::take(&mut last.0);
    for h in &hits {
        stats.render_sum = stats.render_sum.wrapping_add(h.digest());
        stats.render_hits += 1;
    }
}

fn emit(
    mut commands: Commands,
    cfg: Res<SimConfig>,
    enemies: Res<Enemies>,
    mut stats: ResMut<SimStats>,
) {
    let k = cfg.per_enemy();
    for e in &enemies.0 {
        for i in 0..k {
            let (p, v) = emit_bullet(e, i, k);
            let id = stats.next_bullet_id;
            stats.next_bullet_id += 1;
            commands.spawn((Bullet { id }, Pos(p), Vel(v), Ttl(BULLET_TTL)));
        }
    }
}

/// Move every live bullet (shared by both modes).
pub(crate) fn move_bullets(mut q: Query<(&mut Pos, &Vel, &mut Ttl), With<Bullet>>) {
    q.par_iter_mut()
        .for_each(|(mut p, v, mut t)| step_bullet(&mut p, v, &mut t));
}

fn collide_and_think(
    mut commands: Commands,
    bullets: Query<(Entity, &Pos, &Ttl, &Bullet)>,
    cfg: Res<SimConfig>,
    mut enemies: ResMut<Enemies>,
    mut last: ResMut<LastTickHits>,
    mut last_counts: ResMut<LastCounts>,
    mut stats: ResMut<SimStats>,
) {
    let mut grid = Grid::build(
        Global,
        &last_counts.0,
        bullets.iter().filter_map(|(e, p, t, b)| {
            if bullet_expired(p, t) {
                commands.entity(e).despawn();
                None
            } else {
                Some((e, p.0, b.id))
            }
        }),
    );
    let snapshot: Vec<Enemy> = enemies.0.iter().map(|b| **b).collect();
    let mut hits = Vec::new();
    let damage = collide(Global, &mut grid, &snapshot, |h| hits.push(Box::new(h)));
    for item in grid.cells.iter().flat_map(|c| c.iter()) {
        if item.hit {
            commands.entity(item.entity).despawn();
        }
    }
    let counts = grid.counts().to_vec();
    let mut vels = vec![V2::default(); snapshot.len()];
    run_jobs(&mut vels, |first, out| {
        for (j, v) in out.iter_mut().enumerate() {
            *v = think(Global, &snapshot[first + j], &counts);
        }
    });
    for (i, e) in enemies.0.iter_mut().enumerate() {
        if update_enemy(e, damage[i], vels[i]) {
            *e = Box::new(Enemy::spawn(cfg.seed, e.slot, e.lives + 1));
            stats.respawns += 1;
        }
    }
    stats.hits += hits.len() as u64;
    last.0 = hits;
    last_counts.0 = counts;
}

fn end_tick(mut stats: ResMut<SimStats>) {
    stats.tick += 1;
}

/// The end-of-run checksum.
pub(crate) fn checksum(world: &mut World) -> u64 {
    let stats = *world.resource::<SimStats>();
    let mut q = world.query::<(&Bullet, &Pos, &Ttl)>();
    let bullets: Vec<(u64, V2, u16)> = q.iter(world).map(|(b, p, t)| (b.id, p.0, t.0)).collect();
    let enemies: Vec<Enemy> = world.resource::<Enemies>().0.iter().map(|b| **b).collect();
    crate::sim::checksum(&stats, bullets.into_iter(), enemies.into_iter())
}
