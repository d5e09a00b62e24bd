#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub use tickmem_ecs as ecs;
pub use tickmem_frame as frame;
pub use tickmem_pool as pool;
pub use tickmem_scratch as scratch;
pub use tickmem_track as track;
pub use tickmem_tracy as tracy;

/// The names a game loop uses most, in one `use tickmem::prelude::*;`.
pub mod prelude {
    pub use tickmem_track::{AllocStats, CountingAlloc, FrameBudget};
}
