//! What an arena's allocator handle tells [`ArenaVec`](crate::ArenaVec).

use std::alloc::Layout;
use std::fmt;
use std::ptr::NonNull;

use allocator_api2::alloc::Allocator;

/// An arena's allocator handle that an [`ArenaVec`](crate::ArenaVec) can
/// grow in: an `allocator_api2` [`Allocator`] whose blocks live until the
/// arena is reset, plus the arena's own error type, so that a failed growth
/// says why (over the frame limit, out of memory) instead of a bare
/// `AllocError`.
///
/// Implemented by `tickmem_frame::FrameAlloc` and
/// `tickmem_scratch::ScratchAlloc`; users of the two vectors never name it.
///
/// # Safety
///
/// * Every block the [`Allocator`] methods hand out stays allocated, readable
///   and writable, and is never handed out again, for all of `'a`, unless it
///   is given back through [`Allocator::deallocate`] (or moved by
///   `grow`/`shrink`). An `ArenaVec` relies on this when it leaves its
///   buffer behind without deallocating it
///   ([`into_slice`](crate::ArenaVec::into_slice),
///   [`into_iter`](IntoIterator::into_iter)): the elements stay valid for
///   `'a`, on any thread.
/// * Dropping the handle does nothing that those blocks depend on (a vector
///   that leaves its buffer behind forgets its allocator handle), and a
///   clone is the same allocator (blocks of one may be given to the other).
///   Handles are meant to be `Copy`.
pub unsafe trait ArenaAlloc<'a>: Allocator + Clone + 'a {
    /// Why a growing call failed.
    type Error: fmt::Debug + fmt::Display;

    /// Forget the failure recorded by an earlier call, before a growing call
    /// whose failure [`take_error`](Self::take_error) then reports.
    fn clear_error(&self);

    /// Why the last [`Allocator`] call of this thread on this arena returned
    /// `AllocError`, if it recorded a reason.
    fn take_error(&self) -> Option<Self::Error>;

    /// The error for `len` elements of `elem` whose total size overflows
    /// `isize::MAX` bytes (no allocator call was made).
    fn capacity_overflow(&self, len: usize, elem: Layout) -> Self::Error;

    /// Panic with `err`'s message (a growing call that cannot report an
    /// error: `push`, `reserve`, `extend`, ...).
    #[track_caller]
    fn grow_failed(err: Self::Error) -> !;
}

/// An [`ArenaAlloc`] whose arena can keep a vector's elements after the
/// vector is gone ([`ArenaVec::into_slice`](crate::ArenaVec::into_slice)).
///
/// The frame arena keeps any `T: Send + 'static` and drops it when the frame
/// is reclaimed; a scratch scope keeps `T: Copy` values (no destructor to
/// lose).
///
/// # Safety
///
/// After [`keep`](Self::keep) returns `Ok`, the arena drops the `len` values
/// at `data` exactly once, and only after `'a` has ended (no reference to
/// them can be alive then). Implementations for types that need no `Drop`
/// may do nothing: `ArenaVec` calls `keep` only when `T` needs `Drop` and the
/// vector is not empty.
#[diagnostic::on_unimplemented(
    message = "this arena cannot keep `{T}` after its vector is gone",
    label = "`into_slice` needs an arena that keeps `{T}`",
    note = "`FrameVec::into_slice` needs `T: Send + 'static` (dropped when the frame is reclaimed); \
            `ScratchVec::into_slice` needs `T: Copy` (a scratch scope runs no destructor for it)"
)]
pub unsafe trait KeepInArena<'a, T>: ArenaAlloc<'a> {
    /// Take over dropping the `len` values at `data`, or say why not (the
    /// bookkeeping needs memory too). On `Err` nothing was taken over.
    ///
    /// # Safety
    ///
    /// `data` holds `len` initialised `T`s in a block of this arena that
    /// nothing else drops, and that is never deallocated.
    unsafe fn keep(&self, data: NonNull<T>, len: usize) -> Result<(), Self::Error>;
}
