//! Per-thread lanes: two bumps (one per epoch parity), their destructor
//! lists, byte grants and counters; and [`Lane`], a thread's view of its lane.

use std::alloc::Layout;
use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::mem;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::{self, NonNull};
use std::slice;
use std::sync::atomic::{
    AtomicPtr, AtomicU64, AtomicUsize,
    Ordering::{Acquire, Relaxed},
};

use allocator_api2::alloc::Allocator;
use bumpalo::Bump;
use tickmem_tracy::MemoryPool;

use crate::arena::FrameArena;
use crate::config::FrameConfig;
use crate::error::{FrameAllocError, alloc_failed};
use crate::handle::FrameHandle;
use crate::owner::OwnerOnly;
use crate::vec::FrameVec;

// ---------------------------------------------------------------------------
// Destructor lists

/// A destructor to run when a frame is reclaimed: `len` values of one type
/// at `data`. Nodes live in the bump of the frame they belong to (no global
/// allocation) and form a singly linked list, newest first.
#[derive(Clone, Copy)]
struct DropNode {
    next: Option<NonNull<DropNode>>,
    data: NonNull<u8>,
    len: usize,
    drop_fn: unsafe fn(NonNull<u8>, usize) -> Option<Payload>,
}

/// Drops `len` values of `T` at `data`, one by one, each under
/// `catch_unwind`: a panicking destructor does not stop the others (and two
/// panicking values never make a double panic). Returns the first panic's
/// payload.
///
/// # Safety
///
/// `data` points to `len` initialised values of `T` that nothing uses again.
unsafe fn drop_values<T>(data: NonNull<u8>, len: usize) -> Option<Payload> {
    let data = data.cast::<T>();
    let mut first = None;
    for i in 0..len {
        // SAFETY: `i < len`: inside the caller's `len` values.
        let value = unsafe { data.add(i) };
        let drop_one = || {
            // SAFETY: each of the caller's initialised, unused values is
            // dropped once, here; a panic in its destructor is caught below,
            // and the loop goes on with the next value.
            unsafe { ptr::drop_in_place(value.as_ptr()) }
        };
        if let Err(payload) = catch_unwind(AssertUnwindSafe(drop_one)) {
            keep_first(&mut first, Some(payload));
        }
    }
    first
}

/// The layout of a [`DropNode`] followed by `value`, and the value's offset.
fn with_node(value: Layout) -> Option<(Layout, usize)> {
    Layout::new::<DropNode>().extend(value).ok()
}

/// The destructors registered in one frame half of one lane.
struct DropList {
    head: Cell<Option<NonNull<DropNode>>>,
}

// SAFETY: the nodes, and the values they drop, live in the arena's memory
// and stay there until the list has run. Every registration requires the
// value type to be `Send`, so running the destructors on another thread (the
// one calling `begin_frame`, or dropping the arena) is sound.
unsafe impl Send for DropList {}

impl DropList {
    const fn new() -> Self {
        DropList {
            head: Cell::new(None),
        }
    }

    /// Link `node` in front of the list.
    ///
    /// # Safety
    ///
    /// `node` points to an initialised `DropNode` that is not in any list,
    /// in memory that stays allocated until the list is run, describing
    /// values that are initialised (or become so before the list runs).
    unsafe fn push(&self, node: NonNull<DropNode>) {
        // SAFETY: the caller guarantees `node` is valid and unlinked.
        unsafe { (*node.as_ptr()).next = self.head.get() };
        self.head.set(Some(node));
    }

    /// Run every destructor, newest first, each exactly once: a node is
    /// unlinked before its values are dropped. Never unwinds: a panicking
    /// destructor is caught (see [`drop_values`]), the others still run,
    /// and the first panic's payload is returned for the caller to resume
    /// once the arena is consistent again.
    ///
    /// # Safety
    ///
    /// The memory of the nodes and values is still allocated, and no
    /// reference to the values is alive (the caller holds `&mut` to the arena).
    #[must_use]
    unsafe fn run(&mut self) -> Option<Payload> {
        let mut first = None;
        while let Some(node) = self.head.get() {
            // SAFETY: every linked node is initialised and still allocated.
            let DropNode {
                next,
                data,
                len,
                drop_fn,
            } = unsafe { node.as_ptr().read() };
            self.head.set(next);
            // SAFETY: the node was registered for `len` initialised values of
            // the type `drop_fn` drops; it is unlinked now, so they are
            // dropped exactly once, and nothing refers to them any more.
            keep_first(&mut first, unsafe { drop_fn(data, len) });
        }
        first
    }
}

/// A caught panic's payload.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// Keep the first panic payload in `slot`; later ones are dropped (see
/// [`drop_payload`]).
pub(crate) fn keep_first(slot: &mut Option<Payload>, payload: Option<Payload>) {
    let Some(payload) = payload else { return };
    if slot.is_none() {
        *slot = Some(payload);
    } else {
        drop_payload(payload);
    }
}

/// Drop a panic payload that will not be resumed. A payload whose own
/// destructor panics is leaked instead of unwinding (or aborting, when the
/// thread is already panicking).
pub(crate) fn drop_payload(payload: Payload) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        mem::forget(again);
    }
}

// ---------------------------------------------------------------------------
// Lane state

/// Add to a counter that only one thread writes at a time (the lane's owner,
/// or the holder of `&mut`): a plain load and store, no read-modify-write.
#[inline(always)]
fn add_usize(counter: &AtomicUsize, n: usize) {
    counter.store(counter.load(Relaxed) + n, Relaxed);
}

#[inline(always)]
fn add_u64(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed) + n, Relaxed);
}

/// A fresh bump with `capacity` bytes (none if 0), its chunk-growth trap
/// set; `None` when the global allocator refuses the chunk.
fn new_bump(capacity: usize) -> Option<Bump> {
    let bump = if capacity == 0 {
        Bump::new()
    } else {
        Bump::try_with_capacity(capacity).ok()?
    };
    bump.set_allocation_limit(Some(bump.allocated_bytes()));
    Some(bump)
}

/// Alignment of the end of every block (and of their sizes).
const BLOCK_ALIGN: usize = 8;

/// A zero-sized, 4096-aligned static: the cursor of a half without a block
/// points here, so zero-sized requests succeed without touching memory and
/// every sized one falls into the slow path.
#[repr(align(4096))]
struct Sentinel;

static SENTINEL: Sentinel = Sentinel;

fn sentinel() -> *mut u8 {
    ptr::from_ref(&SENTINEL).cast::<u8>().cast_mut()
}

