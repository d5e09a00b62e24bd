//! A `#[global_allocator]` that itself uses scratch (as a profiler that
//! builds a report in scratch memory might): `with` re-enters while scratch
//! is creating a level, registering a thread, resetting a level's chunks,
//! trimming or enforcing the cap. Every such scope must get memory no open
//! scope and no running trim is using.
#![expect(unsafe_code, reason = "a test global allocator")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tickmem_scratch::{
    TrimPolicy, release_all, request_trim_all, set_trim_policy, stats, trim, with,
};

struct Reentrant;

thread_local! {
    /// The hook runs only in tests that arm it, and never inside itself.
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
    static HOOK_SCOPES: Cell<u64> = const { Cell::new(0) };
}

/// Use scratch from inside the allocator: nested scopes that allocate,
/// check their data and trim.
fn hook() {
    if !ARMED.get() || IN_HOOK.replace(true) {
        return;
    }
    with(|s| {
        let a = s.alloc_slice_fill_with(300, |i| i as u32 ^ 0x5A5A);
        with(|t| {
            let b = t.alloc_slice_copy(&[0xEEu8; 3000]);
            assert!(b.iter().all(|x| *x == 0xEE));
        });
        trim();
        assert!(a.iter().enumerate().all(|(i, x)| *x == i as u32 ^ 0x5A5A));
    });
    HOOK_SCOPES.set(HOOK_SCOPES.get() + 1);
    IN_HOOK.set(false);
}

// SAFETY: forwards to `System` unchanged; the hook only runs scratch code
// (which may allocate through this allocator again: `IN_HOOK` stops the
// recursion) and does not unwind unless a scratch invariant is broken, in
// which case the test aborts, which is what it should report.
unsafe impl GlobalAlloc for Reentrant {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System`'s.
        let p = unsafe { System.alloc(layout) };
        if layout.size() >= 64 {
            hook();
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        if layout.size() >= 64 {
            hook();
        }
    }
}

#[global_allocator]
static GLOBAL: Reentrant = Reentrant;

/// Bytes of a level's big allocation (a first chunk is 512 bytes or so).
const BIG: usize = if cfg!(miri) { 700 } else { 2000 };
const VEC: usize = if cfg!(miri) { 100 } else { 500 };

/// A workload that makes scratch grow levels, grow and reset chunks, trim,
/// release, hit the cap and end periods.
fn workload(rounds: usize) {
    for round in 0..rounds {
        request_trim_all();
        with(|outer| {
            let keep = outer.alloc_slice_fill_with(100, |i| i + round);
            fn dive(depth: usize, round: usize) {
                with(|s| {
                    // Bigger than the level's chunk on the first rounds:
                    // chunks are allocated, then freed by the reset.
                    let big = s.alloc_slice_fill_with(BIG * (round % 3 + 1), |i| i as u8);
                    let mut v = s.vec();
                    v.extend((0..VEC).map(|i| i * depth));
                    if depth < 4 {
                        dive(depth + 1, round);
                    }
                    assert!(big.iter().enumerate().all(|(i, x)| *x == i as u8));
                    assert_eq!(v[VEC - 1], (VEC - 1) * depth);
                });
            }
            dive(1, round);
            trim();
            release_all();
            assert!(keep.iter().enumerate().all(|(i, x)| *x == i + round));
        });
        if round % 2 == 0 {
            release_all();
        } else {
            trim();
        }
    }
}

#[test]
fn scratch_used_from_inside_the_global_allocator() {
    // A small cap so outermost exits release levels too.
    set_trim_policy(
        TrimPolicy::new()
            .with_quiet_periods(1)
            .with_period_scopes(2)
            .with_max_retained_bytes(4096),
    );
    let rounds = if cfg!(miri) { 2 } else { 50 };
    // A fresh thread: its first scope registers it while armed.
    std::thread::spawn(move || {
        ARMED.set(true);
        workload(rounds);
        ARMED.set(false);
        assert!(HOOK_SCOPES.get() > 0, "the hook ran");
        let st = stats();
        assert_eq!((st.depth, st.bytes_in_use), (0, 0), "{st}");
    })
    .join()
    .expect("worker");
    ARMED.set(true);
    workload(rounds);
    ARMED.set(false);
    assert_eq!(stats().depth, 0);
}
