//! `EntityPool`: recycling semantics against a model, misuse errors, and
//! allocation-free steady state.

#[global_allocator]
static GLOBAL: tickmem_track::CountingAlloc = tickmem_track::CountingAlloc::system();

use std::collections::HashMap;

use bevy_ecs::entity_disabling::Disabled;
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;
use bevy_ecs::world::Mut;
use proptest::prelude::*;
use tickmem_ecs::{
    EntityPool, EntityPoolWorldExt, MemoryStats, PoolCommands, ReleaseError, TickmemWorldExt,
};

#[derive(Component, Clone, Debug, PartialEq)]
struct Item(u32);

#[derive(Component, Clone, Debug, PartialEq)]
struct Extra(u32);

fn world_with_pool() -> World {
    let mut world = World::new();
    world.register_entity_pool::<Item>();
    world
}

/// Record an acquisition (applied at the next flush).
fn acquire_deferred(world: &mut World, value: u32) -> Entity {
    world.resource_scope(|world, mut pool: Mut<EntityPool<Item>>| {
        pool.acquire(world.entity_allocator(), Item(value))
    })
}

fn pool(world: &World) -> &EntityPool<Item> {
    world.resource::<EntityPool<Item>>()
}

#[derive(Debug, Clone)]
enum Op {
    Acquire(u32),
    AcquireWithExtra(u32),
    Release(usize),
    Flush,
    AcquireNow(u32),
    ReleaseNow(usize),
    Reuse(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u32>().prop_map(Op::Acquire),
        1 => any::<u32>().prop_map(Op::AcquireWithExtra),
        4 => any::<usize>().prop_map(Op::Release),
        2 => Just(Op::Flush),
        1 => any::<u32>().prop_map(Op::AcquireNow),
        1 => any::<usize>().prop_map(Op::ReleaseNow),
        3 => any::<u32>().prop_map(Op::Reuse),
    ]
}

/// After a flush, the world matches the model exactly.
fn check_flushed(world: &mut World, live: &HashMap<Entity, u32>) {
    let p = pool(world);
    assert!(!p.needs_flush());
    assert_eq!(p.live(), live.len());
    assert_eq!(p.pending_releases(), 0);
    assert_eq!(p.free() as u64 + p.live() as u64, p.spawned());
    let visible: HashMap<Entity, u32> = world
        .query::<(Entity, &Item)>()
        .iter(world)
        .map(|(e, i)| (e, i.0))
        .collect();
    assert_eq!(&visible, live, "enabled entities and their values");
    let parked = world
        .query_filtered::<Entity, (With<Item>, With<Disabled>)>()
        .iter(world)
        .count();
    assert_eq!(parked, pool(world).parked());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random programs of acquire / release / flush against a map of the
    /// entities that should be live and their values.
    #[test]
    fn model(ops in proptest::collection::vec(op(), 1..120)) {
        let mut world = world_with_pool();
        // The model: acquired entities and their latest values.
        let mut live: HashMap<Entity, u32> = HashMap::new();
        let mut order: Vec<Entity> = Vec::new();
        for op in ops {
            match op {
                Op::Acquire(v) | Op::AcquireWithExtra(v) => {
                    let e = if matches!(op, Op::AcquireWithExtra(_)) {
                        world.resource_scope(|world, mut pool: Mut<EntityPool<Item>>| {
                            pool.acquire(world.entity_allocator(), (Item(v), Extra(v)))
                        })
                    } else {
                        acquire_deferred(&mut world, v)
                    };
                    prop_assert!(live.insert(e, v).is_none(), "{e} handed out twice");
                    order.push(e);
                }
                Op::AcquireNow(v) => {
                    let e = world.acquire_pooled::<Item, _>(Item(v));
                    prop_assert!(live.insert(e, v).is_none(), "{e} handed out twice");
                    order.push(e);
                    check_flushed(&mut world, &live);
                }
                Op::Release(i) | Op::ReleaseNow(i) => {
                    if order.is_empty() {
                        continue;
                    }
                    let e = order.swap_remove(i % order.len());
                    live.remove(&e);
                    if matches!(op, Op::ReleaseNow(_)) {
                        world.release_pooled::<Item>(e);
                        check_flushed(&mut world, &live);
                    } else {
                        world.resource_mut::<EntityPool<Item>>().release(e);
                    }
                }
                Op::Flush => {
                    world.flush_entity_pool::<Item>();
                    check_flushed(&mut world, &live);
                }
                Op::Reuse(v) => {
                    let reused = world.resource_mut::<EntityPool<Item>>().reuse();
                    if let Some(e) = reused {
                        // It exists, enabled, with its components: the
                        // caller overwrites them in place.
                        prop_assert!(world.get::<Disabled>(e).is_none());
                        world.get_mut::<Item>(e).expect("reused entity has its components").0 = v;
                        prop_assert!(live.insert(e, v).is_none(), "{e} handed out twice");
                        order.push(e);
                    }
                }
            }
            prop_assert_eq!(pool(&world).live(), live.len());
        }
        world.flush_entity_pool::<Item>();
        check_flushed(&mut world, &live);
    }
}

