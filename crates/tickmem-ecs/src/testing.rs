//! Test helpers: prove that your game's warmed-up ticks allocate nothing,
//! and when one does, fail with who did it.
//!
//! [`assert_allocation_free`] runs `warm_up` ticks of a `World` + `Schedule`
//! with tickmem installed, then `ticks` more, and panics at the first of
//! those that made a global-allocator call (process-wide: every thread).
//! `assert_app_allocation_free` does the same for a bevy_app `App` with
//! `TickmemPlugin` (feature `bevy_app`). The `check_*` versions return the
//! report instead of panicking.
//!
//! The report gives the tick, its number of calls and, with the
//! `attribution` feature, the systems that allocated in it (and
//! `(outside systems)`) and the **first call**: its system, thread, size
//! and symbolised call stack.
//!
//! The test binary must use `tickmem_track::CountingAlloc` as its global
//! allocator (each integration-test file is its own binary), and since the
//! counts are process-wide, nothing else should run in that binary at the
//! same time (one test per file, or tests that hold a common lock). Even
//! then libtest's own main thread makes a few allocations right after it
//! starts a test's thread; they land in the warm-up unless that thread is
//! preempted for longer than the warm-up lasts (seen once on a busy CI
//! machine). For a count no scheduler can disturb, give the file
//! `harness = false` (a `[[test]]` entry in Cargo.toml and a `fn main`
//! that calls your checks): then no other thread runs.
//!
//! # Examples
//!
//! ```
//! use bevy_ecs::prelude::*;
//! use bevy_ecs::schedule::SingleThreadedExecutor;
//! use tickmem_ecs::Frame;
//!
//! #[global_allocator]
//! static GLOBAL: tickmem_track::CountingAlloc = tickmem_track::CountingAlloc::system();
//!
//! #[derive(Resource, Default)]
//! struct Scores(Vec<u32>);
//!
//! fn score(frame: Frame, mut scores: ResMut<Scores>) {
//!     let hits = frame.alloc_slice_copy(&[1u32, 2, 3]); // frame memory: free
//!     scores.0.clear();
//!     scores.0.extend_from_slice(hits); // grows in the first tick only
//! }
//!
//! let mut world = World::new();
//! world.init_resource::<Scores>();
//! let mut schedule = Schedule::default();
//! // bevy's multi-threaded executor allocates for its tasks every tick.
//! schedule.set_executor(SingleThreadedExecutor::new());
//! tickmem_ecs::install(&mut world, &mut schedule);
//! schedule.add_systems(score);
//! tickmem_ecs::testing::assert_allocation_free(&mut world, &mut schedule, 5, 100);
//! ```
//!
//! A system that allocates after warm-up fails the test, naming itself:
//!
//! ```should_panic
//! use bevy_ecs::prelude::*;
//! use bevy_ecs::schedule::SingleThreadedExecutor;
//!
//! #[global_allocator]
//! static GLOBAL: tickmem_track::CountingAlloc = tickmem_track::CountingAlloc::system();
//!
//! fn leaky(mut log: Local<Vec<String>>) {
//!     let n = log.len();
//!     log.push(format!("tick {n}")); // grows forever
//! }
//!
//! let mut world = World::new();
//! let mut schedule = Schedule::default();
//! schedule.set_executor(SingleThreadedExecutor::new());
//! tickmem_ecs::install(&mut world, &mut schedule);
//! schedule.add_systems(leaky);
//! // Panics: "tick 6 (the 1st after 5 warm-up ticks) made 1 global-allocator
//! // calls ..."; with the `attribution` feature, "... in system `leaky` ...".
//! tickmem_ecs::testing::assert_allocation_free(&mut world, &mut schedule, 5, 100);
//! ```

use std::fmt;

use bevy_ecs::schedule::Schedule;
use bevy_ecs::world::World;

use crate::resources::{AllocBudget, MemoryStats, Offender, SystemAllocStats, TickmemConfig};

