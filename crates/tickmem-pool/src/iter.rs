//! Iterators over a [`Pool`](crate::Pool). All of them walk the occupancy
//! bitmap and then the tail of appended values ([`BitCursor`]): they touch
//! live slots only, whatever the occupancy.

use core::fmt;
use core::iter::FusedIterator;
use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::bits::BitCursor;
use crate::handle::Handle;
use crate::pool::{Slot, nonzero_generation};

/// Implements the iterator traits for a borrowing iterator with fields
/// `slots` (`Copy`), `words: &[u64]` and `cursor`, turning a slot index into
/// an item with `$make` (which may rely on the index being a live slot).
macro_rules! bit_iterator {
    ($name:ident [$($gen:tt)*], $item:ty, |$slots:ident, $index:ident| $make:expr) => {
        impl<$($gen)*> Iterator for $name<$($gen)*> {
            type Item = $item;

            #[inline]
            fn next(&mut self) -> Option<Self::Item> {
                let $index = self.cursor.next(self.words)?;
                let $slots = self.slots;
                Some($make)
            }

            #[inline]
            fn size_hint(&self) -> (usize, Option<usize>) {
                (self.cursor.len(), Some(self.cursor.len()))
            }

            #[inline]
            fn last(mut self) -> Option<Self::Item> {
                self.next_back()
            }

            #[inline]
            fn count(self) -> usize {
                self.cursor.len()
            }

            #[inline]
            fn fold<B, F>(self, init: B, mut f: F) -> B
            where
                F: FnMut(B, Self::Item) -> B,
            {
                let $slots = self.slots;
                self.cursor.fold(self.words, init, move |acc, $index| f(acc, $make))
            }
        }

        impl<$($gen)*> DoubleEndedIterator for $name<$($gen)*> {
            #[inline]
            fn next_back(&mut self) -> Option<Self::Item> {
                let $index = self.cursor.next_back(self.words)?;
                let $slots = self.slots;
                Some($make)
            }
        }

        impl<$($gen)*> ExactSizeIterator for $name<$($gen)*> {
            #[inline]
            fn len(&self) -> usize {
                self.cursor.len()
            }
        }

        impl<$($gen)*> FusedIterator for $name<$($gen)*> {}
    };
}

/// The occupied slot `index` of `slots`.
///
/// # Safety
///
/// `index` is a live slot of the pool (a set bit of its bitmap or an index
/// of its tail), so the slot exists, is occupied and its value is
/// initialised (the pool's invariant 1).
#[inline(always)]
unsafe fn occupied<T>(slots: &[Slot<T>], index: usize) -> (Handle<T>, &T) {
    debug_assert!(slots.get(index).is_some_and(Slot::is_occupied));
    // SAFETY: the caller promises `index < slots.len()`.
    let slot = unsafe { slots.get_unchecked(index) };
    let handle = Handle::new(index as u32, nonzero_generation(slot.generation));
    // SAFETY: the caller promises the slot is occupied, so initialised.
    (handle, unsafe { slot.value.assume_init_ref() })
}

/// The occupied slot `index` of the table at `slots`, its value mutably.
///
/// # Safety
///
/// As for [`occupied`], for a table of which `slots` is the start and that
/// the caller may mutate for `'a`; and no other reference to this slot's
/// value exists for `'a` (each index is yielded once).
#[inline(always)]
unsafe fn occupied_mut<'a, T>(slots: NonNull<Slot<T>>, index: usize) -> (Handle<T>, &'a mut T) {
    // SAFETY: `index` is in bounds of the table (caller).
    let slot = unsafe { slots.add(index) }.as_ptr();
    // SAFETY: reading the generation through the table's pointer; no `&mut`
    // to this slot's generation exists (only to values).
    let generation = unsafe { (*slot).generation };
    let handle = Handle::new(index as u32, nonzero_generation(generation));
    // SAFETY: in bounds, and not otherwise referenced (caller); only the
    // value field is borrowed, so yielded values never overlap the
    // generations read above.
    let value: &'a mut core::mem::MaybeUninit<T> = unsafe { &mut (*slot).value };
    // SAFETY: the slot is occupied, so its value is initialised (caller).
    (handle, unsafe { value.assume_init_mut() })
}

