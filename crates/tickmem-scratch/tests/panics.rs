//! Attacks with panicking user callbacks: `Drop`, `Clone`, the closures given
//! to `with` and `alloc_slice_fill_with`, iterators fed to `ScratchVec`,
//! `retain` predicates. After every unwind each value has been dropped
//! exactly once and the thread's scratch state is consistent: depth back
//! where it was, stats true, the next scope works.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any};

use tickmem_scratch::{Scratch, ScratchVec, release_all, stats, trim, with};

/// The payload of every panic these tests inject.
#[derive(Debug)]
struct Planned(&'static str);

/// Counts each value's drops by id; `Drop` panics for the ids in `bomb`.
#[derive(Default)]
struct Tracker {
    made: Cell<u32>,
    drops: RefCell<Vec<u32>>,
    bomb: RefCell<Vec<u32>>,
}

impl Tracker {
    fn make(&self) -> Item<'_> {
        let id = self.made.get();
        self.made.set(id + 1);
        self.drops.borrow_mut().push(0);
        Item { id, tracker: self }
    }

    /// `Drop` of value `id` panics.
    fn arm(&self, id: u32) {
        self.bomb.borrow_mut().push(id);
    }

    /// Every value made so far was dropped exactly once.
    #[track_caller]
    fn all_dropped_once(&self) {
        let drops = self.drops.borrow();
        assert!(
            drops.iter().all(|d| *d == 1),
            "drop counts by id: {drops:?}"
        );
    }

    fn dropped(&self) -> usize {
        self.drops.borrow().iter().filter(|d| **d > 0).count()
    }
}

struct Item<'t> {
    id: u32,
    tracker: &'t Tracker,
}

impl Drop for Item<'_> {
    fn drop(&mut self) {
        self.tracker.drops.borrow_mut()[self.id as usize] += 1;
        if self.tracker.bomb.borrow().contains(&self.id) {
            panic_any(Planned("drop"));
        }
    }
}

impl Clone for Item<'_> {
    fn clone(&self) -> Self {
        if self.tracker.bomb.borrow().contains(&(self.id + 1_000_000)) {
            panic_any(Planned("clone"));
        }
        self.tracker.make()
    }
}

/// `f` panics with a [`Planned`] payload; returns its name.
#[track_caller]
fn planned_panic(f: impl FnOnce()) -> &'static str {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("a planned panic");
    match err.downcast::<Planned>() {
        Ok(p) => p.0,
        Err(other) => std::panic::resume_unwind(other),
    }
}

/// The thread is outside every scope, nothing is in use, and a new scope
/// starts empty and works.
#[track_caller]
fn consistent_outside() {
    let st = stats();
    assert_eq!((st.depth, st.bytes_in_use), (0, 0), "{st}");
    with(|s| {
        assert_eq!((s.depth(), s.bytes_used()), (1, 0));
        let v = s.alloc_slice_fill_with(100, |i| i as u64);
        assert_eq!(v.iter().sum::<u64>(), 4950);
    });
}

#[test]
fn a_destructor_panicking_at_an_inner_exit_leaves_the_outer_scope_intact() {
    let t = Tracker::default();
    with(|outer| {
        let keep = outer.alloc_slice_fill_with(64, |i| i as u32);
        let outer_item = outer.alloc(t.make());
        let used = outer.bytes_used();
        let scopes = stats().scopes;
        let name = planned_panic(|| {
            with(|inner| {
                inner.alloc(t.make());
                inner.alloc(t.make());
                t.arm(2);
                inner.alloc(t.make()); // id 2: dropped first, panics
                inner.alloc_slice_copy(&[0u8; 10_000]);
            });
        });
        assert_eq!(name, "drop");
        // The inner values all dropped once (the others after the panic),
        // the outer one not yet.
        assert_eq!(t.dropped(), 3);
        assert_eq!(outer_item.id, 0);
        let st = stats();
        assert_eq!((st.depth, st.scopes), (1, scopes + 1), "{st}");
        assert_eq!(
            st.bytes_in_use, used,
            "the inner scope's bytes are released"
        );
        assert_eq!(outer.bytes_used(), used);
        assert!(keep.iter().enumerate().all(|(i, v)| *v == i as u32));
        // The inner level is reset and reusable.
        with(|inner| assert_eq!((inner.depth(), inner.bytes_used()), (2, 0)));
    });
    t.all_dropped_once();
    consistent_outside();
}

