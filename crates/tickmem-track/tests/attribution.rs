//! Attribution scopes: each scope's own counts, nested scopes subtracted,
//! checked against a model on random programs; the current tag follows the
//! nesting, also through panics; threads are independent.
#![cfg(feature = "attribution")]

use std::hint::black_box;

use proptest::prelude::*;
use tickmem_track::attribution::{self, Tag};
use tickmem_track::{AllocStats, CountingAlloc};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();

#[derive(Debug, Clone)]
enum Op {
    /// Open a scope (for the next tag).
    Enter,
    /// Close the innermost scope.
    Exit,
    /// Allocate and free a box of this many bytes (2 calls).
    Churn(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Enter),
        2 => Just(Op::Exit),
        3 => (1usize..512).prop_map(Op::Churn),
    ]
}

#[inline(never)]
fn churn(size: usize) {
    drop(black_box(vec![0u8; size]));
}

fn config() -> ProptestConfig {
    if cfg!(miri) {
        // Miri's isolation has no working directory for regression files.
        ProptestConfig {
            cases: 8,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    } else {
        ProptestConfig::with_cases(256)
    }
}

proptest! {
    #![proptest_config(config())]

    /// Every scope's `finish` returns exactly the churn done while it was
    /// the innermost open scope.
    #[test]
    fn own_counts_match_a_model(ops in proptest::collection::vec(op(), 0..if cfg!(miri) { 24 } else { 80 })) {
        // (tag, scope, model calls, model bytes) per open scope.
        // Room for every scope up front: growing it inside a scope would be
        // an allocation of that scope.
        let mut open: Vec<(Tag, attribution::Scope, u64, u64)> = Vec::with_capacity(80);
        let check = |tag: Tag, scope: attribution::Scope, calls: u64, bytes: u64| {
            let own: AllocStats = scope.finish();
            prop_assert_eq!((own.calls(), own.bytes_allocated, own.bytes_freed), (calls, bytes, bytes), "{:?}", tag);
            prop_assert_eq!(own.net_bytes(), 0);
            Ok(())
        };
        for op in ops.iter().cloned() {
            match op {
                Op::Enter => {
                    let tag = Tag::unique();
                    open.push((tag, attribution::enter(tag), 0, 0));
                }
                Op::Exit => {
                    if let Some((tag, scope, calls, bytes)) = open.pop() {
                        check(tag, scope, calls, bytes)?;
                    }
                }
                Op::Churn(size) => {
                    churn(size);
                    if let Some(top) = open.last_mut() {
                        top.2 += 2;
                        top.3 += size as u64;
                    }
                }
            }
            prop_assert_eq!(attribution::current(), open.last().map(|s| s.0));
        }
        while let Some((tag, scope, calls, bytes)) = open.pop() {
            check(tag, scope, calls, bytes)?;
        }
        prop_assert_eq!(attribution::current(), None);
    }
}

#[test]
fn a_panic_inside_a_scope_restores_the_outer_tag() {
    let outer = Tag::unique();
    let _outer = attribution::enter(outer);
    let r = std::panic::catch_unwind(|| {
        let _inner = attribution::enter(Tag::unique());
        std::panic::resume_unwind(Box::new("system panicked"));
    });
    assert!(r.is_err());
    assert_eq!(attribution::current(), Some(outer));
}

#[test]
fn tags_are_per_thread() {
    let main_tag = Tag::unique();
    let _scope = attribution::enter(main_tag);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                assert_eq!(attribution::current(), None);
                let t = Tag::unique();
                let scope = attribution::enter(t);
                for i in 0..50 {
                    churn(i + 1);
                }
                let own = scope.finish();
                assert_eq!(own.calls(), 100);
                assert_eq!(own.bytes_allocated, (1..=50).sum::<usize>() as u64);
            });
        }
    });
    assert_eq!(attribution::current(), Some(main_tag));
}
