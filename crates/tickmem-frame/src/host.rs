//! [`FrameHost`]: a frame arena that frame data can be published into.
//!
//! The soundness argument is in [`FrameHost`]'s docs (# Soundness).

use std::alloc::Layout;
use std::fmt;
use std::marker::PhantomData;
use std::mem;
use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::ptr::{self, NonNull};
use std::sync::atomic::{
    AtomicPtr,
    Ordering::{Relaxed, Release},
};

use crate::arena::FrameArena;
use crate::config::FrameConfig;
use crate::data::{FrameBuilder, FrameData, Published};
use crate::error::{FrameAllocError, alloc_failed};
use crate::lane::{Payload, drop_payload, keep_first};

/// Source of host ids (never reused).
static NEXT_HOST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A published value that needs `Drop`: a node of its frame's drop list,
/// followed by the value, in the frame's own memory.
#[repr(C)]
struct Entry<V> {
    node: DropNode,
    value: V,
}

/// A link of a frame's drop list of published values.
#[derive(Clone, Copy)]
struct DropNode {
    next: *mut DropNode,
    /// Drops the value of the [`Entry`] this node starts, under
    /// `catch_unwind`; returns the panic.
    drop_value: unsafe fn(NonNull<DropNode>) -> Option<Payload>,
}

/// Drop the value of the `Entry<V>` starting at `node`.
///
/// # Safety
///
/// `node` is the node of an `Entry<V>` whose value is initialised, still
/// allocated, dropped by nothing else and not referenced any more.
unsafe fn drop_entry<V>(node: NonNull<DropNode>) -> Option<Payload> {
    let entry = node.cast::<Entry<V>>().as_ptr();
    // SAFETY: the caller's contract; a raw place, no reference is made.
    let value = unsafe { &raw mut (*entry).value };
    // SAFETY: the value is initialised and dropped exactly once, here.
    catch_unwind(AssertUnwindSafe(|| unsafe { ptr::drop_in_place(value) })).err()
}

