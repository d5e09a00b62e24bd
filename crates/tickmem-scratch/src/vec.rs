//! [`ScratchVec`]: a growable vector in a scratch scope, and its allocator
//! handle [`ScratchAlloc`] (what the one arena vector, `tickmem_vec::ArenaVec`,
//! grows with).

use std::alloc::Layout;
use std::fmt;
use std::ptr::NonNull;

use allocator_api2::alloc::{AllocError, Allocator};
use bumpalo::Bump;
use tickmem_vec::{ArenaAlloc, ArenaVec, KeepInArena};

use crate::scratch::{ScratchAllocError, alloc_failed};
use crate::state::Level;

/// A growable vector whose buffer lives in a scratch scope
/// ([`Scratch::vec`](crate::Scratch::vec)). Growing never calls the global
/// allocator once the thread's arena is warm; the buffer is reclaimed with
/// the scope.
///
/// It owns its elements like a `Vec`: they are dropped when the `ScratchVec`
/// is (the borrow checker orders that as for any local), so elements may
/// borrow other scratch allocations. It cannot outlive its scope:
///
/// ```compile_fail
/// let v = tickmem_scratch::with(|s| s.vec::<u32>());
/// ```
///
/// It is the one arena vector of tickmem, [`tickmem_vec::ArenaVec`], over
/// [`ScratchAlloc`] (`tickmem_frame::FrameVec` is the same type over the
/// frame arena): its methods are documented there. Growth that the global
/// allocator refuses panics with the [`ScratchAllocError`] message;
/// [`try_reserve`](ArenaVec::try_reserve) returns it instead.
///
/// # Threads
///
/// A `ScratchVec` grows by bumping its thread's arena, so it is neither
/// `Send` nor `Sync`: it cannot be moved or lent to another thread, not even
/// a scoped one. Its elements can be handed over through
/// [`into_iter`](IntoIterator::into_iter) ([`ScratchVecIntoIter`] is `Send`
/// when `T` is), or lent as a slice (`&mut [T]` is `Send` when `T` is).
///
/// ```compile_fail,E0277
/// fn assert_send<T: Send>() {}
/// assert_send::<tickmem_scratch::ScratchVec<'static, u32>>();
/// ```
///
/// ```compile_fail,E0277
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<tickmem_scratch::ScratchVec<'static, u32>>();
/// ```
///
/// ```compile_fail,E0277
/// tickmem_scratch::with(|s| {
///     let mut v = s.vec::<u32>();
///     std::thread::scope(|t| {
///         t.spawn(move || v.push(1)); // would bump this thread's arena
///     });
/// });
/// ```
///
/// ```compile_fail,E0277
/// tickmem_scratch::with(|s| {
///     let mut v = s.vec::<u32>();
///     std::thread::scope(|t| {
///         t.spawn(|| v.len()); // not even shared
///     });
/// });
/// ```
///
/// ```
/// tickmem_scratch::with(|s| {
///     let mut v = s.vec();
///     v.extend(0..1000u32);
///     // The elements, not the vector, go to the workers.
///     let (a, b) = v.split_at_mut(500);
///     std::thread::scope(|t| {
///         t.spawn(|| a.iter_mut().for_each(|x| *x *= 2));
///         t.spawn(|| b.iter_mut().for_each(|x| *x *= 2));
///     });
///     assert_eq!(v[999], 1998);
/// });
/// ```
///
/// [`into_slice`](ArenaVec::into_slice) keeps only `Copy` elements (a scope
/// runs no destructor for what a vector leaves behind):
///
/// ```compile_fail,E0277
/// tickmem_scratch::with(|s| {
///     let mut v = s.vec();
///     v.push(String::from("would never be dropped"));
///     let _ = v.into_slice();
/// });
/// ```
///
/// # Examples
///
/// ```
/// tickmem_scratch::with(|s| {
///     let mut frontier = s.vec();
///     frontier.push(1u32);
///     frontier.extend_from_slice(&[2, 3]);
///     while let Some(n) = frontier.pop() {
///         if n < 3 {
///             frontier.push(n + 10);
///         }
///     }
///     assert!(frontier.is_empty());
/// });
/// ```
pub type ScratchVec<'s, T> = ArenaVec<'s, T, ScratchAlloc<'s>>;

