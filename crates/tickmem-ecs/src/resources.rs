//! The resources tickmem inserts, and the [`Frame`] system parameter.

use std::fmt;
use std::ops::{Deref, DerefMut};

use bevy_ecs::resource::Resource;
use bevy_ecs::system::{Res, SystemParam};
use tickmem_frame::{FrameArena, FrameConfig, FrameHost};
use tickmem_pool::Pool;
use tickmem_scratch::TrimPolicy;

use crate::retained::RetainPolicy;

/// The world's [`FrameArena`], as a resource.
///
/// Systems reach it through the [`Frame`] parameter; exclusive systems
/// through `world.resource::<FrameMemory>()`. It dereferences to the arena.
/// Only the frame-boundary system advances it (`begin_frame` needs `&mut`,
/// which this resource does not hand out), once per tick.
///
/// It holds the arena in a [`FrameHost`], so systems can publish frame data
/// for other systems ([`FrameWriter`](crate::FrameWriter),
/// [`FrameReader`](crate::FrameReader)): the arena stays at one heap
/// address when the resource moves (removed, swapped, the world dropped),
/// and published values are dropped before their frame is reclaimed.
///
/// # Examples
///
/// ```
/// use bevy_ecs::prelude::*;
/// use tickmem_ecs::FrameMemory;
///
/// let mut world = World::new();
/// let mut schedule = Schedule::default();
/// tickmem_ecs::install(&mut world, &mut schedule);
/// let handle = world.resource::<FrameMemory>().persist(7u32);
/// assert_eq!(world.resource::<FrameMemory>().get(handle), Some(&7));
/// ```
#[derive(Resource)]
pub struct FrameMemory {
    host: FrameHost,
}

impl FrameMemory {
    /// Wrap `arena`. Insert the result before calling
    /// [`install`](crate::install) to use an arena you configured yourself
    /// (otherwise `install` creates one from [`TickmemConfig::frame`]).
    pub fn new(arena: FrameArena) -> Self {
        FrameMemory {
            host: FrameHost::new(arena),
        }
    }

    /// The arena.
    pub fn arena(&self) -> &FrameArena {
        self.host.arena()
    }

    /// The [`FrameHost`] holding the arena, where frame data is published
    /// (see [`FrameWriter`](crate::FrameWriter)).
    pub fn host(&self) -> &FrameHost {
        &self.host
    }

    /// Advance the arena (the frame-boundary system calls this, once per
    /// tick): frame data of the frame being reclaimed is dropped first.
    pub(crate) fn begin_frame(&mut self) {
        self.host.begin_frame();
    }

    /// Take the arena back (published frame data is dropped first).
    pub fn into_inner(self) -> FrameArena {
        self.host.into_inner()
    }
}

impl Deref for FrameMemory {
    type Target = FrameArena;

    fn deref(&self) -> &FrameArena {
        self.host.arena()
    }
}

impl fmt::Debug for FrameMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FrameMemory").field(&self.host).finish()
    }
}

