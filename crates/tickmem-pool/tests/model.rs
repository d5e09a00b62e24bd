//! Model test: random programs run against `Pool` and against a
//! `HashMap<Handle, u64>` (plus a little bookkeeping about slots and
//! generations), compared after every step.
//!
//! The pool holds `Counted` values that track how many are alive, so every
//! step also checks that no value was leaked or dropped twice.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::rc::Rc;

use proptest::prelude::*;
use proptest::sample::Index;
use tickmem_pool::{Handle, Pool};

/// A value that counts live instances in a shared counter.
#[derive(Debug)]
struct Counted {
    v: u64,
    live: Rc<Cell<i64>>,
}

impl Counted {
    fn new(v: u64, live: &Rc<Cell<i64>>) -> Self {
        live.set(live.get() + 1);
        Self {
            v,
            live: Rc::clone(live),
        }
    }
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        Self::new(self.v, &self.live)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.live.set(self.live.get() - 1);
    }
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u64),
    /// `try_insert`: on a fixed pool it may fail, on a growable one it may not.
    TryInsert(u64),
    Remove(Index),
    Get(Index),
    GetMut(Index, u64),
    Contains(Index),
    /// A handle forged from bits: a slot index and the generation that slot
    /// will give its next value (matches nothing unless that value is live).
    ForgeNext(Index),
    GetDisjointMut(Index, Index),
    Retain(u64),
    IterMut,
    Clear,
    /// Drain, taking this many items before dropping the iterator.
    Drain(usize),
    CloneSwap,
    /// Walk `iter()` from both ends, bit `k` of the pattern choosing the end
    /// of step `k` (1: the back).
    Ends(u64),
    /// Consume a clone with `into_iter`, taking this many items from the
    /// ends the pattern chooses, then dropping the iterator.
    IntoIter(u64, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => any::<u64>().prop_map(Op::Insert),
        4 => any::<u64>().prop_map(Op::TryInsert),
        6 => any::<Index>().prop_map(Op::Remove),
        3 => any::<Index>().prop_map(Op::Get),
        2 => (any::<Index>(), any::<u64>()).prop_map(|(i, v)| Op::GetMut(i, v)),
        2 => any::<Index>().prop_map(Op::Contains),
        2 => any::<Index>().prop_map(Op::ForgeNext),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Op::GetDisjointMut(a, b)),
        1 => (2_u64..5).prop_map(Op::Retain),
        1 => Just(Op::IterMut),
        1 => Just(Op::Clear),
        1 => (0_usize..4).prop_map(Op::Drain),
        1 => Just(Op::CloneSwap),
        1 => any::<u64>().prop_map(Op::Ends),
        1 => (any::<u64>(), 0_usize..6).prop_map(|(p, n)| Op::IntoIter(p, n)),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Growable,
    Fixed(usize),
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Growable), (0_usize..12).prop_map(Kind::Fixed)]
}

/// 1, or close enough to `u32::MAX` that slots get retired within a run.
fn first_generation() -> impl Strategy<Value = u32> {
    prop_oneof![Just(1_u32), (u32::MAX - 3..=u32::MAX)]
}

/// What the model knows besides the live values.
#[derive(Default)]
struct Model {
    live: HashMap<Handle<Counted>, u64>,
    /// Every handle ever issued, in order.
    history: Vec<Handle<Counted>>,
    /// Per slot index: the generation of its latest value.
    last_generation: HashMap<u32, u32>,
    /// Slots that exist and are vacant (not retired).
    free: HashSet<u32>,
    retired: usize,
}

impl Model {
    fn pick(&self, i: &Index) -> Option<Handle<Counted>> {
        (!self.history.is_empty()).then(|| *i.get(&self.history))
    }

    fn slot_count(&self) -> usize {
        self.last_generation.len()
    }

    /// The slot of `h` was vacated: free or retired.
    fn vacate(&mut self, h: Handle<Counted>) {
        if h.generation() == u32::MAX {
            self.retired += 1;
        } else {
            self.free.insert(h.index());
        }
    }

    /// Checks a freshly issued handle against what the slot table must do.
    fn issued(&mut self, h: Handle<Counted>, v: u64, first: u32) -> Result<(), TestCaseError> {
        prop_assert!(!self.history.contains(&h), "handle {h:?} issued twice");
        if self.free.is_empty() {
            prop_assert_eq!(
                h.index() as usize,
                self.slot_count(),
                "must create a new slot"
            );
            prop_assert_eq!(h.generation(), first);
        } else {
            prop_assert!(
                self.free.remove(&h.index()),
                "{h:?} must reuse a free slot of {:?}",
                self.free
            );
            prop_assert_eq!(h.generation(), self.last_generation[&h.index()] + 1);
        }
        self.last_generation.insert(h.index(), h.generation());
        self.history.push(h);
        self.live.insert(h, v);
        Ok(())
    }

