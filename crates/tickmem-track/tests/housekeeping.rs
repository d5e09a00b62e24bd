//! Housekeeping scopes: tickmem's own calls are counted apart, never charged
//! to a `FrameBudget`, and (feature `attribution`) neither to the enclosing
//! attribution scope nor captured as the offender of an over-budget tick.

use std::hint::black_box;

use tickmem_track::{
    BudgetScope, CountingAlloc, FrameBudget, housekeeping, housekeeping_stats,
    thread_housekeeping_stats,
};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();

#[test]
fn scopes_count_per_thread_and_process_once_when_nested() {
    let (thread0, process0) = (thread_housekeeping_stats(), housekeeping_stats());
    housekeeping(|| {
        drop(black_box(vec![0u8; 100]));
        housekeeping(|| drop(black_box(vec![0u8; 28]))); // nested: counted once
    });
    let thread = thread_housekeeping_stats().since(&thread0);
    assert_eq!((thread.allocs, thread.deallocs), (2, 2));
    assert_eq!(thread.bytes_allocated, 128);
    let process = housekeeping_stats().since(&process0);
    assert!(process.allocs >= 2, "{process}");
    // Calls outside a scope are not housekeeping.
    drop(black_box(vec![0u8; 1]));
    assert_eq!(thread_housekeeping_stats().since(&thread0), thread);
    // Another thread's scope shows in the process totals only.
    let before = housekeeping_stats();
    std::thread::spawn(|| housekeeping(|| drop(black_box(Box::new(1u64)))))
        .join()
        .unwrap();
    assert!(housekeeping_stats().since(&before).allocs >= 1);
    assert_eq!(thread_housekeeping_stats().since(&thread0), thread);
}

#[test]
fn a_panic_closes_the_scope() {
    let before = thread_housekeeping_stats();
    let r = std::panic::catch_unwind(|| {
        housekeeping(|| {
            drop(black_box(vec![1u8; 8]));
            panic!("in housekeeping");
        })
    });
    assert!(r.is_err());
    // The vector, and what the panic machinery allocated while unwinding
    // inside the scope.
    let after = thread_housekeeping_stats().since(&before);
    assert!(after.allocs >= 1);
    // The scope is closed: this one is the caller's.
    drop(black_box(vec![1u8; 8]));
    assert_eq!(thread_housekeeping_stats().since(&before), after);
}

#[test]
fn budgets_do_not_charge_housekeeping() {
    for scope in [BudgetScope::Thread, BudgetScope::Process] {
        let mut budget = FrameBudget::new(0).with_scope(scope);
        budget.begin_frame();
        housekeeping(|| drop(black_box(vec![0u64; 512])));
        let usage = budget.end_frame();
        // Under the process scope other tests' threads may allocate
        // meanwhile; only the thread scope can insist on zero.
        if scope == BudgetScope::Thread {
            let usage = usage.expect("housekeeping is not charged");
            assert_eq!(usage.stats.calls(), 0);
        }
        let mut budget = FrameBudget::new(0).with_scope(BudgetScope::Thread);
        budget.begin_frame();
        drop(black_box(vec![0u64; 512]));
        assert!(budget.end_frame().is_err(), "the user's own calls are");
    }
}

#[cfg(feature = "attribution")]
mod attribution {
    use std::hint::black_box;

    use tickmem_track::attribution::{self, CallKind, Tag};
    use tickmem_track::housekeeping;

    #[test]
    fn the_enclosing_scope_is_not_charged() {
        let system = Tag::unique();
        let scope = attribution::enter(system);
        drop(black_box(vec![0u8; 10])); // the system's: 2 calls
        housekeeping(|| {
            assert_eq!(
                attribution::current(),
                Some(attribution::housekeeping_tag())
            );
            drop(black_box(vec![0u8; 1000])); // not the system's
        });
        assert_eq!(attribution::current(), Some(system));
        let own = scope.finish();
        assert_eq!((own.calls(), own.bytes_allocated), (2, 10));
    }

    #[test]
    fn housekeeping_is_never_the_offender() {
        attribution::arm(0, 3); // tick 3 may make no call
        let grown = housekeeping(|| black_box(vec![0u8; 4096])); // not counted
        let user = black_box(vec![0u8; 24]); // the first call over the budget
        attribution::disarm();
        let offender = attribution::take(3).expect("captured");
        assert_eq!((offender.kind, offender.size), (CallKind::Alloc, 24));
        drop((grown, user));
    }
}
