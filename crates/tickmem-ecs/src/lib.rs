#![doc = include_str!("../README.md")]
//!
//! [`FrameMemory`]: crate::FrameMemory
//! [`TickmemConfig`]: crate::TickmemConfig
//! [`TickmemConfig::budget`]: crate::TickmemConfig::budget
//! [`TickmemConfig::scratch_trim`]: crate::TickmemConfig::scratch_trim
//! [`MemoryStats`]: crate::MemoryStats
//! [`MemoryStats::global_alloc_calls`]: crate::MemoryStats::global_alloc_calls
//! [`TickmemSet::FrameBoundary`]: crate::TickmemSet::FrameBoundary
//! [`EntityPool`]: crate::EntityPool
//! [`EntityPool<M>`]: crate::EntityPool
//! [`PoolCommands<M>`]: crate::PoolCommands
//! [`ObjectPool<T>`]: crate::ObjectPool
//! [`entity_pool`]: crate::entity_pool
//! [`PoolBundle`]: crate::PoolBundle
//! [`Pooled`]: crate::Pooled
//! [`ShrinkPolicy`]: crate::ShrinkPolicy
//! [`BudgetOverrun`]: crate::BudgetOverrun
//! [`MemoryStats::systems`]: crate::MemoryStats::systems
//! [`testing::assert_allocation_free`]: crate::testing::assert_allocation_free
//! [`Retained<C>`]: crate::Retained
//! [`Retained`]: crate::Retained
//! [`Retainer<C>`]: crate::Retainer
//! [`RetainPolicy::quiet_ticks`]: crate::RetainPolicy::quiet_ticks
//! [`RetainPolicy::min_capacity`]: crate::RetainPolicy::min_capacity
//! [`RetainedBuffer`]: crate::RetainedBuffer
//! [`Cleared`]: crate::Cleared
//! [`Kept`]: crate::Kept
//! [`MemoryStats::retained`]: crate::MemoryStats::retained
//! [`TickmemConfig::retained`]: crate::TickmemConfig::retained
//! [`FrameWriter<M>`]: crate::FrameWriter
//! [`FrameReader<M>`]: crate::FrameReader
//! [`FrameSlot<M>`]: crate::FrameSlot
#![warn(missing_docs)]

#[cfg(feature = "attribution")]
mod attribution;
mod boundary;
pub mod entity_pool;
mod frame_data;
mod names;
mod order;
#[cfg(feature = "bevy_app")]
mod plugin;
mod resources;
mod retained;
pub mod testing;

#[cfg(feature = "attribution")]
pub use attribution::{attribute, take_system_stats};
pub use boundary::{TickmemWorldExt, install, install_with_config};
pub use entity_pool::{
    AdoptError, EntityPool, EntityPoolWorldExt, PoolBundle, PoolCommands, Pooled, ReleaseError,
    ShrinkPolicy, apply_entity_pool,
};
pub use frame_data::{FrameReader, FrameSlot, FrameWriter};
pub use order::TickmemSet;
#[cfg(feature = "bevy_app")]
pub use plugin::{TickmemAppExt, TickmemFrameStart, TickmemPlugin};
pub use resources::{
    AllocBudget, BudgetOverrun, Frame, FrameMemory, MemoryStats, ObjectPool, Offender,
    OffenderCall, PoolKind, PoolStats, RetainedStats, SystemAllocStats, TickmemConfig,
};
pub use retained::{
    Cleared, DEFAULT_RETAIN_QUIET_TICKS, Kept, RetainMode, RetainPolicy, Retained, RetainedBuffer,
    Retainer,
};