#[test]
fn a_destructor_panicking_at_an_outer_exit_after_inner_scopes() {
    let t = Tracker::default();
    let name = planned_panic(|| {
        with(|outer| {
            outer.alloc(t.make());
            t.arm(1);
            outer.alloc(t.make());
            outer.alloc(t.make());
            with(|inner| {
                inner.alloc(t.make());
                with(|innermost| {
                    innermost.alloc(t.make());
                });
            });
            assert_eq!(t.dropped(), 2);
        });
    });
    assert_eq!(name, "drop");
    t.all_dropped_once();
    consistent_outside();
}

#[test]
fn every_destructor_of_a_scope_may_panic_in_turn() {
    // One run per position of the panicking destructor.
    for bomb in 0..6 {
        let t = Tracker::default();
        t.arm(bomb);
        let name = planned_panic(|| {
            with(|s| {
                for _ in 0..3 {
                    s.alloc(t.make());
                }
                s.alloc_slice_fill_with(3, |_| t.make());
            });
        });
        assert_eq!(name, "drop");
        t.all_dropped_once();
        consistent_outside();
    }
}

/// A destructor that uses scratch itself: nests a scope, allocates values
/// with destructors in it, trims, and panics from inside the nested scope.
struct Reentrant<'t> {
    tracker: &'t Tracker,
    mode: u8,
}

impl Drop for Reentrant<'_> {
    fn drop(&mut self) {
        let t = self.tracker;
        let depth = stats().depth;
        with(|s| {
            assert_eq!(s.depth(), depth + 1);
            s.alloc(t.make());
            s.alloc_slice_copy(&[7u8; 5000]);
            match self.mode {
                0 => trim(),
                1 => release_all(),
                _ => {
                    with(|deeper| {
                        deeper.alloc(t.make());
                        release_all(); // leaves the open scopes alone
                        panic_any(Planned("nested"));
                    });
                }
            }
        });
        assert_eq!(stats().depth, depth);
    }
}

#[test]
fn destructors_that_reenter_scratch_and_panic_inside() {
    for mode in 0..3 {
        let t = Tracker::default();
        let result = catch_unwind(AssertUnwindSafe(|| {
            with(|outer| {
                let keep = outer.alloc_slice_fill_with(32, |i| i as u16);
                with(|inner| {
                    inner.alloc(t.make());
                    inner.alloc(Reentrant { tracker: &t, mode });
                    inner.alloc(t.make());
                });
                assert!(keep.iter().enumerate().all(|(i, v)| *v == i as u16));
                assert_eq!(stats().depth, 1);
            });
        }));
        match (mode, result) {
            (0 | 1, Ok(())) => {}
            (2, Err(p)) => assert_eq!(p.downcast_ref::<Planned>().map(|p| p.0), Some("nested")),
            (m, r) => panic!("mode {m}: unexpected outcome {:?}", r.is_ok()),
        }
        // 2 inner items + 1 in the destructor's scope (+1 in its nested one).
        assert_eq!(t.made.get(), if mode == 2 { 4 } else { 3 });
        t.all_dropped_once();
        consistent_outside();
    }
}

#[test]
fn a_panicking_fill_closure_drops_what_it_made_and_what_it_nested() {
    let t = Tracker::default();
    with(|s| {
        let before = s.bytes_used();
        let name = planned_panic(|| {
            s.alloc_slice_fill_with(10, |i| {
                // The closure allocates in the same scope and nests one.
                s.alloc(t.make());
                with(|inner| {
                    inner.alloc(t.make());
                    if i == 4 {
                        panic_any(Planned("fill"));
                    }
                });
                t.make()
            });
        });
        assert_eq!(name, "fill");
        // Inner-scope items dropped at once; the 4 elements and the 5 items
        // allocated in `s` wait for `s`'s exit.
        assert_eq!(t.dropped(), 5);
        assert!(s.bytes_used() > before);
        assert_eq!(stats().depth, 1);
    });
    assert_eq!(t.made.get(), 14);
    t.all_dropped_once();
    consistent_outside();
}

#[test]
fn a_panicking_clone_in_alloc_slice_clone() {
    let t = Tracker::default();
    let src: Vec<Item<'_>> = (0..6).map(|_| t.make()).collect();
    t.arm(1_000_000 + 3); // cloning element 3 panics
    let name = planned_panic(|| {
        with(|s| {
            s.alloc_slice_clone(&src);
        });
    });
    assert_eq!(name, "clone");
    assert_eq!(t.made.get(), 9); // 6 originals + 3 clones
    assert_eq!(t.dropped(), 3, "the 3 clones made were dropped");
    drop(src);
    t.all_dropped_once();
    consistent_outside();
}

