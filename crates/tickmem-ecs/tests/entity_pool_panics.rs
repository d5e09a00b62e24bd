//! `EntityPool` under panics in user code (issue 11): a component hook, an
//! observer or a component's `Drop` panicking during a flush, a system
//! panicking half-way. Random programs with panics injected at random points
//! are checked against a model: no entity is handed out twice, the pool's
//! counts always add up, and after the next flush that does not panic the
//! world matches the model exactly.

use std::cell::Cell;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use bevy_ecs::entity_disabling::Disabled;
use bevy_ecs::lifecycle::HookContext;
use bevy_ecs::prelude::*;
use bevy_ecs::world::{DeferredWorld, Mut};
use proptest::prelude::*;
use tickmem_ecs::{EntityPool, EntityPoolWorldExt, PoolCommands, Pooled, TickmemWorldExt};

thread_local! {
    /// Callbacks to run before the armed one panics (`None`: disarmed).
    static BOMB: Cell<Option<u32>> = const { Cell::new(None) };
}

const BOOM: &str = "bomb: injected panic";

/// Called by every callback that may panic.
fn tick_bomb() {
    if let Some(n) = BOMB.get() {
        if n == 0 {
            BOMB.set(None);
            panic!("{BOOM}");
        }
        BOMB.set(Some(n - 1));
    }
}

/// Keep injected panics out of the test output.
fn quiet_bombs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied());
            if msg != Some(BOOM) {
                default(info);
            }
        }));
    });
}

/// Run `f`; `true` if it panicked with the injected panic.
fn boom(f: impl FnOnce()) -> bool {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => false,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied());
            assert_eq!(msg, Some(BOOM), "only injected panics expected");
            true
        }
    }
}

/// A component whose `on_insert` hook may panic (after bevy wrote it).
#[derive(Component, Debug)]
#[component(on_insert = fragile_inserted)]
struct Fragile(u32);

fn fragile_inserted(_: DeferredWorld, _: HookContext) {
    tick_bomb();
}

/// A component whose `Drop` may panic.
#[derive(Component, Debug)]
struct Brittle(u32);

impl Drop for Brittle {
    fn drop(&mut self) {
        tick_bomb();
    }
}

#[derive(Debug, Clone)]
enum Op {
    Acquire(u32),
    AcquireTyped(u32),
    AcquireNow(u32),
    Release(usize),
    ReleaseNow(usize),
    Reuse(u32),
    Flush,
    /// The `n`-th callback from now panics.
    Arm(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<u32>().prop_map(Op::Acquire),
        3 => any::<u32>().prop_map(Op::AcquireTyped),
        1 => any::<u32>().prop_map(Op::AcquireNow),
        5 => any::<usize>().prop_map(Op::Release),
        1 => any::<usize>().prop_map(Op::ReleaseNow),
        2 => any::<u32>().prop_map(Op::Reuse),
        3 => Just(Op::Flush),
        2 => (0u32..6).prop_map(Op::Arm),
    ]
}

/// What must hold after every operation, panicked or not.
fn check_counts<M: Component>(world: &World, live: &HashMap<Entity, u32>) {
    let p = world.resource::<EntityPool<M>>();
    assert_eq!(p.live(), live.len(), "{p:?}");
    assert_eq!(
        p.owned() as u64,
        p.spawned() + p.adopted() - p.lost() - p.given_back(),
        "{p:?}"
    );
    for &e in live.keys() {
        assert!(p.is_live(e), "{e} live in the model");
    }
}

/// After a flush that did not panic, the world matches the model.
fn check_world<M: Component>(
    world: &mut World,
    live: &HashMap<Entity, u32>,
    value: fn(&World, Entity) -> Option<u32>,
) {
    check_counts::<M>(world, live);
    let p = world.resource::<EntityPool<M>>();
    assert!(!p.needs_flush(), "{p:?}");
    let parked = p.parked();
    let enabled: Vec<Entity> = world
        .query_filtered::<Entity, With<Pooled>>()
        .iter(world)
        .collect();
    assert_eq!(enabled.len(), live.len(), "enabled pooled entities");
    for e in enabled {
        assert_eq!(value(world, e), live.get(&e).copied(), "value of {e}");
    }
    let disabled = world
        .query_filtered::<Entity, (With<Pooled>, With<Disabled>)>()
        .iter(world)
        .count();
    assert_eq!(disabled, parked, "parked entities are disabled");
}

/// The component under test: how to build bundles of it and read it back.
trait Subject: Component<Mutability = bevy_ecs::component::Mutable> + Sized {
    fn new(v: u32) -> Self;
    fn value(world: &World, e: Entity) -> Option<u32>;
    /// Whether `Arm` applies to every operation, or to flushes only.
    const ARM_EVERYTHING: bool;
}

