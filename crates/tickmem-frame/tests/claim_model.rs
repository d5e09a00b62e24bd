//! A `loom` model of the lane claim protocol (`LaneList::push`,
//! `LaneState::try_claim`, `FrameArena::claim`, release at `begin_frame`),
//! checked over every interleaving of a few threads: within a period a lane
//! is bumped by one thread only (loom reports two threads touching a lane's
//! owner-only cell as a data race), a thread that "exits" and still
//! allocates from a TLS destructor keeps its lane while a new thread starts,
//! and after the release a thread gets its own lane back when it is free
//! (a preference: a new thread may take it first, and loom finds that).
//!
//! The model mirrors the algorithm with loom's atomics (the arena's own code
//! uses std's); it is the algorithm that is checked here, the code is
//! checked by `tests/soundness.rs` under Miri, TSan and ASan.
#![cfg(not(miri))]
#![allow(
    unsafe_code,
    reason = "a model of the lane list, with raw nodes as in `LaneList`"
)]

use std::ptr;

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{
    AtomicPtr, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};

struct Lane {
    index: usize,
    owner: AtomicU64,
    /// Written only under `&mut` (release).
    last_owner: u64,
    /// The owner-only state (bump pointer): a data race if two threads touch it.
    bumped: UnsafeCell<u64>,
    next: *mut Lane,
}

impl Lane {
    fn try_claim(&self, token: u64) -> bool {
        let owner = self.owner.load(Acquire);
        owner == token
            || (owner == 0
                && self
                    .owner
                    .compare_exchange(0, token, Acquire, Relaxed)
                    .is_ok())
    }

    fn bump(&self) {
        self.bumped.with_mut(|b| {
            // SAFETY: the caller holds the claim: no other thread touches
            // the cell this period (what loom checks).
            unsafe { *b += 1 }
        });
    }
}

struct Arena {
    head: AtomicPtr<Lane>,
    next_index: AtomicU64,
}

// SAFETY: as for `LaneList`: nodes are immutable after publication
// except under `&mut`, and owner-only state is guarded by the claim.
unsafe impl Send for Arena {}
// SAFETY: as above.
unsafe impl Sync for Arena {}

impl Arena {
    fn new() -> Self {
        Arena {
            head: AtomicPtr::new(ptr::null_mut()),
            next_index: AtomicU64::new(0),
        }
    }

    fn lanes(&self) -> impl Iterator<Item = &Lane> {
        let mut node = self.head.load(Acquire);
        std::iter::from_fn(move || {
            // SAFETY: published nodes live as long as the arena.
            let lane = unsafe { node.as_ref()? };
            node = lane.next;
            Some(lane)
        })
    }

    /// `FrameArena::claim` without the per-thread cache: a lane this thread
    /// holds or held last period, else a free one, else a new one.
    fn claim(&self, token: u64) -> &Lane {
        if let Some(lane) = self.lanes().find(|l| {
            l.owner.load(Relaxed) == token || (l.last_owner == token && l.try_claim(token))
        }) {
            return lane;
        }
        if let Some(lane) = self.lanes().find(|l| l.try_claim(token)) {
            return lane;
        }
        let node = Box::into_raw(Box::new(Lane {
            index: self.next_index.fetch_add(1, Relaxed) as usize,
            owner: AtomicU64::new(token),
            last_owner: token,
            bumped: UnsafeCell::new(0),
            next: ptr::null_mut(),
        }));
        let mut head = self.head.load(Relaxed);
        loop {
            // SAFETY: not published yet.
            unsafe { (*node).next = head };
            match self.head.compare_exchange(head, node, Release, Relaxed) {
                Ok(_) => break,
                Err(now) => head = now,
            }
        }
        // SAFETY: published, lives as long as the arena.
        unsafe { &*node }
    }

    /// `begin_frame`'s release (`&mut`).
    fn release(&mut self) {
        let mut node = self.head.load(Relaxed);
        // SAFETY: `&mut self`: no other reference to any node.
        while let Some(lane) = unsafe { node.as_mut() } {
            let owner = lane.owner.load(Relaxed);
            if owner != 0 {
                lane.last_owner = owner;
            }
            lane.owner.store(0, Relaxed);
            node = lane.next;
        }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        let mut node = self.head.load(Relaxed);
        while !node.is_null() {
            // SAFETY: made by `Box::into_raw`, freed once.
            let lane = unsafe { Box::from_raw(node) };
            node = lane.next;
        }
    }
}

/// Allocate as the thread with `token`: claim, bump, and claim again (the
/// lane cache's hit) — the same lane.
fn allocate(arena: &Arena, token: u64) -> usize {
    let lane = arena.claim(token);
    lane.bump();
    let again = arena.claim(token);
    assert!(
        ptr::eq(lane, again),
        "a thread keeps its lane for the period"
    );
    again.bump();
    lane.index
}

#[test]
fn loom_one_thread_per_lane_across_thread_exit_and_release() {
    let mut builder = loom::model::Builder::new();
    // Two preemptions already find the interleavings above; three in release builds.
    builder.preemption_bound = Some(if cfg!(debug_assertions) { 2 } else { 3 });
    builder.check(|| {
        let mut arena = Arena::new();
        // Period 1: two threads; thread 1 "exits" and allocates again from a
        // TLS destructor (same token: tokens are never reused) while a third
        // thread starts.
        let shared = Arc::new(arena);
        let a = {
            let arena = shared.clone();
            loom::thread::spawn(move || {
                let lane = allocate(&arena, 1);
                // The TLS destructor: the cached lane, still claimed.
                arena.claim(1).bump();
                lane
            })
        };
        let b = {
            let arena = shared.clone();
            loom::thread::spawn(move || allocate(&arena, 2))
        };
        let newcomer = allocate(&shared, 3);
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert!(a != b && b != newcomer && a != newcomer);
        arena = Arc::try_unwrap(shared).ok().expect("threads joined");

        // `begin_frame`: every claim released. A thread that comes back
        // alone gets its own lane (its chunks fit its work) ...
        arena.release();
        assert_eq!(allocate(&arena, 2), b, "a thread gets its own lane back");
        // ... but that is a preference, not a promise: a new thread may take
        // a free lane first (loom finds that interleaving), and then the
        // returning thread takes another one. Never the same one.
        arena.release();
        let shared = Arc::new(arena);
        let b2 = {
            let arena = shared.clone();
            loom::thread::spawn(move || allocate(&arena, 2))
        };
        let fresh = allocate(&shared, 4);
        let b2 = b2.join().unwrap();
        assert_ne!(fresh, b2);
        // No lane is made while a free one exists: three lanes serve it all.
        assert_eq!(shared.lanes().count(), 3);
    });
}
