//! Panic-injection model test: random programs run against `Pool` and a
//! `HashMap` model while user callbacks (a value's `Drop` or `Clone`, a
//! `retain` predicate, the body of an `iter_mut` loop, an iterator fed to
//! `extend`) panic at a random point. Every operation runs under
//! `catch_unwind`; after it, whether it unwound or not:
//!
//! * every value ever made is dropped at most once, and the values still
//!   alive are exactly the values in the pool (no leak, no double drop);
//! * every handle ever issued reads the model's value or `None`;
//! * `len`, `iter`, `handles` and `values` agree with the model;
//!
//! and the next operation uses the pool as if nothing happened. At the end
//! the pool is dropped and every value must have been dropped exactly once.
//!
//! At most one callback panics per operation (a second panic while
//! unwinding aborts, in `Vec` as here). Runs a few cases under Miri.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use proptest::prelude::*;
use proptest::sample::Index;
use tickmem_pool::{Handle, Pool};

/// Counts callbacks and panics at the `countdown`-th one (0 = never).
#[derive(Default)]
struct Tracker {
    countdown: Cell<u32>,
    next_id: Cell<u64>,
    alive: RefCell<HashSet<u64>>,
    /// Drops of a value that was not alive: must stay 0.
    double_drops: Cell<u32>,
}

impl Tracker {
    /// A user callback runs: panics if the fuse says so (once).
    fn tick(&self) {
        match self.countdown.get() {
            0 => {}
            1 => {
                self.countdown.set(0);
                panic!("injected panic");
            }
            n => self.countdown.set(n - 1),
        }
    }

    fn make(self: &Rc<Self>, v: u64) -> Bomb {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        self.alive.borrow_mut().insert(id);
        Bomb {
            v,
            id,
            t: Rc::clone(self),
        }
    }
}

/// A value whose `Drop` and `Clone` are user callbacks that may panic.
struct Bomb {
    v: u64,
    id: u64,
    t: Rc<Tracker>,
}

impl Clone for Bomb {
    fn clone(&self) -> Self {
        self.t.tick();
        self.t.make(self.v)
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if !self.t.alive.borrow_mut().remove(&self.id) {
            self.t.double_drops.set(self.t.double_drops.get() + 1);
        }
        self.t.tick();
    }
}

impl std::fmt::Debug for Bomb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.v, self.id)
    }
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u64),
    Remove(Index),
    Get(Index),
    GetDisjointMut(Index, Index),
    /// Keep values whose new value (times 3) is not a multiple of `m`.
    Retain(u64),
    IterMut,
    Clear,
    /// Drain, take this many, drop the rest with the iterator.
    Drain(usize),
    /// Extend with values from an iterator that is itself a callback.
    Extend(Vec<u64>),
    /// Replace the pool with its clone (values' `Clone`, then the old pool's
    /// values' `Drop`).
    CloneSwap,
    /// Consume the pool, take this many values, drop the iterator; continue
    /// with a fresh pool (the history starts over).
    IntoIter(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => any::<u64>().prop_map(Op::Insert),
        5 => any::<Index>().prop_map(Op::Remove),
        2 => any::<Index>().prop_map(Op::Get),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Op::GetDisjointMut(a, b)),
        2 => (2_u64..5).prop_map(Op::Retain),
        2 => Just(Op::IterMut),
        1 => Just(Op::Clear),
        2 => (0_usize..4).prop_map(Op::Drain),
        2 => prop::collection::vec(any::<u64>(), 0..6).prop_map(Op::Extend),
        2 => Just(Op::CloneSwap),
        1 => (0_usize..4).prop_map(Op::IntoIter),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Growable,
    Fixed(usize),
}

fn new_pool(kind: Kind) -> Pool<Bomb> {
    match kind {
        Kind::Growable => Pool::new(),
        Kind::Fixed(capacity) => Pool::fixed(capacity),
    }
}

#[derive(Default)]
struct Model {
    live: HashMap<Handle<Bomb>, u64>,
    history: Vec<Handle<Bomb>>,
}

impl Model {
    fn pick(&self, i: &Index) -> Option<Handle<Bomb>> {
        (!self.history.is_empty()).then(|| *i.get(&self.history))
    }

    fn add(&mut self, h: Handle<Bomb>, v: u64) -> Result<(), TestCaseError> {
        prop_assert!(!self.history.contains(&h), "handle {:?} issued twice", h);
        self.history.push(h);
        self.live.insert(h, v);
        Ok(())
    }
}

