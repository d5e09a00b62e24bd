//! Frame data: the [`FrameData`] trait and [`frame_data!`](crate::frame_data)
//! macro naming a type of per-frame data, [`FrameBuilder`] (what a publish
//! closure builds with) and [`Published`] (a token for a published value).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::alloc_api::FrameAlloc;
use crate::arena::FrameArena;
use crate::error::FrameAllocError;

/// A kind of frame data: a `'static` marker type naming a type `Of<'f>`
/// that borrows a frame (`'f`) and can be published into a
/// [`FrameHost`](crate::FrameHost), then read by other code — other bevy
/// systems — in the same frame and the next.
///
/// Declare it with the [`frame_data!`](crate::frame_data) macro:
///
/// ```
/// use allocator_api2::vec::Vec;
/// use tickmem_frame::FrameAlloc;
///
/// tickmem_frame::frame_data! {
///     /// Collision pairs found by the broadphase this tick.
///     pub Pairs<'f> = Vec<(u32, u32), FrameAlloc<'f>>;
/// }
/// ```
///
/// which is this implementation, written by hand:
///
/// ```
/// # use allocator_api2::vec::Vec;
/// # use tickmem_frame::FrameAlloc;
/// pub struct Pairs;
///
/// impl tickmem_frame::FrameData for Pairs {
///     type Of<'f> = Vec<(u32, u32), FrameAlloc<'f>>;
///     fn shorten<'s, 'l: 's>(value: &'s Self::Of<'l>) -> &'s Self::Of<'s> {
///         value
///     }
/// }
/// ```
///
/// # Why `shorten`
///
/// A value published in a frame is read by code holding a shorter borrow
/// (a reader system's `'r`), which gets `&'r Of<'r>`. That is only sound if
/// `Of` is *covariant* in `'f`: if a reader could get a `&Mutex<&'r str>`,
/// it could store a reference that dies with its own borrow, and the next
/// reader would read it dangling. `shorten` written as the identity
/// (`{ value }`) compiles exactly when `Of` is covariant, so the compiler
/// checks it; the readers' references are made through it. An `Of` with
/// interior mutability over `'f` (a `Mutex`, `Cell` or `RefCell` of
/// something borrowing the frame) does not compile:
///
/// ```compile_fail
/// use std::sync::Mutex;
///
/// struct Names;
/// impl tickmem_frame::FrameData for Names {
///     type Of<'f> = Mutex<Vec<&'f str>>;
///     fn shorten<'s, 'l: 's>(value: &'s Self::Of<'l>) -> &'s Self::Of<'s> {
///         value // error: lifetime may not live long enough (`Mutex` is invariant)
///     }
/// }
/// ```
///
/// `shorten` is called with a `'l` that is not the value's real lifetime
/// (the storage cannot name it), which is sound because the implementation
/// is generic over `'l` and so cannot rely on it (the reasoning the `yoke`
/// crate's `Yokeable::transform` rests on). Anything it returns is a
/// `&'s Of<'s>`, valid for the reader's borrow.
///
/// `Of<'f>: Send + Sync` because a value is built on the publishing thread,
/// read from any thread and dropped on the thread that advances the frame.
pub trait FrameData: 'static {
    /// The published value's type, borrowing a frame for `'f`.
    type Of<'f>: Send + Sync;

    /// Shorten a published value's lifetime: implement it as `{ value }`
    /// (see [Why `shorten`](FrameData#why-shorten)).
    fn shorten<'s, 'l: 's>(value: &'s Self::Of<'l>) -> &'s Self::Of<'s>;
}

