//! Per-system allocation attribution (feature `attribution`).
//!
//! A schedule build pass ([`AttributionPass`]) wraps every system of the
//! schedule, once, when the schedule is (re)built: the wrapper is a pipe of
//! three parts run by the executor as one system, on one thread —
//!
//! 1. `start` (reads `Option<Res<FrameMemory>>`): notes this thread's frame
//!    lane bytes and opens a `tickmem_track::attribution` scope with the
//!    system's tag (so the allocator knows whose call a first offender is);
//! 2. the system itself, through bevy's safe `AdapterSystem`;
//! 3. `end`: closes the scope (the thread's allocator calls meanwhile, minus
//!    those of systems run nested on the same thread) and adds them, with
//!    the frame bytes, to the system's counters.
//!
//! The wrapper declares the system's own access plus a read of
//! `FrameMemory` (which only a `ResMut<FrameMemory>` would conflict with),
//! and keeps its flags (exclusive, non-`Send`, deferred buffers), run
//! conditions, sets and change ticks. It is built in a temporary
//! `Systems` container and initialised there, so bevy records the access of
//! the wrapper itself; then it takes the original's place in the graph.
//!
//! Counters are per world ([`SystemRegistry`]); the frame boundary reads and
//! resets them once per tick into [`MemoryStats::systems`].

use std::any::TypeId;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bevy_ecs::resource::Resource;
use bevy_ecs::schedule::{
    ApplyDeferred, FlattenedDependencies, InternedScheduleLabel, NodeId, Schedule,
    ScheduleBuildError, ScheduleBuildPass, ScheduleGraph, Schedules, SystemKey, SystemSet,
    SystemSetKey, SystemWithAccess, Systems,
};
use bevy_ecs::system::{
    Adapt, AdapterSystem, In, IntoSystem, PipeSystem, Res, RunSystemError, ScheduleSystem, System,
};
use bevy_ecs::world::World;
use bevy_platform::hash::FixedHasher;
use indexmap::IndexSet;
use tickmem_track::AllocStats;
use tickmem_track::attribution::{self, Scope, Tag};
use tickmem_tracy::{Plot, PlotFormat};

use crate::resources::{FrameMemory, MemoryStats, Offender, OffenderCall, SystemAllocStats};

/// The name under which allocations made outside any system are reported.
pub(crate) const OUTSIDE: &str = "(outside systems)";

/// The name under which tickmem's own housekeeping is reported
/// (`tickmem_track::housekeeping`: chunks grown and trimmed, lanes created,
/// entity pools shrunk), wherever it ran.
pub(crate) const HOUSEKEEPING: &str = "(tickmem housekeeping)";

/// One wrapped system's counters, written by its wrapper's `end` part (a
/// system runs on one thread at a time) and read and reset by the frame
/// boundary (exclusive).
pub(crate) struct SystemCounters {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) tag: Tag,
    plot: Plot,
    runs: AtomicU64,
    calls: AtomicU64,
    bytes_allocated: AtomicU64,
    frame_bytes: AtomicU64,
}

impl SystemCounters {
    fn add(&self, own: AllocStats, frame_bytes: usize) {
        self.runs.fetch_add(1, Relaxed);
        self.calls.fetch_add(own.calls(), Relaxed);
        self.bytes_allocated.fetch_add(own.bytes_allocated, Relaxed);
        self.frame_bytes.fetch_add(frame_bytes as u64, Relaxed);
    }

    /// Move the counts into `out` and reset them.
    fn take_into(&self, out: &mut SystemAllocStats) {
        out.runs = self.runs.swap(0, Relaxed);
        out.calls = self.calls.swap(0, Relaxed);
        out.bytes_allocated = self.bytes_allocated.swap(0, Relaxed);
        out.frame_bytes = self.frame_bytes.swap(0, Relaxed);
    }
}

/// Every wrapped system of a world, in the order they were wrapped.
#[derive(Resource)]
pub(crate) struct SystemRegistry {
    pub(crate) systems: Vec<Arc<SystemCounters>>,
    outside_plot: Plot,
    /// Schedules of `Schedules` given the pass (plugin mode).
    attributed: HashSet<InternedScheduleLabel>,
    /// A tag for the boundary's reporting work, whose calls belong to no
    /// tick (see `boundary.rs`).
    pub(crate) reporting: Tag,
}

impl Default for SystemRegistry {
    fn default() -> Self {
        SystemRegistry {
            systems: Vec::new(),
            outside_plot: Plot::new(format!("tickmem/allocs/{OUTSIDE}"), PlotFormat::Number),
            attributed: HashSet::new(),
            reporting: Tag::unique(),
        }
    }
}

