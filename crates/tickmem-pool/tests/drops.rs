//! Every value is dropped exactly once (remove, clear, drain, retain, drop
//! of the pool, into_iter), and a panicking `Drop` leaves the pool
//! consistent and usable.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use tickmem_pool::{Handle, Pool};

/// Records its id in a shared log when dropped; panics on drop if `bomb`.
#[derive(Debug)]
struct Noisy {
    id: u32,
    bomb: bool,
    log: Rc<RefCell<Vec<u32>>>,
}

impl Drop for Noisy {
    fn drop(&mut self) {
        self.log.borrow_mut().push(self.id);
        if self.bomb {
            panic!("boom from value {}", self.id);
        }
    }
}

struct Fixture {
    log: Rc<RefCell<Vec<u32>>>,
    pool: Pool<Noisy>,
    handles: Vec<Handle<Noisy>>,
}

/// A pool of `n` values with ids `0..n`; the ids in `bombs` panic on drop.
fn fixture(n: u32, bombs: &[u32]) -> Fixture {
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut pool = Pool::new();
    let handles = (0..n)
        .map(|id| {
            pool.insert(Noisy {
                id,
                bomb: bombs.contains(&id),
                log: Rc::clone(&log),
            })
        })
        .collect();
    Fixture { log, pool, handles }
}

fn sorted(log: &RefCell<Vec<u32>>) -> Vec<u32> {
    let mut v = log.borrow().clone();
    v.sort_unstable();
    v
}

#[test]
fn remove_hands_the_value_over_and_the_caller_drops_it() {
    let Fixture {
        log,
        mut pool,
        handles,
    } = fixture(3, &[]);
    let v = pool.remove(handles[1]).unwrap();
    assert!(log.borrow().is_empty(), "remove must not drop the value");
    assert_eq!(v.id, 1);
    drop(v);
    assert_eq!(*log.borrow(), [1]);
    assert!(pool.remove(handles[1]).is_none());
    assert_eq!(*log.borrow(), [1]);
}

#[test]
fn clear_drop_drain_retain_into_iter_drop_each_value_once() {
    let Fixture { log, mut pool, .. } = fixture(10, &[]);
    pool.clear();
    assert_eq!(sorted(&log), (0..10).collect::<Vec<_>>());

    let Fixture { log, pool, .. } = fixture(10, &[]);
    drop(pool);
    assert_eq!(sorted(&log), (0..10).collect::<Vec<_>>());

    // Drain: taken values are dropped by the taker, the rest by the iterator.
    let Fixture { log, mut pool, .. } = fixture(10, &[]);
    let taken: Vec<_> = pool.drain().take(4).collect();
    assert_eq!(log.borrow().len(), 6);
    drop(taken);
    assert_eq!(sorted(&log), (0..10).collect::<Vec<_>>());
    drop(pool);
    assert_eq!(log.borrow().len(), 10);

    let Fixture { log, mut pool, .. } = fixture(10, &[]);
    pool.retain(|_, v| v.id % 2 == 0);
    assert_eq!(sorted(&log), [1, 3, 5, 7, 9]);
    drop(pool);
    assert_eq!(sorted(&log), (0..10).collect::<Vec<_>>());

    let Fixture { log, pool, .. } = fixture(10, &[]);
    let mut it = pool.into_iter();
    let first = it.next().unwrap();
    drop(it);
    assert_eq!(log.borrow().len(), 9);
    drop(first);
    assert_eq!(sorted(&log), (0..10).collect::<Vec<_>>());
}

#[test]
fn panicking_drop_during_clear_leaves_an_empty_usable_pool() {
    let Fixture {
        log,
        mut pool,
        handles,
    } = fixture(10, &[4]);
    let result = catch_unwind(AssertUnwindSafe(|| pool.clear()));
    assert!(result.is_err());
    // Every value dropped exactly once, the bomb included.
    assert_eq!(sorted(&log), (0..10).collect::<Vec<_>>());
    assert!(pool.is_empty());
    assert!(handles.iter().all(|h| !pool.contains(*h)));
    // Keep using it: slots are reused with new generations.
    let h = pool.insert(Noisy {
        id: 100,
        bomb: false,
        log: Rc::clone(&log),
    });
    assert_eq!(pool[h].id, 100);
    assert!(handles.iter().any(|old| old.index() == h.index()));
    assert!(!handles.contains(&h));
    assert_eq!(pool.iter().count(), 1);
    drop(pool);
    assert_eq!(log.borrow().len(), 11);
}

#[test]
fn panicking_drop_during_pool_drop_still_drops_the_others_once() {
    let Fixture { log, pool, .. } = fixture(10, &[0]);
    assert!(catch_unwind(AssertUnwindSafe(move || drop(pool))).is_err());
    assert_eq!(sorted(&log), (0..10).collect::<Vec<_>>());
}