/// Runs one operation; updates the model from what the callbacks saw, so it
/// is exact whether or not a callback panicked.
fn apply(
    pool: &mut Pool<Bomb>,
    model: &mut Model,
    t: &Rc<Tracker>,
    kind: Kind,
    op: &Op,
) -> Result<(), TestCaseError> {
    match op {
        Op::Insert(v) => {
            if let Ok(h) = pool.try_insert(t.make(*v)) {
                model.add(h, *v)?;
            }
            // A refused value is dropped here (its `Drop` may panic).
        }
        Op::Remove(i) => {
            if let Some(h) = model.pick(i) {
                let got = pool.remove(h);
                let want = model.live.remove(&h);
                prop_assert_eq!(got.as_ref().map(|b| b.v), want);
                drop(got); // may panic: the pool is done with it
            }
        }
        Op::Get(i) => {
            if let Some(h) = model.pick(i) {
                prop_assert_eq!(pool.get(h).map(|b| b.v), model.live.get(&h).copied());
            }
        }
        Op::GetDisjointMut(a, b) => {
            if let (Some(a), Some(b)) = (model.pick(a), model.pick(b)) {
                let expect = a != b && model.live.contains_key(&a) && model.live.contains_key(&b);
                match pool.get_disjoint_mut([a, b]) {
                    Some([x, y]) => {
                        prop_assert!(expect);
                        x.v = x.v.wrapping_add(1);
                        y.v = y.v.wrapping_add(2);
                        *model.live.get_mut(&a).unwrap() = x.v;
                        *model.live.get_mut(&b).unwrap() = y.v;
                    }
                    None => prop_assert!(!expect),
                }
            }
        }
        Op::Retain(m) => {
            // What the predicate decided, recorded before it returns; the
            // pool removes a refused value before dropping it.
            let decided = RefCell::new(Vec::new());
            let result = catch_unwind(AssertUnwindSafe(|| {
                pool.retain(|h, b| {
                    t.tick();
                    b.v = b.v.wrapping_mul(3);
                    let keep = b.v % m != 0;
                    decided.borrow_mut().push((h, b.v, keep));
                    keep
                });
            }));
            let decided = decided.into_inner();
            let visited: HashSet<_> = decided.iter().map(|d| d.0).collect();
            prop_assert_eq!(visited.len(), decided.len(), "retain visited a value twice");
            for (h, v, keep) in decided {
                prop_assert!(model.live.contains_key(&h), "retain visited a dead handle");
                if keep {
                    model.live.insert(h, v);
                } else {
                    model.live.remove(&h);
                }
            }
            if let Err(panic) = result {
                std::panic::resume_unwind(panic);
            }
        }
        Op::IterMut => {
            let seen = RefCell::new(Vec::new());
            let result = catch_unwind(AssertUnwindSafe(|| {
                for (h, b) in pool.iter_mut() {
                    t.tick();
                    b.v = b.v.wrapping_add(u64::from(h.index()) + 1);
                    seen.borrow_mut().push((h, b.v));
                }
            }));
            for (h, v) in seen.into_inner() {
                prop_assert!(
                    model.live.insert(h, v).is_some(),
                    "iter_mut yielded a dead handle"
                );
            }
            if let Err(panic) = result {
                std::panic::resume_unwind(panic);
            }
        }
        Op::Clear => {
            // Whatever panics, the pool ends up empty.
            model.live.clear();
            pool.clear();
        }
        Op::Drain(take) => {
            model.live.clear();
            let mut drain = pool.drain();
            for (h, b) in drain.by_ref().take(*take) {
                prop_assert!(model.history.contains(&h));
                drop(b); // may panic: the drain then drops the rest
            }
            drop(drain);
        }
        Op::Extend(values) => {
            let before: HashSet<_> = pool.handles().collect();
            let yielded = Cell::new(0);
            let room = match kind {
                Kind::Growable => usize::MAX,
                Kind::Fixed(_) => pool.capacity() - pool.len(),
            };
            let result = catch_unwind(AssertUnwindSafe(|| {
                pool.extend(values.iter().take(room).map(|&v| {
                    t.tick();
                    yielded.set(yielded.get() + 1);
                    t.make(v)
                }));
            }));
            // The handles are discarded by `extend`: find the new ones.
            let mut added: Vec<_> = pool.handles().filter(|h| !before.contains(h)).collect();
            prop_assert_eq!(added.len(), yielded.get(), "extend lost or invented values");
            let mut want: Vec<u64> = values[..yielded.get()].to_vec();
            let mut got: Vec<u64> = added.iter().map(|&h| pool[h].v).collect();
            want.sort_unstable();
            got.sort_unstable();
            prop_assert_eq!(got, want);
            added.sort();
            for h in added {
                let v = pool[h].v;
                model.add(h, v)?;
            }
            if let Err(panic) = result {
                std::panic::resume_unwind(panic);
            }
        }
        Op::CloneSwap => {
            let clone = pool.clone(); // a panic here leaves `pool` as it was
            prop_assert_eq!(clone.len(), pool.len());
            for (h, b) in pool.iter() {
                prop_assert_eq!(clone.get(h).map(|c| c.v), Some(b.v));
            }
            // The old pool is dropped here: a panicking `Drop` still drops
            // the rest, and `pool` already is the clone.
            drop(std::mem::replace(pool, clone));
        }
        Op::IntoIter(take) => {
            let old = std::mem::replace(pool, new_pool(kind));
            *model = Model::default();
            let mut values = old.into_iter();
            for (_, b) in values.by_ref().take(*take) {
                drop(b);
            }
            drop(values);
        }
    }
    Ok(())
}

