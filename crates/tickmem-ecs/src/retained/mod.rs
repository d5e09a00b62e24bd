//! Retained per-system buffers: [`Retained`], a system parameter holding a
//! collection that keeps its capacity across ticks and gives back spikes.

mod buffer;
mod retainer;

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use bevy_ecs::resource::Resource;
use bevy_ecs::system::{Local, Res, SystemName, SystemParam};
use bevy_ecs::world::{FromWorld, World};
use smallvec::SmallVec;
use tickmem_tracy::{Plot, PlotFormat};

pub use buffer::RetainedBuffer;
pub use retainer::{DEFAULT_RETAIN_QUIET_TICKS, RetainPolicy, Retainer};

use crate::names::{short_type_name, shorten};
use crate::resources::{FrameMemory, MemoryStats, RetainedStats, TickmemConfig};

/// What a [`Retained`] buffer does with its contents after each run of its
/// system: [`Cleared`] (the default) or [`Kept`].
pub trait RetainMode: Send + Sync + 'static {
    /// Clear the buffer after each run.
    const CLEAR: bool;
}

/// The [`Retained`] buffer is emptied after each run of its system (its
/// capacity stays): every run starts with an empty buffer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cleared;

impl RetainMode for Cleared {
    const CLEAR: bool = true;
}

/// The [`Retained`] buffer keeps its contents from run to run (a queue, a
/// cache): the system manages them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Kept;

impl RetainMode for Kept {
    const CLEAR: bool = false;
}

/// System parameter: a per-system buffer that keeps its capacity across
/// ticks, like a `Local<Vec<T>>`, but gives back a spike after
/// [`RetainPolicy::quiet_ticks`] quiet ticks, and shows in
/// [`MemoryStats::retained`] (and Tracy).
///
/// A `Local<Vec<T>>` keeps the largest capacity it ever reached: one burst
/// (a level load, an explosion) pins that memory for good (bevy #8296).
/// `Retained<Vec<T>>` shrinks once the load has stayed at or below half the
/// capacity for `quiet_ticks` ticks in a row (120 by default, from
/// [`TickmemConfig::retained`]), to twice what those ticks used. A load
/// that moves between half the capacity and the capacity never makes it
/// shrink and regrow (hysteresis); steady state allocates nothing.
///
/// `C` is the collection ([`RetainedBuffer`]: `Vec`, `VecDeque`,
/// `SmallVec`, hashbrown's or bevy's `HashMap`/`HashSet`); `M` is
/// [`Cleared`] (the default: empty at the start of every run) or [`Kept`]
/// (contents kept from run to run). It dereferences to `C`.
///
/// A tick is one run of the schedule tickmem is installed in (the frame
/// arena's epoch); a system that runs several times in a tick (in
/// `FixedUpdate`) counts its busiest run. Without tickmem installed every
/// run is a tick. The bookkeeping happens when the parameter is dropped at
/// the end of the run: it never allocates, except to shrink, and to record
/// the system's name once.
///
/// # Examples
///
/// ```
/// use bevy_ecs::prelude::*;
/// use tickmem_ecs::{MemoryStats, Retained};
///
/// #[derive(Component)]
/// struct Pos(f32);
///
/// fn near_origin(mut hits: Retained<Vec<Entity>>, q: Query<(Entity, &Pos)>) {
///     assert!(hits.is_empty()); // cleared after every run
///     hits.extend(q.iter().filter(|(_, p)| p.0.abs() < 1.0).map(|(e, _)| e));
///     assert_eq!(hits.len(), 2);
/// }
///
/// let mut world = World::new();
/// let mut schedule = Schedule::default();
/// tickmem_ecs::install(&mut world, &mut schedule);
/// world.spawn_batch([Pos(0.0), Pos(0.5), Pos(9.0)]);
/// schedule.add_systems(near_origin);
/// schedule.run(&mut world);
/// schedule.run(&mut world);
/// let stats = world.resource::<MemoryStats>();
/// assert_eq!(stats.retained[0].len, 2); // in use at the end of the last run
/// assert!(stats.retained[0].bytes_reserved >= 2 * size_of::<Entity>());
/// ```
///
/// A queue that keeps its contents:
///
/// ```
/// use std::collections::VecDeque;
/// use bevy_ecs::prelude::*;
/// use tickmem_ecs::{Kept, Retained};
///
/// fn jobs(mut queue: Retained<VecDeque<u32>, Kept>) {
///     let next = queue.len() as u32;
///     queue.push_back(next);
///     if queue.len() > 3 {
///         queue.pop_front();
///     }
/// }
/// # let mut world = World::new();
/// # let mut schedule = Schedule::default();
/// # schedule.add_systems(jobs);
/// # for _ in 0..5 { schedule.run(&mut world); }
/// ```
#[derive(SystemParam)]
pub struct Retained<'w, 's, C: RetainedBuffer + Default, M: RetainMode = Cleared> {
    state: Local<'s, RetainedState<C, M>>,
    frame: Option<Res<'w, FrameMemory>>,
    name: SystemName,
}

