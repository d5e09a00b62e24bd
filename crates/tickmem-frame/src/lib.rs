#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![expect(
    unsafe_code,
    reason = "frame memory is handed out from bumpalo chunks through raw pointers, \
              destructors are run from type-erased lists, and handles are checked then dereferenced"
)]

mod alloc_api;
mod arena;
mod config;
mod error;
mod handle;
mod lane;
mod owner;
mod stats;
mod vec;

pub use alloc_api::FrameAlloc;
pub use arena::FrameArena;
pub use config::{DEFAULT_LANE_CAPACITY, DEFAULT_TRIM_AFTER_QUIET_FRAMES, FrameConfig};
pub use error::FrameAllocError;
pub use handle::FrameHandle;
pub use lane::Lane;
pub use stats::FrameStats;
pub use vec::FrameVec;

/// The `allocator_api2` crate this one implements `Allocator` from, so that
/// users name the same trait and collections.
pub use allocator_api2;

/// The byte that reclaimed frame memory is overwritten with when the
/// `poison` feature is on.
pub const POISON_BYTE: u8 = 0xDD;
