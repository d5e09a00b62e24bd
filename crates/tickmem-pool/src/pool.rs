//! [`Pool<T>`]: a typed pool with dense storage and a slot table.
//!
//! # Layout
//!
//! ```text
//! values:  Vec<T>          [ v0 | v1 | v2 | ... ]   live values, packed (no holes)
//! handles: Vec<Handle<T>>  [ h0 | h1 | h2 | ... ]   handle of values[i], in step with `values`
//! slots:   Vec<Slot>       { generation: u32, link: u32 } per slot ever used
//!                          occupied: link = position in `values`
//!                          vacant:   link = bit 31 | next vacant slot (free list)
//! ```
//!
//! A handle names a slot; the slot names a position in `values`. Removal
//! swaps the last value into the hole (`swap_remove`) and updates that value's
//! slot, so `values` never has holes and iteration walks exactly `len()`
//! packed values, at any occupancy. That is the point of this layout over the
//! alternatives:
//!
//! * values inline in the slot table (slotmap's `SlotMap`, thunderdome)
//!   make `get` one load instead of two, but iteration walks every slot,
//!   vacant ones too: a pool at 10% occupancy reads ten times the memory it
//!   needs, with a branch per slot;
//! * skip fields (slotmap's `HopSlotMap`) jump over runs of vacant slots,
//!   but live values stay scattered among dead ones, so iteration still loads
//!   mostly dead cache lines when occupancy is low.
//!
//! The dense arrays are walked as two parallel slices, which is as fast as
//! iterating a `Vec<T>`. The cost is one extra indirection on `get`/`remove`
//! and the `handles` array.
//!
//! Per-slot memory: 8 bytes per slot ever used (the slot table keeps vacant
//! slots for their generation), plus `size_of::<T>() + 8` per live value
//! (the value and its handle). For a 32-byte `T`: 48 bytes per live value,
//! the same as slotmap's `DenseSlotMap`; `SlotMap` needs 40 per slot.
//!
//! # Generations
//!
//! An occupied slot's generation is the generation of its value's handle. On
//! removal it advances by one, so the removed handle no longer matches; the
//! next value in that slot gets the new generation. A vacant slot's handles
//! cannot match even when a forged handle (from bits) carries the upcoming
//! generation, because the vacant link has bit 31 set and so is never a valid
//! position in `values`. A slot whose generation is `u32::MAX` is retired
//! on removal (generation 0, which no handle has) and never enters the free
//! list again.

use core::any::type_name;
use core::fmt;
use core::num::NonZeroU32;
use core::ops::{Index, IndexMut};

use crate::error::{FullMessage, PoolFull};
use crate::handle::{Handle, MAX_SLOTS};
use crate::iter::{Drain, Handles, IntoIter, Iter, IterMut, Values, ValuesMut};

/// Bit 31 of a slot's link marks a vacant slot.
pub(crate) const VACANT: u32 = 1 << 31;
/// Free-list terminator (not a valid slot index).
pub(crate) const NO_FREE: u32 = MAX_SLOTS;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    /// Occupied: the generation of the live value's handle. Vacant: the
    /// generation the next value will get, or 0 when the slot is retired.
    pub(crate) generation: u32,
    /// Occupied: position in `values`. Vacant: `VACANT | next free slot`.
    pub(crate) link: u32,
}

