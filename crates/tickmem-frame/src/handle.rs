//! [`FrameHandle`]: a `'static`, frame-checked reference to a persisted value.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// A handle to a value [`persist`](crate::FrameArena::persist)ed in a
/// [`FrameArena`](crate::FrameArena): `Copy + Send + Sync + 'static`
/// whatever `T` is, so it can be stored in components, events and queues
/// that outlive a borrow of the arena.
///
/// [`FrameArena::get`](crate::FrameArena::get) resolves it: `Some(&T)` in
/// the frame the value was persisted in and the next one, `None` from then
/// on, and `None` for a handle of another arena. A stale handle never reads
/// memory: the arena and epoch are checked first.
///
/// # Examples
///
/// ```
/// use tickmem_frame::{FrameArena, FrameHandle};
///
/// #[derive(Debug, PartialEq)]
/// struct Hit { damage: u32 }
///
/// let mut arena = FrameArena::new();
/// let hit: FrameHandle<Hit> = arena.persist(Hit { damage: 7 });
/// assert_eq!(arena.get(hit), Some(&Hit { damage: 7 }));   // this frame
/// arena.begin_frame();
/// assert_eq!(arena.get(hit).map(|h| h.damage), Some(7));  // the next frame
/// arena.begin_frame();
/// assert_eq!(arena.get(hit), None);                       // reclaimed
/// assert_eq!(hit.epoch(), 0);
/// ```
pub struct FrameHandle<T> {
    pub(crate) arena: u64,
    pub(crate) epoch: u64,
    pub(crate) ptr: NonNull<()>,
    _type: PhantomData<fn() -> T>,
}

// SAFETY: the handle is plain data (two numbers and an address). The pointer
// is only dereferenced by `FrameArena::get` after checking that the arena and
// epoch match, i.e. that the value is still alive in that arena; and
// `persist` only accepts `T: Send + Sync`, so reading it from the thread that
// holds the handle is sound.
unsafe impl<T> Send for FrameHandle<T> {}
// SAFETY: as for `Send`: sharing the handle shares no access to `T`.
unsafe impl<T> Sync for FrameHandle<T> {}

impl<T> FrameHandle<T> {
    pub(crate) fn new(arena: u64, epoch: u64, ptr: NonNull<T>) -> Self {
        FrameHandle {
            arena,
            epoch,
            ptr: ptr.cast(),
            _type: PhantomData,
        }
    }

    /// The frame (epoch) the value was persisted in.
    ///
    /// ```
    /// let mut arena = tickmem_frame::FrameArena::new();
    /// arena.begin_frame();
    /// assert_eq!(arena.persist(1u8).epoch(), 1);
    /// ```
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The [`id`](crate::FrameArena::id) of the arena the value lives in.
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// assert_eq!(arena.persist(1u8).arena_id(), arena.id());
    /// ```
    pub fn arena_id(&self) -> u64 {
        self.arena
    }
}

impl<T> Clone for FrameHandle<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for FrameHandle<T> {}

impl<T> PartialEq for FrameHandle<T> {
    fn eq(&self, other: &Self) -> bool {
        self.arena == other.arena && self.epoch == other.epoch && self.ptr == other.ptr
    }
}

impl<T> Eq for FrameHandle<T> {}

impl<T> Hash for FrameHandle<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.arena.hash(state);
        self.epoch.hash(state);
        self.ptr.hash(state);
    }
}

impl<T> fmt::Debug for FrameHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameHandle")
            .field("type", &std::any::type_name::<T>())
            .field("arena", &self.arena)
            .field("epoch", &self.epoch)
            .field("addr", &self.ptr)
            .finish()
    }
}