impl Subject for Fragile {
    fn new(v: u32) -> Self {
        Fragile(v)
    }
    fn value(world: &World, e: Entity) -> Option<u32> {
        world.get::<Fragile>(e).map(|f| f.0)
    }
    const ARM_EVERYTHING: bool = true;
}

impl Subject for Brittle {
    fn new(v: u32) -> Self {
        Brittle(v)
    }
    fn value(world: &World, e: Entity) -> Option<u32> {
        world.get::<Brittle>(e).map(|b| b.0)
    }
    // A `Drop` that panics while bevy replaces a component through its
    // type-erased insertion leaves bevy's column storage broken (see "Panics
    // in user code" in the `entity_pool` module docs); the typed path
    // assigns, which Rust keeps sound. So drops are armed around typed
    // flushes only.
    const ARM_EVERYTHING: bool = false;
}

fn run_program<S: Subject>(ops: Vec<Op>) -> Result<(), TestCaseError> {
    quiet_bombs();
    BOMB.set(None);
    let mut world = World::new();
    world.register_entity_pool::<S>();
    // Parking may panic too: an observer of `Disabled` insertions.
    world.add_observer(|_: On<Insert<Disabled>>| tick_bomb());
    let mut live: HashMap<Entity, u32> = HashMap::new();
    let mut order: Vec<Entity> = Vec::new();
    // For `Brittle`, the bomb waits here for the next flush.
    let mut armed: Option<u32> = None;
    for op in ops {
        let flush_armed = !S::ARM_EVERYTHING && matches!(op, Op::Flush);
        if flush_armed && let Some(n) = armed.take() {
            BOMB.set(Some(n));
        }
        match op {
            Op::Acquire(v) | Op::AcquireTyped(v) => {
                // (`Brittle` is only written by the typed path.)
                let e = world.resource_scope(|world, mut pool: Mut<EntityPool<S>>| {
                    if S::ARM_EVERYTHING && matches!(op, Op::Acquire(_)) {
                        pool.acquire(world.entity_allocator(), S::new(v))
                    } else {
                        pool.acquire_typed(world.entity_allocator(), (S::new(v),))
                    }
                });
                prop_assert!(live.insert(e, v).is_none(), "{e} handed out twice");
                order.push(e);
            }
            Op::AcquireNow(v) if S::ARM_EVERYTHING => {
                let mut got = None;
                let panicked = boom(|| got = Some(world.acquire_pooled::<S, _>(S::new(v))));
                if let Some(e) = got {
                    prop_assert!(!panicked);
                    prop_assert!(live.insert(e, v).is_none(), "{e} handed out twice");
                    order.push(e);
                }
            }
            Op::AcquireNow(_) => {}
            Op::Release(_) | Op::ReleaseNow(_) if order.is_empty() => {}
            Op::Release(i) | Op::ReleaseNow(i) => {
                let e = order.swap_remove(i % order.len());
                live.remove(&e);
                if matches!(op, Op::ReleaseNow(_)) {
                    boom(|| world.release_pooled::<S>(e));
                } else {
                    world.resource_mut::<EntityPool<S>>().release(e);
                }
            }
            Op::Reuse(v) => {
                let reused = world.resource_mut::<EntityPool<S>>().reuse();
                if let Some(e) = reused {
                    prop_assert!(world.get::<Disabled>(e).is_none(), "reused {e} is enabled");
                    prop_assert!(live.insert(e, v).is_none(), "{e} handed out twice");
                    order.push(e);
                    // The caller's in-place write (an assignment: no hook;
                    // `Brittle` is disarmed outside flushes).
                    *world
                        .get_mut::<S>(e)
                        .expect("reused entities keep their components") = S::new(v);
                }
            }
            Op::Flush => {
                if !boom(|| world.flush_entity_pool::<S>()) {
                    check_world::<S>(&mut world, &live, S::value);
                }
            }
            Op::Arm(n) if S::ARM_EVERYTHING => BOMB.set(Some(n)),
            Op::Arm(n) => armed = Some(n),
        }
        if flush_armed {
            BOMB.set(None);
        }
        check_counts::<S>(&world, &live);
    }
    // Disarmed, the next flush applies whatever panics left behind.
    BOMB.set(None);
    world.flush_entity_pool::<S>();
    check_world::<S>(&mut world, &live, S::value);
    // And the pool still works: everything released and acquired again.
    for e in order.drain(..) {
        world.resource_mut::<EntityPool<S>>().release(e);
        live.remove(&e);
    }
    for v in 0..4 {
        let e = world.acquire_pooled::<S, _>(S::new(v));
        prop_assert!(live.insert(e, v).is_none(), "{e} handed out twice");
    }
    check_world::<S>(&mut world, &live, S::value);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 256 }))]

    /// Hooks and observers panic during flushes (and acquisitions or
    /// releases applied at once).
    #[test]
    fn hooks_panicking_at_random_points(ops in proptest::collection::vec(op(), 1..80)) {
        run_program::<Fragile>(ops)?;
    }

    /// Component destructors panic while the typed path overwrites them.
    #[test]
    fn drops_panicking_at_random_points(ops in proptest::collection::vec(op(), 1..80)) {
        run_program::<Brittle>(ops)?;
    }
}

