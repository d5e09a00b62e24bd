//! Frame data between systems: [`FrameWriter`] publishes a frame-allocated
//! value (a slice, an `allocator_api2` vector, a hashbrown map, a struct
//! borrowing the frame), [`FrameReader`]s read it later in the same tick and
//! in the next one. See the crate README ("Frame data between systems").

use std::fmt;
use std::marker::PhantomData;

use bevy_ecs::resource::Resource;
use bevy_ecs::system::{Local, Res, ResMut, SystemParam};
use bevy_ecs::world::{FromWorld, World};
use tickmem_frame::{FrameAllocError, FrameBuilder, FrameData, FrameHost, Published};

use crate::resources::FrameMemory;

/// Where the latest values of [`FrameData`] `M` are found: a resource per
/// `M`, holding the tokens of the last two publications (so readers find
/// this tick's value and the previous tick's without any per-tick
/// rotation).
///
/// Systems use it through [`FrameWriter<M>`] (which borrows it mutably) and
/// [`FrameReader<M>`] (shared), so bevy orders or conflict-checks writers
/// and readers of the same `M` as it does for any resource. Either
/// parameter inserts it when its system is initialised;
/// [`register_frame_data`](crate::TickmemWorldExt::register_frame_data)
/// inserts it up front (for exclusive systems, or code outside systems).
///
/// # Examples
///
/// Reading from an exclusive system or a test:
///
/// ```
/// use bevy_ecs::prelude::*;
/// use tickmem_ecs::{FrameMemory, FrameSlot, FrameWriter, TickmemWorldExt};
///
/// tickmem_frame::frame_data! { Wave<'f> = &'f str; }
///
/// let mut world = World::new();
/// let mut schedule = Schedule::default();
/// tickmem_ecs::install(&mut world, &mut schedule);
/// world.register_frame_data::<Wave>();
/// schedule.add_systems(|mut w: FrameWriter<Wave>| {
///     w.publish(|f| &*f.alloc_str("wave 2"));
/// });
/// schedule.run(&mut world);
/// let memory = world.resource::<FrameMemory>();
/// let slot = world.resource::<FrameSlot<Wave>>();
/// assert_eq!(slot.get(memory), Some(&"wave 2"));
/// assert_eq!(slot.previous(memory), None);
/// ```
#[derive(Resource)]
pub struct FrameSlot<M: FrameData> {
    /// The latest publication, and the one from an earlier tick before it.
    latest: Option<Published<M>>,
    prior: Option<Published<M>>,
}

impl<M: FrameData> Default for FrameSlot<M> {
    fn default() -> Self {
        FrameSlot {
            latest: None,
            prior: None,
        }
    }
}

impl<M: FrameData> fmt::Debug for FrameSlot<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameSlot")
            .field("kind", &std::any::type_name::<M>())
            .field("latest", &self.latest)
            .field("prior", &self.prior)
            .finish()
    }
}

impl<M: FrameData> FrameSlot<M> {
    /// Record a publication: a second one in the same tick replaces the
    /// first (which stays alive, unreachable, until its frame is reclaimed).
    fn store(&mut self, token: Published<M>) {
        match self.latest {
            Some(latest) if latest.epoch() == token.epoch() => {}
            _ => self.prior = self.latest,
        }
        self.latest = Some(token);
    }

    /// The token published in frame `epoch`, if any.
    fn token(&self, epoch: u64) -> Option<Published<M>> {
        [self.latest, self.prior]
            .into_iter()
            .flatten()
            .find(|t| t.epoch() == epoch)
    }

    /// The token of this tick's value, if one was published this tick.
    pub fn current_token(&self, memory: &FrameMemory) -> Option<Published<M>> {
        self.token(memory.epoch())
    }

    /// The token of the previous tick's value, if one was published then.
    pub fn previous_token(&self, memory: &FrameMemory) -> Option<Published<M>> {
        memory
            .epoch()
            .checked_sub(1)
            .and_then(|epoch| self.token(epoch))
    }

    /// This tick's value, if one was published this tick (so far).
    pub fn get<'a>(&self, memory: &'a FrameMemory) -> Option<&'a M::Of<'a>> {
        read(memory.host(), self.current_token(memory))
    }

    /// The previous tick's value, if one was published in it.
    pub fn previous<'a>(&self, memory: &'a FrameMemory) -> Option<&'a M::Of<'a>> {
        read(memory.host(), self.previous_token(memory))
    }
}

