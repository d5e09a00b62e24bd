//! The `pool` bench bodies, one per `#[inline(never)]` function, for
//! instruction counts that do not depend on the machine's load:
//!
//! ```sh
//! cargo build --release -p tickmem-benches --example pool_instructions
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!     --collect-atstart=no --toggle-collect='pool_instructions::measure_*' \
//!     target/release/examples/pool_instructions
//! callgrind_annotate /tmp/cg.out | grep measure_
//! ```
//!
//! Each `measure_*` function runs its body `ROUNDS` times on the same
//! inputs as the criterion bench (setup is outside the counted functions).

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

fn run<C: Container>(items: &[Item], order: &[usize]) {
    black_box(measure_insert::<C>(items));
    let (pool, keys) = filled::<C>(items);
    let shuffled_keys: Vec<C::Key> = order.iter().map(|&i| keys[i]).collect();
    black_box(measure_get(&pool, &shuffled_keys));
    let (mut pool, mut keys) = filled::<C>(items);
    measure_remove(&mut pool, &mut keys, items, &order[..N / 2]);
    black_box(measure_iter(&pool));
    black_box(measure_iter_sparse(&sparse::<C>(items, order)));
}

#[expect(
    deprecated,
    reason = "HopSlotMap is deprecated upstream; kept as the skip-field anchor"
)]
type Hop = slotmap::HopSlotMap<DefaultKey, Item>;

fn main() {
    let items = items();
    let order = shuffled(N, SEED ^ 1);
    run::<Pool<Item>>(&items, &order);
    run::<SlotMap<DefaultKey, Item>>(&items, &order);
    run::<DenseSlotMap<DefaultKey, Item>>(&items, &order);
    run::<Hop>(&items, &order);
    run::<thunderdome::Arena<Item>>(&items, &order);
}