impl<C: RetainedBuffer + Default, M: RetainMode> Retained<'_, '_, C, M> {
    /// The policy deciding when the buffer shrinks.
    pub fn policy(&self) -> RetainPolicy {
        self.state.retainer.policy()
    }

    /// Change this buffer's policy (the next runs use it).
    ///
    /// ```
    /// use bevy_ecs::prelude::*;
    /// use tickmem_ecs::{RetainPolicy, Retained};
    ///
    /// fn burst_buffer(mut buf: Retained<Vec<u8>>) {
    ///     buf.set_policy(RetainPolicy::after_quiet_ticks(10).with_min_capacity(64));
    /// }
    /// # let mut world = World::new();
    /// # let mut schedule = Schedule::default();
    /// # schedule.add_systems(burst_buffer);
    /// # schedule.run(&mut world);
    /// ```
    pub fn set_policy(&mut self, policy: RetainPolicy) {
        self.state.retainer.set_policy(policy);
    }

    /// Times the buffer gave memory back so far.
    pub fn shrinks(&self) -> u64 {
        self.state.retainer.shrinks()
    }

    /// The buffer and its bookkeeping.
    pub fn retainer(&self) -> &Retainer<C> {
        &self.state.retainer
    }

    /// End the run: account, clear, shrink, publish.
    fn end_run(&mut self) {
        let state = &mut *self.state;
        state.runs += 1;
        // A tick is an epoch of the frame arena; without tickmem, a run.
        let tick = self.frame.as_ref().map_or(state.runs, |f| f.epoch());
        state.retainer.end_run(tick, M::CLEAR);
        state.entry.publish(&state.retainer);
        if !state.named {
            state.named = true;
            state.entry.set_system_name(self.name.as_str());
        }
    }
}

impl<C: RetainedBuffer + Default, M: RetainMode> Drop for Retained<'_, '_, C, M> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The system is unwinding: an element destructor panicking in
            // `clear` now would abort the process, so it is caught (the
            // buffer is empty after `clear` whatever happens).
            let _ = catch_unwind(AssertUnwindSafe(|| self.end_run()));
        } else {
            self.end_run();
        }
    }
}

impl<C: RetainedBuffer + Default, M: RetainMode> Deref for Retained<'_, '_, C, M> {
    type Target = C;

    fn deref(&self) -> &C {
        self.state.retainer.buffer()
    }
}

impl<C: RetainedBuffer + Default, M: RetainMode> DerefMut for Retained<'_, '_, C, M> {
    fn deref_mut(&mut self) -> &mut C {
        self.state.retainer.buffer_mut()
    }
}

impl<C: RetainedBuffer + Default + fmt::Debug, M: RetainMode> fmt::Debug
    for Retained<'_, '_, C, M>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retained")
            .field("buffer", self.state.retainer.buffer())
            .field("policy", &self.policy())
            .field("shrinks", &self.shrinks())
            .finish()
    }
}

/// The state of one [`Retained`] parameter (its system's `Local`).
#[doc(hidden)]
pub struct RetainedState<C, M> {
    retainer: Retainer<C>,
    entry: Arc<RetainedEntry>,
    named: bool,
    runs: u64,
    _mode: PhantomData<fn() -> M>,
}

impl<C: RetainedBuffer, M> fmt::Debug for RetainedState<C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetainedState")
            .field("buffer", &self.entry.buffer)
            .field("len", &self.retainer.buffer().len())
            .field("capacity", &self.retainer.buffer().capacity())
            .field("shrinks", &self.retainer.shrinks())
            .finish()
    }
}

impl<C: RetainedBuffer + Default, M: RetainMode> FromWorld for RetainedState<C, M> {
    /// Read the policy from [`TickmemConfig::retained`] and register for
    /// [`MemoryStats::retained`].
    fn from_world(world: &mut World) -> Self {
        let policy = world
            .get_resource::<TickmemConfig>()
            .map_or_else(RetainPolicy::default, |c| c.retained);
        let entry = Arc::new(RetainedEntry::new(short_type_name::<C>()));
        world
            .get_resource_or_init::<RetainedRegistry>()
            .entries
            .push(entry.clone());
        RetainedState {
            retainer: Retainer::new(policy),
            entry,
            named: false,
            runs: 0,
            _mode: PhantomData,
        }
    }
}

/// One retained buffer's numbers, written by its system at the end of each
/// run, read by the frame boundary.
struct RetainedEntry {
    system: OnceLock<String>,
    buffer: String,
    /// `(reserved, in_use)` plots, made by the frame boundary once the
    /// system's name is known.
    plots: OnceLock<(Plot, Plot)>,
    len: AtomicUsize,
    capacity: AtomicUsize,
    bytes_in_use: AtomicUsize,
    bytes_reserved: AtomicUsize,
    shrinks: AtomicU64,
    runs: AtomicU64,
}