/// System parameter: allocate from the frame arena in an ordinary system.
///
/// It reads [`FrameMemory`] (read-only access), so any number of systems
/// using `Frame` run in parallel under the multi-threaded executor; each
/// thread bumps its own lane of the arena. It dereferences to
/// [`FrameArena`]: `alloc`, `alloc_slice_copy`, `vec`, `persist`, `get`, ...
///
/// Memory allocated in tick N stays valid through tick N+1 (reach it there
/// through a [`FrameHandle`](tickmem_frame::FrameHandle) from `persist`, or
/// publish frame data with [`FrameWriter`](crate::FrameWriter)) and is
/// reclaimed when tick N+2 starts. References cannot leave the system run.
///
/// Memory is not reused within a tick: pre-size frame collections
/// (`frame.vec_with_capacity(n)`, `Vec::with_capacity_in(n, frame.allocator())`,
/// `HashMap::with_capacity_and_hasher_in`), or each doubling leaves the old
/// buffer behind until the frame is reclaimed.
///
/// # Examples
///
/// ```
/// use bevy_ecs::prelude::*;
/// use tickmem_ecs::Frame;
///
/// #[derive(Component)]
/// struct Pos(f32);
///
/// fn close_pairs(frame: Frame, q: Query<(Entity, &Pos)>) {
///     let mut pairs = frame.vec::<(Entity, Entity)>();
///     for [(a, pa), (b, pb)] in q.iter_combinations() {
///         if (pa.0 - pb.0).abs() < 1.0 {
///             pairs.push((a, b));
///         }
///     }
///     assert_eq!(pairs.len(), 1);
/// }
///
/// let mut world = World::new();
/// let mut schedule = Schedule::default();
/// tickmem_ecs::install(&mut world, &mut schedule);
/// world.spawn_batch([Pos(0.0), Pos(0.5), Pos(9.0)]);
/// schedule.add_systems(close_pairs);
/// schedule.run(&mut world);
/// ```
#[derive(SystemParam)]
pub struct Frame<'w> {
    memory: Res<'w, FrameMemory>,
}

impl Frame<'_> {
    /// The arena (also reachable through `Deref`).
    pub fn arena(&self) -> &FrameArena {
        self.memory.arena()
    }
}

impl Deref for Frame<'_> {
    type Target = FrameArena;

    fn deref(&self) -> &FrameArena {
        self.memory.arena()
    }
}

impl fmt::Debug for Frame<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Frame").field(self.memory.arena()).finish()
    }
}

/// A per-tick limit on global-allocator calls, checked by the frame-boundary
/// system (process-wide, every thread counted) when `CountingAlloc` is the
/// global allocator. tickmem's own housekeeping
/// ([`MemoryStats::housekeeping_calls`]) is not charged to it.
///
/// An overrun is reported with `log::warn!`, a Tracy message, and in
/// [`MemoryStats::budget_overruns`] / [`MemoryStats::last_overrun`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AllocBudget {
    /// Global-allocator calls (allocations + frees + reallocations) allowed
    /// per tick.
    pub max_calls_per_tick: u64,
    /// Ticks not checked at start-up, while caches, pools and arenas grow.
    pub warm_up_ticks: u64,
}

/// tickmem's configuration, a resource inserted by [`install`](crate::install).
///
/// `frame` is used when the arena is created (at `install`); `budget` and
/// `scratch_trim` are re-read by the frame-boundary system each tick, so they
/// may be changed at run time.
///
/// # Examples
///
/// ```
/// use tickmem_ecs::TickmemConfig;
/// use tickmem_frame::FrameConfig;
///
/// let config = TickmemConfig::default()
///     .with_frame(FrameConfig::default().lane_capacity(1 << 20))
///     .with_budget(0, 60); // no allocator calls per tick after 60 ticks
/// assert_eq!(config.budget.unwrap().max_calls_per_tick, 0);
/// ```
#[derive(Resource, Debug, Clone, PartialEq)]
pub struct TickmemConfig {
    /// How the frame arena is created.
    pub frame: FrameConfig,
    /// The per-tick allocation budget; `None` (the default) checks nothing.
    pub budget: Option<AllocBudget>,
    /// How much memory each thread's scratch arena keeps
    /// (`tickmem_scratch::set_trim_policy`).
    pub scratch_trim: TrimPolicy,
    /// With the `attribution` feature: attribute the allocations of the
    /// schedule's systems ([`MemoryStats::systems`], the first offender of
    /// an overrun). Read at `install`; `true` by default. Without the
    /// feature it changes nothing.
    pub attribution: bool,
    /// When [`Retained`](crate::Retained) buffers give memory back (read
    /// when a system using one is initialised; a buffer may change its own
    /// with `set_policy`).
    pub retained: RetainPolicy,
}

impl Default for TickmemConfig {
    fn default() -> Self {
        TickmemConfig {
            frame: FrameConfig::default(),
            budget: None,
            scratch_trim: TrimPolicy::default(),
            attribution: true,
            retained: RetainPolicy::default(),
        }
    }
}

