//! Panic injection against a model: random programs of nested scopes,
//! allocations of drop-counted values (some of whose destructors panic or
//! re-enter scratch), fills, clones and vectors whose callbacks panic at
//! random points, trims. After every step: each value dropped at most once
//! and exactly the ones the model says, every open scope's data intact,
//! depth and stats as the model says, scratch usable after every unwind.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any};

use proptest::prelude::*;
use tickmem_scratch::{Scratch, release_all, stats, trim, with};

/// The payload of every injected panic.
struct Injected;

#[derive(Debug, Clone)]
enum Op {
    /// Open a scope.
    Push,
    /// Leave the innermost scope normally.
    Pop,
    /// Panic out of the innermost scope (a normal `Pop` if a destructor
    /// there would panic: a panic while unwinding aborts).
    PanicPop,
    /// Allocate `n` values in the scope `up` levels above the innermost;
    /// with `bomb`, one of them panics when dropped; with `reenter`, their
    /// destructors open a scope of their own.
    Alloc {
        up: usize,
        n: usize,
        bomb: bool,
        reenter: bool,
    },
    /// Allocate a word slice in the scope `up` levels above.
    Words { up: usize, len: usize, seed: u64 },
    /// `alloc_slice_fill_with` of `n` values whose closure allocates in the
    /// same scope, opens a nested scope, and panics at `panic_at`.
    Fill { n: usize, panic_at: Option<usize> },
    /// `alloc_slice_clone` whose `Clone` panics at `panic_at`.
    Clone { n: usize, panic_at: Option<usize> },
    /// A `ScratchVec`: extend from an iterator panicking at `iter_panic`,
    /// retain with a predicate panicking at `retain_panic` (or one of whose
    /// removed elements panics in `Drop` if `bomb`), then `into_iter`,
    /// take `take`, and drop the rest.
    Vec {
        n: usize,
        iter_panic: Option<usize>,
        retain_panic: Option<usize>,
        bomb: Option<usize>,
        take: usize,
    },
    /// `trim` or `release_all` with scopes open.
    Trim { all: bool },
    /// Check everything.
    Check,
}

fn op() -> impl Strategy<Value = Op> {
    let small = 0..6usize;
    prop_oneof![
        4 => Just(Op::Push),
        2 => Just(Op::Pop),
        2 => Just(Op::PanicPop),
        4 => (0..3usize, 1..4usize, any::<bool>(), prop::bool::weighted(0.2))
            .prop_map(|(up, n, bomb, reenter)| Op::Alloc { up, n, bomb, reenter }),
        3 => (0..3usize, 0..200usize, any::<u64>()).prop_map(|(up, len, seed)| Op::Words { up, len, seed }),
        2 => (small.clone(), prop::option::of(0..6usize)).prop_map(|(n, panic_at)| Op::Fill { n, panic_at }),
        1 => (small.clone(), prop::option::of(0..6usize)).prop_map(|(n, panic_at)| Op::Clone { n, panic_at }),
        2 => (0..12usize, prop::option::of(0..12usize), prop::option::of(0..12usize), prop::option::of(0..12usize), 0..12usize)
            .prop_map(|(n, iter_panic, retain_panic, bomb, take)| Op::Vec { n, iter_panic, retain_panic, bomb, take }),
        1 => any::<bool>().prop_map(|all| Op::Trim { all }),
        2 => Just(Op::Check),
    ]
}

/// Drop counts by id, and which ids panic when dropped.
#[derive(Default)]
struct Tracker {
    drops: RefCell<Vec<u8>>,
    armed: RefCell<Vec<u32>>,
}

impl Tracker {
    fn make(&self, reenter: bool) -> Val<'_> {
        let mut drops = self.drops.borrow_mut();
        let id = u32::try_from(drops.len()).expect("few values");
        drops.push(0);
        Val {
            id,
            tracker: self,
            reenter,
        }
    }

    fn dropped(&self) -> usize {
        let drops = self.drops.borrow();
        assert!(
            drops.iter().all(|d| *d <= 1),
            "a value dropped twice: {drops:?}"
        );
        drops.iter().filter(|d| **d == 1).count()
    }

    fn made(&self) -> usize {
        self.drops.borrow().len()
    }
}

struct Val<'t> {
    id: u32,
    tracker: &'t Tracker,
    reenter: bool,
}

