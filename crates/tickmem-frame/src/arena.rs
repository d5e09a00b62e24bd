//! [`FrameArena`]: the double-buffered frame arena.

use std::alloc::Layout;
use std::cell::Cell;
use std::fmt;
use std::mem;
use std::panic::resume_unwind;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use crossbeam_utils::CachePadded;

use crate::alloc_api::FrameAlloc;
use crate::config::{FrameConfig, FrameConfigError};
use crate::error::FrameAllocError;
use crate::error::alloc_failed;
use crate::handle::FrameHandle;
use crate::lane::{Half, Lane, LaneState, Payload, drop_payload, keep_first};
use crate::lanes::LaneList;
use crate::stats::FrameStats;
use crate::vec::FrameVec;

/// Source of arena ids, lane-cache keys and thread tokens; never reused
/// (a `u64` incremented once per arena, frame or thread does not wrap).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn fresh_id() -> u64 {
    NEXT_ID.fetch_add(1, Relaxed)
}

/// The last lane this thread used.
#[derive(Clone, Copy)]
struct CachedLane {
    /// The arena's `key` when the lane was claimed: while it is current, this
    /// thread holds the lane's claim and `half` is the current frame's half.
    key: u64,
    /// The arena's `id`: while an arena with this id is alive, `lane` is one
    /// of its lanes (a preference for the next period).
    arena: u64,
    lane: *const LaneState,
    half: *const Half,
}

thread_local! {
    /// This thread's last lane lookup. `const` and without `Drop`, so reading
    /// it is a plain thread-local load, and it stays readable while the
    /// thread's TLS destructors run.
    static LANE_CACHE: Cell<CachedLane> = const {
        Cell::new(CachedLane { key: 0, arena: 0, lane: ptr::null(), half: ptr::null() })
    };
    /// This thread's token (0: not taken yet). `const` and without `Drop`:
    /// readable during TLS destruction.
    static TOKEN: Cell<u64> = const { Cell::new(0) };
}

/// A number for the calling thread, never given to another thread (unlike
/// OS or `thread_local` thread ids, which are reused once a thread exits):
/// what a lane's claim holds. Works in TLS destructors too.
pub(crate) fn thread_token() -> u64 {
    TOKEN.with(|token| {
        if token.get() == 0 {
            token.set(fresh_id());
        }
        token.get()
    })
}

