//! Bench group `pool`: `tickmem_pool::Pool` beside `slotmap::SlotMap`,
//! `slotmap::DenseSlotMap`, `HopSlotMap` (iteration) and
//! `thunderdome::Arena`. The containers and inputs are in
//! `tickmem_benches::pool_common`.
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
//! * `iter_sparse/floor_40B_slots`: not a container: the least any layout
//!   that keeps each value in its own 40-byte slot can spend on
//!   `iter_sparse` (see `bench_sparse_floor`).
//!
//! Run: `cargo bench -p tickmem-benches --bench pool`. Instruction counts of
//! the same bodies: `examples/pool_instructions.rs`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use slotmap::{DefaultKey, DenseSlotMap, SlotMap};
use tickmem_benches::pool_common::{Container, Item, N, SEED, filled, items, shuffled, sparse};
use tickmem_pool::Pool;

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn bench_insert<C: Container>(c: &mut Group<'_>, items: &[Item]) {
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

fn bench_get<C: Container>(c: &mut Group<'_>, items: &[Item], order: &[usize]) {
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

fn bench_remove<C: Container>(c: &mut Group<'_>, items: &[Item], order: &[usize]) {
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

fn bench_iter<C: Container>(c: &mut Group<'_>, items: &[Item], order: &[usize]) {
    let (full, _) = filled::<C>(items);
    c.bench_function(format!("iter/{}", C::NAME), |b| {
        b.iter(|| black_box(&full).sum());
    });
    let sparse = sparse::<C>(items, order);
    c.bench_function(format!("iter_sparse/{}", C::NAME), |b| {
        b.iter(|| black_box(&sparse).sum());
    });
}

/// The memory floor of `iter_sparse` for every layout that keeps each value
/// in its own slot (tickmem's, `SlotMap`'s, thunderdome's): a plain
/// `[[u64; 5]]` table with tickmem's 40-byte slot size, holding the values at
/// the live positions of tickmem's sparse pool, summed through a precomputed
/// ascending list of those positions. No occupancy test, no handle: what is
/// left is reading 1,000 scattered slots of a 400 KB table (out of L2), where
/// `DenseSlotMap` reads 40 KB in a row (out of L1).
fn bench_sparse_floor(c: &mut Group<'_>, items: &[Item], order: &[usize]) {
    let pool = sparse::<Pool<Item>>(items, order);
    let live: Vec<usize> = pool.handles().map(|h| h.index() as usize).collect();
    let mut table = vec![[0_u64; 5]; N];
    for (h, item) in pool.iter() {
        table[h.index() as usize][0] = item.a();
    }
    assert_eq!(size_of::<[u64; 5]>(), 40);
    c.bench_function("iter_sparse/floor_40B_slots", |b| {
        b.iter(|| {
            let table = black_box(&table);
            live.iter().map(|&i| table[i][0]).sum::<u64>()
        });
    });
}

#[expect(
    deprecated,
    reason = "HopSlotMap is deprecated upstream; kept as the skip-field anchor"
)]
type Hop = slotmap::HopSlotMap<DefaultKey, Item>;

fn pool(c: &mut Criterion) {
    tickmem_benches::make_process_multithreaded();
    let items = items();
    let order = shuffled(N, SEED ^ 1);
    let mut g = c.benchmark_group("pool");
    g.throughput(Throughput::Elements(N as u64));

    bench_insert::<Pool<Item>>(&mut g, &items);
    bench_insert::<SlotMap<DefaultKey, Item>>(&mut g, &items);
    bench_insert::<DenseSlotMap<DefaultKey, Item>>(&mut g, &items);
    bench_insert::<thunderdome::Arena<Item>>(&mut g, &items);

    bench_get::<Pool<Item>>(&mut g, &items, &order);
    bench_get::<SlotMap<DefaultKey, Item>>(&mut g, &items, &order);
    bench_get::<DenseSlotMap<DefaultKey, Item>>(&mut g, &items, &order);
    bench_get::<thunderdome::Arena<Item>>(&mut g, &items, &order);

    bench_remove::<Pool<Item>>(&mut g, &items, &order);
    bench_remove::<SlotMap<DefaultKey, Item>>(&mut g, &items, &order);
    bench_remove::<DenseSlotMap<DefaultKey, Item>>(&mut g, &items, &order);
    bench_remove::<thunderdome::Arena<Item>>(&mut g, &items, &order);

    bench_iter::<Pool<Item>>(&mut g, &items, &order);
    bench_iter::<SlotMap<DefaultKey, Item>>(&mut g, &items, &order);
    bench_iter::<DenseSlotMap<DefaultKey, Item>>(&mut g, &items, &order);
    bench_iter::<Hop>(&mut g, &items, &order);
    bench_iter::<thunderdome::Arena<Item>>(&mut g, &items, &order);
    bench_sparse_floor(&mut g, &items, &order);

    g.finish();
}

criterion_group!(benches, pool);
criterion_main!(benches);
