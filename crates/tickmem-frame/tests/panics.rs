//! Panic-injection model test: random programs over several threads' lanes
//! in which user callbacks panic at random points (destructors during
//! `begin_frame` and the arena's drop, `alloc_slice_fill_with` closures,
//! iterators fed to `FrameVec::extend`, `retain` predicates), with and
//! without a frame byte limit, checked against a model after every step
//! (see `program/mod.rs`, shared with the `frame_program` fuzz target):
//! every value dropped exactly once, handles `None` or intact, the arena
//! usable after every unwind. The arena is a `FrameHost`'s, and threads
//! also publish frame data (with panicking build closures and destructors)
//! and read it back.

mod program;

use proptest::prelude::*;

use program::{Op, Program, THREADS};

fn op() -> impl Strategy<Value = Op> {
    let small = 0..8u8;
    prop_oneof![
        2 => (0..3000u16, any::<u8>()).prop_map(|(len, fill)| Op::Bytes { len, fill }),
        3 => prop::bool::weighted(0.25).prop_map(|bomb| Op::Alloc { bomb }),
        // A probe is a bomb if its bit is set in both masks (a quarter).
        2 => (0..6u8, small.clone(), any::<u8>(), any::<u8>())
            .prop_map(|(len, panic_at, a, b)| Op::Slice { len, panic_at, bombs: a & b }),
        2 => (0..6u8, small.clone(), any::<bool>(), any::<bool>())
            .prop_map(|(len, panic_at, keep, cross)| Op::Probes { len, panic_at, keep, cross }),
        1 => (0..600u16, any::<bool>(), any::<bool>())
            .prop_map(|(len, keep, cross)| Op::Words { len, keep, cross }),
        1 => (0..6u8, small.clone()).prop_map(|(len, panic_at)| Op::Retain { len, panic_at }),
        2 => (any::<u64>(), prop::bool::weighted(0.2))
            .prop_map(|(value, bomb)| Op::Persist { value, bomb }),
        3 => any::<u16>().prop_map(|index| Op::Get { index }),
        2 => (0..6u8, small, prop::bool::weighted(0.25))
            .prop_map(|(len, panic_at, bomb)| Op::Publish { len, panic_at, bomb }),
        2 => any::<u16>().prop_map(|index| Op::Read { index }),
    ]
}

fn program() -> impl Strategy<Value = Program> {
    let steps = if cfg!(miri) { 0..6usize } else { 0..20 };
    let frames = if cfg!(miri) { 1..4usize } else { 1..7 };
    prop::collection::vec(prop::collection::vec((0..THREADS, op()), steps), frames)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 128 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn panicking_callbacks_never_break_the_model(
        program in program(),
        lane_capacity in prop_oneof![Just(0usize), Just(64), Just(4096)],
        limit in prop::option::weighted(0.3, 0..20_000usize),
    ) {
        program::run(program, lane_capacity, limit);
    }
}