/// A [`FrameArena`] that [`FrameData`] can be published into: values built
/// in the current frame — slices, `allocator_api2` vectors, hashbrown maps,
/// structs borrowing the frame — that other code reads through a
/// `'static` [`Published`] token in this frame and the next, and that are
/// dropped before their frame is reclaimed.
///
/// The host owns the arena at a fixed heap address and dereferences to it
/// (everything [`FrameArena`] does works through the host); it is what
/// tickmem-ecs's `FrameMemory` resource holds. Its
/// [`begin_frame`](Self::begin_frame) drops the values of the frame being
/// reclaimed, then advances the arena. [Soundness](FrameHost#soundness)
/// says why it is sound.
///
/// # Examples
///
/// ```
/// use allocator_api2::vec::Vec;
/// use hashbrown::{DefaultHashBuilder, HashMap};
/// use tickmem_frame::{FrameAlloc, FrameArena, FrameHost};
///
/// tickmem_frame::frame_data! {
///     /// Bullets per grid cell, counted by the broadphase.
///     CellCounts<'f> = HashMap<(i32, i32), u32, DefaultHashBuilder, FrameAlloc<'f>>;
///     /// Colliding pairs.
///     Pairs<'f> = Vec<(u32, u32), FrameAlloc<'f>>;
/// }
///
/// let mut host = FrameHost::new(FrameArena::new());
/// let bullets = [(0, (1, 1)), (1, (1, 1)), (2, (5, 0))];
///
/// // A producer publishes...
/// let counts = host.publish::<CellCounts>(|f| {
///     let mut counts =
///         HashMap::with_capacity_and_hasher_in(16, DefaultHashBuilder::default(), f.allocator());
///     for (_, cell) in bullets {
///         *counts.entry(cell).or_insert(0) += 1;
///     }
///     counts
/// });
/// let pairs = host.publish::<Pairs>(|f| {
///     let mut pairs = Vec::with_capacity_in(4, f.allocator());
///     pairs.push((0, 1));
///     pairs
/// });
///
/// // ... consumers read, in this frame and the next.
/// assert_eq!(host.read(counts).unwrap()[&(1, 1)], 2);
/// host.begin_frame();
/// assert_eq!(host.read(pairs).unwrap()[..], [(0, 1)]);
/// host.begin_frame(); // both values are dropped, then their frame reclaimed
/// assert!(host.read(pairs).is_none());
/// ```
///
/// # Borrows
///
/// A reference from [`read`](Self::read) borrows the host, so it cannot be
/// kept across `begin_frame`:
///
/// ```compile_fail
/// use tickmem_frame::{FrameArena, FrameHost};
/// tickmem_frame::frame_data! { Row<'f> = &'f [u8]; }
///
/// let mut host = FrameHost::new(FrameArena::new());
/// let t = host.publish::<Row>(|f| &*f.alloc_slice_copy(b"abc"));
/// let row = host.read(t).unwrap();
/// host.begin_frame(); // error: `host` is borrowed by `row`
/// assert_eq!(row.len(), 3);
/// ```
///
/// nor can a value borrow data the frame does not own:
///
/// ```compile_fail
/// use tickmem_frame::{FrameArena, FrameHost};
/// tickmem_frame::frame_data! { Row<'f> = &'f [u8]; }
///
/// let host = FrameHost::new(FrameArena::new());
/// let local = vec![1u8, 2, 3];
/// host.publish::<Row>(|_| &local[..]); // error: `local` does not live long enough
/// ```
///
/// # Soundness
///
/// A published value of [`FrameData`] `M` is an `M::Of<'f>` built by a
/// closure from a [`FrameBuilder<'f>`], stored in the arena's current frame
/// (frame `N`), read by anyone holding `&FrameHost` through a [`Published`]
/// token during frames `N` and `N + 1`, and dropped when frame `N + 2`
/// starts. Each step, and why it is sound:
///
/// 1. **What a value can borrow.** The closure is `for<'f> FnOnce(FrameBuilder<'f>)
///    -> M::Of<'f>`: it must work for every `'f`, so the value can only hold
///    `'static` data and what the builder gave it — allocations in frame
///    `N` (alive until frame `N + 2` starts, after the value is dropped) and
///    [`FrameAlloc<'f>`](crate::FrameAlloc)s (a `&FrameArena`; the arena
///    lives until the host is dropped, after every value). Not a `&'w T`
///    from a bevy query (another system could mutate it while a reader
///    holds it), not anything from frame `N - 1` (reclaimed when `N + 1`
///    starts, while the value is still read): the builder has no
///    `FrameArena::get`, and a `FrameAlloc` does not lead back to the arena.
/// 2. **How readers see it.** [`read`](FrameHost::read) checks the token's
///    host id (never reused, so a token of a dropped or other host fails)
///    and epoch (`N` or `N + 1`) before touching memory, then returns
///    `&'r M::Of<'r>` for the borrow `'r` of the host, made by
///    [`FrameData::shorten`] from a reference whose lifetime parameter is
///    `'static` (the storage cannot name the real one). `shorten` is the
///    identity, which compiles only for a covariant `Of`, and is generic over
///    that lifetime, so it cannot exploit it. Nothing hands out `&mut` to a
///    published value: readers on many threads share it (`Of: Sync`).
/// 3. **When it is dropped.** [`begin_frame`](FrameHost::begin_frame) (`&mut
///    self`: no reader or writer is active) first drops the values of the
///    frame being reclaimed, with only *shared* access to the arena — a
///    value's destructor may use its `FrameAlloc` (a hashbrown map frees its
///    table through it) — and only then reclaims the frame. A panicking
///    destructor is caught; the others still run; the first panic resumes
///    once the frame is fully advanced. `Drop` and
///    [`into_inner`](FrameHost::into_inner) drop the values of both live
///    frames (older first) before the arena. No destructor is skipped.
/// 4. **No `&mut FrameArena` while values live.** Values of frame `N`
///    live through the reclaim at the start of `N + 1` and hold
///    `&FrameArena`s. Under Rust's aliasing model (Stacked and Tree
///    Borrows) creating a `&mut FrameArena` — or moving a `Box<FrameArena>`
///    — would invalidate those references, and a later use (a reader cloning
///    a map, the destructor freeing it) would be undefined behaviour. So the
///    host keeps the arena at a fixed heap address behind a raw pointer
///    (moving the host moves the pointer, not the arena), hands out only
///    `&FrameArena`, and reclaims through `FrameArena::reclaim(&self)`,
///    which writes nothing in the arena but atomics and takes `&mut` only to
///    the lanes (separate allocations no value refers to). `&mut FrameArena`
///    exists only in `Drop`/`into_inner`, after every value is dropped.
/// 5. **Threads.** Values are built on any thread, pushed onto the frame's
///    drop list with a compare-exchange (no lock), read from any thread
///    (`Of: Sync`) and dropped on the thread that advances the frame
///    (`Of: Send`).
///
/// How it is checked: `tests/frame_data.rs` (threads, panicking destructors,
/// hosts moved and dropped with live values, `into_inner`, values whose
/// destructors allocate and read their frame memory) under Miri with
/// Stacked and Tree Borrows (threaded tests with many seeds), and the
/// compile-fail doctests on [`FrameData`], [`FrameBuilder`] and
/// [`FrameHost`].
pub struct FrameHost {
    /// The arena, from `Box::leak`; freed in `Drop` or moved out by
    /// `into_inner`. A raw pointer, not a `Box`: moving the host must not
    /// assert unique access to the arena (see the type's docs, Soundness, point 4).
    arena: NonNull<FrameArena>,
    id: u64,
    /// The values that need `Drop`, published in even and odd frames:
    /// lists of [`DropNode`]s in the frames' memory, newest first.
    lists: [AtomicPtr<DropNode>; 2],
    _owns: PhantomData<FrameArena>,
}

