//! Bench group `pool`: `tickmem_pool::Pool` beside `slotmap::SlotMap`,
//! `slotmap::DenseSlotMap` (iteration only) and `thunderdome::Arena`.
//!
//! T is a 32-byte struct, 10,000 items, access order shuffled with a fixed
//! seed. Ids:
//!
//! * `insert/*`: insert 10,000 values into an empty container with room for them.
//! * `get/*`: look up all 10,000 values in random order, summing a field.
//! * `remove/*`: remove a random half (in random order), then insert it back.
//! * `iter/*`: sum a field over all live values (10,000 live).
//! * `iter_sparse/*`: the same at 10% occupancy (10,000 inserted, a random
//!   9,000 removed).
//!
//! Run: `cargo bench -p tickmem-benches --bench pool`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use slotmap::{DefaultKey, DenseSlotMap, SlotMap};
use tickmem_benches::SplitMix64;
use tickmem_pool::{Handle, Pool};

const N: usize = 10_000;
const SEED: u64 = 0x5EED_0004;

/// The 32-byte value stored in every container; benches sum `a()`.
#[derive(Debug, Clone, Copy)]
struct Item([u64; 4]);

impl Item {
    #[inline(always)]
    fn a(&self) -> u64 {
        self.0[0]
    }
}

const _: () = assert!(size_of::<Item>() == 32);

fn items() -> Vec<Item> {
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
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = SplitMix64::new(seed);
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        v.swap(i, rng.below(i as u64 + 1) as usize);
    }
    v
}

/// The operations every contender offers, so each bench is written once.
trait Container: Sized {
    type Key: Copy;
    const NAME: &'static str;
    fn with_capacity(n: usize) -> Self;
    fn insert(&mut self, item: Item) -> Self::Key;
    fn get(&self, key: Self::Key) -> Option<&Item>;
    fn remove(&mut self, key: Self::Key) -> Option<Item>;
    fn sum(&self) -> u64;
}

impl Container for Pool<Item> {
    type Key = Handle<Item>;
    const NAME: &'static str = "tickmem";
    fn with_capacity(n: usize) -> Self {
        Pool::with_capacity(n)
    }
    #[inline]
    fn insert(&mut self, item: Item) -> Self::Key {
        Pool::insert(self, item)
    }
    #[inline]
    fn get(&self, key: Self::Key) -> Option<&Item> {
        Pool::get(self, key)
    }
    #[inline]
    fn remove(&mut self, key: Self::Key) -> Option<Item> {
        Pool::remove(self, key)
    }
    #[inline]
    fn sum(&self) -> u64 {
        self.iter().map(|(_, v)| v.a()).sum()
    }
}

impl Container for SlotMap<DefaultKey, Item> {
    type Key = DefaultKey;
    const NAME: &'static str = "slotmap";
    fn with_capacity(n: usize) -> Self {
        SlotMap::with_capacity(n)
    }
    #[inline]
    fn insert(&mut self, item: Item) -> Self::Key {
        SlotMap::insert(self, item)
    }
    #[inline]
    fn get(&self, key: Self::Key) -> Option<&Item> {
        SlotMap::get(self, key)
    }
    #[inline]
    fn remove(&mut self, key: Self::Key) -> Option<Item> {
        SlotMap::remove(self, key)
    }
    #[inline]
    fn sum(&self) -> u64 {
        self.iter().map(|(_, v)| v.a()).sum()
    }
}

impl Container for DenseSlotMap<DefaultKey, Item> {
    type Key = DefaultKey;
    const NAME: &'static str = "slotmap_dense";
    fn with_capacity(n: usize) -> Self {
        DenseSlotMap::with_capacity(n)
    }
    #[inline]
    fn insert(&mut self, item: Item) -> Self::Key {
        DenseSlotMap::insert(self, item)
    }
    #[inline]
    fn get(&self, key: Self::Key) -> Option<&Item> {
        DenseSlotMap::get(self, key)
    }
    #[inline]
    fn remove(&mut self, key: Self::Key) -> Option<Item> {
        DenseSlotMap::remove(self, key)
    }
    #[inline]
    fn sum(&self) -> u64 {
        self.iter().map(|(_, v)| v.a()).sum()
    }
}

