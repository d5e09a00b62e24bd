//! [`ArenaVec`]: the growable vector behind `FrameVec` and `ScratchVec`.

use std::alloc::Layout;
use std::fmt;
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use allocator_api2::alloc::Allocator;

use crate::alloc::{ArenaAlloc, KeepInArena};
use crate::into_iter::IntoIter;

type Inner<T, A> = allocator_api2::vec::Vec<T, A>;

/// A growable vector whose buffer lives in an arena: `tickmem_frame::FrameVec`
/// and `tickmem_scratch::ScratchVec` are this type over the frame arena's
/// and the scratch scope's allocator handles.
///
/// It owns its elements like a `Vec`: they are dropped when it is (or by
/// [`clear`](Self::clear), [`truncate`](Self::truncate), ...), also when one
/// of their destructors panics (the others still run). Its buffer is not
/// freed: the arena reclaims it (a vector whose buffer is the arena's most
/// recent block gives the bytes back when it is dropped).
/// [`into_slice`](Self::into_slice) leaves the elements in the arena
/// instead, for as long as the arena borrow `'a`.
///
/// Growing asks the arena for a block twice the size (amortised `O(1)`
/// pushes); when the arena refuses (the frame's byte limit, the global
/// allocator failing), the panicking methods panic with the arena's error
/// message, and [`try_reserve`](Self::try_reserve) returns the error.
///
/// It derefs to a slice (`len`, `iter`, sorting, indexing, ...).
///
/// `Send`/`Sync` follow the allocator handle: a `FrameVec` can be moved to
/// another thread (it then grows in that thread's lane), a `ScratchVec`
/// cannot (it grows by bumping its own thread's scope).
///
/// # Examples
///
/// ```
/// let arena = tickmem_frame::FrameArena::new();
/// let mut visible = arena.vec(); // a FrameVec
/// visible.extend((0..100u32).filter(|id| id % 3 == 0));
/// assert_eq!(visible.len(), 34);
///
/// tickmem_scratch::with(|s| {
///     let mut open = s.vec(); // a ScratchVec
///     open.extend_from_slice(&visible[..4]);
///     assert_eq!(open, [0, 3, 6, 9]);
/// });
/// ```
pub struct ArenaVec<'a, T, A: Allocator> {
    inner: Inner<T, A>,
    _arena: PhantomData<&'a ()>,
}

