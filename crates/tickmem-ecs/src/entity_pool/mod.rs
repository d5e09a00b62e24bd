//! [`EntityPool`]: recycle bevy entities instead of spawning and despawning
//! them.
//!
//! # How it works
//!
//! A pool owns every entity it ever spawned. [`release`](EntityPool::release)
//! does not despawn: the entity is parked, i.e. given bevy's [`Disabled`]
//! component, which hides it from every query that does not ask for
//! `Disabled` explicitly. [`acquire`](EntityPool::acquire) hands a free entity
//! back with the caller's components written over the old ones, or spawns one
//! when none is free.
//!
//! Operations are recorded in the pool and applied to the [`World`] in one
//! batch when the pool is *flushed*:
//!
//! * through [`PoolCommands`] (the system parameter), at the same sync point
//!   as the system's [`Commands`];
//! * by [`EntityPoolWorldExt::flush_entity_pool`] (or the
//!   [`apply_entity_pool`] system);
//! * at the latest, by the frame-boundary system at the start of the next
//!   tick, for pools registered with
//!   [`TickmemWorldExt::register_entity_pool`](crate::TickmemWorldExt::register_entity_pool).
//!
//! [`EntityPool::reuse`] (and [`PoolCommands::reuse`]) goes one step
//! further for the hottest churn: it hands back a released entity as it is,
//! for the caller to overwrite through its own `Query`, and records nothing.
//!
//! Batching is what makes the pool fast. An entity released and acquired
//! again before the flush (a bullet dies, another is fired in the same tick)
//! never changes archetype: its components are overwritten in place, in a
//! batch, with no `Disabled` round trip. Only the net change between two
//! flushes moves entities between the enabled and the parked tables
//! (`Disabled` is a table component, so parking moves the entity's row to
//! the table with a `Disabled` column: a copy of the row, no allocation once
//! the tables have grown).
//!
//! # Identity
//!
//! **An entity keeps its identity only while it is acquired.** After
//! `release(e)`, the same `Entity` value (same index, same generation) may be
//! handed out again by a later `acquire`, for a different object. Anything
//! that kept `e` then refers to the new object; bevy cannot tell the
//! difference. Do not keep pooled entities in long-lived references across a
//! release (store a [`Handle`](tickmem_pool::Handle) from a `tickmem_pool::Pool`
//! in the component if you need a name that can never be reused).
//!
//! Other consequences of recycling:
//!
//! * Components are replaced, not added: `Added<T>` does not fire for a
//!   recycled entity (`Changed<T>` does).
//! * Components the entity gained after `acquire` (beyond the bundle) stay on
//!   it while it is parked and after the next `acquire`; remove them before
//!   `release` if they must not carry over.
//! * Until the flush, a released entity is still visible to queries and an
//!   acquired one does not have its new components yet, exactly like
//!   entities despawned or spawned through `Commands`.
//! * A sync point between releasing and acquiring (e.g. `fire.after(age)`
//!   where both use [`PoolCommands`]: bevy inserts a sync point after a
//!   system with deferred parameters) flushes in between, so released
//!   entities are parked and then unparked: correct, but two table moves per
//!   entity instead of none. Order such systems with
//!   `chain_ignore_deferred()` / `after_ignore_deferred(..)`, or release and
//!   acquire in the same system, to keep the fast path.
//! * Do not despawn a pooled entity yourself: the pool notices at its next
//!   flush, logs a warning and forgets the entity (counted in
//!   [`EntityPool::lost`]), but an `Entity` it handed out in between refers to
//!   nothing.

use std::any::{Any, TypeId};
use std::fmt;
use std::marker::PhantomData;

use bevy_ecs::bundle::{Bundle, NoBundleEffect};
use bevy_ecs::change_detection::Tick;
use bevy_ecs::component::Component;
use bevy_ecs::entity::{Entity, EntityAllocator};
use bevy_ecs::entity_disabling::Disabled;
use bevy_ecs::resource::Resource;
use bevy_ecs::system::{Commands, ResMut, SystemChangeTick, SystemParam};
use bevy_ecs::world::World;

use crate::names::short_type_name;

