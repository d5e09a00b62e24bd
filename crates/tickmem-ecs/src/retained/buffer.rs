//! [`RetainedBuffer`]: the collections a [`Retained`](crate::Retained)
//! buffer can hold.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash};
use std::mem::size_of;

/// A collection that a [`Retained`](crate::Retained) buffer keeps between
/// ticks: what it needs to measure its use and give memory back.
///
/// Implemented for `Vec`, `VecDeque`, `SmallVec`, and the hashbrown and
/// bevy (`bevy_platform::collections`) `HashMap` and `HashSet`; implement it
/// for your own collection with these six methods.
///
/// # Examples
///
/// ```
/// use tickmem_ecs::RetainedBuffer;
///
/// let mut v: Vec<u64> = Vec::with_capacity(100);
/// v.extend([1, 2, 3]);
/// assert_eq!(RetainedBuffer::heap_bytes(&v), 800);
/// assert_eq!(RetainedBuffer::used_bytes(&v), 24);
/// RetainedBuffer::shrink_to(&mut v, 10);
/// assert_eq!(v.capacity(), 10);
/// ```
pub trait RetainedBuffer: Send + 'static {
    /// Elements in use.
    fn len(&self) -> usize;

    /// `true` when no element is in use.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements it can hold without allocating.
    fn capacity(&self) -> usize;

    /// Drop every element, keeping the capacity.
    fn clear(&mut self);

    /// Give back memory, keeping room for at least `max(len, min_capacity)`
    /// elements (the collection may keep more, e.g. a hash table's bucket
    /// count is a power of two).
    fn shrink_to(&mut self, min_capacity: usize);

    /// Bytes of heap memory it holds.
    fn heap_bytes(&self) -> usize;

    /// Bytes of its elements in use (`len` times the element size).
    fn used_bytes(&self) -> usize;
}

/// Implements `RetainedBuffer` for a std-like collection of `$elem`s whose
/// heap block is `$heap` bytes (`$heap` is a closure of `&Self`).
macro_rules! buffer {
    (
        $(#[$doc:meta])*
        impl<$($g:ident),*> for $ty:ty, element $elem:ty, heap $heap:expr,
        where $($bounds:tt)*
    ) => {
        $(#[$doc])*
        impl<$($g),*> RetainedBuffer for $ty
        where
            $($bounds)*
        {
            fn len(&self) -> usize {
                self.len()
            }

            fn capacity(&self) -> usize {
                self.capacity()
            }

            fn clear(&mut self) {
                self.clear();
            }

            fn shrink_to(&mut self, min_capacity: usize) {
                self.shrink_to(min_capacity);
            }

            fn heap_bytes(&self) -> usize {
                let heap: fn(&Self) -> usize = $heap;
                heap(self)
            }

            fn used_bytes(&self) -> usize {
                self.len() * size_of::<$elem>()
            }
        }
    };
}

buffer!(
    impl<T> for Vec<T>, element T, heap |v| v.capacity() * size_of::<T>(),
    where T: Send + 'static
);
buffer!(
    impl<T> for VecDeque<T>, element T, heap |v| v.capacity() * size_of::<T>(),
    where T: Send + 'static
);

/// Inline up to `A::size()` elements, on the heap beyond: `heap_bytes` is 0
/// while it is inline, and shrinking to at most the inline capacity moves
/// the elements back inline and frees the heap block.
impl<A> RetainedBuffer for smallvec::SmallVec<A>
where
    A: smallvec::Array + Send + 'static,
    A::Item: Send,
{
    fn len(&self) -> usize {
        self.len()
    }

    fn capacity(&self) -> usize {
        self.capacity()
    }

    fn clear(&mut self) {
        self.clear();
    }

    fn shrink_to(&mut self, min_capacity: usize) {
        // `try_grow` reallocates to exactly the capacity asked for (inline
        // when it fits); it leaves the vector as it is when that is below
        // `len` or the allocator refuses.
        let _ = self.try_grow(min_capacity.max(self.len()));
    }

    fn heap_bytes(&self) -> usize {
        if self.spilled() {
            self.capacity() * size_of::<A::Item>()
        } else {
            0
        }
    }

    fn used_bytes(&self) -> usize {
        self.len() * size_of::<A::Item>()
    }
}

buffer!(
    /// `heap_bytes` is the table's allocation (buckets and control bytes).
    impl<K, V, S> for hashbrown::HashMap<K, V, S>, element (K, V), heap |m| m.allocation_size(),
    where K: Eq + Hash + Send + 'static, V: Send + 'static, S: BuildHasher + Send + 'static
);
buffer!(
    /// `heap_bytes` is the table's allocation (buckets and control bytes).
    impl<T, S> for hashbrown::HashSet<T, S>, element T, heap |s| s.allocation_size(),
    where T: Eq + Hash + Send + 'static, S: BuildHasher + Send + 'static
);
buffer!(
    /// bevy's `HashMap` (`bevy::platform::collections::HashMap`); `heap_bytes`
    /// is the table's allocation.
    impl<K, V, S> for bevy_platform::collections::HashMap<K, V, S>, element (K, V), heap |m| m.allocation_size(),
    where K: Eq + Hash + Send + 'static, V: Send + 'static, S: BuildHasher + Send + 'static
);
buffer!(
    /// bevy's `HashSet` (`bevy::platform::collections::HashSet`); `heap_bytes`
    /// is the table's allocation.
    impl<T, S> for bevy_platform::collections::HashSet<T, S>, element T, heap |s| s.allocation_size(),
    where T: Eq + Hash + Send + 'static, S: BuildHasher + Send + 'static
);
