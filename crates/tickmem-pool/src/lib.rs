#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![expect(
    unsafe_code,
    reason = "values live in their slots as `MaybeUninit<T>`, initialised exactly when the occupancy bitmap says so: `get` is one compare, iteration skips vacant slots"
)]

mod bits;
mod error;
mod handle;
mod iter;
mod pool;
#[cfg(feature = "serde")]
mod serde_impl;

pub use error::{CapacityError, PoolFull};
pub use handle::Handle;
pub use iter::{Drain, Handles, IntoIter, Iter, IterMut, Values, ValuesMut};
pub use pool::Pool;