fn read<M: FrameData>(host: &FrameHost, token: Option<Published<M>>) -> Option<&M::Of<'_>> {
    host.read(token?)
}

/// Inserts the [`FrameSlot<M>`] resource when a system using
/// [`FrameWriter<M>`] or [`FrameReader<M>`] is initialised (through
/// `Local`'s [`FromWorld`]), so registering `M` is optional.
pub(crate) struct AutoRegister<M>(PhantomData<fn() -> M>);

impl<M: FrameData> FromWorld for AutoRegister<M> {
    fn from_world(world: &mut World) -> Self {
        world.init_resource::<FrameSlot<M>>();
        AutoRegister(PhantomData)
    }
}

/// System parameter: publish frame data of kind `M` for later systems of
/// this tick (and of the next one) to read with [`FrameReader<M>`].
///
/// `publish` builds the value in this tick's frame memory, from a closure
/// that gets a [`FrameBuilder`]: frame slices and strings, and a
/// [`FrameAlloc`](tickmem_frame::FrameAlloc) for `allocator_api2` vectors
/// and hashbrown maps. The value is dropped (its destructors run) when the
/// tick after next starts, before its memory is reclaimed. Nothing is
/// allocated from the global allocator.
///
/// It borrows [`FrameSlot<M>`] mutably and [`FrameMemory`] immutably: two
/// writers of the same `M` never run at the same time, a writer and a
/// reader of the same `M` neither (order them, e.g. `(produce,
/// consume).chain()`, or bevy picks an order), and systems using other
/// kinds or only [`Frame`](crate::Frame) still run in parallel.
///
/// The closure must work for any frame lifetime, so the value can only hold
/// what it allocated there and `'static` data: copy what you need out of
/// queries (a `&Component` could be changed by a later system while readers
/// hold it), and read older frame data before the closure.
///
/// # Examples
///
/// ```
/// use allocator_api2::vec::Vec;
/// use bevy_ecs::prelude::*;
/// use tickmem_ecs::{FrameReader, FrameWriter};
/// use tickmem_frame::FrameAlloc;
///
/// #[derive(Component)]
/// struct Pos(f32);
///
/// tickmem_frame::frame_data! {
///     /// Pairs of entities closer than 1.0, found this tick.
///     Close<'f> = Vec<(Entity, Entity), FrameAlloc<'f>>;
/// }
///
/// fn broadphase(mut out: FrameWriter<Close>, q: Query<(Entity, &Pos)>) {
///     out.publish(|f| {
///         let mut pairs = Vec::with_capacity_in(16, f.allocator());
///         for [(a, pa), (b, pb)] in q.iter_combinations() {
///             if (pa.0 - pb.0).abs() < 1.0 {
///                 pairs.push((a, b));
///             }
///         }
///         pairs
///     });
/// }
///
/// fn damage(pairs: FrameReader<Close>, mut hits: Local<usize>) {
///     *hits += pairs.get().map_or(0, |p| p.len());
///     assert_eq!(*hits, 1);
/// }
///
/// let mut world = World::new();
/// let mut schedule = Schedule::default();
/// tickmem_ecs::install(&mut world, &mut schedule);
/// world.spawn_batch([Pos(0.0), Pos(0.5), Pos(9.0)]);
/// schedule.add_systems((broadphase, damage).chain());
/// schedule.run(&mut world);
/// ```
///
/// A value cannot borrow from a query:
///
/// ```compile_fail
/// use bevy_ecs::prelude::*;
/// use tickmem_ecs::FrameWriter;
///
/// #[derive(Component)]
/// struct Name(String);
/// tickmem_frame::frame_data! { Names<'f> = &'f str; }
///
/// fn names(mut out: FrameWriter<Names>, q: Query<&Name>) {
///     let first = q.iter().next().unwrap();
///     out.publish(|_| first.0.as_str()); // error: borrowed data escapes
/// }
/// ```
///
/// (copy it into the frame instead: `out.publish(|f| &*f.alloc_str(&first.0))`).
#[derive(SystemParam)]
pub struct FrameWriter<'w, 's, M: FrameData> {
    slot: ResMut<'w, FrameSlot<M>>,
    memory: Res<'w, FrameMemory>,
    _register: Local<'s, AutoRegister<M>>,
}