#[test]
fn a_panicking_with_closure_at_depth_three() {
    let t = Tracker::default();
    with(|outer| {
        outer.alloc(t.make());
        let scopes = stats().scopes;
        let name = planned_panic(|| {
            with(|a| {
                a.alloc(t.make());
                with(|b| {
                    b.alloc(t.make());
                    b.alloc_slice_copy(&[1u64; 1000]);
                    panic_any(Planned("closure"));
                })
            })
        });
        assert_eq!(name, "closure");
        assert_eq!(t.dropped(), 2);
        assert_eq!(stats().scopes, scopes + 2);
        assert_eq!(stats().depth, 1);
    });
    t.all_dropped_once();
    consistent_outside();
}

/// An iterator that yields tracked items and panics at `panic_at`.
struct Faulty<'t> {
    tracker: &'t Tracker,
    next: usize,
    panic_at: usize,
}

impl<'t> Iterator for Faulty<'t> {
    type Item = Item<'t>;
    fn next(&mut self) -> Option<Item<'t>> {
        if self.next == self.panic_at {
            panic_any(Planned("iterator"));
        }
        self.next += 1;
        Some(self.tracker.make())
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        // Claims more than it yields, so `extend` reserves for it.
        (self.panic_at + 10, None)
    }
}

#[test]
fn scratch_vec_extend_with_a_panicking_iterator() {
    let t = Tracker::default();
    with(|s| {
        let mut v = s.vec();
        v.push(t.make());
        let name = planned_panic(|| {
            v.extend(Faulty {
                tracker: &t,
                next: 0,
                panic_at: 5,
            });
        });
        assert_eq!(name, "iterator");
        assert_eq!(v.len(), 6, "the items yielded before the panic are kept");
        assert_eq!(t.dropped(), 0);
        v.push(t.make());
        assert_eq!(
            v.iter().map(|i| i.id).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4, 5, 6]
        );
    });
    t.all_dropped_once();
    consistent_outside();
}

#[test]
fn scratch_vec_extend_from_slice_with_a_panicking_clone() {
    let t = Tracker::default();
    let src: Vec<Item<'_>> = (0..5).map(|_| t.make()).collect();
    t.arm(1_000_000 + 2);
    with(|s| {
        let mut v: ScratchVec<'_, Item<'_>> = s.vec();
        let name = planned_panic(|| v.extend_from_slice(&src));
        assert_eq!(name, "clone");
        assert_eq!(v.len(), 2);
    });
    assert_eq!(t.dropped(), 2);
    drop(src);
    t.all_dropped_once();
}

#[test]
fn scratch_vec_retain_with_a_panicking_predicate_or_destructor() {
    // The predicate panics at element `k`; or dropping a removed element
    // panics.
    for k in 0..8u32 {
        for drop_panics in [false, true] {
            let t = Tracker::default();
            with(|s| {
                let mut v = s.vec();
                v.extend((0..8).map(|_| t.make()));
                if drop_panics {
                    t.arm(k);
                }
                let name = planned_panic(|| {
                    v.retain(|item| {
                        if !drop_panics && item.id == k {
                            panic_any(Planned("predicate"));
                        }
                        item.id % 2 == 1
                    });
                    if !drop_panics || k % 2 == 1 {
                        // Nothing panicked: make the test's panic.
                        panic_any(Planned("none"));
                    }
                });
                t.bomb.borrow_mut().clear();
                let alive: Vec<u32> = v.iter().map(|i| i.id).collect();
                // No element is both in the vector and dropped.
                for id in &alive {
                    assert_eq!(t.drops.borrow()[*id as usize], 0, "k={k} {alive:?}");
                }
                assert_eq!(
                    alive.len() + t.dropped(),
                    8,
                    "k={k} {name}: every element is either kept or dropped"
                );
            });
            t.all_dropped_once();
        }
    }
    consistent_outside();
}

#[test]
fn scratch_vec_truncate_clear_and_drop_with_a_panicking_destructor() {
    for op in 0..3 {
        let t = Tracker::default();
        let name = planned_panic(|| {
            with(|s| {
                let mut v = s.vec();
                v.extend((0..6).map(|_| t.make()));
                t.arm(4);
                match op {
                    0 => v.truncate(2),
                    1 => v.clear(),
                    _ => drop(v),
                }
            });
        });
        assert_eq!(name, "drop");
        t.all_dropped_once();
    }
    consistent_outside();
}

