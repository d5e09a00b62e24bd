//! `pool_ops`: random operation sequences on a `Pool`, checked against a
//! `BTreeMap` model after every step, with values whose `Drop` and `Clone`
//! (and the `retain` predicate) panic where the input says.
//!
//! Checks: every value dropped exactly once; every handle ever issued (and
//! forged ones) reads the model's value or `None`; iteration from both ends
//! is in slot order and matches the model; the pool stays usable after an
//! unwind.
#![no_main]

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tickmem_pool::{Handle, Pool};

#[derive(Arbitrary, Debug)]
struct Program {
    /// `Some(n)`: a fixed pool of capacity `n % 64`.
    fixed: Option<u8>,
    /// Start new slots near the end of the generation range.
    high_generations: bool,
    ops: Vec<(Op, u8)>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Insert(u16),
    Remove(u8),
    GetMut(u8, u16),
    /// A handle made from bits: slot `.0`, generation `.1`.
    Forge(u8, u32),
    GetDisjoint(u8, u8, u8),
    Retain(u8),
    IterMut,
    /// Walk with `next` (true) and `next_back` (false), in this pattern.
    Walk(Vec<bool>),
    Clear,
    Drain(u8),
    Extend(Vec<u16>),
    CloneSwap,
    IntoIter(u8),
    Reserve(u8),
}

#[derive(Default)]
struct Tracker {
    fuse: Cell<u8>,
    next_id: Cell<u64>,
    alive: RefCell<BTreeSet<u64>>,
}

impl Tracker {
    fn tick(&self) {
        match self.fuse.get() {
            0 => {}
            1 => {
                self.fuse.set(0);
                panic!("injected panic");
            }
            n => self.fuse.set(n - 1),
        }
    }

    fn make(self: &Rc<Self>, v: u16) -> Val {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        self.alive.borrow_mut().insert(id);
        Val {
            v,
            id,
            t: Rc::clone(self),
        }
    }
}

struct Val {
    v: u16,
    id: u64,
    t: Rc<Tracker>,
}

impl Clone for Val {
    fn clone(&self) -> Self {
        self.t.tick();
        self.t.make(self.v)
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        assert!(self.t.alive.borrow_mut().remove(&self.id), "dropped twice");
        self.t.tick();
    }
}

#[derive(Default)]
struct Model {
    live: BTreeMap<Handle<Val>, u16>,
    history: Vec<Handle<Val>>,
}

impl Model {
    fn pick(&self, i: u8) -> Option<Handle<Val>> {
        (!self.history.is_empty()).then(|| self.history[usize::from(i) % self.history.len()])
    }

    fn add(&mut self, h: Handle<Val>, v: u16) {
        assert!(!self.history.contains(&h), "handle {h:?} issued twice");
        self.history.push(h);
        self.live.insert(h, v);
    }
}