    fn remove(&mut self, h: Handle<Counted>) -> Option<u64> {
        let v = self.live.remove(&h)?;
        self.vacate(h);
        Some(v)
    }

    fn clear(&mut self) {
        let handles: Vec<_> = self.live.keys().copied().collect();
        for h in handles {
            self.remove(h);
        }
    }
}

fn check(pool: &Pool<Counted>, model: &Model, live: &Cell<i64>) -> Result<(), TestCaseError> {
    prop_assert_eq!(pool.len(), model.live.len());
    prop_assert_eq!(pool.is_empty(), model.live.is_empty());
    prop_assert_eq!(live.get(), model.live.len() as i64, "leak or double drop");
    for &h in &model.history {
        prop_assert_eq!(pool.get(h).map(|c| c.v), model.live.get(&h).copied());
        prop_assert_eq!(pool.contains(h), model.live.contains_key(&h));
    }
    let seen: HashMap<_, _> = pool.iter().map(|(h, c)| (h, c.v)).collect();
    prop_assert_eq!(pool.iter().len(), model.live.len());
    prop_assert_eq!(&seen, &model.live);
    let handles: Vec<_> = pool.handles().collect();
    let values: Vec<_> = pool.values().map(|c| c.v).collect();
    let pairs: Vec<_> = pool.iter().map(|(h, c)| (h, c.v)).collect();
    prop_assert!(
        handles.windows(2).all(|w| w[0].index() < w[1].index()),
        "not in slot order: {:?}",
        handles
    );
    prop_assert_eq!(
        handles.iter().copied().zip(values).collect::<Vec<_>>(),
        pairs,
        "handles/values/iter disagree on order"
    );
    if pool.is_fixed() {
        prop_assert!(pool.len() <= pool.capacity());
    }
    Ok(())
}