impl Container for thunderdome::Arena<Item> {
    type Key = thunderdome::Index;
    const NAME: &'static str = "thunderdome";
    fn with_capacity(n: usize) -> Self {
        thunderdome::Arena::with_capacity(n)
    }
    #[inline]
    fn insert(&mut self, item: Item) -> Self::Key {
        thunderdome::Arena::insert(self, item)
    }
    #[inline]
    fn get(&self, key: Self::Key) -> Option<&Item> {
        thunderdome::Arena::get(self, key)
    }
    #[inline]
    fn remove(&mut self, key: Self::Key) -> Option<Item> {
        thunderdome::Arena::remove(self, key)
    }
    #[inline]
    fn sum(&self) -> u64 {
        self.iter().map(|(_, v)| v.a()).sum()
    }
}

/// A full container and the keys of `items`, in insertion order.
fn filled<C: Container>(items: &[Item]) -> (C, Vec<C::Key>) {
    let mut c = C::with_capacity(items.len());
    let keys = items.iter().map(|&item| c.insert(item)).collect();
    (c, keys)
}

fn bench_insert<C: Container>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    items: &[Item],
) {
    c.bench_function(format!("insert/{}", C::NAME), |b| {
        b.iter(|| {
            let mut pool = C::with_capacity(N);
            for &item in items {
                black_box(pool.insert(item));
            }
            pool
        });
    });
}

fn bench_get<C: Container>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    items: &[Item],
    order: &[usize],
) {
    let (pool, keys) = filled::<C>(items);
    let shuffled_keys: Vec<C::Key> = order.iter().map(|&i| keys[i]).collect();
    c.bench_function(format!("get/{}", C::NAME), |b| {
        b.iter(|| {
            let pool = black_box(&pool);
            let mut sum = 0_u64;
            for &key in &shuffled_keys {
                if let Some(item) = pool.get(key) {
                    sum = sum.wrapping_add(item.a());
                }
            }
            sum
        });
    });
}

fn bench_remove<C: Container>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    items: &[Item],
    order: &[usize],
) {
    let (mut pool, mut keys) = filled::<C>(items);
    let half = &order[..N / 2];
    c.bench_function(format!("remove/{}", C::NAME), |b| {
        b.iter(|| {
            for &i in half {
                black_box(pool.remove(keys[i]));
            }
            for &i in half {
                keys[i] = pool.insert(items[i]);
            }
        });
    });
}

fn bench_iter<C: Container>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    items: &[Item],
    order: &[usize],
) {
    let (full, _) = filled::<C>(items);
    c.bench_function(format!("iter/{}", C::NAME), |b| {
        b.iter(|| black_box(&full).sum());
    });
    // 10% occupancy: remove a random 90%.
    let (mut sparse, keys) = filled::<C>(items);
    for &i in &order[..N - N / 10] {
        sparse.remove(keys[i]);
    }
    c.bench_function(format!("iter_sparse/{}", C::NAME), |b| {
        b.iter(|| black_box(&sparse).sum());
    });
}

fn pool(c: &mut Criterion) {
    tickmem_benches::make_process_multithreaded();
    let items = items();
    let order = shuffled(N, SEED ^ 1);
    let mut g = c.benchmark_group("pool");
    g.throughput(Throughput::Elements(N as u64));

    bench_insert::<Pool<Item>>(&mut g, &items);
    bench_insert::<SlotMap<DefaultKey, Item>>(&mut g, &items);
    bench_insert::<thunderdome::Arena<Item>>(&mut g, &items);

    bench_get::<Pool<Item>>(&mut g, &items, &order);
    bench_get::<SlotMap<DefaultKey, Item>>(&mut g, &items, &order);
    bench_get::<thunderdome::Arena<Item>>(&mut g, &items, &order);

    bench_remove::<Pool<Item>>(&mut g, &items, &order);
    bench_remove::<SlotMap<DefaultKey, Item>>(&mut g, &items, &order);
    bench_remove::<thunderdome::Arena<Item>>(&mut g, &items, &order);

    bench_iter::<Pool<Item>>(&mut g, &items, &order);
    bench_iter::<SlotMap<DefaultKey, Item>>(&mut g, &items, &order);
    bench_iter::<DenseSlotMap<DefaultKey, Item>>(&mut g, &items, &order);
    bench_iter::<thunderdome::Arena<Item>>(&mut g, &items, &order);

    g.finish();
}

criterion_group!(benches, pool);
criterion_main!(benches);
