//! [`EntityPool`]: recycle bevy entities instead of spawning and despawning
//! them.
//!
//! # How it works
//!
//! A pool owns every entity it spawned or [adopted](EntityPool::adopt); they
//! carry the [`Pooled`] marker. [`release`](EntityPool::release) does not
//! despawn: the entity is parked, i.e. given bevy's
//! [`Disabled`](bevy_ecs::entity_disabling::Disabled) component,
//! which hides it from every query that does not ask for `Disabled`
//! explicitly. The acquisitions hand a free entity back with the caller's
//! components written over the old ones, or spawn one when none is free.
//!
//! Operations are recorded in the pool and applied to the
//! [`World`](bevy_ecs::world::World) in one
//! batch when the pool is *flushed*:
//!
//! * through [`PoolCommands`] (the system parameter), at the same sync point
//!   as the system's [`Commands`](bevy_ecs::system::Commands);
//! * by [`EntityPoolWorldExt::flush_entity_pool`] (or the
//!   [`apply_entity_pool`] system);
//! * at the latest, by the frame-boundary system at the start of the next
//!   tick, for pools registered with
//!   [`TickmemWorldExt::register_entity_pool`](crate::TickmemWorldExt::register_entity_pool).
//!
//! Batching is what makes the pool fast. An entity released and acquired
//! again before the flush (a bullet dies, another is fired in the same tick)
//! never changes archetype: its components are overwritten in place, with no
//! `Disabled` round trip. Only the net change between two flushes moves
//! entities between the enabled and the parked tables (`Disabled` is a table
//! component, so parking moves the entity's row to the table with a
//! `Disabled` column: a copy of the row, no allocation once the tables have
//! grown).
//!
//! # Three ways to get an entity back
//!
//! | method | writes the components | use it for |
//! | --- | --- | --- |
//! | [`reuse`](EntityPool::reuse) | you do, through your own `Query`; nothing is recorded | the hottest churn, when the system already queries the components it overwrites |
//! | [`acquire_typed`](EntityPool::acquire_typed) | the flush, by assignment through a cached typed query | bundles that are tuples of components ([`PoolBundle`]); the default choice |
//! | [`acquire`](EntityPool::acquire) | the flush, by bevy's batch insertion | any bundle: nested bundles, `#[derive(Bundle)]` structs without a [`PoolBundle`] impl |
//!
//! On the `ecs_churn` bench (10,000 bullets recycled per tick) they are
//! 7.6×, 4.0× and 2.1× faster than spawning and despawning (idle 2-vCPU
//! EPYC VM; 4.3×–4.4× for `acquire_typed` in earlier loaded runs).
//!
//! `reuse` only hands out entities released since the last flush (it returns
//! `None` otherwise: fall back to an acquisition). The two acquisitions
//! behave the same (hooks and observers included: `acquire_typed` falls back
//! to the insertion when the components have `on_insert`/`on_discard` hooks
//! or `Insert`/`Discard` observers); the typed one skips bevy's type-erased
//! bundle machinery, which is most of `acquire`'s cost.
//!
//! # Identity
//!
//! **An entity keeps its identity only while it is acquired.** After
//! `release(e)`, the same `Entity` value (same index, same generation) may be
//! handed out again by a later acquisition, for a different object. Anything
//! that kept `e` then refers to the new object; bevy cannot tell the
//! difference. Do not keep pooled entities in long-lived references across a
//! release (store a [`Handle`](tickmem_pool::Handle) from a `tickmem_pool::Pool`
//! in the component if you need a name that can never be reused).
//!
//! Other consequences of recycling:
//!
//! * Components are replaced, not added: `Added<T>` does not fire for a
//!   recycled entity (`Changed<T>` does).
//! * Components the entity gained after it was acquired (beyond the bundle)
//!   stay on it while it is parked and after the next acquisition; remove
//!   them before `release` if they must not carry over.
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
//!
//! # Despawned behind the pool's back
//!
//! Do not despawn a pooled entity yourself: release it. If you do, the
//! [`Pooled`] marker's `on_remove` hook tells the pool at once: it forgets
//! the entity ([`live`](EntityPool::live) or [`free`](EntityPool::free) drop
//! by one, [`lost`](EntityPool::lost) counts it) and logs a warning at its
//! next flush. (While the pool resource is taken out of the world with
//! `World::resource_scope`, the hook cannot reach it; the pool then notices
//! when the entity's next recorded operation finds it gone.) After
//! `World::clear_entities`, insert a new pool: entity ids start over.
//!
//! # Shrinking and adopting
//!
//! A pool gives parked entities back (despawns them) when its demand stayed
//! well below what it owns for a while: see [`ShrinkPolicy`] (applied once
//! per tick by the frame boundary for registered pools, or by
//! [`EntityPoolWorldExt::tick_entity_pool`]). Entities spawned elsewhere join
//! a pool with [`adopt`](EntityPool::adopt); from then on they are released
//! and recycled like the pool's own.
//!
//! # Panics in user code
//!
//! A component's `Drop`, a hook or an observer may panic during a flush. The
//! pool stays consistent: the operations not applied yet stay recorded and
//! the next flush applies them (and parks what was released), its counts
//! match the world, and no entity is handed out twice.
//!
//! One case is bevy's, not the pool's: in bevy_ecs 0.20, when a component's
//! `Drop` panics while bevy's insertion *replaces* it (any `insert` over an
//! existing component, so also [`acquire`](EntityPool::acquire)), the entity
//! keeps the value that was just dropped and that component's column stops
//! running destructors (upstream: bevyengine/bevy#24393). `acquire_typed`
//! replaces components by assignment, which stays sound when `Drop` panics:
//! use it for components whose destructors can panic.

