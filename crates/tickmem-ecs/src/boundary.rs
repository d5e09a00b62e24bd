//! [`install`] and the frame-boundary system.

use std::sync::{Arc, Weak};

use bevy_ecs::component::Component;
use bevy_ecs::resource::Resource;
use bevy_ecs::schedule::{InternedScheduleLabel, IntoScheduleConfigs, Schedule};
use bevy_ecs::system::IntoSystem;
use bevy_ecs::world::World;
use tickmem_frame::FrameArena;
use tickmem_track::{AllocStats, GlobalStats};
use tickmem_tracy::{Plot, PlotFormat};

use crate::entity_pool::{EntityPool, tick_pool};
use crate::names::short_type_name;
use crate::order::{RunFirstPass, TickmemSet};
use crate::resources::{
    AllocBudget, BudgetOverrun, FrameMemory, MemoryStats, ObjectPool, PoolKind, PoolStats,
    TickmemConfig,
};

/// Put tickmem into `world` and `schedule` with the default
/// [`TickmemConfig`]; see [`install_with_config`].
///
/// # Examples
///
/// ```
/// use bevy_ecs::prelude::*;
/// use tickmem_ecs::{Frame, FrameMemory};
///
/// let mut world = World::new();
/// let mut schedule = Schedule::default();
/// tickmem_ecs::install(&mut world, &mut schedule);
/// schedule.add_systems(|frame: Frame| {
///     frame.alloc(42u64);
/// });
/// for _ in 0..3 {
///     schedule.run(&mut world);
/// }
/// assert_eq!(world.resource::<FrameMemory>().epoch(), 3);
/// ```
#[track_caller]
pub fn install(world: &mut World, schedule: &mut Schedule) {
    install_with_config(world, schedule, TickmemConfig::default());
}

/// Put tickmem into `world` and `schedule`:
///
/// * resources: [`FrameMemory`] (created from `config.frame` unless one is
///   already in the world), [`TickmemConfig`], [`MemoryStats`];
/// * the exclusive frame-boundary system, in [`TickmemSet::FrameBoundary`],
///   ordered before every other system of `schedule` (also those added
///   later) by a schedule build pass. Each run of the schedule is one tick:
///   the system advances the frame arena, ends a scratch trim period
///   (`tickmem_scratch::request_trim_all`), flushes the registered
///   [`EntityPool`]s, publishes [`MemoryStats`], checks `config.budget`, and
///   emits the Tracy frame mark, zones and plots;
/// * `config.scratch_trim` as the process's scratch trim policy.
///
/// A loop without bevy_app should call `world.clear_trackers()` after each
/// run, as `App::update` does (bevy's removed-component buffers grow until
/// then).
///
/// Install into the one schedule that runs once per tick (with bevy_app,
/// use `TickmemPlugin`, feature `bevy_app`, instead). Calling it again for
/// the same schedule only updates the configuration.
///
/// # Panics
///
/// If tickmem is already installed in another schedule of this world that
/// still exists, whatever its label (two `Schedule::default()` are two
/// schedules): the frame arena would advance twice per tick, and a
/// [`FrameHandle`](tickmem_frame::FrameHandle) persisted in one tick would
/// read `None` in the next. Once that schedule is dropped, installing into
/// another one is allowed.
#[track_caller]
pub fn install_with_config(world: &mut World, schedule: &mut Schedule, config: TickmemConfig) {
    let label = schedule.label();
    #[cfg(feature = "attribution")]
    let attribution = config.attribution;
    let has_boundary = schedule
        .graph()
        .system_sets
        .contains(TickmemSet::FrameBoundary);
    if let Some(state) = world.get_resource::<TickmemState>()
        && let Some(owner) = &state.owner
        && owner.token.strong_count() > 0
        && (owner.label != label || !has_boundary)
    {
        let installed = owner.label;
        let same = if installed == label {
            " (another schedule with the same label)"
        } else {
            ""
        };
        panic!(
            "tickmem is already installed in schedule {installed:?}; installing it in {label:?}{same} \
             too would advance the frame arena twice per tick (install it in one schedule)"
        );
    }
    init_world(world, config);
    if !has_boundary {
        // The boundary system owns the token: the schedule holding it is
        // alive exactly as long as the token is.
        let token = Arc::new(BoundaryToken);
        world.resource_mut::<TickmemState>().owner = Some(Owner {
            label,
            token: Arc::downgrade(&token),
        });
        let boundary = IntoSystem::into_system(move |world: &mut World| {
            frame_boundary(world, &token);
        })
        .with_name("tickmem::frame_boundary");
        schedule.add_systems(boundary.in_set(TickmemSet::FrameBoundary));
    }
    schedule.add_build_pass(RunFirstPass);
    #[cfg(feature = "attribution")]
    if attribution {
        crate::attribution::attribute(world, schedule);
    }
}

