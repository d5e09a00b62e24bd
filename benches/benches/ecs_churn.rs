//! `ecs_churn`: 10,000 bullets spawned and despawned per tick in a bevy_ecs
//! schedule (single-threaded executor), one tick per iteration.
//!
//! * `spawn_despawn`: plain bevy, `Commands::spawn` / `despawn`.
//! * `entity_pool`: tickmem's `EntityPool` through `PoolCommands`, released
//!   and re-acquired in one system (or in systems without a sync point in
//!   between): the recycled entities are overwritten in place, in a batch.
//! * `entity_pool_in_place`: `PoolCommands::reuse` takes back an entity
//!   released this tick, and the system writes its new state through its own
//!   `Query` (no batch insertion at all); `acquire` only when none is free.
//! * `entity_pool_sync_point`: the `entity_pool` work, but releasing and acquiring in two
//!   systems separated by a sync point, so every bullet is parked (gets
//!   `Disabled`) and unparked: the pool's slow path, for comparison.
//!
//! Run: `cargo bench -p tickmem-benches --bench ecs_churn`.

use std::hint::black_box;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;
use criterion::{Criterion, criterion_group, criterion_main};
use tickmem_benches::SplitMix64;
use tickmem_ecs::{PoolCommands, TickmemWorldExt};

const BULLETS: usize = 10_000;

#[derive(Component, Clone, Copy)]
struct Bullet;

#[derive(Component, Clone, Copy)]
struct Pos(f32, f32);

#[derive(Component, Clone, Copy)]
struct Vel(f32, f32);

#[derive(Resource)]
struct Rng(SplitMix64);

impl Rng {
    fn bullet(&mut self) -> (Bullet, Pos, Vel) {
        let mut f = || (self.0.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        (
            Bullet,
            Pos(f() * 100.0, f() * 100.0),
            Vel(f() - 0.5, f() - 0.5),
        )
    }
}

fn spawn_despawn(mut commands: Commands, q: Query<Entity, With<Bullet>>, mut rng: ResMut<Rng>) {
    for e in &q {
        commands.entity(e).despawn();
    }
    for _ in 0..BULLETS {
        commands.spawn(rng.bullet());
    }
}

fn pool_churn(
    mut pool: PoolCommands<Bullet>,
    q: Query<Entity, With<Bullet>>,
    mut rng: ResMut<Rng>,
) {
    for e in &q {
        pool.release(e);
    }
    for _ in 0..BULLETS {
        pool.acquire(rng.bullet());
    }
}

fn pool_churn_typed(
    mut pool: PoolCommands<Bullet>,
    q: Query<Entity, With<Bullet>>,
    mut rng: ResMut<Rng>,
) {
    for e in &q {
        pool.release(e);
    }
    for _ in 0..BULLETS {
        pool.acquire_typed(rng.bullet());
    }
}

fn pool_in_place(
    mut pool: PoolCommands<Bullet>,
    mut q: Query<(Entity, &mut Pos, &mut Vel), With<Bullet>>,
    mut rng: ResMut<Rng>,
) {
    for (e, _, _) in &q {
        pool.release(e);
    }
    for _ in 0..BULLETS {
        let (bullet, pos, vel) = rng.bullet();
        match pool.reuse() {
            Some(e) => {
                let (_, mut p, mut v) = q.get_mut(e).expect("reused bullets keep their components");
                *p = pos;
                *v = vel;
            }
            None => {
                pool.acquire((bullet, pos, vel));
            }
        }
    }
}

fn pool_release(mut pool: PoolCommands<Bullet>, q: Query<Entity, With<Bullet>>) {
    for e in &q {
        pool.release(e);
    }
}

fn pool_acquire(mut pool: PoolCommands<Bullet>, mut rng: ResMut<Rng>) {
    for _ in 0..BULLETS {
        pool.acquire(rng.bullet());
    }
}

fn world() -> (World, Schedule) {
    let mut world = World::new();
    world.insert_resource(Rng(SplitMix64::new(0xB011E7)));
    let mut schedule = Schedule::default();
    schedule.set_executor(SingleThreadedExecutor::new());
    (world, schedule)
}

fn tick(world: &mut World, schedule: &mut Schedule) {
    schedule.run(world);
    world.clear_trackers();
}

/// The world holds exactly this tick's bullets, with sane values.
fn check(world: &mut World) {
    let mut q = world.query::<(&Pos, &Vel)>();
    let mut n = 0;
    for (p, v) in q.iter(world) {
        assert!((0.0..100.0).contains(&p.0) && (0.0..100.0).contains(&p.1));
        assert!(v.0.abs() <= 0.5 && v.1.abs() <= 0.5);
        n += 1;
    }
    assert_eq!(n, BULLETS);
}

fn bench(c: &mut Criterion) {
    tickmem_benches::make_process_multithreaded();
    let mut group = c.benchmark_group("ecs_churn");

    let (mut w, mut s) = world();
    s.add_systems(spawn_despawn);
    tick(&mut w, &mut s);
    group.bench_function("spawn_despawn", |b| {
        b.iter(|| tick(black_box(&mut w), &mut s));
    });
    check(&mut w);

    let (mut w, mut s) = world();
    w.register_entity_pool::<Bullet>();
    s.add_systems(pool_churn);
    tick(&mut w, &mut s);
    group.bench_function("entity_pool", |b| {
        b.iter(|| tick(black_box(&mut w), &mut s));
    });
    check(&mut w);

    let (mut w, mut s) = world();
    w.register_entity_pool::<Bullet>();
    s.add_systems(pool_churn_typed);
    tick(&mut w, &mut s);
    group.bench_function("entity_pool_typed", |b| {
        b.iter(|| tick(black_box(&mut w), &mut s));
    });
    check(&mut w);

    let (mut w, mut s) = world();
    w.register_entity_pool::<Bullet>();
    s.add_systems(pool_in_place);
    tick(&mut w, &mut s);
    group.bench_function("entity_pool_in_place", |b| {
        b.iter(|| tick(black_box(&mut w), &mut s));
    });
    check(&mut w);

    let (mut w, mut s) = world();
    w.register_entity_pool::<Bullet>();
    s.add_systems((pool_release, pool_acquire).chain());
    tick(&mut w, &mut s);
    group.bench_function("entity_pool_sync_point", |b| {
        b.iter(|| tick(black_box(&mut w), &mut s));
    });
    check(&mut w);

    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
