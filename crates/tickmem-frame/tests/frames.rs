//! Behaviour of `FrameArena` through its public API: frame validity, handles,
//! destructors, limits, collections and threads.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tickmem_frame::allocator_api2::vec::Vec as AVec;
use tickmem_frame::{
    FrameAlloc, FrameAllocError, FrameArena, FrameConfig, FrameHandle, FrameStats, FrameVec, Lane,
};

/// Fewer iterations under Miri.
const fn scaled(n: usize) -> usize {
    if cfg!(miri) { n / 20 + 1 } else { n }
}

/// A value that records its destruction in a shared log.
#[derive(Debug)]
struct Probe {
    id: u64,
    log: Arc<Mutex<Vec<u64>>>,
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.log.lock().unwrap().push(self.id);
    }
}

fn log() -> Arc<Mutex<Vec<u64>>> {
    Arc::new(Mutex::new(Vec::new()))
}

fn dropped(log: &Arc<Mutex<Vec<u64>>>) -> Vec<u64> {
    let mut v = log.lock().unwrap().clone();
    v.sort_unstable();
    v
}

/// A destructor counter.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn arena_handles_and_config_have_the_promised_traits() {
    fn send_sync<T: Send + Sync>() {}
    fn handle_traits<T: Copy + Send + Sync + 'static + std::fmt::Debug + Eq + std::hash::Hash>() {}
    fn debug_clone_default<T: std::fmt::Debug + Clone + Default>() {}
    fn error_traits<T: std::error::Error + Clone + PartialEq + Send + Sync + 'static>() {}
    send_sync::<FrameArena>();
    send_sync::<FrameAlloc<'static>>();
    send_sync::<FrameVec<'static, u32>>();
    // A handle is all of these whatever `T` is, even `!Send`, `!Sync`, `!Copy`.
    handle_traits::<FrameHandle<std::rc::Rc<String>>>();
    handle_traits::<FrameHandle<std::cell::Cell<u8>>>();
    debug_clone_default::<FrameConfig>();
    debug_clone_default::<FrameStats>();
    error_traits::<FrameAllocError>();
    let arena = FrameArena::default();
    assert!(format!("{arena:?}").starts_with("FrameArena"));
    assert!(format!("{:?}", arena.lane()).contains("lane: 0"));
}

#[test]
fn values_stay_intact_through_their_frame() {
    let arena = FrameArena::with_config(FrameConfig::default().lane_capacity(256));
    let lane = arena.lane();
    // Enough to need several chunks.
    let refs: Vec<&mut [u64; 8]> = (0..scaled(2000) as u64)
        .map(|i| lane.alloc([i; 8]))
        .collect();
    let strs: Vec<&mut str> = (0..scaled(200))
        .map(|i| arena.alloc_str(&i.to_string()))
        .collect();
    for (i, r) in refs.iter().enumerate() {
        assert_eq!(**r, [i as u64; 8]);
    }
    for (i, s) in strs.iter().enumerate() {
        assert_eq!(&**s, i.to_string());
    }
    assert!(arena.stats().chunks > 2, "{}", arena.stats());
}

#[test]
fn alignment_is_respected() {
    #[repr(align(64))]
    #[derive(Clone, Copy)]
    struct Line([u8; 64]);
    #[repr(align(4096))]
    #[derive(Clone, Copy)]
    struct Page(u8);
    let arena = FrameArena::with_config(FrameConfig::default().lane_capacity(0));
    for i in 0..10u8 {
        arena.alloc(i);
        let l = arena.alloc(Line([i; 64]));
        assert_eq!(std::ptr::from_mut(l).addr() % 64, 0);
        let p = arena.alloc(Page(i));
        assert_eq!(std::ptr::from_mut(p).addr() % 4096, 0);
        assert_eq!((l.0[63], p.0), (i, i));
    }
}

