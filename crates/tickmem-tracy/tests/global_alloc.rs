//! `global_alloc` / `global_free` called from inside the global allocator,
//! the way `tickmem-track`'s `tracy-global-alloc` feature calls them: they
//! must never allocate themselves (that would recurse), and must work on any
//! thread, including while threads start and end, and from the very first
//! allocation of the process.
#![expect(
    unsafe_code,
    reason = "a test global allocator: `GlobalAlloc` is an unsafe trait"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Forwards to `System` and reports every call to Tracy; counts allocator
/// calls made while a report is in progress on the same thread.
struct Reporting;

static REPORTS: AtomicU64 = AtomicU64::new(0);
static REENTERED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static IN_REPORT: Cell<bool> = const { Cell::new(false) };
}

fn report(f: impl FnOnce()) {
    let nested = IN_REPORT.with(|r| r.replace(true));
    if nested {
        REENTERED.fetch_add(1, Relaxed);
    }
    f();
    REPORTS.fetch_add(1, Relaxed);
    IN_REPORT.with(|r| r.set(nested));
}

fn enter_alloc() {
    if IN_REPORT.with(Cell::get) {
        REENTERED.fetch_add(1, Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments and
// returns its result unchanged; reporting only reads the pointer's address.
unsafe impl GlobalAlloc for Reporting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        enter_alloc();
        // SAFETY: the caller upholds `alloc`'s contract, which is System's.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            report(|| tickmem_tracy::global_alloc(ptr, layout.size()));
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        enter_alloc();
        report(|| tickmem_tracy::global_free(ptr));
        // SAFETY: `ptr` was allocated by `System` (through us) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        enter_alloc();
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds
        // the rest of `realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            report(|| {
                tickmem_tracy::global_free(ptr);
                tickmem_tracy::global_alloc(new, new_size);
            });
        }
        new
    }
}

#[global_allocator]
static GLOBAL: Reporting = Reporting;

#[test]
fn reporting_from_the_global_allocator_never_allocates() {
    let before = REPORTS.load(Relaxed);
    std::thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                let mut kept = Vec::new();
                for i in 0..2_000usize {
                    let mut v: Vec<u64> = Vec::with_capacity(i % 17 + 1);
                    v.extend(0..(i % 40) as u64); // grows: reallocations
                    if i % 3 == t % 3 {
                        kept.push(v);
                    }
                    // Threads that start and end while others allocate.
                    if i % 500 == 0 {
                        std::thread::spawn(|| drop(vec![1u8; 100])).join().unwrap();
                    }
                }
                kept.len()
            });
        }
    });
    assert!(
        REPORTS.load(Relaxed) - before >= 4 * 2_000,
        "the allocator did not report"
    );
    assert_eq!(
        REENTERED.load(Relaxed),
        0,
        "global_alloc/global_free called the global allocator"
    );
}

#[cfg(feature = "record")]
#[test]
fn global_allocations_are_never_recorded() {
    let ((), events) = tickmem_tracy::testing::record(|| {
        let v: Vec<u32> = (0..100).collect();
        drop(std::hint::black_box(v));
    });
    assert!(events.is_empty(), "{events:?}");
}