/// One frame half of a lane: the memory of every frame of one epoch parity.
///
/// Allocation bumps `cur` down towards `start` inside a *block*: memory
/// taken from bumpalo's current chunk in one piece (all it has left, or what
/// the frame's byte limit still grants). The hot path is two loads, a
/// compare and a store, with no accounting: `taken` (bytes of blocks taken
/// this frame) changes only when a block is taken, and the bytes in use are
/// `taken - (cur - start)`. The cursor moves *up* only when an
/// `allocator_api2` collection gives its block back ([`Lane::deallocate_block`]):
/// that slow path adds the bytes to `returned` and records the in-use level
/// before it in `peak`, so bytes bumped (`used + returned`) and the in-use
/// peak (`max(peak, used)`) need nothing on the allocation fast path. All
/// are atomics written only by the owner thread (plain loads and stores) so
/// that `stats` can read them from any thread.
pub(crate) struct Half {
    cur: AtomicPtr<u8>,
    start: AtomicPtr<u8>,
    taken: AtomicUsize,
    /// Bytes given back to the block this frame (the cursor moved up).
    returned: AtomicUsize,
    /// The in-use level before the latest give-back, if it was the highest
    /// so far this frame.
    peak: AtomicUsize,
    local: OwnerOnly<HalfLocal>,
}

impl Half {
    fn new(local: HalfLocal) -> Self {
        Half {
            cur: AtomicPtr::new(sentinel()),
            start: AtomicPtr::new(sentinel()),
            taken: AtomicUsize::new(0),
            returned: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            local: OwnerOnly::new(local),
        }
    }

    /// Bytes consumed by this half's current frame: sizes, alignment padding,
    /// and the unused ends of blocks left behind for a new chunk. Exact
    /// when the owner is not allocating; otherwise the three counters may be
    /// read in the middle of an update and the number is approximate.
    pub(crate) fn used(&self) -> usize {
        let taken = self.taken.load(Relaxed);
        let start = self.start.load(Relaxed).addr();
        let left = self.cur.load(Relaxed).addr().saturating_sub(start);
        taken.saturating_sub(left)
    }

    /// Bytes bumped in this half's current frame: what is in use plus what
    /// collections gave back (and may have been bumped again). Approximate
    /// while the owner allocates, as [`used`](Self::used).
    pub(crate) fn bumped(&self) -> usize {
        self.used() + self.returned.load(Relaxed)
    }

    /// The most bytes in use at once in this half's current frame.
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Relaxed).max(self.used())
    }

    /// The allocation fast path: bump `layout` out of the current block, or
    /// `None` (nothing changed) when it does not fit.
    ///
    /// # Safety
    ///
    /// Called on the thread that holds the claim of the lane holding this
    /// half for the current period, for the arena's current frame.
    #[inline(always)]
    pub(crate) unsafe fn try_bump(&self, layout: Layout) -> Option<NonNull<u8>> {
        let cur = self.cur.load(Relaxed);
        let start = self.start.load(Relaxed);
        if layout.size() > cur.addr() - start.addr() {
            return None;
        }
        let ptr = cur.wrapping_sub(layout.size());
        let ptr = ptr.wrapping_sub(ptr.addr() & (layout.align() - 1));
        if ptr.addr() < start.addr() {
            return None;
        }
        self.cur.store(ptr, Relaxed);
        // SAFETY: `ptr >= start`, and `start` is never null (a block or the
        // sentinel).
        Some(unsafe { NonNull::new_unchecked(ptr) })
    }

    /// Forget the block (the frame is being reclaimed).
    fn clear(&mut self) {
        *self.cur.get_mut() = sentinel();
        *self.start.get_mut() = sentinel();
        *self.taken.get_mut() = 0;
        *self.returned.get_mut() = 0;
        *self.peak.get_mut() = 0;
    }
}

/// The owner-only part of a [`Half`].
struct HalfLocal {
    /// The bump. Its allocation limit is always its current capacity: bumpalo
    /// checks the limit only when it needs a new chunk, so the fast path is
    /// untouched and every chunk growth fails into our slow path
    /// ([`Lane::with_growth`]), which counts it.
    bump: Bump,
    /// Bytes of the frame limit this half may take as blocks in its current
    /// frame (`usize::MAX` when there is no limit). Invariant:
    /// `granted >= taken`.
    granted: Cell<usize>,
    drops: DropList,
    /// Chunks the bump holds.
    chunks: Cell<usize>,
    /// Tracy memory pool showing this half's chunks.
    pool: MemoryPool,
}

/// Trimming state of a lane, only touched under `&mut`.
#[derive(Debug, Default)]
struct Policy {
    /// Bytes the largest recent frame consumed on this lane.
    high_water: usize,
    /// Consecutive quiet frames (consuming at most half of `high_water`).
    quiet: u32,
    /// Largest frame of the current quiet streak.
    quiet_peak: usize,
    /// A trim happened; each half shrinks at its next reclaim.
    trim_pending: [bool; 2],
}

impl Policy {
    /// Account one finished frame that consumed `consumed` bytes; returns
    /// `true` when the high-water mark was lowered (a trim).
    fn observe(&mut self, consumed: usize, trim_after: u32) -> bool {
        if consumed > self.high_water / 2 {
            self.high_water = self.high_water.max(consumed);
            self.quiet = 0;
            self.quiet_peak = 0;
            return false;
        }
        self.quiet += 1;
        self.quiet_peak = self.quiet_peak.max(consumed);
        if trim_after != 0 && self.quiet >= trim_after {
            self.high_water = self.quiet_peak;
            self.quiet = 0;
            self.quiet_peak = 0;
            self.trim_pending = [true, true];
            return true;
        }
        false
    }
}

/// A lane: two frame halves and their counters, bumped by the one thread
/// that holds the lane's claim in the current period (see [`owner`](Self::owner)).
pub(crate) struct LaneState {
    /// Lane number, in order of creation.
    pub(crate) index: usize,
    pub(crate) halves: [Half; 2],
    /// Chunks held by both halves (owner-written, any-thread-read).
    pub(crate) chunks: AtomicUsize,
    /// Chunk bytes held by both halves.
    pub(crate) reserved: AtomicUsize,
    /// Global-allocator calls made for this lane's chunks.
    pub(crate) global_calls: AtomicU64,
    /// The claim: the token ([`thread_token`](crate::arena::thread_token)) of
    /// the thread that bumps this lane in the current *period* (the time
    /// between two `&mut` accesses of the arena), or 0 when no thread has
    /// claimed it yet. Taken with a compare-exchange from 0 by
    /// [`try_claim`](Self::try_claim); released only under `&mut`
    /// ([`release`](Self::release)), when no `Lane` and no `&FrameArena`
    /// exist, so a claim is held by at most one thread, for the whole
    /// period, even if that thread exits (its TLS destructors may still
    /// allocate) — tokens are never reused.
    owner: AtomicU64,
    /// The token of the thread that held the claim in an earlier period: a
    /// thread prefers its own lane back (its chunks are sized for its work).
    /// Written only under `&mut`.
    last_owner: u64,
    policy: Policy,
    /// The last failure of an `Allocator` call, for `FrameVec`'s panic message.
    last_error: OwnerOnly<Cell<Option<FrameAllocError>>>,
}

