//! After warm-up, scopes make zero global-allocator calls (counted with
//! `tickmem_track::CountingAlloc`, per thread, so parallel tests do not
//! interfere).

use std::cell::Cell;

use tickmem_scratch::{Scratch, ScratchStats, global_stats, request_trim_all, stats, with};
use tickmem_track::{AllocStats, CountingAlloc, count};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();

const SCOPES: usize = if cfg!(miri) { 20 } else { 2000 };

/// Counts destructor calls without allocating.
struct Counted<'a>(&'a Cell<usize>);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// A job whose size fluctuates between 50% and 150% of `base` words, with
/// nested scopes, growing vectors, allocator-api2 collections and values
/// with destructors.
fn job(round: usize, base: usize, drops: &Cell<usize>) -> u64 {
    // 50%, 100%, 150%, 75%, 125% of base, repeating.
    let size = base * [2, 4, 6, 3, 5][round % 5] / 4;
    with(|outer| {
        let a = outer.alloc_slice_fill_with(size, |i| i as u64);
        outer.alloc(Counted(drops));
        let inner_sum = with(|mid| {
            let mut v = mid.vec();
            for x in &a[..size / 2] {
                v.push(x * 2);
            }
            let mut w: allocator_api2::vec::Vec<u64, &Scratch<'_>> =
                allocator_api2::vec::Vec::new_in(mid);
            w.extend(v.iter().copied());
            mid.alloc_str("label");
            with(|innermost| {
                innermost.alloc_slice_fill_with(3, |_| Counted(drops));
                innermost
                    .alloc_slice_copy(&a[..size / 4])
                    .iter()
                    .sum::<u64>()
            }) + w.iter().sum::<u64>()
        });
        inner_sum + a.iter().sum::<u64>()
    })
}

#[test]
fn warmed_up_scopes_make_no_allocator_calls() {
    assert!(tickmem_track::is_installed());
    let drops = Cell::new(0);
    let base = if cfg!(miri) { 64 } else { 2000 };
    // Warm-up: every depth reaches its largest size a few times.
    for round in 0..20 {
        job(round, base, &drops);
    }
    let (sum, calls) = count(|| {
        let mut sum = 0u64;
        for round in 0..SCOPES {
            sum = sum.wrapping_add(job(round, base, &drops));
        }
        sum
    });
    assert!(sum > 0);
    assert_eq!(calls, AllocStats::default(), "{calls}");
    // Every destructor ran: 4 values per job.
    assert_eq!(drops.get(), 4 * (20 + SCOPES));
}

#[test]
fn an_empty_scope_makes_no_allocator_calls_after_the_first() {
    std::thread::spawn(|| {
        let (_, first) = count(|| with(|_| ()));
        // The first scope on a thread creates its level and stats slot.
        assert!(first.allocs >= 1, "{first}");
        let ((), calls) = count(|| {
            for _ in 0..SCOPES {
                with(|s| {
                    with(|t| assert_eq!(t.depth(), s.depth() + 1));
                });
            }
        });
        // The second level is created on the first nested scope.
        assert!(calls.allocs <= 1, "{calls}");
        let ((), calls) = count(|| {
            for _ in 0..SCOPES {
                with(|s| with(|t| assert_eq!(t.depth(), s.depth() + 1)));
            }
        });
        assert_eq!(calls, AllocStats::default(), "{calls}");
    })
    .join()
    .expect("worker panicked");
}

#[test]
fn a_bigger_job_grows_the_arena_once() {
    std::thread::spawn(|| {
        let words = if cfg!(miri) { 256 } else { 50_000 };
        for _ in 0..5 {
            with(|s| {
                s.alloc_slice_fill_with(words, |i| i as u32);
            });
        }
        let (_, grow) = count(|| {
            with(|s| {
                s.alloc_slice_fill_with(words * 4, |i| i as u32);
            })
        });
        assert!(
            grow.allocs >= 1,
            "a 4x bigger job needs a bigger chunk: {grow}"
        );
        let (_, calls) = count(|| {
            for _ in 0..5 {
                with(|s| {
                    s.alloc_slice_fill_with(words * 4, |i| i as u32);
                });
            }
        });
        // At most one more doubling, then it fits.
        assert!(calls.calls() <= 2, "{calls}");
        let (_, calls) = count(|| {
            for _ in 0..5 {
                with(|s| {
                    s.alloc_slice_fill_with(words * 4, |i| i as u32);
                });
            }
        });
        assert_eq!(calls, AllocStats::default(), "{calls}");
    })
    .join()
    .expect("worker panicked");
}

#[test]
fn stats_and_trim_requests_do_not_allocate() {
    with(|s| {
        s.alloc(1u8);
    });
    let (s, calls) = count(|| {
        request_trim_all();
        let mine: ScratchStats = stats();
        let all = global_stats();
        (mine, all)
    });
    assert_eq!(calls, AllocStats::default(), "{calls}");
    assert!(s.1.threads >= 1 && s.0.scopes >= 1);
}

/// A scope needing more than ever before (bumpalo grows a chunk inside the
/// user's allocation), the reset that frees the extra chunks, and the trims
/// after quiet periods are tickmem's housekeeping: counted as such, not
/// charged to a `FrameBudget` (issue 16).
#[test]
fn growth_and_trims_are_housekeeping() {
    let hk_before = tickmem_track::thread_housekeeping_stats();
    let mut budget = tickmem_track::FrameBudget::new(0).with_warm_up(1);
    for round in 0..if cfg!(miri) { 6 } else { 40 } {
        budget.assert_frame(|| {
            // Round 0 warms up; rounds 3 and 4 need 16 and 32 times more.
            let words = match round {
                3 => 16 * 1024,
                4 => 32 * 1024,
                _ => 1024,
            };
            let sum: u64 = with(|s| s.alloc_slice_fill_with(words, |i| i as u64).iter().sum());
            assert_eq!(sum, (words as u64 - 1) * words as u64 / 2);
            // Every few rounds a trim period ends (as the frame boundary
            // does once per tick).
            if round % 2 == 1 {
                request_trim_all();
            }
        });
    }
    let hk = tickmem_track::thread_housekeeping_stats().since(&hk_before);
    assert!(hk.allocs >= 2 && hk.deallocs >= 2, "{hk}");
}
