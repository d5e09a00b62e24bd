//! [`PoolFull`]: the error of [`Pool::try_insert`](crate::Pool::try_insert).

use core::any::type_name;
use core::fmt;
use core::marker::PhantomData;

/// Returned by [`Pool::try_insert`](crate::Pool::try_insert) when the pool
/// has no room: a [fixed](crate::Pool::fixed) pool holding `capacity` values,
/// a growable pool whose growth the global allocator refused (holding
/// `capacity` values, all it could without growing), or (in practice never)
/// a growable pool that has used all 2<sup>31</sup> − 1 slot indices. The
/// value that did not fit is inside; take it back with
/// [`into_inner`](Self::into_inner).
///
/// # Examples
///
/// ```
/// use tickmem_pool::Pool;
///
/// let mut pool = Pool::fixed(1);
/// pool.insert(String::from("a"));
/// let err = pool.try_insert(String::from("b")).unwrap_err();
/// assert_eq!(err.capacity(), 1);
/// assert!(err.to_string().contains("full (capacity 1)"));
/// assert_eq!(err.into_inner(), "b");
/// ```
pub struct PoolFull<T> {
    pub(crate) value: T,
    pub(crate) capacity: usize,
}

impl<T> PoolFull<T> {
    /// The value that could not be inserted.
    #[must_use]
    pub fn into_inner(self) -> T {
        self.value
    }

    /// A reference to the value that could not be inserted.
    #[must_use]
    pub fn value(&self) -> &T {
        &self.value
    }

    /// How many values the pool held when it refused (all of them live).
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl<T> fmt::Display for PoolFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        FullMessage::<T>::new(self.capacity).fmt(f)
    }
}

/// The message of [`PoolFull`] (and of `Pool::insert`'s panic).
pub(crate) struct FullMessage<T> {
    capacity: usize,
    _type: PhantomData<fn() -> T>,
}

impl<T> FullMessage<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            _type: PhantomData,
        }
    }
}

impl<T> fmt::Display for FullMessage<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Pool<{}> is full (capacity {}): remove a value or make the pool larger",
            type_name::<T>(),
            self.capacity
        )
    }
}

/// Does not need `T: Debug`: prints the capacity and the type, not the value.
impl<T> fmt::Debug for PoolFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolFull")
            .field("type", &type_name::<T>())
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<T> std::error::Error for PoolFull<T> {}

/// Returned by [`Pool::try_with_capacity`](crate::Pool::try_with_capacity),
/// [`Pool::try_fixed`](crate::Pool::try_fixed) and
/// [`Pool::try_reserve`](crate::Pool::try_reserve) when the room asked for
/// cannot be had: more values than the pool can ever hold (a fixed pool's
/// capacity, or 2<sup>31</sup> − 1), more bytes than the address space, or
/// an allocation the global allocator refused. Nothing was allocated.
///
/// # Examples
///
/// ```
/// use tickmem_pool::Pool;
///
/// let err = Pool::<u64>::try_with_capacity(usize::MAX).unwrap_err();
/// assert_eq!(err.requested(), usize::MAX);
/// assert!(err.to_string().contains("at most 2147483647 values"), "{err}");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CapacityError {
    pub(crate) type_name: &'static str,
    pub(crate) requested: usize,
    pub(crate) reason: CapacityReason,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CapacityReason {
    /// More values than the pool may hold.
    TooMany { max: usize },
    /// The slot table would not fit the address space, or the allocator
    /// refused it.
    Alloc { bytes: Option<usize> },
}

impl CapacityError {
    /// The number of values room was asked for (in total, for a new pool;
    /// in addition to the live ones, for `try_reserve`).
    #[must_use]
    pub fn requested(&self) -> usize {
        self.requested
    }
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Pool<{}>: no room for {} values: ",
            self.type_name, self.requested
        )?;
        match self.reason {
            CapacityReason::TooMany { max } => write!(f, "this pool holds at most {max} values"),
            CapacityReason::Alloc { bytes: Some(bytes) } => {
                write!(f, "the allocator refused {bytes} bytes")
            }
            CapacityReason::Alloc { bytes: None } => {
                write!(f, "the slot table would exceed the address space")
            }
        }
    }
}

impl fmt::Debug for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CapacityError")
            .field("type", &self.type_name)
            .field("requested", &self.requested)
            .field("reason", &self.reason)
            .finish()
    }
}

impl std::error::Error for CapacityError {}
