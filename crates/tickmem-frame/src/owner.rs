//! [`OwnerOnly`]: state that only a lane's owner thread may touch.

/// A value that only the thread owning its lane touches, while `&OwnerOnly<T>`
/// itself may be shared with other threads.
///
/// A lane ([`LaneState`](crate::lane::LaneState)) must be `Sync` so that
/// [`FrameArena::stats`](crate::FrameArena::stats) can walk every lane's
/// atomic counters through `ThreadLocal::iter` from any thread. The lane's
/// bumps, destructor lists and grants are not thread-safe, so they sit in an
/// `OwnerOnly`: other threads can hold a reference to the wrapper, but can
/// only reach the value through the `unsafe` [`get`](Self::get), whose
/// contract confines it to the owner thread, or through [`get_mut`](Self::get_mut),
/// which needs exclusive access.
pub(crate) struct OwnerOnly<T>(T);

// SAFETY: sharing `&OwnerOnly<T>` between threads gives no access to `T`
// except through `get`, whose caller guarantees it runs on the lane's owner
// thread (the single thread whose `ThreadLocal` entry holds the lane), so `T`
// is never touched by two threads at once. `get_mut` needs `&mut`, i.e. no
// other reference exists. `T: Send` because `get_mut` (begin_frame, drop)
// may run on another thread than the owner.
unsafe impl<T: Send> Sync for OwnerOnly<T> {}

impl<T> OwnerOnly<T> {
    pub(crate) const fn new(value: T) -> Self {
        OwnerOnly(value)
    }

    /// Shared access for the owner thread.
    ///
    /// # Safety
    ///
    /// The caller runs on the thread that owns the lane holding this value
    /// (the thread for which `ThreadLocal::get_or` returned the lane), and the
    /// returned reference does not leave that thread.
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