/// A pool of `T` values named by [`Handle<T>`]s that never dangle.
///
/// Insert a value, get a handle; look the value up, change it, remove it
/// through the handle. A handle whose value was removed finds nothing
/// (`None`), even after its slot is reused.
///
/// * [`Pool::new`] / [`Pool::with_capacity`] grow as needed and reuse freed
///   slots before growing.
/// * [`Pool::fixed`] allocates once and never again: when it is full,
///   [`try_insert`](Pool::try_insert) hands the value back in a [`PoolFull`].
///
/// Values are stored densely (see the crate docs for the layout):
/// [`iter`](Pool::iter) and [`values`](Pool::values) walk exactly
/// [`len`](Pool::len) packed values whatever the occupancy. The iteration
/// order is unspecified: it is insertion order until the first removal,
/// which moves the last value into the hole.
///
/// # Examples
///
/// ```
/// use tickmem_pool::Pool;
///
/// #[derive(Debug, PartialEq)]
/// struct Bullet { x: f32, vx: f32 }
///
/// let mut bullets = Pool::with_capacity(1024);
/// let a = bullets.insert(Bullet { x: 0.0, vx: 1.0 });
/// let b = bullets.insert(Bullet { x: 5.0, vx: -1.0 });
///
/// for bullet in bullets.values_mut() {
///     bullet.x += bullet.vx;
/// }
/// assert_eq!(bullets[a].x, 1.0);
///
/// assert_eq!(bullets.remove(b), Some(Bullet { x: 4.0, vx: -1.0 }));
/// assert_eq!(bullets.get(b), None); // stale: never matches again
/// assert_eq!(bullets.len(), 1);
/// ```
///
/// A reference into the pool cannot outlive a change to the pool, so a
/// removal can never leave it dangling:
///
/// ```compile_fail
/// let mut pool = tickmem_pool::Pool::new();
/// let h = pool.insert(String::from("x"));
/// let r: &String = pool.get(h).unwrap();
/// pool.remove(h); // error: cannot borrow `pool` as mutable because it is also borrowed as immutable
/// println!("{r}");
/// ```
pub struct Pool<T> {
    pub(crate) values: Vec<T>,
    pub(crate) handles: Vec<Handle<T>>,
    pub(crate) slots: Vec<Slot>,
    /// Head of the free list of vacant slots (LIFO), or `NO_FREE`.
    pub(crate) free_head: u32,
    /// Slots this pool may create: `MAX_SLOTS`, or the capacity of a fixed pool.
    pub(crate) slot_limit: u32,
    pub(crate) fixed: bool,
    /// Slots retired because their generation ran out.
    pub(crate) retired: u32,
    /// Generation of a newly created slot's first value (1, except in tests).
    pub(crate) first_generation: NonZeroU32,
}

