//! The public API: sizes, trait bounds, formatting, generations and
//! retirement, misuse panics, threads.

use std::cell::Cell;
use std::collections::{BTreeSet, HashSet};
use std::num::NonZeroU32;
use std::rc::Rc;
use std::sync::mpsc;

use tickmem_pool::{
    Drain, Handle, Handles, IntoIter, Iter, IterMut, Pool, PoolFull, Values, ValuesMut,
};

#[derive(Debug, Clone, Copy, PartialEq)]
struct Bullet {
    pos: [f32; 2],
    vel: [f32; 2],
}

fn bullet(x: f32) -> Bullet {
    Bullet {
        pos: [x, 0.0],
        vel: [1.0, 0.0],
    }
}

#[test]
fn handle_and_option_handle_are_8_bytes_for_any_t() {
    assert_eq!(size_of::<Handle<u8>>(), 8);
    assert_eq!(size_of::<Option<Handle<u8>>>(), 8);
    assert_eq!(size_of::<Handle<[u64; 64]>>(), 8);
    assert_eq!(size_of::<Option<Handle<[u64; 64]>>>(), 8);
    assert_eq!(size_of::<Handle<String>>(), 8);
    assert_eq!(size_of::<Option<Handle<Rc<str>>>>(), 8);
    assert_eq!(size_of::<Handle<()>>(), 8);
}

fn assert_send_sync<T: Send + Sync>() {}
fn assert_send<T: Send>() {}
fn assert_handle_traits<
    T: Copy + Eq + std::hash::Hash + Ord + std::fmt::Debug + Send + Sync + 'static,
>() {
}

#[test]
fn handles_are_copy_eq_hash_ord_debug_send_sync_whatever_t() {
    // `Rc` and `Cell` are neither Send nor Sync, and not Eq/Ord/Hash either.
    assert_handle_traits::<Handle<Rc<Cell<u8>>>>();
    assert_handle_traits::<Handle<Cell<u8>>>();
    assert_handle_traits::<Handle<std::sync::Mutex<String>>>();
    assert_send_sync::<Pool<u32>>();
    assert_send_sync::<Pool<String>>();
    assert_send::<Pool<Cell<u8>>>();
    assert_send_sync::<PoolFull<u32>>();
    assert_send_sync::<Iter<'static, u32>>();
    assert_send_sync::<IterMut<'static, u32>>();
    assert_send_sync::<Values<'static, u32>>();
    assert_send_sync::<ValuesMut<'static, u32>>();
    assert_send_sync::<Handles<'static, u32>>();
    assert_send_sync::<Drain<'static, u32>>();
    assert_send_sync::<IntoIter<u32>>();
}

#[test]
fn debug_formats() {
    let mut pool = Pool::new();
    let a = pool.insert('a');
    let b = pool.insert('b');
    assert_eq!(format!("{a:?} {b:?}"), "0v1 1v1");
    assert_eq!(format!("{pool:?}"), "{0v1: 'a', 1v1: 'b'}");
    pool.remove(a);
    let c = pool.insert('c');
    assert_eq!(format!("{c:?}"), "0v2");
    // Slot order.
    assert_eq!(format!("{:?}", pool.handles()), "[0v2, 1v1]");
    assert_eq!(format!("{:?}", pool.values()), "['c', 'b']");
    assert_eq!(format!("{:?}", pool.iter()), "{0v2: 'c', 1v1: 'b'}");
    let full = Pool::<char>::fixed(0).try_insert('z').unwrap_err();
    assert_eq!(
        format!("{full:?}"),
        "PoolFull { type: \"char\", capacity: 0, .. }"
    );
    assert_eq!(
        full.to_string(),
        "Pool<char> is full (capacity 0): remove a value or make the pool larger"
    );
}