/// Plugin mode: attribute the systems of every schedule of the app's
/// `Schedules`, found at each frame boundary (feature `attribution`).
#[cfg(all(feature = "attribution", feature = "bevy_app"))]
pub(crate) fn attribute_all_schedules(world: &mut World) {
    if world.resource::<TickmemConfig>().attribution {
        world.resource_mut::<TickmemState>().attribute_app_schedules = true;
    }
}

fn init_world(world: &mut World, config: TickmemConfig) {
    if !world.contains_resource::<FrameMemory>() {
        world.insert_resource(FrameMemory::new(FrameArena::with_config(
            config.frame.clone(),
        )));
    }
    tickmem_scratch::set_trim_policy(config.scratch_trim);
    world.init_resource::<MemoryStats>();
    world.init_resource::<PoolRegistry>();
    if !world.contains_resource::<TickmemState>() {
        world.insert_resource(TickmemState::new(&config));
    }
    world.insert_resource(config);
}

/// The registered pools: how to read their sizes, flush them, plot them.
#[derive(Resource, Default)]
pub(crate) struct PoolRegistry {
    pools: Vec<RegisteredPool>,
}

struct RegisteredPool {
    name: String,
    kind: PoolKind,
    type_id: std::any::TypeId,
    plot: Plot,
    /// `(live, free)`, or `None` when the pool resource is gone.
    read: fn(&World) -> Option<(usize, usize)>,
    flush: Option<fn(&mut World)>,
}

/// Identifies the boundary system of one schedule (see [`Owner`]).
struct BoundaryToken;

/// The schedule tickmem is installed in: its label, and its boundary
/// system's token (alive while the schedule holding the system is).
struct Owner {
    label: InternedScheduleLabel,
    token: Weak<BoundaryToken>,
}

/// State of the frame-boundary system.
#[derive(Resource)]
struct TickmemState {
    /// The schedule tickmem is installed in.
    owner: Option<Owner>,
    /// Whether `CountingAlloc` is the global allocator (checked once).
    counting: Option<bool>,
    /// Process-wide counts at the start of the current tick.
    tick_start: GlobalStats,
    /// Process-wide housekeeping counts at the start of the current tick.
    housekeeping_start: AllocStats,
    /// The budget being checked and how many ticks it has seen.
    budget: Option<BudgetState>,
    /// Give every schedule of `Schedules` the attribution pass (plugin).
    #[cfg(feature = "attribution")]
    attribute_app_schedules: bool,
    /// This world armed the (process-wide) offender capture.
    #[cfg(feature = "attribution")]
    armed: bool,
    applied_trim: tickmem_scratch::TrimPolicy,
    plots: Plots,
}

struct Plots {
    frame_bytes: Plot,
    frame_reserved: Plot,
    scratch_reserved: Plot,
    scratch_in_use: Plot,
    allocs_per_frame: Plot,
}

impl TickmemState {
    fn new(config: &TickmemConfig) -> Self {
        TickmemState {
            owner: None,
            counting: None,
            // The first tick's count starts at install (zeros when
            // CountingAlloc is not installed; then it is never reported).
            tick_start: tickmem_track::global_stats(),
            housekeeping_start: tickmem_track::housekeeping_stats(),
            budget: None,
            #[cfg(feature = "attribution")]
            attribute_app_schedules: false,
            #[cfg(feature = "attribution")]
            armed: false,
            applied_trim: config.scratch_trim,
            plots: Plots {
                frame_bytes: Plot::new("tickmem/frame_bytes", PlotFormat::Memory),
                frame_reserved: Plot::new("tickmem/frame_reserved", PlotFormat::Memory),
                scratch_reserved: Plot::new("tickmem/scratch_reserved", PlotFormat::Memory),
                scratch_in_use: Plot::new("tickmem/scratch_in_use", PlotFormat::Memory),
                allocs_per_frame: Plot::new("tickmem/allocs_per_frame", PlotFormat::Number),
            },
        }
    }
}

