//! The `pool` bench's containers behind one trait, shared by the criterion
//! bench (`benches/pool.rs`) and the instruction-count example
//! (`examples/pool_instructions.rs`), so both measure the same code.
//!
//! T is a 32-byte struct, `N` = 10,000 items, access order a seeded
//! permutation.

use slotmap::{DefaultKey, DenseSlotMap, SlotMap};
use tickmem_pool::{Handle, Pool};

use crate::SplitMix64;

/// Items per container.
pub const N: usize = 10_000;
/// Seed of the items and of the access order.
pub const SEED: u64 = 0x5EED_0004;

/// The 32-byte value stored in every container; benches sum `a()`.
#[derive(Debug, Clone, Copy)]
pub struct Item(pub [u64; 4]);

impl Item {
    /// The field the benches sum.
    #[inline(always)]
    pub fn a(&self) -> u64 {
        self.0[0]
    }
}

const _: () = assert!(size_of::<Item>() == 32);

/// `N` seeded items.
pub fn items() -> Vec<Item> {
    let mut rng = SplitMix64::new(SEED);
    (0..N)
        .map(|_| {
            Item([
                rng.next_u64() >> 8,
                rng.next_u64(),
                rng.next_u64(),
                rng.next_u64(),
            ])
        })
        .collect()
}

/// A seeded random permutation of `0..n` (Fisher-Yates).
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = SplitMix64::new(seed);
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        v.swap(i, rng.below(i as u64 + 1) as usize);
    }
    v
}

/// The operations every contender offers, so each bench is written once.
pub trait Container: Sized {
    /// The contender's handle.
    type Key: Copy;
    /// Its name in bench ids.
    const NAME: &'static str;
    /// Empty, with room for `n` items.
    fn with_capacity(n: usize) -> Self;
    /// Inserts, returning the key.
    fn insert(&mut self, item: Item) -> Self::Key;
    /// Looks up.
    fn get(&self, key: Self::Key) -> Option<&Item>;
    /// Removes.
    fn remove(&mut self, key: Self::Key) -> Option<Item>;
    /// Sums `a()` over `iter()` (with keys, as a game loop would).
    fn sum(&self) -> u64;
}

macro_rules! container {
    ($ty:ty, $key:ty, $name:literal, $new:expr) => {
        impl Container for $ty {
            type Key = $key;
            const NAME: &'static str = $name;
            fn with_capacity(n: usize) -> Self {
                $new(n)
            }
            #[inline]
            fn insert(&mut self, item: Item) -> Self::Key {
                <$ty>::insert(self, item)
            }
            #[inline]
            fn get(&self, key: Self::Key) -> Option<&Item> {
                <$ty>::get(self, key)
            }
            #[inline]
            fn remove(&mut self, key: Self::Key) -> Option<Item> {
                <$ty>::remove(self, key)
            }
            #[inline]
            fn sum(&self) -> u64 {
                self.iter().map(|(_, v)| v.a()).sum()
            }
        }
    };
}

container!(Pool<Item>, Handle<Item>, "tickmem", Pool::with_capacity);
container!(
    SlotMap<DefaultKey, Item>,
    DefaultKey,
    "slotmap",
    SlotMap::with_capacity
);
container!(
    DenseSlotMap<DefaultKey, Item>,
    DefaultKey,
    "slotmap_dense",
    DenseSlotMap::with_capacity
);
#[expect(
    deprecated,
    reason = "HopSlotMap is deprecated upstream; kept as the skip-field anchor"
)]
mod hop {
    use super::{Container, Item};
    use slotmap::{DefaultKey, HopSlotMap};
    container!(
        HopSlotMap<DefaultKey, Item>,
        DefaultKey,
        "slotmap_hop",
        HopSlotMap::with_capacity
    );
}
container!(
    thunderdome::Arena<Item>,
    thunderdome::Index,
    "thunderdome",
    thunderdome::Arena::with_capacity
);

/// A full container and the keys of `items`, in insertion order.
pub fn filled<C: Container>(items: &[Item]) -> (C, Vec<C::Key>) {
    let mut c = C::with_capacity(items.len());
    let keys = items.iter().map(|&item| c.insert(item)).collect();
    (c, keys)
}

/// A container at 10% occupancy: `items` inserted, then the first 90% of
/// `order` removed.
pub fn sparse<C: Container>(items: &[Item], order: &[usize]) -> C {
    let (mut c, keys) = filled::<C>(items);
    for &i in &order[..items.len() - items.len() / 10] {
        c.remove(keys[i]);
    }
    c
}
