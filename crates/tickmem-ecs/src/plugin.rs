//! [`TickmemPlugin`] for bevy_app.

use bevy_app::{App, First, MainScheduleOrder, Plugin};
use bevy_ecs::component::Component;
use bevy_ecs::resource::Resource;
use bevy_ecs::schedule::{
    InternedScheduleLabel, Schedule, ScheduleLabel, Schedules, SingleThreadedExecutor,
};
use bevy_ecs::world::World;

use crate::TickmemWorldExt;
use crate::resources::TickmemConfig;

/// The schedule holding tickmem's frame-boundary system in a bevy_app
/// [`App`]: [`TickmemPlugin`] runs it first in every update, before
/// [`First`].
#[derive(ScheduleLabel, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TickmemFrameStart;

/// Puts tickmem into a bevy_app [`App`]: `app.add_plugins(TickmemPlugin::default())`.
///
/// It does what [`install_with_config`](crate::install_with_config) does,
/// with the frame-boundary system in a schedule of its own,
/// [`TickmemFrameStart`], which the plugin inserts in
/// [`MainScheduleOrder`] right before [`First`]. So the boundary runs
/// before every system of every schedule of the main loop (`First`,
/// `PreUpdate`, `FixedUpdate`, `Update`, `PostUpdate`, `Last`), once per
/// `app.update()`, without needing ordering constraints in any of them. The
/// schedule uses the single-threaded executor: it holds one exclusive
/// system, and that executor spawns no task for it (no allocation per tick).
///
/// Startup schedules run before it on the first update; what they allocate
/// from the frame arena belongs to frame 0 and is reclaimed at the start of
/// tick 2.
///
/// # Examples
///
/// ```
/// use bevy_app::{App, Update};
/// use bevy_ecs::prelude::*;
/// use tickmem_ecs::{Frame, MemoryStats, TickmemPlugin};
///
/// let mut app = App::new();
/// app.add_plugins(TickmemPlugin::default());
/// app.add_systems(Update, |frame: Frame| {
///     frame.alloc_slice_copy(&[1u32; 8]);
/// });
/// app.update();
/// app.update();
/// assert_eq!(app.world().resource::<MemoryStats>().frame_bytes, 32);
/// ```
#[derive(Debug, Clone, Default)]
pub struct TickmemPlugin {
    /// The configuration installed (frame arena, allocation budget, scratch
    /// trim policy).
    pub config: TickmemConfig,
    /// Run every schedule of the app single-threaded (see
    /// [`single_threaded`](Self::single_threaded)).
    pub single_threaded: bool,
}

impl TickmemPlugin {
    /// A plugin installing `config`.
    pub fn new(config: TickmemConfig) -> Self {
        TickmemPlugin {
            config,
            single_threaded: false,
        }
    }

    /// Run every schedule of the app (`First`, `PreUpdate`, `Update`,
    /// `FixedUpdate`, `PostUpdate`, `Last`, ... and schedules added later)
    /// with bevy's [`SingleThreadedExecutor`], for a tick with **no
    /// global-allocator call** after warm-up.
    ///
    /// bevy's default multi-threaded executor spawns a task for each system
    /// it runs on a worker thread, and each spawn allocates (12 to 16 calls
    /// per update in an `App` with a few systems in `Update`, counted by
    /// `CountingAlloc`): no tickmem allocator can take those away. With
    /// this option systems run one after another on the main thread;
    /// `par_iter` and task-pool jobs inside systems still use worker
    /// threads (and allocate for their tasks). Choose it when a zero-call
    /// tick matters more than running systems in parallel.
    ///
    /// The executors are replaced when the plugin is finished
    /// (`App::finish`, done by `App::run`) and, for schedules added later,
    /// at the next frame boundary (before the schedule runs in that
    /// update, since the boundary runs first).
    ///
    /// # Examples
    ///
    /// ```
    /// use bevy_app::{App, PostUpdate, Update};
    /// use bevy_ecs::prelude::*;
    /// use tickmem_ecs::{Frame, TickmemPlugin};
    ///
    /// #[global_allocator]
    /// static GLOBAL: tickmem_track::CountingAlloc = tickmem_track::CountingAlloc::system();
    ///
    /// let mut app = App::new();
    /// app.add_plugins(TickmemPlugin::default().single_threaded())
    ///     .add_systems(Update, |frame: Frame| {
    ///         frame.alloc_slice_copy(&[0u64; 64]);
    ///     })
    ///     .add_systems(PostUpdate, |frame: Frame| {
    ///         frame.alloc(1u32);
    ///     });
    /// app.finish();
    /// app.cleanup();
    /// tickmem_ecs::testing::assert_app_allocation_free(&mut app, 5, 100);
    /// ```
    pub fn single_threaded(mut self) -> Self {
        self.single_threaded = true;
        self
    }
}