impl TickmemConfig {
    /// Set [`frame`](Self::frame).
    pub fn with_frame(mut self, frame: FrameConfig) -> Self {
        self.frame = frame;
        self
    }

    /// Set [`budget`](Self::budget): at most `max_calls_per_tick`
    /// global-allocator calls per tick once `warm_up_ticks` ticks have run.
    pub fn with_budget(mut self, max_calls_per_tick: u64, warm_up_ticks: u64) -> Self {
        self.budget = Some(AllocBudget {
            max_calls_per_tick,
            warm_up_ticks,
        });
        self
    }

    /// Set [`scratch_trim`](Self::scratch_trim).
    pub fn with_scratch_trim(mut self, policy: TrimPolicy) -> Self {
        self.scratch_trim = policy;
        self
    }

    /// Set [`attribution`](Self::attribution).
    pub fn with_attribution(mut self, on: bool) -> Self {
        self.attribution = on;
        self
    }

    /// Set [`retained`](Self::retained).
    pub fn with_retained(mut self, policy: RetainPolicy) -> Self {
        self.retained = policy;
        self
    }
}

/// A [`Pool<T>`] as a resource (`Pool` is tickmem-pool's type, so it cannot
/// be a bevy resource itself). Dereferences to the pool.
///
/// Keep the pool's [`Handle`](tickmem_pool::Handle)s in components; a handle
/// of a removed value never matches again, so a component can never reach
/// the wrong object. Register it with
/// [`TickmemWorldExt::register_object_pool`](crate::TickmemWorldExt::register_object_pool)
/// to see its size in [`MemoryStats`] and Tracy.
///
/// # Examples
///
/// ```
/// use bevy_ecs::prelude::*;
/// use tickmem_ecs::{ObjectPool, TickmemWorldExt};
/// use tickmem_pool::Handle;
///
/// struct Enemy { hp: u32 }
/// #[derive(Component)]
/// struct EnemyRef(Handle<Enemy>);
///
/// fn damage(mut enemies: ResMut<ObjectPool<Enemy>>, q: Query<&EnemyRef>) {
///     for r in &q {
///         if let Some(e) = enemies.get_mut(r.0) {
///             e.hp -= 1;
///         }
///     }
/// }
///
/// let mut world = World::new();
/// world.register_object_pool::<Enemy>();
/// let h = world.resource_mut::<ObjectPool<Enemy>>().insert(Enemy { hp: 3 });
/// world.spawn(EnemyRef(h));
/// world.run_system_once(damage).unwrap();
/// # use bevy_ecs::system::RunSystemOnce;
/// assert_eq!(world.resource::<ObjectPool<Enemy>>()[h].hp, 2);
/// ```
#[derive(Resource)]
pub struct ObjectPool<T: Send + Sync + 'static>(pub Pool<T>);

impl<T: Send + Sync + 'static> ObjectPool<T> {
    /// An empty, growable pool.
    pub fn new() -> Self {
        ObjectPool(Pool::new())
    }

    /// Take the pool back.
    pub fn into_inner(self) -> Pool<T> {
        self.0
    }
}

impl<T: Send + Sync + 'static> Default for ObjectPool<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + Sync + 'static> From<Pool<T>> for ObjectPool<T> {
    fn from(pool: Pool<T>) -> Self {
        ObjectPool(pool)
    }
}

impl<T: Send + Sync + 'static> Deref for ObjectPool<T> {
    type Target = Pool<T>;

    fn deref(&self) -> &Pool<T> {
        &self.0
    }
}

impl<T: Send + Sync + 'static> DerefMut for ObjectPool<T> {
    fn deref_mut(&mut self) -> &mut Pool<T> {
        &mut self.0
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for ObjectPool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectPool")
            .field("type", &std::any::type_name::<T>())
            .field("len", &self.0.len())
            .field("capacity", &self.0.capacity())
            .finish()
    }
}

