//! [`FrameVec`]: a growable vector in a frame, and what the frame arena's
//! allocator handle tells the one arena vector (`tickmem_vec::ArenaVec`).

use std::alloc::Layout;
use std::ptr::NonNull;

use tickmem_vec::{ArenaAlloc, ArenaVec, KeepInArena};

use crate::alloc_api::FrameAlloc;
use crate::error::{FrameAllocError, alloc_failed};

/// A growable vector whose buffer lives in the current frame of a
/// [`FrameArena`](crate::FrameArena), from [`FrameArena::vec`](crate::FrameArena::vec)
/// or [`Lane::vec`](crate::Lane::vec).
///
/// It derefs to a slice (`len`, `iter`, sorting, indexing, ...). Dropping it
/// drops its elements (the buffer is reclaimed with the frame);
/// [`into_slice`](ArenaVec::into_slice) leaves them in the frame instead, to be
/// dropped when the frame is reclaimed (for `T: Send + 'static`). Growing
/// over the frame's byte limit panics with the [`FrameAllocError`] message;
/// [`try_reserve`](ArenaVec::try_reserve) reports it instead.
///
/// It is `Send` when `T` is: moved to another thread, it grows in that
/// thread's lane (its elements, wherever they are, stay valid until the
/// frame is reclaimed).
///
/// It is the one arena vector of tickmem, [`tickmem_vec::ArenaVec`], over
/// [`FrameAlloc`] (`tickmem_scratch::ScratchVec` is the same type over a
/// scratch scope): its methods are documented there. It does not lead back
/// to its arena (no `arena()`): it can be built from a bare `FrameAlloc`
/// (`FrameVec::new_in`), which must not be a way to reach the arena.
///
/// # Examples
///
/// ```
/// use tickmem_frame::FrameArena;
///
/// let arena = FrameArena::new();
/// let mut visible = arena.vec();
/// for id in 0..100u32 {
///     if id % 3 == 0 {
///         visible.push(id);
///     }
/// }
/// assert_eq!(visible.len(), 34);
/// assert_eq!(visible.iter().copied().max(), Some(99));
/// let visible: &mut [u32] = visible.into_slice(); // keep it for the frame
/// assert_eq!(visible[1], 3);
/// ```
///
/// A value that is not `Send` cannot be left in the frame (its destructor
/// may run on the thread that reclaims the frame):
///
/// ```compile_fail,E0277
/// let arena = tickmem_frame::FrameArena::new();
/// let mut v = arena.vec();
/// v.push(std::rc::Rc::new(1));
/// let _ = v.into_slice();
/// ```
pub type FrameVec<'a, T> = ArenaVec<'a, T, FrameAlloc<'a>>;

/// The owning iterator of a [`FrameVec`] (`vec.into_iter()`):
/// [`tickmem_vec::IntoIter`]. It holds the elements, not the arena, so it
/// is `Send` when `T` is; the buffer stays in the frame.
///
/// ```
/// let arena = tickmem_frame::FrameArena::new();
/// let mut v = arena.vec();
/// v.extend([1u32, 2, 3]);
/// let it: tickmem_frame::FrameVecIntoIter<'_, u32> = v.into_iter();
/// assert_eq!(it.rev().collect::<Vec<_>>(), [3, 2, 1]);
/// ```
pub type FrameVecIntoIter<'a, T> = tickmem_vec::IntoIter<'a, T>;

// SAFETY: blocks stay valid until the frame they were allocated in is
// reclaimed, which needs `&mut FrameArena`, so not while the `&'a
// FrameArena` that the handle holds is alive (see `FrameAlloc`'s
// `Allocator` SAFETY note); a block not deallocated is never handed out
// again in that time. `FrameAlloc` is `Copy`: dropping it does nothing.
unsafe impl<'a> ArenaAlloc<'a> for FrameAlloc<'a> {
    type Error = FrameAllocError;

    #[inline]
    fn clear_error(&self) {
        self.arena().lane().take_error();
    }

    #[inline]
    fn take_error(&self) -> Option<FrameAllocError> {
        // The failed call went to this thread's lane (`FrameAlloc` forwards
        // every call to it), which recorded why.
        self.arena().lane().take_error()
    }

    fn capacity_overflow(&self, len: usize, elem: Layout) -> FrameAllocError {
        FrameAllocError::SizeOverflow {
            len,
            elem_size: elem.size(),
        }
    }

    #[track_caller]
    fn grow_failed(err: FrameAllocError) -> ! {
        alloc_failed(err)
    }
}

// SAFETY: `register_slice` records a destructor entry in this thread's lane
// of the current frame; the arena runs it exactly once when the frame is
// reclaimed (`begin_frame` or the arena's drop, both under `&mut`, so after
// `'a`), before any lane's memory is reset — the slice may lie in another
// lane's chunk (a vector moved between threads). `T: Send` because that may
// happen on another thread; `T: 'static` because it happens after `'a`.
unsafe impl<'a, T: Send + 'static> KeepInArena<'a, T> for FrameAlloc<'a> {
    unsafe fn keep(&self, data: NonNull<T>, len: usize) -> Result<(), FrameAllocError> {
        // SAFETY: forwarded: `data` holds `len` initialised `T`s in this
        // arena's current frame, which nothing else drops.
        unsafe { self.arena().lane().register_slice(data, len) }
    }
}