/// A double-buffered frame arena: per-frame bump memory for many threads.
///
/// Memory allocated in frame `N` stays valid during frame `N + 1` and is
/// reclaimed at the start of frame `N + 2`: [`begin_frame`](Self::begin_frame)
/// advances the frame. Because `begin_frame` takes `&mut self` and every
/// allocation borrows `&self`, no reference into the arena survives it; data
/// that must reach the next frame travels as a [`FrameHandle`] (see
/// [`persist`](Self::persist) and [`get`](Self::get)).
///
/// # Lanes
///
/// Every thread that allocates bumps its own *lane* (cache-padded): two
/// bumpalo bumps, one for even and one for odd frames. A lane takes memory
/// from its bump in *blocks* (all that the current chunk has left, or what
/// the byte limit grants) and bumps a pointer down through the block: an
/// allocation is two loads, a compare and a store, with no lock, no shared
/// atomic and no per-allocation bookkeeping. The lane is found through a
/// one-entry thread-local cache; [`lane`](Self::lane) hands it out for tight
/// loops.
///
/// A thread *claims* a lane for a *period*: the time between two `&mut`
/// accesses of the arena ([`begin_frame`](Self::begin_frame)). Within a
/// period a lane serves exactly one thread, even after that thread exited
/// (its thread-local destructors may still allocate): a thread started
/// meanwhile gets another lane. At `begin_frame` every claim is released,
/// and in the next period each thread takes back the lane it had (its chunks
/// fit its work), or any free one. So the number of lanes is the largest
/// number of threads that allocated within one period; the lanes of threads
/// that have ended are reused from the next period on. An arena that never
/// sees `begin_frame` never reuses a lane (nor reclaims any memory): one
/// lane per thread that ever allocated from it.
///
/// # Destructors
///
/// Values whose type needs `Drop` are registered in their frame's
/// destructor list (kept in the frame's own memory) and dropped exactly once
/// when the frame is reclaimed, or when the arena is dropped, on the thread
/// doing that; hence `T: Send + 'static` for [`alloc`](Self::alloc). A
/// destructor that panics does not stop the others, nor leave the arena
/// inconsistent: see [`begin_frame`](Self::begin_frame) ("Panics").
///
/// # Memory is not reused within a frame
///
/// Bump allocation hands out fresh memory for every request; nothing is
/// freed until the frame is reclaimed, except that a collection giving
/// back (or growing) the lane's most recent allocation does so in place.
/// A `FrameVec` or hashbrown map that grows by doubling therefore leaves
/// its old buffers behind: pre-size frame collections
/// ([`vec_with_capacity`](Self::vec_with_capacity),
/// `with_capacity_in`, `with_capacity_and_hasher_in`), e.g. from last
/// frame's size.
///
/// # Chunk reuse and trimming
///
/// Reclaiming a frame keeps its largest chunk and sizes it to the lane's
/// high-water mark (plus a quarter), so after a warm-up a frame makes no
/// global-allocator call even when its size changes from frame to frame.
/// After [`trim_after_quiet_frames`](FrameConfig::trim_after_quiet_frames)
/// quiet frames (each using at most half of the high-water mark), the mark
/// drops to the largest quiet frame and chunks more than twice the new size
/// are replaced: one spike does not keep its memory forever.
///
/// # Byte limit
///
/// With [`frame_byte_limit`](FrameConfig::frame_byte_limit), a frame can
/// use at most that many bytes over all lanes (bytes as in
/// [`FrameStats::bytes_this_frame`]: sizes plus alignment padding). Lanes
/// take the limit from a shared atomic counter in batches (a sixteenth of
/// the limit, between 256 bytes and 64 KiB; less when less is left) and cut
/// their blocks from their batch, so the hot path touches no shared state
/// and checks nothing extra. The total is never exceeded. A request can
/// fail while some of the limit is unused: other lanes may hold up to a
/// batch each, and a lane rounds its blocks to 8 bytes and needs room for
/// the request's worst-case alignment. Over the limit, the `try_*` methods
/// return [`FrameAllocError::LimitExceeded`] and the others panic with its
/// message.
///
/// # Examples
///
/// ```
/// use tickmem_frame::FrameArena;
///
/// let mut arena = FrameArena::new();
/// for frame in 0..3u32 {
///     arena.begin_frame();
///     let pairs = arena.alloc_slice_fill_with(4, |i| (i as u32, frame));
///     let label = arena.alloc_str("collision pairs");
///     assert_eq!(pairs[3], (3, frame));
///     assert_eq!(label.len(), 15);
/// }
/// assert_eq!(arena.epoch(), 3);
/// ```
///
/// A reference cannot be kept across `begin_frame`:
///
/// ```compile_fail
/// let mut arena = tickmem_frame::FrameArena::new();
/// let x = arena.alloc(1u32);
/// arena.begin_frame(); // error: `arena` is borrowed by `x`
/// assert_eq!(*x, 1);
/// ```
///
/// nor used after the arena is dropped:
///
/// ```compile_fail
/// let arena = tickmem_frame::FrameArena::new();
/// let x = arena.alloc(1u32);
/// drop(arena); // error: `arena` is borrowed by `x`
/// assert_eq!(*x, 1);
/// ```
pub struct FrameArena {
    id: u64,
    /// Changes at every reclaim (the only time lanes are released): a
    /// thread's cached lane pointer is only used while the key it was cached
    /// under is current.
    ///
    /// `key`, `epoch` and `high_water` are atomics, written only by
    /// [`reclaim`](Self::reclaim) while nothing else uses the arena, so that
    /// reclaiming needs no `&mut FrameArena`: a
    /// [`FrameHost`](crate::FrameHost) reclaims through a shared reference
    /// while frame data published into the arena still holds `&FrameArena`s
    /// (see `host.rs`). Loads are `Relaxed` (plain loads on x86 and ARM).
    key: AtomicU64,
    epoch: AtomicU64,
    config: FrameConfig,
    /// Bytes a lane takes from `budget_left` at a time.
    pub(crate) batch: usize,
    /// What is left of the frame's byte limit, not yet granted to a lane.
    pub(crate) budget_left: CachePadded<AtomicUsize>,
    /// Largest in-use peak of a finished frame, in bytes.
    high_water: AtomicUsize,
    next_lane: AtomicUsize,
    lanes: LaneList,
}