#[test]
fn panicking_drop_during_retain_keeps_the_pool_consistent() {
    let Fixture {
        log,
        mut pool,
        handles,
    } = fixture(10, &[3]);
    // Remove the odd ids; dropping id 3 panics part-way.
    let result = catch_unwind(AssertUnwindSafe(|| pool.retain(|_, v| v.id % 2 == 0)));
    assert!(result.is_err());
    let dropped = sorted(&log);
    assert!(dropped.contains(&3));
    // Whatever was dropped is gone from the pool; everything else is intact.
    for (id, h) in handles.iter().enumerate() {
        let id = id as u32;
        assert_eq!(pool.contains(*h), !dropped.contains(&id), "id {id}");
        if let Some(v) = pool.get(*h) {
            assert_eq!(v.id, id);
        }
    }
    assert_eq!(pool.len(), 10 - dropped.len());
    // Finish the job and keep going.
    pool.retain(|_, v| v.id % 2 == 0);
    assert_eq!(pool.len(), 5);
    let h = pool.insert(Noisy {
        id: 50,
        bomb: false,
        log: Rc::clone(&log),
    });
    assert_eq!(pool[h].id, 50);
    drop(pool);
    assert_eq!(sorted(&log), (0..10).chain([50]).collect::<Vec<_>>());
}

#[test]
fn panicking_keep_closure_during_retain_keeps_the_pool_consistent() {
    let Fixture {
        log,
        mut pool,
        handles,
    } = fixture(10, &[]);
    let mut seen = 0;
    let result = catch_unwind(AssertUnwindSafe(|| {
        pool.retain(|_, v| {
            seen += 1;
            assert!(seen < 6, "keep closure panics");
            v.id >= 5
        });
    }));
    assert!(result.is_err());
    let dropped = log.borrow().clone();
    assert_eq!(pool.len() + dropped.len(), 10);
    for (id, h) in handles.iter().enumerate() {
        assert_eq!(pool.contains(*h), !dropped.contains(&(id as u32)));
    }
    drop(pool);
    assert_eq!(sorted(&log), (0..10).collect::<Vec<_>>());
}

#[test]
fn panicking_drop_during_drain_leaves_an_empty_usable_pool() {
    let Fixture {
        log,
        mut pool,
        handles,
    } = fixture(10, &[7]);
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut drain = pool.drain();
        drain.next();
        drop(drain); // drops the remaining 9, one of which panics
    }));
    assert!(result.is_err());
    assert_eq!(sorted(&log), (0..10).collect::<Vec<_>>());
    assert!(pool.is_empty());
    assert!(handles.iter().all(|h| !pool.contains(*h)));
    let h = pool.insert(Noisy {
        id: 10,
        bomb: false,
        log: Rc::clone(&log),
    });
    assert_eq!(pool.get(h).map(|v| v.id), Some(10));
}

#[test]
#[cfg_attr(
    miri,
    ignore = "leaks on purpose (mem::forget), which Miri reports as an error"
)]
fn leaked_drain_leaves_an_empty_consistent_pool() {
    let Fixture {
        log,
        mut pool,
        handles,
    } = fixture(5, &[]);
    std::mem::forget(pool.drain());
    assert!(pool.is_empty());
    assert!(handles.iter().all(|h| pool.get(*h).is_none()));
    let h = pool.insert(Noisy {
        id: 9,
        bomb: false,
        log: Rc::clone(&log),
    });
    assert_eq!(pool.len(), 1);
    assert_eq!(pool[h].id, 9);
    // Refill the freed slots and append past them (the bitmap the drain
    // took is gone: setting and writing bits grows a new one), then remove
    // from both the old slots and the appended ones.
    let more: Vec<_> = (20..30)
        .map(|id| {
            pool.insert(Noisy {
                id,
                bomb: false,
                log: Rc::clone(&log),
            })
        })
        .collect();
    assert_eq!(pool.len(), 11);
    for &gone in [more[0], more[9]].iter() {
        assert!(pool.remove(gone).is_some());
    }
    let ids: Vec<u32> = pool.values().map(|v| v.id).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [9, 21, 22, 23, 24, 25, 26, 27, 28]);
    assert_eq!(pool.iter().rev().count(), 9);
    drop(pool);
    let mut dropped = log.borrow().clone();
    dropped.sort_unstable();
    assert_eq!(
        dropped,
        [9, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29],
        "forgotten values are leaked, never dropped twice"
    );
}

#[test]
fn panicking_drop_of_a_removed_value_does_not_touch_the_pool() {
    let Fixture {
        log,
        mut pool,
        handles,
    } = fixture(4, &[2]);
    assert!(catch_unwind(AssertUnwindSafe(|| drop(pool.remove(handles[2])))).is_err());
    assert_eq!(pool.len(), 3);
    assert!(!pool.contains(handles[2]));
    for h in [handles[0], handles[1], handles[3]] {
        assert!(pool.contains(h));
    }
    drop(pool);
    assert_eq!(sorted(&log), [0, 1, 2, 3]);
}