impl SystemRegistry {
    fn register(&mut self, path: String) -> Arc<SystemCounters> {
        let name = short_system_name(&path);
        let counters = Arc::new(SystemCounters {
            plot: Plot::new(format!("tickmem/allocs/{name}"), PlotFormat::Number),
            name,
            path,
            tag: Tag::unique(),
            runs: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            bytes_allocated: AtomicU64::new(0),
            frame_bytes: AtomicU64::new(0),
        });
        self.systems.push(Arc::clone(&counters));
        counters
    }

    fn by_tag(&self, tag: Tag) -> Option<&SystemCounters> {
        self.systems.iter().find(|s| s.tag == tag).map(|s| &**s)
    }
}

/// A system's name without module paths (`my_game::fire` → `fire`); a
/// closure keeps the name of the function it is in
/// (`setup::{{closure}}`).
fn short_system_name(path: &str) -> String {
    let short = crate::names::shorten(path);
    if short.starts_with("{{closure}}") {
        // `a::b::f::{{closure}}`: keep `f::{{closure}}`.
        let mut segments = path.rsplitn(3, "::");
        let closure = segments.next().unwrap_or_default();
        if let Some(function) = segments.next() {
            return format!("{function}::{closure}");
        }
    }
    short
}

/// What `start` hands to the system and `end`: the open scope and this
/// thread's frame bytes at the start.
struct Token {
    scope: Scope,
    frame_start: usize,
}

/// Runs the wrapped system with the token passing through. If the system
/// panics or is skipped, the token (and the scope in it) is dropped: the
/// thread's previous tag is current again.
struct RunInner;

impl Adapt<SystemWithAccess> for RunInner {
    type In = In<Token>;
    type Out = Token;

    fn adapt(
        &mut self,
        token: Token,
        run_system: impl FnOnce(()) -> Result<(), RunSystemError>,
    ) -> Result<Token, RunSystemError> {
        run_system(())?;
        Ok(token)
    }
}

fn thread_frame_bytes(memory: Option<&FrameMemory>) -> usize {
    memory.map_or(0, |m| m.thread_bytes_this_frame())
}

/// The wrapper of `inner` (see the module docs).
fn wrap(inner: SystemWithAccess, counters: Arc<SystemCounters>) -> ScheduleSystem {
    let name = inner.name();
    let tag = counters.tag;
    let start = IntoSystem::into_system(move |memory: Option<Res<FrameMemory>>| {
        attribution::name_this_thread();
        let frame_start = thread_frame_bytes(memory.as_deref());
        Token {
            scope: attribution::enter(tag),
            frame_start,
        }
    });
    let end = IntoSystem::into_system(
        move |In(token): In<Token>, memory: Option<Res<FrameMemory>>| {
            let own = token.scope.finish();
            let frame = thread_frame_bytes(memory.as_deref()).saturating_sub(token.frame_start);
            counters.add(own, frame);
        },
    );
    let run = AdapterSystem::new(RunInner, inner, name.clone());
    Box::new(PipeSystem::new(
        start,
        PipeSystem::new(run, end, name.clone()),
        name,
    ))
}

/// The build pass wrapping every system of a schedule for attribution.
#[derive(Debug, Default)]
pub(crate) struct AttributionPass {
    /// Systems of this schedule already wrapped.
    wrapped: HashSet<SystemKey>,
}

/// An empty set configured in a schedule to make it rebuild (with the
/// pass) at its next run, when it had been built before the pass was
/// added.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct AttributionRebuild;

impl ScheduleBuildPass for AttributionPass {
    type EdgeOptions = ();

    fn add_dependency(&mut self, _from: NodeId, _to: NodeId, _options: Option<&Self::EdgeOptions>) {
    }

    fn collapse_set(
        &mut self,
        _set: SystemSetKey,
        _systems: &IndexSet<SystemKey, FixedHasher>,
        _dependency_flattening: &bevy_ecs::schedule::graph::DiGraph<NodeId>,
    ) -> impl Iterator<Item = (NodeId, NodeId)> {
        std::iter::empty()
    }

