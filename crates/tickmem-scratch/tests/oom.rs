//! Out-of-memory paths, driven by a global allocator that refuses requests
//! of 1 GiB or more, and those of 1 KiB or more while a thread-local switch
//! is on (only around calls that do not panic: the panic machinery itself
//! allocates).
#![expect(
    unsafe_code,
    reason = "a refusing GlobalAlloc drives the out-of-memory paths"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tickmem_scratch::with;

struct Refusing;

thread_local! {
    static REFUSE_LARGE: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards to `System`, or returns null (allowed) for the refused
// requests.
unsafe impl GlobalAlloc for Refusing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= 1 << 30 || (layout.size() >= 1024 && REFUSE_LARGE.with(Cell::get)) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: every non-null block came from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Refusing = Refusing;

/// Run `f` with large allocations refused on this thread.
fn refusing<R>(f: impl FnOnce() -> R) -> R {
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            REFUSE_LARGE.with(|r| r.set(false));
        }
    }
    REFUSE_LARGE.with(|r| r.set(true));
    let _restore = Restore;
    f()
}

#[test]
fn try_alloc_reports_what_was_asked() {
    std::thread::spawn(|| {
        let drops = Cell::new(0);
        with(|s| {
            s.alloc(1u64);
            let err = refusing(|| s.try_alloc([7u8; 4096])).expect_err("refused");
            assert_eq!((err.requested, err.align), (4096, 1));
            assert!(err.in_use >= 8);
            let msg = err.to_string();
            assert!(msg.contains("4096 bytes (align 1)"), "{msg}");
            // A value with a destructor is dropped, not leaked.
            struct D<'a> {
                _large: [u8; 2048],
                drops: &'a Cell<u32>,
            }
            impl Drop for D<'_> {
                fn drop(&mut self) {
                    self.drops.set(self.drops.get() + 1);
                }
            }
            assert!(
                refusing(|| s.try_alloc(D {
                    _large: [0; 2048],
                    drops: &drops
                }))
                .is_err()
            );
            assert_eq!(drops.get(), 1);
            // The scope still works once memory is available again.
            assert_eq!(s.try_alloc([1u8; 4096]).expect("allocator back")[4095], 1);
        });
    })
    .join()
    .expect("worker panicked");
}

#[test]
fn the_allocator_api_reports_failure() {
    use allocator_api2::alloc::Allocator;
    with(|s| {
        let layout = Layout::from_size_align(1 << 20, 8).expect("layout");
        assert!(refusing(|| s.allocate(layout)).is_err());
        assert!(s.allocate(layout).is_ok());
    });
}

#[test]
#[should_panic(
    expected = "tickmem-scratch: scratch allocation of 2147483648 bytes (align 1) failed"
)]
fn alloc_panics_with_a_clear_message() {
    with(|s| {
        s.alloc_slice_fill_with(1 << 31, |_| 0u8);
    });
}
