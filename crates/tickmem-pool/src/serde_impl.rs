//! `serde` support (feature `serde`): handles and pools round-trip with their
//! generations and free list, so handles saved alongside a pool stay valid
//! after loading, stale ones stay stale, and the next inserts reuse the same
//! slots as they would have before saving.
//!
//! Formats:
//!
//! * `Handle<T>`: `{ "index": u32, "generation": u32 }`.
//! * `Pool<T>`: `{ "fixed_capacity": Option<u32>, "generations": [u32],
//!   "free": [u32], "values": [(u32, T)] }`: the generation of every slot
//!   (0 = retired), the free list from its head, and every live value with
//!   its slot index, in iteration order.
//!
//! Loading checks the data: every slot is exactly one of live, free or
//! retired, indices are in range, a fixed pool fits its capacity. Bad data
//! is a deserialization error saying what is wrong, never a corrupt pool.

use core::fmt;
use core::num::NonZeroU32;

use serde::de::Error as _;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::handle::{Handle, MAX_SLOTS};
use crate::pool::{NO_FREE, Pool, Slot, VACANT};

impl<T> Serialize for Handle<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Handle", 2)?;
        s.serialize_field("index", &self.index())?;
        s.serialize_field("generation", &self.generation())?;
        s.end()
    }
}

#[derive(Deserialize)]
#[serde(rename = "Handle", deny_unknown_fields)]
struct HandleRepr {
    index: u32,
    generation: NonZeroU32,
}

impl<'de, T> Deserialize<'de> for Handle<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let repr = HandleRepr::deserialize(deserializer)?;
        if repr.index >= MAX_SLOTS {
            return Err(D::Error::custom(format_args!(
                "handle index {} is out of range (a pool has at most {MAX_SLOTS} slots)",
                repr.index
            )));
        }
        Ok(Handle::new(repr.index, repr.generation))
    }
}

/// Serializes an iterator as a sequence without collecting it.
struct Seq<F>(F);

impl<I, F> Serialize for Seq<F>
where
    F: Fn() -> I,
    I: Iterator<Item: Serialize>,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq((self.0)())
    }
}

impl<T: Serialize> Serialize for Pool<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Pool", 4)?;
        s.serialize_field("fixed_capacity", &self.fixed.then_some(self.slot_limit))?;
        s.serialize_field(
            "generations",
            &Seq(|| self.slots.iter().map(|s| s.generation)),
        )?;
        s.serialize_field(
            "free",
            &Seq(|| FreeList {
                pool: self,
                next: self.free_head,
            }),
        )?;
        s.serialize_field("values", &Seq(|| self.iter().map(|(h, v)| (h.index(), v))))?;
        s.end()
    }
}

/// Walks the free list from its head.
struct FreeList<'a, T> {
    pool: &'a Pool<T>,
    next: u32,
}

impl<T> Iterator for FreeList<'_, T> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let index = self.next;
        let slot = self.pool.slots.get(index as usize)?;
        self.next = slot.link & !VACANT;
        Some(index)
    }
}

#[derive(Deserialize)]
#[serde(rename = "Pool", deny_unknown_fields)]
struct PoolRepr<T> {
    fixed_capacity: Option<u32>,
    generations: Vec<u32>,
    free: Vec<u32>,
    values: Vec<(u32, T)>,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Pool<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let repr = PoolRepr::<T>::deserialize(deserializer)?;
        build(repr).map_err(D::Error::custom)
    }
}

/// Why a serialized pool was refused.
struct Invalid(String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid Pool data: {}", self.0)
    }
}

macro_rules! invalid {
    ($($arg:tt)*) => { Invalid(format!($($arg)*)) };
}

fn build<T>(repr: PoolRepr<T>) -> Result<Pool<T>, Invalid> {
    let slot_count = repr.generations.len();
    // Nothing is reserved beyond what the data holds: a fixed pool records
    // its capacity and grows on demand up to it. So the memory a load takes
    // is bounded by the size of the data, whatever capacity it claims.
    let mut pool = match repr.fixed_capacity {
        Some(capacity) if capacity > MAX_SLOTS => {
            return Err(invalid!(
                "fixed capacity {capacity} is more than a pool can hold ({MAX_SLOTS})"
            ));
        }
        Some(capacity) if slot_count > capacity as usize => {
            return Err(invalid!(
                "{slot_count} slots do not fit a fixed pool of capacity {capacity}"
            ));
        }
        Some(capacity) => Pool::fixed_lazy(capacity),
        None if slot_count > MAX_SLOTS as usize => {
            return Err(invalid!(
                "{slot_count} slots is more than a pool can have ({MAX_SLOTS})"
            ));
        }
        None => Pool::new(),
    };
    pool.slots.reserve_exact(slot_count);
    pool.slots.extend(
        repr.generations
            .iter()
            .map(|&generation| Slot::vacant(generation)),
    );
    // Every slot is vacant and described by the bitmap (no tail), before
    // anything can fail and drop the pool.
    pool.bits_end = slot_count as u32;
    pool.occupied
        .resize(pool.slots.capacity().div_ceil(u64::BITS as usize), 0);
    let mut claimed = vec![false; slot_count];

    // If a check below fails, dropping `pool` drops exactly the values placed
    // so far (their bits are set), and `values` drops the rest.
    for (index, value) in repr.values {
        let generation = claim(&pool.slots, &mut claimed, index, "a live value")?;
        pool.place(index, generation, value);
    }

    pool.free_head = repr.free.first().copied().unwrap_or(NO_FREE);
    for (i, &index) in repr.free.iter().enumerate() {
        claim(&pool.slots, &mut claimed, index, "the free list")?;
        let next = repr.free.get(i + 1).copied().unwrap_or(NO_FREE);
        pool.slots[index as usize].link = VACANT | next;
    }

    for (index, (slot, claimed)) in pool.slots.iter().zip(claimed).enumerate() {
        if !claimed {
            if slot.generation != 0 {
                return Err(invalid!(
                    "slot {index} (generation {}) is neither live, free nor retired",
                    slot.generation
                ));
            }
            // Retired: already `VACANT | NO_FREE`.
            pool.retired += 1;
        }
    }
    Ok(pool)
}

/// Claims slot `index` for a live value or the free list; returns its generation.
fn claim<T>(
    slots: &[Slot<T>],
    claimed: &mut [bool],
    index: u32,
    what: &str,
) -> Result<NonZeroU32, Invalid> {
    let (Some(slot), Some(claimed)) = (slots.get(index as usize), claimed.get_mut(index as usize))
    else {
        return Err(invalid!(
            "slot {index} in {what} is out of range ({} slots)",
            slots.len()
        ));
    };
    if std::mem::replace(claimed, true) {
        return Err(invalid!("slot {index} appears twice (again in {what})"));
    }
    match NonZeroU32::new(slot.generation) {
        Some(generation) => Ok(generation),
        None => Err(invalid!("slot {index} in {what} is retired (generation 0)")),
    }
}
