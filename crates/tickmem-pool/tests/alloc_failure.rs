//! Allocation failure and impossible sizes: the `try_*` constructors and
//! `try_insert` return errors (with the value back) instead of aborting, and
//! the panicking constructors panic with a message before allocating.
//!
//! The global allocator here refuses every request larger than a per-thread
//! limit, like a machine out of memory.

#![expect(unsafe_code, reason = "a global allocator that refuses large requests")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::catch_unwind;

use tickmem_pool::Pool;

thread_local! {
    /// Requests above this many bytes fail on this thread.
    static LIMIT: Cell<usize> = const { Cell::new(usize::MAX) };
    /// Bytes this thread asked for (granted or not).
    static ASKED: Cell<usize> = const { Cell::new(0) };
    /// Panics on this thread are expected: the hook prints nothing.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

struct Refusing;

// SAFETY: forwards to `System`, or returns null (a valid "failed" answer).
unsafe impl GlobalAlloc for Refusing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ASKED.try_with(|a| a.set(a.get().saturating_add(layout.size())));
        if LIMIT.try_with(Cell::get).unwrap_or(usize::MAX) < layout.size() {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's layout contract is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ASKED.try_with(|a| a.set(a.get().saturating_add(new_size)));
        if LIMIT.try_with(Cell::get).unwrap_or(usize::MAX) < new_size {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Refusing = Refusing;

/// Runs `f` with allocations above `limit` bytes refused; returns what it
/// returned and how many bytes it asked for. Panics inside `f` are expected:
/// they print nothing (the default hook would capture a backtrace, which
/// allocates megabytes).
fn with_limit<R>(limit: usize, f: impl FnOnce() -> R) -> (R, usize) {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if LIMIT.try_with(Cell::get) == Ok(usize::MAX) && !QUIET.get() {
                default(info);
            }
        }));
    });
    QUIET.set(true);
    ASKED.set(0);
    LIMIT.set(limit);
    let r = f();
    LIMIT.set(usize::MAX);
    QUIET.set(false);
    (r, ASKED.get())
}

#[test]
fn try_insert_returns_the_value_when_the_allocator_refuses_to_grow() {
    let mut pool = Pool::with_capacity(4);
    for i in 0..4 {
        pool.insert(i.to_string());
    }
    let (result, _) = with_limit(64, || pool.try_insert(String::from("no room")));
    let full = result.expect_err("growing past 4 slots needs more than 64 bytes");
    assert_eq!(full.capacity(), 4);
    assert_eq!(full.into_inner(), "no room");
    assert_eq!(pool.len(), 4);
    // The pool is fine and grows once memory is back.
    let h = pool.try_insert(String::from("room")).unwrap();
    assert_eq!(pool[h], "room");
    assert_eq!(pool.len(), 5);
}

#[test]
fn try_constructors_and_try_reserve_report_refused_memory() {
    let (r, _) = with_limit(1 << 20, || Pool::<[u64; 4]>::try_with_capacity(1 << 20));
    let err = r.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Pool<[u64; 4]>: no room for 1048576 values: the allocator refused 41943040 bytes"
    );
    let (r, _) = with_limit(1 << 20, || Pool::<[u64; 4]>::try_fixed(1 << 20));
    assert!(r.is_err());
    let mut pool = Pool::<[u64; 4]>::new();
    let (r, _) = with_limit(1 << 20, || pool.try_reserve(1 << 20));
    assert!(r.is_err());
    assert_eq!(pool.capacity(), 0);
}

#[test]
fn impossible_sizes_are_refused_before_asking_the_allocator() {
    let (r, asked) = with_limit(usize::MAX, || Pool::<u8>::try_with_capacity(usize::MAX));
    assert_eq!(
        r.unwrap_err().to_string(),
        "Pool<u8>: no room for 18446744073709551615 values: this pool holds at most 2147483647 values"
    );
    assert_eq!(asked, 0);
    // Within the index space but not the address space.
    let (r, asked) = with_limit(usize::MAX, || {
        Pool::<[u8; 1 << 40]>::try_with_capacity(1 << 30)
    });
    assert_eq!(
        r.unwrap_err().to_string(),
        "Pool<[u8; 1099511627776]>: no room for 1073741824 values: the slot table would exceed the address space"
    );
    assert_eq!(asked, 0);
}

#[test]
fn with_capacity_usize_max_panics_with_a_message_before_allocating() {
    for make in [
        || drop(Pool::<u8>::with_capacity(usize::MAX)),
        || drop(Pool::<u8>::fixed(usize::MAX)),
        || Pool::<u8>::new().reserve(usize::MAX),
        || drop(Pool::<[u64; 4]>::with_capacity(usize::MAX)),
    ] {
        // The refusal comes before any allocation of the pool's (the panic
        // message itself is formatted on the heap: well under 1 KiB).
        let (result, asked) = with_limit(usize::MAX, || catch_unwind(make));
        let panic = result.expect_err("must panic");
        let message = panic.downcast_ref::<String>().expect("a formatted message");
        assert!(
            message.contains("values: this pool holds at most 2147483647 values"),
            "{message}"
        );
        assert!(asked < 1024, "asked for {asked} bytes");
    }
}

#[test]
fn with_capacity_panics_with_a_message_when_memory_is_refused() {
    let (result, _) = with_limit(1 << 20, || {
        catch_unwind(|| drop(Pool::<[u64; 4]>::with_capacity(1 << 20)))
    });
    let panic = result.expect_err("must panic, not abort");
    let message = panic.downcast_ref::<String>().unwrap();
    assert_eq!(
        message,
        "Pool<[u64; 4]>: no room for 1048576 values: the allocator refused 41943040 bytes"
    );
}