impl<T> Pool<T> {
    /// An empty growable pool. Does not allocate until the first insert.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool: tickmem_pool::Pool<u32> = tickmem_pool::Pool::new();
    /// assert!(pool.is_empty());
    /// assert!(!pool.is_fixed());
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self {
            values: Vec::new(),
            handles: Vec::new(),
            slots: Vec::new(),
            free_head: NO_FREE,
            slot_limit: MAX_SLOTS,
            fixed: false,
            retired: 0,
            first_generation: NonZeroU32::MIN,
        }
    }

    /// An empty growable pool with room for at least `capacity` values before
    /// it reallocates.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool: tickmem_pool::Pool<u32> = tickmem_pool::Pool::with_capacity(100);
    /// assert!(pool.capacity() >= 100);
    /// ```
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.min(MAX_SLOTS as usize);
        Self {
            values: Vec::with_capacity(capacity),
            handles: Vec::with_capacity(capacity),
            slots: Vec::with_capacity(capacity),
            ..Self::new()
        }
    }

    /// An empty pool that holds at most `capacity` values and never grows.
    ///
    /// All its memory is allocated here; afterwards no operation calls the
    /// global allocator (except [`Clone`], and what `T` itself does). When it
    /// is full, [`try_insert`](Self::try_insert) returns the value in a
    /// [`PoolFull`] and [`insert`](Self::insert) panics.
    ///
    /// # Panics
    ///
    /// If `capacity` is 2<sup>31</sup> − 1 or more (the handle index space).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = tickmem_pool::Pool::fixed(2);
    /// pool.insert('a');
    /// pool.insert('b');
    /// assert_eq!(pool.try_insert('c').unwrap_err().into_inner(), 'c');
    /// assert_eq!(pool.capacity(), 2);
    /// ```
    #[must_use]
    #[track_caller]
    pub fn fixed(capacity: usize) -> Self {
        assert!(
            capacity < MAX_SLOTS as usize,
            "Pool::<{}>::fixed({capacity}): a pool holds at most {} values",
            type_name::<T>(),
            MAX_SLOTS - 1,
        );
        Self {
            slot_limit: capacity as u32,
            fixed: true,
            ..Self::with_capacity(capacity)
        }
    }

    /// Test aid: slots created from now on give their first value the
    /// generation `first` instead of 1, so tests can reach the end of the
    /// generation range quickly. Not part of the API.
    #[doc(hidden)]
    pub fn __set_first_generation(&mut self, first: NonZeroU32) {
        self.first_generation = first;
    }

    /// Number of live values.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = tickmem_pool::Pool::new();
    /// let h = pool.insert(1);
    /// assert_eq!(pool.len(), 1);
    /// pool.remove(h);
    /// assert_eq!(pool.len(), 0);
    /// ```
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// `true` when the pool holds no value.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = tickmem_pool::Pool::new();
    /// assert!(pool.is_empty());
    /// pool.insert(());
    /// assert!(!pool.is_empty());
    /// ```
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// How many values the pool can hold without allocating: for a fixed
    /// pool, its capacity (less any slot retired after 2<sup>32</sup> uses);
    /// for a growable pool, how far it goes before it reallocates.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = tickmem_pool::Pool::<u8>::fixed(16);
    /// assert_eq!(pool.capacity(), 16);
    /// ```
    #[must_use]
    pub fn capacity(&self) -> usize {
        let retired = self.retired as usize;
        if self.fixed {
            self.slot_limit as usize - retired
        } else {
            let slots = self.slots.capacity().min(self.slot_limit as usize) - retired;
            self.values
                .capacity()
                .min(self.handles.capacity())
                .min(slots)
        }
    }

    /// `true` for a pool made by [`fixed`](Self::fixed).
    ///
    /// # Examples
    ///
    /// ```
    /// use tickmem_pool::Pool;
    /// assert!(Pool::<u8>::fixed(4).is_fixed());
    /// assert!(!Pool::<u8>::with_capacity(4).is_fixed());
    /// ```
    #[inline]
    #[must_use]
    pub fn is_fixed(&self) -> bool {
        self.fixed
    }

    /// Makes room for at least `additional` more values in a growable pool.
    /// Does nothing on a fixed pool (its capacity never changes).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = tickmem_pool::Pool::<u64>::new();
    /// pool.reserve(10);
    /// assert!(pool.capacity() >= 10);
    /// ```
    pub fn reserve(&mut self, additional: usize) {
        if self.fixed {
            return;
        }
        self.values.reserve(additional);
        self.handles.reserve(additional);
        let free = self.slots.len() - self.values.len() - self.retired as usize;
        let new_slots = additional.saturating_sub(free);
        let room = MAX_SLOTS as usize - self.slots.len();
        self.slots.reserve(new_slots.min(room));
    }

    /// Inserts `value` and returns its handle.
    ///
    /// Reuses the most recently freed slot if there is one; otherwise creates
    /// a slot (growing a growable pool as needed).
    ///
    /// # Panics
    ///
    /// When the pool is full: a [fixed](Self::fixed) pool at capacity, or a
    /// growable pool that has used all 2<sup>31</sup> − 1 slot indices. Use
    /// [`try_insert`](Self::try_insert) to get the value back instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = tickmem_pool::Pool::new();
    /// let h = pool.insert("hello");
    /// assert_eq!(pool[h], "hello");
    /// ```
    #[inline]
    #[track_caller]
    pub fn insert(&mut self, value: T) -> Handle<T> {
        let Some(handle) = self.claim_slot() else {
            full_panic::<T>(self.full_capacity())
        };
        self.values.push(value);
        self.handles.push(handle);
        handle
    }

    /// Inserts `value` and returns its handle, or gives `value` back in a
    /// [`PoolFull`] when the pool has no room.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = tickmem_pool::Pool::fixed(1);
    /// let a = pool.try_insert(1).unwrap();
    /// let full = pool.try_insert(2).unwrap_err();
    /// assert_eq!(full.into_inner(), 2);
    /// pool.remove(a);
    /// assert!(pool.try_insert(3).is_ok());
    /// ```
    #[inline]
    pub fn try_insert(&mut self, value: T) -> Result<Handle<T>, PoolFull<T>> {
        match self.claim_slot() {
            Some(handle) => {
                self.values.push(value);
                self.handles.push(handle);
                Ok(handle)
            }
            None => Err(PoolFull {
                value,
                capacity: self.full_capacity(),
            }),
        }
    }

    /// Takes a slot for a value about to be pushed at `values.len()` and
    /// returns its handle, or `None` when the pool is full. The caller pushes
    /// the value and the handle.
    ///
    /// `values` is made to have room first, so those pushes cannot fail after
    /// the slot table has changed. (A fixed pool never grows here: its
    /// `values` were allocated for all of its slots.) The value itself is not
    /// touched here, so it is moved once, straight into `values`.
    #[inline]
    fn claim_slot(&mut self) -> Option<Handle<T>> {
        let dense = self.values.len();
        if dense == self.values.capacity() {
            if self.free_head == NO_FREE && self.slots.len() >= self.slot_limit as usize {
                return None;
            }
            self.grow_dense();
        }
        if let Some(slot) = self.slots.get_mut(self.free_head as usize) {
            let handle = Handle::new(self.free_head, nonzero_generation(slot.generation));
            self.free_head = slot.link & !VACANT;
            slot.link = dense as u32;
            Some(handle)
        } else {
            let index = self.slots.len();
            if index >= self.slot_limit as usize {
                return None;
            }
            self.slots.push(Slot {
                generation: self.first_generation.get(),
                link: dense as u32,
            });
            Some(Handle::new(index as u32, self.first_generation))
        }
    }

    /// The capacity a full pool reports.
    #[cold]
    fn full_capacity(&self) -> usize {
        self.slot_limit as usize - self.retired as usize
    }

    /// Grows `values`, and `handles` to at least the same capacity.
    #[cold]
    #[inline(never)]
    fn grow_dense(&mut self) {
        self.values.reserve(1);
        let want = self.values.capacity().min(MAX_SLOTS as usize);
        self.handles
            .reserve_exact(want.saturating_sub(self.handles.len()));
    }

    /// Position in `values` of `handle`'s value, if it is live.
    #[inline]
    fn dense_index(&self, handle: Handle<T>) -> Option<usize> {
        let slot = self.slots.get(handle.index() as usize)?;
        let dense = slot.link as usize;
        (slot.generation == handle.generation() && dense < self.values.len()).then_some(dense)
    }

    /// The value of `handle`, or `None` if it was removed (or the handle is
    /// from another pool of the same type and names nothing here).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = tickmem_pool::Pool::new();
    /// let h = pool.insert(5);
    /// assert_eq!(pool.get(h), Some(&5));
    /// pool.remove(h);
    /// assert_eq!(pool.get(h), None);
    /// ```
    #[inline]
    #[must_use]
    pub fn get(&self, handle: Handle<T>) -> Option<&T> {
        let slot = self.slots.get(handle.index() as usize)?;
        if slot.generation == handle.generation() {
            // A vacant slot's link has bit 31 set: out of bounds here.
            self.values.get(slot.link as usize)
        } else {
            None
        }
    }

    /// The value of `handle`, mutably, or `None` if it was removed.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = tickmem_pool::Pool::new();
    /// let h = pool.insert(5);
    /// *pool.get_mut(h).unwrap() += 1;
    /// assert_eq!(pool[h], 6);
    /// ```
    #[inline]
    #[must_use]
    pub fn get_mut(&mut self, handle: Handle<T>) -> Option<&mut T> {
        let slot = self.slots.get(handle.index() as usize)?;
        if slot.generation == handle.generation() {
            self.values.get_mut(slot.link as usize)
        } else {
            None
        }
    }

    /// `true` when `handle`'s value is live in this pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = tickmem_pool::Pool::new();
    /// let h = pool.insert('x');
    /// assert!(pool.contains(h));
    /// pool.remove(h);
    /// assert!(!pool.contains(h));
    /// ```
    #[inline]
    #[must_use]
    pub fn contains(&self, handle: Handle<T>) -> bool {
        self.dense_index(handle).is_some()
    }

    /// Mutable references to the values of `N` distinct live handles at once.
    ///
    /// `None` if any handle is stale, or if a handle appears twice (two
    /// `&mut` to one value are never handed out).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = tickmem_pool::Pool::new();
    /// let a = pool.insert(1);
    /// let b = pool.insert(2);
    /// if let Some([x, y]) = pool.get_disjoint_mut([a, b]) {
    ///     std::mem::swap(x, y);
    /// }
    /// assert_eq!((pool[a], pool[b]), (2, 1));
    /// assert!(pool.get_disjoint_mut([a, a]).is_none());
    /// ```
    #[must_use]
    pub fn get_disjoint_mut<const N: usize>(
        &mut self,
        handles: [Handle<T>; N],
    ) -> Option<[&mut T; N]> {
        let mut dense = [0_usize; N];
        for (d, handle) in dense.iter_mut().zip(handles) {
            *d = self.dense_index(handle)?;
        }
        // Distinct live handles have distinct positions, so a repeated
        // position means a repeated handle: `get_disjoint_mut` refuses it.
        self.values.get_disjoint_mut(dense).ok()
    }

    /// Removes `handle`'s value and returns it; `None` if it was already
    /// removed. The slot's generation advances, so `handle` (and every copy
    /// of it) never matches again.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = tickmem_pool::Pool::new();
    /// let h = pool.insert(String::from("gone"));
    /// assert_eq!(pool.remove(h).as_deref(), Some("gone"));
    /// assert_eq!(pool.remove(h), None);
    /// ```
    #[inline]
    pub fn remove(&mut self, handle: Handle<T>) -> Option<T> {
        let dense = self.dense_index(handle)?;
        Some(self.remove_at(handle.index(), dense))
    }

    /// Vacates slot `index` (occupied, its value at `dense`) and returns the
    /// value. The pool is consistent before the value is returned, so the
    /// value's `Drop` may panic without harm.
    #[inline]
    fn remove_at(&mut self, index: u32, dense: usize) -> T {
        self.vacate(index);
        self.handles.swap_remove(dense);
        let value = self.values.swap_remove(dense);
        if let Some(moved) = self.handles.get(dense) {
            self.slots[moved.index() as usize].link = dense as u32;
        }
        value
    }

    /// Marks occupied slot `index` vacant: advances its generation and puts it
    /// on the free list, or retires it if its generation is exhausted.
    #[inline]
    fn vacate(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        if slot.generation == u32::MAX {
            slot.generation = 0;
            slot.link = VACANT | NO_FREE;
            self.retired += 1;
        } else {
            slot.generation += 1;
            slot.link = VACANT | self.free_head;
            self.free_head = index;
        }
    }

    /// Keeps the values for which `keep` returns `true` and removes (drops)
    /// the others. Each live value is visited once, in unspecified order.
    ///
    /// The pool stays consistent if `keep` or a value's `Drop` panics: the
    /// values removed so far are gone, the others stay.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool: tickmem_pool::Pool<i32> = (1..=6).collect();
    /// pool.retain(|_, v| {
    ///     *v *= 10;
    ///     *v % 20 == 0
    /// });
    /// let mut left: Vec<_> = pool.values().copied().collect();
    /// left.sort();
    /// assert_eq!(left, [20, 40, 60]);
    /// ```
    pub fn retain(&mut self, mut keep: impl FnMut(Handle<T>, &mut T) -> bool) {
        let mut dense = 0;
        while let Some(&handle) = self.handles.get(dense) {
            if keep(handle, &mut self.values[dense]) {
                dense += 1;
            } else {
                // The last value moves into `dense`: look at it next.
                drop(self.remove_at(handle.index(), dense));
            }
        }
    }

    /// Removes (drops) every value. Every handle of the pool becomes stale;
    /// the slots are kept for reuse, so a growable pool does not reallocate
    /// to refill to the same size.
    ///
    /// If a value's `Drop` panics, the other values are still dropped and the
    /// pool is left empty and usable.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = tickmem_pool::Pool::new();
    /// let h = pool.insert(1);
    /// pool.clear();
    /// assert!(pool.is_empty() && !pool.contains(h));
    /// ```
    pub fn clear(&mut self) {
        self.vacate_all();
        self.handles.clear();
        // `Vec::clear` sets the length to 0 before dropping, and keeps
        // dropping the rest if one `Drop` panics.
        self.values.clear();
    }

    fn vacate_all(&mut self) {
        for dense in 0..self.handles.len() {
            let index = self.handles[dense].index();
            self.vacate(index);
        }
    }

    /// Removes every value and yields it with its (now stale) handle.
    ///
    /// Every handle is stale as soon as `drain` is called; values not taken
    /// from the iterator are dropped with it. (If the iterator is leaked with
    /// `mem::forget`, the values are leaked too, and the pool is empty.)
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = tickmem_pool::Pool::new();
    /// let h = pool.insert("a");
    /// let drained: Vec<_> = pool.drain().collect();
    /// assert_eq!(drained, [(h, "a")]);
    /// assert!(pool.is_empty() && !pool.contains(h));
    /// ```
    pub fn drain(&mut self) -> Drain<'_, T> {
        self.vacate_all();
        Drain::new(self.handles.drain(..), self.values.drain(..))
    }

    /// Iterates over `(handle, &value)` for every live value, in unspecified
    /// order. Walks exactly [`len`](Self::len) packed values.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = tickmem_pool::Pool::new();
    /// let a = pool.insert(10);
    /// let b = pool.insert(20);
    /// let mut seen: Vec<_> = pool.iter().map(|(h, &v)| (h, v)).collect();
    /// seen.sort();
    /// assert_eq!(seen, [(a, 10), (b, 20)]);
    /// ```
    #[inline]
    pub fn iter(&self) -> Iter<'_, T> {
        Iter::new(self.handles.iter(), self.values.iter())
    }

    /// Iterates over `(handle, &mut value)` for every live value, in
    /// unspecified order.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = tickmem_pool::Pool::new();
    /// let h = pool.insert(1);
    /// for (handle, value) in pool.iter_mut() {
    ///     *value += handle.index() as i32 + 1;
    /// }
    /// assert_eq!(pool[h], 2);
    /// ```
    #[inline]
    pub fn iter_mut(&mut self) -> IterMut<'_, T> {
        IterMut::new(self.handles.iter(), self.values.iter_mut())
    }

    /// Iterates over every live value, in unspecified order (the same order
    /// as [`iter`](Self::iter) and [`handles`](Self::handles)).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool: tickmem_pool::Pool<u32> = [1, 2, 3].into_iter().collect();
    /// assert_eq!(pool.values().sum::<u32>(), 6);
    /// ```
    #[inline]
    pub fn values(&self) -> Values<'_, T> {
        Values::new(self.values.iter())
    }

    /// Iterates mutably over every live value, in unspecified order.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool: tickmem_pool::Pool<u32> = [1, 2, 3].into_iter().collect();
    /// pool.values_mut().for_each(|v| *v *= 2);
    /// assert_eq!(pool.values().sum::<u32>(), 12);
    /// ```
    #[inline]
    pub fn values_mut(&mut self) -> ValuesMut<'_, T> {
        ValuesMut::new(self.values.iter_mut())
    }

    /// Iterates over the handle of every live value, in unspecified order.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = tickmem_pool::Pool::new();
    /// let h = pool.insert(());
    /// assert_eq!(pool.handles().collect::<Vec<_>>(), [h]);
    /// ```
    #[inline]
    pub fn handles(&self) -> Handles<'_, T> {
        Handles::new(self.handles.iter())
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn full_panic<T>(capacity: usize) -> ! {
    panic!("{}", FullMessage::<T>::new(capacity))
}