impl LaneState {
    /// A new lane, already claimed by the thread with token `owner`. Each
    /// half reserves `config.lane_capacity` bytes up front; if the global
    /// allocator refuses that, the half starts without a chunk (and gets one
    /// sized to its first request), so that `try_*` methods report a failure
    /// as an error instead of panicking.
    pub(crate) fn new(index: usize, arena_id: u64, config: &FrameConfig, owner: u64) -> Self {
        let granted = if config.frame_byte_limit.is_some() {
            0
        } else {
            usize::MAX
        };
        let half = |parity: &str| {
            let bump = new_bump(config.lane_capacity)
                .or_else(|| new_bump(0))
                .expect("a bump without a chunk allocates nothing");
            let chunks = usize::from(bump.allocated_bytes() > 0);
            let pool = MemoryPool::new(format!(
                "tickmem/frame/arena{arena_id}/lane{index}/{parity}"
            ));
            Half::new(HalfLocal {
                bump,
                granted: Cell::new(granted),
                drops: DropList::new(),
                chunks: Cell::new(chunks),
                pool,
            })
        };
        let mut lane = LaneState {
            index,
            halves: [half("even"), half("odd")],
            chunks: AtomicUsize::new(0),
            reserved: AtomicUsize::new(0),
            global_calls: AtomicU64::new(0),
            owner: AtomicU64::new(owner),
            last_owner: owner,
            policy: Policy::default(),
            last_error: OwnerOnly::new(Cell::new(None)),
        };
        let mut calls = 0;
        for half in &mut lane.halves {
            let local = half.local.get_mut();
            calls += local.chunks.get() as u64;
            report_retained(local);
        }
        *lane.global_calls.get_mut() = calls;
        lane.refresh_totals();
        lane
    }

    /// Claim this lane for the thread with token `token` for the current
    /// period: `true` if it was free (now claimed) or already this thread's.
    #[inline]
    pub(crate) fn try_claim(&self, token: u64) -> bool {
        let owner = self.owner.load(Acquire);
        owner == token
            || (owner == 0
                && self
                    .owner
                    .compare_exchange(0, token, Acquire, Relaxed)
                    .is_ok())
    }

    /// The thread that holds the claim (0: none).
    #[inline]
    pub(crate) fn owner(&self) -> u64 {
        self.owner.load(Relaxed)
    }

    /// The thread that held the claim in the last period it was claimed.
    #[inline]
    pub(crate) fn last_owner(&self) -> u64 {
        self.last_owner
    }

    /// End the period: free the claim (`&mut`: no thread is using the lane).
    pub(crate) fn release(&mut self) {
        let owner = mem::take(self.owner.get_mut());
        if owner != 0 {
            self.last_owner = owner;
        }
    }

    /// Recompute the chunk and reserved totals of both halves.
    fn refresh_totals(&mut self) {
        let (mut chunks, mut reserved) = (0, 0);
        for half in &mut self.halves {
            let local = half.local.get_mut();
            chunks += local.chunks.get();
            reserved += local.bump.allocated_bytes();
        }
        *self.chunks.get_mut() = chunks;
        *self.reserved.get_mut() = reserved;
    }

    /// Run the destructors registered in half `h`; returns the first panic
    /// of a destructor (the others still ran).
    #[must_use]
    #[inline]
    pub(crate) fn run_drops(&mut self, h: usize) -> Option<Payload> {
        let local = self.halves[h].local.get_mut();
        // Most lists are empty: nothing to run, no call.
        local.drops.head.get()?;
        // SAFETY: `&mut LaneState` comes from `&mut FrameArena` (begin_frame
        // or drop), so no reference into the arena's memory is alive, and no
        // lane's memory has been reset, freed or poisoned yet: `begin_frame`
        // and `drop` run the destructors of every lane before touching any
        // lane's memory (the nodes of this list may describe values in
        // another lane's chunks, e.g. `FrameVec::into_slice` on another
        // thread than the one whose lane holds the buffer).
        unsafe { local.drops.run() }
    }

    /// Discard half `h`'s Tracy pool (the arena is being dropped).
    pub(crate) fn discard_pools(&mut self) {
        for half in &mut self.halves {
            half.local.get_mut().pool.discard();
        }
    }

    /// Reclaim the memory of half `h` for a new frame, after the destructors
    /// of that frame ran in every lane ([`run_drops`](Self::run_drops)):
    /// poison it (with the `poison` feature), reset it, resize it to the
    /// lane's high-water mark (growing ahead of need, or shrinking after a
    /// trim), and clear its counters. Never panics and never unwinds.
    pub(crate) fn reset_half(&mut self, h: usize, config: &FrameConfig) {
        debug_assert!(
            self.halves[h].local.get_mut().drops.head.get().is_none(),
            "destructors run before the memory is reset"
        );
        // What the finished frame needed in this half at most (its in-use
        // peak: bytes given back were bumped again), padding and block ends
        // left for a new chunk included: one chunk of this size holds it.
        let consumed = self.halves[h].peak();
        self.halves[h].clear();
        let local = self.halves[h].local.get_mut();
        #[cfg(feature = "poison")]
        poison(&mut local.bump);
        local.pool.discard();

        // `reset` frees every chunk but the newest (the largest).
        let chunks_before = local.chunks.get();
        local.bump.reset();
        let mut calls = chunks_before.saturating_sub(1) as u64;
        local.chunks.set(chunks_before.min(1));

        self.policy
            .observe(consumed, config.trim_after_quiet_frames);
        let high_water = self.policy.high_water;
        let target = high_water
            .saturating_add(high_water / 4)
            .max(config.lane_capacity);
        let capacity = local.bump.allocated_bytes();
        let trim = mem::take(&mut self.policy.trim_pending[h]);
        let resize = capacity < high_water || (trim && capacity / 2 > target);
        // If the global allocator refuses the new chunk, keep the old bump:
        // the frame still works, growing on demand.
        if let Some(bump) = resize.then(|| new_bump(target)).flatten() {
            // Dropping the old bump frees its chunk; the new one allocated one.
            calls += local.chunks.get() as u64;
            local.chunks.set(usize::from(bump.allocated_bytes() > 0));
            calls += local.chunks.get() as u64;
            local.bump = bump;
        }
        local
            .bump
            .set_allocation_limit(Some(local.bump.allocated_bytes()));
        local.granted.set(if config.frame_byte_limit.is_some() {
            0
        } else {
            usize::MAX
        });
        report_retained(self.halves[h].local.get_mut());
        *self.global_calls.get_mut() += calls;
        self.refresh_totals();
    }
}