/// Which kind of pool a [`PoolStats`] entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolKind {
    /// An [`EntityPool`](crate::EntityPool).
    Entity,
    /// An [`ObjectPool`].
    Object,
}

/// One registered pool's size, in [`MemoryStats::pools`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    /// The pooled type's name without module path (`Bullet`); also the Tracy
    /// plot's suffix (`tickmem/pool_live/Bullet`).
    pub name: String,
    /// Entity pool or object pool.
    pub kind: PoolKind,
    /// Live objects: acquired entities, or values in the pool.
    pub live: usize,
    /// Free entities ready for reuse (entity pools); free slots below the
    /// pool's capacity (object pools).
    pub free: usize,
}

/// A budget overrun, in [`MemoryStats::last_overrun`].
///
/// Its `Display` is the log line and the Tracy message: the numbers, then
/// (with the `attribution` feature) the first offending call, its system,
/// thread, size and call stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetOverrun {
    /// The epoch of the tick that went over the budget.
    pub epoch: u64,
    /// Global-allocator calls it made (tickmem's housekeeping not counted).
    pub calls: u64,
    /// The budget.
    pub max_calls: u64,
    /// The first call over the budget, with its system and call stack
    /// (feature `attribution`; `None` without it, or when the call could not
    /// be captured).
    pub offender: Option<Offender>,
}

impl fmt::Display for BudgetOverrun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tickmem: allocation budget overrun in tick {}: {} global-allocator calls \
             over a budget of {} ({} over)",
            self.epoch,
            self.calls,
            self.max_calls,
            self.calls.saturating_sub(self.max_calls)
        )?;
        if let Some(offender) = &self.offender {
            write!(f, "; {offender}")?;
        }
        Ok(())
    }
}

/// What kind of call an [`Offender`] made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OffenderCall {
    /// `alloc` or `alloc_zeroed`.
    Allocation,
    /// `dealloc`.
    Deallocation,
    /// `realloc`.
    Reallocation,
}

impl fmt::Display for OffenderCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OffenderCall::Allocation => "allocation",
            OffenderCall::Deallocation => "deallocation",
            OffenderCall::Reallocation => "reallocation",
        })
    }
}

/// The first global-allocator call over the budget in a tick, captured inside
/// the allocator (feature `attribution`) and symbolised at the next frame
/// boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offender {
    /// The system that made it (its short name, as in
    /// [`MemoryStats::systems`]), or `(outside systems)`: bevy's executor,
    /// `par_iter` jobs on threads not running a system, code between ticks.
    pub system: String,
    /// The system's full path (empty outside systems).
    pub system_path: String,
    /// The thread: its name and number, e.g. `main (#1)`.
    pub thread: String,
    /// The kind of call.
    pub call: OffenderCall,
    /// Bytes asked for (the new size of a reallocation; the size freed by a
    /// deallocation).
    pub size: usize,
    /// The call stack, innermost first, from the first frame outside the
    /// allocator: one line per frame, `function` and, with debug info,
    /// `at file:line`.
    pub stack: Vec<String>,
}

impl fmt::Display for Offender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Written piece by piece: printing a report allocates nothing.
        write!(
            f,
            "first call over the budget: {} of {} bytes in ",
            self.call, self.size
        )?;
        if self.system_path.is_empty() {
            f.write_str(&self.system)?;
        } else {
            write!(f, "system `{}`", self.system_path)?;
        }
        write!(f, " on thread {}", self.thread)?;
        if self.stack.is_empty() {
            return f.write_str(" (no call stack on this platform)");
        }
        f.write_str(", at:")?;
        for (i, frame) in self.stack.iter().enumerate() {
            write!(f, "\n  {i:>2}: {frame}")?;
        }
        Ok(())
    }
}

