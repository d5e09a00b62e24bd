#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod boundary;
pub mod entity_pool;
mod names;
mod order;
#[cfg(feature = "bevy_app")]
mod plugin;
mod resources;

pub use boundary::{TickmemWorldExt, install, install_with_config};
pub use entity_pool::{
    EntityPool, EntityPoolWorldExt, PoolCommands, ReleaseError, apply_entity_pool,
};
pub use order::TickmemSet;
#[cfg(feature = "bevy_app")]
pub use plugin::{TickmemFrameStart, TickmemPlugin};
pub use resources::{
    AllocBudget, BudgetOverrun, Frame, FrameMemory, MemoryStats, ObjectPool, PoolKind, PoolStats,
    TickmemConfig,
};
