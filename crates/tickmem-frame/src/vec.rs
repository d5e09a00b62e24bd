//! [`FrameVec`]: a growable vector in a frame.

use std::fmt;
use std::mem;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use crate::alloc_api::FrameAlloc;
use crate::arena::FrameArena;
use crate::error::{FrameAllocError, alloc_failed};

type Inner<'a, T> = allocator_api2::vec::Vec<T, FrameAlloc<'a>>;

/// A growable vector whose buffer lives in the current frame of a
/// [`FrameArena`], from [`FrameArena::vec`] or [`Lane::vec`](crate::Lane::vec).
///
/// It derefs to a slice (`len`, `iter`, sorting, indexing, ...). Dropping it
/// drops its elements (the buffer is reclaimed with the frame);
/// [`into_slice`](Self::into_slice) leaves them in the frame instead, to be
/// dropped when the frame is reclaimed. Growing over the frame's byte limit
/// panics with the [`FrameAllocError`] message; [`try_reserve`](Self::try_reserve)
/// reports it instead.
///
/// # Examples
///
/// ```
/// use tickmem_frame::FrameArena;
///
/// let arena = FrameArena::new();
/// let mut visible = arena.vec();
/// for id in 0..100u32 {
///     if id % 3 == 0 {
///         visible.push(id);
///     }
/// }
/// assert_eq!(visible.len(), 34);
/// assert_eq!(visible.iter().copied().max(), Some(99));
/// let visible: &mut [u32] = visible.into_slice(); // keep it for the frame
/// assert_eq!(visible[1], 3);
/// ```
pub struct FrameVec<'a, T> {
    inner: Inner<'a, T>,
}

impl<'a, T> FrameVec<'a, T> {
    pub(crate) fn new_in(arena: &'a FrameArena) -> Self {
        FrameVec {
            inner: Inner::new_in(arena.allocator()),
        }
    }

    #[track_caller]
    pub(crate) fn with_capacity_in(capacity: usize, arena: &'a FrameArena) -> Self {
        let mut v = Self::new_in(arena);
        v.reserve(capacity);
        v
    }

