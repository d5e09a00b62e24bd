//! Applying what an [`EntityPool`] recorded to the [`World`]: flushes, the
//! per-tick shrink, and the [`Pooled`] marker whose hook tells a pool when
//! one of its entities is despawned behind its back.

use std::any::TypeId;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use bevy_ecs::change_detection::DetectChangesMut;
use bevy_ecs::component::Component;
use bevy_ecs::entity::Entity;
use bevy_ecs::entity_disabling::Disabled;
use bevy_ecs::lifecycle::HookContext;
use bevy_ecs::world::{DeferredWorld, World};

use super::{EntityPool, List, Slot};
use crate::names::short_type_name;

/// Marks an entity an [`EntityPool`] owns (spawned, pre-warmed or adopted
/// by it), and names the pool.
///
/// Its `on_remove` hook is how the pool notices an entity despawned (or
/// stripped of this marker) by code other than the pool: the pool forgets the
/// entity at once, counts it in [`EntityPool::lost`] and logs a warning at its
/// next flush. Not cloned with the entity (`clone_behavior = Ignore`): a
/// clone is not pooled.
///
/// # Examples
///
/// ```
/// use bevy_ecs::prelude::*;
/// use tickmem_ecs::{EntityPoolWorldExt, Pooled, TickmemWorldExt};
///
/// #[derive(Component)]
/// struct Bullet;
///
/// let mut world = World::new();
/// world.register_entity_pool::<Bullet>();
/// let e = world.acquire_pooled::<Bullet, _>(Bullet);
/// assert!(world.get::<Pooled>(e).unwrap().pool_name().ends_with("Bullet"));
/// ```
#[derive(Component, Clone, Copy)]
#[component(on_remove = pooled_removed, clone_behavior = Ignore)]
pub struct Pooled {
    pool: &'static PoolInfo,
}

struct PoolInfo {
    type_id: fn() -> TypeId,
    name: fn() -> &'static str,
    forget: fn(&mut DeferredWorld<'_>, Entity),
}

impl Pooled {
    /// The marker of `EntityPool<M>`.
    pub(crate) fn of<M: Component>() -> Self {
        Pooled {
            pool: const {
                &PoolInfo {
                    type_id: TypeId::of::<EntityPool<M>>,
                    name: std::any::type_name::<M>,
                    forget: forget_in::<M>,
                }
            },
        }
    }

    /// The owning pool's marker type name (`my_game::Bullet` for
    /// `EntityPool<Bullet>`).
    pub fn pool_name(&self) -> &'static str {
        (self.pool.name)()
    }

    /// Whether both markers name the same pool.
    pub(crate) fn same_pool(&self, other: &Pooled) -> bool {
        (self.pool.type_id)() == (other.pool.type_id)()
    }
}

impl fmt::Debug for Pooled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pooled").field(&self.pool_name()).finish()
    }
}

fn pooled_removed(mut world: DeferredWorld<'_>, ctx: HookContext) {
    if let Some(&pooled) = world.get::<Pooled>(ctx.entity) {
        (pooled.pool.forget)(&mut world, ctx.entity);
    }
}

fn forget_in<M: Component>(world: &mut DeferredWorld<'_>, entity: Entity) {
    // Missing while taken out with `resource_scope`: then the next flush
    // finds the entity gone (see the module docs).
    if let Some(mut pool) = world.get_resource_mut::<EntityPool<M>>() {
        pool.forget(entity);
    }
}

