//! [`PoolCommands`] (the system parameter) and [`EntityPoolWorldExt`]
//! (exclusive access).

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use bevy_ecs::bundle::{Bundle, NoBundleEffect};
use bevy_ecs::change_detection::DetectChangesMut;
use bevy_ecs::component::Component;
use bevy_ecs::entity::{Entity, EntityAllocator};
use bevy_ecs::entity_disabling::Disabled;
use bevy_ecs::system::{Commands, ResMut, SystemChangeTick, SystemParam};
use bevy_ecs::world::{Mut, World};

use super::flush::{Pooled, flush_pool, give_back, tick_pool};
use super::{AdoptError, EntityPool, List, PoolBundle, ReleaseError, pool_name};
use crate::names::short_type_name;

/// A system parameter to acquire, release and adopt pooled entities from
/// ordinary systems, like [`Commands`] for spawning and despawning. The pool
/// is flushed at the system's sync point (with its `Commands`).
///
/// Systems using `PoolCommands<M>` for the same `M` do not run in parallel
/// with each other (they borrow `EntityPool<M>` mutably).
///
/// # Examples
///
/// ```
/// use bevy_ecs::prelude::*;
/// use tickmem_ecs::{PoolCommands, TickmemWorldExt};
///
/// #[derive(Component)]
/// struct Bullet { ttl: u32 }
///
/// fn fire(mut bullets: PoolCommands<Bullet>) {
///     bullets.acquire_typed((Bullet { ttl: 3 },));
/// }
///
/// fn age(mut bullets: PoolCommands<Bullet>, mut q: Query<(Entity, &mut Bullet)>) {
///     for (e, mut b) in &mut q {
///         b.ttl -= 1;
///         if b.ttl == 0 {
///             bullets.release(e);
///         }
///     }
/// }
///
/// let mut world = World::new();
/// world.register_entity_pool::<Bullet>();
/// let mut schedule = Schedule::default();
/// // No sync point between the two: `fire` takes back what `age` released
/// // before the flush, in place.
/// schedule.add_systems((age, fire).chain_ignore_deferred());
/// for _ in 0..10 {
///     schedule.run(&mut world);
/// }
/// let pool = world.resource::<tickmem_ecs::EntityPool<Bullet>>();
/// assert_eq!(pool.live(), 3);
/// assert_eq!(pool.spawned(), 3); // then recycled forever
/// ```
#[derive(SystemParam)]
pub struct PoolCommands<'w, 's, M: Component> {
    pool: ResMut<'w, EntityPool<M>>,
    allocator: &'w EntityAllocator,
    commands: Commands<'w, 's>,
    ticks: SystemChangeTick,
}

impl<M: Component> fmt::Debug for PoolCommands<'_, '_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PoolCommands").field(&*self.pool).finish()
    }
}

impl<M: Component> PoolCommands<'_, '_, M> {
    /// Acquire an entity for `bundle` (see [`EntityPool::acquire`]). Its
    /// components are written at this system's sync point.
    #[inline]
    pub fn acquire<B>(&mut self, bundle: B) -> Entity
    where
        B: Bundle<Effect: NoBundleEffect>,
    {
        self.schedule_flush();
        self.pool
            .bypass_change_detection()
            .acquire(self.allocator, bundle)
    }

    /// Acquire an entity for a tuple of components, written by assignment at
    /// this system's sync point (see [`EntityPool::acquire_typed`]): about
    /// twice as fast as [`acquire`](Self::acquire).
    #[inline]
    pub fn acquire_typed<B: PoolBundle>(&mut self, bundle: B) -> Entity {
        self.schedule_flush();
        self.pool
            .bypass_change_detection()
            .acquire_typed(self.allocator, bundle)
    }

    /// Take back an entity released since the last flush, for the caller to
    /// overwrite in place through its own `Query` (see [`EntityPool::reuse`]);
    /// `None` when there is none (acquire instead).
    #[inline]
    pub fn reuse(&mut self) -> Option<Entity> {
        self.pool.reuse()
    }

    /// Release `entity` (see [`EntityPool::release`]). It is parked at this
    /// system's sync point unless acquired again before it.
    ///
    /// # Panics
    ///
    /// If `entity` is already free or does not belong to this pool.
    #[track_caller]
    #[inline]
    pub fn release(&mut self, entity: Entity) {
        self.schedule_flush();
        self.pool.bypass_change_detection().release(entity);
    }

    /// [`release`](Self::release), returning an error instead of panicking.
    ///
    /// # Errors
    ///
    /// [`ReleaseError`] if `entity` is already free or does not belong to
    /// this pool.
    pub fn try_release(&mut self, entity: Entity) -> Result<(), ReleaseError> {
        self.schedule_flush();
        self.pool.try_release(entity)
    }

