//! Feature `serde`: pools and handles round-trip through JSON with their
//! generations and free list. Run with `cargo test -p tickmem-pool --features serde`.
#![cfg(feature = "serde")]

use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};
use tickmem_pool::{Handle, Pool};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Enemy {
    name: String,
    hp: i32,
}

fn enemy(name: &str, hp: i32) -> Enemy {
    Enemy {
        name: name.into(),
        hp,
    }
}

/// A save game: a pool plus handles stored elsewhere (here: a target list).
#[derive(Debug, Serialize, Deserialize)]
struct Save {
    enemies: Pool<Enemy>,
    targets: Vec<Handle<Enemy>>,
    dead: Vec<Handle<Enemy>>,
}

fn assert_same(a: &Pool<Enemy>, b: &Pool<Enemy>, handles: &[Handle<Enemy>]) {
    assert_eq!(a.len(), b.len());
    assert_eq!(a.is_fixed(), b.is_fixed());
    if a.is_fixed() {
        assert_eq!(a.capacity(), b.capacity());
    }
    for h in handles {
        assert_eq!(a.get(*h), b.get(*h), "{h:?}");
    }
    let pa: Vec<_> = a.iter().collect();
    let pb: Vec<_> = b.iter().collect();
    assert_eq!(pa, pb, "iteration order survives too");
}

#[test]
fn handle_format() {
    let h = Handle::<Enemy>::from_bits((3 << 32) | 7).unwrap();
    let json = serde_json::to_string(&h).unwrap();
    assert_eq!(json, r#"{"index":7,"generation":3}"#);
    assert_eq!(serde_json::from_str::<Handle<Enemy>>(&json).unwrap(), h);
    let zero = serde_json::from_str::<Handle<Enemy>>(r#"{"index":7,"generation":0}"#);
    assert!(zero.is_err());
    let far = serde_json::from_str::<Handle<Enemy>>(r#"{"index":4294967295,"generation":1}"#)
        .unwrap_err();
    assert!(far.to_string().contains("out of range"), "{far}");
}

fn scenario(mut pool: Pool<Enemy>) -> (Pool<Enemy>, Vec<Handle<Enemy>>, Vec<Handle<Enemy>>) {
    let all: Vec<_> = (0..8)
        .map(|i| pool.insert(enemy(&format!("e{i}"), i * 10)))
        .collect();
    let mut dead = Vec::new();
    for &i in &[1, 4, 6] {
        pool.remove(all[i]);
        dead.push(all[i]);
    }
    // Reuse one slot so a stale and a live handle share an index.
    let reborn = pool.insert(enemy("reborn", 99));
    assert_eq!(reborn.index(), all[6].index());
    let mut live: Vec<_> = all.iter().copied().filter(|h| pool.contains(*h)).collect();
    live.push(reborn);
    (pool, live, dead)
}

fn round_trip(pool: Pool<Enemy>) {
    let (mut pool, live, dead) = scenario(pool);
    let save = Save {
        enemies: pool.clone(),
        targets: live.clone(),
        dead: dead.clone(),
    };
    let json = serde_json::to_string(&save).unwrap();
    let Save {
        enemies: mut loaded,
        targets,
        dead: loaded_dead,
    } = serde_json::from_str(&json).unwrap();

    assert_eq!(targets, live);
    assert_eq!(loaded_dead, dead);
    let every: Vec<_> = live.iter().chain(&dead).copied().collect();
    assert_same(&pool, &loaded, &every);
    for h in &targets {
        assert!(loaded.contains(*h), "live handle {h:?} must stay valid");
    }
    for h in &loaded_dead {
        assert_eq!(loaded.get(*h), None, "stale handle {h:?} must stay stale");
    }

    // The free list survives: both pools hand out the same handles from here on.
    for i in 0..4 {
        let a = pool.try_insert(enemy("new", i));
        let b = loaded.try_insert(enemy("new", i));
        assert_eq!(a.is_ok(), b.is_ok());
        if let (Ok(a), Ok(b)) = (a, b) {
            assert_eq!(a, b);
            assert!(!dead.contains(&a));
        }
    }
    assert_same(&pool, &loaded, &every);
    // A second round trip gives the same JSON.
    let again = serde_json::to_string(&loaded).unwrap();
    assert_eq!(again, serde_json::to_string(&pool).unwrap());
}

#[test]
fn growable_pool_round_trips() {
    round_trip(Pool::new());
}

#[test]
fn fixed_pool_round_trips_and_stays_fixed() {
    round_trip(Pool::fixed(10));
    let pool: Pool<Enemy> = serde_json::from_str(
        r#"{"fixed_capacity":3,"generations":[2,1],"free":[0],"values":[[1,{"name":"a","hp":1}]]}"#,
    )
    .unwrap();
    assert!(pool.is_fixed());
    assert_eq!(pool.capacity(), 3);
}

#[test]
fn retired_slots_stay_retired() {
    let mut pool = Pool::new();
    pool.__set_first_generation(NonZeroU32::MAX);
    let a = pool.insert(enemy("a", 1));
    let b = pool.insert(enemy("b", 2));
    pool.remove(a); // slot 0 retires
    let json = serde_json::to_string(&pool).unwrap();
    assert_eq!(
        json,
        r#"{"fixed_capacity":null,"generations":[0,4294967295],"free":[],"values":[[1,{"name":"b","hp":2}]]}"#
    );
    let mut loaded: Pool<Enemy> = serde_json::from_str(&json).unwrap();
    assert_eq!(loaded[b], enemy("b", 2));
    assert!(!loaded.contains(a));
    let c = loaded.insert(enemy("c", 3));
    assert_eq!(c.index(), 2, "the retired slot 0 is not reused");
}

fn load_error(json: &str) -> String {
    serde_json::from_str::<Pool<i32>>(json)
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_data_is_refused_with_a_clear_error() {
    let cases = [
        (
            r#"{"fixed_capacity":null,"generations":[1,1],"free":[0],"values":[[0,5]]}"#,
            "slot 0 appears twice (again in the free list)",
        ),
        (
            r#"{"fixed_capacity":null,"generations":[1],"free":[],"values":[[3,5]]}"#,
            "slot 3 in a live value is out of range (1 slots)",
        ),
        (
            r#"{"fixed_capacity":null,"generations":[1,7],"free":[],"values":[[0,5]]}"#,
            "slot 1 (generation 7) is neither live, free nor retired",
        ),
        (
            r#"{"fixed_capacity":null,"generations":[0],"free":[],"values":[[0,5]]}"#,
            "slot 0 in a live value is retired (generation 0)",
        ),
        (
            r#"{"fixed_capacity":1,"generations":[1,1],"free":[1],"values":[[0,5]]}"#,
            "2 slots do not fit a fixed pool of capacity 1",
        ),
        (
            r#"{"fixed_capacity":null,"generations":[1],"free":[],"values":[[0,5],[0,6]]}"#,
            "slot 0 appears twice (again in a live value)",
        ),
    ];
    for (json, expected) in cases {
        let err = load_error(json);
        assert!(err.contains("invalid Pool data"), "{err}");
        assert!(
            err.contains(expected),
            "{json}: got {err:?}, expected {expected:?}"
        );
    }
}