#[test]
fn handles_are_some_for_two_frames_then_none() {
    let mut arena = FrameArena::new();
    let mut handles = Vec::new();
    for frame in 0..6u64 {
        arena.begin_frame();
        handles.push((arena.epoch(), arena.persist(frame * 10)));
        for &(epoch, h) in &handles {
            let age = arena.epoch() - epoch;
            let expected = (age <= 1).then_some((epoch - 1) * 10);
            assert_eq!(arena.get(h).copied(), expected, "age {age}");
            assert_eq!(arena.is_live(h), age <= 1);
            assert_eq!(h.epoch(), epoch);
        }
    }
}

#[test]
fn another_arenas_handle_is_none() {
    let a = FrameArena::new();
    let b = FrameArena::new();
    let ha = a.persist(1u32);
    let hb = b.persist(2u32);
    assert_eq!((a.get(ha), b.get(hb)), (Some(&1), Some(&2)));
    assert_eq!((a.get(hb), b.get(ha)), (None, None));
    assert_ne!(ha.arena_id(), hb.arena_id());
    // A new arena never reuses an id, even at the same address.
    let old_id = a.id();
    drop(a);
    let c = FrameArena::new();
    assert_ne!(c.id(), old_id);
    assert_eq!(c.get(ha), None);
}

#[test]
fn handles_compare_and_hash_by_identity() {
    let arena = FrameArena::new();
    let h1 = arena.persist(7u8);
    let h2 = arena.persist(7u8);
    let copy = h1;
    assert_eq!(h1, copy);
    assert_ne!(h1, h2);
    let set: HashSet<FrameHandle<u8>> = [h1, h2, copy].into_iter().collect();
    assert_eq!(set.len(), 2);
    let dbg = format!("{h1:?}");
    assert!(
        dbg.contains("FrameHandle") && dbg.contains("u8") && dbg.contains("epoch: 0"),
        "{dbg}"
    );
}

#[test]
fn handles_work_from_other_threads() {
    let mut arena = FrameArena::new();
    let handles: Vec<FrameHandle<Vec<u32>>> = (0..4).map(|i| arena.persist(vec![i; 10])).collect();
    arena.begin_frame();
    std::thread::scope(|s| {
        for (i, &h) in handles.iter().enumerate() {
            let arena = &arena;
            s.spawn(move || {
                assert_eq!(arena.get(h).map(|v| v[9]), Some(i as u32));
                // And new handles made on this thread are readable on the main one.
                arena.persist(i as u64 + 100)
            });
        }
    });
    for &h in &handles {
        assert!(arena.get(h).is_some());
    }
    arena.begin_frame();
    for &h in &handles {
        assert!(arena.get(h).is_none());
    }
}

#[test]
fn destructors_run_once_when_their_frame_is_reclaimed() {
    let log = log();
    let mut arena = FrameArena::new();
    let mut next = 0;
    let mut probe = || {
        next += 1;
        Probe {
            id: next,
            log: log.clone(),
        }
    };
    let mut ids_by_frame: Vec<Vec<u64>> = Vec::new();
    let mut gone_ids = Vec::new();
    for frame in 0..5usize {
        if frame > 0 {
            arena.begin_frame();
        }
        let mut ids = Vec::new();
        let a = arena.alloc(probe());
        ids.push(a.id);
        let h = arena.persist(probe());
        ids.push(arena.get(h).unwrap().id);
        let slice = arena.alloc_slice_fill_with(3, |_| probe());
        ids.extend(slice.iter().map(|p| p.id));
        let mut v = arena.vec();
        v.push(probe());
        v.push(probe());
        ids.extend(v.iter().map(|p| p.id));
        let kept = v.into_slice();
        assert_eq!(kept.len(), 2);
        // A FrameVec that is dropped drops its elements right away.
        let mut gone = arena.vec();
        gone.push(probe());
        gone_ids.push(gone[0].id);
        drop(gone);
        ids_by_frame.push(ids);

        // Frames up to `frame - 2` are reclaimed, nothing later.
        let mut want: Vec<u64> = ids_by_frame
            .iter()
            .take(frame.saturating_sub(1))
            .flatten()
            .chain(&gone_ids)
            .copied()
            .collect();
        want.sort_unstable();
        assert_eq!(dropped(&log), want, "frame {frame}");
    }
    drop(arena);
    // Every probe dropped exactly once.
    assert_eq!(dropped(&log), (1..=next).collect::<Vec<_>>());
}