// SAFETY: the host owns the arena (`FrameArena: Send`) and the published
// values (`FrameData::Of: Send`); the raw pointers are to memory it owns.
unsafe impl Send for FrameHost {}
// SAFETY: through `&FrameHost` threads reach `&FrameArena` (`Sync`), push
// onto the drop lists with a compare-exchange, and read published values
// (`FrameData::Of: Sync`); nothing is mutated without `&mut`.
unsafe impl Sync for FrameHost {}

impl Default for FrameHost {
    fn default() -> Self {
        FrameHost::new(FrameArena::new())
    }
}

impl fmt::Debug for FrameHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameHost")
            .field("id", &self.id)
            .field("arena", self.arena())
            .finish()
    }
}

impl Deref for FrameHost {
    type Target = FrameArena;

    #[inline]
    fn deref(&self) -> &FrameArena {
        self.arena()
    }
}

impl FrameHost {
    /// A host owning `arena` (moved to the heap, where it stays until the
    /// host is dropped or [`into_inner`](Self::into_inner)).
    ///
    /// ```
    /// use tickmem_frame::{FrameArena, FrameConfig, FrameHost};
    /// let host = FrameHost::new(FrameArena::with_config(FrameConfig::default().lane_capacity(4096)));
    /// assert_eq!(host.config().lane_capacity, 4096);
    /// ```
    pub fn new(arena: FrameArena) -> Self {
        FrameHost {
            arena: NonNull::from(Box::leak(Box::new(arena))),
            id: NEXT_HOST.fetch_add(1, Relaxed),
            lists: [
                AtomicPtr::new(ptr::null_mut()),
                AtomicPtr::new(ptr::null_mut()),
            ],
            _owns: PhantomData,
        }
    }

    /// A host owning a new arena configured by `config`.
    ///
    /// # Panics
    ///
    /// If `config` is invalid (see [`FrameArena::with_config`]).
    #[track_caller]
    pub fn with_config(config: FrameConfig) -> Self {
        FrameHost::new(FrameArena::with_config(config))
    }

    /// The arena (also reachable through `Deref`).
    #[inline]
    pub fn arena(&self) -> &FrameArena {
        // SAFETY: the pointer is from `Box::leak` and stays valid until the
        // host is dropped or consumed; only shared references to the arena
        // are made while the host exists (see the type's docs, Soundness, point 4).
        unsafe { self.arena.as_ref() }
    }

