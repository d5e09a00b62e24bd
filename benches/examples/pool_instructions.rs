//! The `pool` bench bodies, one per `#[inline(never)]` function, for
//! instruction counts that do not depend on the machine's load:
//!
//! ```sh
//! cargo build --release -p tickmem-benches --example pool_instructions
//! for c in tickmem slotmap slotmap_dense slotmap_hop thunderdome; do
//!   for op in insert get remove iter iter_sparse; do
//!     valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$c.$op \
//!         --collect-atstart=no --toggle-collect='pool_instructions::measure_*' \
//!         target/release/examples/pool_instructions $c $op 2>&1 | grep refs
//!   done
//! done
//! ```
//!
//! Each run measures one body for one container, `ROUNDS` times, on the
//! same inputs as the criterion bench (setup is outside the counted
//! functions). Divide by `ROUNDS * 10_000` for instructions per item
//! (`iter_sparse`: per inserted item).

use std::hint::black_box;

use slotmap::{DefaultKey, DenseSlotMap, SlotMap};
use tickmem_benches::pool_common::{Container, Item, N, SEED, filled, items, shuffled, sparse};
use tickmem_pool::Pool;

const ROUNDS: usize = 10;

#[inline(never)]
fn measure_insert<C: Container>(items: &[Item]) -> usize {
    let mut n = 0;
    for _ in 0..ROUNDS {
        let mut pool = C::with_capacity(N);
        for &item in items {
            black_box(pool.insert(item));
        }
        n += black_box(&pool) as *const C as usize & 1;
    }
    n
}

#[inline(never)]
fn measure_get<C: Container>(pool: &C, keys: &[C::Key]) -> u64 {
    let mut sum = 0_u64;
    for _ in 0..ROUNDS {
        let pool = black_box(pool);
        for &key in keys {
            if let Some(item) = pool.get(key) {
                sum = sum.wrapping_add(item.a());
            }
        }
    }
    sum
}

#[inline(never)]
fn measure_remove<C: Container>(pool: &mut C, keys: &mut [C::Key], items: &[Item], half: &[usize]) {
    for _ in 0..ROUNDS {
        for &i in half {
            black_box(pool.remove(keys[i]));
        }
        for &i in half {
            keys[i] = pool.insert(items[i]);
        }
    }
}

#[inline(never)]
fn measure_iter<C: Container>(pool: &C) -> u64 {
    (0..ROUNDS).map(|_| black_box(pool).sum()).sum()
}

#[inline(never)]
fn measure_iter_sparse<C: Container>(pool: &C) -> u64 {
    (0..ROUNDS).map(|_| black_box(pool).sum()).sum()
}

fn run<C: Container>(op: &str, items: &[Item], order: &[usize]) {
    match op {
        "insert" => {
            black_box(measure_insert::<C>(items));
        }
        "get" => {
            let (pool, keys) = filled::<C>(items);
            let shuffled_keys: Vec<C::Key> = order.iter().map(|&i| keys[i]).collect();
            black_box(measure_get(&pool, &shuffled_keys));
        }
        "remove" => {
            let (mut pool, mut keys) = filled::<C>(items);
            measure_remove(&mut pool, &mut keys, items, &order[..N / 2]);
        }
        "iter" => {
            black_box(measure_iter(&filled::<C>(items).0));
        }
        "iter_sparse" => {
            black_box(measure_iter_sparse(&sparse::<C>(items, order)));
        }
        _ => panic!("unknown op {op}: insert, get, remove, iter or iter_sparse"),
    }
}

#[expect(
    deprecated,
    reason = "HopSlotMap is deprecated upstream; kept as the skip-field anchor"
)]
type Hop = slotmap::HopSlotMap<DefaultKey, Item>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [container, op] = [0, 1].map(|i| args.get(i).map_or("", String::as_str));
    let items = items();
    let order = shuffled(N, SEED ^ 1);
    match container {
        "tickmem" => run::<Pool<Item>>(op, &items, &order),
        "slotmap" => run::<SlotMap<DefaultKey, Item>>(op, &items, &order),
        "slotmap_dense" => run::<DenseSlotMap<DefaultKey, Item>>(op, &items, &order),
        "slotmap_hop" => run::<Hop>(op, &items, &order),
        "thunderdome" => run::<thunderdome::Arena<Item>>(op, &items, &order),
        _ => panic!(
            "usage: pool_instructions <tickmem|slotmap|slotmap_dense|slotmap_hop|thunderdome> <op>"
        ),
    }
}