#[test]
fn handles_hash_and_order_consistently() {
    let mut pool = Pool::new();
    let hs: Vec<_> = (0..100).map(|i| pool.insert(i)).collect();
    for h in hs.iter().step_by(3) {
        pool.remove(*h);
    }
    let again: Vec<_> = (0..34).map(|i| pool.insert(i)).collect();
    let all: Vec<_> = hs.iter().chain(&again).copied().collect();
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), all.len());
    let ordered: Vec<_> = all
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(
        ordered
            .windows(2)
            .all(|w| (w[0].index(), w[0].generation()) < (w[1].index(), w[1].generation()))
    );
    for h in &all {
        assert_eq!(Handle::from_bits(h.to_bits()), Some(*h));
    }
}

#[test]
fn generations_advance_on_every_removal() {
    let mut pool = Pool::new();
    let mut old = Vec::new();
    let mut h = pool.insert(0);
    for round in 1..50_u32 {
        assert_eq!((h.index(), h.generation()), (0, round));
        assert_eq!(pool.remove(h), Some(round - 1));
        old.push(h);
        h = pool.insert(round);
        for stale in &old {
            assert_eq!(pool.get(*stale), None);
            assert!(!pool.contains(*stale));
        }
    }
    // clear and drain advance generations too.
    pool.clear();
    assert!(!pool.contains(h));
    let h2 = pool.insert(7);
    assert_eq!((h2.index(), h2.generation()), (0, h.generation() + 1));
    pool.drain();
    assert_eq!(pool.insert(8).generation(), h2.generation() + 1);
}

#[test]
fn a_slot_whose_generation_would_wrap_is_retired_and_never_reused() {
    let mut pool = Pool::new();
    pool.__set_first_generation(NonZeroU32::new(u32::MAX - 2).unwrap());
    let mut old = Vec::new();
    for generation in [u32::MAX - 2, u32::MAX - 1, u32::MAX] {
        let h = pool.insert("slot 0");
        assert_eq!((h.index(), h.generation()), (0, generation));
        pool.remove(h);
        old.push(h);
    }
    // Slot 0 is exhausted: the next value gets a fresh slot (starting at
    // generation 1 from here on).
    pool.__set_first_generation(NonZeroU32::MIN);
    for _ in 0..5 {
        let h = pool.insert("slot 1");
        assert_eq!(h.index(), 1);
        old.push(h);
        pool.remove(h);
    }
    // A forged handle to slot 0 with any generation finds nothing, and every
    // handle ever issued is stale.
    for generation in [1, 2, u32::MAX - 1, u32::MAX] {
        let forged = Handle::<&str>::from_bits(u64::from(generation) << 32).unwrap();
        assert_eq!(pool.get(forged), None);
    }
    assert!(old.iter().all(|h| !pool.contains(*h)));
    assert_eq!(old.iter().collect::<HashSet<_>>().len(), old.len());
}

#[test]
fn retirement_shrinks_a_fixed_pool_and_clear_retires_too() {
    let mut pool = Pool::fixed(2);
    pool.__set_first_generation(NonZeroU32::MAX);
    let a = pool.insert(1);
    let b = pool.insert(2);
    assert_eq!(pool.capacity(), 2);
    pool.remove(a);
    assert_eq!(pool.capacity(), 1);
    pool.clear();
    assert_eq!(pool.capacity(), 0);
    assert!(!pool.contains(b));
    let full = pool.try_insert(3).unwrap_err();
    assert_eq!((full.capacity(), full.into_inner()), (0, 3));
}

#[test]
fn growable_pool_reuses_freed_slots_before_growing() {
    let mut pool = Pool::new();
    let hs: Vec<_> = (0..64).map(|i| pool.insert(i)).collect();
    for h in &hs[..32] {
        pool.remove(*h);
    }
    let freed: HashSet<u32> = hs[..32].iter().map(|h| h.index()).collect();
    let reused: HashSet<u32> = (0..32).map(|i| pool.insert(i).index()).collect();
    assert_eq!(reused, freed);
    assert_eq!(
        pool.insert(99).index(),
        64,
        "grows only once no slot is free"
    );
}