impl<'a, T, A: ArenaAlloc<'a>> ArenaVec<'a, T, A> {
    /// An empty vector that will grow in `alloc`'s arena (no allocation
    /// until the first element).
    ///
    /// ```
    /// use tickmem_frame::{FrameArena, FrameVec};
    /// let arena = FrameArena::new();
    /// let v: FrameVec<'_, u8> = FrameVec::new_in(arena.allocator());
    /// assert_eq!(v.capacity(), 0);
    /// ```
    #[inline]
    pub fn new_in(alloc: A) -> Self {
        ArenaVec {
            inner: Inner::new_in(alloc),
            _arena: PhantomData,
        }
    }

    /// An empty vector with room for at least `capacity` elements.
    ///
    /// # Panics
    ///
    /// With the arena's error message if the room cannot be allocated.
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let v = tickmem_frame::FrameVec::<u64>::with_capacity_in(10, arena.allocator());
    /// assert!(v.capacity() >= 10 && v.is_empty());
    /// ```
    #[inline]
    #[track_caller]
    pub fn with_capacity_in(capacity: usize, alloc: A) -> Self {
        let mut v = Self::new_in(alloc);
        v.reserve(capacity);
        v
    }

    /// The allocator handle the vector grows with.
    #[inline]
    pub fn allocator(&self) -> &A {
        self.inner.allocator()
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
    /// With the arena's error message if the buffer cannot grow.
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
        if let Err(value) = self.inner.push_within_capacity(value) {
            self.reserve(1);
            if self.inner.push_within_capacity(value).is_err() {
                unreachable!("room was reserved");
            }
        }
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
        let len = self.len();
        assert!(
            index <= len,
            "ArenaVec::insert: index {index} out of bounds (len {len})"
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

    /// Keep only the elements for which `keep` returns `true`, in order.
    ///
    /// If `keep` panics, the elements not yet visited stay in the vector,
    /// the ones it rejected are dropped, and none is dropped twice.
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
    /// With the arena's error message if the buffer cannot grow.
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let mut v = arena.vec::<u8>();
    /// v.reserve(10);
    /// assert!(v.capacity() >= 10);
    /// ```
    #[inline]
    #[track_caller]
    pub fn reserve(&mut self, additional: usize) {
        if let Err(err) = self.try_reserve(additional) {
            A::grow_failed(err);
        }
    }

    /// Make room for at least `additional` more elements, or say why not
    /// (the vector is unchanged then).
    ///
    /// ```
    /// use tickmem_frame::{FrameArena, FrameConfig};
    /// let arena = FrameArena::with_config(FrameConfig::default().frame_byte_limit(Some(64)));
    /// let mut v = arena.vec::<u64>();
    /// assert!(v.try_reserve(8).is_ok());
    /// let err = v.try_reserve(100).unwrap_err();
    /// assert_eq!(err.requested(), 800);
    /// ```
    #[inline]
    pub fn try_reserve(&mut self, additional: usize) -> Result<(), A::Error> {
        if self.inner.capacity() - self.inner.len() >= additional {
            return Ok(());
        }
        // The growth code is out of line and gets the vector by value, not
        // `&mut self`: a vector whose address escaped could not keep its
        // length in a register in the caller's `push` loop (2x slower).
        let empty = Inner::new_in(self.inner.allocator().clone());
        let inner = mem::replace(&mut self.inner, empty);
        let (inner, grown) = grow(inner, additional);
        self.inner = inner;
        grown
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

    /// Leave the elements in the arena and return them as a slice that lives
    /// as long as the arena borrow `'a`.
    ///
    /// Which `T` an arena can keep is its choice ([`KeepInArena`]): the
    /// frame arena keeps any `T: Send + 'static` and drops the elements when
    /// the frame is reclaimed (as for `FrameArena::alloc`); a scratch scope
    /// keeps `T: Copy` elements (it runs no destructor for them).
    ///
    /// # Panics
    ///
    /// With the arena's error message if it cannot record the elements'
    /// destructor (the frame arena needs a 32-byte entry, which the frame's
    /// byte limit may refuse): the vector is dropped normally then.
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let mut v = arena.vec();
    /// v.push(String::from("kept"));
    /// let s: &mut [String] = v.into_slice();
    /// assert_eq!(s[0], "kept"); // dropped when the frame is reclaimed
    ///
    /// tickmem_scratch::with(|s| {
    ///     let mut v = s.vec();
    ///     v.extend([3u32, 1, 2]);
    ///     let sorted: &mut [u32] = v.into_slice();
    ///     sorted.sort();
    ///     assert_eq!(sorted, &[1, 2, 3]);
    /// });
    /// ```
    ///
    /// A scratch scope does not keep values with a destructor:
    ///
    /// ```compile_fail,E0277
    /// tickmem_scratch::with(|s| {
    ///     let mut v = s.vec();
    ///     v.push(String::from("lost"));
    ///     let _ = v.into_slice();
    /// });
    /// ```
    #[track_caller]
    pub fn into_slice(mut self) -> &'a mut [T]
    where
        A: KeepInArena<'a, T>,
    {
        if mem::needs_drop::<T>() && !self.inner.is_empty() {
            let data = NonNull::new(self.inner.as_mut_ptr()).expect("a non-empty Vec is non-null");
            let len = self.inner.len();
            // SAFETY: `data` holds `len` initialised elements in a block of
            // this arena; the vector is leaked right after (its buffer never
            // deallocated), so only the arena drops them. On `Err` nothing
            // was taken over and `self` drops them as usual.
            if let Err(err) = unsafe { self.inner.allocator().keep(data, len) } {
                A::grow_failed(err);
            }
        }
        self.inner.leak()
    }
}

/// `try_reserve`'s slow path: grow `inner` for `additional` more elements
/// (it never panics by itself; on failure `inner` is unchanged).
#[cold]
#[inline(never)]
fn grow<'a, T, A: ArenaAlloc<'a>>(
    mut inner: Inner<T, A>,
    additional: usize,
) -> (Inner<T, A>, Result<(), A::Error>) {
    inner.allocator().clear_error();
    let grown = inner.try_reserve(additional).map_err(|_| {
        let alloc = inner.allocator();
        alloc.take_error().unwrap_or_else(|| {
            alloc.capacity_overflow(inner.len().saturating_add(additional), Layout::new::<T>())
        })
    });
    (inner, grown)
}

impl<'a, T: Clone, A: ArenaAlloc<'a>> ArenaVec<'a, T, A> {
    /// Append clones of `other`'s elements.
    ///
    /// If a `clone` panics, the clones made so far stay in the vector.
    ///
    /// # Panics
    ///
    /// As [`push`](Self::push).
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let mut v = arena.vec();
    /// v.extend_from_slice(&["a".to_string(), "b".to_string()]);
    /// assert_eq!(v, ["a", "b"]);
    /// ```
    #[track_caller]
    pub fn extend_from_slice(&mut self, other: &[T]) {
        self.reserve(other.len());
        for value in other {
            self.push(value.clone());
        }
    }
}

impl<T, A: Allocator> Deref for ArenaVec<'_, T, A> {
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        &self.inner
    }
}