impl Default for FrameArena {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for FrameArena {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameArena")
            .field("id", &self.id)
            .field("epoch", &self.epoch())
            .field("lanes", &self.next_lane.load(Relaxed))
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl FrameArena {
    /// An arena with the default [`FrameConfig`]. Lanes (and their chunks)
    /// are created when a thread first allocates.
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// assert_eq!(arena.epoch(), 0);
    /// ```
    pub fn new() -> Self {
        Self::with_config(FrameConfig::default())
    }

    /// An arena configured by `config`.
    ///
    /// # Panics
    ///
    /// If `config` is invalid, with the [`FrameConfigError`] message; see
    /// [`try_with_config`](Self::try_with_config).
    ///
    /// ```
    /// use tickmem_frame::{FrameArena, FrameConfig};
    /// let arena = FrameArena::with_config(FrameConfig::default().lane_capacity(1 << 20));
    /// assert_eq!(arena.config().lane_capacity, 1 << 20);
    /// ```
    #[track_caller]
    pub fn with_config(config: FrameConfig) -> Self {
        match Self::try_with_config(config) {
            Ok(arena) => arena,
            Err(err) => panic!("{err}"),
        }
    }

    /// An arena configured by `config`, or why `config` is invalid (see
    /// [`FrameConfig::validate`]).
    ///
    /// ```
    /// use tickmem_frame::{FrameArena, FrameConfig};
    /// assert!(FrameArena::try_with_config(FrameConfig::default()).is_ok());
    /// let err = FrameArena::try_with_config(FrameConfig::default().lane_capacity(1 << 40)).unwrap_err();
    /// assert!(err.to_string().starts_with("FrameConfig::lane_capacity of 1099511627776 bytes"));
    /// ```
    pub fn try_with_config(config: FrameConfig) -> Result<Self, FrameConfigError> {
        config.validate()?;
        let limit = config.frame_byte_limit;
        let batch = limit.map_or(0, |l| (l / 16).clamp(256, 64 * 1024));
        Ok(FrameArena {
            id: fresh_id(),
            key: AtomicU64::new(fresh_id()),
            epoch: AtomicU64::new(0),
            config,
            batch,
            budget_left: CachePadded::new(AtomicUsize::new(limit.unwrap_or(0))),
            high_water: AtomicUsize::new(0),
            next_lane: AtomicUsize::new(0),
            lanes: LaneList::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FrameConfig {
        &self.config
    }

    /// This arena's id, unique in the process (never reused). Handles carry
    /// it, so a handle of another arena is never resolved here.
    ///
    /// ```
    /// let (a, b) = (tickmem_frame::FrameArena::new(), tickmem_frame::FrameArena::new());
    /// assert_ne!(a.id(), b.id());
    /// ```
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The current frame, counting from 0; [`begin_frame`](Self::begin_frame)
    /// adds one.
    ///
    /// ```
    /// let mut arena = tickmem_frame::FrameArena::new();
    /// arena.begin_frame();
    /// assert_eq!(arena.epoch(), 1);
    /// ```
    #[inline(always)]
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Relaxed)
    }

    /// Start the next frame: reclaim the memory of the frame before the one
    /// that just ended (running its destructors), and keep the one that just
    /// ended readable for one more frame.
    ///
    /// Its cost depends on the number of lanes and of values with
    /// destructors, not on the number of allocations.
    ///
    /// Reclaiming is done in three steps, so that no reference, handle or
    /// destructor ever sees reclaimed memory:
    ///
    /// 1. the reclaimed frame becomes dead: the epoch advances (its handles
    ///    read `None` from now on) and every thread's cached lane is
    ///    invalidated;
    /// 2. the destructors of the reclaimed frame run, in every lane (a
    ///    destructor may be registered in another lane than the value's
    ///    memory, e.g. a [`FrameVec`] finished on another thread);
    /// 3. only then is each lane's memory reset (poisoned with the `poison`
    ///    feature), resized or freed, and every lane's claim released.
    ///
    /// # Panics
    ///
    /// If a destructor panics, the panic is caught, every other destructor
    /// still runs (each exactly once; values of a slice are dropped one by
    /// one, so two panicking values never abort the process), the frame is
    /// fully reclaimed, and then the first panic resumes. The arena is
    /// usable afterwards: the frame has advanced, the reclaimed frame's
    /// handles read `None`, and the next frame allocates as usual.
    ///
    /// # Examples
    ///
    /// ```
    /// use tickmem_frame::FrameArena;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// struct Noisy(Arc<AtomicUsize>);
    /// impl Drop for Noisy {
    ///     fn drop(&mut self) { self.0.fetch_add(1, Ordering::Relaxed); }
    /// }
    ///
    /// let drops = Arc::new(AtomicUsize::new(0));
    /// let mut arena = FrameArena::new();
    /// arena.alloc(Noisy(drops.clone()));          // frame 0
    /// arena.begin_frame();                        // frame 1: frame 0 still valid
    /// assert_eq!(drops.load(Ordering::Relaxed), 0);
    /// arena.begin_frame();                        // frame 2: frame 0 reclaimed
    /// assert_eq!(drops.load(Ordering::Relaxed), 1);
    /// ```
    pub fn begin_frame(&mut self) {
        // SAFETY: `&mut self`: no other reference to the arena exists, so
        // nothing else uses it during the call, and no reference into the
        // reclaimed frame survives it (they all borrowed the arena).
        if let Some(payload) = unsafe { self.reclaim() } {
            resume_unwind(payload);
        }
    }

    /// [`begin_frame`](Self::begin_frame) through a shared reference: the
    /// reclaim protocol, written so that it creates no `&mut FrameArena`
    /// (only `&mut` to the lanes, which are separate allocations). A
    /// [`FrameHost`](crate::FrameHost) calls it while published frame data
    /// still holds `&FrameArena`s (a `FrameAlloc` in a published map): under
    /// Rust's aliasing rules a `&mut FrameArena` would invalidate them, and
    /// the data of the frame that just ended is still read in the next one.
    /// Everything it writes in the arena itself is atomic (`key`, `epoch`,
    /// `high_water`, `budget_left`).
    ///
    /// # Safety
    ///
    /// For the duration of the call, nothing else uses the arena: no other
    /// thread is inside one of its methods or holds a [`Lane`], and no
    /// reference into the frame being reclaimed (the one before the frame
    /// that is ending) is used again, here or after the call. Values holding
    /// `&FrameArena` may exist, as long as they are not used meanwhile.
    ///
    /// Never unwinds: the first panic of a destructor is returned, for the
    /// caller to resume once it is done.
    #[must_use]
    pub(crate) unsafe fn reclaim(&self) -> Option<Payload> {
        tickmem_tracy::zone!("tickmem::begin_frame");
        // 1. The reclaimed frame is dead for handles (`is_live` compares
        // epochs) and for every thread's lane cache (the key), before any of
        // its destructors runs: even if one panics, nothing can reach it.
        self.key.store(fresh_id(), Relaxed);
        let epoch = self.epoch();
        let ending = (epoch & 1) as usize;
        let reclaimed = ending ^ 1;
        self.epoch.store(epoch + 1, Relaxed);
        if let Some(limit) = self.config.frame_byte_limit {
            self.budget_left.store(limit, Relaxed);
        }
        // SAFETY: the caller guarantees that nothing else uses the arena
        // during this call, so no other reference to a lane is used while
        // these exist; they are dropped before the call returns.
        let lanes = || unsafe { self.lanes.iter_exclusive() };
        // 2. Every lane's destructors, before any lane's memory is touched.
        // `run_drops` never unwinds; it hands back the first panic.
        let mut panic = None;
        let mut frame_peak = 0;
        for lane in lanes() {
            frame_peak += lane.halves[ending].peak();
            keep_first(&mut panic, lane.run_drops(reclaimed));
        }
        self.high_water.fetch_max(frame_peak, Relaxed);
        // 3. Every lane's memory, and the end of the period: no thread holds
        // a lane any more (nothing else uses the arena: no `Lane` is alive).
        // Freeing, resizing and trimming chunks is tickmem's housekeeping
        // (no user code runs here): not charged to allocation budgets.
        tickmem_track::housekeeping(|| {
            for lane in lanes() {
                lane.reset_half(reclaimed, &self.config);
                lane.release();
            }
        });
        panic
    }

    /// This thread's lane, for many allocations in a row without the
    /// per-call lane lookup. See [`Lane`].
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let lane = arena.lane();
    /// let xs: Vec<&mut u64> = (0..10).map(|i| lane.alloc(i)).collect();
    /// assert_eq!(*xs[9], 9);
    /// ```
    #[inline(always)]
    pub fn lane(&self) -> Lane<'_> {
        let cached = LANE_CACHE.with(Cell::get);
        if cached.key == self.key.load(Relaxed) {
            // SAFETY: the cache holds a key only as written by `lane_slow` on
            // this thread, with the lane this thread claimed in the arena
            // whose key it was. Keys are never reused, an arena's key changes
            // on every `&mut` access (which is also the only time claims are
            // released and lanes freed): so `self` is that arena, the lane is
            // alive, and this thread still holds its claim for the period.
            // The pointer comes from the lane list's raw pointers (see
            // `LaneList`), so it is still valid for shared access.
            let state = unsafe { &*cached.lane };
            // SAFETY: this thread holds `state`'s claim (above).
            unsafe { Lane::new(self, state) }
        } else {
            self.lane_slow()
        }
    }

    /// Find and claim a lane for this thread for the current period: the
    /// lane it used last (if free or already its own), else a lane it held
    /// in an earlier period, else any free lane, else a new one.
    #[cold]
    #[inline(never)]
    fn lane_slow(&self) -> Lane<'_> {
        let token = thread_token();
        let lane = self.claim(token);
        // SAFETY: lanes live until the arena is dropped (`&mut self`), so for
        // this borrow; `claim` made the pointer from the lane list's own raw
        // pointer (see `LaneList`).
        let state = unsafe { lane.as_ref() };
        let half = &state.halves[(self.epoch() & 1) as usize];
        LANE_CACHE.with(|cache| {
            cache.set(CachedLane {
                key: self.key.load(Relaxed),
                arena: self.id,
                lane: lane.as_ptr(),
                half: ptr::from_ref(half),
            });
        });
        // SAFETY: `claim` returned a lane whose claim this thread holds.
        unsafe { Lane::new(self, state) }
    }

