//! The pool's `unsafe` paths reached from other threads and from a
//! thread-local destructor at thread exit: a pool whose values sit in the
//! tail of appended slots (no occupancy bits yet) is moved to another thread
//! and changed there, a half-walked `ValuesMut` finishes on another thread,
//! and a pool kept in a `thread_local!` is dropped by the thread's exit.
//! Every value is counted, so a missed or doubled drop fails.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use tickmem_pool::Pool;

/// Counts its drops in a shared counter.
struct Counted {
    v: u64,
    drops: Arc<AtomicUsize>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Relaxed);
    }
}

fn filled(n: u64, drops: &Arc<AtomicUsize>) -> Pool<Counted> {
    let mut pool = Pool::new();
    for v in 0..n {
        pool.insert(Counted {
            v,
            drops: Arc::clone(drops),
        });
    }
    pool
}

#[test]
fn a_pool_with_a_tail_moves_to_another_thread_and_is_changed_there() {
    let drops = Arc::new(AtomicUsize::new(0));
    let pool = filled(100, &drops);
    let handles: Vec<_> = pool.handles().collect();
    let pool = std::thread::spawn(move || {
        let mut pool = pool;
        // The first removals among appended values write the tail's bits,
        // on this thread.
        for h in handles.iter().step_by(3) {
            assert!(pool.remove(*h).is_some());
        }
        pool.retain(|_, c| c.v % 5 != 0);
        pool
    })
    .join()
    .unwrap();
    let left = (0..100).filter(|v| v % 3 != 0 && v % 5 != 0).count();
    assert_eq!(pool.len(), left);
    assert_eq!(pool.values().count(), left);
    assert_eq!(drops.load(Relaxed), 100 - left);
    drop(pool);
    assert_eq!(drops.load(Relaxed), 100);
}

#[test]
fn a_half_walked_values_mut_finishes_on_another_thread() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut pool = filled(70, &drops);
    let removed = pool.handles().nth(10).unwrap();
    pool.remove(removed); // bits for slots 0..70, one cleared
    for v in 70..90 {
        pool.insert(Counted {
            v,
            drops: Arc::clone(&drops),
        }); // one refills the freed slot, the rest form a new tail
    }
    let mut values = pool.values_mut();
    values.next().unwrap().v += 1000;
    values.next_back().unwrap().v += 1000;
    let touched = std::thread::scope(|s| {
        s.spawn(move || {
            let mut n = 2;
            for c in values {
                c.v += 1000;
                n += 1;
            }
            n
        })
        .join()
        .unwrap()
    });
    assert_eq!(touched, 89);
    assert!(pool.values().all(|c| c.v >= 1000));
    drop(pool);
    assert_eq!(drops.load(Relaxed), 90);
}

thread_local! {
    static KEPT: RefCell<Pool<Counted>> = const { RefCell::new(Pool::new()) };
}

#[test]
fn a_thread_local_pool_is_dropped_whole_at_thread_exit() {
    let drops = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&drops);
    std::thread::spawn(move || {
        KEPT.with_borrow_mut(|pool| {
            for v in 0..80 {
                pool.insert(Counted {
                    v,
                    drops: Arc::clone(&counter),
                });
            }
            // Bits below 80, then a new tail on top.
            let first = pool.handles().next().unwrap();
            pool.remove(first);
            for v in 80..100 {
                pool.insert(Counted {
                    v,
                    drops: Arc::clone(&counter),
                });
            }
        });
        // The thread ends here: the thread-local's destructor drops the
        // pool, which drains the bitmap part and the tail.
    })
    .join()
    .unwrap();
    assert_eq!(drops.load(Relaxed), 100, "every value dropped exactly once");
}