mod commands;
mod flush;
mod ops;
mod shrink;

use std::fmt;
use std::marker::PhantomData;

use bevy_ecs::bundle::{Bundle, NoBundleEffect};
use bevy_ecs::change_detection::Tick;
use bevy_ecs::component::Component;
use bevy_ecs::entity::{Entity, EntityAllocator};
use bevy_ecs::resource::Resource;

pub use commands::{EntityPoolWorldExt, PoolCommands};
pub use flush::Pooled;
pub(crate) use flush::{flush_pool, tick_pool};
pub use ops::PoolBundle;
use ops::{OpKind, OpQueue};
pub use shrink::ShrinkPolicy;
use shrink::ShrinkTracker;

/// A pool of recycled entities for objects created and destroyed in large
/// numbers (bullets, particles, hit effects). `M` names the pool: usually the
/// marker component the pooled entities carry (`EntityPool<Bullet>`).
///
/// Insert it with
/// [`TickmemWorldExt::register_entity_pool`](crate::TickmemWorldExt::register_entity_pool)
/// (which also reports its size in [`MemoryStats`](crate::MemoryStats) and
/// Tracy, and applies its [`ShrinkPolicy`] every tick), then use it from
/// systems through [`PoolCommands`]. See the [module docs](crate::entity_pool)
/// for how recycling works, which acquisition to use, and what it means for
/// entity identity.
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
    /// Free entities that have `Disabled` in the world. Like the two lists
    /// below, it may hold stale entries (entities forgotten since, or listed
    /// twice): an entry counts only while the entity's slot says it is free
    /// in this list.
    parked: Vec<Entity>,
    /// Free entities released since the last flush that were acquired before
    /// it: they exist, enabled, with their components; parked at the next
    /// flush unless acquired (or reused) again before it.
    released: Vec<Entity>,
    /// Free entities acquired *and* released since the last flush: an
    /// operation on them is still pending, so they cannot be reused in place.
    released_pending: Vec<Entity>,
    /// Free entities per list.
    counts: [usize; 3],
    /// Entries in the lists made stale by `forget` since the last compaction.
    stale: usize,
    /// Counts flushes; an entity acquired in the current window has
    /// `Slot::Live(_, window)`.
    window: u32,
    /// Set by a flush that panicked: entities to overwrite may have been
    /// parked already.
    recovering: bool,
    /// Set while a flush runs.
    flushing: bool,
    /// Per entity index: what the pool knows about the entity there.
    slots: Vec<Slot>,
    /// Recorded operations, applied at the next flush.
    ops: OpQueue,
    live: usize,
    spawned: u64,
    adopted: u64,
    lost: u64,
    /// Lost since the last warning.
    lost_unreported: u64,
    given_back: u64,
    shrink_policy: ShrinkPolicy,
    shrink: ShrinkTracker,
    /// Reused by flushes to collect entities found despawned.
    lost_scratch: Vec<Entity>,
    /// Reused to collect the entities given back.
    give_back_scratch: Vec<Entity>,
    /// `this_run` of the last system run that queued a flush command.
    flush_queued_at: Option<Tick>,
    _marker: PhantomData<fn() -> M>,
}