/// `(handle, &value)` for every live value: [`Pool::iter`](crate::Pool::iter).
pub struct Iter<'a, T> {
    slots: &'a [Slot<T>],
    words: &'a [u64],
    cursor: BitCursor,
}

impl<'a, T> Iter<'a, T> {
    pub(crate) fn new(slots: &'a [Slot<T>], words: &'a [u64], cursor: BitCursor) -> Self {
        Self {
            slots,
            words,
            cursor,
        }
    }
}

bit_iterator!(Iter['a, T], (Handle<T>, &'a T), |slots, index| {
    // SAFETY: the cursor yields live slots only (set bits of the pool's
    // bitmap, then its tail: invariant 1).
    unsafe { occupied(slots, index) }
});

impl<T> Clone for Iter<'_, T> {
    fn clone(&self) -> Self {
        Self {
            slots: self.slots,
            words: self.words,
            cursor: self.cursor.clone(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.clone()).finish()
    }
}

/// `(handle, &mut value)` for every live value:
/// [`Pool::iter_mut`](crate::Pool::iter_mut).
pub struct IterMut<'a, T> {
    slots: NonNull<Slot<T>>,
    words: &'a [u64],
    cursor: BitCursor,
    _borrow: PhantomData<&'a mut [Slot<T>]>,
}

impl<'a, T> IterMut<'a, T> {
    pub(crate) fn new(slots: &'a mut [Slot<T>], words: &'a [u64], cursor: BitCursor) -> Self {
        Self {
            slots: NonNull::from(slots).cast(),
            words,
            cursor,
            _borrow: PhantomData,
        }
    }
}

bit_iterator!(IterMut['a, T], (Handle<T>, &'a mut T), |slots, index| {
    // SAFETY: the cursor yields each live slot (set bit or tail index)
    // once, and the iterator holds the pool's slots mutably for 'a.
    unsafe { occupied_mut(slots, index) }
});

// SAFETY: `IterMut` is a `&mut [Slot<T>]` that hands out `&mut T`s, like
// `slice::IterMut`: it may move to another thread when `T: Send`.
unsafe impl<T: Send> Send for IterMut<'_, T> {}
// SAFETY: a shared `&IterMut` gives access to nothing (all methods take
// `&mut self`, except `len`), so sharing it is as safe as sharing `&T`.
unsafe impl<T: Sync> Sync for IterMut<'_, T> {}

impl<T> fmt::Debug for IterMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IterMut")
            .field("remaining", &self.cursor.len())
            .finish()
    }
}

/// Every live value: [`Pool::values`](crate::Pool::values).
pub struct Values<'a, T> {
    slots: &'a [Slot<T>],
    words: &'a [u64],
    cursor: BitCursor,
}

impl<'a, T> Values<'a, T> {
    pub(crate) fn new(slots: &'a [Slot<T>], words: &'a [u64], cursor: BitCursor) -> Self {
        Self {
            slots,
            words,
            cursor,
        }
    }
}