#[test]
fn release_parks_and_acquire_reuses() {
    let mut world = world_with_pool();
    let a = world.acquire_pooled::<Item, _>((Item(1), Extra(10)));
    world.release_pooled::<Item>(a);
    assert!(world.get::<Disabled>(a).is_some(), "parked");
    assert_eq!(world.query::<&Item>().iter(&world).count(), 0);
    assert_eq!(pool(&world).parked(), 1);

    let b = world.acquire_pooled::<Item, _>(Item(2));
    assert_eq!(a, b, "the parked entity is reused, same identity");
    assert!(world.get::<Disabled>(b).is_none());
    assert_eq!(world.get::<Item>(b), Some(&Item(2)));
    // Components beyond the bundle stay (documented).
    assert_eq!(world.get::<Extra>(b), Some(&Extra(10)));
    assert_eq!(pool(&world).spawned(), 1);
}

#[test]
fn release_then_acquire_before_flush_overwrites_in_place() {
    let mut world = world_with_pool();
    let a = world.acquire_pooled::<Item, _>(Item(1));
    world.resource_mut::<EntityPool<Item>>().release(a);
    let b = acquire_deferred(&mut world, 2);
    assert_eq!(a, b);
    world.flush_entity_pool::<Item>();
    // Never parked: no `Disabled` was removed.
    assert_eq!(world.removed::<Disabled>().count(), 0);
    assert_eq!(world.get::<Item>(b), Some(&Item(2)));
}

#[test]
fn reserve_pre_warms() {
    let mut world = world_with_pool();
    world.reserve_pooled::<Item, _>(100, Item(0));
    assert_eq!(pool(&world).parked(), 100);
    assert_eq!(pool(&world).spawned(), 100);
    assert_eq!(world.query::<&Item>().iter(&world).count(), 0);
    // Acquiring 100 spawns nothing more, and reserving again is a no-op.
    world.resource_scope(|world, mut pool: Mut<EntityPool<Item>>| {
        let ((), stats) = tickmem_track::count(|| {
            for i in 0..100 {
                pool.acquire(world.entity_allocator(), Item(i));
            }
        });
        assert_eq!(stats.calls(), 0, "recording reserved acquisitions: {stats}");
    });
    world.flush_entity_pool::<Item>();
    assert_eq!(pool(&world).spawned(), 100);
    assert_eq!(world.query::<&Item>().iter(&world).count(), 100);
    // Like `Vec::reserve`: room for 50 more acquisitions.
    world.reserve_pooled::<Item, _>(50, Item(0));
    assert_eq!((pool(&world).spawned(), pool(&world).free()), (150, 50));
    world.reserve_pooled::<Item, _>(30, Item(0));
    assert_eq!(pool(&world).spawned(), 150, "already 50 free");
}

#[test]
#[should_panic(expected = "was released twice")]
fn double_release_panics() {
    let mut world = world_with_pool();
    let a = world.acquire_pooled::<Item, _>(Item(1));
    world.release_pooled::<Item>(a);
    world.release_pooled::<Item>(a);
}

#[test]
#[should_panic(expected = "was not acquired from this pool")]
fn foreign_release_panics() {
    let mut world = world_with_pool();
    let stranger = world.spawn(Item(5)).id();
    world.release_pooled::<Item>(stranger);
}