impl Drop for Val<'_> {
    fn drop(&mut self) {
        let t = self.tracker;
        t.drops.borrow_mut()[self.id as usize] += 1;
        if self.reenter {
            let depth = stats().depth;
            with(|s| {
                assert_eq!(s.depth(), depth + 1);
                s.alloc(t.make(false));
                s.alloc_slice_copy(&[0xABu8; 100]);
            });
            assert_eq!(stats().depth, depth);
        }
        if t.armed.borrow().contains(&self.id) {
            panic_any(Injected);
        }
    }
}

impl Clone for Val<'_> {
    fn clone(&self) -> Self {
        self.tracker.make(false)
    }
}

fn word(seed: u64, i: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64)
}

/// What the model expects of one open scope.
#[derive(Debug, Default)]
struct ModelLevel {
    /// (len, seed) of each word slice.
    words: Vec<(usize, u64)>,
    /// Values in the scope's drop list.
    live: usize,
    /// Of those, values whose destructor makes (and drops) one more value
    /// in a scope of its own.
    reentrant: usize,
    /// One of them panics when dropped.
    bomb: bool,
}

struct Model {
    stack: Vec<ModelLevel>,
    /// Values the model knows are dropped.
    dropped: usize,
    /// Scopes the model knows are closed.
    closed: u64,
}

impl Model {
    /// The innermost scope closes: its values drop (re-entrant ones make,
    /// drop and scope one more each).
    fn close(&mut self) -> ModelLevel {
        let level = self.stack.pop().expect("an open scope");
        self.dropped += level.live + level.reentrant;
        self.closed += 1 + level.reentrant as u64;
        level
    }
}

/// An open scope, through a lifetime-erasing trait so inner scopes can
/// reach outer ones.
trait OpenScope<'t> {
    fn words(&self, up: usize, len: usize, seed: u64);
    fn alloc(&self, up: usize, n: usize, bomb: bool, reenter: bool, tracker: &'t Tracker);
    fn check(&self, model: &[ModelLevel]);
}

struct Frame<'a, 'e, 't> {
    scratch: &'a Scratch<'e>,
    words: RefCell<Vec<(&'a mut [u64], u64)>>,
    parent: Option<&'a dyn OpenScope<'t>>,
}

impl<'t: 'e, 'e> OpenScope<'t> for Frame<'_, 'e, 't> {
    fn words(&self, up: usize, len: usize, seed: u64) {
        match (up, self.parent) {
            (0, _) | (_, None) => {
                let slice = self.scratch.alloc_slice_fill_with(len, |i| word(seed, i));
                self.words.borrow_mut().push((slice, seed));
            }
            (_, Some(parent)) => parent.words(up - 1, len, seed),
        }
    }

    fn alloc(&self, up: usize, n: usize, bomb: bool, reenter: bool, tracker: &'t Tracker) {
        match (up, self.parent) {
            (0, _) | (_, None) => {
                for i in 0..n {
                    let v = self.scratch.alloc(tracker.make(reenter));
                    if bomb && i == n / 2 {
                        tracker.armed.borrow_mut().push(v.id);
                    }
                }
            }
            (_, Some(parent)) => parent.alloc(up - 1, n, bomb, reenter, tracker),
        }
    }

    fn check(&self, model: &[ModelLevel]) {
        let (mine, above) = model.split_last().expect("a frame per model level");
        let words = self.words.borrow();
        assert_eq!(words.len(), mine.words.len(), "depth {}", model.len());
        for ((slice, seed), (len, mseed)) in words.iter().zip(&mine.words) {
            assert_eq!((slice.len(), seed), (*len, mseed));
            assert!(
                slice.iter().enumerate().all(|(i, w)| *w == word(*seed, i)),
                "data of an open scope changed"
            );
        }
        let bytes: usize = mine.words.iter().map(|(len, _)| len * 8).sum();
        assert!(self.scratch.bytes_used() >= bytes);
        assert_eq!(self.scratch.depth(), model.len());
        if let Some(parent) = self.parent {
            parent.check(above);
        }
    }
}

enum Exit {
    Popped,
    Panicked,
    End,
}

/// `f` may panic with [`Injected`]; anything else is a test failure.
fn injected(f: impl FnOnce()) -> bool {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => false,
        Err(p) if p.is::<Injected>() => true,
        Err(p) => std::panic::resume_unwind(p),
    }
}

