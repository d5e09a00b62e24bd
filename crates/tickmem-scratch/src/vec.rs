//! [`ScratchVec`]: a growable vector in a scratch scope.

use std::fmt;
use std::ops::{Deref, DerefMut};

use bumpalo::Bump;
use bumpalo::collections::Vec as BumpVec;

/// A growable vector whose buffer lives in a scratch scope
/// ([`Scratch::vec`](crate::Scratch::vec)). Growing never calls the global
/// allocator once the thread's arena is warm; the buffer is reclaimed with
/// the scope.
///
/// It owns its elements like a `Vec`: they are dropped when the `ScratchVec`
/// is (the borrow checker orders that as for any local), so elements may
/// borrow other scratch allocations. It cannot outlive its scope:
///
/// ```compile_fail
/// let v = tickmem_scratch::with(|s| s.vec::<u32>());
/// ```
///
/// # Threads
///
/// A `ScratchVec` grows by bumping its thread's arena, so it is neither
/// `Send` nor `Sync`: it cannot be moved or lent to another thread, not even
/// a scoped one. Its elements can be handed over through
/// [`into_iter`](IntoIterator::into_iter) ([`ScratchVecIntoIter`] is `Send`
/// when `T` is), or lent as a slice (`&mut [T]` is `Send` when `T` is).
///
/// ```compile_fail,E0277
/// fn assert_send<T: Send>() {}
/// assert_send::<tickmem_scratch::ScratchVec<'static, u32>>();
/// ```
///
/// ```compile_fail,E0277
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<tickmem_scratch::ScratchVec<'static, u32>>();
/// ```
///
/// ```compile_fail,E0277
/// tickmem_scratch::with(|s| {
///     let mut v = s.vec::<u32>();
///     std::thread::scope(|t| {
///         t.spawn(move || v.push(1)); // would bump this thread's arena
///     });
/// });
/// ```
///
/// ```compile_fail,E0277
/// tickmem_scratch::with(|s| {
///     let mut v = s.vec::<u32>();
///     std::thread::scope(|t| {
///         t.spawn(|| v.len()); // not even shared
///     });
/// });
/// ```
///
/// ```
/// tickmem_scratch::with(|s| {
///     let mut v = s.vec();
///     v.extend(0..1000u32);
///     // The elements, not the vector, go to the workers.
///     let (a, b) = v.split_at_mut(500);
///     std::thread::scope(|t| {
///         t.spawn(|| a.iter_mut().for_each(|x| *x *= 2));
///         t.spawn(|| b.iter_mut().for_each(|x| *x *= 2));
///     });
///     assert_eq!(v[999], 1998);
/// });
/// ```
///
/// # Examples
///
/// ```
/// tickmem_scratch::with(|s| {
///     let mut frontier = s.vec();
///     frontier.push(1u32);
///     frontier.extend_from_slice(&[2, 3]);
///     while let Some(n) = frontier.pop() {
///         if n < 3 {
///             frontier.push(n + 10);
///         }
///     }
///     assert!(frontier.is_empty());
/// });
/// ```
pub struct ScratchVec<'s, T> {
    inner: BumpVec<'s, T>,
}

impl<'s, T> ScratchVec<'s, T> {
    pub(crate) fn new_in(bump: &'s Bump) -> Self {
        ScratchVec {
            inner: BumpVec::new_in(bump),
        }
    }

    pub(crate) fn with_capacity_in(capacity: usize, bump: &'s Bump) -> Self {
        ScratchVec {
            inner: BumpVec::with_capacity_in(capacity, bump),
        }
    }

    /// Append an element.
    ///
    /// # Panics
    ///
    /// If the new capacity overflows or the global allocator fails.
    #[inline]
    pub fn push(&mut self, value: T) {
        self.inner.push(value);
    }

    /// Remove and return the last element.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        self.inner.pop()
    }

    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// `true` when empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Elements it can hold without growing.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// Make room for at least `additional` more elements.
    pub fn reserve(&mut self, additional: usize) {
        self.inner.reserve(additional);
    }

    /// Remove every element (the buffer is kept).
    pub fn clear(&mut self) {
        self.inner.clear();
    }

    /// Keep the first `len` elements.
    pub fn truncate(&mut self, len: usize) {
        self.inner.truncate(len);
    }

    /// Insert at `index`, shifting later elements.
    ///
    /// # Panics
    ///
    /// If `index > len`.
    pub fn insert(&mut self, index: usize, element: T) {
        self.inner.insert(index, element);
    }

    /// Remove and return the element at `index`, shifting later elements.
    ///
    /// # Panics
    ///
    /// If `index >= len`.
    pub fn remove(&mut self, index: usize) -> T {
        self.inner.remove(index)
    }

    /// Remove the element at `index`, replacing it with the last one.
    ///
    /// # Panics
    ///
    /// If `index >= len`.
    pub fn swap_remove(&mut self, index: usize) -> T {
        self.inner.swap_remove(index)
    }

    /// Keep only the elements for which `keep` returns `true`.
    ///
    /// ```
    /// tickmem_scratch::with(|s| {
    ///     let mut v = s.vec();
    ///     v.extend(0..10u8);
    ///     v.retain(|x| x % 3 == 0);
    ///     assert_eq!(v, [0, 3, 6, 9]);
    /// });
    /// ```
    pub fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        self.inner.retain(keep);
    }

    /// The elements as a slice.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        self.inner.as_slice()
    }

    /// The elements as a mutable slice.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        self.inner.as_mut_slice()
    }
}

impl<'s, T: Clone> ScratchVec<'s, T> {
    /// Append clones of `other`'s elements.
    pub fn extend_from_slice(&mut self, other: &[T]) {
        self.inner.extend_from_slice(other);
    }
}

