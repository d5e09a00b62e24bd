//! Feature `serde`, untrusted data: what a load allocates is bounded by the
//! size of the data, whatever capacity the data claims. Counted exactly with
//! `tickmem_track::CountingAlloc`.
#![cfg(feature = "serde")]

use tickmem_pool::Pool;

#[global_allocator]
static GLOBAL: tickmem_track::CountingAlloc = tickmem_track::CountingAlloc::system();

/// 68 bytes that used to reserve 42 GB for a `Pool<u32>`, and abort the
/// process ("memory allocation of 68719476672 bytes failed") for a
/// `Pool<[u64; 4]>`.
const HOSTILE: &str = r#"{"fixed_capacity":2147483646,"generations":[],"free":[],"values":[]}"#;

fn load_counted<T: serde::de::DeserializeOwned>(json: &str) -> (Pool<T>, u64) {
    let (pool, stats) = tickmem_track::count(|| serde_json::from_str::<Pool<T>>(json));
    (pool.expect("valid data"), stats.bytes_allocated)
}

#[test]
fn a_claimed_capacity_reserves_nothing_until_used() {
    assert_eq!(HOSTILE.len(), 68);
    let (mut small, bytes) = load_counted::<u32>(HOSTILE);
    assert!(
        bytes <= 1024,
        "{bytes} bytes allocated for 68 bytes of input"
    );
    assert!(small.is_fixed());
    assert_eq!(small.capacity(), 2_147_483_646);
    assert!(small.is_empty());

    let (big, bytes) = load_counted::<[u64; 4]>(HOSTILE);
    assert!(
        bytes <= 1024,
        "{bytes} bytes allocated for 68 bytes of input"
    );

    // A clone allocates what the original has, not the claimed capacity.
    let (clone, stats) = tickmem_track::count(|| big.clone());
    assert!(stats.bytes_allocated <= 1024, "{stats:?}");
    assert_eq!(clone.capacity(), big.capacity());

    // The pool works, growing on demand up to its capacity.
    let handles: Vec<_> = (0..100).map(|i| small.insert(i)).collect();
    assert!(
        handles
            .iter()
            .enumerate()
            .all(|(i, &h)| small[h] == i as u32)
    );
}

#[test]
fn a_loaded_fixed_pool_grows_up_to_its_capacity_and_no_further() {
    let json = r#"{"fixed_capacity":3,"generations":[1],"free":[],"values":[[0,"a"]]}"#;
    let mut pool: Pool<String> = serde_json::from_str(json).unwrap();
    pool.insert("b".into());
    pool.insert("c".into());
    let full = pool.try_insert("d".into()).unwrap_err();
    assert_eq!((full.capacity(), full.into_inner()), (3, "d".to_string()));
    // `reserve` allocates the rest up front.
    let mut pool: Pool<String> = serde_json::from_str(json).unwrap();
    pool.reserve(2);
    let ((), stats) = tickmem_track::count(|| {
        pool.insert("b".into());
        pool.insert("c".into());
    });
    assert_eq!(stats.allocs, 2, "the two strings only: {stats:?}");
}

#[test]
fn memory_is_linear_in_the_number_of_slots_in_the_data() {
    // Slots cost `size_of::<T>() + 8` bytes each, live or not: a load
    // allocates at most that per slot named in the data (each takes at
    // least two bytes of JSON), plus the parsed lists.
    type Big = [[u64; 32]; 1];
    for slots in [1_usize, 100, 10_000] {
        let generations = vec!["0"; slots].join(",");
        let json = format!(
            r#"{{"fixed_capacity":null,"generations":[{generations}],"free":[],"values":[]}}"#
        );
        let (pool, bytes) = load_counted::<Big>(&json);
        assert_eq!(pool.capacity(), 0, "every slot is retired");
        let per_slot = (size_of::<Big>() + 8) as u64;
        let bound = slots as u64 * (per_slot + 16) + 4096;
        assert!(
            bytes <= bound,
            "{slots} slots ({} bytes of JSON): {bytes} bytes allocated, bound {bound}",
            json.len()
        );
    }
}
