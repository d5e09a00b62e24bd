//! Without `CountingAlloc` as the global allocator, nothing pretends to count.

use tickmem_track::{BudgetError, FrameBudget, NotInstalled};

#[test]
fn is_installed_is_false() {
    drop(std::hint::black_box(vec![1u8; 32]));
    assert!(!tickmem_track::is_installed());
}

#[test]
fn try_count_refuses_without_running_the_closure() {
    let mut ran = false;
    let r = tickmem_track::try_count(|| ran = true);
    assert_eq!(r.err(), Some(NotInstalled));
    assert!(!ran);
}

#[test]
#[should_panic(expected = "CountingAlloc is not the global allocator")]
fn count_panics_with_a_clear_message() {
    tickmem_track::count(|| drop(Box::new(1u8)));
}

#[test]
fn budget_refuses_to_report_success() {
    let mut b = FrameBudget::new(0);
    let ((), r) = b.frame(|| ());
    assert_eq!(r, Err(BudgetError::NotInstalled));
    assert!(r.unwrap_err().to_string().contains("#[global_allocator]"));
}

#[test]
fn a_counting_alloc_used_directly_is_not_mistaken_for_the_global_one() {
    use std::alloc::{GlobalAlloc, Layout};
    let a = tickmem_track::CountingAlloc::system();
    let layout = Layout::new::<u64>();
    // SAFETY: `layout` has non-zero size.
    #[expect(unsafe_code, reason = "driving a GlobalAlloc by hand")]
    let p = unsafe { a.alloc(layout) };
    assert!(!p.is_null());
    // SAFETY: `p` was allocated just above by the same allocator with `layout`.
    #[expect(unsafe_code, reason = "driving a GlobalAlloc by hand")]
    unsafe {
        a.dealloc(p, layout)
    };
    assert!(!tickmem_track::is_installed());
}