bit_iterator!(Values['a, T], &'a T, |slots, index| {
    // SAFETY: the cursor yields live slots only (set bits of the pool's
    // bitmap, then its tail: invariant 1).
    unsafe { occupied(slots, index).1 }
});

impl<T> Clone for Values<'_, T> {
    fn clone(&self) -> Self {
        Self {
            slots: self.slots,
            words: self.words,
            cursor: self.cursor.clone(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Values<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

/// Every live value, mutably: [`Pool::values_mut`](crate::Pool::values_mut).
pub struct ValuesMut<'a, T> {
    slots: NonNull<Slot<T>>,
    words: &'a [u64],
    cursor: BitCursor,
    _borrow: PhantomData<&'a mut [Slot<T>]>,
}

impl<'a, T> ValuesMut<'a, T> {
    pub(crate) fn new(slots: &'a mut [Slot<T>], words: &'a [u64], cursor: BitCursor) -> Self {
        Self {
            slots: NonNull::from(slots).cast(),
            words,
            cursor,
            _borrow: PhantomData,
        }
    }
}

bit_iterator!(ValuesMut['a, T], &'a mut T, |slots, index| {
    // SAFETY: as for `IterMut`.
    unsafe { occupied_mut(slots, index).1 }
});

// SAFETY: as for `IterMut`.
unsafe impl<T: Send> Send for ValuesMut<'_, T> {}
// SAFETY: as for `IterMut`.
unsafe impl<T: Sync> Sync for ValuesMut<'_, T> {}

impl<T> fmt::Debug for ValuesMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValuesMut")
            .field("remaining", &self.cursor.len())
            .finish()
    }
}

/// The handle of every live value: [`Pool::handles`](crate::Pool::handles).
pub struct Handles<'a, T> {
    slots: &'a [Slot<T>],
    words: &'a [u64],
    cursor: BitCursor,
}

impl<'a, T> Handles<'a, T> {
    pub(crate) fn new(slots: &'a [Slot<T>], words: &'a [u64], cursor: BitCursor) -> Self {
        Self {
            slots,
            words,
            cursor,
        }
    }
}

bit_iterator!(Handles['a, T], Handle<T>, |slots, index| {
    // SAFETY: the cursor yields live slots only (set bits of the pool's
    // bitmap, then its tail: invariant 1).
    unsafe { occupied(slots, index).0 }
});

impl<T> Clone for Handles<'_, T> {
    fn clone(&self) -> Self {
        Self {
            slots: self.slots,
            words: self.words,
            cursor: self.cursor.clone(),
        }
    }
}

impl<T> fmt::Debug for Handles<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

/// Calls `drop_at` on every index `cursor` has left. If `drop_at` panics,
/// the rest are still visited while unwinding (a second panic aborts, as
/// when dropping a `Vec`).
fn drop_rest(cursor: &mut BitCursor, words: &[u64], drop_at: impl FnMut(usize)) {
    struct Rest<'c, F: FnMut(usize)> {
        cursor: &'c mut BitCursor,
        words: &'c [u64],
        drop_at: F,
    }
    impl<F: FnMut(usize)> Drop for Rest<'_, F> {
        fn drop(&mut self) {
            while let Some(index) = self.cursor.next(self.words) {
                (self.drop_at)(index);
            }
        }
    }
    let mut rest = Rest {
        cursor,
        words,
        drop_at,
    };
    while let Some(index) = rest.cursor.next(rest.words) {
        (rest.drop_at)(index);
    }
    // Done: `rest`'s drop finds nothing left. If a visit above panicked,
    // `rest` is dropped while unwinding and visits the others.
}

/// Removes and yields `(stale handle, value)` for every value, in slot
/// order: [`Pool::drain`](crate::Pool::drain). Values not taken are dropped
/// with the iterator.
pub struct Drain<'a, T> {
    /// The pool's slots: all vacant already; the values of the set bits of
    /// `bitmap.words` not yet yielded are still initialised and belong to the
    /// drain.
    slots: &'a mut [Slot<T>],
    cursor: BitCursor,
    bitmap: GiveBack<'a>,
}

/// The bitmap taken from the pool by `drain`: cleared and given back when
/// the drain is dropped (also when a value's `Drop` panics).
struct GiveBack<'a> {
    words: Vec<u64>,
    home: &'a mut Vec<u64>,
}

impl Drop for GiveBack<'_> {
    fn drop(&mut self) {
        self.words.fill(0);
        *self.home = core::mem::take(&mut self.words);
    }
}

impl<'a, T> Drain<'a, T> {
    pub(crate) fn new(
        slots: &'a mut [Slot<T>],
        home: &'a mut Vec<u64>,
        words: Vec<u64>,
        cursor: BitCursor,
    ) -> Self {
        Self {
            slots,
            cursor,
            bitmap: GiveBack { words, home },
        }
    }

