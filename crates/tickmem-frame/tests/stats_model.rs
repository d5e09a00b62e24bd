//! `FrameStats` against a model: random programs of slices, frame vectors
//! dropped in any order, and frame advances, on one lane. After every step
//! the arena's bytes in use, bytes bumped and in-use peak (this frame and
//! the last), the high-water mark and `thread_bytes_this_frame` equal the
//! model's, and `bumped >= peak >= in use`.
//!
//! Every request is a whole number of `u64`s (no padding) and a frame stays
//! well inside the lane's first chunk (no block-end waste), so the model is
//! exact: a collection's block is given back exactly when it is the most
//! recent allocation of the lane.

use allocator_api2::vec::Vec as AVec;
use proptest::prelude::*;
use tickmem_frame::{FrameAlloc, FrameArena, FrameConfig};

#[derive(Debug, Clone)]
enum Op {
    /// `alloc_slice_copy` of `n` words (never given back).
    Slice(usize),
    /// A frame vector with room for `n` words, kept for now.
    Vec(usize),
    /// Drop the `k`-th live vector (modulo).
    DropVec(usize),
    /// Drop every live vector (newest first), then `begin_frame`.
    BeginFrame,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1..64usize).prop_map(Op::Slice),
        4 => (1..64usize).prop_map(Op::Vec),
        4 => any::<usize>().prop_map(Op::DropVec),
        1 => Just(Op::BeginFrame),
    ]
}

#[derive(Default, Clone, Copy, Debug, PartialEq)]
struct Frame {
    in_use: usize,
    bumped: usize,
    peak: usize,
}

/// The lane's current frame: allocations in bump order, each with its size
/// and, for vectors, whether it is still alive.
#[derive(Default)]
struct Model {
    stack: Vec<(usize, Option<bool>)>,
    this: Frame,
    last: Frame,
    high_water: usize,
}

impl Model {
    fn alloc(&mut self, bytes: usize, vec: bool) {
        self.stack.push((bytes, vec.then_some(true)));
        self.this.in_use += bytes;
        self.this.bumped += bytes;
        self.this.peak = self.this.peak.max(self.this.in_use);
    }

    /// Drop the vector at stack position `at`: its block goes back only if
    /// it is the most recent allocation.
    fn drop_vec(&mut self, at: usize) {
        if at + 1 == self.stack.len() {
            let (bytes, _) = self.stack.pop().unwrap();
            self.this.in_use -= bytes;
        } else {
            self.stack[at].1 = Some(false);
        }
    }

    fn live_vecs(&self) -> Vec<usize> {
        (0..self.stack.len())
            .filter(|&i| self.stack[i].1 == Some(true))
            .collect()
    }

    fn begin_frame(&mut self) {
        self.high_water = self.high_water.max(self.this.peak);
        self.last = self.this;
        self.this = Frame::default();
        self.stack.clear();
    }
}

fn check(arena: &FrameArena, model: &Model) -> Result<(), TestCaseError> {
    let s = arena.stats();
    let this = Frame {
        in_use: s.bytes_this_frame,
        bumped: s.bumped_this_frame,
        peak: s.peak_this_frame,
    };
    let last = Frame {
        in_use: s.bytes_last_frame,
        bumped: s.bumped_last_frame,
        peak: s.peak_last_frame,
    };
    prop_assert_eq!(this, model.this);
    prop_assert_eq!(last, model.last);
    prop_assert_eq!(s.high_water_bytes, model.high_water.max(model.this.peak));
    prop_assert!(this.bumped >= this.peak && this.peak >= this.in_use);
    prop_assert!(s.high_water_bytes >= this.in_use && s.high_water_bytes >= last.peak);
    prop_assert_eq!(arena.thread_bytes_this_frame(), model.this.bumped);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 8 } else { 256 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn stats_follow_the_model(ops in proptest::collection::vec(op(), 1..if cfg!(miri) { 24 } else { 120 })) {
        // 1 MiB per half: every frame of this test fits in the first chunk.
        let mut arena = FrameArena::with_config(FrameConfig::default().lane_capacity(1 << 20));
        let mut model = Model::default();
        let mut ops = ops.into_iter();
        loop {
            // Vectors borrow the arena: they live within one frame.
            let mut vecs: Vec<(usize, AVec<u64, FrameAlloc<'_>>)> = Vec::new();
            let mut advance = false;
            for op in ops.by_ref() {
                match op {
                    Op::Slice(n) => {
                        arena.alloc_slice_copy(&vec![7u64; n]);
                        model.alloc(8 * n, false);
                    }
                    Op::Vec(n) => {
                        let mut v = AVec::with_capacity_in(n, arena.allocator());
                        v.extend(0..n as u64);
                        vecs.push((model.stack.len(), v));
                        model.alloc(8 * n, true);
                    }
                    Op::DropVec(k) => {
                        let live = model.live_vecs();
                        if !live.is_empty() {
                            let at = live[k % live.len()];
                            let i = vecs.iter().position(|(pos, _)| *pos == at).unwrap();
                            drop(vecs.remove(i));
                            model.drop_vec(at);
                        }
                    }
                    Op::BeginFrame => {
                        advance = true;
                        break;
                    }
                }
                check(&arena, &model)?;
            }
            // Newest first, as locals are dropped.
            while let Some((at, v)) = vecs.pop() {
                drop(v);
                model.drop_vec(at);
            }
            drop(vecs);
            check(&arena, &model)?;
            if !advance {
                break;
            }
            arena.begin_frame();
            model.begin_frame();
            check(&arena, &model)?;
        }
    }
}
