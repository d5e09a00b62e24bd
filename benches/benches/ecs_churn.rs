//! `ecs_churn`: 10,000 bullets spawned and despawned per tick in a bevy_ecs
//! schedule (single-threaded executor), one tick per iteration.
//!
//! * `spawn_despawn`: plain bevy, `Commands::spawn` / `despawn`.
//! * `entity_pool`: tickmem's `EntityPool` through `PoolCommands`, released
//!   and re-acquired with `acquire` in one system (or in systems without a
//!   sync point in between): the recycled entities are overwritten in place
//!   at the flush by bevy's batch insertion.
//! * `entity_pool_typed`: the same with `acquire_typed`: the flush writes the
//!   `(Bullet, Pos, Vel)` tuples by assignment through a cached typed query.
//! * `entity_pool_in_place`: `PoolCommands::reuse` takes back an entity
//!   released this tick, and the system writes its new state through its own
//!   `Query` (nothing written at the flush); `acquire` only when none is free.
//! * `entity_pool_sync_point`: the `entity_pool` work, but releasing and
//!   acquiring in two systems separated by a sync point, so every bullet is
//!   parked (gets `Disabled`) and unparked: the pool's slow path, for
//!   comparison.
//!
//! Run: `cargo bench -p tickmem-benches --bench ecs_churn`. On a shared
//! machine, `ECS_CHURN_INTERLEAVED=100 cargo bench -p tickmem-benches --bench
//! ecs_churn` times the variants round-robin instead and prints the fastest
//! and median tick of each (see [`interleaved`]).

use std::hint::black_box;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;
use criterion::Criterion;
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

#[inline(never)]
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

/// Every variant: its id, and a world and schedule warmed up by one tick.
fn variants() -> Vec<(&'static str, World, Schedule)> {
    let mut out = Vec::new();
    let mut add = |id, pooled: bool, systems: bevy_ecs::schedule::ScheduleConfigs<_>| {
        let (mut w, mut s) = world();
        if pooled {
            w.register_entity_pool::<Bullet>();
        }
        s.add_systems(systems);
        tick(&mut w, &mut s);
        out.push((id, w, s));
    };
    add("spawn_despawn", false, spawn_despawn.into_configs());
    add("entity_pool", true, pool_churn.into_configs());
    add("entity_pool_typed", true, pool_churn_typed.into_configs());
    add("entity_pool_in_place", true, pool_in_place.into_configs());
    add(
        "entity_pool_sync_point",
        true,
        (pool_release, pool_acquire).chain(),
    );
    out
}

fn bench(c: &mut Criterion) {
    tickmem_benches::make_process_multithreaded();
    let mut group = c.benchmark_group("ecs_churn");
    for (id, mut w, mut s) in variants() {
        group.bench_function(id, |b| {
            b.iter(|| tick(black_box(&mut w), &mut s));
        });
        check(&mut w);
    }
    group.finish();
}

/// `ECS_CHURN_INTERLEAVED=<rounds>`: instead of criterion, time the variants
/// round-robin (per round and variant: 3 untimed ticks to warm the caches up
/// again, then 10 timed ones) and print each one's fastest and median tick,
/// and the ratios to `spawn_despawn`. Interleaving exposes every variant to
/// the same background load, which a criterion run (one variant after the
/// other) does not on a shared machine.
fn interleaved(rounds: usize) {
    use std::time::Instant;

    tickmem_benches::make_process_multithreaded();
    let mut variants = variants();
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); variants.len()];
    for _ in 0..rounds {
        for ((_, w, s), samples) in variants.iter_mut().zip(&mut samples) {
            for _ in 0..3 {
                tick(black_box(w), s);
            }
            let start = Instant::now();
            for _ in 0..10 {
                tick(black_box(w), s);
            }
            samples.push(start.elapsed().as_secs_f64() / 10.0);
        }
    }
    let stats: Vec<(f64, f64)> = samples
        .iter_mut()
        .map(|s| {
            s.sort_by(f64::total_cmp);
            (s[0], s[s.len() / 2])
        })
        .collect();
    println!("ecs_churn interleaved, {rounds} rounds of 3 + 10 ticks per variant");
    println!("variant                  min µs  median µs  spawn_despawn/min  spawn_despawn/median");
    for ((id, w, _), &(min, median)) in variants.iter_mut().zip(&stats) {
        println!(
            "{id:<24} {:>6.1} {:>10.1} {:>18.2} {:>21.2}",
            min * 1e6,
            median * 1e6,
            stats[0].0 / min,
            stats[0].1 / median
        );
        check(w);
    }
}

fn main() {
    if let Some(rounds) = std::env::var("ECS_CHURN_INTERLEAVED")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        interleaved(rounds);
        return;
    }
    bench(&mut Criterion::default().configure_from_args());
    Criterion::default().configure_from_args().final_summary();
}