#[test]
fn try_release_reports_errors() {
    let mut world = world_with_pool();
    let stranger = world.spawn(Item(5)).id();
    let mut pool = world.resource_mut::<EntityPool<Item>>();
    let err = pool.try_release(stranger).unwrap_err();
    assert!(matches!(err, ReleaseError::NotFromThisPool { entity, .. } if entity == stranger));
    assert!(err.to_string().contains("EntityPool<"), "{err}");
}

#[test]
#[should_panic(expected = "EntityPool<Item> is not in the world")]
fn missing_pool_panics_with_advice() {
    let mut world = World::new();
    world.acquire_pooled::<Item, _>(Item(1));
}

#[test]
fn despawned_behind_the_pools_back_is_forgotten() {
    let mut world = world_with_pool();
    let a = world.acquire_pooled::<Item, _>(Item(1));
    world.release_pooled::<Item>(a);
    world.despawn(a);
    // The pool hands `a` out, finds it gone at the flush, forgets it.
    let b = world.acquire_pooled::<Item, _>(Item(2));
    assert_eq!(a, b);
    assert_eq!(pool(&world).lost(), 1);
    assert_eq!(pool(&world).live(), 0);
    // The next acquisition spawns a fresh entity.
    let c = world.acquire_pooled::<Item, _>(Item(3));
    assert_ne!(c, a);
    assert_eq!(world.get::<Item>(c), Some(&Item(3)));
}

fn churn(mut pool: PoolCommands<Item>, q: Query<Entity, With<Item>>, mut n: Local<u32>) {
    for e in &q {
        pool.release(e);
    }
    for _ in 0..50 {
        *n += 1;
        pool.acquire(Item(*n));
    }
}

#[test]
fn pool_commands_apply_at_the_sync_point_and_stop_allocating() {
    let mut world = world_with_pool();
    let mut schedule = Schedule::default();
    schedule.set_executor(SingleThreadedExecutor::new());
    tickmem_ecs::install(&mut world, &mut schedule);
    schedule.add_systems(churn);
    for tick in 0..200 {
        let ((), stats) = tickmem_track::count(|| schedule.run(&mut world));
        if tick >= 3 {
            assert_eq!(stats.calls(), 0, "tick {tick}: {stats}");
        }
        // Applied at the end of the run: 50 visible, the released ones parked
        // or reused.
        assert_eq!(world.query::<&Item>().iter(&world).count(), 50);
        world.clear_trackers();
    }
    let p = pool(&world);
    assert_eq!((p.live(), p.spawned()), (50, 50));
    let stats = world.resource::<MemoryStats>();
    let item = stats.pool("Item").expect("registered");
    assert_eq!((item.live, item.free), (50, 0));
}

#[test]
fn reuse_only_hands_out_settled_entities() {
    let mut world = world_with_pool();
    let settled = world.acquire_pooled::<Item, _>(Item(1));
    // Acquired and released in the same window: its spawn is still pending.
    let pending = acquire_deferred(&mut world, 2);
    let mut p = world.resource_mut::<EntityPool<Item>>();
    p.release(pending);
    assert_eq!(p.reuse(), None);
    p.release(settled);
    assert_eq!(p.reuse(), Some(settled));
    assert_eq!(p.reuse(), None);
    // `acquire` takes the pending one.
    let again = acquire_deferred(&mut world, 3);
    assert_eq!(again, pending);
    world.flush_entity_pool::<Item>();
    assert_eq!(world.get::<Item>(pending), Some(&Item(3)));
    assert_eq!(
        world.get::<Item>(settled),
        Some(&Item(1)),
        "not overwritten by reuse"
    );
    assert_eq!(pool(&world).live(), 2);
}

#[derive(Component)]
struct Other;

#[test]
fn registering_twice_keeps_one_entry() {
    let mut world = World::new();
    let mut schedule = Schedule::default();
    tickmem_ecs::install(&mut world, &mut schedule);
    world
        .register_entity_pool::<Item>()
        .register_entity_pool::<Item>()
        .register_entity_pool::<Other>();
    schedule.run(&mut world);
    let names: Vec<&str> = world
        .resource::<MemoryStats>()
        .pools
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["Item", "Other"]);
}
