//! [`IntoIter`]: an [`ArenaVec`](crate::ArenaVec)'s elements by value.

use std::fmt;
use std::iter::FusedIterator;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

/// The owning iterator of an [`ArenaVec`](crate::ArenaVec)
/// (`vec.into_iter()`; `tickmem_scratch::ScratchVecIntoIter` is this type).
///
/// The elements it has not yielded are dropped with it, each exactly once,
/// also when one of their destructors panics (the others still run, as for
/// a `Vec`'s). Its buffer stays in the arena, which reclaims it.
///
/// It holds no allocator handle, only the elements (valid until the arena
/// borrow `'a` ends), so it may be sent to another thread when `T: Send`
/// and shared when `T: Sync`, even where the vector itself could not be (a
/// `ScratchVec`).
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
pub struct IntoIter<'a, T> {
    /// The first element of the buffer (dangling when it has none).
    buf: NonNull<T>,
    /// Elements `start..end` of `buf` are initialised and not yielded yet.
    start: usize,
    end: usize,
    /// Owns `T`s (drop check), covariant in `'a` and `T`.
    _owns: PhantomData<(T, &'a ())>,
}

// SAFETY: the iterator owns its elements and only reads and drops them; the
// memory stays valid until `'a` ends, whichever thread the iterator is on
// (no allocator is called). So it may move to another thread when the
// elements may.
unsafe impl<T: Send> Send for IntoIter<'_, T> {}

// SAFETY: `&IntoIter` only reads the elements (`as_slice`, `Debug`).
unsafe impl<T: Sync> Sync for IntoIter<'_, T> {}

impl<'a, T> IntoIter<'a, T> {
    /// Take ownership of the `len` elements at `buf`.
    ///
    /// # Safety
    ///
    /// `buf` holds `len` initialised `T`s, valid for reads and writes for
    /// `'a`, which nothing else reaches or drops from now on.
    pub(crate) unsafe fn from_raw(buf: NonNull<T>, len: usize) -> Self {
        IntoIter {
            buf,
            start: 0,
            end: len,
            _owns: PhantomData,
        }
    }

    /// The elements not yielded yet.
    pub fn as_slice(&self) -> &[T] {
        // SAFETY: `start..end` are initialised and owned by `self`; the
        // shared borrow of `self` keeps them from being yielded or dropped.
        unsafe { &*self.rest() }
    }

    /// The elements not yielded yet, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as in `as_slice`, with the exclusive borrow of `self`.
        unsafe { &mut *self.rest() }
    }

    /// The elements not yielded yet, as a raw slice.
    fn rest(&self) -> *mut [T] {
        // `start <= end <= ` the buffer's length: in bounds (a no-op for
        // zero-sized `T`), so the wrapping offset is the exact one.
        let first = self.buf.as_ptr().wrapping_add(self.start);
        ptr::slice_from_raw_parts_mut(first, self.end - self.start)
    }
}

impl<T> Iterator for IntoIter<'_, T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        if self.start == self.end {
            return None;
        }
        let i = self.start;
        self.start += 1;
        let slot = self.buf.as_ptr().wrapping_add(i);
        // SAFETY: `i` was in `start..end` (so `slot` is in bounds):
        // initialised and owned; it left that range above, so it is read
        // (moved out) exactly once.
        Some(unsafe { slot.read() })
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.start;
        (n, Some(n))
    }
}

impl<T> DoubleEndedIterator for IntoIter<'_, T> {
    #[inline]
    fn next_back(&mut self) -> Option<T> {
        if self.start == self.end {
            return None;
        }
        self.end -= 1;
        let slot = self.buf.as_ptr().wrapping_add(self.end);
        // SAFETY: as in `next`, for the last element of the range.
        Some(unsafe { slot.read() })
    }
}

impl<T> ExactSizeIterator for IntoIter<'_, T> {}

impl<T> FusedIterator for IntoIter<'_, T> {}

impl<T> Drop for IntoIter<'_, T> {
    fn drop(&mut self) {
        let rest = self.rest();
        // Nothing is left to yield, whatever happens below.
        self.start = self.end;
        // SAFETY: the range was initialised and owned, and is dropped once
        // (it is empty from here). A slice's drop keeps dropping the other
        // elements when one destructor panics.
        unsafe { ptr::drop_in_place(rest) };
    }
}

impl<T: fmt::Debug> fmt::Debug for IntoIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IntoIter").field(&self.as_slice()).finish()
    }
}