impl Plugin for TickmemPlugin {
    fn build(&self, app: &mut App) {
        let mut schedule = Schedule::new(TickmemFrameStart);
        schedule.set_executor(SingleThreadedExecutor::new());
        crate::install_with_config(app.world_mut(), &mut schedule, self.config.clone());
        #[cfg(feature = "attribution")]
        crate::boundary::attribute_all_schedules(app.world_mut());
        app.add_schedule(schedule);
        let Some(mut order) = app.world_mut().get_resource_mut::<MainScheduleOrder>() else {
            panic!(
                "TickmemPlugin needs bevy_app's MainSchedulePlugin (App::new() adds it; \
                 App::empty() does not)"
            );
        };
        order.insert_before(First, TickmemFrameStart);
        if self.single_threaded {
            app.world_mut()
                .insert_resource(SingleThreadedSchedules(Vec::with_capacity(32)));
        }
    }

    fn finish(&self, app: &mut App) {
        single_thread_schedules(app.world_mut());
    }
}

/// With [`TickmemPlugin::single_threaded`]: the schedules already given the
/// single-threaded executor (a schedule's executor is only replaced once,
/// so the user can still choose another one afterwards).
#[derive(Resource)]
pub(crate) struct SingleThreadedSchedules(Vec<InternedScheduleLabel>);

/// Give the single-threaded executor to every schedule of `Schedules` not
/// seen yet (with [`TickmemPlugin::single_threaded`]; otherwise nothing).
/// Called by the plugin's `finish` and by the frame boundary; allocates
/// nothing once every schedule has been seen.
pub(crate) fn single_thread_schedules(world: &mut World) {
    let (Some(done), Some(schedules)) = (
        world.get_resource::<SingleThreadedSchedules>(),
        world.get_resource::<Schedules>(),
    ) else {
        return;
    };
    if schedules
        .iter()
        .all(|(_, schedule)| done.0.contains(&schedule.label()))
    {
        return;
    }
    world.resource_scope(|world, mut schedules: bevy_ecs::world::Mut<Schedules>| {
        let mut done = world.resource_mut::<SingleThreadedSchedules>();
        for (_, schedule) in schedules.iter_mut() {
            let label = schedule.label();
            if !done.0.contains(&label) {
                schedule.set_executor(SingleThreadedExecutor::new());
                done.0.push(label);
            }
        }
    });
}

/// tickmem's additions to a bevy_app [`App`]: the
/// [`TickmemWorldExt`] registrations, without `app.world_mut()`.
///
/// # Examples
///
/// ```
/// use bevy_app::{App, Update};
/// use bevy_ecs::prelude::*;
/// use tickmem_ecs::{MemoryStats, PoolCommands, TickmemAppExt, TickmemPlugin};
///
/// #[derive(Component)]
/// struct Spark;
/// struct Enemy;
///
/// let mut app = App::new();
/// app.add_plugins(TickmemPlugin::default())
///     .register_entity_pool::<Spark>()
///     .register_object_pool::<Enemy>()
///     .add_systems(Update, |mut sparks: PoolCommands<Spark>| {
///         sparks.acquire_typed((Spark,));
///     });
/// app.update();
/// app.update();
/// let stats = app.world().resource::<MemoryStats>();
/// assert_eq!(stats.pool("Spark").unwrap().live, 1);
/// assert!(stats.pool("Enemy").is_some());
/// ```
pub trait TickmemAppExt {
    /// [`TickmemWorldExt::register_entity_pool`] on the app's world.
    fn register_entity_pool<M: Component>(&mut self) -> &mut Self;

    /// [`TickmemWorldExt::register_object_pool`] on the app's world.
    fn register_object_pool<T: Send + Sync + 'static>(&mut self) -> &mut Self;

    /// [`TickmemWorldExt::register_frame_data`] on the app's world.
    fn register_frame_data<M: tickmem_frame::FrameData>(&mut self) -> &mut Self;
}

impl TickmemAppExt for App {
    fn register_entity_pool<M: Component>(&mut self) -> &mut Self {
        self.world_mut().register_entity_pool::<M>();
        self
    }

    fn register_object_pool<T: Send + Sync + 'static>(&mut self) -> &mut Self {
        self.world_mut().register_object_pool::<T>();
        self
    }

    fn register_frame_data<M: tickmem_frame::FrameData>(&mut self) -> &mut Self {
        self.world_mut().register_frame_data::<M>();
        self
    }
}