    /// Adopt `entity`, spawned elsewhere (see [`EntityPool::adopt`]), at
    /// this system's sync point. An entity spawned through `Commands` in the
    /// same system may be adopted right away: an adoption waits for the
    /// spawn.
    ///
    /// # Errors
    ///
    /// [`AdoptError::AlreadyInThisPool`] if the pool owns it already.
    pub fn adopt(&mut self, entity: Entity) -> Result<(), AdoptError> {
        self.schedule_flush();
        self.pool.adopt(entity)
    }

    /// The pool itself (counts).
    pub fn pool(&self) -> &EntityPool<M> {
        &self.pool
    }

    /// Queue one flush command per system run (and mark the pool changed
    /// once per run: the recording calls bypass change detection).
    #[inline]
    fn schedule_flush(&mut self) {
        let now = self.ticks.this_run();
        if self.pool.flush_queued_at != Some(now) {
            self.pool.flush_queued_at = Some(now);
            self.commands.queue(flush_pool::<M>);
        }
    }
}

/// Entity-pool operations on a [`World`], for exclusive systems and set-up
/// code. Each call applies at once (it records and flushes).
///
/// # Examples
///
/// ```
/// use bevy_ecs::prelude::*;
/// use tickmem_ecs::{EntityPool, EntityPoolWorldExt, TickmemWorldExt};
///
/// #[derive(Component, Clone)]
/// struct Spark;
///
/// let mut world = World::new();
/// world.register_entity_pool::<Spark>();
/// world.reserve_pooled::<Spark, _>(100, Spark);
/// let e = world.acquire_pooled::<Spark, _>(Spark);
/// world.release_pooled::<Spark>(e);
/// // Give back all free entities but 10.
/// assert_eq!(world.shrink_entity_pool::<Spark>(10), 90);
/// assert_eq!(world.resource::<EntityPool<Spark>>().free(), 10);
/// ```
pub trait EntityPoolWorldExt {
    /// Acquire an entity from `EntityPool<M>` with `bundle`'s components,
    /// applied at once.
    ///
    /// # Panics
    ///
    /// If `EntityPool<M>` is not in the world (see
    /// [`TickmemWorldExt::register_entity_pool`](crate::TickmemWorldExt::register_entity_pool)).
    fn acquire_pooled<M: Component, B: Bundle<Effect: NoBundleEffect>>(
        &mut self,
        bundle: B,
    ) -> Entity;

    /// Release `entity` to `EntityPool<M>` and park it at once.
    ///
    /// # Panics
    ///
    /// If the pool is missing, or `entity` is already free or does not
    /// belong to this pool.
    fn release_pooled<M: Component>(&mut self, entity: Entity);

    /// Adopt `entity`, spawned elsewhere, into `EntityPool<M>` at once, as an
    /// acquired entity (see [`EntityPool::adopt`]).
    ///
    /// # Errors
    ///
    /// [`AdoptError`] if the entity does not exist or a pool (this one or
    /// another) owns it already.
    ///
    /// # Panics
    ///
    /// If the pool is missing.
    fn adopt_pooled<M: Component>(&mut self, entity: Entity) -> Result<(), AdoptError>;

    /// Apply everything `EntityPool<M>` has recorded (no-op without the pool).
    fn flush_entity_pool<M: Component>(&mut self);

    /// What the frame boundary does for a registered `EntityPool<M>` once
    /// per tick: flush it, then apply its [`ShrinkPolicy`](super::ShrinkPolicy)
    /// (this counts one tick). For loops that do not install tickmem's frame
    /// boundary. No-op without the pool.
    fn tick_entity_pool<M: Component>(&mut self);

    /// Flush `EntityPool<M>`, then give back (despawn) parked entities until
    /// at most `keep_free` are free; returns how many were despawned.
    /// Entities released since the last flush are parked by the flush, so
    /// they count. No-op (0) without the pool.
    fn shrink_entity_pool<M: Component>(&mut self, keep_free: usize) -> usize;

    /// Pre-warm `EntityPool<M>`: spawn parked entities with clones of
    /// `bundle` until at least `n` entities are free, and reserve room so that
    /// `n` acquisitions (by [`acquire`](EntityPool::acquire) with `B`) and
    /// releases per flush need no allocation.
    ///
    /// # Panics
    ///
    /// If the pool is missing.
    fn reserve_pooled<M: Component, B: Bundle<Effect: NoBundleEffect> + Clone>(
        &mut self,
        n: usize,
        bundle: B,
    );

    /// [`reserve_pooled`](Self::reserve_pooled) for acquisitions by
    /// [`acquire_typed`](EntityPool::acquire_typed) with `B`.
    ///
    /// # Panics
    ///
    /// If the pool is missing.
    fn reserve_pooled_typed<M: Component, B: PoolBundle + Clone>(&mut self, n: usize, bundle: B);
}