/// The frame-boundary system (exclusive; see [`install_with_config`]).
/// `token` identifies the schedule it was installed in.
fn frame_boundary(world: &mut World, token: &Arc<BoundaryToken>) {
    tickmem_tracy::zone!("tickmem::frame_boundary");
    // Belt and braces for `install`'s check: a boundary of another schedule
    // must never advance this world's arena.
    let owned = world
        .resource::<TickmemState>()
        .owner
        .as_ref()
        .is_some_and(|o| std::ptr::eq(o.token.as_ptr(), Arc::as_ptr(token)));
    assert!(
        owned,
        "tickmem: a frame boundary of another schedule ran in this world \
         (install tickmem in one schedule)"
    );

    // 1. Close the books of the tick that just finished, before doing any
    //    work of our own (which counts for the new tick).
    let tick = account_tick(world);
    let tick_calls = tick.map(|t| t.total.calls());

    // Plugin option: schedules added since the last tick get the
    // single-threaded executor (housekeeping: a new executor allocates once).
    #[cfg(feature = "bevy_app")]
    tickmem_track::housekeeping(|| crate::plugin::single_thread_schedules(world));

    // 2. Entity pools: apply what was recorded and not flushed yet.
    flush_registered_pools(world);

    // 3. Advance the frame arena. Its stats are read before, when they
    //    describe the finished tick (its bytes, what was held for it).
    //    (`FrameArena::begin_frame` opens its own `tickmem::begin_frame`
    //    zone.)
    let (frame, epoch) = {
        let mut memory = world.resource_mut::<FrameMemory>();
        let finished = memory.stats();
        memory.begin_frame();
        (finished, memory.epoch())
    };

    // 4. Scratch: apply a changed trim policy, end the trim period (each
    //    thread trims at its next outermost scope, in scratch's own
    //    `tickmem::scratch_trim` zone).
    let scratch = {
        let policy = world.resource::<TickmemConfig>().scratch_trim;
        let mut state = world.resource_mut::<TickmemState>();
        if state.applied_trim != policy {
            state.applied_trim = policy;
            tickmem_scratch::set_trim_policy(policy);
        }
        tickmem_scratch::request_trim_all();
        tickmem_scratch::global_stats()
    };

    // 5. Publish.
    let plots = {
        let state = world.resource::<TickmemState>();
        (
            state.plots.frame_bytes,
            state.plots.frame_reserved,
            state.plots.scratch_reserved,
            state.plots.scratch_in_use,
            state.plots.allocs_per_frame,
        )
    };
    {
        let mut stats = world.resource_mut::<MemoryStats>();
        stats.epoch = epoch;
        stats.frame_bytes_before = stats.frame_bytes;
        stats.frame_bytes = frame.bumped_this_frame;
        stats.frame_peak = frame.peak_this_frame;
        stats.frame_high_water = frame.high_water_bytes;
        stats.frame_reserved = frame.bytes_reserved;
        stats.frame_chunks = frame.chunks;
        stats.frame_lanes = frame.lanes;
        stats.scratch_in_use = scratch.bytes_in_use;
        stats.scratch_high_water = scratch.high_water_bytes;
        stats.scratch_reserved = scratch.bytes_reserved;
        stats.global_alloc_calls = tick_calls;
        stats.housekeeping_calls = tick.map(|t| t.housekeeping.calls());
    }
    publish_pools(world);
    crate::retained::publish(world);
    #[cfg(feature = "attribution")]
    crate::attribution::publish(world, tick);

    // 6. Tracy.
    let (frame_bytes, frame_reserved, scratch_reserved, scratch_in_use, allocs_per_frame) = plots;
    frame_bytes.set(frame.bumped_this_frame as f64);
    frame_reserved.set(frame.bytes_reserved as f64);
    scratch_reserved.set(scratch.bytes_reserved as f64);
    scratch_in_use.set(scratch.bytes_in_use as f64);
    if let Some(calls) = tick_calls {
        allocs_per_frame.set(calls as f64);
    }
    tickmem_tracy::frame_mark();
}

/// A configured budget and the ticks it has seen (the first
/// `warm_up_ticks` are not checked).
#[derive(Clone, Copy)]
struct BudgetState {
    config: AllocBudget,
    ticks: u64,
}