    /// A lane whose claim the thread with token `token` (the caller) holds
    /// for the current period.
    fn claim(&self, token: u64) -> NonNull<LaneState> {
        // SAFETY (for each `as_ref` below): the pointers come from the lane
        // list (directly or through this thread's cache, see below), and
        // lanes live until their arena is dropped, which needs `&mut self`.
        let cached = LANE_CACHE.with(Cell::get);
        if cached.arena == self.id {
            // The cache names a lane of the arena with id `cached.arena`; ids
            // are never reused and `self` has it, so it is a lane of `self`.
            let lane = NonNull::new(cached.lane.cast_mut()).expect("a cached lane is non-null");
            // SAFETY: see the top of the function.
            if unsafe { lane.as_ref() }.try_claim(token) {
                return lane;
            }
        }
        let mine = |lane: &NonNull<LaneState>| {
            // SAFETY: see the top of the function.
            let lane = unsafe { lane.as_ref() };
            lane.owner() == token || (lane.last_owner() == token && lane.try_claim(token))
        };
        if let Some(lane) = self.lanes.iter_ptrs().find(mine) {
            return lane;
        }
        // SAFETY: see the top of the function.
        let free = |lane: &NonNull<LaneState>| unsafe { lane.as_ref() }.try_claim(token);
        if let Some(lane) = self.lanes.iter_ptrs().find(free) {
            return lane;
        }
        // A new lane (its box and first chunks) is tickmem's housekeeping.
        tickmem_track::housekeeping(|| {
            let index = self.next_lane.fetch_add(1, Relaxed);
            self.lanes
                .push(LaneState::new(index, self.id, &self.config, token))
        })
    }