    /// This host's id, unique in the process (never reused, unlike the
    /// arena's id, which `into_inner` hands back): tokens carry it.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Build a value of `M` in the current frame and publish it: `build`
    /// gets a [`FrameBuilder`] for the frame and returns the value, which
    /// [`read`](Self::read) returns through the token in this frame and the
    /// next. The value is dropped when its frame is reclaimed (the second
    /// [`begin_frame`](Self::begin_frame) from now), or when the host is
    /// dropped. Callable from many threads at once; the value and its list
    /// node live in the calling thread's lane.
    ///
    /// # Panics
    ///
    /// With the [`FrameAllocError`] message when the frame's byte limit is
    /// reached or memory runs out (see [`try_publish`](Self::try_publish)),
    /// and if `build` panics (then nothing is published).
    ///
    /// # Examples
    ///
    /// ```
    /// use tickmem_frame::{FrameArena, FrameHost};
    /// tickmem_frame::frame_data! { Label<'f> = &'f str; }
    ///
    /// let host = FrameHost::new(FrameArena::new());
    /// let t = host.publish::<Label>(|f| &*f.alloc_str("wave 3"));
    /// assert_eq!(host.read(t), Some(&"wave 3"));
    /// ```
    #[track_caller]
    pub fn publish<M: FrameData>(
        &self,
        build: impl for<'f> FnOnce(FrameBuilder<'f>) -> M::Of<'f>,
    ) -> Published<M> {
        match self.try_publish::<M>(build) {
            Ok(token) => token,
            Err(err) => alloc_failed(err),
        }
    }

    /// Like [`publish`](Self::publish), returning an error (before calling
    /// `build`) when the value's memory cannot be allocated.
    ///
    /// ```
    /// use tickmem_frame::{FrameConfig, FrameHost};
    /// tickmem_frame::frame_data! { Big<'f> = [u64; 4]; }
    ///
    /// let host = FrameHost::with_config(FrameConfig::default().frame_byte_limit(Some(16)));
    /// let err = host.try_publish::<Big>(|_| [0; 4]).unwrap_err();
    /// assert_eq!(err.requested(), 32);
    /// ```
    pub fn try_publish<M: FrameData>(
        &self,
        build: impl for<'f> FnOnce(FrameBuilder<'f>) -> M::Of<'f>,
    ) -> Result<Published<M>, FrameAllocError> {
        let arena = self.arena();
        let epoch = arena.epoch();
        let lane = arena.lane();
        // The memory first: if it cannot be had, `build` is not called. A
        // value with drop glue gets a list node in front of it (an `Entry`);
        // one without needs none. (`Of<'static>` has the layout and drop
        // glue of every `Of<'f>`: they differ only in lifetimes.)
        type Stored<M> = <M as FrameData>::Of<'static>;
        let (entry, value) = if mem::needs_drop::<Stored<M>>() {
            let entry = lane
                .raw_alloc(Layout::new::<Entry<Stored<M>>>())?
                .cast::<Entry<Stored<M>>>();
            // SAFETY: a place in the fresh allocation; no reference is made.
            let value = unsafe { &raw mut (*entry.as_ptr()).value };
            // SAFETY: a field of a non-null allocation is non-null.
            (Some(entry), unsafe { NonNull::new_unchecked(value) })
        } else {
            let value = lane.raw_alloc(Layout::new::<Stored<M>>())?;
            (None, value.cast::<Stored<M>>())
        };
        // `build` may panic: then the memory is left unused (reclaimed with
        // the frame) and nothing is linked.
        let built = build(FrameBuilder::new(arena));
        // SAFETY: fresh memory, sized and aligned for the value (above).
        unsafe { value.cast::<M::Of<'_>>().as_ptr().write(built) };
        if let Some(entry) = entry {
            // SAFETY: a place in the entry allocated above; no reference.
            let node = unsafe { &raw mut (*entry.as_ptr()).node };
            // SAFETY: the node field of the fresh entry, not linked yet.
            unsafe {
                node.write(DropNode {
                    next: ptr::null_mut(),
                    drop_value: drop_entry::<Stored<M>>,
                });
            }
            let list = &self.lists[(epoch & 1) as usize];
            let mut head = list.load(Relaxed);
            loop {
                // SAFETY: the node is not published yet: only this thread
                // has it.
                unsafe { (*node).next = head };
                // Release: the thread running the list sees the node and the
                // value initialised (it also holds `&mut self`, which orders
                // every earlier `&self` use before it).
                match list.compare_exchange_weak(head, node, Release, Relaxed) {
                    Ok(_) => break,
                    Err(now) => head = now,
                }
            }
        }
        Ok(Published::new(self.id, epoch, value))
    }

    /// The value behind `token`: `Some` in the frame it was published in
    /// and the next one, `None` from then on and for another host's token.
    /// Only the numbers in the token are checked before the value is read,
    /// so a stale token is never UB.
    ///
    /// ```
    /// use tickmem_frame::{FrameArena, FrameHost};
    /// tickmem_frame::frame_data! { Num<'f> = u32; }
    ///
    /// let (mut a, b) = (FrameHost::new(FrameArena::new()), FrameHost::new(FrameArena::new()));
    /// let t = a.publish::<Num>(|_| 1);
    /// assert_eq!(b.read(t), None); // another host's token
    /// a.begin_frame();
    /// assert_eq!(a.read(t), Some(&1));
    /// a.begin_frame();
    /// assert_eq!(a.read(t), None); // dropped and reclaimed
    /// ```
    #[inline]
    pub fn read<M: FrameData>(&self, token: Published<M>) -> Option<&M::Of<'_>> {
        if !self.is_live(token) {
            return None;
        }
        // SAFETY: `token` was made by `try_publish` on this host (host ids
        // are unique and tokens cannot be forged) for an initialised
        // `M::Of<'_>` in frame `token.epoch`, which is this frame or the
        // previous one: its drop list runs at the reclaim of that frame,
        // which needs `&mut self`, so not during this borrow; and everything
        // it borrows lives at least as long (the type's docs, Soundness, points 1 and 3).
        // Nothing mutates it. The lifetime parameter is the storage's
        // stand-in; `shorten` (generic over it) gives the caller `Of<'_>`
        // for this borrow only.
        let value: &M::Of<'static> = unsafe { token.ptr.cast().as_ref() };
        Some(M::shorten(value))
    }

    /// `true` when [`read`](Self::read) would return `Some`.
    #[inline]
    pub fn is_live<M: FrameData>(&self, token: Published<M>) -> bool {
        token.host == self.id
            && self
                .arena()
                .epoch()
                .checked_sub(token.epoch)
                .is_some_and(|age| age <= 1)
    }

    /// Start the next frame: drop the values published in the frame being
    /// reclaimed (the one before the frame that just ended), with only
    /// shared access to the arena, then advance the arena
    /// ([`FrameArena::begin_frame`]: its own destructors, then its memory).
    ///
    /// # Panics
    ///
    /// If a destructor (of a published value, or of an arena value)
    /// panics: every other destructor still runs, the frame is fully
    /// advanced, and then the first panic resumes. The host is usable
    /// afterwards.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    /// use tickmem_frame::{FrameArena, FrameHost};
    ///
    /// static DROPS: AtomicUsize = AtomicUsize::new(0);
    /// struct Noisy<'f>(&'f [u8]);
    /// impl Drop for Noisy<'_> {
    ///     fn drop(&mut self) {
    ///         assert_eq!(self.0, b"hi"); // its frame memory is still there
    ///         DROPS.fetch_add(1, Relaxed);
    ///     }
    /// }
    /// tickmem_frame::frame_data! { Msg<'f> = Noisy<'f>; }
    ///
    /// let mut host = FrameHost::new(FrameArena::new());
    /// host.publish::<Msg>(|f| Noisy(f.alloc_slice_copy(b"hi")));
    /// host.begin_frame();
    /// assert_eq!(DROPS.load(Relaxed), 0);
    /// host.begin_frame();
    /// assert_eq!(DROPS.load(Relaxed), 1);
    /// ```
    pub fn begin_frame(&mut self) {
        let reclaimed = ((self.arena().epoch() + 1) & 1) as usize;
        let mut panic = self.drop_published(reclaimed);
        // SAFETY: `&mut self`: no other borrow of the host is alive, so no
        // other code uses the arena (all access goes through the host) and
        // no reference from `read` or the arena's methods survives. The
        // values published in the frame being reclaimed were just dropped;
        // those of the ending frame hold `&FrameArena`s and references into
        // the ending frame, which `reclaim` neither invalidates nor
        // touches.
        keep_first(&mut panic, unsafe { self.arena().reclaim() });
        if let Some(payload) = panic {
            resume_unwind(payload);
        }
    }

    /// Drop the values published in frames of parity `half`; returns the
    /// first panic.
    fn drop_published(&mut self, half: usize) -> Option<Payload> {
        let mut node = mem::replace(self.lists[half].get_mut(), ptr::null_mut());
        let mut first = None;
        while let Some(current) = NonNull::new(node) {
            // SAFETY: a linked node is initialised and in its frame's memory,
            // which is reclaimed only after this list ran. Read before its
            // value is dropped.
            let DropNode { next, drop_value } = unsafe { current.as_ptr().read() };
            node = next;
            // SAFETY: the node was linked once, for an initialised value of
            // the type `drop_value` drops; the list is unlinked (taken
            // above), so it is dropped exactly once. `&mut self`: no reader
            // holds it. Its frame memory and the arena are still there; the
            // destructor may use the arena through shared references.
            keep_first(&mut first, unsafe { drop_value(current) });
        }
        first
    }

    /// Drop the values of both live frames, the older first.
    fn drop_all_published(&mut self) -> Option<Payload> {
        let current = (self.arena().epoch() & 1) as usize;
        let mut panic = self.drop_published(current ^ 1);
        keep_first(&mut panic, self.drop_published(current));
        panic
    }

    /// Drop every published value and take the arena back (its frames and
    /// memory as they are).
    ///
    /// # Panics
    ///
    /// If a published value's destructor panics: the others still run,
    /// then the first panic resumes (and the arena is dropped).
    ///
    /// ```
    /// use tickmem_frame::{FrameArena, FrameHost};
    /// tickmem_frame::frame_data! { Num<'f> = &'f u32; }
    ///
    /// let host = FrameHost::new(FrameArena::new());
    /// host.publish::<Num>(|f| &*f.alloc(5u32));
    /// let mut arena = host.into_inner();
    /// arena.begin_frame();
    /// assert_eq!(arena.epoch(), 1);
    /// ```
    pub fn into_inner(mut self) -> FrameArena {
        let panic = self.drop_all_published();
        let arena = self.arena;
        mem::forget(self);
        // SAFETY: from `Box::leak` in `new`; every published value (the only
        // holders of references to the arena besides the host's own, now
        // ended borrows) was dropped above, and the host is forgotten, so
        // this is the last use of the pointer.
        let arena = *unsafe { Box::from_raw(arena.as_ptr()) };
        if let Some(payload) = panic {
            drop(arena);
            resume_unwind(payload);
        }
        arena
    }
}

impl Drop for FrameHost {
    /// Drops the published values of both live frames (older first), then
    /// the arena. A panicking destructor does not stop the others; the
    /// first panic resumes once everything is dropped (unless the host is
    /// dropped while the thread is already panicking: then it is dropped).
    fn drop(&mut self) {
        let mut panic = self.drop_all_published();
        let arena = self.arena.as_ptr();
        let dropped = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: from `Box::leak` in `new`; every published value was
            // dropped above; this is the last use of the pointer.
            drop(unsafe { Box::from_raw(arena) });
        }));
        keep_first(&mut panic, dropped.err());
        match panic {
            Some(payload) if std::thread::panicking() => drop_payload(payload),
            Some(payload) => resume_unwind(payload),
            None => {}
        }
    }
}
