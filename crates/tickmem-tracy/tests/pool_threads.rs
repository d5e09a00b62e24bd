//! Memory pools used from several threads while a viewer connects and
//! disconnects, frame marks announce every pool's blocks, and new pools are
//! created: nothing deadlocks (the announcement walks the pool registry
//! under its lock and takes each pool's lock inside it; creating a pool
//! takes the registry's lock), and once everything stopped, a new viewer is
//! told exactly the blocks the pools hold.
//!
//! The simulated connection is process-wide: this binary holds one test.
#![cfg(feature = "record")]

use std::collections::BTreeSet;
use std::sync::Barrier;
use std::thread;

use tickmem_tracy::MemoryPool;
use tickmem_tracy::testing::{Event, record, simulate_viewer};

const ROUNDS: usize = if cfg!(miri) { 30 } else { 20_000 };
const SHARED: usize = 4;

#[test]
fn pools_frame_marks_connections_and_new_pools_on_many_threads() {
    let shared: Vec<MemoryPool> = (0..SHARED)
        .map(|i| MemoryPool::new(format!("test/pool_threads/shared{i}")))
        .collect();
    let start = Barrier::new(4);
    // Per user thread: the blocks it left allocated in each shared pool.
    let left: Vec<Vec<(usize, usize)>> = thread::scope(|s| {
        // The "game": frame marks, and a viewer coming and going.
        s.spawn(|| {
            start.wait();
            for round in 0..ROUNDS {
                if round % 7 == 0 {
                    simulate_viewer(Some(round % 14 == 0));
                }
                tickmem_tracy::frame_mark();
            }
        });
        // New pools appear (registry pushes) while the marks walk it.
        s.spawn(|| {
            start.wait();
            for round in 0..ROUNDS / 10 {
                let pool = MemoryPool::new(format!("test/pool_threads/new{round}"));
                pool.alloc(std::ptr::without_provenance(0x1000 + round * 64), 64);
                pool.discard();
            }
        });
        // Two users of the shared pools (disjoint fake addresses).
        let users: Vec<_> = (0..2)
            .map(|t| {
                let (shared, start) = (&shared, &start);
                s.spawn(move || {
                    start.wait();
                    let mut live: Vec<(usize, usize)> = Vec::new();
                    for round in 0..ROUNDS {
                        let p = round % SHARED;
                        let addr = 0x10_0000 * (t + 1) + round * 16;
                        match round % 5 {
                            0..=2 => {
                                shared[p].alloc(std::ptr::without_provenance(addr), 16);
                                live.push((p, addr));
                            }
                            3 => {
                                if let Some(at) = live.iter().position(|&(q, _)| q == p) {
                                    let (_, a) = live.swap_remove(at);
                                    shared[p].free(std::ptr::without_provenance(a));
                                }
                            }
                            _ => {}
                        }
                    }
                    live
                })
            })
            .collect();
        users.into_iter().map(|u| u.join().unwrap()).collect()
    });

    // A new viewer: its first frame mark announces exactly what is live.
    simulate_viewer(Some(false));
    simulate_viewer(Some(true));
    let ((), events) = record(tickmem_tracy::frame_mark);
    simulate_viewer(None);
    let announced: BTreeSet<(&str, usize)> = events
        .iter()
        .filter_map(|e| match *e {
            Event::PoolAlloc { pool, addr, .. } if pool.starts_with("test/pool_threads/") => {
                Some((pool, addr))
            }
            _ => None,
        })
        .collect();
    let names: Vec<String> = (0..SHARED)
        .map(|i| format!("test/pool_threads/shared{i}"))
        .collect();
    let expected: BTreeSet<(&str, usize)> = left
        .iter()
        .flatten()
        .map(|&(p, addr)| (names[p].as_str(), addr))
        .collect();
    assert_eq!(announced, expected);
}