/// A warmed-up tick that made global-allocator calls, as reported by the
/// `check_*` helpers (its `Display` is the helpers' panic message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickAllocated {
    /// The tick's epoch ([`MemoryStats::epoch`] while it ran).
    pub epoch: u64,
    /// Which checked tick it was (0: the first after the warm-up).
    pub checked: u64,
    /// The warm-up ticks run before checking.
    pub warm_up: u64,
    /// Global-allocator calls the tick made, process-wide.
    pub calls: u64,
    /// The systems that allocated in the tick, most calls first, then
    /// `(outside systems)` if anything else did (feature `attribution`;
    /// empty without it).
    pub systems: Vec<SystemAllocStats>,
    /// The tick's first call (feature `attribution`).
    pub offender: Option<Offender>,
}

impl fmt::Display for TickAllocated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tick {} (checked tick {} after {} warm-up ticks) made {} global-allocator calls",
            self.epoch,
            self.checked + 1,
            self.warm_up,
            self.calls
        )?;
        if !cfg!(feature = "attribution") {
            return f.write_str(
                " (enable tickmem-ecs's `attribution` feature to see which system made them, \
                 and the first call's stack)",
            );
        }
        if !self.systems.is_empty() {
            f.write_str("; by system:")?;
            for s in &self.systems {
                write!(
                    f,
                    "\n  {}: {} calls, {} bytes",
                    s.name, s.calls, s.bytes_allocated
                )?;
            }
        }
        if let Some(offender) = &self.offender {
            write!(f, "\n{offender}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TickAllocated {}

/// Run `warm_up` ticks of `schedule` on `world` (tickmem installed), then up
/// to `ticks` more, and return the first of those that made a
/// global-allocator call. The world's own allocation budget is set aside
/// meanwhile and restored.
///
/// # Panics
///
/// If tickmem is not installed in `world`, or `tickmem_track::CountingAlloc`
/// is not the global allocator (nothing could be counted).
#[track_caller]
pub fn check_allocation_free(
    world: &mut World,
    schedule: &mut Schedule,
    warm_up: u64,
    ticks: u64,
) -> Result<(), Box<TickAllocated>> {
    check(world, warm_up, ticks, |world| {
        schedule.run(world);
        // What bevy_app's `App::update` does after the schedules.
        world.clear_trackers();
    })
}

/// [`check_allocation_free`], panicking with the report.
///
/// # Examples
///
/// See the [module docs](self).
#[track_caller]
pub fn assert_allocation_free(
    world: &mut World,
    schedule: &mut Schedule,
    warm_up: u64,
    ticks: u64,
) {
    if let Err(report) = check_allocation_free(world, schedule, warm_up, ticks) {
        panic!("{report}");
    }
}

/// Like [`check_allocation_free`], for a bevy_app [`App`](bevy_app::App)
/// with `TickmemPlugin`: one tick is one `app.update()`.
///
/// bevy_app's main schedules use the multi-threaded executor, which
/// allocates for its tasks every update: give them the single-threaded one
/// to reach zero, with
/// [`TickmemPlugin::single_threaded`](crate::TickmemPlugin::single_threaded)
/// (see [`assert_app_allocation_free`]).
///
/// # Panics
///
/// As [`check_allocation_free`].
#[cfg(feature = "bevy_app")]
#[track_caller]
pub fn check_app_allocation_free(
    app: &mut bevy_app::App,
    warm_up: u64,
    ticks: u64,
) -> Result<(), Box<TickAllocated>> {
    check_app(app, warm_up, ticks)
}

#[cfg(feature = "bevy_app")]
fn check_app(app: &mut bevy_app::App, warm_up: u64, ticks: u64) -> Result<(), Box<TickAllocated>> {
    prepare(app.world_mut(), warm_up);
    let result = (|| {
        for i in 0..warm_up + ticks {
            let before = user_calls();
            app.update();
            let calls = user_calls() - before;
            if i >= warm_up && calls > 0 {
                return Err(Box::new(report(
                    app.world_mut(),
                    i - warm_up,
                    warm_up,
                    calls,
                )));
            }
        }
        Ok(())
    })();
    finish(app.world_mut());
    result
}

/// [`check_app_allocation_free`], panicking with the report.
///
/// # Examples
///
/// ```
/// use bevy_app::{App, Update};
/// use bevy_ecs::prelude::*;
/// use tickmem_ecs::{Frame, TickmemPlugin};
///
/// #[global_allocator]
/// static GLOBAL: tickmem_track::CountingAlloc = tickmem_track::CountingAlloc::system();
///
/// let mut app = App::new();
/// // bevy's multi-threaded executor allocates for its tasks every update:
/// // run the app's schedules single-threaded.
/// app.add_plugins(TickmemPlugin::default().single_threaded());
/// app.add_systems(Update, |frame: Frame| {
///     frame.alloc_slice_copy(&[0u64; 64]);
/// });
/// tickmem_ecs::testing::assert_app_allocation_free(&mut app, 5, 100);
/// ```
#[cfg(feature = "bevy_app")]
#[track_caller]
pub fn assert_app_allocation_free(app: &mut bevy_app::App, warm_up: u64, ticks: u64) {
    if let Err(report) = check_app_allocation_free(app, warm_up, ticks) {
        panic!("{report}");
    }
}

/// Process-wide global-allocator calls so far, tickmem's housekeeping
/// (`tickmem_track::housekeeping`) left out.
fn user_calls() -> u64 {
    tickmem_track::global_stats().calls() - tickmem_track::housekeeping_stats().calls()
}

/// The budget the world had before the check, to restore.
#[derive(bevy_ecs::resource::Resource)]
struct SavedBudget(Option<AllocBudget>);

#[track_caller]
fn prepare(world: &mut World, warm_up: u64) {
    assert!(
        world.contains_resource::<TickmemConfig>(),
        "tickmem_ecs::testing: tickmem is not installed in this world \
         (call tickmem_ecs::install, or add TickmemPlugin, first)"
    );
    if !tickmem_track::is_installed() {
        panic!("tickmem_ecs::testing: {}", tickmem_track::NotInstalled);
    }
    // A budget of 0 after the warm-up: with `attribution`, the frame
    // boundary arms the capture of each checked tick's first call.
    let saved = world
        .resource_mut::<TickmemConfig>()
        .budget
        .replace(AllocBudget {
            max_calls_per_tick: 0,
            warm_up_ticks: warm_up,
        });
    world.insert_resource(SavedBudget(saved));
}

fn finish(world: &mut World) {
    if let Some(SavedBudget(saved)) = world.remove_resource::<SavedBudget>() {
        world.resource_mut::<TickmemConfig>().budget = saved;
    }
}

fn check(
    world: &mut World,
    warm_up: u64,
    ticks: u64,
    mut tick: impl FnMut(&mut World),
) -> Result<(), Box<TickAllocated>> {
    prepare(world, warm_up);
    let mut result = Ok(());
    for i in 0..warm_up + ticks {
        let before = user_calls();
        tick(world);
        let calls = user_calls() - before;
        if i >= warm_up && calls > 0 {
            result = Err(Box::new(report(world, i - warm_up, warm_up, calls)));
            break;
        }
    }
    finish(world);
    result
}

/// Describe the tick that just ran (it allocated `calls` times).
fn report(world: &mut World, checked: u64, warm_up: u64, calls: u64) -> TickAllocated {
    let epoch = world.resource::<MemoryStats>().epoch;
    #[cfg(feature = "attribution")]
    let (systems, offender) = {
        let mut systems: Vec<SystemAllocStats> = crate::attribution::take_system_stats(world)
            .into_iter()
            .filter(|s| s.calls > 0 && s.name != crate::attribution::HOUSEKEEPING)
            .collect();
        systems.sort_by_key(|s| std::cmp::Reverse((s.calls, s.bytes_allocated)));
        let attributed: u64 = systems.iter().map(|s| s.calls).sum();
        if calls > attributed {
            systems.push(SystemAllocStats {
                name: crate::attribution::OUTSIDE.to_owned(),
                calls: calls - attributed,
                ..SystemAllocStats::default()
            });
        }
        (systems, crate::attribution::take_offender(world, epoch))
    };
    #[cfg(not(feature = "attribution"))]
    let (systems, offender) = (Vec::new(), None);
    TickAllocated {
        epoch,
        checked,
        warm_up,
        calls,
        systems,
        offender,
    }
}