/// One system's allocations in the last tick, in [`MemoryStats::systems`]
/// (feature `attribution`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemAllocStats {
    /// The system's name without module path (`fire`), or
    /// `(outside systems)` for what no system made (bevy's executor
    /// spawning tasks, `par_iter` jobs on threads not running a system,
    /// code between ticks).
    pub name: String,
    /// Its full path (`my_game::weapons::fire`; empty outside systems).
    pub path: String,
    /// Times it ran in the tick.
    pub runs: u64,
    /// Global-allocator calls it made (allocations + frees +
    /// reallocations), on the thread running it, not counting systems run
    /// on that thread meanwhile.
    pub calls: u64,
    /// Bytes it allocated (reallocations count their new size).
    pub bytes_allocated: u64,
    /// Bytes it allocated from the frame arena, on its own thread (jobs it
    /// spawned on other threads are not included).
    pub frame_bytes: u64,
}

/// One [`Retained`](crate::Retained) buffer, in [`MemoryStats::retained`],
/// as of the end of its system's last run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetainedStats {
    /// The system's name without module path (empty when bevy has no system
    /// names: they need bevy_ecs's `debug` feature, which tickmem's
    /// `attribution` feature turns on).
    pub system: String,
    /// The collection's type without module paths, e.g. `Vec<Entity>`.
    pub buffer: String,
    /// Elements in use at the end of the last run (before a
    /// [`Cleared`](crate::Cleared) buffer is emptied).
    pub len: usize,
    /// Elements it holds room for.
    pub capacity: usize,
    /// Bytes of those elements.
    pub bytes_in_use: usize,
    /// Bytes of heap memory it holds.
    pub bytes_reserved: usize,
    /// Times it gave memory back.
    pub shrinks: u64,
    /// Runs of its system so far.
    pub runs: u64,
}