    /// The arena the buffer lives in.
    pub fn arena(&self) -> &'a FrameArena {
        self.inner.allocator().arena()
    }

    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// `true` when there are no elements.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Elements the buffer can hold without growing.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// Append `value`.
    ///
    /// # Panics
    ///
    /// With the [`FrameAllocError`] message if the buffer cannot grow.
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let mut v = arena.vec();
    /// v.push("a");
    /// assert_eq!(v[0], "a");
    /// ```
    #[inline]
    #[track_caller]
    pub fn push(&mut self, value: T) {
        if self.inner.len() == self.inner.capacity() {
            self.reserve(1);
        }
        self.inner.push(value);
    }

    /// Remove and return the last element.
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let mut v = arena.vec();
    /// v.push(1);
    /// assert_eq!(v.pop(), Some(1));
    /// assert_eq!(v.pop(), None);
    /// ```
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        self.inner.pop()
    }

    /// Insert `value` at `index`, shifting the rest right.
    ///
    /// # Panics
    ///
    /// If `index > len`, or as [`push`](Self::push).
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let mut v = arena.vec();
    /// v.extend([1, 3]);
    /// v.insert(1, 2);
    /// assert_eq!(v, [1, 2, 3]);
    /// ```
    #[track_caller]
    pub fn insert(&mut self, index: usize, value: T) {
        assert!(
            index <= self.len(),
            "FrameVec::insert: index {index} out of bounds (len {})",
            self.len()
        );
        self.reserve(1);
        self.inner.insert(index, value);
    }

    /// Remove and return the element at `index`, shifting the rest left.
    ///
    /// # Panics
    ///
    /// If `index >= len`.
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let mut v = arena.vec();
    /// v.extend([1, 2, 3]);
    /// assert_eq!(v.remove(0), 1);
    /// assert_eq!(v, [2, 3]);
    /// ```
    #[track_caller]
    pub fn remove(&mut self, index: usize) -> T {
        self.inner.remove(index)
    }

    /// Remove and return the element at `index`, replacing it with the last.
    ///
    /// # Panics
    ///
    /// If `index >= len`.
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let mut v = arena.vec();
    /// v.extend([1, 2, 3]);
    /// assert_eq!(v.swap_remove(0), 1);
    /// assert_eq!(v, [3, 2]);
    /// ```
    #[track_caller]
    pub fn swap_remove(&mut self, index: usize) -> T {
        self.inner.swap_remove(index)
    }

    /// Keep only the elements for which `keep` returns `true`.
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let mut v = arena.vec();
    /// v.extend(0..10);
    /// v.retain(|x| x % 2 == 0);
    /// assert_eq!(v, [0, 2, 4, 6, 8]);
    /// ```
    pub fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        self.inner.retain(keep);
    }

    /// Drop every element (the capacity stays).
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let mut v = arena.vec();
    /// v.extend([1, 2]);
    /// v.clear();
    /// assert!(v.is_empty() && v.capacity() >= 2);
    /// ```
    pub fn clear(&mut self) {
        self.inner.clear();
    }

    /// Keep the first `len` elements, dropping the rest.
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let mut v = arena.vec();
    /// v.extend([1, 2, 3]);
    /// v.truncate(1);
    /// assert_eq!(v, [1]);
    /// ```
    pub fn truncate(&mut self, len: usize) {
        self.inner.truncate(len);
    }

    /// Make room for at least `additional` more elements.
    ///
    /// # Panics
    ///
    /// With the [`FrameAllocError`] message if the buffer cannot grow.
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let mut v = arena.vec::<u8>();
    /// v.reserve(10);
    /// assert!(v.capacity() >= 10);
    /// ```
    #[track_caller]
    pub fn reserve(&mut self, additional: usize) {
        if let Err(err) = self.try_reserve(additional) {
            alloc_failed(err);
        }
    }

    /// Make room for at least `additional` more elements, or say why not.
    ///
    /// ```
    /// use tickmem_frame::{FrameArena, FrameConfig};
    /// let arena = FrameArena::with_config(FrameConfig::default().frame_byte_limit(Some(64)));
    /// let mut v = arena.vec::<u64>();
    /// assert!(v.try_reserve(8).is_ok());
    /// let err = v.try_reserve(100).unwrap_err();
    /// assert_eq!(err.requested(), 800);
    /// ```
    pub fn try_reserve(&mut self, additional: usize) -> Result<(), FrameAllocError> {
        if self.inner.capacity() - self.inner.len() >= additional {
            return Ok(());
        }
        let lane = self.arena().lane();
        lane.take_error();
        self.inner.try_reserve(additional).map_err(|_| {
            lane.take_error().unwrap_or(FrameAllocError::SizeOverflow {
                len: self.inner.len().saturating_add(additional),
                elem_size: mem::size_of::<T>(),
            })
        })
    }

    /// The elements as a slice.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        &self.inner
    }

    /// The elements as a mutable slice.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.inner
    }

    /// Leave the elements in the frame and return them as a slice that lives
    /// as long as the arena borrow. If `T` needs `Drop`, the elements are
    /// dropped when the frame is reclaimed (hence `T: Send + 'static`, as for
    /// [`FrameArena::alloc`]).
    ///
    /// # Panics
    ///
    /// If `T` needs `Drop` and its 32-byte destructor entry cannot be
    /// allocated (the frame limit): the vector is dropped normally then.
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let mut v = arena.vec();
    /// v.push(String::from("kept"));
    /// let s: &mut [String] = v.into_slice();
    /// assert_eq!(s[0], "kept"); // dropped when the frame is reclaimed
    /// ```
    #[track_caller]
    pub fn into_slice(mut self) -> &'a mut [T]
    where
        T: Send + 'static,
    {
        if mem::needs_drop::<T>() && !self.inner.is_empty() {
            let data = NonNull::new(self.inner.as_mut_ptr()).expect("a non-empty Vec is non-null");
            let lane = self.arena().lane();
            // SAFETY: `data` holds `len` initialised elements in this arena's
            // current frame; the vector is leaked right after, so only the
            // destructor entry drops them.
            if let Err(err) = unsafe { lane.register_slice(data, self.inner.len()) } {
                alloc_failed(err);
            }
        }
        self.inner.leak()
    }
}

impl<T> Deref for FrameVec<'_, T> {
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        &self.inner
    }
}

impl<T> DerefMut for FrameVec<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.inner
    }
}

impl<T> Extend<T> for FrameVec<'_, T> {
    #[track_caller]
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.reserve(iter.size_hint().0);
        for value in iter {
            self.push(value);
        }
    }
}

impl<'b, T: Copy + 'b> Extend<&'b T> for FrameVec<'_, T> {
    #[track_caller]
    fn extend<I: IntoIterator<Item = &'b T>>(&mut self, iter: I) {
        self.extend(iter.into_iter().copied());
    }
}

impl<'v, T> IntoIterator for &'v FrameVec<'_, T> {
    type Item = &'v T;
    type IntoIter = std::slice::Iter<'v, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'v, T> IntoIterator for &'v mut FrameVec<'_, T> {
    type Item = &'v mut T;
    type IntoIter = std::slice::IterMut<'v, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl<'a, T> IntoIterator for FrameVec<'a, T> {
    type Item = T;
    type IntoIter = allocator_api2::vec::IntoIter<T, FrameAlloc<'a>>;

    fn into_iter(self) -> Self::IntoIter {
        self.inner.into_iter()
    }
}

impl<T: fmt::Debug> fmt::Debug for FrameVec<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: PartialEq> PartialEq for FrameVec<'_, T> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Eq> Eq for FrameVec<'_, T> {}

impl<T: PartialEq, const N: usize> PartialEq<[T; N]> for FrameVec<'_, T> {
    fn eq(&self, other: &[T; N]) -> bool {
        self.as_slice() == other
    }
}

impl<T: PartialEq> PartialEq<[T]> for FrameVec<'_, T> {
    fn eq(&self, other: &[T]) -> bool {
        self.as_slice() == other
    }
}

impl<T: PartialEq> PartialEq<&[T]> for FrameVec<'_, T> {
    fn eq(&self, other: &&[T]) -> bool {
        self.as_slice() == *other
    }
}