#[track_caller]
fn pool_mut<M: Component>(world: &mut World) -> Mut<'_, EntityPool<M>> {
    match world.get_resource_mut::<EntityPool<M>>() {
        Some(p) => p,
        None => panic!(
            "EntityPool<{}> is not in the world: call `world.register_entity_pool::<{}>()` \
             (tickmem_ecs::TickmemWorldExt) first",
            short_type_name::<M>(),
            short_type_name::<M>(),
        ),
    }
}

/// Flush; if the flush panics, `undo` the operation recorded just before,
/// then let the panic go on.
fn flush_or_undo<M: Component>(world: &mut World, undo: impl FnOnce(&mut EntityPool<M>)) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| flush_pool::<M>(world))) {
        if let Some(mut pool) = world.get_resource_mut::<EntityPool<M>>() {
            undo(&mut pool);
        }
        resume_unwind(payload);
    }
}

impl EntityPoolWorldExt for World {
    #[track_caller]
    fn acquire_pooled<M: Component, B: Bundle<Effect: NoBundleEffect>>(
        &mut self,
        bundle: B,
    ) -> Entity {
        // Allocate an entity only if the pool has none free (an allocated,
        // unused entity would be leaked).
        let fresh = (pool_mut::<M>(self).free() == 0).then(|| self.entity_allocator().alloc());
        let (entity, kind) = pool_mut::<M>(self)
            .take(|| fresh.expect("allocated above when the pool has no free entity"));
        pool_mut::<M>(self).ops.push_insert(kind, entity, bundle);
        // The caller never sees the entity if the flush panics: give it back.
        flush_or_undo::<M>(self, |pool| {
            let _ = pool.try_release(entity);
        });
        entity
    }

    #[track_caller]
    fn release_pooled<M: Component>(&mut self, entity: Entity) {
        pool_mut::<M>(self).release(entity);
        flush_pool::<M>(self);
    }

    #[track_caller]
    fn adopt_pooled<M: Component>(&mut self, entity: Entity) -> Result<(), AdoptError> {
        let pool = pool_name::<M>();
        if !self.entities().contains_spawned(entity) {
            return Err(AdoptError::NotSpawned { pool, entity });
        }
        if let Some(owner) = self.get::<Pooled>(entity)
            && !owner.same_pool(&Pooled::of::<M>())
        {
            return Err(AdoptError::InAnotherPool {
                pool,
                owner: owner.pool_name(),
                entity,
            });
        }
        pool_mut::<M>(self).adopt(entity)?;
        flush_or_undo::<M>(self, |pool| {
            let _ = pool.try_release(entity);
        });
        Ok(())
    }

    fn flush_entity_pool<M: Component>(&mut self) {
        flush_pool::<M>(self);
    }

    fn tick_entity_pool<M: Component>(&mut self) {
        tick_pool::<M>(self);
    }

    fn shrink_entity_pool<M: Component>(&mut self, keep_free: usize) -> usize {
        flush_pool::<M>(self);
        let Some(pool) = self.get_resource::<EntityPool<M>>() else {
            return 0;
        };
        let excess = pool.free().saturating_sub(keep_free);
        give_back::<M>(self, excess)
    }

    #[track_caller]
    fn reserve_pooled<M: Component, B: Bundle<Effect: NoBundleEffect> + Clone>(
        &mut self,
        n: usize,
        bundle: B,
    ) {
        reserve::<M, B>(self, n, bundle);
        pool_mut::<M>(self).ops.reserve_insert::<B>(n);
    }

    #[track_caller]
    fn reserve_pooled_typed<M: Component, B: PoolBundle + Clone>(&mut self, n: usize, bundle: B) {
        reserve::<M, B>(self, n, bundle);
        pool_mut::<M>(self).ops.reserve_typed::<B>(n);
    }
}

#[track_caller]
fn reserve<M: Component, B: Bundle<Effect: NoBundleEffect> + Clone>(
    world: &mut World,
    n: usize,
    bundle: B,
) {
    pool_mut::<M>(world);
    flush_pool::<M>(world);
    let missing = n.saturating_sub(pool_mut::<M>(world).free());
    let marker = Pooled::of::<M>();
    let spawned: Vec<Entity> = world
        .spawn_batch(std::iter::repeat_n((bundle, Disabled, marker), missing))
        .collect();
    let mut pool = pool_mut::<M>(world);
    pool.spawned += spawned.len() as u64;
    for e in spawned {
        pool.push_free(e, List::Parked);
    }
    // Room for every entity the pool owns in each free list.
    let total = pool.owned();
    for list in [List::Parked, List::Released, List::Pending] {
        let entries = pool.list_mut(list);
        entries.reserve(total.saturating_sub(entries.len()));
    }
}