#[test]
fn a_typed_write_whose_old_value_panics_on_drop_still_writes_the_new_one() {
    quiet_bombs();
    let mut world = World::new();
    world.register_entity_pool::<Brittle>();
    let a = world.acquire_pooled::<Brittle, _>((Brittle(1),));
    let b = world.acquire_pooled::<Brittle, _>((Brittle(2),));
    world.resource_scope(|world, mut pool: Mut<EntityPool<Brittle>>| {
        pool.release(a);
        pool.release(b);
        pool.acquire_typed(world.entity_allocator(), (Brittle(3),));
        pool.acquire_typed(world.entity_allocator(), (Brittle(4),));
    });
    BOMB.set(Some(0));
    assert!(boom(|| world.flush_entity_pool::<Brittle>()));
    // The first write assigned the new value; the second is still queued.
    let p = world.resource::<EntityPool<Brittle>>();
    assert_eq!((p.live(), p.pending_acquires()), (2, 1));
    world.flush_entity_pool::<Brittle>();
    let mut values: Vec<u32> = world
        .query::<&Brittle>()
        .iter(&world)
        .map(|b| b.0)
        .collect();
    values.sort();
    assert_eq!(values, [3, 4]);
}

#[test]
fn an_acquisition_applied_at_once_is_given_back_if_its_flush_panics() {
    quiet_bombs();
    let mut world = World::new();
    world.register_entity_pool::<Fragile>();
    BOMB.set(Some(0));
    assert!(boom(|| {
        world.acquire_pooled::<Fragile, _>(Fragile(1));
    }));
    // The caller never got the entity: the pool does not count it live.
    let p = world.resource::<EntityPool<Fragile>>();
    assert_eq!((p.live(), p.free(), p.spawned()), (0, 1, 1));
    world.flush_entity_pool::<Fragile>();
    assert_eq!(world.query::<&Fragile>().iter(&world).count(), 0);
    assert_eq!(world.resource::<EntityPool<Fragile>>().parked(), 1);
}

#[derive(Resource)]
struct PanicHalfWay(bool);

fn fire_then_maybe_panic(
    mut pool: PoolCommands<Fragile>,
    q: Query<Entity, With<Fragile>>,
    fail: Res<PanicHalfWay>,
) {
    for e in q.iter().take(3) {
        pool.release(e);
    }
    for v in 0..5 {
        pool.acquire_typed((Fragile(v),));
    }
    if fail.0 {
        panic!("{BOOM}");
    }
}

fn schedule() -> Schedule {
    let mut schedule = Schedule::default();
    schedule.set_executor(bevy_ecs::schedule::SingleThreadedExecutor::new());
    schedule.add_systems(fire_then_maybe_panic);
    schedule
}

#[test]
fn a_system_panicking_half_way_leaves_the_pool_consistent() {
    quiet_bombs();
    let mut world = World::new();
    world.register_entity_pool::<Fragile>();
    world.insert_resource(PanicHalfWay(false));
    schedule().run(&mut world); // 5 live
    world.resource_mut::<PanicHalfWay>().0 = true;
    // 5 - 3 + 5 = 7 live; the system's commands (and so the flush) are not
    // applied.
    assert!(boom(|| schedule().run(&mut world)));
    let p = world.resource::<EntityPool<Fragile>>();
    // The 3 released were taken back by the acquisitions (2 spawned).
    assert_eq!(
        (p.live(), p.pending_releases(), p.pending_acquires()),
        (7, 0, 5)
    );
    assert_eq!(p.owned() as u64, p.spawned());
    // The next flush applies what the panicking system recorded.
    world.flush_entity_pool::<Fragile>();
    assert_eq!(world.query::<&Fragile>().iter(&world).count(), 7);
    // And the pool goes on (bevy's schedule does not run again after a
    // panic: a new one).
    world.resource_mut::<PanicHalfWay>().0 = false;
    schedule().run(&mut world);
    let p = world.resource::<EntityPool<Fragile>>();
    assert_eq!((p.live(), p.spawned()), (9, 9));
    assert_eq!(world.query::<&Fragile>().iter(&world).count(), 9);
}
