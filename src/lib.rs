#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub use tickmem_ecs as ecs;
pub use tickmem_frame as frame;
pub use tickmem_pool as pool;
pub use tickmem_scratch as scratch;
pub use tickmem_track as track;
pub use tickmem_tracy as tracy;

/// The `allocator_api2` crate whose `Allocator` trait tickmem's arenas
/// implement ([`FrameAlloc`](tickmem_frame::FrameAlloc), `Lane`, `Scratch`):
/// use its `vec::Vec`, `boxed::Box` with them, without guessing which
/// version to add.
pub use allocator_api2;
/// The `hashbrown` crate, built with the same `allocator_api2`: its maps and
/// sets take tickmem's allocators. Give the hasher explicitly
/// (`HashMap::with_capacity_and_hasher_in(n, DefaultHashBuilder::default(), alloc)`):
/// `HashMap::new_in` also works but silently uses hashbrown's default hasher,
/// which differs from std's (a timing comparison with a std `HashMap` then
/// compares hashers too). Pre-size: memory is not reused within a frame.
///
/// ```
/// use tickmem::hashbrown::{DefaultHashBuilder, HashMap};
///
/// let arena = tickmem::frame::FrameArena::new();
/// let mut counts = HashMap::with_capacity_and_hasher_in(64, DefaultHashBuilder::default(), arena.allocator());
/// *counts.entry((1, 2)).or_insert(0u32) += 1;
/// assert_eq!(counts[&(1, 2)], 1);
/// ```
pub use hashbrown;

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
        EntityPool, EntityPoolWorldExt, Frame, FrameReader, FrameWriter, MemoryStats, ObjectPool,
        PoolCommands, TickmemConfig, TickmemSet, TickmemWorldExt,
    };
    pub use tickmem_frame::{
        FrameAlloc, FrameArena, FrameConfig, FrameData, FrameHandle, FrameVec, frame_data,
    };
    pub use tickmem_pool::{Handle, Pool, PoolFull};
    pub use tickmem_scratch::{Scratch, ScratchVec};
    pub use tickmem_track::{AllocStats, CountingAlloc, FrameBudget};
}