    /// Moves the value of slot `index` out, with the handle it had.
    ///
    /// # Safety
    ///
    /// `index` was just yielded by the cursor: a set bit of the taken bitmap,
    /// so the value is initialised and was not moved out before.
    #[inline]
    unsafe fn take(&mut self, index: usize) -> (Handle<T>, T) {
        let slot = &mut self.slots[index];
        // `drain` advanced the generation (or retired the slot: 0 - 1 wraps
        // to the last generation, `u32::MAX`).
        let generation = nonzero_generation(slot.generation.wrapping_sub(1));
        // SAFETY: initialised and owned by the drain (caller); the cursor
        // never yields `index` again.
        let value = unsafe { slot.value.assume_init_read() };
        (Handle::new(index as u32, generation), value)
    }
}

impl<T> Iterator for Drain<'_, T> {
    type Item = (Handle<T>, T);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let index = self.cursor.next(&self.bitmap.words)?;
        // SAFETY: just yielded by the cursor.
        Some(unsafe { self.take(index) })
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.cursor.len(), Some(self.cursor.len()))
    }
}

impl<T> DoubleEndedIterator for Drain<'_, T> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        let index = self.cursor.next_back(&self.bitmap.words)?;
        // SAFETY: just yielded by the cursor.
        Some(unsafe { self.take(index) })
    }
}

impl<T> ExactSizeIterator for Drain<'_, T> {}
impl<T> FusedIterator for Drain<'_, T> {}

impl<T> Drop for Drain<'_, T> {
    fn drop(&mut self) {
        let slots = &mut *self.slots;
        drop_rest(&mut self.cursor, &self.bitmap.words, |index| {
            // SAFETY: a set bit not yet yielded: initialised and owned by the
            // drain; `drop_rest` visits each index once.
            unsafe { slots[index].value.assume_init_drop() }
        });
        // `self.bitmap` is cleared and given back to the pool next, also
        // when a `Drop` above panicked.
    }
}

impl<T> fmt::Debug for Drain<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drain")
            .field("remaining", &self.cursor.len())
            .finish()
    }
}

/// Consumes a pool, yielding `(handle, value)` for every live value, in
/// slot order: `IntoIterator for Pool<T>`.
pub struct IntoIter<T> {
    /// The slot table; the values of the set bits of `words` not yet yielded
    /// are initialised and owned by the iterator.
    slots: Vec<Slot<T>>,
    words: Vec<u64>,
    cursor: BitCursor,
}

impl<T> IntoIter<T> {
    pub(crate) fn new(slots: Vec<Slot<T>>, words: Vec<u64>, cursor: BitCursor) -> Self {
        Self {
            slots,
            words,
            cursor,
        }
    }

    /// # Safety
    ///
    /// `index` was just yielded by the cursor.
    #[inline]
    unsafe fn take(&mut self, index: usize) -> (Handle<T>, T) {
        let slot = &mut self.slots[index];
        let handle = Handle::new(index as u32, nonzero_generation(slot.generation));
        // SAFETY: a set bit: occupied, initialised, and yielded once.
        (handle, unsafe { slot.value.assume_init_read() })
    }
}

impl<T> Iterator for IntoIter<T> {
    type Item = (Handle<T>, T);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let index = self.cursor.next(&self.words)?;
        // SAFETY: just yielded by the cursor.
        Some(unsafe { self.take(index) })
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.cursor.len(), Some(self.cursor.len()))
    }
}

impl<T> DoubleEndedIterator for IntoIter<T> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        let index = self.cursor.next_back(&self.words)?;
        // SAFETY: just yielded by the cursor.
        Some(unsafe { self.take(index) })
    }
}

impl<T> ExactSizeIterator for IntoIter<T> {}
impl<T> FusedIterator for IntoIter<T> {}

impl<T> Drop for IntoIter<T> {
    fn drop(&mut self) {
        let slots = &mut self.slots;
        drop_rest(&mut self.cursor, &self.words, |index| {
            // SAFETY: a set bit not yet yielded: initialised and owned by the
            // iterator; `drop_rest` visits each index once.
            unsafe { slots[index].value.assume_init_drop() }
        });
    }
}

impl<T> fmt::Debug for IntoIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter")
            .field("remaining", &self.cursor.len())
            .finish()
    }
}