/// Count the finished tick's global-allocator calls and check the budget.
/// Returns the tick's counts (`None` when `CountingAlloc` is not installed).
///
/// Reporting an overrun (symbolising the offender's stack, formatting the
/// log line and the Tracy message, replacing the previous report in
/// [`MemoryStats::last_overrun`]) allocates and frees: it happens between
/// the end of the finished tick and the start of the next, and is counted
/// in neither.
fn account_tick(world: &mut World) -> Option<TickCalls> {
    let config_budget = world.resource::<TickmemConfig>().budget;
    let epoch = world.resource::<FrameMemory>().epoch();

    // Read the counters first: nothing below may count for the finished tick.
    let now = tickmem_track::global_stats();
    let housekeeping_now = tickmem_track::housekeeping_stats();
    let mut state = world.resource_mut::<TickmemState>();
    let counting = *state.counting.get_or_insert_with(|| {
        // First boundary: probe once (the probe allocates, after the read).
        tickmem_track::is_installed()
    });
    if !counting {
        return None;
    }
    let tick = now.since(&state.tick_start);
    let housekeeping = housekeeping_now.since(&state.housekeeping_start);
    // tickmem's own housekeeping (chunks grown and trimmed, lanes created,
    // entity pools shrunk) is not the user's: not charged to the budget.
    let user_calls = tick.calls().saturating_sub(housekeeping.calls());

    // The budget: a changed configuration starts counting ticks anew.
    let mut over = None;
    let next_checked = match (state.budget.as_mut(), config_budget) {
        (Some(b), Some(config)) if b.config == config => {
            if b.ticks >= config.warm_up_ticks && user_calls > config.max_calls_per_tick {
                over = Some(config.max_calls_per_tick);
            }
            b.ticks += 1;
            b.ticks >= config.warm_up_ticks
        }
        _ => {
            state.budget = config_budget.map(|config| BudgetState { config, ticks: 0 });
            config_budget.is_some_and(|c| c.warm_up_ticks == 0)
        }
    };
    #[cfg(feature = "attribution")]
    let app_schedules = state.attribute_app_schedules;

    // Between the ticks: reporting, counted in neither (but in
    // `MemoryStats::reporting_calls`, for those who measure around a tick).
    if let Some(max_calls) = over {
        #[cfg(feature = "attribution")]
        let _reporting = crate::attribution::reporting_scope(world);
        let ((), report) = tickmem_track::count(|| {
            #[cfg(feature = "attribution")]
            let offender = crate::attribution::take_offender(world, epoch);
            #[cfg(not(feature = "attribution"))]
            let offender = None;
            let overrun = BudgetOverrun {
                epoch,
                calls: user_calls,
                max_calls,
                offender,
            };
            let text = overrun.to_string();
            log::warn!("{text}");
            tickmem_tracy::message(&text);
            let mut stats = world.resource_mut::<MemoryStats>();
            stats.budget_overruns += 1;
            let previous = stats.last_overrun.replace(overrun);
            drop((previous, text));
        });
        world.resource_mut::<MemoryStats>().reporting_calls += report.calls();
    }
    #[cfg(feature = "attribution")]
    if app_schedules {
        let _reporting = crate::attribution::reporting_scope(world);
        crate::attribution::attribute_app_schedules(world);
    }

    // The next tick starts here.
    let start = tickmem_track::global_stats();
    let housekeeping_start = tickmem_track::housekeeping_stats();
    {
        let mut state = world.resource_mut::<TickmemState>();
        state.tick_start = start;
        state.housekeeping_start = housekeeping_start;
    }
    // The capture is process-wide; a world that never armed it leaves it
    // alone (another world may be using it).
    #[cfg(feature = "attribution")]
    {
        let mut state = world.resource_mut::<TickmemState>();
        match config_budget {
            Some(config) if next_checked => {
                tickmem_track::attribution::arm(config.max_calls_per_tick, epoch + 1);
                state.armed = true;
            }
            _ if std::mem::take(&mut state.armed) => tickmem_track::attribution::disarm(),
            _ => {}
        }
    }
    #[cfg(not(feature = "attribution"))]
    let _ = next_checked;
    Some(TickCalls {
        total: tick,
        housekeeping,
    })
}

/// A finished tick's process-wide global-allocator calls, and the part of
/// them that was tickmem's housekeeping.
#[derive(Clone, Copy)]
pub(crate) struct TickCalls {
    pub(crate) total: AllocStats,
    pub(crate) housekeeping: AllocStats,
}

fn flush_registered_pools(world: &mut World) {
    tickmem_tracy::zone!("tickmem::pool_flush");
    let n = world.resource::<PoolRegistry>().pools.len();
    for i in 0..n {
        if let Some(flush) = world.resource::<PoolRegistry>().pools[i].flush {
            flush(world);
        }
    }
}