    /// The fast path of the allocation methods: this thread's cached lane
    /// half, charged and bumped in place without building a [`Lane`].
    /// `None` when the cache is stale or the lane needs its slow path.
    #[inline(always)]
    fn alloc_fast(&self, layout: Layout) -> Option<NonNull<u8>> {
        let cached = LANE_CACHE.with(Cell::get);
        if cached.key != self.key.load(Relaxed) {
            return None;
        }
        // SAFETY: as in `lane`: with a current key the cached half belongs to
        // a live lane of `self` whose claim this thread holds; the key
        // changes every frame, so it is the half of the current frame.
        let half = unsafe { &*cached.half };
        // SAFETY: this thread holds the lane's claim (above), current frame.
        unsafe { half.try_bump(layout) }
    }

    /// An allocator handle for `allocator_api2` collections (`Vec`,
    /// hashbrown's `HashMap`, ...) living in the current frame. It is
    /// `Copy + Send + Sync`: each call allocates from the calling thread's
    /// lane. See [`FrameAlloc`]. Pre-size the collections (memory is not
    /// reused within a frame: a growing one leaves its old buffers behind),
    /// and give hashbrown maps their hasher
    /// (`HashMap::with_capacity_and_hasher_in`).
    ///
    /// ```
    /// use allocator_api2::vec::Vec;
    /// let arena = tickmem_frame::FrameArena::new();
    /// let mut v = Vec::new_in(arena.allocator());
    /// v.extend_from_slice(&[1, 2, 3]);
    /// assert_eq!(v.iter().sum::<i32>(), 6);
    /// ```
    #[inline]
    pub fn allocator(&self) -> FrameAlloc<'_> {
        FrameAlloc::new(self)
    }