impl RetainedEntry {
    fn new(buffer: String) -> Self {
        RetainedEntry {
            system: OnceLock::new(),
            buffer,
            plots: OnceLock::new(),
            len: AtomicUsize::new(0),
            capacity: AtomicUsize::new(0),
            bytes_in_use: AtomicUsize::new(0),
            bytes_reserved: AtomicUsize::new(0),
            shrinks: AtomicU64::new(0),
            runs: AtomicU64::new(0),
        }
    }

    fn publish<C: RetainedBuffer>(&self, r: &Retainer<C>) {
        self.len.store(r.last_run_len(), Relaxed);
        self.capacity.store(r.buffer().capacity(), Relaxed);
        self.bytes_in_use.store(r.last_run_used_bytes(), Relaxed);
        self.bytes_reserved.store(r.buffer().heap_bytes(), Relaxed);
        self.shrinks.store(r.shrinks(), Relaxed);
        self.runs.store(r.runs(), Relaxed);
    }

    /// Record the system's short name (empty when bevy_ecs's `debug`
    /// feature is off and bevy has no names).
    fn set_system_name(&self, full: &str) {
        let name = if full.starts_with('<') {
            String::new()
        } else {
            shorten(full)
        };
        let _ = self.system.set(name);
    }
}

/// Every [`Retained`] buffer of the world, for [`MemoryStats::retained`].
#[derive(Resource, Default)]
pub(crate) struct RetainedRegistry {
    entries: Vec<Arc<RetainedEntry>>,
}

/// Entries read per resource lookup in [`publish`]: a batch lives on the
/// stack (a `SmallVec` that never spills), so a world with up to this many
/// buffers costs two resource lookups per tick.
const BATCH: usize = 16;

/// Update [`MemoryStats::retained`] and the `tickmem/retained/*` plots
/// (the frame boundary, once per tick). Allocates only for a buffer seen
/// for the first time, and drops the entries of systems that are gone.
pub(crate) fn publish(world: &mut World) {
    let Some(registry) = world.get_resource::<RetainedRegistry>() else {
        return;
    };
    if registry.entries.iter().any(|e| Arc::strong_count(e) == 1) {
        forget_dropped(world);
        return publish(world);
    }
    let n = registry.entries.len();
    let mut batch = registry.batch(0);
    let mut start = 0;
    while !batch.is_empty() {
        let mut stats = world.resource_mut::<MemoryStats>();
        for (k, e) in batch.iter().enumerate() {
            let i = start + k;
            if stats.retained.len() <= i {
                stats.retained.push(RetainedStats {
                    buffer: e.buffer.clone(),
                    ..RetainedStats::default()
                });
            }
            let s = &mut stats.retained[i];
            s.len = e.len.load(Relaxed);
            s.capacity = e.capacity.load(Relaxed);
            s.bytes_in_use = e.bytes_in_use.load(Relaxed);
            s.bytes_reserved = e.bytes_reserved.load(Relaxed);
            s.shrinks = e.shrinks.load(Relaxed);
            s.runs = e.runs.load(Relaxed);
            match e.plots.get() {
                Some((reserved, in_use)) => {
                    reserved.set(s.bytes_reserved as f64);
                    in_use.set(s.bytes_in_use as f64);
                }
                // Once: the system has run, its name is known.
                None => {
                    if let Some(system) = e.system.get() {
                        s.system.clone_from(system);
                        e.make_plots(i, system);
                    }
                }
            }
        }
        start += batch.len();
        if start >= n {
            break;
        }
        batch = world.resource::<RetainedRegistry>().batch(start);
    }
}

impl RetainedRegistry {
    /// Up to [`BATCH`] entries from `start` on, read in one lookup.
    fn batch(&self, start: usize) -> SmallVec<[Arc<RetainedEntry>; BATCH]> {
        self.entries
            .iter()
            .skip(start)
            .take(BATCH)
            .cloned()
            .collect()
    }
}

impl RetainedEntry {
    /// Make this buffer's plots (`i`: its registration number, named in
    /// the plots when bevy has no system names).
    fn make_plots(&self, i: usize, system: &str) {
        let base = if system.is_empty() {
            format!("tickmem/retained/#{i}/{}", self.buffer)
        } else {
            format!("tickmem/retained/{system}/{}", self.buffer)
        };
        let plots = (
            Plot::new(format!("{base}/reserved"), PlotFormat::Memory),
            Plot::new(format!("{base}/in_use"), PlotFormat::Memory),
        );
        plots.0.set(self.bytes_reserved.load(Relaxed) as f64);
        plots.1.set(self.bytes_in_use.load(Relaxed) as f64);
        let _ = self.plots.set(plots);
    }
}

/// Remove the entries of systems that were dropped (they hold their entry no
/// more), and their stats at the same index (both lists are in registration
/// order).
fn forget_dropped(world: &mut World) {
    let mut i = world.resource::<RetainedRegistry>().entries.len();
    while i > 0 {
        i -= 1;
        let mut registry = world.resource_mut::<RetainedRegistry>();
        if Arc::strong_count(&registry.entries[i]) == 1 {
            registry.entries.remove(i);
            let mut stats = world.resource_mut::<MemoryStats>();
            if i < stats.retained.len() {
                stats.retained.remove(i);
            }
        }
    }
}
