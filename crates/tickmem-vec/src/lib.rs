#![doc = include_str!("../README.md")]
#![expect(
    unsafe_code,
    reason = "the owning iterator reads and drops elements of a buffer the vector left in the arena, \
              and into_slice hands the elements' destructor to the arena"
)]

mod alloc;
mod into_iter;
mod vec;

pub use alloc::{ArenaAlloc, KeepInArena};
pub use into_iter::IntoIter;
pub use vec::ArenaVec;

/// The `allocator_api2` crate whose `Allocator` trait [`ArenaAlloc`]
/// extends.
pub use allocator_api2;