struct Run<'t> {
    tracker: &'t Tracker,
    model: Model,
    scopes_at_start: u64,
    max_depth: usize,
}

impl<'t> Run<'t> {
    fn check(&self, frame: &dyn OpenScope<'t>) {
        frame.check(&self.model.stack);
        let st = stats();
        assert_eq!(st.depth, self.model.stack.len(), "{st}");
        assert_eq!(st.scopes - self.scopes_at_start, self.model.closed, "{st}");
        let words: usize = self
            .model
            .stack
            .iter()
            .flat_map(|l| &l.words)
            .map(|(len, _)| len * 8)
            .sum();
        assert!(st.bytes_in_use >= words, "{st}");
        assert_eq!(self.tracker.dropped(), self.model.dropped);
    }

    fn level<'e>(&mut self, ops: &mut std::slice::Iter<'_, Op>, frame: &Frame<'_, 'e, 't>) -> Exit
    where
        't: 'e,
    {
        let t = self.tracker;
        while let Some(op) = ops.next() {
            let depth = self.model.stack.len();
            match op {
                Op::Push if depth < self.max_depth => {
                    self.model.stack.push(ModelLevel::default());
                    let mut exit = Exit::Popped;
                    let panicked = injected(|| {
                        with(|s| {
                            let inner = Frame {
                                scratch: s,
                                words: RefCell::new(Vec::new()),
                                parent: Some(frame),
                            };
                            exit = self.level(ops, &inner);
                            if let Exit::Panicked = exit {
                                panic_any(Injected);
                            }
                        });
                    });
                    let closed = self.model.close();
                    // Panicked iff the program panicked out or a destructor
                    // of the scope panicked.
                    assert_eq!(
                        panicked,
                        matches!(exit, Exit::Panicked) || closed.bomb,
                        "unexpected unwind"
                    );
                    self.check(frame);
                    if let Exit::End = exit {
                        return Exit::End;
                    }
                }
                Op::Push => {}
                Op::Pop if depth > 1 => return Exit::Popped,
                Op::PanicPop if depth > 1 => {
                    let bomb = self.model.stack.last().is_some_and(|l| l.bomb);
                    return if bomb { Exit::Popped } else { Exit::Panicked };
                }
                Op::Pop | Op::PanicPop => {}
                Op::Alloc {
                    up,
                    n,
                    bomb,
                    reenter,
                } => {
                    let target = depth.saturating_sub(1 + up);
                    let level = &mut self.model.stack[target];
                    let bomb = *bomb && !level.bomb;
                    frame.alloc(depth - 1 - target, *n, bomb, *reenter, t);
                    level.live += n;
                    level.bomb |= bomb;
                    if *reenter {
                        level.reentrant += n;
                    }
                }
                Op::Words { up, len, seed } => {
                    let target = depth.saturating_sub(1 + up);
                    frame.words(depth - 1 - target, *len, *seed);
                    self.model.stack[target].words.push((*len, *seed));
                }
                Op::Fill { n, panic_at } => {
                    let s = frame.scratch;
                    let panicked = injected(|| {
                        s.alloc_slice_fill_with(*n, |i| {
                            s.alloc(t.make(false));
                            with(|inner| {
                                inner.alloc(t.make(false));
                                if Some(i) == *panic_at {
                                    panic_any(Injected);
                                }
                            });
                            t.make(false)
                        });
                    });
                    let made = panic_at.filter(|p| p < n).map_or(*n, |p| p + 1);
                    assert_eq!(panicked, made <= *n && panic_at.is_some_and(|p| p < *n));
                    // Each call: one value in `s`, one in a nested scope
                    // (dropped at its exit); and the element, unless it
                    // panicked.
                    let elements = if panicked { made - 1 } else { made };
                    let level = self.model.stack.last_mut().expect("open");
                    level.live += made + elements;
                    self.model.dropped += made;
                    self.model.closed += made as u64;
                }
                Op::Clone { n, panic_at } => {
                    let src: Vec<Val<'t>> = (0..*n).map(|_| t.make(false)).collect();
                    let s = frame.scratch;
                    let calls = Cell::new(0);
                    let panicked = injected(|| {
                        s.alloc_slice_fill_with(*n, |i| {
                            calls.set(calls.get() + 1);
                            if Some(i) == *panic_at {
                                panic_any(Injected);
                            }
                            src[i].clone()
                        });
                    });
                    let clones = if panicked {
                        calls.get() - 1
                    } else {
                        calls.get()
                    };
                    drop(src);
                    self.model.stack.last_mut().expect("open").live += clones;
                    self.model.dropped += n;
                }
                Op::Vec {
                    n,
                    iter_panic,
                    retain_panic,
                    bomb,
                    take,
                } => {
                    let before = t.made();
                    let mut v = frame.scratch.vec();
                    injected(|| {
                        v.extend((0..*n).map(|i| {
                            if Some(i) == *iter_panic {
                                panic_any(Injected);
                            }
                            t.make(false)
                        }))
                    });
                    if let Some(b) = bomb.filter(|b| *b < v.len()) {
                        t.armed.borrow_mut().push(v[b].id);
                    }
                    let seen = Cell::new(0);
                    injected(|| {
                        v.retain(|x| {
                            seen.set(seen.get() + 1);
                            if Some(seen.get() - 1) == *retain_panic {
                                panic_any(Injected);
                            }
                            x.id % 3 != 0
                        })
                    });
                    injected(|| {
                        let mut it = v.into_iter();
                        for _ in 0..*take {
                            drop(it.next());
                        }
                    });
                    // Every element made is gone.
                    self.model.dropped += t.made() - before;
                }
                Op::Trim { all } => {
                    if *all {
                        release_all();
                    } else {
                        trim();
                    }
                }
                Op::Check => self.check(frame),
            }
        }
        Exit::End
    }
}