/// Which free list an entity is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    Parked = 0,
    Released = 1,
    Pending = 2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Vacant,
    /// Acquired, in the flush window given (see `EntityPool::window`).
    Live(Entity, u32),
    Free(Entity, List),
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
                 (release only entities this pool handed out or adopted, to the same pool; \
                 adopt entities spawned elsewhere first)"
            ),
        }
    }
}

impl std::error::Error for ReleaseError {}

/// Why an entity cannot be adopted by an [`EntityPool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdoptError {
    /// The pool owns the entity already (acquired or free).
    AlreadyInThisPool {
        /// The pool's type name.
        pool: &'static str,
        /// The entity.
        entity: Entity,
    },
    /// Another pool owns the entity.
    InAnotherPool {
        /// The pool's type name.
        pool: &'static str,
        /// The owning pool's type name.
        owner: &'static str,
        /// The entity.
        entity: Entity,
    },
    /// The entity does not exist (despawned, or not spawned yet).
    NotSpawned {
        /// The pool's type name.
        pool: &'static str,
        /// The entity.
        entity: Entity,
    },
}

impl fmt::Display for AdoptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdoptError::AlreadyInThisPool { pool, entity } => write!(
                f,
                "EntityPool<{pool}>: cannot adopt entity {entity}: the pool owns it already"
            ),
            AdoptError::InAnotherPool {
                pool,
                owner,
                entity,
            } => write!(
                f,
                "EntityPool<{pool}>: cannot adopt entity {entity}: it belongs to EntityPool<{owner}>"
            ),
            AdoptError::NotSpawned { pool, entity } => write!(
                f,
                "EntityPool<{pool}>: cannot adopt entity {entity}: it does not exist"
            ),
        }
    }
}

impl std::error::Error for AdoptError {}

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
            .field("parked", &self.parked())
            .field("released", &self.pending_releases())
            .field("pending_ops", &self.ops.len())
            .field("spawned", &self.spawned)
            .field("adopted", &self.adopted)
            .field("lost", &self.lost)
            .field("given_back", &self.given_back)
            .field("shrink_policy", &self.shrink_policy)
            .finish()
    }
}

impl<M: Component> EntityPool<M> {
    /// An empty pool with the default [`ShrinkPolicy`]. It spawns entities
    /// on demand; see [`EntityPoolWorldExt::reserve_pooled`] to pre-warm it.
    ///
    /// # Examples
    ///
    /// ```
    /// use bevy_ecs::prelude::*;
    /// use tickmem_ecs::{EntityPool, ShrinkPolicy, TickmemWorldExt};
    ///
    /// #[derive(Component)]
    /// struct Bullet;
    ///
    /// let mut world = World::new();
    /// // A configured pool: insert it, then register it.
    /// world.insert_resource(EntityPool::<Bullet>::new().with_shrink_policy(ShrinkPolicy::never()));
    /// world.register_entity_pool::<Bullet>();
    /// assert_eq!(world.resource::<EntityPool<Bullet>>().shrink_policy(), ShrinkPolicy::never());
    /// ```
    pub fn new() -> Self {
        EntityPool {
            parked: Vec::new(),
            released: Vec::new(),
            released_pending: Vec::new(),
            counts: [0; 3],
            stale: 0,
            window: 0,
            recovering: false,
            flushing: false,
            slots: Vec::new(),
            ops: OpQueue::default(),
            live: 0,
            spawned: 0,
            adopted: 0,
            lost: 0,
            lost_unreported: 0,
            given_back: 0,
            shrink_policy: ShrinkPolicy::default(),
            shrink: ShrinkTracker::default(),
            lost_scratch: Vec::new(),
            give_back_scratch: Vec::new(),
            flush_queued_at: None,
            _marker: PhantomData,
        }
    }