#[cold]
#[inline(never)]
#[track_caller]
fn stale_panic<T>(handle: Handle<T>) -> ! {
    panic!(
        "stale handle {handle:?} for Pool<{}>: its value was removed, or the handle is from another pool",
        type_name::<T>()
    )
}

/// An occupied slot's generation is never 0 (0 marks a retired slot, which is
/// never on the free list).
#[inline(always)]
fn nonzero_generation(generation: u32) -> NonZeroU32 {
    NonZeroU32::new(generation).unwrap_or(NonZeroU32::MIN)
}

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Clones the values, handles and slot table: every handle valid in `self`
/// is valid in the clone, and a clone of a fixed pool is fixed (and allocated
/// to its full capacity) too.
impl<T: Clone> Clone for Pool<T> {
    fn clone(&self) -> Self {
        let (values, handles, slots) = if self.fixed {
            let capacity = self.slot_limit as usize;
            let mut values = Vec::with_capacity(capacity);
            values.extend_from_slice(&self.values);
            let mut handles = Vec::with_capacity(capacity);
            handles.extend_from_slice(&self.handles);
            let mut slots = Vec::with_capacity(capacity);
            slots.extend_from_slice(&self.slots);
            (values, handles, slots)
        } else {
            (
                self.values.clone(),
                self.handles.clone(),
                self.slots.clone(),
            )
        };
        Self {
            values,
            handles,
            slots,
            free_head: self.free_head,
            slot_limit: self.slot_limit,
            fixed: self.fixed,
            retired: self.retired,
            first_generation: self.first_generation,
        }
    }
}

