//! [`FrameAlloc`]: an `allocator_api2` allocator handle for a [`FrameArena`].

use std::alloc::Layout;
use std::fmt;
use std::ptr::NonNull;

use allocator_api2::alloc::{AllocError, Allocator};

use crate::arena::FrameArena;

/// An [`Allocator`] that allocates in the current frame of a [`FrameArena`],
/// from [`FrameArena::allocator`].
///
/// It is `Copy + Send + Sync`: every call allocates from the calling
/// thread's lane, so a collection using it can be built in one system and
/// filled in parallel jobs, or moved to another thread. (A [`Lane`](crate::Lane)
/// is also an allocator, slightly faster but bound to its thread.)
///
/// Memory is reclaimed with the frame; `deallocate` only gives space back
/// when the block is the lane's most recent allocation. **Pre-size
/// collections** (`Vec::with_capacity_in`, `HashMap::with_capacity_and_hasher_in`):
/// memory is not reused within a frame, so a vector that doubles five times
/// leaves its four smaller buffers behind until the frame is reclaimed
/// (unless each was the lane's last allocation). Collections from
/// `allocator_api2` and hashbrown abort the process (with std's "memory
/// allocation failed" message) when an allocation fails, e.g. over the
/// frame's byte limit; [`FrameVec`](crate::FrameVec) panics with the
/// [`FrameAllocError`](crate::FrameAllocError) message instead.
///
/// # Examples
///
/// Give hashbrown maps their hasher explicitly: `HashMap::new_in` compiles
/// too, but silently uses hashbrown's default hasher (foldhash), not std's
/// SipHash; a timing comparison against a std `HashMap` then compares
/// hashers as well.
///
/// ```
/// use allocator_api2::vec::Vec;
/// use hashbrown::{DefaultHashBuilder, HashMap};
///
/// let arena = tickmem_frame::FrameArena::new();
/// let mut counts =
///     HashMap::with_capacity_and_hasher_in(8, DefaultHashBuilder::default(), arena.allocator());
/// for word in ["orc", "elf", "orc"] {
///     *counts.entry(word).or_insert(0) += 1;
/// }
/// assert_eq!(counts["orc"], 2);
///
/// let mut ids: Vec<u32, _> = Vec::with_capacity_in(4, arena.allocator());
/// ids.extend([3, 1, 2]);
/// ids.sort_unstable();
/// assert_eq!(ids, [1, 2, 3]);
/// ```
#[derive(Clone, Copy)]
pub struct FrameAlloc<'a> {
    arena: &'a FrameArena,
}

impl fmt::Debug for FrameAlloc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameAlloc")
            .field("arena", &self.arena.id())
            .field("epoch", &self.arena.epoch())
            .finish()
    }
}

impl<'a> FrameAlloc<'a> {
    pub(crate) fn new(arena: &'a FrameArena) -> Self {
        FrameAlloc { arena }
    }

    /// The arena this allocator allocates in.
    ///
    /// Crate-private on purpose: a `FrameAlloc<'f>` may be part of a
    /// value published into a [`FrameHost`](crate::FrameHost), built by a
    /// closure that must not reach [`FrameArena::get`] for `'f` (data of the
    /// previous frame, reclaimed while the value is still read). See
    /// [`FrameBuilder`](crate::FrameBuilder).
    pub(crate) fn arena(&self) -> &'a FrameArena {
        self.arena
    }
}

// SAFETY: every call is forwarded to the calling thread's `Lane` of the same
// arena, whose `Allocator` implementation accepts blocks from any lane of the
// arena (see its SAFETY note). Blocks stay valid until the frame is
// reclaimed, which needs `&mut FrameArena` and so cannot happen while this
// handle (which borrows the arena) or any copy of it is alive; copies are
// the same allocator.
unsafe impl Allocator for FrameAlloc<'_> {
    // Each call is this thread's `Lane`'s `Allocator` implementation (which
    // records the error for `last_error` before mapping it to `AllocError`).

    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.arena.lane().allocate(layout)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller; the block is of this arena.
        unsafe { self.arena.lane().deallocate(ptr, layout) }
    }

    #[inline]
    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: forwarded from the caller; the block is of this arena.
        unsafe { self.arena.lane().grow(ptr, old_layout, new_layout) }
    }

    #[inline]
    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: forwarded from the caller; the block is of this arena.
        unsafe { self.arena.lane().shrink(ptr, old_layout, new_layout) }
    }
}
