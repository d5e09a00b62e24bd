//! Scopes on one thread: nesting, destructors, panics, the allocation API.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use allocator_api2::alloc::{Allocator, Layout};
use tickmem_scratch::{Scratch, stats, with};

/// Records destructor calls: its id, into a shared log.
struct Logged<'a> {
    id: u32,
    log: &'a RefCell<Vec<u32>>,
}

impl Drop for Logged<'_> {
    fn drop(&mut self) {
        self.log.borrow_mut().push(self.id);
    }
}

/// Counts destructor calls.
#[derive(Clone)]
struct Counted(Rc<Cell<usize>>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn inner_exit_keeps_outer_values() {
    with(|outer| {
        let a = outer.alloc(0xA11CE_u64);
        let slice = outer.alloc_slice_fill_with(100, |i| i as u32 * 3);
        let name = outer.alloc_str("outer");
        for round in 0..5u64 {
            let inner_sum = with(|inner| {
                assert_eq!(inner.depth(), 2);
                // Lots of inner allocations, overwriting nothing of the outer scope.
                let junk = inner.alloc_slice_fill_with(10_000, |i| (i as u64) ^ round);
                let more = inner.alloc_slice_copy(&[0xFFu8; 4096]);
                junk.iter().sum::<u64>() + more.len() as u64
            });
            assert!(inner_sum > 0);
            assert_eq!(*a, 0xA11CE);
            assert!(slice.iter().enumerate().all(|(i, v)| *v == i as u32 * 3));
            assert_eq!(name, "outer");
        }
    });
}

#[test]
fn outer_scratch_can_be_used_from_an_inner_scope() {
    with(|outer| {
        let before = outer.alloc(1u32);
        let from_inner = with(|inner| {
            let tmp = inner.alloc_slice_fill_with(1000, |i| i as u32);
            // Allocating from the outer scope inside the inner one: lives on.
            outer.alloc_slice_copy(&tmp[..10])
        });
        with(|inner| {
            inner.alloc_slice_fill_with(1000, |_| 0xDEAD_u32);
        });
        assert_eq!(*before, 1);
        assert_eq!(from_inner, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });
}

#[test]
fn deep_nesting_is_unbounded_and_each_level_keeps_its_data() {
    const DEPTH: usize = if cfg!(miri) { 40 } else { 1000 };

    fn recurse(outer: &Scratch<'_>, depth: usize, max: usize) -> usize {
        let mine = outer.alloc_slice_fill_with(8, |i| depth * 8 + i);
        let below = if depth < max {
            with(|inner| {
                assert_eq!(inner.depth(), depth + 1);
                recurse(inner, depth + 1, max)
            })
        } else {
            0
        };
        // Written before the inner scopes, checked after they exited.
        assert!(mine.iter().enumerate().all(|(i, v)| *v == depth * 8 + i));
        below + 1
    }

    let levels = with(|s| recurse(s, 1, DEPTH));
    assert_eq!(levels, DEPTH);
    assert_eq!(stats().depth, 0);
    // The levels are kept for reuse: a second deep run works the same.
    assert_eq!(with(|s| recurse(s, 1, DEPTH)), DEPTH);
}

#[test]
fn destructors_run_at_scope_exit_newest_first() {
    let log = RefCell::new(Vec::new());
    with(|outer| {
        outer.alloc(Logged { id: 1, log: &log });
        with(|inner| {
            inner.alloc(Logged { id: 10, log: &log });
            inner.alloc(Logged { id: 11, log: &log });
            assert!(log.borrow().is_empty());
        });
        // Only the inner scope's values, newest first.
        assert_eq!(*log.borrow(), [11, 10]);
        outer.alloc(Logged { id: 2, log: &log });
    });
    assert_eq!(*log.borrow(), [11, 10, 2, 1]);
}

#[test]
fn every_allocation_kind_drops_exactly_once() {
    let drops = Rc::new(Cell::new(0));
    let c = || Counted(drops.clone());
    with(|s| {
        s.alloc(c());
        s.try_alloc(c()).expect("small allocation");
        s.alloc_slice_fill_with(5, |_| c());
        s.alloc_slice_clone(&[c(), c()]); // the two originals drop at once
        let mut v = s.vec();
        v.push(c());
        v.push(c());
        drop(v.pop()); // one now
        // `v` drops its remaining element at the end of the closure.
        assert_eq!(drops.get(), 3);
    });
    // 1 + 1 + 5 + 2 (clones) + 2 (originals) + 2 (vec) = 13.
    assert_eq!(drops.get(), 13);
}

#[test]
fn scopes_close_and_destructors_run_on_panic() {
    let drops = Rc::new(Cell::new(0));
    let log = RefCell::new(Vec::new());
    with(|outer| {
        let kept = outer.alloc_slice_fill_with(64, |i| i as u16);
        outer.alloc(Logged { id: 1, log: &log });
        let result = catch_unwind(AssertUnwindSafe(|| {
            with(|inner| {
                inner.alloc(Counted(drops.clone()));
                with(|innermost| {
                    innermost.alloc(Counted(drops.clone()));
                    assert_eq!(stats().depth, 3);
                    panic!("job failed");
                })
            })
        }));
        let err = result.expect_err("the job panicked");
        assert_eq!(err.downcast_ref::<&str>(), Some(&"job failed"));
        // Both inner scopes closed: their destructors ran, depth restored.
        assert_eq!(drops.get(), 2);
        assert_eq!(stats().depth, 1);
        assert!(log.borrow().is_empty());
        assert!(kept.iter().enumerate().all(|(i, v)| *v == i as u16));
        // The arena still works at the restored depth.
        with(|again| {
            assert_eq!(again.depth(), 2);
            assert_eq!(*again.alloc(5u8), 5);
        });
    });
    assert_eq!(*log.borrow(), [1]);
    assert_eq!(stats().depth, 0);
}

#[test]
fn elements_made_before_a_panicking_fill_are_dropped() {
    let drops = Rc::new(Cell::new(0));
    let result = catch_unwind(AssertUnwindSafe(|| {
        with(|s| {
            s.alloc_slice_fill_with(10, |i| {
                assert!(i < 4, "element {i} failed");
                Counted(drops.clone())
            });
        })
    }));
    assert!(result.is_err());
    assert_eq!(drops.get(), 4);
}

/// Panics in its destructor when `boom` is set.
struct Bomb<'a> {
    boom: bool,
    drops: &'a Cell<usize>,
}

impl Drop for Bomb<'_> {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        assert!(!self.boom, "destructor exploded");
    }
}