    /// This pool with `policy` (see [`set_shrink_policy`](Self::set_shrink_policy)).
    pub fn with_shrink_policy(mut self, policy: ShrinkPolicy) -> Self {
        self.shrink_policy = policy;
        self
    }

    /// When the pool gives parked entities back ([`ShrinkPolicy`]); takes
    /// effect at the next tick.
    ///
    /// ```
    /// use bevy_ecs::prelude::*;
    /// use tickmem_ecs::{EntityPool, ShrinkPolicy, TickmemWorldExt};
    ///
    /// #[derive(Component)]
    /// struct Spark;
    ///
    /// let mut world = World::new();
    /// world.register_entity_pool::<Spark>();
    /// world
    ///     .resource_mut::<EntityPool<Spark>>()
    ///     .set_shrink_policy(ShrinkPolicy::after_quiet_ticks(60).headroom_percent(10));
    /// ```
    pub fn set_shrink_policy(&mut self, policy: ShrinkPolicy) {
        self.shrink_policy = policy;
    }

    /// The pool's [`ShrinkPolicy`].
    pub fn shrink_policy(&self) -> ShrinkPolicy {
        self.shrink_policy
    }

    /// Entities acquired (or adopted) and not released.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Free entities: parked, or released and waiting for the flush to park
    /// them. The next `free()` acquisitions spawn nothing.
    pub fn free(&self) -> usize {
        self.counts.iter().sum()
    }

    /// Every entity the pool owns: [`live`](Self::live) + [`free`](Self::free).
    pub fn owned(&self) -> usize {
        self.live + self.free()
    }

    /// Free entities that are parked (have
    /// [`Disabled`](bevy_ecs::entity_disabling::Disabled)) in the world.
    pub fn parked(&self) -> usize {
        self.counts[List::Parked as usize]
    }

    /// Entities released since the last flush (still enabled in the world).
    pub fn pending_releases(&self) -> usize {
        self.counts[List::Released as usize] + self.counts[List::Pending as usize]
    }

    /// Acquisitions and adoptions recorded since the last flush.
    pub fn pending_acquires(&self) -> usize {
        self.ops.len()
    }

    /// Entities this pool has spawned in total (each is recycled from then
    /// on).
    pub fn spawned(&self) -> u64 {
        self.spawned
    }

    /// Entities adopted in total (see [`adopt`](Self::adopt)).
    pub fn adopted(&self) -> u64 {
        self.adopted
    }

    /// Entities the pool found despawned behind its back (see the
    /// [module docs](crate::entity_pool)).
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Parked entities the pool gave back (despawned) under its
    /// [`ShrinkPolicy`] or [`EntityPoolWorldExt::shrink_entity_pool`].
    pub fn given_back(&self) -> u64 {
        self.given_back
    }

    /// Whether `entity` belongs to this pool (acquired or free).
    pub fn owns(&self, entity: Entity) -> bool {
        matches!(self.slot(entity), Slot::Live(e, _) | Slot::Free(e, _) if e == entity)
    }

    /// Whether `entity` is acquired from this pool (not released since).
    pub fn is_live(&self, entity: Entity) -> bool {
        matches!(self.slot(entity), Slot::Live(e, _) if e == entity)
    }

