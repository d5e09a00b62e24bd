//! [`TickmemPlugin`] for bevy_app.

use bevy_app::{App, First, MainScheduleOrder, Plugin};
use bevy_ecs::component::Component;
use bevy_ecs::schedule::{Schedule, ScheduleLabel, SingleThreadedExecutor};

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
}

impl TickmemPlugin {
    /// A plugin installing `config`.
    pub fn new(config: TickmemConfig) -> Self {
        TickmemPlugin { config }
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
    }
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