/// Declare [`FrameData`] marker types: `vis Name<'f> = Type;` makes a unit
/// struct `Name` and implements [`FrameData`] for it with `Of<'f> = Type`
/// and the identity `shorten` (which compiles only if `Type` is covariant in
/// `'f`). Attributes and doc comments go on the struct. Several
/// declarations may share one invocation.
///
/// # Examples
///
/// ```
/// use allocator_api2::vec::Vec;
/// use hashbrown::HashMap;
/// use hashbrown::DefaultHashBuilder;
/// use tickmem_frame::{FrameAlloc, FrameData};
///
/// /// Per-cell neighbour counts and the cells that changed.
/// pub struct Counts<'f> {
///     pub per_cell: HashMap<(i32, i32), u8, DefaultHashBuilder, FrameAlloc<'f>>,
///     pub changed: &'f [(i32, i32)],
/// }
///
/// tickmem_frame::frame_data! {
///     /// A tick's neighbour counts.
///     pub NeighbourCounts<'f> = Counts<'f>;
///     /// Names of the entities that were hit this tick.
///     pub(crate) HitNames<'f> = Vec<&'f str, FrameAlloc<'f>>;
/// }
///
/// fn takes<M: FrameData>() {}
/// takes::<NeighbourCounts>();
/// takes::<HitNames>();
/// ```
#[macro_export]
macro_rules! frame_data {
    ($($(#[$meta:meta])* $vis:vis $name:ident < $lt:lifetime > = $ty:ty;)+) => {
        $(
            $(#[$meta])*
            #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
            $vis struct $name;

            impl $crate::FrameData for $name {
                type Of<$lt> = $ty;

                #[inline(always)]
                fn shorten<'__s, '__l: '__s>(
                    value: &'__s <Self as $crate::FrameData>::Of<'__l>,
                ) -> &'__s <Self as $crate::FrameData>::Of<'__s> {
                    value
                }
            }
        )+
    };
}

/// What a publish closure ([`FrameHost::publish`](crate::FrameHost::publish))
/// builds its value with: allocation in the current frame of the host's
/// arena, for the closure's frame lifetime `'f`.
///
/// It offers the arena's allocation methods and its `allocator_api2`
/// [`FrameAlloc`] (for `allocator_api2::vec::Vec`, hashbrown maps, ...), and
/// nothing that reads older memory: in particular no
/// [`FrameArena::get`]. A value published in frame `N` is read until the
/// end of frame `N + 1`, but a [`FrameHandle`](crate::FrameHandle) made in
/// frame `N - 1` points into memory reclaimed when frame `N + 1` starts, so
/// a value must not borrow it. Because the closure works for *every* `'f`,
/// its value can only hold `'static` data and what it allocated here; read
/// older data outside the closure and copy what you need:
///
/// ```compile_fail
/// use tickmem_frame::{FrameArena, FrameHost};
/// tickmem_frame::frame_data! { Last<'f> = &'f u32; }
///
/// let host = FrameHost::new(FrameArena::new());
/// let old = host.persist(7u32);
/// host.publish::<Last>(|f| f.get(old).unwrap()); // error: no method `get` on `FrameBuilder`
/// ```
///
/// ```compile_fail
/// use tickmem_frame::{FrameArena, FrameHost};
/// tickmem_frame::frame_data! { Last<'f> = &'f u32; }
///
/// let host = FrameHost::new(FrameArena::new());
/// let old = host.persist(7u32);
/// // error: `arena` is private: a `FrameAlloc` does not lead back to the arena
/// host.publish::<Last>(|f| f.allocator().arena().get(old).unwrap());
/// ```
///
/// ```compile_fail
/// use tickmem_frame::{FrameArena, FrameHost};
/// tickmem_frame::frame_data! { Last<'f> = &'f u32; }
///
/// let host = FrameHost::new(FrameArena::new());
/// let old = host.get(host.persist(7u32)).unwrap();
/// host.publish::<Last>(|_| old); // error: borrowed data escapes (not from this closure's frame)
/// ```
///
/// ```
/// use tickmem_frame::{FrameArena, FrameHost};
/// tickmem_frame::frame_data! { Last<'f> = &'f u32; }
///
/// let host = FrameHost::new(FrameArena::new());
/// let old = host.get(host.persist(7u32)).copied().unwrap();
/// let token = host.publish::<Last>(|f| f.alloc_copy(old)); // a copy in this frame
/// assert_eq!(host.read(token), Some(&&7));
/// ```
///
/// A builder cannot leave its closure:
///
/// ```compile_fail
/// use tickmem_frame::{FrameArena, FrameHost};
/// tickmem_frame::frame_data! { Num<'f> = u32; }
///
/// let host = FrameHost::new(FrameArena::new());
/// let mut kept = None;
/// host.publish::<Num>(|f| {
///     kept = Some(f); // error: borrowed data escapes the closure
///     1
/// });
/// ```
#[derive(Clone, Copy)]
pub struct FrameBuilder<'f> {
    arena: &'f FrameArena,
}

impl fmt::Debug for FrameBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameBuilder")
            .field("arena", &self.arena.id())
            .field("epoch", &self.arena.epoch())
            .finish()
    }
}

impl<'f> FrameBuilder<'f> {
    pub(crate) fn new(arena: &'f FrameArena) -> Self {
        FrameBuilder { arena }
    }

    /// The current frame (see [`FrameArena::epoch`]).
    pub fn epoch(&self) -> u64 {
        self.arena.epoch()
    }

