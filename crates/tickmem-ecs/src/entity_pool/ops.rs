//! The operations an [`EntityPool`](super::EntityPool) records between
//! flushes, and how a flush applies them: runs of same-kind, same-bundle
//! acquisitions written either by bevy's batch insertion (`acquire`) or
//! through a cached typed query (`acquire_typed`, [`PoolBundle`]).
//!
//! Every run keeps its not-yet-applied items when a user callback (a
//! component's `Drop`, a hook, an observer) panics in the middle of a flush:
//! items leave a run one at a time, so the next flush applies the rest.

use std::any::{Any, TypeId};
use std::collections::VecDeque;

use bevy_ecs::bundle::{Bundle, NoBundleEffect};
use bevy_ecs::component::{Component, Mutable};
use bevy_ecs::entity::Entity;
use bevy_ecs::entity_disabling::Disabled;
use bevy_ecs::query::{QueryData, QueryEntityError, QueryItem, QueryState};
use bevy_ecs::world::{World, WorldId};

use super::flush::Pooled;

/// A bundle that [`EntityPool::acquire_typed`](super::EntityPool::acquire_typed)
/// writes into a recycled entity through a typed query instead of bevy's
/// type-erased bundle insertion: a plain assignment per component, as a
/// system writing through `Query<&mut C>` does.
///
/// Implemented for tuples of 1 to 12 mutable components. For a single
/// component write `(c,)`; for a `#[derive(Bundle)]` struct, implement it
/// yourself (`Write` lists `&'static mut` of each component, `write` assigns
/// them).
///
/// What the typed write does differently from an insertion: nothing, as
/// long as no component of the entity has an `on_insert` or `on_discard`
/// hook or an `Insert` / `Discard` observer. When one has, the pool falls
/// back to bevy's insertion for the run, so hooks and observers see exactly
/// what `acquire` would show them. An entity that lost one of the components
/// since it was released also gets the bundle inserted.
///
/// # Examples
///
/// ```
/// use bevy_ecs::prelude::*;
/// use bevy_ecs::query::QueryItem;
/// use tickmem_ecs::{EntityPool, EntityPoolWorldExt, PoolBundle, TickmemWorldExt};
///
/// #[derive(Component)]
/// struct Spark;
/// #[derive(Component)]
/// struct Heat(u32);
///
/// #[derive(Bundle)]
/// struct SparkBundle {
///     spark: Spark,
///     heat: Heat,
/// }
///
/// impl PoolBundle for SparkBundle {
///     type Write = (&'static mut Spark, &'static mut Heat);
///     fn write(self, (mut spark, mut heat): QueryItem<'_, '_, Self::Write>) {
///         *spark = self.spark;
///         *heat = self.heat;
///     }
/// }
///
/// let mut world = World::new();
/// world.register_entity_pool::<Spark>();
/// let a = world.acquire_pooled::<Spark, _>(SparkBundle { spark: Spark, heat: Heat(1) });
/// world.release_pooled::<Spark>(a);
/// let b = world.resource_scope(|world, mut pool: Mut<EntityPool<Spark>>| {
///     pool.acquire_typed(world.entity_allocator(), SparkBundle { spark: Spark, heat: Heat(2) })
/// });
/// world.flush_entity_pool::<Spark>();
/// assert_eq!((a, world.get::<Heat>(b).unwrap().0), (b, 2));
/// ```
pub trait PoolBundle: Bundle<Effect: NoBundleEffect> {
    /// The query data that reaches every component of the bundle mutably:
    /// `(&'static mut A, &'static mut B, ...)`.
    type Write: QueryData + 'static;

    /// Assign the bundle's components to the entity's.
    fn write(self, target: QueryItem<'_, '_, Self::Write>);
}

