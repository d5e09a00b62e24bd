//! Random programs of nested push / alloc / pop (and panicking pops) run
//! against a model: a stack of the values each open scope must still hold.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use proptest::prelude::*;
use tickmem_scratch::{Scratch, stats, with};

#[derive(Debug, Clone)]
enum Op {
    /// Open a scope.
    Push,
    /// Close the innermost scope.
    Pop,
    /// Close the innermost scope by panicking out of it.
    PanicPop,
    /// Allocate `len` words from the scope `up` levels above the innermost
    /// (clamped to the outermost).
    Alloc { up: usize, len: usize, seed: u64 },
    /// Allocate `n` values with destructors in the innermost scope.
    AllocDrop { n: usize },
    /// Check every open scope's data and the stats.
    Check,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Push),
        2 => Just(Op::Pop),
        1 => Just(Op::PanicPop),
        6 => (0..3usize, 0..300usize, any::<u64>()).prop_map(|(up, len, seed)| Op::Alloc { up, len, seed }),
        2 => (1..4usize).prop_map(|n| Op::AllocDrop { n }),
        2 => Just(Op::Check),
    ]
}

fn word(seed: u64, i: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64)
}

/// What the model expects of one open scope.
#[derive(Debug, Default)]
struct ModelLevel {
    /// (len, seed) of each word slice.
    slices: Vec<(usize, u64)>,
    /// Values with destructors still alive in the scope.
    droppable: usize,
}

struct Model {
    stack: Vec<ModelLevel>,
    drops: Rc<Cell<usize>>,
    expected_drops: usize,
}

struct Counted(Rc<Cell<usize>>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// An open scope in the program, seen through a lifetime-erasing trait so
/// inner scopes can reach outer ones.
trait OpenScope {
    fn alloc_words(&self, up: usize, len: usize, seed: u64);
    fn check(&self, model: &[ModelLevel]);
}

struct Frame<'a, 'e> {
    scratch: &'a Scratch<'e>,
    slices: RefCell<Vec<(&'a mut [u64], u64)>>,
    parent: Option<&'a dyn OpenScope>,
}

impl OpenScope for Frame<'_, '_> {
    fn alloc_words(&self, up: usize, len: usize, seed: u64) {
        match (up, self.parent) {
            (0, _) | (_, None) => {
                let slice = self.scratch.alloc_slice_fill_with(len, |i| word(seed, i));
                self.slices.borrow_mut().push((slice, seed));
            }
            (_, Some(parent)) => parent.alloc_words(up - 1, len, seed),
        }
    }

    fn check(&self, model: &[ModelLevel]) {
        let (mine, above) = model.split_last().expect("a frame per model level");
        let slices = self.slices.borrow();
        assert_eq!(slices.len(), mine.slices.len(), "depth {}", model.len());
        for ((slice, seed), (len, mseed)) in slices.iter().zip(&mine.slices) {
            assert_eq!((slice.len(), seed), (*len, mseed));
            assert!(
                slice.iter().enumerate().all(|(i, w)| *w == word(*seed, i)),
                "data changed"
            );
        }
        let words: usize = mine.slices.iter().map(|(len, _)| len).sum();
        assert!(self.scratch.bytes_used() >= words * 8);
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

/// The panic payload of `PanicPop`.
struct PlannedPanic;

fn run_level(
    ops: &mut std::slice::Iter<'_, Op>,
    frame: &Frame<'_, '_>,
    model: &mut Model,
    max_depth: usize,
) -> Exit {
    while let Some(op) = ops.next() {
        match op {
            Op::Push if model.stack.len() < max_depth => {
                model.stack.push(ModelLevel::default());
                let exit = catch_unwind(AssertUnwindSafe(|| {
                    with(|s| {
                        let inner = Frame {
                            scratch: s,
                            slices: RefCell::new(Vec::new()),
                            parent: Some(frame),
                        };
                        match run_level(ops, &inner, model, max_depth) {
                            Exit::Panicked => std::panic::panic_any(PlannedPanic),
                            exit => exit,
                        }
                    })
                }));
                // The inner scope is closed: its destructors ran, exactly once.
                let closed = model.stack.pop().expect("pushed above");
                model.expected_drops += closed.droppable;
                assert_eq!(model.drops.get(), model.expected_drops);
                assert_eq!(stats().depth, model.stack.len());
                frame.check(&model.stack);
                match exit {
                    Ok(Exit::End) => return Exit::End,
                    Ok(_) => {}
                    Err(payload) => assert!(payload.is::<PlannedPanic>(), "unexpected panic"),
                }
            }
            Op::Push => {}
            Op::Pop if model.stack.len() > 1 => return Exit::Popped,
            Op::PanicPop if model.stack.len() > 1 => return Exit::Panicked,
            Op::Pop | Op::PanicPop => {}
            Op::Alloc { up, len, seed } => {
                frame.alloc_words(*up, *len, *seed);
                let target = model.stack.len().saturating_sub(1 + up);
                model.stack[target].slices.push((*len, *seed));
            }
            Op::AllocDrop { n } => {
                for _ in 0..*n {
                    frame.scratch.alloc(Counted(model.drops.clone()));
                }
                model.stack.last_mut().expect("open scope").droppable += n;
            }
            Op::Check => {
                frame.check(&model.stack);
                assert_eq!(stats().depth, model.stack.len());
            }
        }
    }
    Exit::End
}

fn run_program(ops: &[Op], max_depth: usize) {
    let drops = Rc::new(Cell::new(0));
    let mut model = Model {
        stack: vec![ModelLevel::default()],
        drops: drops.clone(),
        expected_drops: 0,
    };
    let mut iter = ops.iter();
    with(|s| {
        let root = Frame {
            scratch: s,
            slices: RefCell::new(Vec::new()),
            parent: None,
        };
        run_level(&mut iter, &root, &mut model, max_depth);
        root.check(&model.stack);
    });
    let outer = model.stack.pop().expect("root level");
    assert_eq!(drops.get(), model.expected_drops + outer.droppable);
    let after = stats();
    assert_eq!((after.depth, after.bytes_in_use), (0, 0));
}

fn config() -> ProptestConfig {
    if cfg!(miri) {
        ProptestConfig {
            cases: 6,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    } else {
        ProptestConfig::with_cases(256)
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn nested_programs_match_the_model(ops in proptest::collection::vec(op(), 0..if cfg!(miri) { 24 } else { 120 })) {
        run_program(&ops, 8);
    }
}

#[test]
fn a_fixed_program_exercises_every_op() {
    let ops = [
        Op::Alloc {
            up: 0,
            len: 10,
            seed: 1,
        },
        Op::Push,
        Op::AllocDrop { n: 2 },
        Op::Alloc {
            up: 1,
            len: 5,
            seed: 2,
        },
        Op::Push,
        Op::Alloc {
            up: 2,
            len: 3,
            seed: 3,
        },
        Op::Check,
        Op::PanicPop,
        Op::Check,
        Op::Pop,
        Op::Check,
        Op::Push,
        Op::AllocDrop { n: 1 },
    ];
    run_program(&ops, 8);
}