#[test]
fn a_panicking_destructor_does_not_skip_the_others() {
    let drops = Cell::new(0);
    let result = catch_unwind(AssertUnwindSafe(|| {
        with(|s| {
            s.alloc(Bomb {
                boom: false,
                drops: &drops,
            });
            s.alloc(Bomb {
                boom: true,
                drops: &drops,
            });
            s.alloc(Bomb {
                boom: false,
                drops: &drops,
            });
        })
    }));
    let err = result.expect_err("the destructor panicked");
    assert_eq!(err.downcast_ref::<&str>(), Some(&"destructor exploded"));
    assert_eq!(drops.get(), 3);
    assert_eq!(stats().depth, 0);
    // The level was reset and is reusable.
    with(|s| assert_eq!(s.bytes_used(), 0));
}

/// Uses scratch in its destructor.
struct UsesScratch<'a>(&'a Cell<u64>);

impl Drop for UsesScratch<'_> {
    fn drop(&mut self) {
        let sum = with(|s| {
            s.alloc_slice_fill_with(10, |i| i as u64)
                .iter()
                .sum::<u64>()
        });
        self.0.set(sum);
    }
}

#[test]
fn destructors_may_use_scratch() {
    let out = Cell::new(0);
    with(|s| {
        s.alloc(UsesScratch(&out));
    });
    assert_eq!(out.get(), 45);
    assert_eq!(stats().depth, 0);
}

#[test]
fn allocator_api2_collections_live_in_the_scope() {
    use allocator_api2::boxed::Box;
    use allocator_api2::vec::Vec;

    with(|s| {
        let mut v: Vec<u64, _> = Vec::new_in(s);
        for i in 0..1000 {
            v.push(i);
        }
        assert_eq!(v.iter().sum::<u64>(), 499_500);
        let b = Box::new_in([7u8; 100], s.allocator());
        assert_eq!(b[99], 7);
        // Raw use of the allocator: aligned, and big blocks work too.
        let layout = Layout::from_size_align(1 << 20, 4096).expect("valid layout");
        let block = s.allocate(layout).expect("1 MiB block");
        assert_eq!(block.as_ptr().cast::<u8>() as usize % 4096, 0);
        assert!(block.len() >= 1 << 20);
        assert!(s.bytes_used() >= (1 << 20) + 8000);
    });
}