/// Panics with a message naming the handle and `T` when the handle is stale.
///
/// # Examples
///
/// ```should_panic
/// let mut pool = tickmem_pool::Pool::new();
/// let h = pool.insert(1);
/// pool.remove(h);
/// let _ = pool[h]; // panics: stale handle 0v1 for Pool<i32>
/// ```
impl<T> Index<Handle<T>> for Pool<T> {
    type Output = T;

    #[inline]
    #[track_caller]
    fn index(&self, handle: Handle<T>) -> &T {
        match self.get(handle) {
            Some(value) => value,
            None => stale_panic(handle),
        }
    }
}

/// Panics with a message naming the handle and `T` when the handle is stale.
impl<T> IndexMut<Handle<T>> for Pool<T> {
    #[inline]
    #[track_caller]
    fn index_mut(&mut self, handle: Handle<T>) -> &mut T {
        match self.get_mut(handle) {
            Some(value) => value,
            None => stale_panic(handle),
        }
    }
}

/// Prints the live values as a map from handle to value: `{0v1: 'a'}`.
impl<T: fmt::Debug> fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'a, T> IntoIterator for &'a Pool<T> {
    type Item = (Handle<T>, &'a T);
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<'a, T> IntoIterator for &'a mut Pool<T> {
    type Item = (Handle<T>, &'a mut T);
    type IntoIter = IterMut<'a, T>;

    fn into_iter(self) -> IterMut<'a, T> {
        self.iter_mut()
    }
}

/// Consumes the pool, yielding `(handle, value)` for every live value.
impl<T> IntoIterator for Pool<T> {
    type Item = (Handle<T>, T);
    type IntoIter = IntoIter<T>;

    fn into_iter(self) -> IntoIter<T> {
        IntoIter::new(self.handles.into_iter(), self.values.into_iter())
    }
}

/// A growable pool holding the values in iteration order, with handles
/// `0v1`, `1v1`, ...
impl<T> FromIterator<T> for Pool<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut pool = Self::new();
        pool.extend(iter);
        pool
    }
}

/// Inserts every value (the handles are discarded; use
/// [`insert`](Pool::insert) to keep them). Panics like `insert` when a fixed
/// pool fills up.
impl<T> Extend<T> for Pool<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.reserve(iter.size_hint().0);
        for value in iter {
            self.insert(value);
        }
    }
}