/// Report a half's retained chunk to its Tracy pool (no-op without `tracy`).
fn report_retained(local: &mut HalfLocal) {
    if tickmem_tracy::ACTIVE {
        let size = local.bump.allocated_bytes();
        if let Some(chunk) = local.bump.iter_allocated_chunks().next() {
            local.pool.alloc(chunk.as_ptr().cast(), size);
        }
    }
}

/// Overwrite everything allocated in `bump` with `0xDD`.
#[cfg(feature = "poison")]
fn poison(bump: &mut Bump) {
    // SAFETY: `&mut Bump`: nothing allocates while the iterator lives, and no
    // reference to the allocated data is alive (the frame is being reclaimed
    // and its destructors have run).
    let chunks = unsafe { bump.iter_allocated_chunks_raw() };
    for (ptr, len) in chunks {
        // SAFETY: `ptr..ptr + len` is the allocated part of a live chunk,
        // writable, and unused from now on.
        unsafe { ptr::write_bytes(ptr, crate::POISON_BYTE, len) };
    }
}

// ---------------------------------------------------------------------------
// Lane

/// This thread's lane of a [`FrameArena`], from [`FrameArena::lane`]: the
/// same allocation methods without the per-call lane lookup, at raw bump
/// speed.
///
/// A `Lane` is `!Send` and `!Sync` (it is the lane this thread claimed for
/// the current frame; see [lanes](FrameArena#lanes)); it is `Copy`,
/// and everything it allocates lives as long as the arena borrow `'a`: until
/// the next [`FrameArena::begin_frame`], which cannot run while a `Lane` or
/// anything allocated from it is alive. `&Lane` and `Lane` implement
/// [`allocator_api2::alloc::Allocator`].
///
/// # Examples
///
/// ```
/// use tickmem_frame::FrameArena;
///
/// #[derive(Clone, Copy)]
/// struct Particle { pos: [f32; 3], vel: [f32; 3] }
///
/// let arena = FrameArena::new();
/// let lane = arena.lane();
/// let mut sum = 0.0;
/// for i in 0..1000 {
///     let p = lane.alloc(Particle { pos: [i as f32; 3], vel: [1.0; 3] });
///     p.pos[0] += p.vel[0];
///     sum += p.pos[0];
/// }
/// assert_eq!(sum, (1..=1000).sum::<i32>() as f32);
/// ```
///
/// A lane cannot be sent to another thread:
///
/// ```compile_fail
/// let arena = tickmem_frame::FrameArena::new();
/// let lane = arena.lane();
/// std::thread::scope(|s| {
///     s.spawn(move || lane.alloc(1u32)); // error: `Lane` is not `Send`
/// });
/// ```
///
/// nor shared with one:
///
/// ```compile_fail
/// let arena = tickmem_frame::FrameArena::new();
/// let lane = arena.lane();
/// let lane = &lane;
/// std::thread::scope(|s| {
///     s.spawn(move || lane.alloc(1u32)); // error: `Lane` is not `Sync`
/// });
/// ```
#[derive(Clone, Copy)]
pub struct Lane<'a> {
    arena: &'a FrameArena,
    state: &'a LaneState,
    half: &'a Half,
    local: &'a HalfLocal,
    /// `!Send + !Sync`: the lane's bump belongs to this thread.
    _not_send: PhantomData<*mut ()>,
}

impl fmt::Debug for Lane<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lane")
            .field("arena", &self.arena.id())
            .field("lane", &self.state.index)
            .field("epoch", &self.arena.epoch())
            .field("bytes_this_frame", &self.half.used())
            .finish()
    }
}

impl<'a> Lane<'a> {
    /// # Safety
    ///
    /// `state` is a lane of `arena` whose claim the calling thread holds for
    /// the arena's current period (see `LaneState::owner`): no other thread
    /// touches its owner-only state until the next `&mut` access of the
    /// arena, which cannot happen during `'a`.
    #[inline(always)]
    pub(crate) unsafe fn new(arena: &'a FrameArena, state: &'a LaneState) -> Self {
        let half = &state.halves[(arena.epoch() & 1) as usize];
        // SAFETY: the caller guarantees this thread holds `state`'s claim
        // for the period, which outlasts `'a`; the reference stays in the
        // `Lane`, which is `!Send` and `!Sync`, so on this thread.
        let local = unsafe { half.local.get() };
        Lane {
            arena,
            state,
            half,
            local,
            _not_send: PhantomData,
        }
    }