fn check(pool: &Pool<Bomb>, model: &Model, t: &Tracker) -> Result<(), TestCaseError> {
    prop_assert_eq!(t.double_drops.get(), 0, "a value was dropped twice");
    let in_pool: HashSet<u64> = pool.values().map(|b| b.id).collect();
    prop_assert_eq!(in_pool.len(), pool.len(), "a value is in the pool twice");
    prop_assert_eq!(&in_pool, &*t.alive.borrow(), "leaked or lost values");
    prop_assert_eq!(pool.len(), model.live.len());
    for &h in &model.history {
        prop_assert_eq!(pool.get(h).map(|b| b.v), model.live.get(&h).copied());
        prop_assert_eq!(pool.contains(h), model.live.contains_key(&h));
    }
    let seen: HashMap<_, _> = pool.iter().map(|(h, b)| (h, b.v)).collect();
    prop_assert_eq!(&seen, &model.live);
    prop_assert_eq!(pool.iter().len(), model.live.len());
    let handles: Vec<_> = pool.handles().collect();
    let mut sorted = handles.clone();
    sorted.sort_by_key(|h| h.index());
    prop_assert_eq!(&handles, &sorted, "iteration is not in slot order");
    let values: Vec<_> = pool.values().map(|b| b.v).collect();
    let pairs: Vec<_> = pool.iter().map(|(h, b)| (h, b.v)).collect();
    prop_assert_eq!(handles.into_iter().zip(values).collect::<Vec<_>>(), pairs);
    Ok(())
}

fn run(kind: Kind, program: Vec<(Op, u32)>) -> Result<(), TestCaseError> {
    let t = Rc::new(Tracker::default());
    let mut pool = new_pool(kind);
    let mut model = Model::default();
    for (op, fuse) in &program {
        t.countdown.set(*fuse);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            apply(&mut pool, &mut model, &t, kind, op)
        }));
        t.countdown.set(0);
        match outcome {
            Ok(result) => result?,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| panic.downcast_ref::<String>().map(String::as_str));
                prop_assert_eq!(message, Some("injected panic"), "during {:?}", op);
            }
        }
        check(&pool, &model, &t)?;
    }
    drop(pool);
    prop_assert_eq!(t.double_drops.get(), 0, "a value was dropped twice");
    prop_assert!(
        t.alive.borrow().is_empty(),
        "values leaked: {:?}",
        t.alive.borrow()
    );
    Ok(())
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Growable), (0_usize..10).prop_map(Kind::Fixed)]
}

/// A fuse per operation: mostly armed, to fire at one of the first few
/// callbacks (0 = no panic).
fn fuse() -> impl Strategy<Value = u32> {
    prop_oneof![1 => Just(0_u32), 3 => 1_u32..8]
}

fn cases() -> u32 {
    if cfg!(miri) { 6 } else { 1500 }
}

/// Under Miri: few cases, and no failure file (Miri isolates the file
/// system).
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::with_cases(cases());
    if cfg!(miri) {
        config.failure_persistence = None;
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn pool_survives_panics_in_every_callback(
        kind in kind(),
        program in prop::collection::vec((op(), fuse()), 1..if cfg!(miri) { 30 } else { 60 }),
    ) {
        // Silence the injected panics' messages (this binary has one test).
        std::panic::set_hook(Box::new(|_| {}));
        run(kind, program)?;
    }
}
