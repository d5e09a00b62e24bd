//! Panic injection into the one arena vector, run through both arenas it
//! serves (`FrameVec` and `ScratchVec`), against a model (`Vec<u64>` of ids):
//! random programs of pushes, inserts, removals, truncations, `extend` from
//! iterators that panic part-way, `extend_from_slice` whose `Clone` panics,
//! `retain` whose predicate panics or whose rejected element panics in
//! `Drop`, owning iterators dropped part-way with a panicking element, and
//! (frame) `into_slice`. After every step, whether it panicked or not: the
//! vector holds exactly the model's elements in order, every element that
//! left it was dropped exactly once and no other was dropped, and the
//! vector keeps working.
//!
//! At most one live element panics when dropped (two panicking destructors
//! in one drop abort the process, as for a `Vec`).

use std::panic::{AssertUnwindSafe, catch_unwind, panic_any};
use std::sync::{Arc, Mutex, Once};

use proptest::prelude::*;
use tickmem_frame::FrameArena;
use tickmem_vec::{ArenaAlloc, ArenaVec};

/// The payload of every injected panic.
struct Injected;

thread_local! {
    /// The next panic on this thread is an expected misuse panic.
    static EXPECTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Silence the default hook for injected and expected panics (keep it for
/// real ones).
fn quiet_injected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let expected = EXPECTED.with(|e| e.replace(false));
            if info.payload().downcast_ref::<Injected>().is_none() && !expected {
                default(info);
            }
        }));
    });
}

/// `f` panics with a message containing `what` (a misuse, not an injected
/// panic; an injected one during it, from a dropped element, is accepted).
#[track_caller]
fn expect_misuse_panic(what: &str, f: impl FnOnce()) {
    EXPECTED.with(|e| e.set(true));
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("a misuse panic");
    EXPECTED.with(|e| e.set(false));
    if err.is::<Injected>() {
        return;
    }
    let msg = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .expect("a message");
    assert!(msg.contains(what), "{msg}");
}

/// Drop counts by id (`Send + 'static`, so frame slices can keep elements).
#[derive(Default)]
struct Ledger {
    drops: Mutex<Vec<u32>>,
}

impl Ledger {
    fn drops_of(&self, id: u64) -> u32 {
        self.drops.lock().unwrap()[id as usize]
    }
}

/// A drop-counted element; `bomb` panics in `Drop`, `clone_bomb` in `Clone`.
struct Elem {
    id: u64,
    bomb: bool,
    clone_bomb: bool,
    ledger: Arc<Ledger>,
}

impl Drop for Elem {
    fn drop(&mut self) {
        self.ledger.drops.lock().unwrap()[self.id as usize] += 1;
        if self.bomb {
            panic_any(Injected);
        }
    }
}

/// The program's state besides the vector: the ledger, the model, the next
/// id, and the ids that must never be dropped again.
struct World {
    ledger: Arc<Ledger>,
    model: Vec<u64>,
    /// Every id made so far: `false` while it must be alive.
    gone: Vec<bool>,
    /// The one live id whose destructor panics, if any.
    bomb: Option<u64>,
    /// Ids left in the arena by `into_slice`, alive until it is reclaimed.
    kept: Vec<u64>,
}

impl World {
    fn new() -> Self {
        World {
            ledger: Arc::default(),
            model: Vec::new(),
            gone: Vec::new(),
            bomb: None,
            kept: Vec::new(),
        }
    }

    /// A new element; it panics when dropped if `bomb` and no other live
    /// element does.
    fn make(&mut self, bomb: bool, clone_bomb: bool) -> Elem {
        let id = self.gone.len() as u64;
        self.gone.push(false);
        self.ledger.drops.lock().unwrap().push(0);
        let bomb = bomb && self.bomb.is_none();
        if bomb {
            self.bomb = Some(id);
        }
        Elem {
            id,
            bomb,
            clone_bomb,
            ledger: self.ledger.clone(),
        }
    }

    /// `id` left the vector and was dropped.
    fn dropped(&mut self, id: u64) {
        self.gone[id as usize] = true;
        if self.bomb == Some(id) {
            self.bomb = None;
        }
    }