#[test]
fn layouts_are_respected() {
    #[repr(align(64))]
    #[derive(Clone, Copy)]
    struct Line([u8; 64]);

    with(|s| {
        for i in 0..100u8 {
            let b = s.alloc(i);
            let line = s.alloc(Line([i; 64]));
            let zst = s.alloc(());
            assert_eq!(std::ptr::from_mut(line) as usize % 64, 0);
            assert_eq!((*b, line.0[63]), (i, i));
            assert_eq!(*zst, ());
        }
        let empty: &mut [u64] = s.alloc_slice_copy(&[]);
        assert!(empty.is_empty());
        // Bigger than any chunk so far.
        let big = s.alloc_slice_fill_with(100_000, |i| i as u32);
        assert_eq!(big[99_999], 99_999);
    });
}

#[test]
fn scratch_vec_behaves_like_a_vec() {
    with(|s| {
        let mut v = s.vec_with_capacity(2);
        let mut model = Vec::new();
        for i in 0..500u32 {
            v.push(i);
            model.push(i);
        }
        v.insert(3, 1000);
        model.insert(3, 1000);
        assert_eq!(v.remove(10), model.remove(10));
        assert_eq!(v.swap_remove(0), model.swap_remove(0));
        v.retain(|x| x % 7 != 0);
        model.retain(|x| x % 7 != 0);
        v.truncate(300);
        model.truncate(300);
        v.extend_from_slice(&[1, 2, 3]);
        model.extend_from_slice(&[1, 2, 3]);
        v.extend(&[4u32, 5]);
        model.extend(&[4u32, 5]);
        assert_eq!(v.as_slice(), &model[..]);
        assert_eq!(v.len(), model.len());
        assert_eq!((&v).into_iter().count(), model.len());
        for x in &mut v {
            *x += 1;
        }
        assert_eq!(
            v.into_iter().collect::<Vec<_>>(),
            model.iter().map(|x| x + 1).collect::<Vec<_>>()
        );

        let mut w = s.vec::<u8>();
        assert!(w.is_empty());
        w.extend([3, 1, 2]);
        assert_eq!(format!("{w:?}"), "[3, 1, 2]");
        let slice = w.into_slice();
        slice.sort();
        assert_eq!(slice, &[1, 2, 3]);
    });
}

#[test]
fn stats_follow_the_scopes() {
    with(|s| {
        s.alloc_slice_copy(&[0u8; 5000]);
        let during = stats();
        assert!(during.bytes_in_use >= 5000, "{during}");
        assert_eq!(during.depth, 1);
        with(|t| {
            t.alloc_slice_copy(&[0u8; 3000]);
            let nested = stats();
            assert!(nested.bytes_in_use >= 8000, "{nested}");
            assert_eq!(nested.depth, 2);
        });
        assert!(stats().bytes_in_use < 8000);
    });
    let after = stats();
    assert_eq!((after.bytes_in_use, after.depth, after.threads), (0, 0, 1));
    assert!(after.high_water_bytes >= 8000, "{after}");
    assert!(after.bytes_reserved >= 5000, "{after}");
    assert!(after.scopes >= 2);
    with(|s| assert_eq!(format!("{s:?}"), "Scratch { depth: 1, bytes_used: 0 }"));
}

#[test]
#[should_panic(expected = "larger than isize::MAX bytes")]
fn an_impossible_slice_is_a_clear_panic() {
    with(|s| {
        s.alloc_slice_fill_with(usize::MAX / 2, |_| 0u64);
    });
}

#[test]
#[should_panic(expected = "TrimPolicy::quiet_periods must be at least 1 (got 0)")]
fn a_policy_without_history_is_refused() {
    tickmem_scratch::set_trim_policy(tickmem_scratch::TrimPolicy {
        quiet_periods: 0,
        ..tickmem_scratch::TrimPolicy::new()
    });
}
