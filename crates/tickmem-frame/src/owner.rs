//! [`OwnerOnly`]: state that only the thread holding a lane's claim may touch.

/// A value that only the thread holding its lane's claim touches, while
/// `&OwnerOnly<T>` itself may be shared with other threads.
///
/// A lane ([`LaneState`](crate::lane::LaneState)) must be `Sync` so that
/// [`FrameArena::stats`](crate::FrameArena::stats) can walk every lane's
/// atomic counters from any thread, and threads looking for a lane can try
/// to claim it. The lane's bumps, destructor lists and grants are not
/// thread-safe, so they sit in an `OwnerOnly`: other threads can hold a
/// reference to the wrapper, but can only reach the value through the
/// `unsafe` [`get`](Self::get), whose contract confines it to the thread
/// that holds the lane's claim for the current period (at most one thread:
/// claims are taken with a compare-exchange and released only under
/// `&mut FrameArena`), or through [`get_mut`](Self::get_mut), which needs
/// exclusive access.
pub(crate) struct OwnerOnly<T>(T);

// SAFETY: sharing `&OwnerOnly<T>` between threads gives no access to `T`
// except through `get`, whose caller guarantees it runs on the thread holding
// the lane's claim for the current period (one thread at most, never
// reused: claims hold never-reused thread tokens, not thread ids), and keeps
// the reference on that thread; so `T` is never touched by two threads at
// once within a period. Periods are separated by `&mut FrameArena`, which
// orders the previous holder's accesses before the next holder's. `get_mut`
// needs `&mut`, i.e. no other reference exists. `T: Send` because `get_mut`
// (begin_frame, drop) and the next period's holder may run on other threads.
unsafe impl<T: Send> Sync for OwnerOnly<T> {}

impl<T> OwnerOnly<T> {
    pub(crate) const fn new(value: T) -> Self {
        OwnerOnly(value)
    }

    /// Shared access for the thread holding the lane's claim.
    ///
    /// # Safety
    ///
    /// The caller runs on the thread that holds the claim of the lane holding
    /// this value for the arena's current period, and the returned reference
    /// neither leaves that thread nor outlives the period (the borrow of the
    /// arena it came from).
    #[inline(always)]
    pub(crate) unsafe fn get(&self) -> &T {
        &self.0
    }

    /// Exclusive access (begin_frame, drop): no other reference exists.
    #[inline(always)]
    pub(crate) fn get_mut(&mut self) -> &mut T {
        &mut self.0
    }
}