/// A pool of recycled entities for objects created and destroyed in large
/// numbers (bullets, particles, hit effects). `M` names the pool: usually the
/// marker component the pooled entities carry (`EntityPool<Bullet>`).
///
/// Insert it with
/// [`TickmemWorldExt::register_entity_pool`](crate::TickmemWorldExt::register_entity_pool)
/// (which also reports its size in [`MemoryStats`](crate::MemoryStats) and
/// Tracy), then use it from systems through [`PoolCommands`]. See the
/// [module docs](crate::entity_pool) for how recycling works and what it means
/// for entity identity.
///
/// # Examples
///
/// ```
/// use bevy_ecs::prelude::*;
/// use tickmem_ecs::{EntityPoolWorldExt, TickmemWorldExt};
///
/// #[derive(Component, Clone)]
/// struct Bullet;
/// #[derive(Component, Clone)]
/// struct Pos(f32);
///
/// let mut world = World::new();
/// world.register_entity_pool::<Bullet>();
///
/// let a = world.acquire_pooled::<Bullet, _>((Bullet, Pos(1.0)));
/// world.release_pooled::<Bullet>(a);
/// // Hidden from ordinary queries, but not despawned:
/// assert_eq!(world.query::<&Pos>().iter(&world).count(), 0);
/// assert!(world.get_entity(a).is_ok());
///
/// // The parked entity comes back with the new components.
/// let b = world.acquire_pooled::<Bullet, _>((Bullet, Pos(2.0)));
/// assert_eq!(a, b);
/// assert_eq!(world.get::<Pos>(b).unwrap().0, 2.0);
/// ```
#[derive(Resource)]
pub struct EntityPool<M: Component> {
    /// Free entities that have `Disabled` in the world.
    parked: Vec<Entity>,
    /// Free entities released since the last flush that were acquired before
    /// it: they exist, enabled, with their components; parked at the next
    /// flush unless acquired (or reused) again before it.
    released: Vec<Entity>,
    /// Free entities acquired *and* released since the last flush: an
    /// operation on them is still pending, so they cannot be reused in place.
    released_pending: Vec<Entity>,
    /// Counts flushes; an entity acquired in the current window has
    /// `Slot::Live(_, window)`.
    window: u32,
    /// Per entity index: what the pool knows about the entity there.
    slots: Vec<Slot>,
    /// Recorded acquisitions, applied at the next flush.
    ops: OpQueue,
    live: usize,
    spawned: u64,
    lost: u64,
    /// Reused by flushes to collect entities found despawned.
    lost_scratch: Vec<Entity>,
    /// `this_run` of the last system run that queued a flush command.
    flush_queued_at: Option<Tick>,
    _marker: PhantomData<fn() -> M>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Vacant,
    /// Acquired, in the flush window given (see `EntityPool::window`).
    Live(Entity, u32),
    Free(Entity),
}

/// Why [`EntityPool::try_release`] refused an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseError {
    /// The entity was released before and not acquired since.
    AlreadyReleased {
        /// The pool's type name.
        pool: &'static str,
        /// The entity.
        entity: Entity,
    },
    /// The entity was not handed out by this pool.
    NotFromThisPool {
        /// The pool's type name.
        pool: &'static str,
        /// The entity.
        entity: Entity,
    },
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReleaseError::AlreadyReleased { pool, entity } => write!(
                f,
                "EntityPool<{pool}>: entity {entity} was released twice \
                 (it is already free; acquire it again before releasing it)"
            ),
            ReleaseError::NotFromThisPool { pool, entity } => write!(
                f,
                "EntityPool<{pool}>: entity {entity} was not acquired from this pool \
                 (release only entities this pool's acquire returned, to the same pool)"
            ),
        }
    }
}

impl std::error::Error for ReleaseError {}

impl<M: Component> Default for EntityPool<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Component> fmt::Debug for EntityPool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntityPool")
            .field("marker", &std::any::type_name::<M>())
            .field("live", &self.live)
            .field("parked", &self.parked.len())
            .field(
                "released",
                &(self.released.len() + self.released_pending.len()),
            )
            .field("pending_ops", &self.ops.len())
            .field("spawned", &self.spawned)
            .field("lost", &self.lost)
            .finish()
    }
}

impl<M: Component> EntityPool<M> {
    /// An empty pool. It spawns entities on demand; see
    /// [`EntityPoolWorldExt::reserve_pooled`] to pre-warm it.
    pub fn new() -> Self {
        EntityPool {
            parked: Vec::new(),
            released: Vec::new(),
            released_pending: Vec::new(),
            window: 0,
            slots: Vec::new(),
            ops: OpQueue::default(),
            live: 0,
            spawned: 0,
            lost: 0,
            lost_scratch: Vec::new(),
            flush_queued_at: None,
            _marker: PhantomData,
        }
    }

