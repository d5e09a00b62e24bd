//! [`Pool<T>`]: a typed pool whose values live in their slots, with an
//! occupancy bitmap for iteration.
//!
//! # Layout
//!
//! ```text
//! slots:    Vec<Slot<T>>  { value: MaybeUninit<T>, generation: u32, link: u32 } per slot ever used
//!                         occupied: generation of the value's handle, link = 0, value initialised
//!                         vacant:   generation the next value gets, link = VACANT | next free slot
//!                         retired:  generation 0, link = VACANT | NO_FREE
//! occupied: Vec<u64>      bit i set <=> slot i holds a value, for i < bits_end
//! bits_end: u32           slots bits_end..slots.len() (the tail) all hold values
//! ```
//!
//! A handle names a slot, and the value is in that slot: `get` is one bounds
//! check, one 8-byte compare (generation and link together: a vacant slot's
//! link is never 0, so even a forged handle carrying the generation a vacant
//! slot will give next does not match) and the value's address. No second
//! array, no second load: the same work as slotmap's `SlotMap`.
//!
//! Iteration walks the bitmap: a word per 64 slots, a `trailing_zeros` per
//! live value, and words with all 64 slots live are walked as a plain range.
//! Vacant slots are never touched.
//!
//! A value pushed onto a new slot at the end of the table sets no bit: it
//! joins the *tail*, the slots from `bits_end` on, which all hold values
//! (they were appended and none was removed since). Iteration walks the tail
//! as a plain range after the bitmap. The first removal of a tail slot (and
//! `retain`, `drain`, `into_iter`) writes the tail's bits first, a word at a
//! time, and moves `bits_end` to the end of the table. So filling a pool
//! costs no bitmap work, and a pool that was only ever filled iterates like
//! a slice.
//!
//! # Invariants (what the `unsafe` blocks rely on)
//!
//! 1. For `i < bits_end`, bit `i` of `occupied` is set **iff** slot `i`
//!    exists and is occupied; every slot `i` with
//!    `bits_end <= i < slots.len()` is occupied; bits at or above `bits_end`
//!    are 0; and an occupied slot's `value` is initialised. (`occupied` may
//!    have fewer words than `bits_end / 64` rounded up only where every slot
//!    past its end is vacant: after a leaked [`Drain`].) `bits_end <=
//!    slots.len()`.
//! 2. The number of set bits plus the length of the tail is `len`.
//! 3. An occupied slot's `link` is `OCCUPIED` (0) and its `generation` is not
//!    0; a vacant slot's `link` has bit 31 set. (So free slots, which are
//!    vacant, are all below `bits_end`.)
//!
//! Every change keeps them before any user code runs (a value's `Drop` or
//! `Clone`, a `retain` predicate): a value is marked vacant before it is
//! dropped, and marked occupied only after it is written.
//!
//! # Generations
//!
//! An occupied slot's generation is the generation of its value's handle. On
//! removal it advances by one, so the removed handle no longer matches; the
//! next value in that slot gets the new generation. A slot whose generation
//! is `u32::MAX` is retired on removal (generation 0, which no handle has)
//! and never enters the free list again.

use core::any::type_name;
use core::fmt;
use core::mem::{self, MaybeUninit};
use core::num::NonZeroU32;
use core::ops::{Index, IndexMut};
use std::collections::TryReserveError;

use crate::bits::{BitCursor, WORD_BITS};
use crate::error::{CapacityError, CapacityReason, FullMessage, PoolFull};
use crate::handle::{Handle, MAX_SLOTS};
use crate::iter::{Drain, Handles, IntoIter, Iter, IterMut, Values, ValuesMut};

/// Bit 31 of a slot's link marks a vacant slot.
pub(crate) const VACANT: u32 = 1 << 31;
/// The link of an occupied slot.
pub(crate) const OCCUPIED: u32 = 0;
/// Free-list terminator (not a valid slot index).
pub(crate) const NO_FREE: u32 = MAX_SLOTS;

/// One slot: a value (if occupied) with its generation. `repr(C)` keeps
/// `generation` and `link` adjacent, so `holds` compares them as one word.
///
/// The value comes first so that writing it is a plain copy to the slot's
/// start (with the metadata first, the compiler copied 32-byte values
/// through misaligned, overlapping stack stores and stalled on them).
#[repr(C)]
pub(crate) struct Slot<T> {
    /// Initialised exactly when the slot is occupied.
    pub(crate) value: MaybeUninit<T>,
    /// Occupied: the generation of the live value's handle. Vacant: the
    /// generation the next value will get, or 0 when the slot is retired.
    pub(crate) generation: u32,
    /// Occupied: `OCCUPIED`. Vacant: `VACANT | next free slot`.
    pub(crate) link: u32,
}

