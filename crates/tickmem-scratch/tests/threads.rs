//! Scratch on every kind of thread, with concurrent scopes checking their
//! own data.

use std::sync::atomic::{AtomicU64, Ordering};

use tickmem_scratch::{Scratch, global_stats, stats, with};

const JOBS: u64 = if cfg!(miri) { 4 } else { 200 };
const LEN: usize = if cfg!(miri) { 16 } else { 512 };

/// A job that fills nested scopes with data derived from `seed`, checks it
/// after every inner scope, and returns a checksum.
fn job(seed: u64) -> u64 {
    with(|outer| {
        let mine =
            outer.alloc_slice_fill_with(LEN, |i| seed.wrapping_mul(31).wrapping_add(i as u64));
        let mut sum = 0;
        for round in 0..3u64 {
            sum += with(|inner| {
                let tmp = inner.alloc_slice_fill_with(LEN, |i| mine[i] ^ round);
                let name = inner.alloc_str(&format!("job {seed}"));
                assert_eq!(*name, format!("job {seed}"));
                tmp.iter().fold(0u64, |a, b| a.wrapping_add(*b))
            });
            // Another thread's scopes never touch ours.
            assert!(
                mine.iter()
                    .enumerate()
                    .all(|(i, v)| *v == seed.wrapping_mul(31).wrapping_add(i as u64)),
                "job {seed}: outer data changed"
            );
        }
        sum
    })
}

fn expected(seed: u64) -> u64 {
    (0..3u64)
        .map(|round| {
            (0..LEN).fold(0u64, |a, i| {
                a.wrapping_add(seed.wrapping_mul(31).wrapping_add(i as u64) ^ round)
            })
        })
        .fold(0u64, u64::wrapping_add)
}

#[test]
fn std_threads() {
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            std::thread::spawn(move || {
                for j in 0..JOBS {
                    let seed = t * 1000 + j;
                    assert_eq!(job(seed), expected(seed));
                }
                let local = stats();
                assert_eq!((local.depth, local.bytes_in_use), (0, 0));
                local.scopes
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("worker panicked"), JOBS * 4);
    }
}

#[test]
fn std_thread_scope() {
    let total = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for t in 0..3u64 {
            let total = &total;
            scope.spawn(move || {
                for j in 0..JOBS {
                    let seed = 7 + t * 100 + j;
                    let got = job(seed);
                    assert_eq!(got, expected(seed));
                    total.fetch_add(got, Ordering::Relaxed);
                }
            });
        }
    });
    let want = (0..3u64)
        .flat_map(|t| (0..JOBS).map(move |j| expected(7 + t * 100 + j)))
        .fold(0u64, u64::wrapping_add);
    assert_eq!(total.load(Ordering::Relaxed), want);
}

#[test]
fn crossbeam_scoped_threads() {
    crossbeam_utils::thread::scope(|scope| {
        for t in 0..2u64 {
            scope.spawn(move |_| {
                for j in 0..JOBS {
                    assert_eq!(job(t + 50 * j), expected(t + 50 * j));
                }
            });
        }
    })
    .expect("a scoped thread panicked");
}

#[test]
fn a_scope_open_on_one_thread_while_another_runs_jobs() {
    // The main thread holds a scope open across the workers' whole lifetime.
    with(|s: &Scratch<'_>| {
        let held = s.alloc_slice_fill_with(LEN, |i| i as u32);
        std::thread::scope(|scope| {
            for t in 0..2u64 {
                scope.spawn(move || {
                    for j in 0..JOBS {
                        assert_eq!(job(t * 7 + j), expected(t * 7 + j));
                    }
                });
            }
        });
        assert!(held.iter().enumerate().all(|(i, v)| *v == i as u32));
    });
}

#[test]
fn global_stats_sum_the_threads() {
    let before = global_stats();
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                with(|s| {
                    let _ = s.alloc_slice_copy(&[1u8; 10_000]);
                });
            });
        }
    });
    let after = global_stats();
    assert!(after.scopes >= before.scopes + 3, "{before} -> {after}");
    assert!(after.threads >= 1);
    // Each worker's 10 kB high-water is counted (slots of exited threads
    // keep their high-water).
    assert!(after.high_water_bytes >= 10_000, "{after}");
}

#[cfg(not(miri))]
#[test]
fn rayon_par_iter() {
    use rayon::prelude::*;

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .expect("rayon pool");
    let sums: Vec<u64> = pool.install(|| (0..JOBS * 4).into_par_iter().map(job).collect());
    for (seed, sum) in sums.into_iter().enumerate() {
        assert_eq!(sum, expected(seed as u64));
    }
}

#[cfg(not(miri))]
#[test]
fn rayon_nested_scopes_across_work_stealing() {
    use rayon::prelude::*;

    // A job's outer scope stays open while rayon runs other jobs on the same
    // thread (join/par_iter inside the scope may steal work): each stolen job
    // nests inside it and must leave it intact.
    let ok = (0..64u64).into_par_iter().all(|seed| {
        with(|outer| {
            let mine = outer.alloc_slice_fill_with(64, |i| seed + i as u64);
            let inner: u64 = (0..8u64).into_par_iter().map(|k| job(seed * 8 + k)).sum();
            let want: u64 = (0..8u64).map(|k| expected(seed * 8 + k)).sum();
            inner == want && mine.iter().enumerate().all(|(i, v)| *v == seed + i as u64)
        })
    });
    assert!(ok);
}

#[cfg(not(miri))]
#[test]
fn bevy_compute_task_pool() {
    use bevy_tasks::{ComputeTaskPool, TaskPool};

    let pool = ComputeTaskPool::get_or_init(TaskPool::default);
    let results = pool.scope(|scope| {
        for seed in 0..32u64 {
            scope.spawn(async move { (seed, job(seed)) });
        }
    });
    assert_eq!(results.len(), 32);
    for (seed, sum) in results {
        assert_eq!(sum, expected(seed));
    }
}

#[cfg(not(miri))]
#[test]
fn bevy_ecs_query_par_iter() {
    use bevy_ecs::prelude::*;
    use bevy_tasks::{ComputeTaskPool, TaskPool};

    #[derive(Component)]
    struct Seed(u64);
    #[derive(Component, Default)]
    struct Result(u64);

    ComputeTaskPool::get_or_init(TaskPool::default);
    let mut world = World::new();
    world.spawn_batch((0..500u64).map(|s| (Seed(s), Result::default())));
    let mut query = world.query::<(&Seed, &mut Result)>();
    query
        .par_iter_mut(&mut world)
        .for_each(|(seed, mut result)| result.0 = job(seed.0));
    let mut checked = 0;
    for (seed, result) in world.query::<(&Seed, &Result)>().iter(&world) {
        assert_eq!(result.0, expected(seed.0));
        checked += 1;
    }
    assert_eq!(checked, 500);
}
