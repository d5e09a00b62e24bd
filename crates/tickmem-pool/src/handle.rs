//! [`Handle<T>`]: the 8-byte generational name of a value in a [`Pool<T>`](crate::Pool).

use core::cmp::Ordering;
use core::fmt;
use core::hash::{Hash, Hasher};
use core::marker::PhantomData;
use core::num::NonZeroU32;

/// The largest number of slots a pool can have. Slot indices are below this,
/// so bit 31 of a slot's link word is free to mark vacant slots, and
/// `MAX_SLOTS` itself serves as the "no free slot" link.
pub(crate) const MAX_SLOTS: u32 = (1 << 31) - 1;

/// The name of a value in a [`Pool<T>`](crate::Pool): a slot index and the
/// generation the slot had when the value was inserted.
///
/// A handle is 8 bytes (`u32` index + [`NonZeroU32`] generation), and so is
/// `Option<Handle<T>>`. It is `Copy + Eq + Hash + Ord + Debug + Send + Sync`
/// whatever `T` is (it holds no `T`), so it can be stored anywhere: in
/// components, events, other pools, across threads.
///
/// A handle can never dangle: once its value is removed, the slot's
/// generation advances and the handle never matches again
/// ([`Pool::get`](crate::Pool::get) returns `None`), even if the slot is
/// reused. A slot whose generation would wrap around is retired instead of
/// reused.
///
/// The type parameter keeps pools apart: a `Handle<Bullet>` does not
/// type-check against a `Pool<Enemy>`.
///
/// ```compile_fail
/// use tickmem_pool::Pool;
/// struct Bullet;
/// struct Enemy;
/// let mut bullets = Pool::new();
/// let enemies: Pool<Enemy> = Pool::new();
/// let h = bullets.insert(Bullet);
/// let _ = enemies.get(h); // error: expected `Handle<Enemy>`, found `Handle<Bullet>`
/// ```
///
/// (Two pools of the *same* type are not told apart by the type system: a
/// handle from one pool looks up whatever the other pool has in that slot
/// and generation, if anything. Keep one pool per type, or wrap the type.)
///
/// # Examples
///
/// ```
/// use tickmem_pool::{Handle, Pool};
///
/// let mut pool = Pool::new();
/// let h: Handle<&str> = pool.insert("ship");
/// assert_eq!(format!("{h:?}"), "0v1");
/// assert_eq!((h.index(), h.generation()), (0, 1));
/// assert_eq!(Handle::from_bits(h.to_bits()), Some(h));
/// assert_eq!(size_of::<Option<Handle<&str>>>(), 8);
/// ```
pub struct Handle<T> {
    index: u32,
    generation: NonZeroU32,
    _marker: PhantomData<fn() -> T>,
}

impl<T> Handle<T> {
    #[inline(always)]
    pub(crate) const fn new(index: u32, generation: NonZeroU32) -> Self {
        Self {
            index,
            generation,
            _marker: PhantomData,
        }
    }

    /// The slot index (below 2<sup>31</sup> − 1).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = tickmem_pool::Pool::new();
    /// let a = pool.insert('a');
    /// let b = pool.insert('b');
    /// assert_eq!((a.index(), b.index()), (0, 1));
    /// ```
    #[inline(always)]
    #[must_use]
    pub const fn index(self) -> u32 {
        self.index
    }

    /// The generation the slot had when the value was inserted (1 for a
    /// slot's first value; it advances by one on every removal).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = tickmem_pool::Pool::new();
    /// let first = pool.insert(1);
    /// pool.remove(first);
    /// let second = pool.insert(2); // reuses the slot
    /// assert_eq!(first.index(), second.index());
    /// assert_eq!((first.generation(), second.generation()), (1, 2));
    /// ```
    #[inline(always)]
    #[must_use]
    pub const fn generation(self) -> u32 {
        self.generation.get()
    }

    /// The handle as one `u64`: generation in the high 32 bits, index in the
    /// low 32 bits. Inverse of [`from_bits`](Self::from_bits).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = tickmem_pool::Pool::new();
    /// let h = pool.insert(());
    /// assert_eq!(h.to_bits(), (1 << 32) | 0);
    /// ```
    #[inline(always)]
    #[must_use]
    pub const fn to_bits(self) -> u64 {
        ((self.generation.get() as u64) << 32) | self.index as u64
    }

    /// Rebuilds a handle from [`to_bits`](Self::to_bits). `None` when the bits
    /// cannot be a handle any pool issues: generation 0, or an index of
    /// 2<sup>31</sup> − 1 or more.
    ///
    /// A handle made from bits is only as good as the bits: it finds the
    /// value of whatever slot and generation it names.
    ///
    /// # Examples
    ///
    /// ```
    /// use tickmem_pool::Handle;
    ///
    /// let h = Handle::<u8>::from_bits((7 << 32) | 3).unwrap();
    /// assert_eq!(format!("{h:?}"), "3v7");
    /// assert_eq!(Handle::<u8>::from_bits(3), None); // generation 0
    /// assert_eq!(Handle::<u8>::from_bits((1 << 32) | 0xFFFF_FFFF), None);
    /// ```
    #[inline]
    #[must_use]
    pub const fn from_bits(bits: u64) -> Option<Self> {
        let index = bits as u32;
        if index >= MAX_SLOTS {
            return None;
        }
        match NonZeroU32::new((bits >> 32) as u32) {
            Some(generation) => Some(Self::new(index, generation)),
            None => None,
        }
    }
}

impl<T> Clone for Handle<T> {
    #[inline(always)]
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Handle<T> {}

impl<T> PartialEq for Handle<T> {
    #[inline(always)]
    fn eq(&self, other: &Self) -> bool {
        self.to_bits() == other.to_bits()
    }
}

impl<T> Eq for Handle<T> {}

impl<T> PartialOrd for Handle<T> {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Ordered by index, then generation.
impl<T> Ord for Handle<T> {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        (self.index, self.generation).cmp(&(other.index, other.generation))
    }
}

impl<T> Hash for Handle<T> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.to_bits());
    }
}

/// Prints `{index}v{generation}`, e.g. `3v1`.
impl<T> fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}v{}", self.index, self.generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_and_reject_impossible_handles() {
        let h = Handle::<String>::new(MAX_SLOTS - 1, NonZeroU32::MAX);
        assert_eq!(Handle::from_bits(h.to_bits()), Some(h));
        assert_eq!(
            h.to_bits(),
            (u64::from(u32::MAX) << 32) | u64::from(MAX_SLOTS - 1)
        );
        assert_eq!(
            Handle::<String>::from_bits(u64::from(MAX_SLOTS) | 1 << 32),
            None
        );
        assert_eq!(Handle::<String>::from_bits(5), None);
    }

    #[test]
    fn order_is_index_then_generation() {
        let g = |n| NonZeroU32::new(n).unwrap();
        let a = Handle::<()>::new(1, g(9));
        let b = Handle::<()>::new(2, g(1));
        let c = Handle::<()>::new(2, g(2));
        assert!(a < b && b < c);
        let mut v = vec![c, a, b];
        v.sort();
        assert_eq!(v, [a, b, c]);
    }
}