impl<T> Slot<T> {
    /// A vacant slot that is on no free list (yet).
    #[cfg(feature = "serde")]
    #[inline]
    pub(crate) const fn vacant(generation: u32) -> Self {
        Self {
            generation,
            link: VACANT | NO_FREE,
            value: MaybeUninit::uninit(),
        }
    }

    /// `true` when the slot is occupied by the value of generation
    /// `generation`.
    #[inline(always)]
    pub(crate) fn holds(&self, generation: u32) -> bool {
        // One 64-bit compare: (link, generation) == (OCCUPIED, generation).
        (u64::from(self.link) << 32 | u64::from(self.generation)) == u64::from(generation)
    }

    #[inline(always)]
    pub(crate) fn is_occupied(&self) -> bool {
        self.link == OCCUPIED
    }
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
/// Each value lives in its slot, next to its generation: a lookup is one
/// compare and one address computation. [`iter`](Pool::iter) and
/// [`values`](Pool::values) walk an occupancy bitmap, so they touch only live
/// slots whatever the occupancy. The iteration order is slot order (the
/// order of [`Handle::index`]).
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
    pub(crate) slots: Vec<Slot<T>>,
    /// Occupancy bitmap of the slots below `bits_end`: see the module docs'
    /// invariants. Growth keeps it covering the slot table's capacity, so
    /// writing the tail's bits does not allocate.
    pub(crate) occupied: Vec<u64>,
    /// Slots from here to the end of the table are the tail: all occupied,
    /// with no bits set yet.
    pub(crate) bits_end: u32,
    /// Live values (set bits of `occupied`).
    pub(crate) len: u32,
    /// Head of the free list of vacant slots (LIFO), or `NO_FREE`.
    pub(crate) free_head: u32,
    /// Slots this pool may create: `MAX_SLOTS`, or the capacity of a fixed pool.
    pub(crate) slot_limit: u32,
    /// Slots retired because their generation ran out.
    pub(crate) retired: u32,
    pub(crate) fixed: bool,
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
            slots: Vec::new(),
            occupied: Vec::new(),
            bits_end: 0,
            len: 0,
            free_head: NO_FREE,
            slot_limit: MAX_SLOTS,
            retired: 0,
            fixed: false,
            first_generation: NonZeroU32::MIN,
        }
    }

    /// An empty growable pool with room for at least `capacity` values before
    /// it reallocates.
    ///
    /// # Panics
    ///
    /// Before allocating anything, if `capacity` is more than a pool can hold
    /// (2<sup>31</sup> − 1 values) or its slot table would not fit the
    /// address space; if the global allocator refuses the memory. Use
    /// [`try_with_capacity`](Self::try_with_capacity) to get an error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool: tickmem_pool::Pool<u32> = tickmem_pool::Pool::with_capacity(100);
    /// assert!(pool.capacity() >= 100);
    /// ```
    ///
    /// ```should_panic
    /// // panics: "Pool<u8>: no room for 18446744073709551615 values: this pool holds at most 2147483647 values"
    /// let _ = tickmem_pool::Pool::<u8>::with_capacity(usize::MAX);
    /// ```
    #[must_use]
    #[track_caller]
    pub fn with_capacity(capacity: usize) -> Self {
        Self::try_with_capacity(capacity).unwrap_or_else(|e| capacity_panic(&e))
    }

    /// [`with_capacity`](Self::with_capacity) that returns an error instead of
    /// panicking (nothing is allocated then).
    ///
    /// # Errors
    ///
    /// [`CapacityError`] when `capacity` is more than 2<sup>31</sup> − 1, when
    /// the slot table would not fit the address space, or when the allocator
    /// refuses the memory.
    ///
    /// # Examples
    ///
    /// ```
    /// use tickmem_pool::Pool;
    /// assert!(Pool::<u8>::try_with_capacity(64).is_ok());
    /// assert!(Pool::<u8>::try_with_capacity(1 << 31).is_err());
    /// // 2^30 slots of 1 TiB each: more than the address space.
    /// assert!(Pool::<[u8; 1 << 40]>::try_with_capacity(1 << 30).is_err());
    /// ```
    pub fn try_with_capacity(capacity: usize) -> Result<Self, CapacityError> {
        let mut pool = Self::new();
        pool.try_grow_to(capacity, capacity, false)?;
        Ok(pool)
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
    /// Before allocating anything, if `capacity` is more than 2<sup>31</sup> −
    /// 1 (the handle index space) or its slot table would not fit the address
    /// space; if the global allocator refuses the memory. Use
    /// [`try_fixed`](Self::try_fixed) to get an error instead.
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
        Self::try_fixed(capacity).unwrap_or_else(|e| capacity_panic(&e))
    }

    /// [`fixed`](Self::fixed) that returns an error instead of panicking
    /// (nothing is allocated then).
    ///
    /// # Errors
    ///
    /// [`CapacityError`] when `capacity` is more than 2<sup>31</sup> − 1, when
    /// the slot table would not fit the address space, or when the allocator
    /// refuses the memory.
    ///
    /// # Examples
    ///
    /// ```
    /// use tickmem_pool::Pool;
    /// assert_eq!(Pool::<u8>::try_fixed(3).unwrap().capacity(), 3);
    /// let err = Pool::<u8>::try_fixed(usize::MAX).unwrap_err();
    /// assert!(err.to_string().contains("at most 2147483647 values"));
    /// ```
    pub fn try_fixed(capacity: usize) -> Result<Self, CapacityError> {
        let mut pool = Self::new();
        pool.try_grow_to(capacity, capacity, true)?;
        pool.slot_limit = capacity as u32; // checked by `try_grow_to`
        pool.fixed = true;
        Ok(pool)
    }

    /// A fixed pool of capacity `capacity` with no memory reserved yet: it
    /// grows on demand up to `capacity` (what a deserializer builds, so that
    /// untrusted data cannot make it reserve more than the data holds).
    #[cfg(feature = "serde")]
    pub(crate) fn fixed_lazy(capacity: u32) -> Self {
        debug_assert!(capacity <= MAX_SLOTS);
        let mut pool = Self::new();
        pool.slot_limit = capacity;
        pool.fixed = true;
        pool
    }

    /// Puts `value` into vacant slot `index` (which exists) as the value of
    /// generation `generation`, off any free list. For the deserializer,
    /// which builds the free list afterwards.
    #[cfg(feature = "serde")]
    pub(crate) fn place(&mut self, index: u32, generation: NonZeroU32, value: T) {
        let slot = &mut self.slots[index as usize];
        debug_assert!(!slot.is_occupied());
        slot.generation = generation.get();
        slot.value.write(value);
        slot.link = OCCUPIED;
        self.len += 1;
        self.set_bit(index as usize);
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
        self.len as usize
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
        self.len == 0
    }

    /// How many values the pool can hold: for a fixed pool, its capacity
    /// (less any slot retired after 2<sup>32</sup> − 1 uses); for a growable
    /// pool, how far it goes before it reallocates.
    ///
    /// A fixed pool made by [`fixed`](Self::fixed) has all of it allocated;
    /// one loaded with serde allocates only what its data holds and grows
    /// on demand up to its capacity (call [`reserve`](Self::reserve) to
    /// allocate the rest up front).
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
            let bits = self.occupied.capacity().saturating_mul(WORD_BITS);
            self.slots
                .capacity()
                .min(bits)
                .min(self.slot_limit as usize)
                - retired
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

    /// Makes room for at least `additional` more values, so that the next
    /// `additional` inserts do not allocate. On a fixed pool, allocates what
    /// is not allocated yet (see [`capacity`](Self::capacity)).
    ///
    /// # Panics
    ///
    /// Before allocating anything, if the pool can never hold
    /// `len() + additional` values (a fixed pool's capacity, or 2<sup>31</sup>
    /// − 1 values) or the slot table would not fit the address space; if the
    /// allocator refuses the memory. Use [`try_reserve`](Self::try_reserve) to
    /// get an error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = tickmem_pool::Pool::<u64>::new();
    /// pool.reserve(10);
    /// assert!(pool.capacity() >= 10);
    /// ```
    #[track_caller]
    pub fn reserve(&mut self, additional: usize) {
        if let Err(e) = self.try_reserve(additional) {
            capacity_panic(&e)
        }
    }

    /// [`reserve`](Self::reserve) that returns an error instead of panicking
    /// (nothing is allocated then).
    ///
    /// # Errors
    ///
    /// [`CapacityError`] when the pool can never hold `len() + additional`
    /// values, when the slot table would not fit the address space, or when
    /// the allocator refuses the memory.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = tickmem_pool::Pool::<u64>::fixed(4);
    /// pool.insert(1);
    /// assert!(pool.try_reserve(3).is_ok());
    /// assert_eq!(pool.try_reserve(4).unwrap_err().requested(), 5);
    /// ```
    pub fn try_reserve(&mut self, additional: usize) -> Result<(), CapacityError> {
        let free = self.slots.len() - self.len() - self.retired as usize;
        let new_slots = additional.saturating_sub(free);
        let total = self.slots.len().saturating_add(new_slots);
        let requested = self.len().saturating_add(additional);
        self.try_grow_to(total, requested, self.fixed)
    }

    /// Makes the slot table and the bitmap hold `total_slots` slots without
    /// reallocating; `requested` (values) is what the error reports.
    fn try_grow_to(
        &mut self,
        total_slots: usize,
        requested: usize,
        exact: bool,
    ) -> Result<(), CapacityError> {
        let error = |reason| CapacityError {
            type_name: type_name::<T>(),
            requested,
            reason,
        };
        let limit = self.slot_limit as usize;
        if total_slots > limit {
            let max = limit - self.retired as usize;
            return Err(error(CapacityReason::TooMany { max }));
        }
        let additional = total_slots.saturating_sub(self.slots.len());
        if additional == 0 {
            return Ok(());
        }
        let bytes = total_slots
            .checked_mul(size_of::<Slot<T>>())
            .filter(|&b| b <= isize::MAX as usize)
            .ok_or_else(|| error(CapacityReason::Alloc { bytes: None }))?;
        let reserved = if exact {
            self.slots.try_reserve_exact(additional)
        } else {
            self.slots.try_reserve(additional)
        };
        reserved
            .and_then(|()| self.try_cover_capacity())
            .map_err(|_| error(CapacityReason::Alloc { bytes: Some(bytes) }))
    }

    /// Makes the bitmap cover the slot table's capacity (zero words), so
    /// that writing the tail's bits does not allocate.
    fn try_cover_capacity(&mut self) -> Result<(), TryReserveError> {
        let words = self.slots.capacity().div_ceil(WORD_BITS);
        if let Some(extra) = words.checked_sub(self.occupied.len()).filter(|&n| n > 0) {
            self.occupied.try_reserve_exact(extra)?;
            self.occupied.resize(words, 0);
        }
        Ok(())
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
        let index = self.free_head;
        if let Some(slot) = self.slots.get_mut(index as usize) {
            // The free list holds vacant, unretired slots: generation != 0.
            let generation = nonzero_generation(slot.generation);
            self.free_head = slot.link & !VACANT;
            slot.value.write(value);
            slot.link = OCCUPIED;
            self.len += 1;
            // A free slot is vacant, so below the tail (invariant 3).
            self.set_bit(index as usize);
            return Handle::new(index, generation);
        }
        if self.slots.len() >= self.slot_limit as usize {
            full_panic(value, self.full_capacity())
        }
        self.push_slot(value)
    }

    /// Inserts `value` and returns its handle, or gives `value` back in a
    /// [`PoolFull`] when the pool has no room (or, for a growable pool, when
    /// the global allocator refuses to grow it: `try_insert` never panics or
    /// aborts for lack of memory).
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
        if self.free_head == NO_FREE {
            if self.slots.len() >= self.slot_limit as usize {
                return Err(PoolFull {
                    value,
                    capacity: self.full_capacity(),
                });
            }
            if self.try_room_to_push().is_err() {
                return Err(PoolFull {
                    value,
                    capacity: self.capacity(),
                });
            }
        }
        Ok(self.insert_with_room(value))
    }

    // (`insert` and `try_insert` do not call one another: a value passed
    // through a `Result` was copied through the stack in overlapping pieces
    // that stalled on store forwarding, tripling the cost of `insert`.)

    /// Makes sure a new slot can be pushed without allocating, asking the
    /// allocator without aborting if it refuses.
    #[inline]
    fn try_room_to_push(&mut self) -> Result<(), TryReserveError> {
        if self.slots.len() == self.slots.capacity() {
            self.try_grow_for_push()?;
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn try_grow_for_push(&mut self) -> Result<(), TryReserveError> {
        self.slots.try_reserve(1)?;
        self.try_cover_capacity()
    }

    /// Inserts `value` into the most recently freed slot, or else into a new
    /// slot. The caller checked that there is room.
    #[inline(always)]
    fn insert_with_room(&mut self, value: T) -> Handle<T> {
        let index = self.free_head;
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return self.push_slot(value);
        };
        // The free list holds vacant, unretired slots: generation != 0.
        let generation = nonzero_generation(slot.generation);
        self.free_head = slot.link & !VACANT;
        slot.value.write(value);
        slot.link = OCCUPIED;
        self.len += 1;
        // A free slot is vacant, so below the tail (invariant 3).
        self.set_bit(index as usize);
        Handle::new(index, generation)
    }

    /// Inserts `value` into a new slot at the end of the table, which joins
    /// the tail (no bit to set). The caller checked that the table may grow.
    #[inline(always)]
    fn push_slot(&mut self, value: T) -> Handle<T> {
        if self.slots.len() == self.slots.capacity() {
            return self.push_slot_growing(value);
        }
        let index = self.slots.len();
        debug_assert!(index < self.slot_limit as usize);
        let generation = self.first_generation;
        // Within capacity: no allocation (and the compiler drops `push`'s
        // own capacity check).
        self.slots.push(Slot {
            value: MaybeUninit::new(value),
            generation: generation.get(),
            link: OCCUPIED,
        });
        self.len += 1;
        Handle::new(index as u32, generation)
    }

    /// `push_slot` on a full table: grows the table (amortised) and the
    /// bitmap with it, then pushes.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn push_slot_growing(&mut self, value: T) -> Handle<T> {
        self.slots.reserve(1);
        if let Err(e) = self.try_cover_capacity() {
            alloc_failure(e)
        }
        self.push_slot(value)
    }

    /// Writes the tail's bits and ends the tail (invariant 1 holds before and
    /// after). Called before a tail slot is vacated, and by `retain`, which
    /// walks the bitmap itself. Allocates only when the bitmap does not cover
    /// the table (after a leaked [`Drain`]).
    #[cold]
    #[inline(never)]
    fn write_tail_bits(&mut self) {
        let (mut index, end) = (self.bits_end as usize, self.slots.len());
        if index >= end {
            return;
        }
        let words = end.div_ceil(WORD_BITS);
        if self.occupied.len() < words {
            self.occupied.resize(words, 0);
        }
        while index < end {
            let word = index / WORD_BITS;
            let low = index % WORD_BITS;
            let high = (end - word * WORD_BITS).min(WORD_BITS);
            // Bits `low..high` of the word (`high > low`).
            self.occupied[word] |= (u64::MAX >> (WORD_BITS - (high - low))) << low;
            index = word * WORD_BITS + high;
        }
        self.bits_end = end as u32;
    }

    /// Marks slot `index` occupied in the bitmap.
    #[inline(always)]
    fn set_bit(&mut self, index: usize) {
        match self.occupied.get_mut(index / WORD_BITS) {
            Some(word) => *word |= 1 << (index % WORD_BITS),
            None => self.set_bit_growing(index),
        }
    }

    /// `set_bit` when the bitmap has no word for `index` yet: it grows (with
    /// zeros: every slot past its end is vacant).
    #[cold]
    #[inline(never)]
    fn set_bit_growing(&mut self, index: usize) {
        self.occupied.resize(index / WORD_BITS + 1, 0);
        self.occupied[index / WORD_BITS] |= 1 << (index % WORD_BITS);
    }

    /// Marks slot `index` vacant in the bitmap.
    ///
    /// # Safety
    ///
    /// Bit `index` is set: the slot was occupied and below the tail, so by
    /// invariant 1 its bit is set, and a set bit's word exists.
    #[inline(always)]
    unsafe fn clear_bit(&mut self, index: usize) {
        debug_assert!(index < self.bits_end as usize);
        debug_assert!(
            self.occupied
                .get(index / WORD_BITS)
                .is_some_and(|word| word >> (index % WORD_BITS) & 1 == 1)
        );
        // SAFETY: the word of a set bit exists (caller).
        let word = unsafe { self.occupied.get_unchecked_mut(index / WORD_BITS) };
        *word &= !(1 << (index % WORD_BITS));
    }

    /// The capacity a full pool reports.
    #[cold]
    fn full_capacity(&self) -> usize {
        self.slot_limit as usize - self.retired as usize
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
        if slot.holds(handle.generation()) {
            // SAFETY: an occupied slot's value is initialised (invariant 1),
            // and the shared borrow of `self` keeps it from being removed.
            Some(unsafe { slot.value.assume_init_ref() })
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
        let slot = self.slots.get_mut(handle.index() as usize)?;
        if slot.holds(handle.generation()) {
            // SAFETY: an occupied slot's value is initialised (invariant 1),
            // and the borrow of `self` keeps it from being removed.
            Some(unsafe { slot.value.assume_init_mut() })
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
        self.slots
            .get(handle.index() as usize)
            .is_some_and(|slot| slot.holds(handle.generation()))
    }

    /// Mutable references to the values of `N` distinct live handles at once.
    ///
    /// `None` if any handle is stale, or if two handles name the same slot
    /// (two `&mut` to one value are never handed out).
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
        // Refuses out-of-range and repeated indices.
        let slots = self
            .slots
            .get_disjoint_mut(handles.map(|h| h.index() as usize))
            .ok()?;
        if !slots
            .iter()
            .zip(handles)
            .all(|(slot, h)| slot.holds(h.generation()))
        {
            return None;
        }
        // SAFETY: every slot holds a live value (checked just above), so its
        // value is initialised (invariant 1); the slots are distinct.
        Some(slots.map(|slot| unsafe { slot.value.assume_init_mut() }))
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
        let index = handle.index();
        if index >= self.bits_end {
            // Before anything changes: a tail slot is about to be vacated
            // (or the handle names no live slot, and this is harmless).
            self.write_tail_bits();
        }
        let slot = self.slots.get_mut(index as usize)?;
        if !slot.holds(handle.generation()) {
            return None;
        }
        // SAFETY: the slot is occupied, so its value is initialised; it is
        // marked vacant right below, so the value is never read again.
        let value = unsafe { slot.value.assume_init_read() };
        // `vacate`, without indexing the slot table again.
        if slot.generation == u32::MAX {
            slot.generation = 0;
            slot.link = VACANT | NO_FREE;
            self.retired += 1;
        } else {
            slot.generation += 1;
            slot.link = VACANT | self.free_head;
            self.free_head = index;
        }
        self.len -= 1;
        // SAFETY: the slot held the value, and it is below the tail (the
        // tail's bits were written above if it was in it): its bit is set.
        unsafe { self.clear_bit(index as usize) };
        Some(value)
    }

    /// Marks occupied slot `index` vacant, its value already moved out:
    /// advances its generation and puts it on the free list (or retires it
    /// if its generation is exhausted), and clears its bit.
    ///
    /// # Safety
    ///
    /// Slot `index` is occupied (still marked so) and below the tail: its
    /// bit is set.
    #[inline]
    unsafe fn vacate(&mut self, index: u32) {
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
        self.len -= 1;
        // SAFETY: the slot was occupied and below the tail (caller): its bit
        // is set.
        unsafe { self.clear_bit(index as usize) };
    }

    /// Keeps the values for which `keep` returns `true` and removes (drops)
    /// the others. Each live value is visited once, in slot order.
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
    /// let left: Vec<_> = pool.values().copied().collect();
    /// assert_eq!(left, [20, 40, 60]);
    /// ```
    pub fn retain(&mut self, mut keep: impl FnMut(Handle<T>, &mut T) -> bool) {
        // Every live slot gets a bit, so the walk below sees them all and
        // `vacate` only clears bits.
        self.write_tail_bits();
        for word_index in 0..self.occupied.len() {
            // A copy: removals below clear bits of the live word.
            let mut word = self.occupied[word_index];
            while word != 0 {
                let index = word_index * WORD_BITS + word.trailing_zeros() as usize;
                word &= word - 1;
                let slot = &mut self.slots[index];
                let handle = Handle::new(index as u32, nonzero_generation(slot.generation));
                // SAFETY: bit `index` is set, so the slot is occupied and its
                // value initialised (invariant 1).
                let value = unsafe { slot.value.assume_init_mut() };
                if !keep(handle, value) {
                    // SAFETY: as above; `vacate` marks the slot vacant before
                    // the value is dropped, so a panicking `Drop` leaves the
                    // pool consistent and never drops it twice.
                    let value = unsafe { slot.value.assume_init_read() };
                    // SAFETY: bit `index` is set (the tail's bits were
                    // written before the walk, and only this walk clears
                    // bits, each once): occupied and below the tail.
                    unsafe { self.vacate(index as u32) };
                    drop(value);
                }
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
        drop(self.drain());
    }

    /// Removes every value and yields it with its (now stale) handle, in slot
    /// order.
    ///
    /// Every handle is stale as soon as `drain` is called; values not taken
    /// from the iterator are dropped with it (if one's `Drop` panics, the
    /// rest are still dropped). If the iterator is leaked with
    /// `mem::forget`, the values are leaked too, and the pool is empty.
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
        let (in_use, cursor) = live(&self.occupied, self.bits_end, self.slots.len(), self.len);
        let in_use = in_use.len();
        // The drain owns the bitmap from here: if it is leaked, the pool is
        // left with no bitmap and every slot vacant, so no tail (invariant 1
        // holds once the loop below has run; no user code runs before).
        let words = mem::take(&mut self.occupied);
        self.bits_end = self.slots.len() as u32;
        // Vacate every slot (its value now belongs to the drain).
        let mut vacating = cursor.clone();
        while let Some(index) = vacating.next(&words[..in_use]) {
            let slot = &mut self.slots[index];
            if slot.generation == u32::MAX {
                slot.generation = 0;
                slot.link = VACANT | NO_FREE;
                self.retired += 1;
            } else {
                slot.generation += 1;
                slot.link = VACANT | self.free_head;
                self.free_head = index as u32;
            }
        }
        self.len = 0;
        Drain::new(&mut self.slots, &mut self.occupied, words, cursor)
    }

    /// Iterates over `(handle, &value)` for every live value, in slot order.
    /// Touches only live slots (see the type docs).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = tickmem_pool::Pool::new();
    /// let a = pool.insert(10);
    /// let b = pool.insert(20);
    /// let seen: Vec<_> = pool.iter().map(|(h, &v)| (h, v)).collect();
    /// assert_eq!(seen, [(a, 10), (b, 20)]);
    /// ```
    #[inline]
    pub fn iter(&self) -> Iter<'_, T> {
        let (words, cursor) = live(&self.occupied, self.bits_end, self.slots.len(), self.len);
        Iter::new(&self.slots, words, cursor)
    }

    /// Iterates over `(handle, &mut value)` for every live value, in slot
    /// order.
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
        let (words, cursor) = live(&self.occupied, self.bits_end, self.slots.len(), self.len);
        IterMut::new(&mut self.slots, words, cursor)
    }

    /// Iterates over every live value, in slot order (the same order as
    /// [`iter`](Self::iter) and [`handles`](Self::handles)).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool: tickmem_pool::Pool<u32> = [1, 2, 3].into_iter().collect();
    /// assert_eq!(pool.values().sum::<u32>(), 6);
    /// ```
    #[inline]
    pub fn values(&self) -> Values<'_, T> {
        let (words, cursor) = live(&self.occupied, self.bits_end, self.slots.len(), self.len);
        Values::new(&self.slots, words, cursor)
    }

    /// Iterates mutably over every live value, in slot order: the fastest
    /// way to update every value.
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
        let (words, cursor) = live(&self.occupied, self.bits_end, self.slots.len(), self.len);
        ValuesMut::new(&mut self.slots, words, cursor)
    }

    /// Iterates over the handle of every live value, in slot order.
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
        let (words, cursor) = live(&self.occupied, self.bits_end, self.slots.len(), self.len);
        Handles::new(&self.slots, words, cursor)
    }
}