/// What memory the last tick used, published by the frame-boundary system
/// at the start of every tick.
///
/// At the start of tick `epoch` it describes tick `epoch - 1`, the one that
/// just finished (for `epoch == 1`: everything since `install`).
///
/// # Examples
///
/// ```
/// use bevy_ecs::prelude::*;
/// use tickmem_ecs::{Frame, MemoryStats};
///
/// fn alloc_some(frame: Frame) {
///     frame.alloc_slice_copy(&[0u8; 100]);
/// }
///
/// let mut world = World::new();
/// let mut schedule = Schedule::default();
/// tickmem_ecs::install(&mut world, &mut schedule);
/// schedule.add_systems(alloc_some);
/// schedule.run(&mut world); // tick 1 allocates 100 bytes
/// schedule.run(&mut world); // tick 2's boundary publishes tick 1's numbers
/// let stats = world.resource::<MemoryStats>();
/// assert_eq!((stats.epoch, stats.frame_bytes), (2, 100));
/// // This binary does not use CountingAlloc: no numbers rather than zeros.
/// assert_eq!(stats.global_alloc_calls, None);
/// ```
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub struct MemoryStats {
    /// The frame arena's epoch during the tick now running (1 in the first
    /// tick).
    pub epoch: u64,
    /// Bytes allocated from the frame arena in the tick that just finished:
    /// every byte bumped, including bytes a collection gave back when it was
    /// dropped (and bytes bumped again after that). See
    /// [`FrameStats`](tickmem_frame::FrameStats) for the three measures.
    pub frame_bytes: usize,
    /// The most frame-arena bytes in use at once in the tick that just
    /// finished (each lane's peak, summed): what the tick needed. At least
    /// any `bytes_this_frame` a system read from `Frame::stats()` in it.
    pub frame_peak: usize,
    /// [`frame_bytes`](Self::frame_bytes) of the tick before that.
    pub frame_bytes_before: usize,
    /// The largest [`frame_peak`](Self::frame_peak) of any tick so far.
    /// (`frame_bytes` can be larger: it counts bytes given back and bumped
    /// again.)
    pub frame_high_water: usize,
    /// Bytes of chunks the frame arena held at the end of the tick (both
    /// frames, every lane).
    pub frame_reserved: usize,
    /// Chunks the frame arena held at the end of the tick.
    pub frame_chunks: usize,
    /// Lanes of the frame arena (threads that have allocated from it).
    pub frame_lanes: usize,
    /// Scratch bytes in open scopes, summed over threads (usually 0 between
    /// ticks).
    pub scratch_in_use: usize,
    /// Sum over threads of each thread's scratch high-water mark.
    pub scratch_high_water: usize,
    /// Bytes of chunks the scratch arenas of all threads hold.
    pub scratch_reserved: usize,
    /// Global-allocator calls (allocations + frees + reallocations) made by
    /// every thread of the process in the tick that just finished, or `None`
    /// when `tickmem_track::CountingAlloc` is not the global allocator
    /// (never a zero that would look like success).
    pub global_alloc_calls: Option<u64>,
    /// The part of [`global_alloc_calls`](Self::global_alloc_calls) that was
    /// tickmem's own housekeeping: frame-arena chunks grown (a tick needing
    /// more than ever before) or freed and resized (at the frame boundary,
    /// and after a run of quiet ticks), lanes created for new threads,
    /// entity pools shrunk by their [`ShrinkPolicy`](crate::ShrinkPolicy).
    /// Never charged to [`TickmemConfig::budget`]. `None` without
    /// `CountingAlloc`.
    pub housekeeping_calls: Option<u64>,
    /// Ticks that went over [`TickmemConfig::budget`] so far.
    pub budget_overruns: u64,
    /// The latest overrun.
    pub last_overrun: Option<BudgetOverrun>,
    /// Global-allocator calls the frame boundary made reporting overruns
    /// (symbolising the first offender's stack, formatting the log line and
    /// the Tracy message), so far. Reporting happens between two ticks and
    /// counts in neither tick's [`global_alloc_calls`](Self::global_alloc_calls);
    /// subtract it from a count you take around `schedule.run`.
    pub reporting_calls: u64,
    /// Every registered pool, in registration order.
    pub pools: Vec<PoolStats>,
    /// Per system, what it allocated in the tick that just finished, in the
    /// order systems were first seen, then `(tickmem housekeeping)` (see
    /// [`housekeeping_calls`](Self::housekeeping_calls); not in any
    /// system's counts), then `(outside systems)` (feature
    /// `attribution`, with `CountingAlloc` as the global allocator; empty
    /// otherwise). Systems that did not run in the tick are listed with
    /// zeros.
    pub systems: Vec<SystemAllocStats>,
    /// Every [`Retained`](crate::Retained) buffer, in the order their
    /// systems were initialised, as of the end of its system's last run.
    pub retained: Vec<RetainedStats>,
}

impl MemoryStats {
    /// The registered pool named `name` (`"Bullet"`), if any.
    pub fn pool(&self, name: &str) -> Option<&PoolStats> {
        self.pools.iter().find(|p| p.name == name)
    }

    /// The entry of [`systems`](Self::systems) named `name` (short name,
    /// e.g. `"fire"`, or `"(outside systems)"`), if any.
    pub fn system(&self, name: &str) -> Option<&SystemAllocStats> {
        self.systems.iter().find(|s| s.name == name)
    }

    /// The first entry of [`retained`](Self::retained) of the system named
    /// `system` (short name, e.g. `"collide"`), if any.
    pub fn retained_buffer(&self, system: &str) -> Option<&RetainedStats> {
        self.retained.iter().find(|r| r.system == system)
    }

    /// The `n` entries of [`systems`](Self::systems) that made the most
    /// global-allocator calls in the last tick (ties: more bytes first), and
    /// only those that made any.
    pub fn top_systems(&self, n: usize) -> Vec<&SystemAllocStats> {
        let mut top: Vec<&SystemAllocStats> = self.systems.iter().filter(|s| s.calls > 0).collect();
        top.sort_by_key(|s| std::cmp::Reverse((s.calls, s.bytes_allocated)));
        top.truncate(n);
        top
    }
}