#[test]
fn dropping_the_arena_drops_both_live_frames_across_threads() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut arena = FrameArena::new();
    let per_thread = scaled(500);
    let spawn_allocs = |arena: &FrameArena| {
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    let lane = arena.lane();
                    for _ in 0..per_thread {
                        lane.alloc(Counted(drops.clone()));
                    }
                    lane.alloc_slice_fill_with(10, |_| Counted(drops.clone()));
                });
            }
        });
    };
    spawn_allocs(&arena);
    arena.begin_frame();
    spawn_allocs(&arena);
    assert_eq!(drops.load(Ordering::Relaxed), 0);
    drop(arena);
    assert_eq!(drops.load(Ordering::Relaxed), 2 * 3 * (per_thread + 10));
}

#[test]
fn a_panic_in_fill_with_drops_the_values_made_so_far() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut arena = FrameArena::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        arena.alloc_slice_fill_with(10, |i| {
            assert!(i < 4, "stop at 4");
            Counted(drops.clone())
        });
    }));
    assert!(result.is_err());
    assert_eq!(drops.load(Ordering::Relaxed), 0);
    arena.begin_frame();
    arena.begin_frame();
    assert_eq!(drops.load(Ordering::Relaxed), 4);
}

#[test]
fn a_panicking_destructor_does_not_skip_or_repeat_the_others() {
    struct Bomb(Arc<AtomicUsize>, bool);
    impl Drop for Bomb {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
            assert!(!self.1, "bomb");
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let mut arena = FrameArena::new();
    for i in 0..5 {
        arena.alloc(Bomb(drops.clone(), i == 2));
    }
    arena.begin_frame();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| arena.begin_frame()));
    assert!(result.is_err());
    assert_eq!(drops.load(Ordering::Relaxed), 5);
    // The frame advanced and was fully reclaimed; the next runs nothing twice.
    assert_eq!(arena.epoch(), 2);
    arena.begin_frame();
    assert_eq!(arena.epoch(), 3);
    drop(arena);
    assert_eq!(drops.load(Ordering::Relaxed), 5);
}

#[test]
fn zero_sized_values_with_destructors_are_dropped() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Zst;
    impl Drop for Zst {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::Relaxed);
        }
    }
    let arena = FrameArena::new();
    arena.alloc(Zst);
    arena.alloc_slice_fill_with(3, |_| Zst);
    arena.alloc(());
    drop(arena);
    assert_eq!(DROPS.load(Ordering::Relaxed), 4);
}

#[test]
fn over_the_limit_try_alloc_reports_the_numbers() {
    let mut arena = FrameArena::with_config(FrameConfig::default().frame_byte_limit(Some(1000)));
    assert_eq!(arena.alloc_slice_copy(&[0u8; 600]).len(), 600);
    let err = arena.try_alloc([0u8; 500]).unwrap_err();
    assert_eq!(
        err,
        FrameAllocError::LimitExceeded {
            requested: 500,
            align: 1,
            needed: 504,
            remaining: 400,
            limit: 1000,
            epoch: 0
        }
    );
    assert_eq!((err.requested(), err.remaining()), (500, Some(400)));
    assert_eq!(
        err.to_string(),
        "frame byte limit exceeded in frame 0: asked for 500 bytes, 400 of the 1000-byte limit left"
    );
    // What fits still fits, exactly up to the limit.
    assert!(arena.try_alloc_slice_copy(&[0u8; 400]).is_ok());
    assert!(arena.try_alloc(0u8).is_err());
    assert!(arena.try_alloc_str("x").is_err());
    assert!(arena.try_persist(1u8).is_err());
    assert!(arena.try_alloc_slice_fill_with(1, |i| i).is_err());
    assert_eq!(arena.stats().bytes_this_frame, 1000);
    // The next frame has the full limit again.
    arena.begin_frame();
    assert!(arena.try_alloc_slice_copy(&[0u8; 1000]).is_ok());
}