    /// The vector holds the model's ids; dropped ones were dropped once,
    /// live ones never.
    #[track_caller]
    fn check<'a, A: ArenaAlloc<'a>>(&self, v: &ArenaVec<'a, Elem, A>) {
        let ids: Vec<u64> = v.iter().map(|e| e.id).collect();
        assert_eq!(ids, self.model, "vector contents");
        for (id, &gone) in self.gone.iter().enumerate() {
            let drops = self.ledger.drops_of(id as u64);
            assert_eq!(drops, u32::from(gone), "drops of element {id}");
        }
    }
}

impl Clone for Elem {
    /// A new element (the next id), or an injected panic.
    fn clone(&self) -> Self {
        if self.clone_bomb {
            panic_any(Injected);
        }
        let mut drops = self.ledger.drops.lock().unwrap();
        drops.push(0);
        Elem {
            id: drops.len() as u64 - 1,
            bomb: false,
            clone_bomb: false,
            ledger: self.ledger.clone(),
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Push {
        bomb: bool,
    },
    Pop,
    Insert {
        at: usize,
        bomb: bool,
    },
    Remove {
        at: usize,
    },
    SwapRemove {
        at: usize,
    },
    Truncate {
        to: usize,
    },
    Clear,
    /// `extend` from an iterator of `n` new elements that panics before
    /// yielding item `panic_at`.
    Extend {
        n: usize,
        panic_at: Option<usize>,
    },
    /// `extend_from_slice` of `n` elements whose `Clone` panics at
    /// `panic_at` (each clone is a new element).
    ExtendFromSlice {
        n: usize,
        panic_at: Option<usize>,
    },
    /// `retain` keeping the elements whose `keep` bit is set, with a
    /// predicate that panics at element `panic_at`.
    Retain {
        keep: u64,
        panic_at: Option<usize>,
    },
    /// Replace the vector by a new one; the old one goes through
    /// `into_iter`: `take` elements are yielded, `back` from the back, the
    /// rest dropped with the iterator.
    IntoIter {
        take: usize,
        back: usize,
    },
    /// Frame only: leave the elements in the frame (`into_slice`), check
    /// them, then reclaim the frame; a new vector replaces it.
    IntoSlice,
    /// Drop the vector and start a new one.
    Drop,
}

fn op() -> impl Strategy<Value = Op> {
    let at = 0..12usize;
    let panic_at = prop::option::of(0..8usize);
    prop_oneof![
        6 => prop::bool::weighted(0.2).prop_map(|bomb| Op::Push { bomb }),
        2 => Just(Op::Pop),
        2 => (at.clone(), prop::bool::weighted(0.2)).prop_map(|(at, bomb)| Op::Insert { at, bomb }),
        2 => at.clone().prop_map(|at| Op::Remove { at }),
        1 => at.clone().prop_map(|at| Op::SwapRemove { at }),
        1 => at.clone().prop_map(|to| Op::Truncate { to }),
        1 => Just(Op::Clear),
        3 => (0..8usize, panic_at.clone()).prop_map(|(n, panic_at)| Op::Extend { n, panic_at }),
        2 => (0..8usize, panic_at.clone()).prop_map(|(n, panic_at)| Op::ExtendFromSlice { n, panic_at }),
        3 => (any::<u64>(), panic_at.clone()).prop_map(|(keep, panic_at)| Op::Retain { keep, panic_at }),
        1 => (0..6usize, 0..3usize).prop_map(|(take, back)| Op::IntoIter { take, back }),
        1 => Just(Op::IntoSlice),
        1 => Just(Op::Drop),
    ]
}

/// `Ok` or the injected panic; any other panic fails the test.
fn run(f: impl FnOnce()) -> Result<(), ()> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => Ok(()),
        Err(payload) if payload.is::<Injected>() => Err(()),
        Err(other) => std::panic::resume_unwind(other),
    }
}

/// Leaves a vector's elements in its arena and records them as kept.
type IntoSliceFn<'a, A> = dyn Fn(ArenaVec<'a, Elem, A>, &mut World);