    /// Take a free entity (or allocate a new one) for `bundle` and return it
    /// now; the components are written at the next flush by bevy's batch
    /// insertion. Works for every bundle; for tuples of components,
    /// [`acquire_typed`](Self::acquire_typed) is about twice as fast.
    ///
    /// Prefers an entity released since the last flush (its components are
    /// overwritten in place, no archetype move), then a parked one
    /// (`Disabled` is removed), then allocates a new entity from `allocator`
    /// (spawned at the flush).
    ///
    /// [`PoolCommands::acquire`] is the same, with the flush scheduled for
    /// you; from an exclusive system use
    /// [`EntityPoolWorldExt::acquire_pooled`].
    ///
    /// ```
    /// use bevy_ecs::prelude::*;
    /// use tickmem_ecs::{EntityPool, EntityPoolWorldExt, TickmemWorldExt};
    ///
    /// #[derive(Component)]
    /// struct Spark(u32);
    ///
    /// let mut world = World::new();
    /// world.register_entity_pool::<Spark>();
    /// let e = world.resource_scope(|world, mut pool: Mut<EntityPool<Spark>>| {
    ///     pool.acquire(world.entity_allocator(), Spark(7))
    /// });
    /// assert!(world.get::<Spark>(e).is_none()); // not written yet
    /// world.flush_entity_pool::<Spark>();
    /// assert_eq!(world.get::<Spark>(e).unwrap().0, 7);
    /// ```
    #[inline]
    pub fn acquire<B>(&mut self, allocator: &EntityAllocator, bundle: B) -> Entity
    where
        B: Bundle<Effect: NoBundleEffect>,
    {
        let (entity, kind) = self.take(|| allocator.alloc());
        self.ops.push_insert(kind, entity, bundle);
        entity
    }

    /// [`acquire`](Self::acquire), with the components written at the flush
    /// by plain assignments through a cached typed query instead of bevy's
    /// type-erased batch insertion (see [`PoolBundle`]): the fast way to
    /// recycle a tuple of components.
    ///
    /// ```
    /// use bevy_ecs::prelude::*;
    /// use tickmem_ecs::{EntityPool, EntityPoolWorldExt, TickmemWorldExt};
    ///
    /// #[derive(Component)]
    /// struct Bullet;
    /// #[derive(Component)]
    /// struct Pos(f32);
    ///
    /// let mut world = World::new();
    /// world.register_entity_pool::<Bullet>();
    /// let old = world.acquire_pooled::<Bullet, _>((Bullet, Pos(1.0)));
    /// world.resource_scope(|world, mut pool: Mut<EntityPool<Bullet>>| {
    ///     pool.release(old);
    ///     let new = pool.acquire_typed(world.entity_allocator(), (Bullet, Pos(2.0)));
    ///     assert_eq!(new, old);
    /// });
    /// world.flush_entity_pool::<Bullet>();
    /// assert_eq!(world.get::<Pos>(old).unwrap().0, 2.0);
    /// ```
    #[inline]
    pub fn acquire_typed<B: PoolBundle>(
        &mut self,
        allocator: &EntityAllocator,
        bundle: B,
    ) -> Entity {
        let (entity, kind) = self.take(|| allocator.alloc());
        self.ops.push_typed(kind, entity, bundle);
        entity
    }

    /// Mark a free entity (or a new one from `alloc`) acquired; how the flush
    /// must write it.
    #[inline]
    fn take(&mut self, alloc: impl FnOnce() -> Entity) -> (Entity, OpKind) {
        // Released entities with a pending operation first, so that those
        // `reuse` can take stay available.
        let (entity, kind) = if let Some(e) = self.pop_free(List::Pending) {
            (e, OpKind::Overwrite)
        } else if let Some(e) = self.pop_free(List::Released) {
            (e, OpKind::Overwrite)
        } else if let Some(e) = self.pop_free(List::Parked) {
            (e, OpKind::Unpark)
        } else {
            self.spawned += 1;
            (alloc(), OpKind::Spawn)
        };
        self.set_slot(entity, Slot::Live(entity, self.window));
        self.live += 1;
        self.shrink.saw_live(self.live);
        (entity, kind)
    }

    /// Take back, **for the caller to overwrite in place**, an entity
    /// released since the last flush: it still exists, enabled, with every
    /// component it had when it was released, and no write is recorded for
    /// it. Write its new state through your own `Query` (it matches the same
    /// queries as before its release); what you do not overwrite keeps the
    /// old object's values. `None` when no such entity is free: use
    /// [`acquire_typed`](Self::acquire_typed) or [`acquire`](Self::acquire).
    ///
    /// The fastest way to recycle: no archetype move, no write at the flush,
    /// just your query's writes.
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
    #[inline]
    pub fn reuse(&mut self) -> Option<Entity> {
        let entity = self.pop_free(List::Released)?;
        // Settled: nothing pending for it in this window.
        self.set_slot(entity, Slot::Live(entity, self.window.wrapping_sub(1)));
        self.live += 1;
        self.shrink.saw_live(self.live);
        Some(entity)
    }