    /// Entities acquired and not released.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Free entities: parked, or released and waiting for the flush to park
    /// them. The next `free()` acquisitions spawn nothing.
    pub fn free(&self) -> usize {
        self.parked.len() + self.released.len() + self.released_pending.len()
    }

    /// Free entities that are parked (have [`Disabled`]) in the world.
    pub fn parked(&self) -> usize {
        self.parked.len()
    }

    /// Entities released since the last flush (still enabled in the world).
    pub fn pending_releases(&self) -> usize {
        self.released.len() + self.released_pending.len()
    }

    /// Acquisitions recorded since the last flush.
    pub fn pending_acquires(&self) -> usize {
        self.ops.len()
    }

    /// Entities this pool has spawned in total (each is recycled from then
    /// on).
    pub fn spawned(&self) -> u64 {
        self.spawned
    }

    /// Entities the pool found despawned behind its back (see the
    /// [module docs](crate::entity_pool)).
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Take a free entity (or allocate a new one) for `bundle` and return it
    /// now; the components are written at the next flush.
    ///
    /// Prefers an entity released since the last flush (its components are
    /// overwritten in place, no archetype move), then a parked one
    /// (`Disabled` is removed), then allocates a new entity from `allocator`
    /// (spawned at the flush).
    ///
    /// [`PoolCommands::acquire`] is the same, with the flush scheduled for
    /// you; from an exclusive system use
    /// [`EntityPoolWorldExt::acquire_pooled`].
    pub fn acquire<B>(&mut self, allocator: &EntityAllocator, bundle: B) -> Entity
    where
        B: Bundle<Effect: NoBundleEffect>,
    {
        self.acquire_with(|| allocator.alloc(), bundle)
    }

    fn acquire_with<B>(&mut self, alloc: impl FnOnce() -> Entity, bundle: B) -> Entity
    where
        B: Bundle<Effect: NoBundleEffect>,
    {
        // Released entities with a pending operation first, so that those
        // `reuse` can take stay available.
        let (entity, kind) = if let Some(e) = self.released_pending.pop() {
            (e, OpKind::Overwrite)
        } else if let Some(e) = self.released.pop() {
            (e, OpKind::Overwrite)
        } else if let Some(e) = self.parked.pop() {
            (e, OpKind::Unpark)
        } else {
            self.spawned += 1;
            (alloc(), OpKind::Spawn)
        };
        self.set_slot(entity, Slot::Live(entity, self.window));
        self.live += 1;
        self.ops.push(kind, entity, bundle);
        entity
    }

    /// Take back, **for the caller to overwrite in place**, an entity
    /// released since the last flush: it still exists, enabled, with every
    /// component it had when it was released, and no write is recorded for
    /// it. Write its new state through your own `Query` (it matches the same
    /// queries as before its release); what you do not overwrite keeps the
    /// old object's values. `None` when no such entity is free: use
    /// [`acquire`](Self::acquire).
    ///
    /// The fastest way to recycle: no archetype move, no batch insertion at
    /// the flush, just your query's writes.
    ///
    /// ```
    /// use bevy_ecs::prelude::*;
    /// use tickmem_ecs::{EntityPool, EntityPoolWorldExt, TickmemWorldExt};
    ///
    /// #[derive(Component)]
    /// struct Spark { heat: u32 }
    ///
    /// let mut world = World::new();
    /// world.register_entity_pool::<Spark>();
    /// let old = world.acquire_pooled::<Spark, _>(Spark { heat: 1 });
    /// let mut pool = world.resource_mut::<EntityPool<Spark>>();
    /// pool.release(old);
    /// let again = pool.reuse().expect("released since the last flush");
    /// assert_eq!(again, old);
    /// world.get_mut::<Spark>(again).unwrap().heat = 9; // the caller's write
    /// world.flush_entity_pool::<Spark>();
    /// assert_eq!(world.query::<&Spark>().single(&world).unwrap().heat, 9);
    /// ```
    pub fn reuse(&mut self) -> Option<Entity> {
        let entity = self.released.pop()?;
        // Settled: nothing pending for it in this window.
        self.set_slot(entity, Slot::Live(entity, self.window.wrapping_sub(1)));
        self.live += 1;
        Some(entity)
    }