    /// An allocator for `allocator_api2` collections in the current frame
    /// (see [`FrameArena::allocator`]). Pre-size them
    /// (`with_capacity_in`, `with_capacity_and_hasher_in`): memory a
    /// collection gives back when it grows is not reused within the frame.
    /// (`allocator_api2`'s `Vec::extend` from an iterator pushes one element
    /// at a time; when the length is known, `extend_from_slice` or a frame
    /// slice from [`alloc_slice_fill_with`](Self::alloc_slice_fill_with) is
    /// faster: `benches/results/frame_data.md`.)
    ///
    /// ```
    /// use allocator_api2::vec::Vec;
    /// use tickmem_frame::{FrameAlloc, FrameArena, FrameHost};
    /// tickmem_frame::frame_data! { Ids<'f> = Vec<u32, FrameAlloc<'f>>; }
    ///
    /// let host = FrameHost::new(FrameArena::new());
    /// let t = host.publish::<Ids>(|f| {
    ///     let mut ids = Vec::with_capacity_in(3, f.allocator());
    ///     ids.extend([3, 1, 2]);
    ///     ids
    /// });
    /// assert_eq!(host.read(t).unwrap()[..], [3, 1, 2]);
    /// ```
    #[inline]
    pub fn allocator(&self) -> FrameAlloc<'f> {
        self.arena.allocator()
    }

    /// An empty [`FrameVec`](crate::FrameVec) in the current frame (see
    /// [`FrameArena::vec`]): a vector that published data may hold. Pre-size
    /// it ([`vec_with_capacity`](Self::vec_with_capacity)) when you know the
    /// size: memory given up by growing is not reused within a frame.
    ///
    /// ```
    /// use tickmem_frame::{FrameArena, FrameHost, FrameVec};
    /// tickmem_frame::frame_data! { Pairs<'f> = FrameVec<'f, (u32, u32)>; }
    ///
    /// let host = FrameHost::new(FrameArena::new());
    /// let t = host.publish::<Pairs>(|f| {
    ///     let mut pairs = f.vec();
    ///     pairs.extend([(1, 2), (3, 4)]);
    ///     pairs
    /// });
    /// assert_eq!(host.read(t).unwrap()[..], [(1, 2), (3, 4)]);
    /// ```
    #[inline]
    pub fn vec<T>(&self) -> crate::FrameVec<'f, T> {
        self.arena.vec()
    }

    /// A [`FrameVec`](crate::FrameVec) with room for `capacity` values.
    ///
    /// # Panics
    ///
    /// As [`FrameArena::vec_with_capacity`].
    ///
    /// ```
    /// use tickmem_frame::{FrameArena, FrameHost, FrameVec};
    /// tickmem_frame::frame_data! { Hits<'f> = FrameVec<'f, u32>; }
    ///
    /// let host = FrameHost::new(FrameArena::new());
    /// let t = host.publish::<Hits>(|f| {
    ///     let mut hits = f.vec_with_capacity(100);
    ///     hits.extend(0..100);
    ///     hits
    /// });
    /// assert_eq!(host.read(t).map(|h| h.len()), Some(100));
    /// ```
    #[inline]
    #[track_caller]
    pub fn vec_with_capacity<T>(&self, capacity: usize) -> crate::FrameVec<'f, T> {
        self.arena.vec_with_capacity(capacity)
    }

    /// [`FrameArena::alloc`] in the current frame.
    ///
    /// ```
    /// use tickmem_frame::{FrameArena, FrameHost};
    /// tickmem_frame::frame_data! { Total<'f> = &'f mut u64; }
    /// let host = FrameHost::new(FrameArena::new());
    /// let t = host.publish::<Total>(|f| f.alloc(40u64));
    /// assert_eq!(**host.read(t).unwrap(), 40);
    /// ```
    #[inline]
    #[track_caller]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn alloc<T: Send + 'static>(&self, value: T) -> &'f mut T {
        self.arena.alloc(value)
    }

    /// [`FrameArena::try_alloc`] in the current frame.
    #[inline]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn try_alloc<T: Send + 'static>(&self, value: T) -> Result<&'f mut T, FrameAllocError> {
        self.arena.try_alloc(value)
    }

    /// [`FrameArena::alloc_copy`] in the current frame.
    #[inline]
    #[track_caller]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn alloc_copy<T: Copy>(&self, value: T) -> &'f mut T {
        self.arena.alloc_copy(value)
    }

    /// [`FrameArena::alloc_slice_copy`] in the current frame.
    ///
    /// ```
    /// use tickmem_frame::{FrameArena, FrameHost};
    /// tickmem_frame::frame_data! { Row<'f> = &'f [u8]; }
    /// let host = FrameHost::new(FrameArena::new());
    /// let t = host.publish::<Row>(|f| &*f.alloc_slice_copy(b"abc"));
    /// assert_eq!(host.read(t), Some(&&b"abc"[..]));
    /// ```
    #[inline]
    #[track_caller]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn alloc_slice_copy<T: Copy>(&self, src: &[T]) -> &'f mut [T] {
        self.arena.alloc_slice_copy(src)
    }

    /// [`FrameArena::try_alloc_slice_copy`] in the current frame.
    #[inline]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn try_alloc_slice_copy<T: Copy>(&self, src: &[T]) -> Result<&'f mut [T], FrameAllocError> {
        self.arena.try_alloc_slice_copy(src)
    }

    /// [`FrameArena::alloc_slice_fill_with`] in the current frame.
    #[inline]
    #[track_caller]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn alloc_slice_fill_with<T: Send + 'static>(
        &self,
        len: usize,
        f: impl FnMut(usize) -> T,
    ) -> &'f mut [T] {
        self.arena.alloc_slice_fill_with(len, f)
    }

    /// [`FrameArena::try_alloc_slice_fill_with`] in the current frame.
    #[inline]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn try_alloc_slice_fill_with<T: Send + 'static>(
        &self,
        len: usize,
        f: impl FnMut(usize) -> T,
    ) -> Result<&'f mut [T], FrameAllocError> {
        self.arena.try_alloc_slice_fill_with(len, f)
    }

    /// [`FrameArena::alloc_str`] in the current frame.
    #[inline]
    #[track_caller]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn alloc_str(&self, src: &str) -> &'f mut str {
        self.arena.alloc_str(src)
    }

    /// [`FrameArena::try_alloc_str`] in the current frame.
    #[inline]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn try_alloc_str(&self, src: &str) -> Result<&'f mut str, FrameAllocError> {
        self.arena.try_alloc_str(src)
    }
}

