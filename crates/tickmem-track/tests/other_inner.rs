//! `CountingAlloc` wraps a non-`System` allocator (mimalloc).
#![cfg(not(miri))] // mimalloc is C: Miri cannot run it.

use std::hint::black_box;

use tickmem_track::CountingAlloc;

#[global_allocator]
static GLOBAL: CountingAlloc<mimalloc::MiMalloc> = CountingAlloc::new(mimalloc::MiMalloc);

#[test]
fn counts_through_mimalloc() {
    assert!(tickmem_track::is_installed());
    let (v, s) = tickmem_track::count(|| {
        let mut v: Vec<u32> = Vec::new();
        for i in 0..100 {
            v.push(black_box(i));
        }
        v
    });
    assert_eq!((s.allocs, s.reallocs, s.deallocs), (1, 5, 0));
    assert_eq!(s.net_bytes(), 512);
    let ((), s) = tickmem_track::count(|| drop(v));
    assert_eq!(s.deallocs, 1);
}

#[test]
fn zeroed_allocations_count_as_allocations() {
    let (v, s) = tickmem_track::count(|| black_box(vec![0u64; 1000]));
    assert_eq!((s.allocs, s.bytes_allocated), (1, 8000));
    assert!(v.iter().all(|&x| x == 0));
}