/// The bitmap words in use (those below `bits_end`) and a cursor over every
/// live slot: their set bits, then the tail `bits_end..slots_len`.
#[inline(always)]
fn live(occupied: &[u64], bits_end: u32, slots_len: usize, len: u32) -> (&[u64], BitCursor) {
    let bits_end = bits_end as usize;
    let words = &occupied[..bits_end.div_ceil(WORD_BITS).min(occupied.len())];
    let tail = bits_end..slots_len;
    // Invariant 2: the set bits are `len` minus the tail.
    let ones = len as usize - tail.len();
    (words, BitCursor::new(words, ones, tail))
}

/// The allocator refused to grow a growable pool's bitmap.
#[cold]
#[track_caller]
fn alloc_failure(error: TryReserveError) -> ! {
    panic!("Pool: cannot grow the occupancy bitmap: {error}")
}

#[cold]
#[inline(never)]
#[track_caller]
fn full_panic<T>(value: T, capacity: usize) -> ! {
    drop(value); // dropped before the panic starts
    panic!("{}", FullMessage::<T>::new(capacity))
}

#[cold]
#[inline(never)]
#[track_caller]
fn capacity_panic(error: &CapacityError) -> ! {
    panic!("{error}")
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

/// An occupied (or free-listed) slot's generation is never 0 (0 marks a
/// retired slot, which is neither occupied nor on the free list).
#[inline(always)]
pub(crate) fn nonzero_generation(generation: u32) -> NonZeroU32 {
    NonZeroU32::new(generation).unwrap_or(NonZeroU32::MIN)
}

/// Drops every live value. If one's `Drop` panics, the others are still
/// dropped (a second panic aborts, as for `Vec`).
impl<T> Drop for Pool<T> {
    fn drop(&mut self) {
        if mem::needs_drop::<T>() && self.len != 0 {
            self.clear();
        }
    }
}

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Clones the values, generations and free list: every handle valid in
/// `self` is valid in the clone, and a clone of a fixed pool is fixed (with
/// as much memory allocated as the original) too.
///
/// If a value's `Clone` panics, the values cloned so far are dropped and
/// `self` is untouched.
impl<T: Clone> Clone for Pool<T> {
    fn clone(&self) -> Self {
        let mut clone = Self::new();
        // A fixed pool's clone has as much allocated as the original (all of
        // it for `Pool::fixed`; what the data held for a deserialized one, so
        // cloning untrusted data cannot reserve the capacity it claims).
        clone.slots = Vec::with_capacity(if self.fixed {
            self.slots.capacity().min(self.slot_limit as usize)
        } else {
            self.slots.len()
        });
        // Bits are set only once a value is written, and every pushed slot
        // is below `bits_end` (no tail), so if `T::clone` panics the clone's
        // `Drop` drops exactly the values cloned so far.
        clone
            .occupied
            .resize(clone.slots.capacity().div_ceil(WORD_BITS), 0);
        for (index, slot) in self.slots.iter().enumerate() {
            if slot.is_occupied() {
                // SAFETY: an occupied slot's value is initialised (invariant 1).
                let value = unsafe { slot.value.assume_init_ref() }.clone();
                clone.slots.push(Slot {
                    generation: slot.generation,
                    link: OCCUPIED,
                    value: MaybeUninit::new(value),
                });
                clone.len += 1;
                clone.set_bit(index);
            } else {
                clone.slots.push(Slot {
                    generation: slot.generation,
                    link: slot.link,
                    value: MaybeUninit::uninit(),
                });
            }
            // No tail: every slot is described by the bitmap.
            clone.bits_end = clone.slots.len() as u32;
        }
        clone.free_head = self.free_head;
        clone.slot_limit = self.slot_limit;
        clone.retired = self.retired;
        clone.fixed = self.fixed;
        clone.first_generation = self.first_generation;
        clone
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

/// Consumes the pool, yielding `(handle, value)` for every live value, in
/// slot order.
impl<T> IntoIterator for Pool<T> {
    type Item = (Handle<T>, T);
    type IntoIter = IntoIter<T>;

    fn into_iter(mut self) -> IntoIter<T> {
        let (_, cursor) = live(&self.occupied, self.bits_end, self.slots.len(), self.len);
        self.len = 0;
        self.bits_end = 0;
        // `self` is left with no slots and no bits: its `Drop` does nothing.
        IntoIter::new(
            mem::take(&mut self.slots),
            mem::take(&mut self.occupied),
            cursor,
        )
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
/// [`insert`](Pool::insert) to keep them). Panics like `insert` when the
/// pool fills up.
impl<T> Extend<T> for Pool<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        // Reserve what the iterator promises, but never more than the pool
        // can hold: a too-long iterator fails at the insert that finds the
        // pool full, after filling it.
        let room = self.slot_limit as usize - self.retired as usize - self.len();
        let _ = self.try_reserve(iter.size_hint().0.min(room));
        for value in iter {
            self.insert(value);
        }
    }
}
