//! Allocation behaviour, counted exactly with `tickmem_track::CountingAlloc`:
//! a fixed pool never calls the global allocator after construction; a
//! growable pool reuses freed slots and its own capacity before growing.

use tickmem_pool::Pool;

#[global_allocator]
static GLOBAL: tickmem_track::CountingAlloc = tickmem_track::CountingAlloc::system();

#[derive(Debug, Clone, Copy, PartialEq)]
struct Particle {
    pos: [f32; 3],
    life: f32,
}

fn particle(i: u32) -> Particle {
    Particle {
        pos: [i as f32, 0.0, 0.0],
        life: 1.0,
    }
}

#[test]
fn fixed_pool_allocates_once_at_construction() {
    let (pool, stats) = tickmem_track::count(|| Pool::<Particle>::fixed(256));
    // The slot table (values inline) and the occupancy bitmap.
    assert_eq!((stats.allocs, stats.reallocs, stats.deallocs), (2, 0, 0));
    drop(pool);
}

#[test]
fn fixed_pool_never_calls_the_global_allocator_after_construction() {
    let mut pool = Pool::fixed(256);
    let mut handles = Vec::with_capacity(300);
    let (refused, stats) = tickmem_track::count(|| {
        let mut refused = 0;
        for round in 0..20_u32 {
            handles.clear();
            // Fill to the brim, then some.
            for i in 0..300 {
                match pool.try_insert(particle(i)) {
                    Ok(h) => handles.push(h),
                    Err(full) => {
                        refused += 1;
                        assert_eq!(full.capacity(), 256);
                    }
                }
            }
            for h in handles.iter().step_by(2) {
                pool.remove(*h);
            }
            for p in pool.values_mut() {
                p.life -= 0.1;
            }
            let sum: f32 = pool.iter().map(|(_, p)| p.pos[0]).sum();
            std::hint::black_box(sum);
            if let (Some(a), Some(b)) = (pool.handles().next(), pool.handles().next_back()) {
                let pair = pool.get_disjoint_mut([a, b]);
                std::hint::black_box(pair);
            }
            pool.retain(|h, _| h.index() % 3 != 0);
            match round % 3 {
                0 => pool.clear(),
                1 => pool.drain().for_each(drop),
                _ => {}
            }
        }
        refused
    });
    assert!(
        refused > 0,
        "the pool was never full: the test proves less than it says"
    );
    assert!(
        stats.is_empty(),
        "a fixed pool called the global allocator: {stats:?}"
    );
}

#[test]
fn full_fixed_pool_refuses_without_allocating() {
    let mut pool = Pool::fixed(64);
    let handles: Vec<_> = (0..64).map(|i| pool.insert(particle(i))).collect();
    let (results, stats) = tickmem_track::count(|| {
        let mut refused = 0;
        for i in 0..1000 {
            if let Err(full) = pool.try_insert(particle(i)) {
                refused += 1;
                std::hint::black_box(full.into_inner());
            }
            if i % 10 == 0 {
                let h = handles[(i / 10) as usize % 64];
                if let Some(p) = pool.remove(h) {
                    std::hint::black_box(p);
                }
            }
        }
        refused
    });
    assert!(results > 900);
    assert!(stats.is_empty(), "{stats:?}");
}

#[test]
fn growable_pool_reuses_freed_slots_without_allocating() {
    let mut pool = Pool::new();
    let handles: Vec<_> = (0..1000).map(|i| pool.insert(particle(i))).collect();
    for h in handles.iter().skip(1).step_by(2) {
        pool.remove(*h);
    }
    let mut reused = Vec::with_capacity(500);
    let ((), stats) = tickmem_track::count(|| {
        for i in 0..500 {
            reused.push(pool.insert(particle(i)));
        }
    });
    assert!(
        stats.is_empty(),
        "refilling freed slots allocated: {stats:?}"
    );
    assert!(
        reused
            .iter()
            .all(|h| h.index() < 1000 && h.index() % 2 == 1)
    );

    // After clear, refilling to the same size allocates nothing either.
    pool.clear();
    let ((), stats) = tickmem_track::count(|| {
        for i in 0..1000 {
            pool.insert(particle(i));
        }
    });
    assert!(stats.is_empty(), "{stats:?}");
    // Up to its capacity it allocates nothing; only beyond does it grow.
    let ((), stats) = tickmem_track::count(|| {
        while pool.len() < pool.capacity() {
            pool.insert(particle(1));
        }
    });
    assert!(stats.is_empty(), "{stats:?}");
    let (_, stats) = tickmem_track::count(|| pool.insert(particle(0)));
    assert!(stats.reallocs > 0, "{stats:?}");
}

#[test]
fn with_capacity_inserts_allocate_nothing() {
    let mut pool = Pool::with_capacity(4096);
    let ((), stats) = tickmem_track::count(|| {
        for i in 0..4096 {
            pool.insert(particle(i));
        }
    });
    assert!(stats.is_empty(), "{stats:?}");
}

#[test]
fn removing_from_a_pool_grown_by_inserts_allocates_nothing() {
    // Values appended to the end of the table set no occupancy bit until the
    // first removal among them writes their bits; the bitmap grows with the
    // table, so that removal (in some later, warmed-up tick) never allocates.
    let mut pool = Pool::new();
    let handles: Vec<_> = (0..1000).map(|i| pool.insert(particle(i))).collect();
    let ((), stats) = tickmem_track::count(|| {
        for h in handles.iter().rev().step_by(3) {
            assert!(pool.remove(*h).is_some());
        }
        pool.retain(|h, _| h.index() % 5 != 0);
    });
    assert!(stats.is_empty(), "{stats:?}");
    let expect = (0..1000)
        .filter(|i| (999 - i) % 3 != 0 && i % 5 != 0)
        .count();
    assert_eq!(pool.len(), expect);
    assert_eq!(pool.iter().count(), expect);
}