#[test]
fn the_limit_holds_for_the_whole_frame_across_threads() {
    let limit = 64 * 1024;
    let mut arena = FrameArena::with_config(FrameConfig::default().frame_byte_limit(Some(limit)));
    for _ in 0..scaled(20).min(3) {
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let lane = arena.lane();
                    let mut mine = 0;
                    while lane.try_alloc([0u8; 100]).is_ok() {
                        mine += 100;
                    }
                    total.fetch_add(mine, Ordering::Relaxed);
                });
            }
        });
        let total = total.load(Ordering::Relaxed);
        assert!(total <= limit, "{total} > {limit}");
        // Lanes give up with at most one batch (limit / 16) unused each.
        assert!(
            total + 4 * (limit / 16) >= limit,
            "only {total} of {limit} used"
        );
        assert_eq!(arena.stats().bytes_this_frame, total);
        arena.begin_frame();
    }
}

#[test]
fn odd_sizes_under_a_limit_across_chunk_growth_stay_within_it() {
    // Odd limits and sizes, alignments up to 64 and tiny chunks: blocks are
    // cut from the grant and from new chunks in every combination.
    #[repr(align(64))]
    #[derive(Clone, Copy)]
    struct Wide(#[allow(dead_code, reason = "payload")] [u8; 64]);
    for limit in [1_000usize, 4_099, 70_001] {
        let mut arena = FrameArena::with_config(
            FrameConfig::default()
                .lane_capacity(0)
                .frame_byte_limit(Some(limit)),
        );
        for _ in 0..3 {
            let mut asked = 0;
            let mut i = 0usize;
            loop {
                let ok = match i % 4 {
                    0 => arena
                        .try_alloc_slice_copy(&[7u8; 13])
                        .map(|s| assert_eq!(s[12], 7))
                        .is_ok(),
                    1 => arena
                        .try_alloc(i as u64)
                        .map(|x| assert_eq!(*x, i as u64))
                        .is_ok(),
                    2 => arena
                        .try_alloc(Wide([3; 64]))
                        .map(|w| assert_eq!(std::ptr::from_mut(w).addr() % 64, 0))
                        .is_ok(),
                    _ => arena.try_alloc_str("abc").is_ok(),
                };
                if !ok {
                    break;
                }
                asked += [13, 8, 64, 3][i % 4];
                i += 1;
            }
            let used = arena.stats().bytes_this_frame;
            assert!(
                asked <= used && used <= limit,
                "asked {asked}, used {used}, limit {limit}"
            );
            // Little of the limit is lost: less than one request's worth
            // (at most 120 bytes for `Wide`, with its alignment) at each
            // chunk change and at the end.
            let chunks = arena.stats().chunks;
            assert!(
                used + 120 * (chunks + 2) >= limit,
                "used only {used} of {limit} with {chunks} chunks"
            );
            arena.begin_frame();
        }
    }
}

#[test]
#[should_panic(
    expected = "frame byte limit exceeded in frame 0: asked for 16 bytes, 8 of the 24-byte limit left"
)]
fn alloc_over_the_limit_panics_with_the_numbers() {
    let arena = FrameArena::with_config(FrameConfig::default().frame_byte_limit(Some(24)));
    arena.alloc(1u64);
    arena.alloc(2u64);
    arena.alloc([3u64; 2]);
}

#[test]
#[should_panic(expected = "frame byte limit exceeded in frame 0: asked for 64 bytes")]
fn frame_vec_growth_over_the_limit_panics_with_the_numbers() {
    let arena = FrameArena::with_config(FrameConfig::default().frame_byte_limit(Some(40)));
    let mut v = arena.vec::<u64>();
    for i in 0..100 {
        v.push(i);
    }
}