fn apply(
    pool: &mut Pool<Val>,
    model: &mut Model,
    t: &Rc<Tracker>,
    fresh: &dyn Fn() -> Pool<Val>,
    op: &Op,
) {
    match op {
        Op::Insert(v) => {
            if let Ok(h) = pool.try_insert(t.make(*v)) {
                model.add(h, *v);
            }
        }
        Op::Remove(i) => {
            if let Some(h) = model.pick(*i) {
                let got = pool.remove(h);
                assert_eq!(got.as_ref().map(|b| b.v), model.live.remove(&h));
            }
        }
        Op::GetMut(i, v) => {
            if let Some(h) = model.pick(*i) {
                match pool.get_mut(h) {
                    Some(b) => {
                        b.v = *v;
                        assert!(model.live.insert(h, *v).is_some());
                    }
                    None => assert!(!model.live.contains_key(&h)),
                }
            }
        }
        Op::Forge(slot, generation) => {
            let bits = (u64::from(*generation) << 32) | u64::from(*slot);
            if let Some(h) = Handle::<Val>::from_bits(bits) {
                assert_eq!(pool.get(h).map(|b| b.v), model.live.get(&h).copied());
                assert_eq!(pool.contains(h), model.live.contains_key(&h));
            }
        }
        Op::GetDisjoint(a, b, c) => {
            if let (Some(a), Some(b), Some(c)) = (model.pick(*a), model.pick(*b), model.pick(*c)) {
                let distinct =
                    a.index() != b.index() && b.index() != c.index() && a.index() != c.index();
                let expect = distinct && [a, b, c].iter().all(|h| model.live.contains_key(h));
                match pool.get_disjoint_mut([a, b, c]) {
                    Some(values) => {
                        assert!(expect);
                        for (h, b) in [a, b, c].into_iter().zip(values) {
                            b.v = b.v.wrapping_add(1);
                            model.live.insert(h, b.v);
                        }
                    }
                    None => assert!(!expect),
                }
            }
        }
        Op::Retain(m) => {
            let m = u16::from(*m).max(2);
            let decided = RefCell::new(Vec::new());
            let result = catch_unwind(AssertUnwindSafe(|| {
                pool.retain(|h, b| {
                    t.tick();
                    b.v = b.v.wrapping_add(1);
                    let keep = b.v % m != 0;
                    decided.borrow_mut().push((h, b.v, keep));
                    keep
                });
            }));
            for (h, v, keep) in decided.into_inner() {
                assert!(model.live.contains_key(&h));
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
            for (h, b) in pool.iter_mut() {
                b.v = b.v.wrapping_mul(3);
                *model
                    .live
                    .get_mut(&h)
                    .expect("iter_mut yielded a dead handle") = b.v;
            }
        }
        Op::Walk(pattern) => {
            let want: Vec<_> = model.live.iter().map(|(&h, &v)| (h, v)).collect();
            let mut it = pool.iter();
            let (mut lo, mut hi) = (0, want.len());
            for &front in pattern {
                assert_eq!(it.len(), hi - lo);
                let got = if front { it.next() } else { it.next_back() };
                if lo == hi {
                    assert!(got.is_none());
                    continue;
                }
                let expect = if front {
                    lo += 1;
                    want[lo - 1]
                } else {
                    hi -= 1;
                    want[hi]
                };
                let (h, b) = got.expect("iterator ended early");
                assert_eq!((h, b.v), expect);
            }
            let rest: Vec<_> = it.map(|(h, b)| (h, b.v)).collect();
            assert_eq!(rest, want[lo..hi]);
        }
        Op::Clear => {
            model.live.clear();
            pool.clear();
        }
        Op::Drain(take) => {
            model.live.clear();
            let mut drain = pool.drain();
            for (h, b) in drain.by_ref().take(usize::from(*take)) {
                assert!(model.history.contains(&h));
                drop(b);
            }
        }
        Op::Extend(values) => {
            let before: BTreeSet<_> = pool.handles().collect();
            let room = pool.capacity().saturating_sub(pool.len());
            let room = if pool.is_fixed() { room } else { usize::MAX };
            let made = Cell::new(0);
            let result = catch_unwind(AssertUnwindSafe(|| {
                pool.extend(values.iter().take(room).map(|&v| {
                    t.tick();
                    made.set(made.get() + 1);
                    t.make(v)
                }));
            }));
            let added: Vec<_> = pool.handles().filter(|h| !before.contains(h)).collect();
            assert_eq!(added.len(), made.get());
            for h in added {
                let v = pool[h].v;
                model.add(h, v);
            }
            if let Err(panic) = result {
                std::panic::resume_unwind(panic);
            }
        }
        Op::CloneSwap => {
            let clone = pool.clone();
            drop(std::mem::replace(pool, clone));
        }
        Op::IntoIter(take) => {
            let old = std::mem::replace(pool, fresh());
            *model = Model::default();
            let mut values = old.into_iter();
            for (_, b) in values.by_ref().take(usize::from(*take)) {
                drop(b);
            }
        }
        Op::Reserve(n) => {
            let before = pool.capacity();
            if pool.try_reserve(usize::from(*n)).is_ok() {
                assert!(pool.capacity() >= pool.len() + usize::from(*n));
            } else {
                assert!(pool.is_fixed() && pool.len() + usize::from(*n) > before);
            }
        }
    }
}

fn check(pool: &Pool<Val>, model: &Model, t: &Tracker) {
    let ids: BTreeSet<u64> = pool.values().map(|b| b.id).collect();
    assert_eq!(ids, *t.alive.borrow(), "leaked or lost values");
    assert_eq!(pool.len(), model.live.len());
    for h in &model.history {
        assert_eq!(pool.get(*h).map(|b| b.v), model.live.get(h).copied());
    }
    let seen: Vec<_> = pool.iter().map(|(h, b)| (h, b.v)).collect();
    let want: Vec<_> = model.live.iter().map(|(&h, &v)| (h, v)).collect();
    assert_eq!(seen, want, "iteration must be the model in slot order");
    if pool.is_fixed() {
        assert!(pool.len() <= pool.capacity());
    }
}

fuzz_target!(|program: Program| {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        // libFuzzer's hook aborts on every panic; let the injected ones unwind.
        let crash = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&"injected panic") {
                crash(info);
            }
        }));
    });
    let fixed = program.fixed.map(|n| usize::from(n % 64));
    let high = program.high_generations;
    let fresh = move || {
        let mut pool = match fixed {
            Some(capacity) => Pool::fixed(capacity),
            None => Pool::new(),
        };
        if high {
            pool.__set_first_generation(std::num::NonZeroU32::new(u32::MAX - 2).unwrap());
        }
        pool
    };
    let t = Rc::new(Tracker::default());
    let mut pool = fresh();
    let mut model = Model::default();
    for (op, fuse) in program.ops.iter().take(256) {
        t.fuse.set(*fuse % 8);
        let _ = catch_unwind(AssertUnwindSafe(|| {
            apply(&mut pool, &mut model, &t, &fresh, op)
        }));
        t.fuse.set(0);
        check(&pool, &model, &t);
    }
    drop(pool);
    assert!(t.alive.borrow().is_empty(), "values leaked");
});