    /// Take `entity`, spawned elsewhere, into the pool as an acquired
    /// entity: from now on it is released and recycled like the pool's own.
    /// The pool marks it with [`Pooled`] at the next flush; its components
    /// are left as they are.
    ///
    /// The flush checks the rest: an entity that does not exist is counted
    /// [`lost`](Self::lost), one that another pool owns is refused (logged
    /// as an error and forgotten). An entity allocated but not spawned yet
    /// (a `Commands::spawn` not applied yet) waits for up to 8 more flushes,
    /// then counts as lost. [`EntityPoolWorldExt::adopt_pooled`] checks
    /// everything at once.
    ///
    /// # Errors
    ///
    /// [`AdoptError::AlreadyInThisPool`] if the pool owns it already.
    ///
    /// ```
    /// use bevy_ecs::prelude::*;
    /// use tickmem_ecs::{EntityPool, EntityPoolWorldExt, TickmemWorldExt};
    ///
    /// #[derive(Component)]
    /// struct Cell;
    ///
    /// let mut world = World::new();
    /// world.register_entity_pool::<Cell>();
    /// let e = world.spawn(Cell).id(); // spawned elsewhere
    /// let mut pool = world.resource_mut::<EntityPool<Cell>>();
    /// pool.adopt(e).unwrap();
    /// assert!(pool.adopt(e).is_err());
    /// pool.release(e);
    /// world.flush_entity_pool::<Cell>();
    /// assert_eq!(world.resource::<EntityPool<Cell>>().parked(), 1);
    /// ```
    pub fn adopt(&mut self, entity: Entity) -> Result<(), AdoptError> {
        if self.owns(entity) {
            return Err(AdoptError::AlreadyInThisPool {
                pool: pool_name::<M>(),
                entity,
            });
        }
        self.set_slot(entity, Slot::Live(entity, self.window));
        self.live += 1;
        self.adopted += 1;
        self.shrink.saw_live(self.live);
        self.ops.push_adopt(entity);
        Ok(())
    }

    /// Give `entity` back to the pool: it is parked (hidden) at the next flush
    /// unless acquired again before it.
    ///
    /// # Panics
    ///
    /// If `entity` is already free, or does not belong to this pool (see
    /// [`try_release`](Self::try_release)).
    #[track_caller]
    #[inline]
    pub fn release(&mut self, entity: Entity) {
        if !self.release_live(entity) {
            release_failed(self.try_release(entity));
        }
    }

    /// [`release`](Self::release), returning an error instead of panicking.
    ///
    /// # Errors
    ///
    /// [`ReleaseError`] if `entity` is already free or does not belong to
    /// this pool.
    pub fn try_release(&mut self, entity: Entity) -> Result<(), ReleaseError> {
        if self.release_live(entity) {
            return Ok(());
        }
        Err(match self.slot(entity) {
            Slot::Free(e, _) if e == entity => ReleaseError::AlreadyReleased {
                pool: pool_name::<M>(),
                entity,
            },
            _ => ReleaseError::NotFromThisPool {
                pool: pool_name::<M>(),
                entity,
            },
        })
    }