#[test]
#[should_panic(expected = "allocation size overflow: 18446744073709551615 elements of 8 bytes")]
fn oversized_slice_panics_with_a_clear_message() {
    let arena = FrameArena::new();
    arena.alloc_slice_fill_with(usize::MAX, |i| i as u64);
}

#[test]
fn frame_vec_behaves_like_a_vec() {
    let arena = FrameArena::with_config(FrameConfig::default().lane_capacity(64));
    let mut v: FrameVec<'_, u32> = arena.vec();
    let mut model = Vec::new();
    for i in 0..scaled(1000) as u32 {
        v.push(i);
        model.push(i);
    }
    v.extend([1, 2, 3]);
    model.extend([1, 2, 3]);
    v.extend(&[4, 5]);
    model.extend([4, 5]);
    v.retain(|x| x % 3 != 0);
    model.retain(|x| x % 3 != 0);
    v.insert(0, 77);
    model.insert(0, 77);
    assert_eq!(v.remove(1), model.remove(1));
    assert_eq!(v.swap_remove(2), model.swap_remove(2));
    assert_eq!(v.pop(), model.pop());
    v.truncate(500);
    model.truncate(500);
    assert_eq!(v.as_slice(), model.as_slice());
    assert_eq!(v, model.as_slice());
    assert_eq!(v.iter().sum::<u32>(), model.iter().sum::<u32>());
    for x in &mut v {
        *x += 1;
    }
    assert_eq!((&v).into_iter().count(), model.len());
    let w = arena.vec_with_capacity::<u32>(10);
    assert!(w.capacity() >= 10);
    let collected: Vec<u32> = v.into_iter().collect();
    assert_eq!(collected.len(), model.len());
    // From a lane, too.
    let mut lv = arena.lane().vec();
    lv.push("x");
    assert_eq!(format!("{lv:?}"), r#"["x"]"#);
    lv.clear();
    assert!(lv.is_empty());
}

#[test]
fn frame_vec_moves_between_threads() {
    let arena = FrameArena::new();
    let mut v = arena.vec();
    v.extend(0..100u64);
    let v = std::thread::scope(|s| {
        s.spawn(move || {
            let mut v = v;
            v.extend(100..scaled(5000) as u64); // grows on the other thread's lane
            v
        })
        .join()
        .unwrap()
    });
    assert!(v.iter().copied().eq(0..scaled(5000) as u64));
}

#[test]
fn allocator_api2_vec_and_hashbrown_live_in_a_frame() {
    let arena = FrameArena::with_config(FrameConfig::default().lane_capacity(0));
    // Through `arena.allocator()`.
    let mut v: AVec<u64, FrameAlloc<'_>> = AVec::new_in(arena.allocator());
    for i in 0..scaled(1000) as u64 {
        v.push(i);
    }
    v.shrink_to_fit();
    assert!(v.iter().copied().eq(0..scaled(1000) as u64));
    let mut map = hashbrown::HashMap::new_in(arena.allocator());
    for i in 0..scaled(500) as u64 {
        map.insert(i, i * 2);
    }
    assert!((0..scaled(500) as u64).all(|i| map[&i] == i * 2));
    // Through a lane, by value and by reference.
    let lane: Lane<'_> = arena.lane();
    let mut lv = AVec::new_in(lane);
    lv.extend(0..100u32);
    let mut rv = AVec::new_in(&lane);
    rv.extend_from_slice(&lv);
    let mut lmap = hashbrown::HashMap::new_in(lane);
    for (i, x) in rv.iter().enumerate() {
        lmap.insert(*x, i);
    }
    assert_eq!(lmap.len(), 100);
    assert!(arena.stats().bytes_this_frame > 0);
    assert_eq!(
        arena.stats().global_alloc_calls,
        arena.stats().chunks as u64
    );
}

#[test]
fn freeing_the_last_block_gives_its_bytes_back() {
    let arena = FrameArena::new();
    let lane = arena.lane();
    let before = arena.stats().bytes_this_frame;
    for _ in 0..scaled(1000) {
        // A temporary collection that is created and dropped each time.
        let mut v = AVec::with_capacity_in(64, lane);
        v.extend_from_slice(&[1u64; 64]);
        drop(v);
    }
    assert_eq!(arena.stats().bytes_this_frame, before);
}

#[test]
fn many_threads_allocate_at_once() {
    let mut arena = FrameArena::with_config(FrameConfig::default().lane_capacity(1024));
    let threads = 4;
    let per_thread = scaled(5000);
    for frame in 0..3u64 {
        std::thread::scope(|s| {
            for t in 0..threads as u64 {
                let arena = &arena;
                s.spawn(move || {
                    let mut mine: Vec<&mut [u64; 8]> = Vec::with_capacity(per_thread);
                    for i in 0..per_thread as u64 {
                        let r = if i % 2 == 0 {
                            arena.alloc([t * 1_000_000 + i + frame; 8])
                        } else {
                            arena.lane().alloc([t * 1_000_000 + i + frame; 8])
                        };
                        mine.push(r);
                    }
                    for (i, r) in mine.iter().enumerate() {
                        assert_eq!(**r, [t * 1_000_000 + i as u64 + frame; 8]);
                    }
                });
            }
        });
        let stats = arena.stats();
        assert_eq!(stats.bytes_this_frame, threads * per_thread * 64);
        assert!(stats.lanes <= threads + 1);
        arena.begin_frame();
        assert_eq!(arena.stats().bytes_last_frame, threads * per_thread * 64);
    }
}

#[test]
fn stats_follow_the_frames() {
    let mut arena = FrameArena::with_config(FrameConfig::default().lane_capacity(1024));
    assert_eq!(arena.stats(), FrameStats::default());
    arena.alloc_slice_copy(&[0u32; 100]);
    let s = arena.stats();
    assert_eq!(
        (
            s.epoch,
            s.bytes_this_frame,
            s.bytes_last_frame,
            s.high_water_bytes,
            s.lanes
        ),
        (0, 400, 0, 400, 1)
    );
    assert_eq!(s.chunks, 2); // one per frame half
    assert!(s.bytes_reserved >= 2 * 1024);
    assert_eq!(s.global_alloc_calls, 2);
    arena.begin_frame();
    arena.alloc_slice_copy(&[0u8; 100]);
    let s = arena.stats();
    assert_eq!(
        (
            s.epoch,
            s.bytes_this_frame,
            s.bytes_last_frame,
            s.high_water_bytes
        ),
        (1, 100, 400, 400)
    );
    arena.begin_frame();
    let s = arena.stats();
    assert_eq!((s.bytes_this_frame, s.bytes_last_frame), (0, 100));
    assert!(
        s.to_string()
            .starts_with("frame 2: 0 bytes in use, 0 bumped, peak 0 (last frame 100 bumped, peak 100; high water 400)"),
        "{s}"
    );
}

#[test]
fn alloc_copy_accepts_borrowed_data() {
    let owned = [String::from("a"), String::from("b")];
    let arena = FrameArena::new();
    let refs: Vec<&mut &str> = owned.iter().map(|s| arena.alloc_copy(s.as_str())).collect();
    assert_eq!(*refs[1], "b");
    let slice = arena.alloc_slice_copy(&[owned[0].as_str(), owned[1].as_str()]);
    assert_eq!(slice, &["a", "b"]);
}

/// Issue 15, item 4: a refusal's message explains itself when the size alone
/// does not (block rounding, alignment padding, a fragmented remainder).
#[test]
fn limit_messages_say_what_the_request_really_needed() {
    #[repr(align(1048576))]
    #[derive(Debug)]
    struct Huge;
    let arena = FrameArena::with_config(FrameConfig::default().frame_byte_limit(Some(1000)));
    let err = arena.try_alloc(Huge).unwrap_err();
    assert_eq!(
        err.to_string(),
        "frame byte limit exceeded in frame 0: asked for 0 bytes aligned to 1048576, \
         1000 of the 1000-byte limit left, but the request takes up to 1048568 bytes of the \
         limit in one block (blocks are whole multiples of 8 bytes, with room to align the \
         request to 1048576)"
    );
    assert!(matches!(
        err,
        FrameAllocError::LimitExceeded {
            requested: 0,
            align: 1048576,
            needed: 1048568,
            ..
        }
    ));

    let arena = FrameArena::with_config(FrameConfig::default().frame_byte_limit(Some(7)));
    assert_eq!(
        arena.try_alloc(1u8).unwrap_err().to_string(),
        "frame byte limit exceeded in frame 0: asked for 1 bytes, 7 of the 7-byte limit left, \
         but the request takes up to 8 bytes of the limit in one block \
         (blocks are whole multiples of 8 bytes)"
    );

    // Enough left in total, but part of it is the end of the lane's block:
    // the lane takes a 256-byte batch (8 left in the pool) as one block,
    // uses 248 bytes of it, and asks for 16.
    let arena = FrameArena::with_config(
        FrameConfig::default()
            .lane_capacity(4096)
            .frame_byte_limit(Some(264)),
    );
    arena.alloc_slice_copy(&[0u8; 248]);
    let err = arena.try_alloc([0u64; 2]).unwrap_err();
    let FrameAllocError::LimitExceeded {
        requested,
        needed,
        remaining,
        ..
    } = err
    else {
        panic!("{err:?}");
    };
    assert_eq!((requested, needed, remaining), (16, 16, 16), "{err}");
    assert!(
        err.to_string().ends_with(
            "but not in one piece: part of it is the end of this thread's current block, \
             too short for the request"
        ),
        "{err}"
    );
}

/// Issue 15, item 3: an absurd lane capacity is refused with a clear
/// message when the arena is made, and a `try_*` method never panics on a
/// refused allocation.
#[test]
fn absurd_lane_capacities_are_refused_up_front() {
    for capacity in [1usize << 40, usize::MAX] {
        let config = FrameConfig::default().lane_capacity(capacity);
        let err = FrameArena::try_with_config(config.clone()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "FrameConfig::lane_capacity of {capacity} bytes is over the maximum of \
                 4294967296 bytes reserved up front per lane and frame half \
                 (lanes grow past their capacity on demand)"
            )
        );
        let panic = std::panic::catch_unwind(|| FrameArena::with_config(config)).unwrap_err();
        assert_eq!(panic.downcast_ref::<String>(), Some(&err.to_string()));
    }
    assert!(
        FrameArena::try_with_config(
            FrameConfig::default().lane_capacity(tickmem_frame::MAX_LANE_CAPACITY)
        )
        .is_ok()
    );
}

#[test]
#[cfg_attr(
    miri,
    ignore = "Miri stops at an allocation larger than the machine instead of returning null"
)]
fn try_methods_return_errors_for_impossible_sizes() {
    let arena = FrameArena::with_config(FrameConfig::default().lane_capacity(0));
    let too_big = isize::MAX as usize / 2;
    assert!(matches!(
        arena.try_alloc_slice_fill_with(too_big, |_| 0u8),
        Err(FrameAllocError::OutOfMemory { .. })
    ));
    assert!(matches!(
        arena.try_alloc_slice_fill_with(usize::MAX / 2, |_| 0u64),
        Err(FrameAllocError::SizeOverflow { .. })
    ));
    let mut v = arena.vec::<u64>();
    assert!(v.try_reserve(usize::MAX / 16).is_err());
    assert!(v.try_reserve(too_big / 8).is_err());
    // Still usable.
    v.push(1);
    assert_eq!(*arena.alloc(5u32), 5);
}
