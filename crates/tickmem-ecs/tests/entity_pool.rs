//! `EntityPool`: recycling semantics against a model (both acquisitions,
//! reuse, adoption, entities despawned behind the pool's back), misuse
//! errors, and allocation-free steady state.

#[global_allocator]
static GLOBAL: tickmem_track::CountingAlloc = tickmem_track::CountingAlloc::system();

use std::collections::HashMap;

use bevy_ecs::entity_disabling::Disabled;
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;
use bevy_ecs::world::Mut;
use proptest::prelude::*;
use tickmem_ecs::{
    AdoptError, EntityPool, EntityPoolWorldExt, MemoryStats, PoolCommands, Pooled, ReleaseError,
    TickmemWorldExt,
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

/// Record a typed acquisition (applied at the next flush).
fn acquire_typed_deferred(world: &mut World, value: u32) -> Entity {
    world.resource_scope(|world, mut pool: Mut<EntityPool<Item>>| {
        pool.acquire_typed(world.entity_allocator(), (Item(value),))
    })
}

fn pool(world: &World) -> &EntityPool<Item> {
    world.resource::<EntityPool<Item>>()
}

/// What the pool's counters must always add up to.
fn check_counts(world: &World) {
    let p = pool(world);
    assert_eq!(
        p.owned() as u64,
        p.spawned() + p.adopted() - p.lost() - p.given_back(),
        "{p:?}"
    );
}

#[derive(Debug, Clone)]
enum Op {
    Acquire(u32),
    AcquireTyped(u32),
    AcquireWithExtra(u32),
    Release(usize),
    Flush,
    AcquireNow(u32),
    ReleaseNow(usize),
    Reuse(u32),
    /// Spawn an entity elsewhere and adopt it (deferred, or at once).
    Adopt(u32, bool),
    /// Despawn an acquired entity behind the pool's back.
    DespawnLive(usize),
    /// Despawn a parked entity behind the pool's back.
    DespawnParked(usize),
    /// Strip an acquired entity of its `Pooled` marker.
    StripMarker(usize),
    /// Give back all free entities but this many.
    Shrink(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u32>().prop_map(Op::Acquire),
        4 => any::<u32>().prop_map(Op::AcquireTyped),
        1 => any::<u32>().prop_map(Op::AcquireWithExtra),
        6 => any::<usize>().prop_map(Op::Release),
        2 => Just(Op::Flush),
        1 => any::<u32>().prop_map(Op::AcquireNow),
        1 => any::<usize>().prop_map(Op::ReleaseNow),
        3 => any::<u32>().prop_map(Op::Reuse),
        1 => (any::<u32>(), any::<bool>()).prop_map(|(v, now)| Op::Adopt(v, now)),
        1 => any::<usize>().prop_map(Op::DespawnLive),
        1 => any::<usize>().prop_map(Op::DespawnParked),
        1 => any::<usize>().prop_map(Op::StripMarker),
        1 => (0usize..4).prop_map(Op::Shrink),
    ]
}

/// After a flush, the world matches the model exactly.
fn check_flushed(world: &mut World, live: &HashMap<Entity, u32>) {
    check_counts(world);
    let p = pool(world);
    assert!(!p.needs_flush());
    assert_eq!(p.live(), live.len());
    assert_eq!(p.pending_releases(), 0);
    let visible: HashMap<Entity, u32> = world
        .query::<(Entity, &Item)>()
        .iter(world)
        .map(|(e, i)| (e, i.0))
        .collect();
    assert_eq!(&visible, live, "enabled entities and their values");
    let parked = world
        .query_filtered::<Entity, (With<Pooled>, With<Disabled>)>()
        .iter(world)
        .count();
    assert_eq!(parked, pool(world).parked());
    let marked = world
        .query_filtered::<Entity, (With<Pooled>, Allow<Disabled>)>()
        .iter(world)
        .count();
    assert_eq!(marked, pool(world).owned(), "every owned entity is marked");
}

/// Pick and remove the `i`-th entity of `order` (swap-remove).
fn pick(order: &mut Vec<Entity>, i: usize) -> Option<Entity> {
    (!order.is_empty()).then(|| order.swap_remove(i % order.len()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 256 }))]

    /// Random programs against a map of the entities that should be live
    /// and their values.
    #[test]
    fn model(ops in proptest::collection::vec(op(), 1..120)) {
        let mut world = world_with_pool();
        // The model: acquired entities and their latest values.
        let mut live: HashMap<Entity, u32> = HashMap::new();
        let mut order: Vec<Entity> = Vec::new();
        let mut lost = 0;
        for op in ops {
            match op {
                Op::Acquire(v) | Op::AcquireTyped(v) | Op::AcquireWithExtra(v) => {
                    let e = match op {
                        Op::AcquireWithExtra(_) => {
                            world.resource_scope(|world, mut pool: Mut<EntityPool<Item>>| {
                                pool.acquire(world.entity_allocator(), (Item(v), Extra(v)))
                            })
                        }
                        Op::AcquireTyped(_) => acquire_typed_deferred(&mut world, v),
                        _ => acquire_deferred(&mut world, v),
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
                    let Some(e) = pick(&mut order, i) else { continue };
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
                Op::Adopt(v, now) => {
                    let e = world.spawn(Item(v)).id();
                    if now {
                        world.adopt_pooled::<Item>(e).unwrap();
                        prop_assert!(world.get::<Pooled>(e).is_some());
                    } else {
                        world.resource_mut::<EntityPool<Item>>().adopt(e).unwrap();
                    }
                    live.insert(e, v);
                    order.push(e);
                }
                Op::DespawnLive(i) => {
                    // Only entities whose spawn was applied can be despawned.
                    let spawned: Vec<usize> = (0..order.len())
                        .filter(|&k| world.get::<Pooled>(order[k]).is_some())
                        .collect();
                    if spawned.is_empty() {
                        continue;
                    }
                    let e = order.swap_remove(spawned[i % spawned.len()]);
                    live.remove(&e);
                    let before = pool(&world).live();
                    prop_assert!(world.despawn(e));
                    lost += 1;
                    // Noticed at once.
                    prop_assert_eq!(pool(&world).live(), before - 1);
                    prop_assert_eq!(pool(&world).lost(), lost);
                }
                Op::DespawnParked(i) => {
                    let parked: Vec<Entity> = world
                        .query_filtered::<Entity, (With<Pooled>, With<Disabled>)>()
                        .iter(&world)
                        .collect();
                    if parked.is_empty() {
                        continue;
                    }
                    let e = parked[i % parked.len()];
                    // An acquired entity whose unparking is still pending
                    // is parked too.
                    let was_live = pool(&world).is_live(e);
                    if was_live {
                        live.remove(&e);
                        order.retain(|&o| o != e);
                    }
                    let before = (pool(&world).live(), pool(&world).free());
                    prop_assert!(world.despawn(e));
                    lost += 1;
                    let after = (pool(&world).live(), pool(&world).free());
                    if was_live {
                        prop_assert_eq!(after, (before.0 - 1, before.1));
                    } else {
                        prop_assert_eq!(after, (before.0, before.1 - 1));
                    }
                    prop_assert_eq!(pool(&world).lost(), lost);
                }
                Op::StripMarker(i) => {
                    let marked: Vec<usize> = (0..order.len())
                        .filter(|&k| world.get::<Pooled>(order[k]).is_some())
                        .collect();
                    if marked.is_empty() {
                        continue;
                    }
                    let e = order.swap_remove(marked[i % marked.len()]);
                    world.entity_mut(e).remove::<Pooled>();
                    lost += 1;
                    // No longer the pool's: the world keeps it, the model
                    // forgets it (it stays visible, so drop it from the
                    // world for the visibility checks).
                    live.remove(&e);
                    prop_assert!(!pool(&world).owns(e));
                    world.despawn(e);
                    prop_assert_eq!(pool(&world).lost(), lost);
                }
                Op::Shrink(keep) => {
                    let free_before = {
                        world.flush_entity_pool::<Item>();
                        pool(&world).free()
                    };
                    let gone = world.shrink_entity_pool::<Item>(keep);
                    prop_assert_eq!(gone, free_before.saturating_sub(keep));
                    prop_assert_eq!(pool(&world).free(), free_before.min(keep));
                    check_flushed(&mut world, &live);
                }
            }
            prop_assert_eq!(pool(&world).live(), live.len());
            check_counts(&world);
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
    for typed in [false, true] {
        let mut world = world_with_pool();
        let a = world.acquire_pooled::<Item, _>(Item(1));
        world.resource_mut::<EntityPool<Item>>().release(a);
        let b = if typed {
            acquire_typed_deferred(&mut world, 2)
        } else {
            acquire_deferred(&mut world, 2)
        };
        assert_eq!(a, b);
        world.flush_entity_pool::<Item>();
        // Never parked: no `Disabled` was removed.
        assert_eq!(world.removed::<Disabled>().count(), 0);
        assert_eq!(world.get::<Item>(b), Some(&Item(2)));
    }
}

#[test]
fn typed_acquisition_unparks_and_spawns_too() {
    let mut world = world_with_pool();
    // Spawned by the typed path.
    let a = acquire_typed_deferred(&mut world, 1);
    world.flush_entity_pool::<Item>();
    assert_eq!(world.get::<Item>(a), Some(&Item(1)));
    assert!(world.get::<Pooled>(a).is_some());
    world.release_pooled::<Item>(a);
    // Unparked by the typed path.
    let b = acquire_typed_deferred(&mut world, 2);
    assert_eq!(a, b);
    world.flush_entity_pool::<Item>();
    assert!(world.get::<Disabled>(b).is_none());
    assert_eq!(world.get::<Item>(b), Some(&Item(2)));
    check_flushed(&mut world, &HashMap::from([(b, 2)]));
}

#[test]
fn typed_acquisition_inserts_what_the_entity_lost() {
    let mut world = world_with_pool();
    let a = world.acquire_pooled::<Item, _>(Item(1));
    world.release_pooled::<Item>(a);
    world.entity_mut(a).remove::<Item>();
    let e = world.resource_scope(|world, mut pool: Mut<EntityPool<Item>>| {
        pool.acquire_typed(world.entity_allocator(), (Item(5), Extra(6)))
    });
    assert_eq!(e, a);
    world.flush_entity_pool::<Item>();
    assert_eq!(world.get::<Item>(a), Some(&Item(5)));
    assert_eq!(world.get::<Extra>(a), Some(&Extra(6)));
}

#[derive(Resource, Default, Debug, PartialEq, Eq, Clone, Copy)]
struct Seen {
    insert_hooks: u32,
    discard_hooks: u32,
    insert_observers: u32,
    changed: u32,
}

#[derive(Component)]
#[component(on_insert = count_insert, on_discard = count_discard)]
struct Hooked(u32);

fn count_insert(mut world: bevy_ecs::world::DeferredWorld, _: bevy_ecs::lifecycle::HookContext) {
    world.resource_mut::<Seen>().insert_hooks += 1;
}

fn count_discard(mut world: bevy_ecs::world::DeferredWorld, _: bevy_ecs::lifecycle::HookContext) {
    world.resource_mut::<Seen>().discard_hooks += 1;
}

#[derive(Component)]
struct Watched(u32);

/// Recycle one entity once with each acquisition; report what hooks,
/// observers and change detection saw during the second one.
fn recycle_once(typed: bool) -> (Seen, u32, u32) {
    let mut world = World::new();
    world.register_entity_pool::<Hooked>();
    world.init_resource::<Seen>();
    world.add_observer(|_: On<Insert<Watched>>, mut seen: ResMut<Seen>| {
        seen.insert_observers += 1;
    });
    let a = world.acquire_pooled::<Hooked, _>((Hooked(1), Watched(1)));
    world.clear_trackers();
    *world.resource_mut::<Seen>() = Seen::default();
    world.resource_scope(|world, mut pool: Mut<EntityPool<Hooked>>| {
        pool.release(a);
        if typed {
            pool.acquire_typed(world.entity_allocator(), (Hooked(2), Watched(2)));
        } else {
            pool.acquire(world.entity_allocator(), (Hooked(2), Watched(2)));
        }
    });
    world.flush_entity_pool::<Hooked>();
    let mut seen = *world.resource::<Seen>();
    seen.changed = world
        .query_filtered::<(), Changed<Watched>>()
        .iter(&world)
        .count() as u32;
    (
        seen,
        world.get::<Hooked>(a).unwrap().0,
        world.get::<Watched>(a).unwrap().0,
    )
}

#[test]
fn typed_acquisition_runs_hooks_and_observers_like_insertion() {
    let inserted = recycle_once(false);
    assert_eq!(
        inserted.0,
        Seen {
            insert_hooks: 1,
            discard_hooks: 1,
            insert_observers: 1,
            changed: 1
        }
    );
    assert_eq!(recycle_once(true), inserted);
}

#[test]
fn typed_acquisition_marks_changed_without_hooks() {
    let mut world = world_with_pool();
    let a = world.acquire_pooled::<Item, _>(Item(1));
    world.clear_trackers();
    assert_eq!(
        world
            .query_filtered::<(), Changed<Item>>()
            .iter(&world)
            .count(),
        0
    );
    world.resource_mut::<EntityPool<Item>>().release(a);
    acquire_typed_deferred(&mut world, 2);
    world.flush_entity_pool::<Item>();
    assert_eq!(
        world
            .query_filtered::<(), Changed<Item>>()
            .iter(&world)
            .count(),
        1
    );
    assert_eq!(
        world
            .query_filtered::<(), Added<Item>>()
            .iter(&world)
            .count(),
        0
    );
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
    // The typed flavour reserves room for typed recordings.
    world.reserve_pooled_typed::<Item, _>(50, (Item(0),));
    world.resource_scope(|world, mut pool: Mut<EntityPool<Item>>| {
        let ((), stats) = tickmem_track::count(|| {
            for i in 0..50 {
                pool.acquire_typed(world.entity_allocator(), (Item(i),));
            }
        });
        assert_eq!(stats.calls(), 0, "recording reserved acquisitions: {stats}");
    });
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
#[should_panic(expected = "adopt entities spawned elsewhere first")]
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

/// Issue 15, item 7: a pooled entity despawned by user code and never
/// released must be noticed (it was not: `live()` stayed 2, `lost()` 0, and
/// `MemoryStats` reported 2).
#[test]
fn despawn_by_user_code_is_noticed() {
    let mut world = World::new();
    let mut schedule = Schedule::default();
    tickmem_ecs::install(&mut world, &mut schedule);
    world.register_entity_pool::<Item>();
    let a = world.acquire_pooled::<Item, _>(Item(1));
    let _b = world.acquire_pooled::<Item, _>(Item(2));
    world.despawn(a); // never released
    schedule.run(&mut world);
    schedule.run(&mut world);
    let p = pool(&world);
    assert_eq!((p.live(), p.lost()), (1, 1));
    let stats = world.resource::<MemoryStats>();
    assert_eq!(stats.pool("Item").expect("registered").live, 1);
}

#[test]
fn despawned_behind_the_pools_back_is_forgotten() {
    let mut world = world_with_pool();
    let a = world.acquire_pooled::<Item, _>(Item(1));
    world.release_pooled::<Item>(a);
    world.despawn(a);
    assert_eq!((pool(&world).free(), pool(&world).lost()), (0, 1));
    // The pool does not hand out the despawned entity: it spawns a new one.
    let b = world.acquire_pooled::<Item, _>(Item(2));
    assert_ne!(a, b);
    assert_eq!(world.get::<Item>(b), Some(&Item(2)));
    assert_eq!((pool(&world).live(), pool(&world).spawned()), (1, 2));
    check_counts(&world);
}

#[test]
fn despawn_noticed_at_the_flush_when_the_hook_cannot_reach_the_pool() {
    let mut world = world_with_pool();
    let a = world.acquire_pooled::<Item, _>(Item(1));
    world.release_pooled::<Item>(a);
    // The pool is out of the world while `a` is despawned.
    world.resource_scope(|world, _pool: Mut<EntityPool<Item>>| {
        world.despawn(a);
    });
    assert_eq!(pool(&world).lost(), 0);
    // Handed out, found gone when the flush unparks it.
    let b = world.acquire_pooled::<Item, _>(Item(2));
    assert_eq!(a, b);
    assert_eq!((pool(&world).live(), pool(&world).lost()), (0, 1));
    check_counts(&world);
}

#[derive(Component)]
struct Other;

#[test]
fn adopt_errors_and_checks() {
    let mut world = world_with_pool();
    world.register_entity_pool::<Other>();
    let mine = world.acquire_pooled::<Item, _>(Item(1));
    let theirs = world.acquire_pooled::<Other, _>(Other);
    let gone = world.spawn(Item(3)).id();
    world.despawn(gone);
    let fresh = world.spawn(Item(4)).id();

    let err = world.adopt_pooled::<Item>(mine).unwrap_err();
    assert!(matches!(err, AdoptError::AlreadyInThisPool { .. }), "{err}");
    let err = world.adopt_pooled::<Item>(theirs).unwrap_err();
    assert!(matches!(err, AdoptError::InAnotherPool { owner, .. } if owner.ends_with("Other")));
    assert!(err.to_string().contains("belongs to EntityPool<"), "{err}");
    let err = world.adopt_pooled::<Item>(gone).unwrap_err();
    assert!(matches!(err, AdoptError::NotSpawned { .. }), "{err}");

    world.adopt_pooled::<Item>(fresh).unwrap();
    assert!(pool(&world).is_live(fresh));
    assert_eq!((pool(&world).live(), pool(&world).adopted()), (2, 1));
    world.release_pooled::<Item>(fresh);
    assert!(
        world.get::<Disabled>(fresh).is_some(),
        "adopted entities park"
    );
    // And come back from an acquisition.
    assert_eq!(world.acquire_pooled::<Item, _>(Item(9)), fresh);
    check_counts(&world);

    // A deferred adoption of another pool's entity is refused at the flush.
    world
        .resource_mut::<EntityPool<Item>>()
        .adopt(theirs)
        .unwrap();
    assert_eq!(pool(&world).live(), 3);
    world.flush_entity_pool::<Item>();
    assert_eq!((pool(&world).live(), pool(&world).adopted()), (2, 1));
    assert!(
        world
            .get::<Pooled>(theirs)
            .unwrap()
            .pool_name()
            .ends_with("Other")
    );
    check_counts(&world);
}

#[test]
fn adopting_an_entity_spawned_by_commands_in_the_same_system() {
    let mut world = world_with_pool();
    let mut schedule = Schedule::default();
    schedule.add_systems(
        |mut commands: Commands, mut pool: PoolCommands<Item>, mut done: Local<bool>| {
            if !*done {
                *done = true;
                // The flush command is queued by this first acquisition,
                // before the spawn: the adoption waits for the spawn.
                pool.acquire_typed((Item(1),));
                let e = commands.spawn(Item(2)).id();
                pool.adopt(e).unwrap();
            }
        },
    );
    schedule.run(&mut world);
    schedule.run(&mut world);
    world.flush_entity_pool::<Item>();
    assert_eq!((pool(&world).live(), pool(&world).adopted()), (2, 1));
    assert_eq!(pool(&world).lost(), 0);
    let marked = world
        .query_filtered::<&Item, With<Pooled>>()
        .iter(&world)
        .count();
    assert_eq!(marked, 2);
}

#[test]
fn given_back_entities_are_not_the_pools_any_more() {
    let mut world = world_with_pool();
    let a = world.acquire_pooled::<Item, _>(Item(1));
    world.release_pooled::<Item>(a);
    assert_eq!(world.shrink_entity_pool::<Item>(0), 1);
    assert!(world.get_entity(a).is_err(), "despawned");
    assert_eq!((pool(&world).given_back(), pool(&world).lost()), (1, 0));
    let err = world
        .resource_mut::<EntityPool<Item>>()
        .try_release(a)
        .unwrap_err();
    assert!(matches!(err, ReleaseError::NotFromThisPool { .. }));
    check_counts(&world);
}

fn churn(mut pool: PoolCommands<Item>, q: Query<Entity, With<Item>>, mut n: Local<u32>) {
    for e in &q {
        pool.release(e);
    }
    for i in 0..50 {
        *n += 1;
        if i % 2 == 0 {
            pool.acquire(Item(*n));
        } else {
            pool.acquire_typed((Item(*n),));
        }
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

#[test]
fn clones_of_pooled_entities_are_not_pooled() {
    let mut world = world_with_pool();
    let a = world.acquire_pooled::<Item, _>(Item(1));
    let copy = world.entity_mut(a).clone_and_spawn();
    assert!(world.get::<Pooled>(copy).is_none());
    assert_eq!(world.get::<Item>(copy), Some(&Item(1)));
    world.despawn(copy);
    assert_eq!((pool(&world).live(), pool(&world).lost()), (1, 0));
}

#[cfg(feature = "bevy_app")]
#[test]
fn app_registration_and_the_boundary_ticks_the_pool() {
    use bevy_app::{App, Update};
    use tickmem_ecs::{ShrinkPolicy, TickmemAppExt, TickmemPlugin};

    fn burst_then_nothing(
        mut pool: PoolCommands<Item>,
        q: Query<Entity, With<Item>>,
        mut updates: Local<u32>,
    ) {
        *updates += 1;
        match *updates {
            1 => {
                for v in 0..10 {
                    pool.acquire_typed((Item(v),));
                }
            }
            2 => q.iter().for_each(|e| pool.release(e)),
            _ => {}
        }
    }

    let mut app = App::new();
    app.add_plugins(TickmemPlugin::default())
        .register_entity_pool::<Item>()
        .add_systems(Update, burst_then_nothing);
    app.world_mut()
        .resource_mut::<EntityPool<Item>>()
        .set_shrink_policy(ShrinkPolicy::after_quiet_ticks(3).min_free(0));
    let mut owned = Vec::new();
    for _ in 0..8 {
        app.update();
        owned.push(app.world().resource::<EntityPool<Item>>().owned());
    }
    // The tick of update 2 still had 10 live; those of updates 3, 4 and 5
    // are quiet: the boundary of update 6 gives the 10 back.
    assert_eq!(owned, [10, 10, 10, 10, 10, 0, 0, 0]);
    let stats = app.world().resource::<MemoryStats>();
    assert_eq!(stats.pool("Item").map(|p| (p.live, p.free)), Some((0, 0)));
}

#[test]
fn an_adoption_of_an_entity_never_spawned_gives_up() {
    let mut world = world_with_pool();
    let never = world.entity_allocator().alloc();
    world
        .resource_mut::<EntityPool<Item>>()
        .adopt(never)
        .unwrap();
    for _ in 0..8 {
        world.flush_entity_pool::<Item>();
        assert!(pool(&world).is_live(never), "waits for its spawn");
        assert!(pool(&world).needs_flush());
    }
    world.flush_entity_pool::<Item>();
    assert!(!pool(&world).owns(never));
    assert_eq!((pool(&world).live(), pool(&world).lost()), (0, 1));
    // The pool goes on: its flush window advances again, so an entity
    // released after a flush is reusable in place.
    let a = world.acquire_pooled::<Item, _>(Item(1));
    let mut p = world.resource_mut::<EntityPool<Item>>();
    p.release(a);
    assert_eq!(p.reuse(), Some(a));
}

#[derive(Component)]
struct Trigger;

#[derive(Resource)]
struct NotSpawnedYet(Entity);

#[test]
fn a_flush_queued_by_an_observer_during_a_flush_waits_for_the_next_one() {
    let mut world = world_with_pool();
    // Writing a `Trigger` makes an observer queue a command that bevy applies
    // while the outer flush is still writing: it records an acquisition and
    // flushes, then releases an entity whose spawn the outer flush has not
    // applied yet and tries to take it back in place.
    world.add_observer(|_: On<Insert<Trigger>>, mut commands: Commands| {
        commands.queue(|world: &mut World| {
            acquire_deferred(world, 100);
            world.flush_entity_pool::<Item>();
            let later = world.resource::<NotSpawnedYet>().0;
            let mut p = world.resource_mut::<EntityPool<Item>>();
            p.release(later);
            if let Some(e) = p.reuse() {
                assert!(
                    world.get::<Item>(e).is_some(),
                    "reuse handed out {e} before its spawn was applied"
                );
            }
        });
    });
    let a = world.resource_scope(|world, mut pool: Mut<EntityPool<Item>>| {
        pool.acquire(world.entity_allocator(), (Item(1), Trigger))
    });
    let later = acquire_deferred(&mut world, 2);
    world.insert_resource(NotSpawnedYet(later));
    world.flush_entity_pool::<Item>();
    world.flush_entity_pool::<Item>();
    let live: HashMap<Entity, u32> = world
        .query::<(Entity, &Item)>()
        .iter(&world)
        .map(|(e, i)| (e, i.0))
        .collect();
    assert_eq!(live.len(), 2, "{live:?}");
    assert_eq!(live[&a], 1);
    assert!(pool(&world).parked() == 1 && !pool(&world).is_live(later));
    check_flushed(&mut world, &live);
}

#[derive(Component, Debug, PartialEq)]
struct Nth<const N: usize>(u32);

#[test]
fn typed_acquisition_of_the_largest_tuple() {
    fn bundle(v: u32) -> impl tickmem_ecs::PoolBundle {
        (
            Item(v),
            Nth::<1>(v),
            Nth::<2>(v),
            Nth::<3>(v),
            Nth::<4>(v),
            Nth::<5>(v),
            Nth::<6>(v),
            Nth::<7>(v),
            Nth::<8>(v),
            Nth::<9>(v),
            Nth::<10>(v),
            Nth::<11>(v + 1),
        )
    }
    let mut world = world_with_pool();
    let a = world.resource_scope(|world, mut pool: Mut<EntityPool<Item>>| {
        pool.acquire_typed(world.entity_allocator(), bundle(1))
    });
    world.flush_entity_pool::<Item>();
    world.resource_scope(|world, mut pool: Mut<EntityPool<Item>>| {
        pool.release(a);
        assert_eq!(pool.acquire_typed(world.entity_allocator(), bundle(7)), a);
    });
    world.flush_entity_pool::<Item>();
    assert_eq!(world.get::<Item>(a), Some(&Item(7)));
    assert_eq!(world.get::<Nth<6>>(a), Some(&Nth(7)));
    assert_eq!(world.get::<Nth<11>>(a), Some(&Nth(8)));
    assert_eq!(
        world.removed::<Disabled>().count(),
        0,
        "overwritten in place"
    );
}