#[test]
fn scratch_vec_into_iter_dropped_half_way_with_a_panicking_destructor() {
    let t = Tracker::default();
    let name = planned_panic(|| {
        with(|s| {
            let mut v = s.vec();
            v.extend((0..6).map(|_| t.make()));
            t.arm(2);
            let mut it = v.into_iter();
            let first = it.next().expect("6 elements");
            assert_eq!(first.id, 0);
            drop(it); // drops 1, 2 (panics), 3, 4, 5
        });
    });
    assert_eq!(name, "drop");
    t.all_dropped_once();
    consistent_outside();
}

#[test]
fn a_scratch_vec_of_an_outer_scope_grown_inside_a_panicking_inner_scope() {
    let t = Tracker::default();
    with(|outer| {
        let mut v = outer.vec();
        planned_panic(|| {
            with(|inner| {
                let tmp = inner.alloc_slice_fill_with(100, |i| i as u64);
                for x in tmp.iter() {
                    v.push((*x, t.make()));
                }
                panic_any(Planned("closure"));
            });
        });
        // The vector's buffer is in the outer scope: intact after the inner
        // scope's reset.
        assert_eq!(v.len(), 100);
        assert!(
            v.iter()
                .enumerate()
                .all(|(i, (x, item))| *x == i as u64 && item.id == i as u32)
        );
        with(|inner| {
            inner.alloc_slice_fill_with(10_000, |_| u64::MAX);
        });
        assert!(v.iter().enumerate().all(|(i, (x, _))| *x == i as u64));
    });
    t.all_dropped_once();
    consistent_outside();
}

#[test]
fn an_allocator_api2_vec_with_a_panicking_element() {
    use allocator_api2::vec::Vec;
    let t = Tracker::default();
    let name = planned_panic(|| {
        with(|s: &Scratch<'_>| {
            let mut v: Vec<Item<'_>, _> = Vec::new_in(s);
            v.extend((0..5).map(|_| t.make()));
            t.arm(1);
        });
    });
    assert_eq!(name, "drop");
    t.all_dropped_once();
    consistent_outside();
}

#[test]
fn published_stats_are_true_after_unwinds() {
    // Another thread reads what this one published.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let t = Tracker::default();
        for round in 0..3 {
            t.arm(3 * round);
            let _ = catch_unwind(AssertUnwindSafe(|| {
                with(|s| {
                    s.alloc_slice_copy(&[0u8; 3000]);
                    s.alloc(t.make()); // its destructor panics at the exit
                    with(|inner| {
                        inner.alloc(t.make());
                    });
                })
            }));
            let _ = catch_unwind(AssertUnwindSafe(|| {
                with(|s| {
                    s.alloc(t.make());
                    with(|_| panic_any(Planned("closure")));
                })
            }));
        }
        t.all_dropped_once();
        tx.send(stats()).expect("main alive");
    })
    .join()
    .expect("worker");
    let local = rx.recv().expect("worker sent");
    assert_eq!(
        (local.depth, local.bytes_in_use, local.scopes),
        (0, 0, 12),
        "{local}"
    );
    assert!(local.high_water_bytes >= 3000);
}

/// Reads a value of an outer scope in its destructor.
struct Reader<'a> {
    outer: &'a String,
    seen: &'a Cell<usize>,
    boom: bool,
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        assert_eq!(
            self.outer, "outer value",
            "read after the outer value's drop"
        );
        self.seen.set(self.seen.get() + 1);
        if self.boom {
            panic_any(Planned("drop"));
        }
    }
}

#[test]
fn inner_destructors_read_outer_values_also_when_one_panics() {
    let seen = Cell::new(0);
    with(|outer| {
        let name = outer.alloc(String::from("outer value"));
        let name_ref: &String = name;
        let got = planned_panic(|| {
            with(|inner| {
                for i in 0..4 {
                    inner.alloc(Reader {
                        outer: name_ref,
                        seen: &seen,
                        boom: i == 1,
                    });
                }
            });
        });
        assert_eq!(got, "drop");
        assert_eq!(seen.get(), 4);
        // Outer values are alive until the outer scope exits.
        assert_eq!(name_ref, "outer value");
    });
    consistent_outside();
}