    fn build(
        &mut self,
        world: &mut World,
        graph: &mut ScheduleGraph,
        _dependency_flattened: FlattenedDependencies<'_>,
    ) -> Result<(), ScheduleBuildError> {
        // The wrapper is initialised here (which initialises the system in
        // it), whether bevy initialised the system already (those added with
        // `add_systems`) or not yet (those added by earlier build passes,
        // which bevy initialises again after the passes: harmless, systems
        // keep their state).
        let keys: Vec<SystemKey> = graph.systems.iter().map(|(key, _, _)| key).collect();
        for key in keys {
            if self.wrapped.contains(&key) {
                continue;
            }
            let Some(slot) = graph.systems.get_mut(key) else {
                continue;
            };
            // `ApplyDeferred` is recognised by the executors by its type.
            if slot.system().system_type() == TypeId::of::<ApplyDeferred>() {
                continue;
            }
            let inner = std::mem::replace(slot, SystemWithAccess::new(Box::new(ApplyDeferred)));
            let last_run = inner.get_last_run();
            let counters = world
                .get_resource_or_init::<SystemRegistry>()
                .register(inner.name().to_string());
            // Initialise the wrapper in a container of its own: bevy
            // records the wrapper's access there (the system's, plus a read
            // of `FrameMemory`), which the executor will check.
            let mut temp = Systems::default();
            let temp_key = temp.insert(wrap(inner, counters), Vec::new());
            temp.initialize(world);
            let Some(wrapped) = temp.get_mut(temp_key) else {
                continue;
            };
            // Initialising resets a system's change tick: keep the original.
            wrapped.set_last_run(last_run);
            std::mem::swap(wrapped, slot);
            self.wrapped.insert(key);
        }
        Ok(())
    }
}

/// Attribute the allocations of `schedule`'s systems in
/// [`MemoryStats::systems`] (feature `attribution`).
///
/// [`install`](crate::install) does it for the schedule it is given, and
/// `TickmemPlugin` for every schedule of the app's main loop; call it for
/// other schedules of the same world that run in a tick. Systems added
/// later are attributed too (when the schedule is rebuilt). Calling it
/// twice does nothing more.
///
/// Without tickmem installed, the counts can still be read with
/// [`take_system_stats`] (e.g. for a schedule that does not use tickmem, as
/// a baseline).
///
/// # Examples
///
/// ```
/// use bevy_ecs::prelude::*;
/// use tickmem_track::CountingAlloc;
///
/// #[global_allocator]
/// static GLOBAL: CountingAlloc = CountingAlloc::system();
///
/// fn noisy() {
///     drop(std::hint::black_box(vec![0u8; 100]));
/// }
///
/// let mut world = World::new();
/// let mut schedule = Schedule::default();
/// schedule.add_systems(noisy);
/// tickmem_ecs::attribute(&mut world, &mut schedule);
/// schedule.run(&mut world);
/// let stats = tickmem_ecs::take_system_stats(&mut world);
/// let noisy = stats.iter().find(|s| s.name == "noisy").unwrap();
/// assert_eq!((noisy.runs, noisy.calls, noisy.bytes_allocated), (1, 2, 100));
/// ```
pub fn attribute(world: &mut World, schedule: &mut Schedule) {
    world.get_resource_or_init::<SystemRegistry>();
    schedule.add_build_pass(AttributionPass::default());
    // Rebuild at the next run if the schedule was built already.
    schedule.configure_sets(AttributionRebuild);
}

/// Every attributed system's counts since the last call (or since it was
/// wrapped), resetting them; in the order systems were first seen. Empty
/// without [`attribute`] (or `install`).
///
/// [`MemoryStats::systems`] is filled the same way by the frame boundary
/// once per tick; use this for schedules without tickmem.
pub fn take_system_stats(world: &mut World) -> Vec<SystemAllocStats> {
    let Some(registry) = world.get_resource::<SystemRegistry>() else {
        return Vec::new();
    };
    registry
        .systems
        .iter()
        .map(|c| {
            let mut s = SystemAllocStats {
                name: c.name.clone(),
                path: c.path.clone(),
                ..SystemAllocStats::default()
            };
            c.take_into(&mut s);
            s
        })
        .collect()
}

/// Give every schedule of the world's `Schedules` the pass (plugin mode;
/// called by the frame boundary, cheaply, every tick: schedules added later
/// are found too). The running ones (bevy_app's `Main`, tickmem's own) are
/// out of `Schedules` while they run, and are not wrapped.
pub(crate) fn attribute_app_schedules(world: &mut World) {
    let (Some(registry), Some(schedules)) = (
        world.get_resource::<SystemRegistry>(),
        world.get_resource::<Schedules>(),
    ) else {
        return;
    };
    if schedules
        .iter()
        .all(|(_, schedule)| registry.attributed.contains(&schedule.label()))
    {
        return;
    }
    world.resource_scope(|world, mut schedules: bevy_ecs::world::Mut<Schedules>| {
        let mut registry = world.resource_mut::<SystemRegistry>();
        for (_, schedule) in schedules.iter_mut() {
            if registry.attributed.insert(schedule.label()) {
                schedule.add_build_pass(AttributionPass::default());
                schedule.configure_sets(AttributionRebuild);
            }
        }
    });
}

