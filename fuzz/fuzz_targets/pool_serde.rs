//! `pool_serde`: untrusted bytes into the deserializers of `Pool` and
//! `Handle` (JSON). Each load is `Err`, or a consistent pool: every live
//! value reachable by its handle, iteration agreeing with `len`, a
//! round trip giving the same pool back, and inserts and removals working.
//! What a load allocates is counted and must stay within a bound linear in
//! the input's size (a slot per two bytes of input at most, each
//! `size_of::<T>() + 8` bytes), whatever capacity the data claims.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tickmem_pool::{Handle, Pool};

#[global_allocator]
static GLOBAL: tickmem_track::CountingAlloc = tickmem_track::CountingAlloc::system();

fn load<T>(data: &[u8], make: impl Fn(u16) -> T)
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let (loaded, stats) = tickmem_track::count(|| serde_json::from_slice::<Pool<T>>(data));
    let per_byte = (size_of::<T>() + 8 + 32) as u64;
    let bound = 64 * 1024 + data.len() as u64 * per_byte;
    assert!(
        stats.bytes_allocated <= bound,
        "{} bytes of input allocated {} bytes (bound {bound})",
        data.len(),
        stats.bytes_allocated
    );
    let Ok(mut pool) = loaded else { return };

    // Consistent: len, iteration and lookups agree.
    let handles: Vec<Handle<T>> = pool.handles().collect();
    assert_eq!(handles.len(), pool.len());
    assert_eq!(pool.iter().count(), pool.len());
    for (h, v) in pool.iter() {
        assert_eq!(pool.get(h), Some(v));
    }
    assert!(handles.windows(2).all(|w| w[0].index() < w[1].index()));
    if pool.is_fixed() {
        assert!(pool.len() <= pool.capacity());
    }

    // Round trip.
    let json = serde_json::to_vec(&pool).expect("a loaded pool serializes");
    let again: Pool<T> = serde_json::from_slice(&json).expect("and loads again");
    assert_eq!(again.len(), pool.len());
    assert_eq!(again.is_fixed(), pool.is_fixed());
    if pool.is_fixed() {
        assert_eq!(
            again.capacity(),
            pool.capacity(),
            "a fixed capacity survives"
        );
    }
    for (h, v) in pool.iter() {
        assert_eq!(again.get(h), Some(v));
    }

    // Usable: insert a few (a fixed pool may be full), remove them again.
    let mut added = Vec::new();
    for i in 0..4 {
        match pool.try_insert(make(i)) {
            Ok(h) => {
                assert!(!handles.contains(&h), "a live handle was issued again");
                added.push(h);
            }
            Err(full) => assert!(pool.is_fixed() || full.capacity() == pool.len()),
        }
    }
    for (i, h) in added.into_iter().enumerate() {
        assert_eq!(pool.remove(h), Some(make(i as u16)));
        assert!(pool.get(h).is_none());
    }
    for h in handles {
        assert!(pool.remove(h).is_some());
    }
    assert!(pool.is_empty());
}

fuzz_target!(|data: &[u8]| {
    load::<u16>(data, |i| i);
    load::<[u64; 4]>(data, |i| [u64::from(i); 4]);
    load::<String>(data, |i| i.to_string());
    if let Ok(h) = serde_json::from_slice::<Handle<u8>>(data) {
        assert_eq!(Handle::<u8>::from_bits(h.to_bits()), Some(h));
        let json = serde_json::to_vec(&h).unwrap();
        assert_eq!(serde_json::from_slice::<Handle<u8>>(&json).unwrap(), h);
    }
});