/// Update [`MemoryStats::pools`] and the `tickmem/pool_live/*` plots.
fn publish_pools(world: &mut World) {
    let n = world.resource::<PoolRegistry>().pools.len();
    for i in 0..n {
        let registry = world.resource::<PoolRegistry>();
        let pool = &registry.pools[i];
        let (live, free) = (pool.read)(world).unwrap_or((0, 0));
        pool.plot.set(live as f64);
        let new_entry = (world.resource::<MemoryStats>().pools.len() <= i).then(|| PoolStats {
            name: pool.name.clone(),
            kind: pool.kind,
            live,
            free,
        });
        let mut stats = world.resource_mut::<MemoryStats>();
        if let Some(entry) = new_entry {
            stats.pools.push(entry);
        }
        let entry = &mut stats.pools[i];
        entry.live = live;
        entry.free = free;
    }
}

/// tickmem's additions to [`World`]: registering pools.
pub trait TickmemWorldExt {
    /// Insert an [`EntityPool<M>`](EntityPool) (unless there is one) and
    /// register it: the frame-boundary system flushes it every tick, reports
    /// its size in [`MemoryStats::pools`] and plots
    /// `tickmem/pool_live/<M>` in Tracy. Registering twice does nothing more.
    fn register_entity_pool<M: Component>(&mut self) -> &mut Self;

    /// Insert an [`ObjectPool<T>`](ObjectPool) (unless there is one) and
    /// register it for [`MemoryStats::pools`] and the
    /// `tickmem/pool_live/<T>` plot. Registering twice does nothing more.
    fn register_object_pool<T: Send + Sync + 'static>(&mut self) -> &mut Self;

    /// Insert the [`FrameSlot<M>`](crate::FrameSlot) resource for frame
    /// data of kind `M` (unless there is one). Systems using
    /// [`FrameWriter<M>`](crate::FrameWriter) or
    /// [`FrameReader<M>`](crate::FrameReader) insert it themselves when they
    /// are initialised; register `M` to read it from exclusive systems or
    /// outside the schedule before that.
    ///
    /// ```
    /// use bevy_ecs::prelude::*;
    /// use tickmem_ecs::{FrameSlot, TickmemWorldExt};
    /// tickmem_frame::frame_data! { Ids<'f> = &'f [u32]; }
    ///
    /// let mut world = World::new();
    /// world.register_frame_data::<Ids>();
    /// assert!(world.contains_resource::<FrameSlot<Ids>>());
    /// ```
    fn register_frame_data<M: tickmem_frame::FrameData>(&mut self) -> &mut Self;
}

impl TickmemWorldExt for World {
    fn register_frame_data<M: tickmem_frame::FrameData>(&mut self) -> &mut Self {
        self.init_resource::<crate::FrameSlot<M>>();
        self
    }

    fn register_entity_pool<M: Component>(&mut self) -> &mut Self {
        if !self.contains_resource::<EntityPool<M>>() {
            self.insert_resource(EntityPool::<M>::new());
        }
        register(
            self,
            std::any::TypeId::of::<EntityPool<M>>(),
            short_type_name::<M>(),
            PoolKind::Entity,
            |world| {
                world
                    .get_resource::<EntityPool<M>>()
                    .map(|p| (p.live(), p.free()))
            },
            Some(tick_pool::<M>),
        );
        self
    }

    fn register_object_pool<T: Send + Sync + 'static>(&mut self) -> &mut Self {
        if !self.contains_resource::<ObjectPool<T>>() {
            self.insert_resource(ObjectPool::<T>::new());
        }
        register(
            self,
            std::any::TypeId::of::<ObjectPool<T>>(),
            short_type_name::<T>(),
            PoolKind::Object,
            |world| {
                world
                    .get_resource::<ObjectPool<T>>()
                    .map(|p| (p.len(), p.capacity().saturating_sub(p.len())))
            },
            None,
        );
        self
    }
}

fn register(
    world: &mut World,
    type_id: std::any::TypeId,
    name: String,
    kind: PoolKind,
    read: fn(&World) -> Option<(usize, usize)>,
    flush: Option<fn(&mut World)>,
) {
    let mut registry = world.get_resource_or_init::<PoolRegistry>();
    if registry.pools.iter().any(|p| p.type_id == type_id) {
        return;
    }
    let plot = Plot::new(format!("tickmem/pool_live/{name}"), PlotFormat::Number);
    registry.pools.push(RegisteredPool {
        name,
        kind,
        type_id,
        plot,
        read,
        flush,
    });
}
