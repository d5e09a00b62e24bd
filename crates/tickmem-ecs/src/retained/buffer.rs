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

impl<T: Send + 'static> RetainedBuffer for Vec<T> {
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
        self.capacity() * size_of::<T>()
    }

    fn used_bytes(&self) -> usize {
        self.len() * size_of::<T>()
    }
}

impl<T: Send + 'static> RetainedBuffer for VecDeque<T> {
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
        self.capacity() * size_of::<T>()
    }

    fn used_bytes(&self) -> usize {
        self.len() * size_of::<T>()
    }
}

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

/// Implements `RetainedBuffer` for a hashbrown-based map or set type.
macro_rules! hash_table_buffer {
    ($(#[$doc:meta])* impl<$($g:ident),*> for $ty:ty, element $elem:ty, where $($bounds:tt)*) => {
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
                self.allocation_size()
            }

            fn used_bytes(&self) -> usize {
                self.len() * size_of::<$elem>()
            }
        }
    };
}

hash_table_buffer!(
    /// `heap_bytes` is the table's allocation (buckets and control bytes).
    impl<K, V, S> for hashbrown::HashMap<K, V, S>, element (K, V),
    where K: Eq + Hash + Send + 'static, V: Send + 'static, S: BuildHasher + Send + 'static
);
hash_table_buffer!(
    /// `heap_bytes` is the table's allocation (buckets and control bytes).
    impl<T, S> for hashbrown::HashSet<T, S>, element T,
    where T: Eq + Hash + Send + 'static, S: BuildHasher + Send + 'static
);
hash_table_buffer!(
    /// bevy's `HashMap` (`bevy::platform::collections::HashMap`).
    impl<K, V, S> for bevy_platform::collections::HashMap<K, V, S>, element (K, V),
    where K: Eq + Hash + Send + 'static, V: Send + 'static, S: BuildHasher + Send + 'static
);
hash_table_buffer!(
    /// bevy's `HashSet` (`bevy::platform::collections::HashSet`).
    impl<T, S> for bevy_platform::collections::HashSet<T, S>, element T,
    where T: Eq + Hash + Send + 'static, S: BuildHasher + Send + 'static
);