/// A token for a value of [`FrameData`] `M` published into a
/// [`FrameHost`](crate::FrameHost): `Copy + Send + Sync + 'static`, so it can
/// be kept in a resource or a component. [`FrameHost::read`](crate::FrameHost::read)
/// resolves it: `Some` in the frame it was published in and the next, `None`
/// afterwards and for another host's token. Only its numbers are checked
/// before the value is read, so a stale token is never UB.
///
/// # Examples
///
/// ```
/// use tickmem_frame::{FrameArena, FrameHost, Published};
/// tickmem_frame::frame_data! { Score<'f> = u64; }
///
/// let mut host = FrameHost::new(FrameArena::new());
/// let score: Published<Score> = host.publish::<Score>(|_| 10);
/// host.begin_frame();
/// assert_eq!(host.read(score), Some(&10)); // the next frame
/// host.begin_frame();
/// assert_eq!(host.read(score), None); // dropped, reclaimed
/// assert_eq!(score.epoch(), 0);
/// ```
pub struct Published<M: FrameData> {
    pub(crate) host: u64,
    pub(crate) epoch: u64,
    pub(crate) ptr: NonNull<()>,
    _kind: PhantomData<fn() -> M>,
}

// SAFETY: the token is plain data (two numbers and an address). The pointer
// is only dereferenced by `FrameHost::read`, after checking that the host
// and epoch match (the value is alive); the value's type is `Send + Sync`
// (`FrameData::Of`), so reading it from any thread is sound.
unsafe impl<M: FrameData> Send for Published<M> {}
// SAFETY: as for `Send`: sharing the token shares no access to the value.
unsafe impl<M: FrameData> Sync for Published<M> {}

impl<M: FrameData> Published<M> {
    pub(crate) fn new<V>(host: u64, epoch: u64, ptr: NonNull<V>) -> Self {
        Published {
            host,
            epoch,
            ptr: ptr.cast(),
            _kind: PhantomData,
        }
    }

    /// The frame (epoch) the value was published in.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The [`id`](crate::FrameHost::id) of the host it was published into.
    pub fn host_id(&self) -> u64 {
        self.host
    }
}

impl<M: FrameData> Clone for Published<M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M: FrameData> Copy for Published<M> {}

impl<M: FrameData> PartialEq for Published<M> {
    fn eq(&self, other: &Self) -> bool {
        self.host == other.host && self.epoch == other.epoch && self.ptr == other.ptr
    }
}

impl<M: FrameData> Eq for Published<M> {}

impl<M: FrameData> Hash for Published<M> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.host.hash(state);
        self.epoch.hash(state);
        self.ptr.hash(state);
    }
}

impl<M: FrameData> fmt::Debug for Published<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Published")
            .field("kind", &std::any::type_name::<M>())
            .field("host", &self.host)
            .field("epoch", &self.epoch)
            .field("addr", &self.ptr)
            .finish()
    }
}
