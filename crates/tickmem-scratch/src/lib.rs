#![doc = include_str!("../README.md")]
#![expect(
    unsafe_code,
    reason = "scope levels are reached through raw pointers so a scope can be reset while outer scopes hold references; destructors of scratch values run from a type-erased drop list"
)]
#![warn(missing_docs)]

mod policy;
mod scratch;
mod state;
mod stats;
mod vec;

pub use policy::{TrimPolicy, request_trim_all, set_trim_policy, trim_policy};
pub use scratch::{Scratch, ScratchAllocError};
pub use state::{release_all, stats, trim, with};
pub use stats::{ScratchStats, global_stats};
pub use vec::{ScratchAlloc, ScratchVec, ScratchVecIntoIter};
