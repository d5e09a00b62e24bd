//! A global allocator that refuses large requests on demand: the arena's
//! chunk allocations fail, and every `try_*` method reports an error instead
//! of panicking (issue 15, item 3); the arena stays usable.
#![allow(unsafe_code, reason = "a test global allocator")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use tickmem_frame::{FrameAllocError, FrameArena, FrameConfig};

/// Requests over this many bytes fail (`usize::MAX`: none do).
static REFUSE_ABOVE: AtomicUsize = AtomicUsize::new(usize::MAX);

struct Refusing;

// SAFETY: forwards to `System`, or returns null (allowed: allocation failure).
unsafe impl GlobalAlloc for Refusing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > REFUSE_ABOVE.load(Ordering::Relaxed) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded; every block came from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > REFUSE_ABOVE.load(Ordering::Relaxed) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Refusing = Refusing;

#[test]
fn refused_chunks_are_errors_and_the_arena_stays_usable() {
    let mut arena = FrameArena::with_config(FrameConfig::default().lane_capacity(64 * 1024));
    let long_text = "x".repeat(5000);
    REFUSE_ABOVE.store(2048, Ordering::Relaxed);
    // The lane's up-front 64 KiB reservation is refused: the lane starts
    // without a chunk instead of panicking.
    let err = arena.try_alloc([7u8; 4000]).unwrap_err();
    assert_eq!(err, FrameAllocError::OutOfMemory { requested: 4000 });
    assert_eq!(
        err.to_string(),
        "out of memory: no new frame chunk could be allocated for a 4000-byte allocation"
    );
    assert!(arena.try_alloc_slice_copy(&[1u64; 1000]).is_err());
    assert!(arena.try_persist([2u8; 3000]).is_err());
    assert!(arena.try_alloc_str(&long_text).is_err());
    assert!(arena.try_alloc_slice_fill_with(600, |i| i as u64).is_err());
    let mut v = arena.vec::<u64>();
    assert!(v.try_reserve(1000).is_err());
    // Small requests fit in small chunks, which are still granted.
    assert_eq!(*arena.try_alloc(5u32).unwrap(), 5);
    v.extend(0..10);
    assert_eq!(v.iter().sum::<u64>(), 45);
    drop(v);
    // Frames go on (resizing a half to its high-water mark may be refused
    // too: the half keeps its chunk).
    for _ in 0..3 {
        arena.begin_frame();
        assert_eq!(*arena.try_alloc(6u32).unwrap(), 6);
    }
    REFUSE_ABOVE.store(usize::MAX, Ordering::Relaxed);
    assert_eq!(arena.alloc([9u8; 4000])[3999], 9);
    let stats = arena.stats();
    assert!(stats.bytes_this_frame >= 4000 + 4, "{stats}");
    assert!(stats.bytes_reserved >= 4000, "{stats}");
}