    /// Give `entity` back to the pool: it is parked (hidden) at the next flush
    /// unless acquired again before it.
    ///
    /// # Panics
    ///
    /// If `entity` is already free, or was not acquired from this pool (see
    /// [`try_release`](Self::try_release)).
    #[track_caller]
    pub fn release(&mut self, entity: Entity) {
        if let Err(e) = self.try_release(entity) {
            panic!("{e}");
        }
    }

    /// [`release`](Self::release), returning an error instead of panicking.
    pub fn try_release(&mut self, entity: Entity) -> Result<(), ReleaseError> {
        let acquired_in = match self.slot(entity) {
            Slot::Live(e, window) if e == entity => window,
            Slot::Free(e) if e == entity => {
                return Err(ReleaseError::AlreadyReleased {
                    pool: pool_name::<M>(),
                    entity,
                });
            }
            _ => {
                return Err(ReleaseError::NotFromThisPool {
                    pool: pool_name::<M>(),
                    entity,
                });
            }
        };
        self.set_slot(entity, Slot::Free(entity));
        self.live -= 1;
        if acquired_in == self.window {
            self.released_pending.push(entity);
        } else {
            self.released.push(entity);
        }
        Ok(())
    }

    /// `true` when the pool has recorded work for the next flush.
    pub fn needs_flush(&self) -> bool {
        !self.ops.is_empty() || !self.released.is_empty() || !self.released_pending.is_empty()
    }

    fn slot(&self, entity: Entity) -> Slot {
        self.slots
            .get(entity.index_u32() as usize)
            .copied()
            .unwrap_or(Slot::Vacant)
    }

    fn set_slot(&mut self, entity: Entity, slot: Slot) {
        let i = entity.index_u32() as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, Slot::Vacant);
        }
        self.slots[i] = slot;
    }

    /// Forget an entity that no longer exists in the world.
    fn forget(&mut self, entity: Entity) {
        match self.slot(entity) {
            Slot::Live(e, _) if e == entity => self.live -= 1,
            Slot::Free(e) if e == entity => {
                self.parked.retain(|&p| p != entity);
                self.released.retain(|&p| p != entity);
                self.released_pending.retain(|&p| p != entity);
            }
            _ => return,
        }
        self.set_slot(entity, Slot::Vacant);
        self.lost += 1;
    }
}

/// The pool's marker type name, for messages.
fn pool_name<M>() -> &'static str {
    std::any::type_name::<M>()
}

/// Apply everything `EntityPool<M>` recorded: write acquired entities'
/// components, then park the entities released since the last flush. Does
/// nothing when the pool is missing or has nothing pending.
pub(crate) fn flush_pool<M: Component>(world: &mut World) {
    let Some(mut pool) = world.get_resource_mut::<EntityPool<M>>() else {
        return;
    };
    if !pool.needs_flush() {
        return;
    }
    let mut ops = std::mem::take(&mut pool.ops);
    let mut released = std::mem::take(&mut pool.released);
    let mut released_pending = std::mem::take(&mut pool.released_pending);
    released.append(&mut released_pending);
    let mut lost = std::mem::take(&mut pool.lost_scratch);

    ops.apply(world, &mut lost);
    if !released.is_empty()
        && let Err(err) = world.try_insert_batch(released.iter().map(|&e| (e, Disabled)))
    {
        lost.extend_from_slice(&err.entities);
    }

    let mut pool = world.resource_mut::<EntityPool<M>>();
    // Hooks or observers run by the flush may have used the pool: keep what
    // they recorded for the next flush.
    if pool.ops.is_empty() {
        pool.ops = ops;
    }
    pool.parked.append(&mut released);
    let recorded_meanwhile = std::mem::replace(&mut pool.released, released);
    pool.released.extend(recorded_meanwhile);
    let recorded_meanwhile = std::mem::replace(&mut pool.released_pending, released_pending);
    pool.released_pending.extend(recorded_meanwhile);
    // A new window: what was acquired before is settled now.
    pool.window = pool.window.wrapping_add(1);
    if !lost.is_empty() {
        log::warn!(
            "EntityPool<{}>: {} pooled entities were despawned outside the pool \
             (release them instead); the pool forgot them",
            short_type_name::<M>(),
            lost.len()
        );
        for e in lost.drain(..) {
            pool.forget(e);
        }
    }
    pool.lost_scratch = lost;
}