/// The owning iterator of a [`ScratchVec`] (`vec.into_iter()`):
/// [`tickmem_vec::IntoIter`].
///
/// The elements it has not yielded are dropped with it, each exactly once,
/// also when one of their destructors panics (the others still run, as for
/// a `Vec`'s). It may be sent to another thread when `T: Send` (it only
/// reads the buffer, which stays valid until the scope exits), which the
/// [`ScratchVec`] itself cannot be.
///
/// # Examples
///
/// ```
/// tickmem_scratch::with(|s| {
///     let mut v = s.vec();
///     v.extend(["a".to_string(), "b".to_string(), "c".to_string()]);
///     let mut it = v.into_iter();
///     assert_eq!(it.next().as_deref(), Some("a"));
///     assert_eq!(it.as_slice(), ["b", "c"]);
///     let joined = std::thread::scope(|t| t.spawn(move || it.collect::<String>()).join());
///     assert_eq!(joined.unwrap(), "bc");
/// });
/// ```
pub type ScratchVecIntoIter<'s, T> = tickmem_vec::IntoIter<'s, T>;

/// The allocator handle a [`ScratchVec`] grows with: an [`Allocator`] over
/// one scope's chunks, from [`ScratchVec::allocator`](ArenaVec::allocator).
///
/// Like `&Scratch` (also an `Allocator`), it is `Copy`, neither `Send` nor
/// `Sync`, and cannot outlive its scope; unlike it, it remembers why a call
/// failed, so a `ScratchVec` can report a [`ScratchAllocError`].
///
/// # Examples
///
/// ```
/// use allocator_api2::vec::Vec;
/// tickmem_scratch::with(|s| {
///     let v = s.vec::<u8>();
///     let mut other: Vec<u32, _> = Vec::new_in(*v.allocator());
///     other.push(1);
///     assert_eq!(other, [1]);
/// });
/// ```
#[derive(Clone, Copy)]
pub struct ScratchAlloc<'s> {
    level: &'s Level,
}

impl<'s> ScratchAlloc<'s> {
    pub(crate) fn new(level: &'s Level) -> Self {
        ScratchAlloc { level }
    }

    /// Record a failed request of `layout` (for [`ArenaAlloc::take_error`]).
    fn failed(&self, layout: Layout) -> AllocError {
        self.level.failed.set(Some(layout));
        AllocError
    }
}

impl fmt::Debug for ScratchAlloc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScratchAlloc")
            .field("depth", &self.level.depth)
            .field("bytes_used", &self.level.used())
            .finish()
    }
}

// SAFETY: every method forwards to `&Bump`'s `Allocator` impl for this
// scope's level, unchanged (a failure is only recorded first). Blocks stay
// valid until they are deallocated or the scope exits; the scope cannot exit
// while a `ScratchAlloc<'s>` is alive: `'s` is a borrow of the scope's
// `Scratch`, which is dropped only after the closure has returned.
unsafe impl Allocator for ScratchAlloc<'_> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        <&Bump as Allocator>::allocate(&&self.level.bump, layout).map_err(|_| self.failed(layout))
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's contract (`ptr` allocated by this allocator,
        // that is by this level's `Bump`, with `layout`) is the `Bump`'s.
        unsafe { <&Bump as Allocator>::deallocate(&&self.level.bump, ptr, layout) }
    }

    #[inline]
    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: as for `deallocate`.
        unsafe { <&Bump as Allocator>::grow(&&self.level.bump, ptr, old_layout, new_layout) }
            .map_err(|_| self.failed(new_layout))
    }

    #[inline]
    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: as for `deallocate`.
        unsafe { <&Bump as Allocator>::shrink(&&self.level.bump, ptr, old_layout, new_layout) }
            .map_err(|_| self.failed(new_layout))
    }
}

// SAFETY: blocks stay valid until the scope exits (see the `Allocator`
// SAFETY note), which is after `'s`; a block that is not deallocated is
// never handed out again before that (the scope's chunks are only reset at
// its exit). `ScratchAlloc` is `Copy`: dropping it does nothing.
unsafe impl<'s> ArenaAlloc<'s> for ScratchAlloc<'s> {
    type Error = ScratchAllocError;

    #[inline]
    fn clear_error(&self) {
        self.level.failed.set(None);
    }

    fn take_error(&self) -> Option<ScratchAllocError> {
        let layout = self.level.failed.take()?;
        Some(ScratchAllocError {
            requested: layout.size(),
            align: layout.align(),
            in_use: self.level.used(),
        })
    }

    fn capacity_overflow(&self, len: usize, elem: Layout) -> ScratchAllocError {
        ScratchAllocError {
            requested: len.saturating_mul(elem.size()).max(isize::MAX as usize + 1),
            align: elem.align(),
            in_use: self.level.used(),
        }
    }

    #[track_caller]
    fn grow_failed(err: ScratchAllocError) -> ! {
        alloc_failed(err)
    }
}

// SAFETY: `keep` takes over no destructor: `T: Copy` has none, and
// `ArenaVec` calls `keep` only for types that need `Drop`.
unsafe impl<'s, T: Copy> KeepInArena<'s, T> for ScratchAlloc<'s> {
    unsafe fn keep(&self, _data: NonNull<T>, _len: usize) -> Result<(), ScratchAllocError> {
        Ok(())
    }
}
