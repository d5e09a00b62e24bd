//! Random programs of nested scratch scopes: allocations of drop-counted
//! values (some destructors panic), word slices checked for corruption,
//! fills and vectors whose callbacks panic, panics out of scopes, trims, and
//! jobs on other threads. Injected panics are caught by the program; any
//! other panic (a failed check) aborts, which libFuzzer reports as a crash.
//!
//! Run: `cargo +nightly fuzz run scratch_scopes` (from the repository root).
#![no_main]

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any};
use std::sync::Once;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tickmem_scratch::{Scratch, release_all, stats, trim, with};

/// The payload of every injected panic.
struct Injected;

#[derive(Arbitrary, Debug)]
enum Op {
    Push,
    Pop,
    PanicPop,
    Alloc {
        up: u8,
        n: u8,
        bomb: bool,
    },
    Words {
        up: u8,
        len: u16,
        seed: u32,
    },
    Fill {
        n: u8,
        panic_at: Option<u8>,
    },
    Vec {
        n: u8,
        iter_panic: Option<u8>,
        retain_panic: Option<u8>,
        bomb: Option<u8>,
        take: u8,
    },
    Trim {
        all: bool,
    },
    Thread {
        len: u16,
        panic: bool,
    },
    Check,
}

#[derive(Default)]
struct Tracker {
    drops: RefCell<Vec<u8>>,
    armed: RefCell<Vec<u32>>,
}

impl Tracker {
    fn make(&self) -> Val<'_> {
        let mut drops = self.drops.borrow_mut();
        drops.push(0);
        Val {
            id: (drops.len() - 1) as u32,
            tracker: self,
        }
    }

    fn dropped(&self) -> usize {
        let drops = self.drops.borrow();
        assert!(drops.iter().all(|d| *d <= 1), "a value dropped twice");
        drops.iter().filter(|d| **d == 1).count()
    }
}

struct Val<'t> {
    id: u32,
    tracker: &'t Tracker,
}

impl Drop for Val<'_> {
    fn drop(&mut self) {
        self.tracker.drops.borrow_mut()[self.id as usize] += 1;
        if self.tracker.armed.borrow().contains(&self.id) {
            panic_any(Injected);
        }
    }
}

fn word(seed: u32, i: usize) -> u64 {
    u64::from(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i as u64
}

#[derive(Default)]
struct Level {
    words: Vec<(usize, u32)>,
    live: usize,
    bomb: bool,
}

/// An open scope, reachable from inner ones.
trait Open<'t> {
    fn scratch_words(&self, up: usize, len: usize, seed: u32);
    fn scratch_alloc(&self, up: usize, n: usize, bomb: bool, t: &'t Tracker);
    fn check(&self, model: &[Level]);
}

struct Frame<'a, 'e> {
    s: &'a Scratch<'e>,
    words: RefCell<Vec<(&'a [u64], u32)>>,
    parent: Option<&'a dyn Open<'e>>,
}

impl<'e> Open<'e> for Frame<'_, 'e> {
    fn scratch_words(&self, up: usize, len: usize, seed: u32) {
        match (up, self.parent) {
            (0, _) | (_, None) => {
                let w = self.s.alloc_slice_fill_with(len, |i| word(seed, i));
                self.words.borrow_mut().push((w, seed));
            }
            (_, Some(p)) => p.scratch_words(up - 1, len, seed),
        }
    }

    fn scratch_alloc(&self, up: usize, n: usize, bomb: bool, t: &'e Tracker) {
        match (up, self.parent) {
            (0, _) | (_, None) => {
                for i in 0..n {
                    let v = self.s.alloc(t.make());
                    if bomb && i == 0 {
                        t.armed.borrow_mut().push(v.id);
                    }
                }
            }
            (_, Some(p)) => p.scratch_alloc(up - 1, n, bomb, t),
        }
    }

    fn check(&self, model: &[Level]) {
        let (mine, above) = model.split_last().expect("a frame per level");
        let words = self.words.borrow();
        assert_eq!(words.len(), mine.words.len());
        for ((w, seed), (len, _)) in words.iter().zip(&mine.words) {
            assert_eq!(w.len(), *len);
            assert!(
                w.iter().enumerate().all(|(i, x)| *x == word(*seed, i)),
                "scratch data corrupted"
            );
        }
        assert_eq!(self.s.depth(), model.len());
        if let Some(p) = self.parent {
            p.check(above);
        }
    }
}

enum Exit {
    Popped,
    Panicked,
    End,
}

fn injected(f: impl FnOnce()) -> bool {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => false,
        Err(p) if p.is::<Injected>() => true,
        Err(p) => std::panic::resume_unwind(p),
    }
}

struct Run<'t> {
    t: &'t Tracker,
    stack: Vec<Level>,
    dropped: usize,
}

impl<'t> Run<'t> {
    fn check(&self, frame: &dyn Open<'t>) {
        frame.check(&self.stack);
        assert_eq!(stats().depth, self.stack.len());
        assert_eq!(
            self.t.dropped(),
            self.dropped,
            "drops differ from the model"
        );
    }