    /// The arena this lane belongs to.
    pub fn arena(&self) -> &'a FrameArena {
        self.arena
    }

    /// This lane's number (lanes are numbered in the order threads first
    /// allocate; Tracy pools are named after it).
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// assert_eq!(arena.lane().index(), 0);
    /// ```
    pub fn index(&self) -> usize {
        self.state.index
    }

    // --- raw allocation -----------------------------------------------------

    /// Allocate `layout` in the current frame.
    #[inline(always)]
    pub(crate) fn raw_alloc(&self, layout: Layout) -> Result<NonNull<u8>, FrameAllocError> {
        // SAFETY: a `Lane` only exists on the thread holding its lane's claim,
        // for the arena's current frame.
        match unsafe { self.half.try_bump(layout) } {
            Some(ptr) => Ok(ptr),
            None => self.alloc_slow(layout),
        }
    }

    /// The current block cannot hold `layout`: take a new block (within the
    /// frame's byte limit) and allocate from it.
    #[cold]
    #[inline(never)]
    fn alloc_slow(&self, layout: Layout) -> Result<NonNull<u8>, FrameAllocError> {
        let requested = layout.size();
        let out_of_memory = FrameAllocError::OutOfMemory { requested };
        // Room that always holds `layout` in a block whose end is aligned to
        // BLOCK_ALIGN. (A valid `Layout` keeps this under isize::MAX; the
        // check is a guard.)
        let need = requested
            .checked_next_multiple_of(BLOCK_ALIGN)
            .and_then(|n| n.checked_add(layout.align().saturating_sub(BLOCK_ALIGN)))
            .filter(|&n| n <= isize::MAX as usize)
            .ok_or(FrameAllocError::SizeOverflow {
                len: 1,
                elem_size: requested,
            })?;
        let half = self.half;
        let taken = half.taken.load(Relaxed);
        let grant_left = self.local.granted.get() - taken;
        let grant_left = if grant_left < need {
            self.extend_grant(need - grant_left, layout, need)?
        } else {
            grant_left
        };
        let block = |size: usize| Layout::from_size_align(size, BLOCK_ALIGN).ok();
        let bump = &self.local.bump;
        let in_chunk = bump.chunk_capacity() & !(BLOCK_ALIGN - 1);
        let (ptr, size) = if in_chunk >= need {
            // All the current chunk has left (within the grant), in one block.
            let size = in_chunk.min(grant_left) & !(BLOCK_ALIGN - 1);
            let ptr = block(size)
                .and_then(|l| bump.try_alloc_layout(l).ok())
                .ok_or(out_of_memory)?;
            (ptr, size)
        } else {
            // A new chunk (bumpalo makes it at least twice the last one) ...
            let high = self
                .with_growth(|b| b.try_alloc_layout(block(need)?).ok())
                .ok_or(out_of_memory)?;
            // ... the rest of which joins the block, just below.
            let rest = bump.chunk_capacity().min(grant_left - need) & !(BLOCK_ALIGN - 1);
            match block(rest).and_then(|l| bump.try_alloc_layout(l).ok()) {
                Some(low) if rest > 0 => {
                    debug_assert_eq!(low.as_ptr().wrapping_add(rest), high.as_ptr());
                    (low, rest + need)
                }
                _ => (high, need),
            }
        };
        half.taken.store(taken + size, Relaxed);
        let start = half.start.load(Relaxed);
        if ptr.as_ptr().wrapping_add(size) == start {
            // Directly below the current block (same chunk): extend it.
            half.start.store(ptr.as_ptr(), Relaxed);
        } else {
            half.start.store(ptr.as_ptr(), Relaxed);
            half.cur.store(ptr.as_ptr().wrapping_add(size), Relaxed);
        }
        // SAFETY: the claim holder (a `Lane`), current frame.
        let ptr = unsafe { half.try_bump(layout) };
        debug_assert!(
            ptr.is_some(),
            "a fresh block of {size} bytes holds {layout:?}"
        );
        ptr.ok_or(out_of_memory)
    }

    /// The lane's grant is `short` bytes short of a block: take another
    /// batch of the frame's byte limit from the arena's shared counter (one
    /// atomic per batch, not per allocation). Returns the new grant left, or
    /// the error for a request of `layout` that needs a block of `need` bytes.
    fn extend_grant(
        &self,
        short: usize,
        layout: Layout,
        need: usize,
    ) -> Result<usize, FrameAllocError> {
        let requested = layout.size();
        let half = self.half;
        let granted = self.local.granted.get();
        let grant_left = granted - half.taken.load(Relaxed);
        let Some(limit) = self.arena.config().frame_byte_limit else {
            // No limit: the grant is usize::MAX, only an absurd total gets here.
            return Err(FrameAllocError::OutOfMemory { requested });
        };
        let want = short.max(self.arena.batch);
        let pool = &*self.arena.budget_left;
        let mut left = pool.load(Relaxed);
        loop {
            if left < short {
                let in_block = half.cur.load(Relaxed).addr() - half.start.load(Relaxed).addr();
                return Err(FrameAllocError::LimitExceeded {
                    requested,
                    align: layout.align(),
                    needed: need,
                    remaining: left + grant_left + in_block,
                    limit,
                    epoch: self.arena.epoch(),
                });
            }
            let take = want.min(left);
            match pool.compare_exchange_weak(left, left - take, Relaxed, Relaxed) {
                Ok(_) => {
                    self.local.granted.set(granted + take);
                    return Ok(grant_left + take);
                }
                Err(now) => left = now,
            }
        }
    }

    /// Run `f` with the bump's chunk-growth trap lifted, and count the chunk
    /// it allocated, if any (one bumpalo allocation adds at most one chunk).
    ///
    /// The chunk is tickmem's housekeeping, not the caller's allocation:
    /// it runs in a `tickmem_track::housekeeping` scope (not charged to
    /// allocation budgets).
    fn with_growth<R>(&self, f: impl FnOnce(&Bump) -> Option<R>) -> Option<R> {
        tickmem_track::housekeeping(|| self.grow_chunk(f))
    }

    fn grow_chunk<R>(&self, f: impl FnOnce(&Bump) -> Option<R>) -> Option<R> {
        let bump = &self.local.bump;
        let before = bump.allocated_bytes();
        bump.set_allocation_limit(None);
        let result = f(bump);
        let after = bump.allocated_bytes();
        bump.set_allocation_limit(Some(after));
        if after > before {
            self.local.chunks.set(self.local.chunks.get() + 1);
            add_usize(&self.state.chunks, 1);
            add_usize(&self.state.reserved, after - before);
            add_u64(&self.state.global_calls, 1);
            if tickmem_tracy::ACTIVE {
                // SAFETY: nothing allocates while the iterator lives (it is
                // dropped at the end of the statement); the data is not read.
                let newest = unsafe { bump.iter_allocated_chunks_raw() }.next();
                if let Some((ptr, _)) = newest {
                    self.local.pool.alloc(ptr, after - before);
                }
            }
        }
        result
    }

    /// Register a destructor for `len` values of `T` at `data`, in a node at
    /// `node`.
    ///
    /// # Safety
    ///
    /// `node` is fresh memory for a `DropNode` in this frame; `data` holds
    /// `len` values of `T` that are (or, before the frame is reclaimed and
    /// with `len` updated through the node, will be) initialised and that
    /// nothing else drops.
    #[inline]
    unsafe fn register<T: Send + 'static>(
        &self,
        node: NonNull<DropNode>,
        data: NonNull<T>,
        len: usize,
    ) {
        let entry = DropNode {
            next: None,
            data: data.cast(),
            len,
            drop_fn: drop_values::<T>,
        };
        // SAFETY: the caller provides fresh, aligned memory for a node.
        unsafe { node.as_ptr().write(entry) };
        // SAFETY: `node` is initialised and unlinked, in this frame's memory,
        // which stays allocated until the list runs at reclaim.
        unsafe { self.local.drops.push(node) };
    }

    /// Allocate `value`, returning a raw pointer (no reference is created,
    /// so handles can be derived from it).
    #[inline(always)]
    fn alloc_raw<T: Send + 'static>(&self, value: T) -> Result<NonNull<T>, FrameAllocError> {
        if mem::needs_drop::<T>() {
            return self.alloc_raw_with_drop(value);
        }
        let ptr = self.raw_alloc(Layout::new::<T>())?.cast::<T>();
        // SAFETY: fresh memory, sized and aligned for `T`.
        unsafe { ptr.as_ptr().write(value) };
        Ok(ptr)
    }

    /// [`alloc_raw`](Self::alloc_raw) for a type with a destructor: the value
    /// and its drop node share one allocation.
    fn alloc_raw_with_drop<T: Send + 'static>(
        &self,
        value: T,
    ) -> Result<NonNull<T>, FrameAllocError> {
        let Some((layout, offset)) = with_node(Layout::new::<T>()) else {
            return Err(FrameAllocError::SizeOverflow {
                len: 1,
                elem_size: mem::size_of::<T>(),
            });
        };
        let base = self.raw_alloc(layout)?;
        // SAFETY: `offset` is within the block just allocated for `layout`.
        let data = unsafe { base.add(offset) }.cast::<T>();
        // SAFETY: fresh memory, sized and aligned for `T` (by `with_node`).
        unsafe { data.as_ptr().write(value) };
        // SAFETY: the block starts with room for a node; the value is
        // initialised and only the drop list will drop it.
        unsafe { self.register(base.cast(), data, 1) };
        Ok(data)
    }

    // --- public allocation API ------------------------------------------

    /// Move `value` into the current frame and return a reference to it.
    ///
    /// If `T` needs `Drop`, its destructor runs when the frame is reclaimed
    /// (at the second [`begin_frame`](FrameArena::begin_frame) after this
    /// one, or when the arena is dropped), on the thread doing that: hence
    /// `T: Send`. `T: 'static` because the destructor runs after the borrow
    /// of the arena ends; for `Copy` data with borrowed lifetimes use
    /// [`alloc_copy`](Self::alloc_copy).
    ///
    /// # Panics
    ///
    /// With the [`FrameAllocError`] message when the frame's byte limit is
    /// reached or memory runs out; see [`try_alloc`](Self::try_alloc).
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let lane = arena.lane();
    /// let x = lane.alloc(41u32);
    /// *x += 1;
    /// assert_eq!(*x, 42);
    /// ```
    #[inline(always)]
    #[track_caller]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn alloc<T: Send + 'static>(&self, value: T) -> &'a mut T {
        match self.alloc_raw(value) {
            // SAFETY: fresh, initialised, valid until the frame is reclaimed,
            // which needs `&mut FrameArena` and so ends `'a` first.
            Ok(ptr) => unsafe { &mut *ptr.as_ptr() },
            Err(err) => alloc_failed(err),
        }
    }

    /// Like [`alloc`](Self::alloc), but returns an error instead of panicking
    /// (the value is dropped).
    ///
    /// ```
    /// use tickmem_frame::{FrameArena, FrameConfig};
    /// let arena = FrameArena::with_config(FrameConfig::default().frame_byte_limit(Some(8)));
    /// let lane = arena.lane();
    /// assert!(lane.try_alloc(1u64).is_ok());
    /// assert!(lane.try_alloc(2u64).is_err()); // 8 of 8 bytes used
    /// ```
    #[inline(always)]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn try_alloc<T: Send + 'static>(&self, value: T) -> Result<&'a mut T, FrameAllocError> {
        let ptr = self.alloc_raw(value)?;
        // SAFETY: as in `alloc`.
        Ok(unsafe { &mut *ptr.as_ptr() })
    }

    /// Move a `Copy` value (which has no destructor, so no `Send` or
    /// `'static` bound) into the current frame.
    ///
    /// ```
    /// let text = String::from("borrowed");
    /// let arena = tickmem_frame::FrameArena::new();
    /// let r: &mut &str = arena.lane().alloc_copy(text.as_str());
    /// assert_eq!(*r, "borrowed");
    /// ```
    #[inline(always)]
    #[track_caller]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn alloc_copy<T: Copy>(&self, value: T) -> &'a mut T {
        match self.raw_alloc(Layout::new::<T>()) {
            Ok(ptr) => {
                let ptr = ptr.cast::<T>();
                // SAFETY: fresh memory, sized and aligned for `T`.
                unsafe { ptr.as_ptr().write(value) };
                // SAFETY: as in `alloc`.
                unsafe { &mut *ptr.as_ptr() }
            }
            Err(err) => alloc_failed(err),
        }
    }

    /// Copy `src` into the current frame.
    ///
    /// # Panics
    ///
    /// As [`alloc`](Self::alloc).
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let s = arena.lane().alloc_slice_copy(&[1, 2, 3]);
    /// s[0] = 10;
    /// assert_eq!(s, &[10, 2, 3]);
    /// ```
    #[inline]
    #[track_caller]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn alloc_slice_copy<T: Copy>(&self, src: &[T]) -> &'a mut [T] {
        match self.try_alloc_slice_copy(src) {
            Ok(slice) => slice,
            Err(err) => alloc_failed(err),
        }
    }

    /// Like [`alloc_slice_copy`](Self::alloc_slice_copy), returning an error
    /// instead of panicking.
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// assert_eq!(arena.lane().try_alloc_slice_copy(&[7u8; 3]).unwrap(), &[7, 7, 7]);
    /// ```
    #[inline]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn try_alloc_slice_copy<T: Copy>(&self, src: &[T]) -> Result<&'a mut [T], FrameAllocError> {
        let ptr = self.raw_alloc(Layout::for_value(src))?.cast::<T>();
        // SAFETY: the fresh block holds `src.len()` `T`s and cannot overlap `src`.
        unsafe { ptr::copy_nonoverlapping(src.as_ptr(), ptr.as_ptr(), src.len()) };
        // SAFETY: initialised just above; valid until reclaim (as in `alloc`).
        Ok(unsafe { slice::from_raw_parts_mut(ptr.as_ptr(), src.len()) })
    }

    /// Copy `src` into the current frame.
    ///
    /// # Panics
    ///
    /// As [`alloc`](Self::alloc).
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let name = arena.lane().alloc_str("goblin");
    /// name.make_ascii_uppercase();
    /// assert_eq!(name, "GOBLIN");
    /// ```
    #[inline]
    #[track_caller]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn alloc_str(&self, src: &str) -> &'a mut str {
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
    /// assert_eq!(arena.lane().try_alloc_str("ok").unwrap(), "ok");
    /// ```
    #[inline]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn try_alloc_str(&self, src: &str) -> Result<&'a mut str, FrameAllocError> {
        let bytes = self.try_alloc_slice_copy(src.as_bytes())?;
        // SAFETY: the bytes were copied from a `str`, so they are UTF-8.
        Ok(unsafe { std::str::from_utf8_unchecked_mut(bytes) })
    }

    /// Allocate a slice of `len` values made by `f(index)`.
    ///
    /// Destructors (if `T` needs `Drop`) run when the frame is reclaimed,
    /// as for [`alloc`](Self::alloc); if `f` panics, the values made so far
    /// are dropped then too.
    ///
    /// # Panics
    ///
    /// As [`alloc`](Self::alloc), and if `f` panics.
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let squares = arena.lane().alloc_slice_fill_with(5, |i| i * i);
    /// assert_eq!(squares, &[0, 1, 4, 9, 16]);
    /// ```
    #[inline]
    #[track_caller]
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn alloc_slice_fill_with<T: Send + 'static>(
        &self,
        len: usize,
        f: impl FnMut(usize) -> T,
    ) -> &'a mut [T] {
        match self.try_alloc_slice_fill_with(len, f) {
            Ok(slice) => slice,
            Err(err) => alloc_failed(err),
        }
    }

    /// Like [`alloc_slice_fill_with`](Self::alloc_slice_fill_with),
    /// returning an error (before calling `f`) instead of panicking.
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let err = arena.lane().try_alloc_slice_fill_with(usize::MAX, |i| i).unwrap_err();
    /// assert!(err.to_string().contains("overflow"));
    /// ```
    #[allow(clippy::mut_from_ref, reason = "each call returns a fresh allocation")]
    pub fn try_alloc_slice_fill_with<T: Send + 'static>(
        &self,
        len: usize,
        mut f: impl FnMut(usize) -> T,
    ) -> Result<&'a mut [T], FrameAllocError> {
        let overflow = FrameAllocError::SizeOverflow {
            len,
            elem_size: mem::size_of::<T>(),
        };
        let array = Layout::array::<T>(len).map_err(|_| overflow)?;
        if !mem::needs_drop::<T>() {
            let data = self.raw_alloc(array)?.cast::<T>();
            for i in 0..len {
                let value = f(i);
                // SAFETY: `i < len`, inside the fresh block for `len` `T`s.
                let slot = unsafe { data.add(i) };
                // SAFETY: `slot` is aligned, uninitialised memory for a `T`.
                unsafe { slot.write(value) };
            }
            // SAFETY: all `len` values were initialised above; valid until
            // reclaim (as in `alloc`).
            return Ok(unsafe { slice::from_raw_parts_mut(data.as_ptr(), len) });
        }
        let (layout, offset) = with_node(array).ok_or(overflow)?;
        let base = self.raw_alloc(layout)?;
        // SAFETY: `offset` is within the block just allocated for `layout`.
        let data = unsafe { base.add(offset) }.cast::<T>();
        let node = base.cast::<DropNode>();
        // Register first with `len == 0` and count up as values are made, so
        // that a panic in `f` leaves exactly the made values to be dropped.
        // SAFETY: the block starts with room for a node; zero values are
        // registered for now.
        unsafe { self.register(node, data, 0) };
        for i in 0..len {
            let value = f(i);
            // SAFETY: `i < len`, inside the block's array part.
            let slot = unsafe { data.add(i) };
            // SAFETY: `slot` is aligned, uninitialised memory for a `T`.
            unsafe { slot.write(value) };
            // SAFETY: `node` is the node registered above, still allocated
            // (this frame); `f` may allocate on this lane but cannot reclaim.
            unsafe { (*node.as_ptr()).len = i + 1 };
        }
        // SAFETY: all `len` values are initialised; valid until reclaim.
        Ok(unsafe { slice::from_raw_parts_mut(data.as_ptr(), len) })
    }

    /// An empty [`FrameVec`] in the current frame.
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let mut v = arena.lane().vec();
    /// v.extend([3, 1, 2]);
    /// v.sort();
    /// assert_eq!(v, [1, 2, 3]);
    /// ```
    #[inline]
    pub fn vec<T>(&self) -> FrameVec<'a, T> {
        FrameVec::new_in(self.arena.allocator())
    }

    /// A [`FrameVec`] with room for `capacity` values.
    ///
    /// # Panics
    ///
    /// As [`alloc`](Self::alloc).
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let v = arena.lane().vec_with_capacity::<u32>(10);
    /// assert!(v.capacity() >= 10);
    /// ```
    #[inline]
    #[track_caller]
    pub fn vec_with_capacity<T>(&self, capacity: usize) -> FrameVec<'a, T> {
        FrameVec::with_capacity_in(capacity, self.arena.allocator())
    }

    /// Move `value` into the current frame and return a [`FrameHandle`] to
    /// it, valid (through [`FrameArena::get`]) in this frame and the next.
    ///
    /// # Panics
    ///
    /// As [`alloc`](Self::alloc).
    ///
    /// ```
    /// let arena = tickmem_frame::FrameArena::new();
    /// let h = arena.lane().persist(vec![1, 2, 3]);
    /// assert_eq!(arena.get(h).map(Vec::len), Some(3));
    /// ```
    #[inline]
    #[track_caller]
    pub fn persist<T: Send + Sync + 'static>(&self, value: T) -> FrameHandle<T> {
        match self.try_persist(value) {
            Ok(handle) => handle,
            Err(err) => alloc_failed(err),
        }
    }

    /// Like [`persist`](Self::persist), returning an error instead of
    /// panicking.
    ///
    /// ```
    /// use tickmem_frame::{FrameArena, FrameConfig};
    /// let arena = FrameArena::with_config(FrameConfig::default().frame_byte_limit(Some(4)));
    /// assert!(arena.lane().try_persist(1u64).is_err());
    /// ```
    #[inline]
    pub fn try_persist<T: Send + Sync + 'static>(
        &self,
        value: T,
    ) -> Result<FrameHandle<T>, FrameAllocError> {
        let ptr = self.alloc_raw(value)?;
        Ok(FrameHandle::new(self.arena.id(), self.arena.epoch(), ptr))
    }

    /// Register a destructor for a slice that a [`FrameVec`] leaves in the
    /// frame.
    ///
    /// # Safety
    ///
    /// `data` holds `len` initialised `T`s in this arena's current frame
    /// (any lane), which nothing else drops.
    pub(crate) unsafe fn register_slice<T: Send + 'static>(
        &self,
        data: NonNull<T>,
        len: usize,
    ) -> Result<(), FrameAllocError> {
        let node = self
            .raw_alloc(Layout::new::<DropNode>())?
            .cast::<DropNode>();
        // SAFETY: fresh node memory in this frame; the caller vouches for
        // the values.
        unsafe { self.register(node, data, len) };
        Ok(())
    }

    // --- Allocator support ---------------------------------------------

    /// Remember why an `Allocator` call failed (for `FrameVec`'s message).
    pub(crate) fn note_error(&self, err: FrameAllocError) {
        // SAFETY: a `Lane` only exists on the thread holding its lane's claim.
        unsafe { self.state.last_error.get() }.set(Some(err));
    }

    /// The last `Allocator` failure on this lane, taken.
    pub(crate) fn take_error(&self) -> Option<FrameAllocError> {
        // SAFETY: a `Lane` only exists on the thread holding its lane's claim.
        unsafe { self.state.last_error.get() }.take()
    }

    /// Is `ptr` the most recent allocation of this lane's current block? Only
    /// then is it freed or grown in place. Blocks of other lanes (a
    /// collection that moved threads) never are: `cur` always points inside
    /// this lane's chunk (or at the zero-sized sentinel).
    #[inline]
    fn is_last(&self, ptr: NonNull<u8>) -> bool {
        ptr.as_ptr() == self.half.cur.load(Relaxed)
    }

    pub(crate) fn allocate_block(&self, layout: Layout) -> Result<NonNull<[u8]>, FrameAllocError> {
        let ptr = self.raw_alloc(layout)?;
        Ok(NonNull::slice_from_raw_parts(ptr, layout.size()))
    }

    /// # Safety
    ///
    /// `Allocator::deallocate`'s contract, for a block of this arena.
    pub(crate) unsafe fn deallocate_block(&self, ptr: NonNull<u8>, layout: Layout) {
        if self.is_last(ptr) {
            // Give the bytes back to the block (its padding stays used),
            // keeping the in-use peak and the bytes bumped.
            let half = self.half;
            let in_use = half.used();
            if in_use > half.peak.load(Relaxed) {
                half.peak.store(in_use, Relaxed);
            }
            add_usize(&half.returned, layout.size());
            half.cur
                .store(ptr.as_ptr().wrapping_add(layout.size()), Relaxed);
        }
        // Otherwise the bytes are simply left until the frame is reclaimed.
    }

    /// # Safety
    ///
    /// `Allocator::grow`'s contract, for a block of this arena.
    pub(crate) unsafe fn grow_block(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, FrameAllocError> {
        if self.is_last(ptr) {
            // The last allocation grows downwards into the free part of the
            // block, and its bytes move down with it.
            let start = self.half.start.load(Relaxed);
            let extra = new.size() - old.size();
            if extra <= ptr.as_ptr().addr() - start.addr() {
                let to = ptr.as_ptr().wrapping_sub(extra);
                let to = to.wrapping_sub(to.addr() & (new.align() - 1));
                if to.addr() >= start.addr() {
                    // SAFETY: `ptr` holds `old.size()` bytes (the caller's
                    // contract) and `to..to + new.size()` lies in this free
                    // part of the block plus the old allocation; the ranges
                    // may overlap, which `copy` allows.
                    unsafe { ptr::copy(ptr.as_ptr(), to, old.size()) };
                    self.half.cur.store(to, Relaxed);
                    // SAFETY: `to >= start`, which is never null.
                    let to = unsafe { NonNull::new_unchecked(to) };
                    return Ok(NonNull::slice_from_raw_parts(to, new.size()));
                }
            }
        }
        let fresh = self.raw_alloc(new)?;
        // SAFETY: `ptr` holds `old.size()` readable bytes (the caller's
        // contract), `fresh` has room for `new.size() >= old.size()`, and a
        // fresh block cannot overlap a live one.
        unsafe { ptr::copy_nonoverlapping(ptr.as_ptr(), fresh.as_ptr(), old.size()) };
        Ok(NonNull::slice_from_raw_parts(fresh, new.size()))
    }

    /// # Safety
    ///
    /// `Allocator::shrink`'s contract, for a block of this arena.
    pub(crate) unsafe fn shrink_block(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, FrameAllocError> {
        let _ = old;
        if ptr.as_ptr().addr().is_multiple_of(new.align()) {
            // Keep the block; the tail is reclaimed with the frame.
            return Ok(NonNull::slice_from_raw_parts(ptr, new.size()));
        }
        let fresh = self.raw_alloc(new)?;
        // SAFETY: `ptr` holds at least `new.size()` readable bytes, `fresh`
        // has room for them, and a fresh block cannot overlap a live one.
        unsafe { ptr::copy_nonoverlapping(ptr.as_ptr(), fresh.as_ptr(), new.size()) };
        Ok(NonNull::slice_from_raw_parts(fresh, new.size()))
    }
}

// SAFETY: blocks come from this lane's bump in the current frame and stay
// valid until the frame is reclaimed, which needs `&mut FrameArena`, so not
// while this `Lane` (which borrows the arena), a copy of it, or a collection
// holding one is alive. Copies of a `Lane` are the same allocator; any block
// of the arena may be passed to any of its lanes: only the last allocation of
// the lane's own block is freed or grown in place (`is_last`), other blocks
// are left (dealloc), copied (grow) or kept (shrink).
unsafe impl Allocator for Lane<'_> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, allocator_api2::alloc::AllocError> {
        self.allocate_block(layout).map_err(|err| {
            self.note_error(err);
            allocator_api2::alloc::AllocError
        })
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { self.deallocate_block(ptr, layout) }
    }

    #[inline]
    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, allocator_api2::alloc::AllocError> {
        // SAFETY: forwarded from the caller.
        unsafe { self.grow_block(ptr, old_layout, new_layout) }.map_err(|err| {
            self.note_error(err);
            allocator_api2::alloc::AllocError
        })
    }

    #[inline]
    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, allocator_api2::alloc::AllocError> {
        // SAFETY: forwarded from the caller.
        unsafe { self.shrink_block(ptr, old_layout, new_layout) }.map_err(|err| {
            self.note_error(err);
            allocator_api2::alloc::AllocError
        })
    }
}
