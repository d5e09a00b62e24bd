#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub use tickmem_ecs as ecs;
pub use tickmem_frame as frame;
pub use tickmem_pool as pool;
pub use tickmem_scratch as scratch;
pub use tickmem_track as track;
pub use tickmem_tracy as tracy;

/// The names a game loop uses most, in one `use tickmem::prelude::*;`.
///
/// ```
/// use tickmem::prelude::*;
///
/// let mut arena = FrameArena::new();
/// arena.begin_frame();
/// let mut enemies: Pool<u32> = Pool::new();
/// let h: Handle<u32> = enemies.insert(*arena.alloc(7));
/// assert_eq!(enemies[h], 7);
/// ```
pub mod prelude {
    pub use tickmem_ecs::{
        EntityPool, EntityPoolWorldExt, Frame, MemoryStats, ObjectPool, PoolCommands,
        TickmemConfig, TickmemSet, TickmemWorldExt,
    };
    pub use tickmem_frame::{FrameArena, FrameConfig, FrameHandle, FrameVec};
    pub use tickmem_pool::{Handle, Pool, PoolFull};
    pub use tickmem_scratch::{Scratch, ScratchVec};
    pub use tickmem_track::{AllocStats, CountingAlloc, FrameBudget};
}