    /// Release `entity` if it is live; `false` otherwise.
    #[inline]
    fn release_live(&mut self, entity: Entity) -> bool {
        let Slot::Live(e, acquired_in) = self.slot(entity) else {
            return false;
        };
        if e != entity {
            return false;
        }
        self.live -= 1;
        let list = if acquired_in == self.window {
            List::Pending
        } else {
            List::Released
        };
        self.push_free(entity, list);
        true
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

    #[inline]
    fn set_slot(&mut self, entity: Entity, slot: Slot) {
        let i = entity.index_u32() as usize;
        match self.slots.get_mut(i) {
            Some(s) => *s = slot,
            None => self.grow_slots(i, slot),
        }
    }

    #[cold]
    fn grow_slots(&mut self, i: usize, slot: Slot) {
        self.slots.resize(i + 1, Slot::Vacant);
        self.slots[i] = slot;
    }

    fn list_mut(&mut self, list: List) -> &mut Vec<Entity> {
        match list {
            List::Parked => &mut self.parked,
            List::Released => &mut self.released,
            List::Pending => &mut self.released_pending,
        }
    }

    fn is_free_in(&self, entity: Entity, list: List) -> bool {
        self.slot(entity) == Slot::Free(entity, list)
    }

    /// Record `entity` as free in `list`.
    fn push_free(&mut self, entity: Entity, list: List) {
        self.set_slot(entity, Slot::Free(entity, list));
        self.counts[list as usize] += 1;
        self.list_mut(list).push(entity);
    }

    /// Take the last valid entity of `list` (skipping stale entries). The
    /// caller sets its slot at once (so that a duplicate entry is stale).
    #[inline]
    fn pop_free(&mut self, list: List) -> Option<Entity> {
        loop {
            let e = self.list_mut(list).pop()?;
            if self.is_free_in(e, list) {
                self.counts[list as usize] -= 1;
                return Some(e);
            }
        }
    }

    /// Move `entity` from free list `from` to `to` (the caller took its
    /// entry out of `from`); a stale entry is dropped.
    fn move_free(&mut self, entity: Entity, from: List, to: List) {
        if self.is_free_in(entity, from) {
            self.counts[from as usize] -= 1;
            self.push_free(entity, to);
        }
    }

    /// Put back a parked entity that was to be given back.
    fn park_again(&mut self, entity: Entity) {
        if self.slot(entity) == Slot::Vacant {
            self.push_free(entity, List::Parked);
        }
    }

    /// Forget an entity that no longer exists in the world (or lost its
    /// [`Pooled`] marker).
    fn forget(&mut self, entity: Entity) {
        if self.drop_entity(entity) {
            self.lost += 1;
            self.lost_unreported += 1;
        }
    }

    /// Forget an entity adopted by mistake (another pool owns it).
    fn forget_refused(&mut self, entity: Entity) {
        if self.drop_entity(entity) {
            self.adopted -= 1;
        }
    }

    fn drop_entity(&mut self, entity: Entity) -> bool {
        match self.slot(entity) {
            Slot::Live(e, _) if e == entity => self.live -= 1,
            Slot::Free(e, list) if e == entity => {
                self.counts[list as usize] -= 1;
                self.stale += 1;
            }
            _ => return false,
        }
        self.set_slot(entity, Slot::Vacant);
        true
    }

    /// Drop stale entries from the free lists when they are many.
    fn compact_if_stale(&mut self) {
        if self.stale <= 64 + self.free() / 4 {
            return;
        }
        for list in [List::Parked, List::Released, List::Pending] {
            let mut entries = std::mem::take(self.list_mut(list));
            entries.retain(|&e| self.is_free_in(e, list));
            *self.list_mut(list) = entries;
        }
        self.stale = 0;
    }
}

#[cold]
#[track_caller]
fn release_failed(result: Result<(), ReleaseError>) {
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The pool's marker type name, for messages.
fn pool_name<M>() -> &'static str {
    std::any::type_name::<M>()
}

/// An exclusive system that flushes `EntityPool<M>` (see the
/// [module docs](crate::entity_pool)): add it where recorded acquisitions
/// must be visible, e.g. `.after(fire_bullets)`. [`PoolCommands`] users do not
/// need it.
///
/// # Examples
///
/// ```
/// use bevy_ecs::prelude::*;
/// use tickmem_ecs::{EntityPool, TickmemWorldExt, apply_entity_pool};
///
/// #[derive(Component)]
/// struct Spark;
///
/// fn fire(world: &mut World) {
///     world.resource_scope(|world, mut pool: Mut<EntityPool<Spark>>| {
///         pool.acquire_typed(world.entity_allocator(), (Spark,));
///     });
/// }
///
/// let mut world = World::new();
/// world.register_entity_pool::<Spark>();
/// let mut schedule = Schedule::default();
/// schedule.add_systems((fire, apply_entity_pool::<Spark>).chain());
/// schedule.run(&mut world);
/// assert_eq!(world.query::<&Spark>().iter(&world).count(), 1);
/// ```
pub fn apply_entity_pool<M: Component>(world: &mut bevy_ecs::world::World) {
    flush_pool::<M>(world);
}