/// An exclusive system that flushes `EntityPool<M>` (see the
/// [module docs](crate::entity_pool)): add it where recorded acquisitions
/// must be visible, e.g. `.after(fire_bullets)`. [`PoolCommands`] users do not
/// need it.
pub fn apply_entity_pool<M: Component>(world: &mut World) {
    flush_pool::<M>(world);
}

/// A system parameter to acquire and release pooled entities from ordinary
/// systems, like [`Commands`] for spawning and despawning. The pool is
/// flushed at the system's sync point (with its `Commands`).
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
///     bullets.acquire(Bullet { ttl: 3 });
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
/// schedule.add_systems((age, fire).chain());
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
    pub fn acquire<B>(&mut self, bundle: B) -> Entity
    where
        B: Bundle<Effect: NoBundleEffect>,
    {
        self.schedule_flush();
        self.pool.acquire(self.allocator, bundle)
    }

    /// Take back an entity released since the last flush, for the caller to
    /// overwrite in place through its own `Query` (see [`EntityPool::reuse`]);
    /// `None` when there is none (use [`acquire`](Self::acquire)).
    pub fn reuse(&mut self) -> Option<Entity> {
        self.pool.reuse()
    }

    /// Release `entity` (see [`EntityPool::release`]). It is parked at this
    /// system's sync point unless acquired again before it.
    ///
    /// # Panics
    ///
    /// If `entity` is already free or was not acquired from this pool.
    #[track_caller]
    pub fn release(&mut self, entity: Entity) {
        self.schedule_flush();
        self.pool.release(entity);
    }

    /// [`release`](Self::release), returning an error instead of panicking.
    pub fn try_release(&mut self, entity: Entity) -> Result<(), ReleaseError> {
        self.schedule_flush();
        self.pool.try_release(entity)
    }

    /// The pool itself (counts).
    pub fn pool(&self) -> &EntityPool<M> {
        &self.pool
    }

    /// Queue one flush command per system run.
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
    /// If the pool is missing, or `entity` is already free or was not
    /// acquired from this pool.
    fn release_pooled<M: Component>(&mut self, entity: Entity);

    /// Apply everything `EntityPool<M>` has recorded (no-op without the pool).
    fn flush_entity_pool<M: Component>(&mut self);

    /// Pre-warm `EntityPool<M>`: spawn parked entities with clones of
    /// `bundle` until at least `n` entities are free, and reserve room so that
    /// `n` acquisitions and releases per flush need no allocation.
    ///
    /// # Panics
    ///
    /// If the pool is missing.
    fn reserve_pooled<M: Component, B: Bundle<Effect: NoBundleEffect> + Clone>(
        &mut self,
        n: usize,
        bundle: B,
    );
}

#[track_caller]
fn pool_mut<M: Component>(world: &mut World) -> bevy_ecs::world::Mut<'_, EntityPool<M>> {
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

impl EntityPoolWorldExt for World {
    #[track_caller]
    fn acquire_pooled<M: Component, B: Bundle<Effect: NoBundleEffect>>(
        &mut self,
        bundle: B,
    ) -> Entity {
        // Allocate an entity only if the pool has none free (an allocated,
        // unused entity would be leaked).
        let fresh = (pool_mut::<M>(self).free() == 0).then(|| self.entity_allocator().alloc());
        let entity = pool_mut::<M>(self).acquire_with(
            || fresh.expect("allocated above when the pool has no free entity"),
            bundle,
        );
        flush_pool::<M>(self);
        entity
    }

    #[track_caller]
    fn release_pooled<M: Component>(&mut self, entity: Entity) {
        pool_mut::<M>(self).release(entity);
        flush_pool::<M>(self);
    }

    fn flush_entity_pool<M: Component>(&mut self) {
        flush_pool::<M>(self);
    }

    #[track_caller]
    fn reserve_pooled<M: Component, B: Bundle<Effect: NoBundleEffect> + Clone>(
        &mut self,
        n: usize,
        bundle: B,
    ) {
        flush_pool::<M>(self);
        let missing = n.saturating_sub(pool_mut::<M>(self).free());
        let spawned: Vec<Entity> = self
            .spawn_batch(std::iter::repeat_n((bundle, Disabled), missing))
            .collect();
        let mut pool = pool_mut::<M>(self);
        for &e in &spawned {
            pool.set_slot(e, Slot::Free(e));
        }
        pool.spawned += spawned.len() as u64;
        pool.parked.extend(spawned);
        // Room for every entity the pool owns in each free list.
        let total = pool.live + pool.free();
        let parked = pool.parked.len();
        pool.parked.reserve(total - parked);
        let released = pool.released.len();
        pool.released.reserve(total - released);
        let pending = pool.released_pending.len();
        pool.released_pending.reserve(total - pending);
        pool.ops.reserve::<B>(n);
    }
}