impl<T, A: Allocator> DerefMut for ArenaVec<'_, T, A> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.inner
    }
}

impl<T, A: Allocator> AsRef<[T]> for ArenaVec<'_, T, A> {
    fn as_ref(&self) -> &[T] {
        self
    }
}

impl<T, A: Allocator> AsMut<[T]> for ArenaVec<'_, T, A> {
    fn as_mut(&mut self) -> &mut [T] {
        self
    }
}

impl<'a, T, A: ArenaAlloc<'a>> Extend<T> for ArenaVec<'a, T, A> {
    /// Reserves the iterator's lower size bound, then pushes each item. If
    /// the iterator panics, the items pushed so far stay in the vector.
    #[track_caller]
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.reserve(iter.size_hint().0);
        for value in iter {
            self.push(value);
        }
    }
}

impl<'a, 'b, T: Copy + 'b, A: ArenaAlloc<'a>> Extend<&'b T> for ArenaVec<'a, T, A> {
    #[track_caller]
    fn extend<I: IntoIterator<Item = &'b T>>(&mut self, iter: I) {
        self.extend(iter.into_iter().copied());
    }
}

impl<'v, T, A: Allocator> IntoIterator for &'v ArenaVec<'_, T, A> {
    type Item = &'v T;
    type IntoIter = std::slice::Iter<'v, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'v, T, A: Allocator> IntoIterator for &'v mut ArenaVec<'_, T, A> {
    type Item = &'v mut T;
    type IntoIter = std::slice::IterMut<'v, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl<'a, T, A: ArenaAlloc<'a>> IntoIterator for ArenaVec<'a, T, A> {
    type Item = T;
    type IntoIter = IntoIter<'a, T>;

    /// The elements by value; the buffer stays in the arena (see
    /// [`IntoIter`]).
    fn into_iter(self) -> IntoIter<'a, T> {
        // The vector is forgotten: its buffer is never deallocated (nor its
        // allocator handle dropped, which `ArenaAlloc` allows).
        let mut vec = ManuallyDrop::new(self.inner);
        let (buf, len) = (vec.as_mut_ptr(), vec.len());
        let buf = NonNull::new(buf).expect("a Vec's buffer pointer is non-null");
        // SAFETY: `buf` holds `len` initialised elements that nothing else
        // reaches or drops from here, in a block of the arena that is never
        // deallocated, so valid for `'a` (`ArenaAlloc`'s contract).
        unsafe { IntoIter::from_raw(buf, len) }
    }
}

impl<T: fmt::Debug, A: Allocator> fmt::Debug for ArenaVec<'_, T, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: PartialEq<U>, U, A: Allocator, B: Allocator> PartialEq<ArenaVec<'_, U, B>>
    for ArenaVec<'_, T, A>
{
    fn eq(&self, other: &ArenaVec<'_, U, B>) -> bool {
        self[..] == other[..]
    }
}

impl<T: Eq, A: Allocator> Eq for ArenaVec<'_, T, A> {}

impl<T: PartialEq<U>, U, A: Allocator> PartialEq<[U]> for ArenaVec<'_, T, A> {
    fn eq(&self, other: &[U]) -> bool {
        self[..] == other[..]
    }
}

impl<T: PartialEq<U>, U, A: Allocator> PartialEq<&[U]> for ArenaVec<'_, T, A> {
    fn eq(&self, other: &&[U]) -> bool {
        self[..] == other[..]
    }
}

impl<T: PartialEq<U>, U, A: Allocator> PartialEq<&mut [U]> for ArenaVec<'_, T, A> {
    fn eq(&self, other: &&mut [U]) -> bool {
        self[..] == other[..]
    }
}

impl<T: PartialEq<U>, U, A: Allocator, const N: usize> PartialEq<[U; N]> for ArenaVec<'_, T, A> {
    fn eq(&self, other: &[U; N]) -> bool {
        self[..] == other[..]
    }
}

impl<T: PartialEq<U>, U, A: Allocator> PartialEq<Vec<U>> for ArenaVec<'_, T, A> {
    fn eq(&self, other: &Vec<U>) -> bool {
        self[..] == other[..]
    }
}