#[test]
#[should_panic(expected = "stale handle 0v1 for Pool<api::Bullet>")]
fn index_with_stale_handle_panics_naming_handle_and_type() {
    let mut pool = Pool::new();
    let h = pool.insert(bullet(1.0));
    pool.remove(h);
    let _ = pool[h];
}

#[test]
#[should_panic(expected = "stale handle 0v1 for Pool<alloc::string::String>")]
fn index_mut_with_stale_handle_panics() {
    let mut pool = Pool::new();
    let h = pool.insert(String::new());
    pool.clear();
    pool[h].push('x');
}

#[test]
#[should_panic(expected = "stale handle 5v3 for Pool<u8>")]
fn index_with_never_issued_handle_panics() {
    let pool = Pool::<u8>::new();
    let _ = pool[Handle::from_bits((3 << 32) | 5).unwrap()];
}

#[test]
#[should_panic(expected = "Pool<u8> is full (capacity 2)")]
fn insert_into_full_fixed_pool_panics() {
    let mut pool = Pool::fixed(2);
    pool.insert(1_u8);
    pool.insert(2);
    pool.insert(3);
}

#[test]
#[should_panic(
    expected = "Pool<()>: no room for 2147483648 values: this pool holds at most 2147483647 values"
)]
fn fixed_pool_larger_than_the_index_space_is_refused() {
    let _ = Pool::<()>::fixed(1 << 31);
}

#[test]
fn index_and_index_mut() {
    let mut pool = Pool::new();
    let h = pool.insert(bullet(0.0));
    pool[h].pos[0] += 2.0;
    assert_eq!(pool[h].pos, [2.0, 0.0]);
}

#[test]
fn get_disjoint_mut_refuses_duplicates_and_stale_handles() {
    let mut pool: Pool<i32> = (0..5).collect();
    let hs: Vec<_> = pool.handles().collect();
    let [a, b, c] = pool.get_disjoint_mut([hs[0], hs[4], hs[2]]).unwrap();
    (*a, *b, *c) = (10, 14, 12);
    assert_eq!((pool[hs[0]], pool[hs[4]], pool[hs[2]]), (10, 14, 12));
    assert!(pool.get_disjoint_mut([hs[1], hs[3], hs[1]]).is_none());
    assert!(pool.get_disjoint_mut::<0>([]).is_some());
    pool.remove(hs[3]);
    assert!(pool.get_disjoint_mut([hs[1], hs[3]]).is_none());
    assert!(pool.get_disjoint_mut([hs[3]]).is_none());
    // The value formerly last (hs[4]) moved into hs[3]'s place: still found.
    let [x, y] = pool.get_disjoint_mut([hs[4], hs[1]]).unwrap();
    assert_eq!((*x, *y), (14, 1));
}

#[test]
fn fixed_pool_refills_after_removals() {
    let mut pool = Pool::fixed(3);
    let hs: Vec<_> = (0..3).map(|i| pool.try_insert(i).unwrap()).collect();
    assert!(pool.try_insert(3).is_err());
    pool.remove(hs[1]);
    let h = pool.try_insert(4).unwrap();
    assert_eq!((h.index(), h.generation()), (1, 2));
    assert_eq!(pool.len(), 3);
    assert_eq!(pool.capacity(), 3);
}