// ---------------------------------------------------------------------------
// The recorded operations: runs of same-kind, same-bundle-type acquisitions,
// applied in order with bevy's batch insertion.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    /// The entity is enabled in the world with (usually) the bundle's
    /// components: overwrite them in place.
    Overwrite,
    /// The entity is parked: remove `Disabled`, write the components.
    Unpark,
    /// The entity is allocated but not spawned: spawn it.
    Spawn,
}

trait ErasedRun: Send + Sync {
    fn kind(&self) -> OpKind;
    fn set_kind(&mut self, kind: OpKind);
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn bundle_type(&self) -> TypeId;
    /// Apply and empty the run; entities that no longer exist go to `lost`.
    fn apply(&mut self, world: &mut World, lost: &mut Vec<Entity>);
}

struct Run<B> {
    kind: OpKind,
    items: Vec<(Entity, B)>,
}

impl<B: Bundle<Effect: NoBundleEffect>> ErasedRun for Run<B> {
    fn kind(&self) -> OpKind {
        self.kind
    }

    fn set_kind(&mut self, kind: OpKind) {
        self.kind = kind;
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn bundle_type(&self) -> TypeId {
        TypeId::of::<B>()
    }

    fn apply(&mut self, world: &mut World, lost: &mut Vec<Entity>) {
        match self.kind {
            OpKind::Overwrite => {
                if let Err(err) = world.try_insert_batch(self.items.drain(..)) {
                    lost.extend_from_slice(&err.entities);
                }
            }
            OpKind::Unpark => {
                for &(e, _) in &self.items {
                    if let Ok(mut entity) = world.get_entity_mut(e) {
                        entity.remove::<Disabled>();
                    }
                }
                if let Err(err) = world.try_insert_batch(self.items.drain(..)) {
                    lost.extend_from_slice(&err.entities);
                }
            }
            OpKind::Spawn => {
                for (e, bundle) in self.items.drain(..) {
                    if world.spawn_at(e, bundle).is_err() {
                        lost.push(e);
                    }
                }
            }
        }
    }
}

/// Runs in recording order, and emptied runs kept for reuse (so a warmed-up
/// pool records without allocating).
#[derive(Default)]
struct OpQueue {
    runs: Vec<Box<dyn ErasedRun>>,
    spare: Vec<Box<dyn ErasedRun>>,
    len: usize,
}

impl OpQueue {
    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push<B: Bundle<Effect: NoBundleEffect>>(&mut self, kind: OpKind, entity: Entity, bundle: B) {
        self.len += 1;
        if let Some(last) = self.runs.last_mut()
            && last.kind() == kind
            && let Some(run) = last.as_any_mut().downcast_mut::<Run<B>>()
        {
            run.items.push((entity, bundle));
            return;
        }
        let mut run = self.take_spare::<B>();
        run.set_kind(kind);
        run.as_any_mut()
            .downcast_mut::<Run<B>>()
            .expect("take_spare returns a Run<B>")
            .items
            .push((entity, bundle));
        self.runs.push(run);
    }

    /// An empty `Run<B>`: a spare one, or a new one.
    fn take_spare<B: Bundle<Effect: NoBundleEffect>>(&mut self) -> Box<dyn ErasedRun> {
        let ty = TypeId::of::<B>();
        match self.spare.iter().position(|r| r.bundle_type() == ty) {
            Some(i) => self.spare.swap_remove(i),
            None => Box::new(Run::<B> {
                kind: OpKind::Overwrite,
                items: Vec::new(),
            }),
        }
    }

    /// Make room for `n` recorded acquisitions of `B` in a spare run.
    fn reserve<B: Bundle<Effect: NoBundleEffect>>(&mut self, n: usize) {
        let mut run = self.take_spare::<B>();
        if let Some(run) = run.as_any_mut().downcast_mut::<Run<B>>() {
            run.items.reserve(n);
        }
        self.spare.push(run);
        self.runs.reserve(1);
    }

    fn apply(&mut self, world: &mut World, lost: &mut Vec<Entity>) {
        for mut run in self.runs.drain(..) {
            run.apply(world, lost);
            self.spare.push(run);
        }
        self.len = 0;
    }
}
