#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod handle;
mod iter;
mod pool;
#[cfg(feature = "serde")]
mod serde_impl;

pub use error::PoolFull;
pub use handle::Handle;
pub use iter::{Drain, Handles, IntoIter, Iter, IterMut, Values, ValuesMut};
pub use pool::Pool;