    fn level(&mut self, ops: &mut std::slice::Iter<'_, Op>, frame: &Frame<'_, 't>) -> Exit {
        let t = self.t;
        while let Some(op) = ops.next() {
            let depth = self.stack.len();
            match op {
                Op::Push if depth < 8 => {
                    self.stack.push(Level::default());
                    let mut exit = Exit::Popped;
                    let panicked = injected(|| {
                        with(|s| {
                            let inner = Frame {
                                s,
                                words: RefCell::new(Vec::new()),
                                parent: Some(frame),
                            };
                            exit = self.level(ops, &inner);
                            if let Exit::Panicked = exit {
                                panic_any(Injected);
                            }
                        })
                    });
                    let closed = self.stack.pop().expect("pushed");
                    self.dropped += closed.live;
                    assert_eq!(panicked, matches!(exit, Exit::Panicked) || closed.bomb);
                    self.check(frame);
                    if let Exit::End = exit {
                        return Exit::End;
                    }
                }
                Op::Push => {}
                Op::Pop if depth > 1 => return Exit::Popped,
                Op::PanicPop if depth > 1 => {
                    let bomb = self.stack.last().is_some_and(|l| l.bomb);
                    return if bomb { Exit::Popped } else { Exit::Panicked };
                }
                Op::Pop | Op::PanicPop => {}
                Op::Alloc { up, n, bomb } => {
                    let n = usize::from(*n % 8);
                    let target = depth.saturating_sub(1 + usize::from(*up));
                    let bomb = *bomb && n > 0 && !self.stack[target].bomb;
                    frame.scratch_alloc(depth - 1 - target, n, bomb, t);
                    self.stack[target].live += n;
                    self.stack[target].bomb |= bomb;
                }
                Op::Words { up, len, seed } => {
                    let len = usize::from(*len % 4096);
                    let target = depth.saturating_sub(1 + usize::from(*up));
                    frame.scratch_words(depth - 1 - target, len, *seed);
                    self.stack[target].words.push((len, *seed));
                }
                Op::Fill { n, panic_at } => {
                    let n = usize::from(*n % 16);
                    let s = frame.s;
                    let calls = Cell::new(0);
                    let panicked = injected(|| {
                        s.alloc_slice_fill_with(n, |i| {
                            calls.set(calls.get() + 1);
                            with(|inner| {
                                inner.alloc(t.make());
                                if Some(i) == panic_at.map(usize::from) {
                                    panic_any(Injected);
                                }
                            });
                            t.make()
                        });
                    });
                    let calls = calls.get();
                    self.dropped += calls; // the nested scopes' values
                    self.stack.last_mut().expect("open").live +=
                        if panicked { calls - 1 } else { calls };
                }
                Op::Vec {
                    n,
                    iter_panic,
                    retain_panic,
                    bomb,
                    take,
                } => {
                    let before = t.drops.borrow().len();
                    let mut v = frame.s.vec();
                    injected(|| {
                        v.extend((0..usize::from(*n % 32)).map(|i| {
                            if Some(i) == iter_panic.map(usize::from) {
                                panic_any(Injected);
                            }
                            t.make()
                        }))
                    });
                    if let Some(b) = bomb.map(usize::from).filter(|b| *b < v.len()) {
                        t.armed.borrow_mut().push(v[b].id);
                    }
                    let seen = Cell::new(0usize);
                    injected(|| {
                        v.retain(|x| {
                            seen.set(seen.get() + 1);
                            if Some(seen.get() - 1) == retain_panic.map(usize::from) {
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
                    self.dropped += t.drops.borrow().len() - before;
                }
                Op::Trim { all } => {
                    if *all {
                        release_all();
                    } else {
                        trim();
                    }
                }
                Op::Thread { len, panic } => {
                    let (len, panic) = (usize::from(*len % 2048), *panic);
                    std::thread::scope(|ts| {
                        let r = ts
                            .spawn(move || {
                                let r = catch_unwind(|| {
                                    with(|s| {
                                        let a = s.alloc_slice_fill_with(len, |i| i as u32);
                                        with(|t| {
                                            t.alloc(String::from("job"));
                                            if panic {
                                                panic_any(Injected);
                                            }
                                        });
                                        assert!(a.iter().enumerate().all(|(i, x)| *x == i as u32));
                                    })
                                });
                                assert_eq!(r.is_err(), panic);
                                assert_eq!((stats().depth, stats().bytes_in_use), (0, 0));
                            })
                            .join();
                        assert!(r.is_ok(), "job thread failed");
                    });
                }
                Op::Check => self.check(frame),
            }
        }
        Exit::End
    }
}

fuzz_target!(|ops: Vec<Op>| {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        // libFuzzer's hook aborts on every panic; injected ones are caught.
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<Injected>() {
                default(info);
                std::process::abort();
            }
        }));
    });
    let t = Tracker::default();
    let mut run = Run {
        t: &t,
        stack: vec![Level::default()],
        dropped: 0,
    };
    let mut iter = ops.iter();
    let panicked = injected(|| {
        with(|s| {
            let root = Frame {
                s,
                words: RefCell::new(Vec::new()),
                parent: None,
            };
            run.level(&mut iter, &root);
            run.check(&root);
        })
    });
    let root = run.stack.pop().expect("root");
    assert_eq!(panicked, root.bomb);
    assert_eq!(t.dropped(), run.dropped + root.live);
    assert_eq!(
        t.dropped(),
        t.drops.borrow().len(),
        "a value was never dropped"
    );
    let st = stats();
    assert_eq!((st.depth, st.bytes_in_use), (0, 0));
});