#[test]
fn iteration_is_dense_and_agrees_across_iterators() {
    let mut pool: Pool<u32> = (0..1000).collect();
    let hs: Vec<_> = pool.handles().collect();
    for (i, h) in hs.iter().enumerate() {
        if i % 10 != 0 {
            pool.remove(*h);
        }
    }
    assert_eq!(pool.len(), 100);
    assert_eq!(pool.iter().len(), 100);
    assert_eq!(pool.values().len(), 100);
    let mut values: Vec<_> = pool.values().copied().collect();
    values.sort_unstable();
    assert_eq!(values, (0..1000).step_by(10).collect::<Vec<_>>());
    for (h, v) in &pool {
        assert_eq!(hs[*v as usize], h);
    }
    let rev: Vec<_> = pool.iter().rev().map(|(h, _)| h).collect();
    let mut fwd: Vec<_> = pool.handles().collect();
    fwd.reverse();
    assert_eq!(rev, fwd);
    assert_eq!(
        pool.iter().nth(5),
        pool.iter().collect::<Vec<_>>().get(5).copied()
    );
}

#[test]
fn into_iter_from_iter_extend_default_clone() {
    let mut pool: Pool<String> = Pool::default();
    pool.extend(["a", "b", "c"].map(String::from));
    let b = pool.handles().nth(1).unwrap();
    pool.remove(b);
    let clone = pool.clone();
    assert_eq!(format!("{clone:?}"), format!("{pool:?}"));
    assert!(!clone.contains(b));
    let pairs: Vec<(Handle<String>, String)> = pool.into_iter().collect();
    assert_eq!(pairs.len(), 2);
    for (h, v) in pairs {
        assert_eq!(clone[h], v);
    }
    let fixed = {
        let mut p = Pool::fixed(8);
        p.insert(1);
        p
    };
    let c = fixed.clone();
    assert!(c.is_fixed());
    assert_eq!(c.capacity(), 8);
}

#[test]
fn with_capacity_and_reserve() {
    let mut pool = Pool::<u64>::with_capacity(100);
    assert!(pool.capacity() >= 100);
    for i in 0..100 {
        pool.insert(i);
    }
    pool.reserve(1000);
    assert!(pool.capacity() >= 1100);
    let mut fixed = Pool::<u64>::fixed(4);
    fixed.insert(1);
    fixed.reserve(3);
    assert_eq!(fixed.capacity(), 4);
    let err = fixed.try_reserve(4).unwrap_err();
    assert_eq!(err.requested(), 5);
    assert_eq!(
        err.to_string(),
        "Pool<u64>: no room for 5 values: this pool holds at most 4 values"
    );
    assert_eq!(fixed.capacity(), 4);
}

#[test]
#[should_panic(expected = "Pool<u64>: no room for 100 values: this pool holds at most 4 values")]
fn reserving_past_a_fixed_capacity_panics() {
    Pool::<u64>::fixed(4).reserve(100);
}

#[test]
fn handles_cross_threads_and_pools_are_shared_for_reading() {
    let mut pool = Pool::with_capacity(1000);
    let hs: Vec<_> = (0..1000_u64).map(|i| pool.insert(i * 2)).collect();
    let pool = &pool;
    let hs = &hs;
    let (tx, rx) = mpsc::channel::<Vec<Handle<u64>>>();
    std::thread::scope(|s| {
        let readers: Vec<_> = hs
            .chunks(250)
            .map(|chunk| s.spawn(move || chunk.iter().map(|h| pool[*h]).sum::<u64>()))
            .collect();
        let tx = tx.clone();
        s.spawn(move || tx.send(hs.iter().rev().copied().collect()).unwrap());
        let total: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
        assert_eq!(total, (0..1000_u64).map(|i| i * 2).sum());
    });
    let from_thread = rx.recv().unwrap();
    assert_eq!(pool[from_thread[0]], 1998);
}

#[test]
fn pool_moves_to_another_thread_and_back() {
    let mut pool = Pool::new();
    let h = pool.insert(vec![1, 2, 3]);
    let (pool, h2) = std::thread::spawn(move || {
        let h2 = pool.insert(vec![4]);
        (pool, h2)
    })
    .join()
    .unwrap();
    assert_eq!(pool[h], [1, 2, 3]);
    assert_eq!(pool[h2], [4]);
}