fn run_program(ops: &[Op]) {
    let tracker = Tracker::default();
    let mut run = Run {
        tracker: &tracker,
        model: Model {
            stack: vec![ModelLevel::default()],
            dropped: 0,
            closed: 0,
        },
        scopes_at_start: stats().scopes,
        max_depth: 6,
    };
    let mut iter = ops.iter();
    let panicked = injected(|| {
        with(|s| {
            let root = Frame {
                scratch: s,
                words: RefCell::new(Vec::new()),
                parent: None,
            };
            run.level(&mut iter, &root);
            run.check(&root);
        });
    });
    let root = run.model.close();
    assert_eq!(panicked, root.bomb);
    assert_eq!(tracker.dropped(), run.model.dropped);
    assert_eq!(tracker.dropped(), tracker.made(), "every value dropped");
    let st = stats();
    assert_eq!((st.depth, st.bytes_in_use), (0, 0), "{st}");
    assert_eq!(st.scopes - run.scopes_at_start, run.model.closed);
    // Usable after everything.
    with(|s| assert_eq!((s.depth(), s.bytes_used()), (1, 0)));
}

/// 512 cases, 8 under Miri; `PROPTEST_CASES` overrides (sanitizer runs use
/// fewer, soaks more).
fn config() -> ProptestConfig {
    let cases = match std::env::var("PROPTEST_CASES") {
        Ok(_) => ProptestConfig::default().cases,
        Err(_) if cfg!(miri) => 8,
        Err(_) => 512,
    };
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn panics_anywhere_match_the_model(ops in proptest::collection::vec(op(), 0..if cfg!(miri) { 30 } else { 150 })) {
        run_program(&ops);
    }
}

#[test]
fn a_fixed_program_with_every_kind_of_panic() {
    let ops = [
        Op::Words {
            up: 0,
            len: 10,
            seed: 1,
        },
        Op::Push,
        Op::Alloc {
            up: 0,
            n: 3,
            bomb: true,
            reenter: false,
        },
        Op::Alloc {
            up: 1,
            n: 2,
            bomb: false,
            reenter: true,
        },
        Op::Push,
        Op::Fill {
            n: 5,
            panic_at: Some(2),
        },
        Op::Clone {
            n: 4,
            panic_at: Some(3),
        },
        Op::Vec {
            n: 10,
            iter_panic: Some(8),
            retain_panic: Some(4),
            bomb: Some(5),
            take: 2,
        },
        Op::Vec {
            n: 10,
            iter_panic: None,
            retain_panic: None,
            bomb: Some(3),
            take: 1,
        },
        Op::Check,
        Op::PanicPop,
        Op::Check,
        Op::Trim { all: true },
        Op::Pop, // the bomb goes off
        Op::Check,
        Op::Push,
        Op::Alloc {
            up: 0,
            n: 1,
            bomb: false,
            reenter: true,
        },
        Op::PanicPop,
        Op::Check,
    ];
    run_program(&ops);
}