impl<M: FrameData> fmt::Debug for FrameWriter<'_, '_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FrameWriter").field(&*self.slot).finish()
    }
}

impl<M: FrameData> FrameWriter<'_, '_, M> {
    /// Build a value in this tick's frame and publish it: readers' `get`
    /// returns it for the rest of this tick, their `previous` during the
    /// next tick. Publishing again in the same tick replaces it for readers
    /// that run later (the first value stays alive until its frame is
    /// reclaimed). Returns the published value.
    ///
    /// # Panics
    ///
    /// When the frame's byte limit is reached or memory runs out (see
    /// [`try_publish`](Self::try_publish)), and if `build` panics (then
    /// nothing is published).
    #[track_caller]
    pub fn publish(
        &mut self,
        build: impl for<'f> FnOnce(FrameBuilder<'f>) -> M::Of<'f>,
    ) -> &M::Of<'_> {
        let token = self.memory.host().publish::<M>(build);
        self.finish(token)
    }

    /// Like [`publish`](Self::publish), returning an error (before calling
    /// `build`) when the value's memory cannot be allocated.
    pub fn try_publish(
        &mut self,
        build: impl for<'f> FnOnce(FrameBuilder<'f>) -> M::Of<'f>,
    ) -> Result<&M::Of<'_>, FrameAllocError> {
        let token = self.memory.host().try_publish::<M>(build)?;
        Ok(self.finish(token))
    }

    /// Like [`publish`](Self::publish), with the previous tick's value (if
    /// one was published) passed to `build` as an input: to size this
    /// tick's collections from last tick's, or to build on it. It is
    /// borrowed for the closure only (its lifetime is as unknown to the
    /// closure as the frame's), so the new value cannot keep references
    /// into it — copy what you need.
    ///
    /// # Panics
    ///
    /// As [`publish`](Self::publish).
    ///
    /// # Examples
    ///
    /// ```
    /// use allocator_api2::vec::Vec;
    /// use bevy_ecs::prelude::*;
    /// use tickmem_ecs::FrameWriter;
    /// use tickmem_frame::FrameAlloc;
    /// tickmem_frame::frame_data! { Trail<'f> = Vec<u32, FrameAlloc<'f>>; }
    ///
    /// fn grow(mut trail: FrameWriter<Trail>) {
    ///     let v = trail.publish_with_previous(|f, last| {
    ///         let last = last.map_or(&[][..], |v| &v[..]);
    ///         let mut v = Vec::with_capacity_in(last.len() + 1, f.allocator());
    ///         v.extend_from_slice(last);
    ///         v.push(last.len() as u32);
    ///         v
    ///     });
    ///     assert_eq!(v[v.len() - 1] as usize, v.len() - 1);
    /// }
    ///
    /// let mut world = World::new();
    /// let mut schedule = Schedule::default();
    /// tickmem_ecs::install(&mut world, &mut schedule);
    /// schedule.add_systems(grow);
    /// for _ in 0..3 {
    ///     schedule.run(&mut world);
    /// }
    /// ```
    ///
    /// The previous value is reclaimed one tick before the new one, so the
    /// new one cannot borrow from it:
    ///
    /// ```compile_fail
    /// use tickmem_ecs::FrameWriter;
    /// tickmem_frame::frame_data! { Row<'f> = &'f [u32]; }
    ///
    /// fn keep(mut row: FrameWriter<Row>) {
    ///     row.publish_with_previous(|_, last| *last.unwrap()); // error: lifetime may not live long enough
    /// }
    /// ```
    #[track_caller]
    pub fn publish_with_previous(
        &mut self,
        build: impl for<'f, 'p> FnOnce(FrameBuilder<'f>, Option<&'p M::Of<'p>>) -> M::Of<'f>,
    ) -> &M::Of<'_> {
        let host = self.memory.host();
        let previous = self.slot.previous_token(&self.memory);
        let previous = previous.and_then(|token| host.read(token));
        let token = host.publish::<M>(|f| build(f, previous));
        self.finish(token)
    }

    fn finish(&mut self, token: Published<M>) -> &M::Of<'_> {
        self.slot.store(token);
        self.memory
            .host()
            .read(token)
            .expect("a value published this tick is readable")
    }

    /// This tick's value, if published (by this system or another writer
    /// of `M`) earlier in the tick.
    pub fn get(&self) -> Option<&M::Of<'_>> {
        self.slot.get(&self.memory)
    }

    /// The previous tick's value, if one was published in it.
    pub fn previous(&self) -> Option<&M::Of<'_>> {
        self.slot.previous(&self.memory)
    }
}