impl<'s, T: Copy> ScratchVec<'s, T> {
    /// Turn the vector into a slice that lives as long as the scope (only
    /// for `Copy` elements, which have no destructor to lose).
    ///
    /// ```
    /// tickmem_scratch::with(|s| {
    ///     let mut v = s.vec();
    ///     v.extend([3u32, 1, 2]);
    ///     let sorted: &mut [u32] = v.into_slice();
    ///     sorted.sort();
    ///     assert_eq!(sorted, &[1, 2, 3]);
    /// });
    /// ```
    pub fn into_slice(self) -> &'s mut [T] {
        self.inner.into_bump_slice_mut()
    }
}

impl<T> Deref for ScratchVec<'_, T> {
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        &self.inner
    }
}

impl<T> DerefMut for ScratchVec<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.inner
    }
}

impl<T> AsRef<[T]> for ScratchVec<'_, T> {
    fn as_ref(&self) -> &[T] {
        self
    }
}

impl<T> AsMut<[T]> for ScratchVec<'_, T> {
    fn as_mut(&mut self) -> &mut [T] {
        self
    }
}

impl<T> Extend<T> for ScratchVec<'_, T> {
    #[inline]
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        self.inner.extend(iter);
    }
}

impl<'a, T: Copy + 'a> Extend<&'a T> for ScratchVec<'_, T> {
    #[inline]
    fn extend<I: IntoIterator<Item = &'a T>>(&mut self, iter: I) {
        self.inner.extend(iter);
    }
}

impl<'a, T> IntoIterator for &'a ScratchVec<'_, T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, T> IntoIterator for &'a mut ScratchVec<'_, T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl<'s, T> IntoIterator for ScratchVec<'s, T> {
    type Item = T;
    type IntoIter = ScratchVecIntoIter<'s, T>;

    fn into_iter(self) -> Self::IntoIter {
        ScratchVecIntoIter {
            inner: self.inner.into_iter(),
        }
    }
}

/// The owning iterator of a [`ScratchVec`] (`vec.into_iter()`).
///
/// The elements it has not yielded are dropped with it, each exactly once,
/// also when one of their destructors panics (the others still run, as for
/// a `Vec`'s). It may be sent to another thread when `T: Send` (it only
/// reads the buffer, which stays valid until the scope exits), which the
/// [`ScratchVec`] itself cannot be.
///
/// # Examples
///
/// ```
/// tickmem_scratch::with(|s| {
///     let mut v = s.vec();
///     v.extend(["a".to_string(), "b".to_string(), "c".to_string()]);
///     let mut it = v.into_iter();
///     assert_eq!(it.next().as_deref(), Some("a"));
///     assert_eq!(it.as_slice(), ["b", "c"]);
///     let joined = std::thread::scope(|t| t.spawn(move || it.collect::<String>()).join());
///     assert_eq!(joined.unwrap(), "bc");
/// });
/// ```
pub struct ScratchVecIntoIter<'s, T> {
    inner: bumpalo::collections::vec::IntoIter<'s, T>,
}

impl<T> ScratchVecIntoIter<'_, T> {
    /// The elements not yielded yet.
    pub fn as_slice(&self) -> &[T] {
        self.inner.as_slice()
    }

    /// The elements not yielded yet, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        self.inner.as_mut_slice()
    }
}

impl<T> Iterator for ScratchVecIntoIter<'_, T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        self.inner.next()
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<T> DoubleEndedIterator for ScratchVecIntoIter<'_, T> {
    #[inline]
    fn next_back(&mut self) -> Option<T> {
        self.inner.next_back()
    }
}

impl<T> ExactSizeIterator for ScratchVecIntoIter<'_, T> {}

impl<T> std::iter::FusedIterator for ScratchVecIntoIter<'_, T> {}

impl<T> Drop for ScratchVecIntoIter<'_, T> {
    fn drop(&mut self) {
        /// Drops the rest if one element's destructor panics (bumpalo's own
        /// `IntoIter` would leak them).
        struct Rest<'a, 's, T>(&'a mut bumpalo::collections::vec::IntoIter<'s, T>);
        impl<T> Drop for Rest<'_, '_, T> {
            fn drop(&mut self) {
                self.0.for_each(drop);
            }
        }
        let rest = Rest(&mut self.inner);
        rest.0.for_each(drop);
        std::mem::forget(rest);
    }
}

impl<T: fmt::Debug> fmt::Debug for ScratchVecIntoIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ScratchVecIntoIter")
            .field(&self.as_slice())
            .finish()
    }
}

impl<T: fmt::Debug> fmt::Debug for ScratchVec<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: PartialEq<U>, U> PartialEq<ScratchVec<'_, U>> for ScratchVec<'_, T> {
    fn eq(&self, other: &ScratchVec<'_, U>) -> bool {
        self[..] == other[..]
    }
}

impl<T: Eq> Eq for ScratchVec<'_, T> {}

impl<T: PartialEq<U>, U> PartialEq<[U]> for ScratchVec<'_, T> {
    fn eq(&self, other: &[U]) -> bool {
        self[..] == other[..]
    }
}

impl<T: PartialEq<U>, U> PartialEq<&[U]> for ScratchVec<'_, T> {
    fn eq(&self, other: &&[U]) -> bool {
        self[..] == other[..]
    }
}

impl<T: PartialEq<U>, U, const N: usize> PartialEq<[U; N]> for ScratchVec<'_, T> {
    fn eq(&self, other: &[U; N]) -> bool {
        self[..] == other[..]
    }
}
