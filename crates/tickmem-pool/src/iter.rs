//! Iterators over a [`Pool`](crate::Pool). All of them walk the dense arrays:
//! exactly `len()` packed values, whatever the occupancy.

use core::fmt;
use core::iter::{Copied, FusedIterator, Zip};
use core::slice;
use std::vec;

use crate::handle::Handle;

/// Implements the iterator traits for a newtype whose `inner` field is an
/// exact-size, double-ended iterator, mapping each item with `$map`.
macro_rules! forward_iterator {
    ($name:ident [$($gen:tt)*], $item:ty, |$x:pat_param| $map:expr) => {
        impl<$($gen)*> Iterator for $name<$($gen)*> {
            type Item = $item;

            #[inline]
            fn next(&mut self) -> Option<Self::Item> {
                self.inner.next().map(|$x| $map)
            }

            #[inline]
            fn size_hint(&self) -> (usize, Option<usize>) {
                self.inner.size_hint()
            }

            #[inline]
            fn nth(&mut self, n: usize) -> Option<Self::Item> {
                self.inner.nth(n).map(|$x| $map)
            }

            #[inline]
            fn last(mut self) -> Option<Self::Item> {
                self.next_back()
            }

            #[inline]
            fn count(self) -> usize {
                self.inner.len()
            }

            #[inline]
            fn fold<B, F>(self, init: B, mut f: F) -> B
            where
                F: FnMut(B, Self::Item) -> B,
            {
                self.inner.fold(init, move |acc, $x| f(acc, $map))
            }
        }

        impl<$($gen)*> DoubleEndedIterator for $name<$($gen)*> {
            #[inline]
            fn next_back(&mut self) -> Option<Self::Item> {
                self.inner.next_back().map(|$x| $map)
            }
        }

        impl<$($gen)*> ExactSizeIterator for $name<$($gen)*> {
            #[inline]
            fn len(&self) -> usize {
                self.inner.len()
            }
        }

        impl<$($gen)*> FusedIterator for $name<$($gen)*> {}
    };
}

/// `(handle, &value)` for every live value: [`Pool::iter`](crate::Pool::iter).
pub struct Iter<'a, T> {
    inner: Zip<slice::Iter<'a, Handle<T>>, slice::Iter<'a, T>>,
}

impl<'a, T> Iter<'a, T> {
    pub(crate) fn new(handles: slice::Iter<'a, Handle<T>>, values: slice::Iter<'a, T>) -> Self {
        Self {
            inner: handles.zip(values),
        }
    }
}

forward_iterator!(Iter['a, T], (Handle<T>, &'a T), |(h, v)| (*h, v));

impl<T> Clone for Iter<'_, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
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
    inner: Zip<slice::Iter<'a, Handle<T>>, slice::IterMut<'a, T>>,
}

impl<'a, T> IterMut<'a, T> {
    pub(crate) fn new(handles: slice::Iter<'a, Handle<T>>, values: slice::IterMut<'a, T>) -> Self {
        Self {
            inner: handles.zip(values),
        }
    }
}

forward_iterator!(IterMut['a, T], (Handle<T>, &'a mut T), |(h, v)| (*h, v));

impl<T> fmt::Debug for IterMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IterMut")
            .field("remaining", &self.inner.len())
            .finish()
    }
}

/// Every live value: [`Pool::values`](crate::Pool::values).
pub struct Values<'a, T> {
    inner: slice::Iter<'a, T>,
}

impl<'a, T> Values<'a, T> {
    pub(crate) fn new(inner: slice::Iter<'a, T>) -> Self {
        Self { inner }
    }
}

forward_iterator!(Values['a, T], &'a T, |v| v);

impl<T> Clone for Values<'_, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
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
    inner: slice::IterMut<'a, T>,
}

impl<'a, T> ValuesMut<'a, T> {
    pub(crate) fn new(inner: slice::IterMut<'a, T>) -> Self {
        Self { inner }
    }
}

forward_iterator!(ValuesMut['a, T], &'a mut T, |v| v);

impl<T: fmt::Debug> fmt::Debug for ValuesMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.inner.as_slice()).finish()
    }
}

/// The handle of every live value: [`Pool::handles`](crate::Pool::handles).
pub struct Handles<'a, T> {
    inner: Copied<slice::Iter<'a, Handle<T>>>,
}

impl<'a, T> Handles<'a, T> {
    pub(crate) fn new(inner: slice::Iter<'a, Handle<T>>) -> Self {
        Self {
            inner: inner.copied(),
        }
    }
}

forward_iterator!(Handles['a, T], Handle<T>, |h| h);

impl<T> Clone for Handles<'_, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for Handles<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

/// Removes and yields `(stale handle, value)` for every value:
/// [`Pool::drain`](crate::Pool::drain). Values not taken are dropped with
/// the iterator.
pub struct Drain<'a, T> {
    inner: Zip<vec::Drain<'a, Handle<T>>, vec::Drain<'a, T>>,
}

impl<'a, T> Drain<'a, T> {
    pub(crate) fn new(handles: vec::Drain<'a, Handle<T>>, values: vec::Drain<'a, T>) -> Self {
        Self {
            inner: handles.zip(values),
        }
    }
}

forward_iterator!(Drain['a, T], (Handle<T>, T), |x| x);

impl<T> fmt::Debug for Drain<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drain")
            .field("remaining", &self.inner.len())
            .finish()
    }
}

/// Consumes a pool, yielding `(handle, value)` for every live value:
/// `IntoIterator for Pool<T>`.
pub struct IntoIter<T> {
    inner: Zip<vec::IntoIter<Handle<T>>, vec::IntoIter<T>>,
}

impl<T> IntoIter<T> {
    pub(crate) fn new(handles: vec::IntoIter<Handle<T>>, values: vec::IntoIter<T>) -> Self {
        Self {
            inner: handles.zip(values),
        }
    }
}

forward_iterator!(IntoIter[T], (Handle<T>, T), |x| x);

impl<T> fmt::Debug for IntoIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter")
            .field("remaining", &self.inner.len())
            .finish()
    }
}
