//! The one arena vector across threads: a `FrameVec` moved to other
//! threads and grown there (each grows in its own lane), its owning
//! iterators sent on, its elements left in the frame from another thread;
//! a `ScratchVec`'s owning iterator consumed and dropped part-way on another
//! thread. Drop counters check every element is dropped exactly once, after
//! its last use. Run under Miri with many scheduler seeds in CI.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use tickmem_frame::FrameArena;

/// Counts its drops.
struct Counted(u32, Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Relaxed);
    }
}

const N: u32 = if cfg!(miri) { 40 } else { 4_000 };

#[test]
fn frame_vecs_move_grow_and_leave_elements_on_other_threads() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut arena = FrameArena::new();
    {
        let arena = &arena;
        let mut v = arena.vec();
        v.extend((0..N / 2).map(|i| Counted(i, drops.clone())));
        let more = drops.clone();
        let (kept, rest) = std::thread::scope(|t| {
            // Grown on another thread (in that thread's lane).
            let v = t
                .spawn(move || {
                    v.extend((N / 2..N).map(|i| Counted(i, more.clone())));
                    v
                })
                .join()
                .unwrap();
            let (mut a, b): (Vec<_>, Vec<_>) = v.into_iter().partition(|c| c.0 % 2 == 0);
            let kept = t
                .spawn(move || {
                    let mut w = arena.vec_with_capacity(a.len());
                    w.extend(a.drain(..));
                    // Left in the frame from this thread: dropped when the
                    // frame is reclaimed.
                    let s = w.into_slice();
                    s.iter().map(|c| c.0).sum::<u32>()
                })
                .join()
                .unwrap();
            (kept, b)
        });
        assert_eq!(kept, (0..N).filter(|i| i % 2 == 0).sum::<u32>());
        assert_eq!(rest.len() as u32, N / 2);
        drop(rest);
        assert_eq!(drops.load(Relaxed), N as usize / 2);
    }
    arena.begin_frame();
    assert_eq!(
        drops.load(Relaxed),
        N as usize / 2,
        "alive for one more frame"
    );
    arena.begin_frame();
    assert_eq!(drops.load(Relaxed), N as usize);
}

#[test]
fn a_scratch_vec_iterator_is_finished_on_another_thread() {
    let drops = Arc::new(AtomicUsize::new(0));
    tickmem_scratch::with(|s| {
        let mut v = s.vec();
        v.extend((0..N).map(|i| Counted(i, drops.clone())));
        let mut it = v.into_iter();
        let first = it.next().map(|c| c.0);
        assert_eq!(first, Some(0));
        let taken = std::thread::scope(|t| {
            t.spawn(move || {
                // Half here, the rest dropped with the iterator, here.
                it.by_ref().take(N as usize / 2).map(|c| c.0).sum::<u32>()
            })
            .join()
            .unwrap()
        });
        assert_eq!(taken, (1..=N / 2).sum::<u32>());
        assert_eq!(drops.load(Relaxed), N as usize);
    });
}