/// Run `ops` on vectors from `new_vec`. `into_slice`, when the arena can
/// keep `Elem`s (frame), leaves a vector's elements in the arena, checks
/// them, has the arena drop them, and records that in the world.
fn interpret<'a, A: ArenaAlloc<'a>>(
    ops: &[Op],
    new_vec: &dyn Fn() -> ArenaVec<'a, Elem, A>,
    into_slice: Option<&IntoSliceFn<'a, A>>,
) -> World {
    quiet_injected_panics();
    let mut w = World::new();
    let mut v = new_vec();
    for op in ops {
        match *op {
            Op::Push { bomb } => {
                let e = w.make(bomb, false);
                w.model.push(e.id);
                v.push(e);
            }
            Op::Pop => {
                if let Some(e) = v.pop() {
                    assert_eq!(Some(e.id), w.model.pop());
                    let id = e.id;
                    w.dropped(id);
                    let _ = run(move || drop(e));
                }
            }
            Op::Insert { at, bomb } => {
                if at <= v.len() {
                    let e = w.make(bomb, false);
                    w.model.insert(at, e.id);
                    v.insert(at, e);
                } else {
                    // Out of bounds: a clear panic, the vector unchanged
                    // (the value is dropped with the panic, so it must not
                    // panic itself: that would abort, as for a `Vec`).
                    let e = w.make(false, false);
                    w.dropped(e.id);
                    expect_misuse_panic("out of bounds", || v.insert(at, e));
                }
            }
            Op::Remove { at } | Op::SwapRemove { at } if at < v.len() => {
                let e = if matches!(op, Op::Remove { .. }) {
                    w.model.remove(at);
                    v.remove(at)
                } else {
                    w.model.swap_remove(at);
                    v.swap_remove(at)
                };
                w.dropped(e.id);
                let _ = run(move || drop(e));
            }
            Op::Remove { at } | Op::SwapRemove { at } => {
                let before = v.len();
                expect_misuse_panic("index", || drop(v.remove(at)));
                expect_misuse_panic("index", || drop(v.swap_remove(at)));
                assert_eq!(v.len(), before);
            }
            Op::Truncate { to } => {
                for &id in w.model.iter().skip(to) {
                    w.gone[id as usize] = true;
                }
                w.model.truncate(to);
                w.bomb = w.bomb.filter(|b| !w.gone[*b as usize]);
                let _ = run(|| v.truncate(to));
            }
            Op::Clear => {
                for &id in &w.model {
                    w.gone[id as usize] = true;
                }
                w.model.clear();
                w.bomb = None;
                let _ = run(|| v.clear());
            }
            Op::Extend { n, panic_at } => {
                let made: Vec<Elem> = (0..n).map(|_| w.make(false, false)).collect();
                let yielded = panic_at.map_or(n, |p| p.min(n));
                let ids: Vec<u64> = made.iter().map(|e| e.id).collect();
                w.model.extend(&ids[..yielded]);
                // The items never yielded are dropped with the iterator.
                for &id in &ids[yielded..] {
                    w.dropped(id);
                }
                let mut made = made.into_iter().enumerate();
                let iter = std::iter::from_fn(|| {
                    let (i, e) = made.next()?;
                    if Some(i) == panic_at {
                        drop(e);
                        panic_any(Injected);
                    }
                    Some(e)
                });
                let res = run(|| v.extend(iter));
                assert_eq!(res.is_err(), panic_at.is_some_and(|p| p < n));
            }
            Op::ExtendFromSlice { n, panic_at } => {
                let src: Vec<Elem> = (0..n).map(|i| w.make(false, Some(i) == panic_at)).collect();
                let first = w.gone.len() as u64;
                let res = run(|| v.extend_from_slice(&src));
                assert_eq!(res.is_err(), panic_at.is_some_and(|p| p < n));
                // The clones made before the panic (new ids) are in the
                // vector.
                let made = w.ledger.drops.lock().unwrap().len() as u64;
                assert_eq!(made - first, panic_at.map_or(n, |p| p.min(n)) as u64);
                for id in first..made {
                    w.gone.push(false);
                    w.model.push(id);
                }
                for e in &src {
                    w.dropped(e.id);
                }
                drop(src);
            }
            Op::Retain { keep, panic_at } => {
                let len = w.model.len();
                let mut kept = Vec::new();
                let mut stop = len;
                for (i, &id) in w.model.iter().enumerate() {
                    if Some(i) == panic_at {
                        stop = i;
                        break;
                    }
                    let is_bomb = w.bomb == Some(id);
                    if keep >> (i % 64) & 1 == 1 {
                        kept.push(id);
                    } else {
                        w.gone[id as usize] = true;
                        if is_bomb {
                            // Its destructor panics: retain stops there and
                            // keeps the rest.
                            stop = i + 1;
                            break;
                        }
                    }
                }
                kept.extend(&w.model[stop.min(len)..]);
                w.model = kept;
                w.bomb = w.bomb.filter(|b| !w.gone[*b as usize]);
                let mut i = 0;
                let _ = run(|| {
                    v.retain(|_| {
                        if Some(i) == panic_at {
                            panic_any(Injected);
                        }
                        let k = keep >> (i % 64) & 1 == 1;
                        i += 1;
                        k
                    })
                });
            }
            Op::IntoIter { take, back } => {
                let old = std::mem::replace(&mut v, new_vec());
                let mut it = old.into_iter();
                for _ in 0..take {
                    match it.next() {
                        Some(e) => {
                            assert_eq!(e.id, w.model.remove(0));
                            w.dropped(e.id);
                            let _ = run(move || drop(e));
                        }
                        None => assert!(w.model.is_empty()),
                    }
                }
                for _ in 0..back {
                    if let Some(e) = it.next_back() {
                        assert_eq!(Some(e.id), w.model.pop());
                        w.dropped(e.id);
                        let _ = run(move || drop(e));
                    }
                }
                let rest: Vec<u64> = it.as_slice().iter().map(|e| e.id).collect();
                assert_eq!(rest, w.model);
                assert_eq!(it.len(), rest.len());
                for id in std::mem::take(&mut w.model) {
                    w.dropped(id);
                }
                let _ = run(move || drop(it));
            }
            Op::IntoSlice => {
                if let Some(into_slice) = into_slice {
                    let old = std::mem::replace(&mut v, new_vec());
                    into_slice(old, &mut w);
                }
            }
            Op::Drop => {
                let old = std::mem::replace(&mut v, new_vec());
                for id in std::mem::take(&mut w.model) {
                    w.dropped(id);
                }
                let _ = run(move || drop(old));
            }
        }
        w.check(&v);
        // The vector keeps working after whatever happened.
        let probe = w.make(false, false);
        w.model.push(probe.id);
        v.push(probe);
        w.check(&v);
    }
    for id in std::mem::take(&mut w.model) {
        w.dropped(id);
    }
    let _ = run(move || drop(v));
    for id in 0..w.gone.len() as u64 {
        let expected = u32::from(!w.kept.contains(&id));
        assert_eq!(w.ledger.drops_of(id), expected, "element {id} in the end");
    }
    w
}