/// Apply everything `EntityPool<M>` recorded: adopt, write acquired
/// entities' components, then park the entities released since the last
/// flush. Does nothing when the pool is missing or has nothing pending.
///
/// A panic in user code (a component's `Drop`, a hook, an observer) leaves
/// the pool consistent: what was not applied stays recorded for the next
/// flush, and the entities released since the last flush are parked by it.
pub(crate) fn flush_pool<M: Component>(world: &mut World) {
    let Some(mut pool) = world.get_resource_mut::<EntityPool<M>>() else {
        return;
    };
    // A flush run from inside this one (a command queued by a hook or an
    // observer, applied by bevy during our writes) leaves what was recorded
    // meanwhile to the next flush: this one holds the pool's queue.
    if pool.flushing || !pool.needs_flush() {
        return;
    }
    let pool = &mut *pool;
    pool.flushing = true;
    pool.compact_if_stale();
    let mut ops = std::mem::take(&mut pool.ops);
    let mut released = std::mem::take(&mut pool.released);
    let mut pending = std::mem::take(&mut pool.released_pending);
    let mut lost = std::mem::take(&mut pool.lost_scratch);
    let mut refused = Vec::new();
    let marker = Pooled::of::<M>();
    let recovering = pool.recovering;

    let applied = catch_unwind(AssertUnwindSafe(|| {
        ops.apply(world, marker, recovering, &mut lost, &mut refused);
        // Park what was released and not acquired again (and is still ours:
        // hooks run by the writes may have despawned some).
        if let Some(pool) = world.get_resource::<EntityPool<M>>() {
            released.retain(|&e| pool.is_free_in(e, List::Released));
            pending.retain(|&e| pool.is_free_in(e, List::Pending));
        }
        let parking = released.iter().chain(&pending).map(|&e| (e, Disabled));
        if let Err(err) = world.try_insert_batch(parking) {
            lost.extend_from_slice(&err.entities);
        }
    }));

    let Some(mut pool) = world.get_resource_mut::<EntityPool<M>>() else {
        // A hook removed the pool resource; nothing to restore.
        if let Err(payload) = applied {
            resume_unwind(payload);
        }
        return;
    };
    let pool = &mut *pool;
    pool.flushing = false;
    // Hooks or observers run by the flush may have used the pool: what they
    // recorded goes after what is left of ours.
    if applied.is_err() {
        ops.recount();
    }
    ops.append(&mut pool.ops);
    pool.ops = ops;
    match applied {
        Ok(()) => {
            for e in released.drain(..) {
                pool.move_free(e, List::Released, List::Parked);
            }
            for e in pending.drain(..) {
                pool.move_free(e, List::Pending, List::Parked);
            }
            pool.recovering = false;
            // A new window: what was acquired before is settled now (unless
            // something was recorded during the flush).
            if pool.ops.is_empty() {
                pool.window = pool.window.wrapping_add(1);
            }
        }
        Err(_) => {
            // Writes for released entities may still be queued: all of them
            // wait (not reusable in place) and are parked by the next flush.
            // Some may have been parked already: until a flush succeeds, an
            // acquisition of them removes `Disabled` first.
            pool.recovering = true;
            for e in released.drain(..) {
                pool.move_free(e, List::Released, List::Pending);
            }
            for e in pending.drain(..) {
                pool.move_free(e, List::Pending, List::Pending);
            }
        }
    }
    // Keep the emptied lists' capacity.
    if pool.released.is_empty() {
        std::mem::swap(&mut pool.released, &mut released);
    }
    for e in lost.drain(..) {
        pool.forget(e);
    }
    pool.lost_scratch = lost;
    for e in refused {
        log::error!(
            "EntityPool<{}>: cannot adopt entity {e}: it belongs to another pool ({})",
            short_type_name::<M>(),
            world_pool_name(world, e),
        );
        let mut pool = world.resource_mut::<EntityPool<M>>();
        pool.forget_refused(e);
    }
    let mut pool = world.resource_mut::<EntityPool<M>>();
    let unreported = std::mem::take(&mut pool.lost_unreported);
    if unreported > 0 {
        log::warn!(
            "EntityPool<{}>: {unreported} pooled entities were despawned outside the pool \
             (release them instead); the pool forgot them",
            short_type_name::<M>(),
        );
    }
    if let Err(payload) = applied {
        resume_unwind(payload);
    }
}

fn world_pool_name(world: &World, e: Entity) -> &'static str {
    world.get::<Pooled>(e).map_or("?", |p| p.pool_name())
}

/// What the frame boundary does for a registered `EntityPool<M>` once per
/// tick: flush it, then apply its [`ShrinkPolicy`](super::ShrinkPolicy).
pub(crate) fn tick_pool<M: Component>(world: &mut World) {
    flush_pool::<M>(world);
    let Some(mut pool) = world.get_resource_mut::<EntityPool<M>>() else {
        return;
    };
    let pool = pool.bypass_change_detection();
    let (live, owned) = (pool.live, pool.owned());
    let policy = pool.shrink_policy;
    if let Some(keep) = pool.shrink.end_tick(&policy, live, owned) {
        // The shrink policy's despawns (and what runs during them) are
        // tickmem's housekeeping: not charged to the tick's budget.
        tickmem_track::housekeeping(|| give_back::<M>(world, owned.saturating_sub(keep)));
    }
}

/// Despawn up to `n` parked entities of `EntityPool<M>`; returns how many.
/// An entity whose despawn panics (a component's `Drop`, a hook) and every
/// one after it stay parked.
pub(crate) fn give_back<M: Component>(world: &mut World, n: usize) -> usize {
    let Some(mut pool) = world.get_resource_mut::<EntityPool<M>>() else {
        return 0;
    };
    let pool = &mut *pool;
    let mut doomed = std::mem::take(&mut pool.give_back_scratch);
    while doomed.len() < n
        && let Some(e) = pool.pop_free(List::Parked)
    {
        // Forgotten first: the `Pooled` hook then ignores the despawn.
        pool.set_slot(e, Slot::Vacant);
        pool.given_back += 1;
        doomed.push(e);
    }
    let mut done = 0;
    let despawned = catch_unwind(AssertUnwindSafe(|| {
        for &e in &doomed {
            world.despawn(e);
            done += 1;
        }
    }));
    // After a panic: the entities still in the world stay parked.
    doomed.drain(..done);
    doomed.retain(|&e| world.entities().contains_spawned(e));
    let mut pool = world.resource_mut::<EntityPool<M>>();
    let pool = &mut *pool;
    for e in doomed.drain(..) {
        pool.given_back -= 1;
        pool.park_again(e);
    }
    pool.give_back_scratch = doomed;
    if let Err(payload) = despawned {
        resume_unwind(payload);
    }
    done
}