fn run(kind: Kind, first: u32, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let live = Rc::new(Cell::new(0_i64));
    let mut pool = match kind {
        Kind::Growable => Pool::new(),
        Kind::Fixed(capacity) => Pool::fixed(capacity),
    };
    pool.__set_first_generation(NonZeroU32::new(first).unwrap());
    let mut model = Model::default();

    for op in ops {
        match op {
            Op::Insert(v) | Op::TryInsert(v) => {
                let room = match kind {
                    Kind::Growable => true,
                    Kind::Fixed(capacity) => {
                        prop_assert_eq!(pool.capacity(), capacity - model.retired);
                        model.live.len() < capacity - model.retired
                    }
                };
                if matches!(op, Op::Insert(_)) && !room {
                    continue; // would panic: tested elsewhere
                }
                match pool.try_insert(Counted::new(v, &live)) {
                    Ok(h) => {
                        prop_assert!(room, "inserted into a full pool");
                        model.issued(h, v, first)?;
                    }
                    Err(full) => {
                        prop_assert!(!room, "refused with room left: {full}");
                        prop_assert_eq!(full.capacity(), pool.capacity());
                        prop_assert_eq!(full.into_inner().v, v);
                    }
                }
            }
            Op::Remove(i) => {
                if let Some(h) = model.pick(&i) {
                    let got = pool.remove(h).map(|c| c.v);
                    prop_assert_eq!(got, model.remove(h));
                }
            }
            Op::Get(i) | Op::Contains(i) => {
                if let Some(h) = model.pick(&i) {
                    prop_assert_eq!(pool.get(h).map(|c| c.v), model.live.get(&h).copied());
                    prop_assert_eq!(pool.contains(h), model.live.contains_key(&h));
                }
            }
            Op::GetMut(i, v) => {
                if let Some(h) = model.pick(&i) {
                    match pool.get_mut(h) {
                        Some(c) => {
                            c.v = v;
                            prop_assert!(model.live.insert(h, v).is_some());
                        }
                        None => prop_assert!(!model.live.contains_key(&h)),
                    }
                }
            }
            Op::ForgeNext(i) => {
                if model.slot_count() > 0 {
                    let index = i.index(model.slot_count()) as u32;
                    let generation = model.last_generation[&index].wrapping_add(1);
                    let bits = (u64::from(generation) << 32) | u64::from(index);
                    if let Some(h) = Handle::<Counted>::from_bits(bits) {
                        prop_assert_eq!(pool.get(h).map(|c| c.v), model.live.get(&h).copied());
                        prop_assert!(pool.remove(h).is_none());
                        prop_assert!(pool.get_mut(h).is_none());
                    }
                }
            }
            Op::GetDisjointMut(a, b) => {
                if let (Some(a), Some(b)) = (model.pick(&a), model.pick(&b)) {
                    let expect =
                        a != b && model.live.contains_key(&a) && model.live.contains_key(&b);
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
                let mut visited = HashSet::new();
                pool.retain(|h, c| {
                    assert!(visited.insert(h), "retain visited {h:?} twice");
                    c.v = c.v.wrapping_mul(3);
                    c.v % m != 0
                });
                prop_assert_eq!(visited.len(), model.live.len());
                let handles: Vec<_> = model.live.keys().copied().collect();
                for h in handles {
                    let v = model.live.get_mut(&h).unwrap();
                    *v = v.wrapping_mul(3);
                    if *v % m == 0 {
                        model.remove(h);
                    }
                }
            }
            Op::IterMut => {
                for (h, c) in &mut pool {
                    c.v = c.v.wrapping_add(u64::from(h.index()));
                }
                for (h, v) in &mut model.live {
                    *v = v.wrapping_add(u64::from(h.index()));
                }
            }
            Op::Clear => {
                pool.clear();
                model.clear();
            }
            Op::Ends(pattern) => {
                let forward: Vec<_> = pool.iter().map(|(h, c)| (h, c.v)).collect();
                let mut reversed: Vec<_> = pool.iter().rev().map(|(h, c)| (h, c.v)).collect();
                reversed.reverse();
                prop_assert_eq!(&reversed, &forward);
                let mut it = pool.iter();
                let (mut front, mut back) = (Vec::new(), Vec::new());
                for k in 0.. {
                    let from_back = k < 64 && pattern >> k & 1 == 1;
                    let next = if from_back { it.next_back() } else { it.next() };
                    let Some((h, c)) = next else { break };
                    if from_back {
                        back.push((h, c.v));
                    } else {
                        front.push((h, c.v));
                    }
                    prop_assert_eq!(it.len(), forward.len() - front.len() - back.len());
                }
                back.reverse();
                front.extend(back);
                prop_assert_eq!(front, forward);
            }
            Op::IntoIter(pattern, take) => {
                let forward: Vec<_> = pool.iter().map(|(h, c)| (h, c.v)).collect();
                let mut it = pool.clone().into_iter();
                let (mut front, mut back) = (0, forward.len());
                for k in 0..take {
                    let Some((h, c)) = (if pattern >> k & 1 == 1 {
                        it.next_back()
                    } else {
                        it.next()
                    }) else {
                        break;
                    };
                    let want = if pattern >> k & 1 == 1 {
                        back -= 1;
                        forward[back]
                    } else {
                        front += 1;
                        forward[front - 1]
                    };
                    prop_assert_eq!((h, c.v), want);
                }
                prop_assert_eq!(it.len(), back - front);
                drop(it);
                prop_assert_eq!(live.get(), model.live.len() as i64, "into_iter leak");
            }
            Op::Drain(take) => {
                let mut drain = pool.drain();
                prop_assert_eq!(drain.len(), model.live.len());
                for (h, c) in drain.by_ref().take(take) {
                    prop_assert_eq!(Some(c.v), model.live.get(&h).copied());
                }
                drop(drain);
                model.clear();
            }
            Op::CloneSwap => {
                let clone = pool.clone();
                prop_assert_eq!(clone.is_fixed(), pool.is_fixed());
                prop_assert_eq!(live.get(), 2 * model.live.len() as i64);
                // Continue with the clone: it must behave exactly like the original.
                pool = clone;
            }
        }
        check(&pool, &model, &live)?;
    }
    drop(pool);
    prop_assert_eq!(live.get(), 0, "values leaked or dropped twice");
    Ok(())
}

fn cases() -> u32 {
    if cfg!(miri) { 8 } else { 2000 }
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
    fn pool_matches_hashmap_model(
        kind in kind(),
        first in first_generation(),
        ops in prop::collection::vec(op(), 1..if cfg!(miri) { 30 } else { 80 }),
    ) {
        run(kind, first, ops)?;
    }
}