macro_rules! impl_pool_bundle {
    ($(($C:ident, $c:ident, $m:ident)),+) => {
        impl<$($C: Component<Mutability = Mutable>),+> PoolBundle for ($($C,)+) {
            type Write = ($(&'static mut $C,)+);

            #[inline]
            fn write(self, target: QueryItem<'_, '_, Self::Write>) {
                let ($($c,)+) = self;
                let ($(mut $m,)+) = target;
                $(*$m = $c;)+
            }
        }
    };
}

/// `impl_pool_bundle!` for the whole list, then for the list without its
/// first element, and so on: tuples of 12 components down to 1.
macro_rules! impl_pool_bundles {
    () => {};
    ($first:tt $(, $rest:tt)*) => {
        impl_pool_bundle!($first $(, $rest)*);
        impl_pool_bundles!($($rest),*);
    };
}

impl_pool_bundles!(
    (C0, c0, m0),
    (C1, c1, m1),
    (C2, c2, m2),
    (C3, c3, m3),
    (C4, c4, m4),
    (C5, c5, m5),
    (C6, c6, m6),
    (C7, c7, m7),
    (C8, c8, m8),
    (C9, c9, m9),
    (C10, c10, m10),
    (C11, c11, m11)
);

/// Flushes an adoption waits for its entity to be spawned.
pub(crate) const ADOPT_WAIT: u8 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpKind {
    /// The entity is enabled in the world with (usually) the bundle's
    /// components: overwrite them in place.
    Overwrite,
    /// The entity is parked: remove `Disabled`, write the components.
    Unpark,
    /// The entity is allocated but not spawned: spawn it.
    Spawn,
}

/// How a run writes its bundles into existing entities.
trait Writer<B>: Send + Sync + Default + 'static {
    /// Write every item (and empty `items`); entities that no longer exist
    /// go to `lost`. On a panic, the items not written yet stay in `items`.
    fn write(
        &mut self,
        world: &mut World,
        items: &mut VecDeque<(Entity, B)>,
        lost: &mut Vec<Entity>,
    );
}

/// `acquire`: bevy's batch insertion.
#[derive(Default)]
struct Insert;

impl<B: Bundle<Effect: NoBundleEffect>> Writer<B> for Insert {
    fn write(
        &mut self,
        world: &mut World,
        items: &mut VecDeque<(Entity, B)>,
        lost: &mut Vec<Entity>,
    ) {
        insert_batch(world, items, lost);
    }
}

/// Insert every item with bevy's batch insertion, taking them out of `items`
/// one at a time (a panic leaves the rest in `items`).
fn insert_batch<B: Bundle<Effect: NoBundleEffect>>(
    world: &mut World,
    items: &mut VecDeque<(Entity, B)>,
    lost: &mut Vec<Entity>,
) {
    if items.is_empty() {
        return;
    }
    if let Err(err) = world.try_insert_batch(std::iter::from_fn(|| items.pop_front())) {
        lost.extend_from_slice(&err.entities);
    }
}

/// `acquire_typed`: assignments through a cached `QueryState`.
struct Typed<B: PoolBundle> {
    state: Option<(WorldId, QueryState<B::Write>)>,
}

impl<B: PoolBundle> Default for Typed<B> {
    fn default() -> Self {
        Typed { state: None }
    }
}

impl<B: PoolBundle> Writer<B> for Typed<B> {
    fn write(
        &mut self,
        world: &mut World,
        items: &mut VecDeque<(Entity, B)>,
        lost: &mut Vec<Entity>,
    ) {
        if items.is_empty() {
            return;
        }
        let state = match &mut self.state {
            Some((id, state)) if *id == world.id() => state,
            slot => &mut slot.insert((world.id(), world.query::<B::Write>())).1,
        };
        state.update_archetypes(world);
        // Hooks and observers would not see an assignment: let bevy's
        // insertion run them when any archetype the run can write has one.
        let archetypes = world.archetypes();
        let hooked = state.matched_archetypes().any(|id| {
            archetypes.get(id).is_some_and(|a| {
                a.has_insert_hook()
                    || a.has_discard_hook()
                    || a.has_insert_observer()
                    || a.has_discard_observer()
            })
        });
        if !hooked {
            let mut query = state.query_mut(&mut *world);
            // Each item once; those the query does not match go to the back
            // and are inserted below.
            for _ in 0..items.len() {
                let Some((entity, bundle)) = items.pop_front() else {
                    break;
                };
                match query.get_mut(entity) {
                    Ok(target) => bundle.write(target),
                    Err(QueryEntityError::NotSpawned(_)) => lost.push(entity),
                    Err(_) => items.push_back((entity, bundle)),
                }
            }
        }
        insert_batch(world, items, lost);
    }
}

/// A run of acquisitions of one kind and bundle type, in recording order.
struct Run<B, W> {
    kind: OpKind,
    items: VecDeque<(Entity, B)>,
    writer: W,
}

trait ErasedRun: Any + Send + Sync {
    fn len(&self) -> usize;
    /// Apply the run's items (taking them out one at a time); entities that
    /// no longer exist go to `lost`.
    /// When `recovering` (a flush panicked), entities to overwrite may be
    /// parked: `Disabled` is removed first.
    fn apply(
        &mut self,
        world: &mut World,
        marker: Pooled,
        recovering: bool,
        lost: &mut Vec<Entity>,
    );
}

impl<B, W> ErasedRun for Run<B, W>
where
    B: Bundle<Effect: NoBundleEffect>,
    W: Writer<B>,
{
    fn len(&self) -> usize {
        self.items.len()
    }

    fn apply(
        &mut self,
        world: &mut World,
        marker: Pooled,
        recovering: bool,
        lost: &mut Vec<Entity>,
    ) {
        match self.kind {
            OpKind::Overwrite if !recovering => self.writer.write(world, &mut self.items, lost),
            OpKind::Overwrite | OpKind::Unpark => {
                // Removing `Disabled` twice (after a panic, the next flush
                // starts over) is harmless.
                for &(e, _) in &self.items {
                    if let Ok(mut entity) = world.get_entity_mut(e) {
                        entity.remove::<Disabled>();
                    }
                }
                self.writer.write(world, &mut self.items, lost);
            }
            OpKind::Spawn => {
                while let Some((e, bundle)) = self.items.pop_front() {
                    if world.spawn_at(e, (bundle, marker)).is_err() {
                        lost.push(e);
                    }
                }
            }
        }
    }
}

struct QueuedRun {
    kind: OpKind,
    /// `TypeId` of the `Run<B, W>` behind `run`.
    ty: TypeId,
    run: Box<dyn ErasedRun>,
}

/// Recorded operations, in recording order, and emptied runs kept for reuse
/// (so a warmed-up pool records without allocating).
#[derive(Default)]
pub(crate) struct OpQueue {
    /// Entities to adopt, with the flushes that found them not spawned yet;
    /// applied before the runs (an entity is adopted before anything else
    /// can be recorded for it).
    adopts: VecDeque<(Entity, u8)>,
    runs: VecDeque<QueuedRun>,
    spare: Vec<(TypeId, Box<dyn ErasedRun>)>,
    len: usize,
}

impl OpQueue {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub(crate) fn push_insert<B: Bundle<Effect: NoBundleEffect>>(
        &mut self,
        kind: OpKind,
        entity: Entity,
        bundle: B,
    ) {
        self.push::<B, Insert>(kind, entity, bundle);
    }

    #[inline]
    pub(crate) fn push_typed<B: PoolBundle>(&mut self, kind: OpKind, entity: Entity, bundle: B) {
        self.push::<B, Typed<B>>(kind, entity, bundle);
    }

    pub(crate) fn push_adopt(&mut self, entity: Entity) {
        self.len += 1;
        self.adopts.push_back((entity, 0));
    }

    #[inline]
    fn push<B, W>(&mut self, kind: OpKind, entity: Entity, bundle: B)
    where
        B: Bundle<Effect: NoBundleEffect>,
        W: Writer<B>,
    {
        self.len += 1;
        let ty = TypeId::of::<Run<B, W>>();
        if let Some(last) = self.runs.back_mut()
            && last.kind == kind
            && last.ty == ty
            && let Some(run) = (&mut *last.run as &mut dyn Any).downcast_mut::<Run<B, W>>()
        {
            run.items.push_back((entity, bundle));
            return;
        }
        let mut run = self.take_spare::<B, W>();
        let typed = (&mut *run as &mut dyn Any)
            .downcast_mut::<Run<B, W>>()
            .expect("take_spare returns a Run<B, W>");
        typed.kind = kind;
        typed.items.push_back((entity, bundle));
        self.runs.push_back(QueuedRun { kind, ty, run });
    }

    /// An empty `Run<B, W>`: a spare one, or a new one.
    fn take_spare<B, W>(&mut self) -> Box<dyn ErasedRun>
    where
        B: Bundle<Effect: NoBundleEffect>,
        W: Writer<B>,
    {
        let ty = TypeId::of::<Run<B, W>>();
        match self.spare.iter().position(|(t, _)| *t == ty) {
            Some(i) => self.spare.swap_remove(i).1,
            None => Box::new(Run::<B, W> {
                kind: OpKind::Overwrite,
                items: VecDeque::new(),
                writer: W::default(),
            }),
        }
    }

    /// Make room for `n` recorded acquisitions of `B` (through `acquire`,
    /// and through `acquire_typed` when `typed`) in spare runs.
    pub(crate) fn reserve_insert<B: Bundle<Effect: NoBundleEffect>>(&mut self, n: usize) {
        self.reserve::<B, Insert>(n);
    }

    pub(crate) fn reserve_typed<B: PoolBundle>(&mut self, n: usize) {
        self.reserve::<B, Typed<B>>(n);
    }

    fn reserve<B, W>(&mut self, n: usize)
    where
        B: Bundle<Effect: NoBundleEffect>,
        W: Writer<B>,
    {
        let mut run = self.take_spare::<B, W>();
        if let Some(run) = (&mut *run as &mut dyn Any).downcast_mut::<Run<B, W>>() {
            run.items.reserve(n);
        }
        self.spare.push((TypeId::of::<Run<B, W>>(), run));
        self.runs.reserve(3);
        self.spare.reserve(3);
    }

    /// Apply everything, in order: adoptions, then the runs. An adoption of
    /// an entity not spawned yet (its spawn command not applied yet) waits
    /// for up to [`ADOPT_WAIT`] more flushes. Entities that no longer exist
    /// (or never got spawned) go to `lost`; entities another pool owns to
    /// `refused`.
    ///
    /// On a panic, what was not applied stays queued (see
    /// [`recount`](Self::recount)).
    pub(crate) fn apply(
        &mut self,
        world: &mut World,
        marker: Pooled,
        recovering: bool,
        lost: &mut Vec<Entity>,
        refused: &mut Vec<Entity>,
    ) {
        let mut waiting = 0;
        for _ in 0..self.adopts.len() {
            // Taken off the queue only once handled: after a panic in an
            // insertion hook, the next flush finds the marker and moves on.
            let Some(&(e, waited)) = self.adopts.front() else {
                break;
            };
            match world.entities().get(e) {
                Ok(None) if waited < ADOPT_WAIT => {
                    self.adopts.pop_front();
                    self.adopts.push_back((e, waited + 1));
                    waiting += 1;
                    continue;
                }
                Ok(Some(_)) => match world.get::<Pooled>(e) {
                    Some(owner) if !owner.same_pool(&marker) => refused.push(e),
                    Some(_) => {}
                    None => {
                        world.entity_mut(e).insert(marker);
                    }
                },
                Ok(None) | Err(_) => lost.push(e),
            }
            self.adopts.pop_front();
        }
        while let Some(queued) = self.runs.front_mut() {
            queued.run.apply(world, marker, recovering, lost);
            let QueuedRun { ty, run, .. } = self.runs.pop_front().expect("front exists");
            self.spare.push((ty, run));
        }
        self.len = waiting;
    }

    /// Count what is queued again (after a panic in [`apply`](Self::apply)).
    pub(crate) fn recount(&mut self) {
        self.len = self.adopts.len() + self.runs.iter().map(|r| r.run.len()).sum::<usize>();
    }

    /// Queue `other`'s operations after this queue's, and keep its spare runs.
    pub(crate) fn append(&mut self, other: &mut OpQueue) {
        self.adopts.append(&mut other.adopts);
        self.runs.append(&mut other.runs);
        self.spare.append(&mut other.spare);
        self.len += other.len;
        other.len = 0;
    }
}