/// Fill `stats.systems` with the tick's per-system counts (resetting them),
/// then `(tickmem housekeeping)`, then `(outside systems)`: the tick's
/// process-wide calls and bytes minus the systems' and the housekeeping's.
/// (Housekeeping inside a system is a nested scope: not in the system's
/// counts.) Reuses the entries: no allocation once every system has been
/// seen. Sets the `tickmem/allocs/*` plots.
pub(crate) fn publish(world: &mut World, tick: Option<crate::boundary::TickCalls>) {
    let Some(tick) = tick else { return };
    if !world.contains_resource::<SystemRegistry>() {
        return;
    }
    // Take the list out of `MemoryStats` while the registry is borrowed
    // (removing and re-inserting a resource would allocate in bevy).
    let mut systems = std::mem::take(&mut world.resource_mut::<MemoryStats>().systems);
    let registry = world.resource::<SystemRegistry>();
    // Keep the two summary entries last: take them off while systems are
    // added.
    let mut take = |name: &str| {
        match systems.last() {
            Some(last) if last.name == name => systems.pop(),
            _ => None,
        }
        .unwrap_or_else(|| SystemAllocStats {
            name: name.to_owned(),
            ..SystemAllocStats::default()
        })
    };
    let mut outside = take(OUTSIDE);
    let mut housekeeping = take(HOUSEKEEPING);
    let (mut calls, mut bytes) = (0u64, 0u64);
    for (i, c) in registry.systems.iter().enumerate() {
        if systems.len() <= i {
            systems.push(SystemAllocStats {
                name: c.name.clone(),
                path: c.path.clone(),
                ..SystemAllocStats::default()
            });
        }
        let entry = &mut systems[i];
        c.take_into(entry);
        c.plot.set(entry.calls as f64);
        calls += entry.calls;
        bytes += entry.bytes_allocated;
    }
    let (total, hk) = (tick.total, tick.housekeeping);
    housekeeping.runs = 0;
    housekeeping.calls = hk.calls();
    housekeeping.bytes_allocated = hk.bytes_allocated;
    housekeeping.frame_bytes = 0;
    outside.runs = 0;
    outside.calls = total.calls().saturating_sub(calls + hk.calls());
    outside.bytes_allocated = total
        .bytes_allocated
        .saturating_sub(bytes + hk.bytes_allocated);
    outside.frame_bytes = 0;
    registry.outside_plot.set(outside.calls as f64);
    systems.push(housekeeping);
    systems.push(outside);
    world.resource_mut::<MemoryStats>().systems = systems;
}

/// The offender captured for `tick`, described with this world's system
/// names and symbolised (allocates: call it outside a measured window).
pub(crate) fn take_offender(world: &World, tick: u64) -> Option<Offender> {
    let captured = attribution::take(tick)?;
    let registry = world.get_resource::<SystemRegistry>();
    let (system, system_path) = match captured.tag {
        Some(tag) => match registry.and_then(|r| r.by_tag(tag)) {
            Some(c) => (c.name.clone(), c.path.clone()),
            None => (
                format!("(a system of another world, tag {})", tag.get()),
                String::new(),
            ),
        },
        None if registry.is_some() => (OUTSIDE.to_owned(), String::new()),
        // `TickmemConfig::attribution` is off: no system has a tag.
        None => ("(systems not attributed)".to_owned(), String::new()),
    };
    let thread = match attribution::thread_name(captured.thread) {
        Some(name) => format!("`{name}` (#{})", captured.thread),
        None => format!("#{}", captured.thread),
    };
    let call = match captured.kind {
        attribution::CallKind::Alloc => OffenderCall::Allocation,
        attribution::CallKind::Dealloc => OffenderCall::Deallocation,
        attribution::CallKind::Realloc => OffenderCall::Reallocation,
    };
    let stack = captured
        .symbolize()
        .iter()
        .map(|frame| frame.to_string())
        .collect();
    Some(Offender {
        system,
        system_path,
        thread,
        call,
        size: captured.size,
        stack,
    })
}

/// Open a scope for the boundary's reporting work: its calls are excluded
/// from the boundary's own counts (the boundary also keeps them out of both
/// ticks' totals).
pub(crate) fn reporting_scope(world: &World) -> Option<Scope> {
    world
        .get_resource::<SystemRegistry>()
        .map(|r| attribution::enter(r.reporting))
}