    /// Move `value` into the current frame; see [`Lane::alloc`].
    ///
    /// # Panics
    ///
    /// With the [`FrameAllocError`] message when the frame's byte limit is
    /// reached or memory runs out.
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let v = arena.alloc([1.0f32; 16]);
    /// v[0] = 2.0;
    /// assert_eq!(v.iter().sum::<f32>(), 17.0);
    /// ```
    ///
    /// A value with a destructor cannot borrow local data (the destructor
    /// runs when the frame is reclaimed, after the data is gone):
    ///
    /// ```compile_fail
    /// struct Report<'a>(&'a String);
    /// impl Drop for Report<'_> {
    ///     fn drop(&mut self) { println!("{}", self.0); }
    /// }
    /// let arena = tickmem_frame::FrameArena::new();
    /// let text = String::from("late");
    /// arena.alloc(Report(&text)); // error: `text` does not live long enough
    /// ```
    ///
    /// nor be `!Send` (it is dropped on the thread that reclaims the frame):
    ///
    /// ```compile_fail
    /// let arena = tickmem_frame::FrameArena::new();
    /// arena.alloc(std::rc::Rc::new(1)); // error: `Rc` cannot be sent between threads
    /// ```
    #[inline(always)]
    #[track_caller]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn alloc<T: Send + 'static>(&self, value: T) -> &mut T {
        if mem::needs_drop::<T>() {
            return self.lane().alloc(value);
        }
        self.place(value)
    }

    /// Move `value` into fresh frame memory without registering a
    /// destructor (callers make sure none is needed). The value is written
    /// once the memory is found, so the fast path does not need it in memory
    /// first.
    #[inline(always)]
    #[track_caller]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    fn place<T>(&self, value: T) -> &mut T {
        let ptr = match self.alloc_fast(Layout::new::<T>()) {
            Some(ptr) => ptr,
            None => self.alloc_slow(Layout::new::<T>()),
        }
        .cast::<T>();
        // SAFETY: fresh memory, sized and aligned for `T`.
        unsafe { ptr.as_ptr().write(value) };
        // SAFETY: initialised; valid until the frame is reclaimed, which
        // needs `&mut self`, after this borrow ends.
        unsafe { &mut *ptr.as_ptr() }
    }

    /// The slow path of the panicking allocation methods.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn alloc_slow(&self, layout: Layout) -> NonNull<u8> {
        match self.lane().raw_alloc(layout) {
            Ok(ptr) => ptr,
            Err(err) => alloc_failed(err),
        }
    }

    /// The slow path of the `try_*` allocation methods.
    #[cold]
    #[inline(never)]
    fn try_alloc_slow(&self, layout: Layout) -> Result<NonNull<u8>, FrameAllocError> {
        self.lane().raw_alloc(layout)
    }

    /// Like [`alloc`](Self::alloc), returning an error instead of panicking.
    ///
    /// ```
    /// use tickmem_frame::{FrameArena, FrameConfig};
    /// let arena = FrameArena::with_config(FrameConfig::default().frame_byte_limit(Some(4)));
    /// let err = arena.try_alloc(0u64).unwrap_err();
    /// assert_eq!(err.requested(), 8);
    /// assert_eq!(err.remaining(), Some(4));
    /// ```
    #[inline(always)]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn try_alloc<T: Send + 'static>(&self, value: T) -> Result<&mut T, FrameAllocError> {
        if mem::needs_drop::<T>() {
            return self.lane().try_alloc(value);
        }
        let ptr = match self.alloc_fast(Layout::new::<T>()) {
            Some(ptr) => ptr,
            None => self.try_alloc_slow(Layout::new::<T>())?,
        }
        .cast::<T>();
        // SAFETY: fresh memory, sized and aligned for `T`.
        unsafe { ptr.as_ptr().write(value) };
        // SAFETY: as in `alloc`.
        Ok(unsafe { &mut *ptr.as_ptr() })
    }

    /// Move a `Copy` value into the current frame; see [`Lane::alloc_copy`].
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// assert_eq!(*arena.alloc_copy(3u8), 3);
    /// ```
    #[inline(always)]
    #[track_caller]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn alloc_copy<T: Copy>(&self, value: T) -> &mut T {
        // `Copy` types have no destructor.
        self.place(value)
    }

    /// Copy `src` into the current frame; see [`Lane::alloc_slice_copy`].
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// assert_eq!(arena.alloc_slice_copy(&[1u16, 2]), &[1, 2]);
    /// ```
    #[inline]
    #[track_caller]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn alloc_slice_copy<T: Copy>(&self, src: &[T]) -> &mut [T] {
        match self.try_alloc_slice_copy(src) {
            Ok(slice) => slice,
            Err(err) => alloc_failed(err),
        }
    }

    /// Like [`alloc_slice_copy`](Self::alloc_slice_copy), returning an
    /// error instead of panicking.
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// assert!(arena.try_alloc_slice_copy(&[0u8; 10]).is_ok());
    /// ```
    #[inline]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn try_alloc_slice_copy<T: Copy>(&self, src: &[T]) -> Result<&mut [T], FrameAllocError> {
        let layout = Layout::for_value(src);
        let ptr = match self.alloc_fast(layout) {
            Some(ptr) => ptr,
            None => self.try_alloc_slow(layout)?,
        }
        .cast::<T>();
        // SAFETY: the fresh block holds `src.len()` `T`s and cannot overlap `src`.
        unsafe { ptr::copy_nonoverlapping(src.as_ptr(), ptr.as_ptr(), src.len()) };
        // SAFETY: initialised just above; valid as in `alloc`.
        Ok(unsafe { std::slice::from_raw_parts_mut(ptr.as_ptr(), src.len()) })
    }

    /// Allocate a slice of `len` values made by `f(index)`; see
    /// [`Lane::alloc_slice_fill_with`].
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let names = arena.alloc_slice_fill_with(3, |i| format!("enemy{i}"));
    /// assert_eq!(names[2], "enemy2");
    /// ```
    #[inline]
    #[track_caller]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn alloc_slice_fill_with<T: Send + 'static>(
        &self,
        len: usize,
        f: impl FnMut(usize) -> T,
    ) -> &mut [T] {
        self.lane().alloc_slice_fill_with(len, f)
    }

    /// Like [`alloc_slice_fill_with`](Self::alloc_slice_fill_with),
    /// returning an error instead of panicking.
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// assert_eq!(arena.try_alloc_slice_fill_with(2, |i| i).unwrap(), &[0, 1]);
    /// ```
    #[inline]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn try_alloc_slice_fill_with<T: Send + 'static>(
        &self,
        len: usize,
        f: impl FnMut(usize) -> T,
    ) -> Result<&mut [T], FrameAllocError> {
        self.lane().try_alloc_slice_fill_with(len, f)
    }

    /// Copy `src` into the current frame; see [`Lane::alloc_str`].
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// assert_eq!(arena.alloc_str("hello"), "hello");
    /// ```
    #[inline]
    #[track_caller]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn alloc_str(&self, src: &str) -> &mut str {
        match self.try_alloc_str(src) {
            Ok(s) => s,
            Err(err) => alloc_failed(err),
        }
    }

    /// Like [`alloc_str`](Self::alloc_str), returning an error instead of
    /// panicking.
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// assert_eq!(arena.try_alloc_str("hi").unwrap(), "hi");
    /// ```
    #[inline]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn try_alloc_str(&self, src: &str) -> Result<&mut str, FrameAllocError> {
        let bytes = self.try_alloc_slice_copy(src.as_bytes())?;
        // SAFETY: the bytes were copied from a `str`, so they are UTF-8.
        Ok(unsafe { std::str::from_utf8_unchecked_mut(bytes) })
    }

    /// An empty [`FrameVec`] in the current frame. Prefer
    /// [`vec_with_capacity`](Self::vec_with_capacity) when the size is
    /// known: memory is not reused within a frame, so each time a vector
    /// grows its old buffer stays behind until the frame is reclaimed
    /// (unless it was the lane's last allocation).
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let mut draw_list = arena.vec();
    /// draw_list.push((1u32, 0.5f32));
    /// assert_eq!(draw_list.len(), 1);
    /// ```
    #[inline]
    pub fn vec<T>(&self) -> FrameVec<'_, T> {
        FrameVec::new_in(self.allocator())
    }

    /// A [`FrameVec`] with room for `capacity` values.
    ///
    /// # Panics
    ///
    /// As [`alloc`](Self::alloc).
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let v = arena.vec_with_capacity::<u64>(100);
    /// assert!(v.capacity() >= 100 && v.is_empty());
    /// ```
    #[inline]
    #[track_caller]
    pub fn vec_with_capacity<T>(&self, capacity: usize) -> FrameVec<'_, T> {
        FrameVec::with_capacity_in(capacity, self.allocator())
    }

    /// Move `value` into the current frame and return a `'static`
    /// [`FrameHandle`] to it: [`get`](Self::get) returns it in this frame
    /// and the next. Its destructor runs when the frame is reclaimed.
    ///
    /// # Panics
    ///
    /// As [`alloc`](Self::alloc).
    ///
    /// ```
    /// let mut arena = tickmem_frame::FrameArena::new();
    /// let path = arena.persist(vec![(0, 0), (1, 0), (1, 1)]);
    /// arena.begin_frame();
    /// assert_eq!(arena.get(path).map(|p| p.len()), Some(3));
    /// ```
    #[inline]
    #[track_caller]
    pub fn persist<T: Send + Sync + 'static>(&self, value: T) -> FrameHandle<T> {
        self.lane().persist(value)
    }

    /// Like [`persist`](Self::persist), returning an error instead of
    /// panicking.
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let h = arena.try_persist(5u8).unwrap();
    /// assert_eq!(arena.get(h), Some(&5));
    /// ```
    #[inline]
    pub fn try_persist<T: Send + Sync + 'static>(
        &self,
        value: T,
    ) -> Result<FrameHandle<T>, FrameAllocError> {
        self.lane().try_persist(value)
    }

    /// The value behind `handle`: `Some` in the frame it was persisted in
    /// and the next one; `None` after that, and for a handle of another
    /// arena. Only the numbers in the handle are checked before the value is
    /// read, so a stale handle is never UB. A frame is dead for handles
    /// before any of its destructors runs, even when one of them panics.
    ///
    /// ```
    /// use tickmem_frame::FrameArena;
    /// let (mut a, b) = (FrameArena::new(), FrameArena::new());
    /// let h = a.persist(1u32);
    /// assert_eq!(b.get(h), None); // another arena's handle
    /// a.begin_frame();
    /// a.begin_frame();
    /// assert_eq!(a.get(h), None); // reclaimed
    /// ```
    #[inline]
    pub fn get<T>(&self, handle: FrameHandle<T>) -> Option<&T> {
        if !self.is_live(handle) {
            return None;
        }
        // SAFETY: the handle was made by `persist` on this arena (ids are
        // unique and handles cannot be forged) for an initialised `T:
        // Send + Sync` in frame `handle.epoch`, which is this frame or the
        // previous one, so its memory has not been reclaimed and its
        // destructor has not run; reclaiming needs `&mut self`, so not while
        // the returned borrow of `self` lives. Nothing mutates the value
        // (no `&mut` to it is ever handed out).
        Some(unsafe { handle.ptr.cast::<T>().as_ref() })
    }

    /// `true` when [`get`](Self::get) would return `Some`.
    ///
    /// ```
    /// let mut arena = tickmem_frame::FrameArena::new();
    /// let h = arena.persist(());
    /// arena.begin_frame();
    /// assert!(arena.is_live(h));
    /// arena.begin_frame();
    /// assert!(!arena.is_live(h));
    /// ```
    #[inline]
    pub fn is_live<T>(&self, handle: FrameHandle<T>) -> bool {
        handle.arena == self.id
            && self
                .epoch()
                .checked_sub(handle.epoch)
                .is_some_and(|age| age <= 1)
    }

    /// Bytes the calling thread's lane has bumped in the current frame (0
    /// when this thread has not allocated from the arena in this frame),
    /// including bytes collections gave back since (see
    /// [`FrameStats::bumped_this_frame`]). Does not claim or create a lane.
    /// It only grows within a frame: a difference of two readings on one
    /// thread is what that thread allocated in between (used by
    /// tickmem-ecs's per-system attribution).
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// assert_eq!(arena.thread_bytes_this_frame(), 0);
    /// arena.alloc([0u8; 64]);
    /// assert_eq!(arena.thread_bytes_this_frame(), 64);
    /// let v = allocator_api2::vec::Vec::<u8, _>::with_capacity_in(32, arena.allocator());
    /// drop(v); // given back to the lane: still counted
    /// assert_eq!(arena.thread_bytes_this_frame(), 96);
    /// ```
    pub fn thread_bytes_this_frame(&self) -> usize {
        // A thread holds at most one lane of an arena per period (claims are
        // released at every `&mut` access, i.e. every frame).
        let token = thread_token();
        let current = (self.epoch() & 1) as usize;
        self.lanes
            .iter()
            .find(|lane| lane.owner() == token)
            .map_or(0, |lane| lane.halves[current].bumped())
    }

    /// Number of lanes: the most threads that allocated from this arena
    /// within one frame (see [Lanes](Self#lanes)).
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// assert_eq!(arena.lanes(), 0);
    /// arena.alloc(1u8);
    /// assert_eq!(arena.lanes(), 1);
    /// ```
    pub fn lanes(&self) -> usize {
        self.next_lane.load(Relaxed)
    }

    /// What the arena holds and has used; see [`FrameStats`].
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// arena.alloc([0u8; 100]);
    /// assert_eq!(arena.stats().bytes_this_frame, 100);
    /// ```
    pub fn stats(&self) -> FrameStats {
        let current = (self.epoch() & 1) as usize;
        let mut stats = FrameStats {
            epoch: self.epoch(),
            ..FrameStats::default()
        };
        for lane in self.lanes.iter() {
            let (this, last) = (&lane.halves[current], &lane.halves[current ^ 1]);
            stats.bytes_this_frame += this.used();
            stats.bumped_this_frame += this.bumped();
            stats.peak_this_frame += this.peak();
            stats.bytes_last_frame += last.used();
            stats.bumped_last_frame += last.bumped();
            stats.peak_last_frame += last.peak();
            stats.chunks += lane.chunks.load(Relaxed);
            stats.bytes_reserved += lane.reserved.load(Relaxed);
            stats.global_alloc_calls += lane.global_calls.load(Relaxed);
            stats.lanes += 1;
        }
        stats.high_water_bytes = self.high_water.load(Relaxed).max(stats.peak_this_frame);
        stats
    }
}

impl Drop for FrameArena {
    /// Runs the destructors of both live frames (the older first, every
    /// lane's before any memory is freed), then frees every chunk. A
    /// panicking destructor does not stop the others; the first panic
    /// resumes once all ran (unless the arena is dropped while the thread
    /// is already panicking: then it is dropped, rather than aborting).
    fn drop(&mut self) {
        let current = (self.epoch() & 1) as usize;
        let mut panic = None;
        for half in [current ^ 1, current] {
            for lane in self.lanes.iter_mut() {
                keep_first(&mut panic, lane.run_drops(half));
            }
        }
        for lane in self.lanes.iter_mut() {
            lane.discard_pools();
        }
        // The chunks are freed when `self.lanes` is dropped, after this.
        match panic {
            Some(payload) if std::thread::panicking() => drop_payload(payload),
            Some(payload) => resume_unwind(payload),
            None => {}
        }
    }
}