/// System parameter: read frame data of kind `M` published by a
/// [`FrameWriter<M>`]: [`get`](Self::get) this tick's value,
/// [`previous`](Self::previous) the last tick's.
///
/// It reads [`FrameSlot<M>`] and [`FrameMemory`], so readers of the same
/// `M` run in parallel with each other, and never at the same time as a
/// writer of `M`. Order a reader after the writer to see this tick's value
/// (`(writer, reader).chain()`); before it, `get` is `None` and `previous`
/// has last tick's.
///
/// The references borrow the parameter: they cannot be kept past the
/// system run (nor, so, past the frame).
///
/// # Examples
///
/// ```
/// use bevy_ecs::prelude::*;
/// use hashbrown::{DefaultHashBuilder, HashMap};
/// use tickmem_ecs::{FrameReader, FrameWriter};
/// use tickmem_frame::FrameAlloc;
///
/// tickmem_frame::frame_data! {
///     /// Population per cell.
///     Counts<'f> = HashMap<(i32, i32), u32, DefaultHashBuilder, FrameAlloc<'f>>;
/// }
///
/// #[derive(Resource, Default)]
/// struct Seen { now: u32, before: u32 }
///
/// fn count(mut out: FrameWriter<Counts>, mut tick: Local<u32>) {
///     *tick += 1;
///     let n = *tick;
///     out.publish(|f| {
///         // Pre-size: `HashMap::new_in` would also switch to the default
///         // hasher silently; memory is not reused within a frame.
///         let mut m = HashMap::with_capacity_and_hasher_in(8, DefaultHashBuilder::default(), f.allocator());
///         m.insert((0, 0), n);
///         m
///     });
/// }
///
/// fn spawn_cells(counts: FrameReader<Counts>, mut seen: ResMut<Seen>) {
///     seen.now = counts.get().map_or(0, |m| m[&(0, 0)]);
///     seen.before = counts.previous().map_or(0, |m| m[&(0, 0)]);
/// }
///
/// let mut world = World::new();
/// world.init_resource::<Seen>();
/// let mut schedule = Schedule::default();
/// tickmem_ecs::install(&mut world, &mut schedule);
/// schedule.add_systems((count, spawn_cells).chain());
/// schedule.run(&mut world);
/// schedule.run(&mut world);
/// let seen = world.resource::<Seen>();
/// assert_eq!((seen.now, seen.before), (2, 1));
/// ```
///
/// A reference cannot outlive the system run:
///
/// ```compile_fail
/// use bevy_ecs::prelude::*;
/// use tickmem_ecs::FrameReader;
/// tickmem_frame::frame_data! { Names<'f> = &'f str; }
///
/// #[derive(Resource)]
/// struct Kept(&'static str);
///
/// fn keep(names: FrameReader<Names>, mut kept: ResMut<Kept>) {
///     kept.0 = names.get().unwrap(); // error: borrowed data escapes
/// }
/// ```
#[derive(SystemParam)]
pub struct FrameReader<'w, 's, M: FrameData> {
    slot: Res<'w, FrameSlot<M>>,
    memory: Res<'w, FrameMemory>,
    _register: Local<'s, AutoRegister<M>>,
}

impl<M: FrameData> fmt::Debug for FrameReader<'_, '_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FrameReader").field(&*self.slot).finish()
    }
}

impl<M: FrameData> FrameReader<'_, '_, M> {
    /// This tick's value, if a writer published it earlier in the tick.
    pub fn get(&self) -> Option<&M::Of<'_>> {
        self.slot.get(&self.memory)
    }

    /// The previous tick's value, if one was published in it.
    pub fn previous(&self) -> Option<&M::Of<'_>> {
        self.slot.previous(&self.memory)
    }
}
