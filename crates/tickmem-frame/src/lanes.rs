//! [`LaneList`]: the lanes of an arena, an append-only lock-free list.

use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::atomic::{
    AtomicPtr,
    Ordering::{Acquire, Relaxed, Release},
};

use crate::lane::LaneState;

/// One published lane and the lane published before it, on its own cache
/// lines (128 bytes: the pair of lines x86's spatial prefetcher fetches
/// together, as in `crossbeam_utils::CachePadded`), so that threads bumping
/// neighbouring lanes do not share a line.
#[repr(align(128))]
struct Node {
    lane: LaneState,
    /// Set before the node is published, never changed after.
    next: *const Node,
}

/// The lanes of an arena: pushed (newest first) by any thread holding
/// `&LaneList`, walked by any thread (`iter`) or under `&mut` (`iter_mut`),
/// freed only when the list is dropped. A lane's address never changes, so
/// `&LaneState` handed out from `&self` stays valid for the borrow of the
/// list.
///
/// Pointers to lanes that outlive a borrow (a thread's lane cache) come
/// from `iter`/`push` as raw pointers derived from the node's own raw
/// pointer, never from a reference: an `iter_mut` (which makes `&mut` to
/// every lane) then does not invalidate them in Rust's aliasing model, and
/// they can be turned into `&LaneState` again in a later period.
///
/// No lock: a thread looking for a lane walks the list and claims one with
/// a compare-exchange (see [`LaneState::try_claim`]); a new lane is
/// published with a compare-exchange on `head`.
pub(crate) struct LaneList {
    head: AtomicPtr<Node>,
    /// The list owns its nodes (`Box`es made raw).
    _owns: PhantomData<Box<Node>>,
}

// The list's soundness across threads rests on the lanes': check it.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<LaneState>();
};

// SAFETY: the list owns its nodes, so sending it sends the lanes
// (`LaneState: Send`, checked above); the raw `next` pointers are only ever
// written before a node is published or under `&mut`, and point to nodes the
// list owns.
unsafe impl Send for LaneList {}
// SAFETY: sharing the list shares `&LaneState`s (`LaneState: Sync`, checked
// above) and lets threads publish new nodes through an atomic compare-exchange
// on `head`; published nodes are immutable except under `&mut`.
unsafe impl Sync for LaneList {}

impl LaneList {
    pub(crate) const fn new() -> Self {
        LaneList {
            head: AtomicPtr::new(ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    /// Publish `lane` and return a pointer to it, valid (for shared
    /// access) until the list is dropped.
    pub(crate) fn push(&self, lane: LaneState) -> NonNull<LaneState> {
        let node = Box::into_raw(Box::new(Node {
            lane,
            next: ptr::null(),
        }));
        let mut head = self.head.load(Relaxed);
        loop {
            // SAFETY: `node` is not published yet: this thread has the only
            // pointer to it.
            unsafe { (*node).next = head };
            // Release: a thread that loads this head (Acquire) sees the
            // node, and the nodes before it, fully initialised.
            match self
                .head
                .compare_exchange_weak(head, node, Release, Relaxed)
            {
                Ok(_) => break,
                Err(now) => head = now,
            }
        }
        // SAFETY: `node` is a live allocation (just made, freed only when
        // the list is dropped); no reference is made.
        let lane = unsafe { &raw mut (*node).lane };
        // SAFETY: a field of a non-null allocation is non-null.
        unsafe { NonNull::new_unchecked(lane) }
    }

    /// Every lane, newest first, as pointers valid (for shared access) until
    /// the list is dropped; see the type's docs.
    pub(crate) fn iter_ptrs(&self) -> impl Iterator<Item = NonNull<LaneState>> {
        let mut node: *mut Node = self.head.load(Acquire);
        std::iter::from_fn(move || {
            let current = NonNull::new(node)?;
            // SAFETY: a non-null head or `next` is a published node (seen
            // through the Acquire load of `head`, whose Release publication
            // came after every older node's), alive until the list is
            // dropped, which needs `&mut self`; `next` is never written after
            // publication, except under `&mut`. No reference is made.
            node = unsafe { (*current.as_ptr()).next }.cast_mut();
            // SAFETY: as above; a raw pointer to a field, no reference.
            let lane = unsafe { &raw mut (*current.as_ptr()).lane };
            // SAFETY: a field of a non-null allocation is non-null.
            Some(unsafe { NonNull::new_unchecked(lane) })
        })
    }

    /// Every lane, newest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &LaneState> {
        // SAFETY: the lanes live until the list is dropped (`&mut self`), so
        // for this borrow; they are only mutated under `&mut self`.
        self.iter_ptrs().map(|lane| unsafe { lane.as_ref() })
    }

    /// Every lane, newest first, exclusively.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut LaneState> {
        // SAFETY: `&mut self`: no other reference to the list or its lanes
        // exists while the iterator (which borrows `self`) is alive.
        unsafe { self.iter_exclusive() }
    }

    /// Every lane, newest first, exclusively, through a shared reference to
    /// the list: for [`FrameArena::reclaim`](crate::FrameArena), which must
    /// not create `&mut` to the arena (and so to this list, a field of it).
    /// The `&mut LaneState`s point into the nodes, separate allocations.
    ///
    /// # Safety
    ///
    /// While the iterator or a reference it yielded is alive, no other
    /// reference to a lane is used (no thread holds a `Lane` or allocates),
    /// and no lane is pushed.
    #[allow(clippy::mut_from_ref, reason = "exclusivity is the caller's contract")]
    pub(crate) unsafe fn iter_exclusive(&self) -> impl Iterator<Item = &mut LaneState> {
        let mut node: *mut Node = self.head.load(Acquire);
        std::iter::from_fn(move || {
            if node.is_null() {
                return None;
            }
            // SAFETY: as in `iter_ptrs`, `node` is a published node alive
            // until the list is dropped; the caller guarantees that no other
            // reference to it is used meanwhile; each node is yielded once.
            let current = unsafe { &mut *node };
            node = current.next.cast_mut();
            Some(&mut current.lane)
        })
    }
}

impl Drop for LaneList {
    fn drop(&mut self) {
        let mut node = *self.head.get_mut();
        while !node.is_null() {
            // SAFETY: every node was made by `Box::into_raw` in `push` and is
            // freed once, here (`&mut self`: no reference to it remains).
            let boxed = unsafe { Box::from_raw(node) };
            node = boxed.next.cast_mut();
        }
    }
}