/// Frame: `into_slice` leaves the elements in the frame; they stay alive
/// (and are recorded as kept) until the frame is reclaimed.
fn frame_into_slice<'a>(v: tickmem_frame::FrameVec<'a, Elem>, w: &mut World) {
    let ids: Vec<u64> = v.iter().map(|e| e.id).collect();
    assert_eq!(ids, w.model);
    let kept = v.into_slice();
    let kept_ids: Vec<u64> = kept.iter().map(|e| e.id).collect();
    assert_eq!(kept_ids, ids);
    w.kept.append(&mut w.model);
}

/// 256 cases, 6 under Miri; `PROPTEST_CASES` overrides (sanitizer runs use
/// fewer, soaks more).
fn config() -> ProptestConfig {
    let cases = match std::env::var("PROPTEST_CASES") {
        Ok(_) => ProptestConfig::default().cases,
        Err(_) if cfg!(miri) => 6,
        Err(_) => 256,
    };
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn program() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 1..if cfg!(miri) { 20 } else { 60 })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn frame_vec_survives_panics(ops in program()) {
        let mut arena = FrameArena::new();
        let w = interpret(&ops, &|| arena.vec(), Some(&frame_into_slice));
        // The kept elements are dropped when their frame is reclaimed (a
        // panicking one after all the others ran).
        for _ in 0..2 {
            let _ = run(|| arena.begin_frame());
        }
        for &id in &w.kept {
            prop_assert_eq!(w.ledger.drops_of(id), 1, "kept element {} dropped once", id);
        }
    }

    #[test]
    fn scratch_vec_survives_panics(ops in program()) {
        let w = tickmem_scratch::with(|s| interpret(&ops, &|| s.vec(), None));
        prop_assert!(w.kept.is_empty());
    }
}
