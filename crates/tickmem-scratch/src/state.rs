//! Per-thread state: one [`Level`] (a `Bump` and a drop list) per nesting
//! depth, scope entry and exit, trimming and stats publication.
//!
//! # Design
//!
//! bumpalo has no mark/rewind, so each nesting depth gets its own `Bump`.
//! Levels form a per-thread linked list (`root` is depth 1, each level points
//! to its `child`, the next depth); the list only grows the first time a depth
//! is reached and is reused afterwards, so depth is unbounded and a warmed-up
//! scope allocates nothing. Entering a scope activates the next level, exiting
//! runs that level's destructors and `reset`s its `Bump` (which keeps its
//! largest chunk). An outer scope's level is never touched by an inner scope,
//! so allocating from an outer [`Scratch`] inside an inner scope is fine and
//! its data survives the inner exit.
//!
//! Levels are heap-allocated (`Box<Level>`, stable addresses, one
//! cache line set per thread) and reached through raw pointers; every mutable
//! field is a `Cell`, and the only `&mut` ever made is of a level's `bump`
//! field (`Bump::reset` and trims), on a level whose scope is over, when no
//! reference into its `Bump` exists.
//!
//! # Re-entry and thread exit
//!
//! Code that calls out while the state is mid-change must not let a new
//! scope see that change half done. The global allocator can call out (a
//! profiling allocator may use scratch itself): creating a level and
//! trimming run under `State::busy` with the inactive levels unlinked, so a
//! `with` arriving meanwhile finds no level to reuse and takes a temporary
//! one ([`with_temporary`]); a reset that frees chunks runs on the `Bump`
//! moved out of its level, while the level is still `current`, so such a
//! `with` opens the next level. User destructors run at scope exit while the
//! level is still `current` too. The same temporary levels serve `with`
//! once the thread-local `State` is destroyed at thread exit.
//!
//! [`Scratch`]: crate::Scratch

use std::alloc::Layout;
use std::cell::Cell;
use std::mem;
use std::ptr::NonNull;
use std::sync::atomic::Ordering::Relaxed;

use bumpalo::Bump;
use crossbeam_utils::CachePadded;

use crate::Scratch;
use crate::policy::{self, trim_policy};
use crate::stats::{Published, ScratchStats};

/// A level, by address. Valid from `State::grow` until the level is freed by
/// `State::free_tail` (only ever inactive levels) or by `State`'s `Drop`.
pub(crate) type LevelPtr = NonNull<Level>;

/// Policy shrinking leaves levels that reserve at most this alone.
const MIN_TRIM_BYTES: usize = 64 << 10;

/// [`trim`] leaves a level alone when it reserves at most its recent
/// high-water plus this (bumpalo rounds chunk sizes up to pages).
const MANUAL_TRIM_SLACK: usize = 4096;

/// A destructor to run when a scope exits. Lives in the scope's own chunks,
/// at the start of a `#[repr(C)]` record whose `drop_fn` knows the rest.
#[repr(C)]
pub(crate) struct DropEntry {
    /// The entry registered before this one (entries run newest first).
    pub(crate) next: Option<NonNull<DropEntry>>,
    /// Drops what the record holds.
    ///
    /// Called at most once, with a pointer to this entry that carries the
    /// provenance of the whole record.
    pub(crate) drop_fn: unsafe fn(NonNull<DropEntry>),
}

/// One nesting depth's arena.
///
/// Aligned (and so sized) to 128 bytes, as `crossbeam_utils::CachePadded`
/// would pad it, so that no two levels (of different threads) share a cache
/// line or an adjacent-line prefetch pair. Not wrapped in `CachePadded`
/// itself: `reclaim` and `shrink` borrow the `bump` field uniquely through a
/// raw pointer, which a `Deref` wrapper would turn into a unique borrow of
/// the whole level.
#[repr(align(128))]
pub(crate) struct Level {
    /// The chunks. Reset when a scope at this depth exits.
    pub(crate) bump: Bump,
    /// Destructors registered by the scope using this level, newest first.
    pub(crate) drops: Cell<Option<NonNull<DropEntry>>>,
    /// The level one depth up (`None` for depth 1).
    parent: Option<LevelPtr>,
    /// The level one depth down, once it has been needed.
    child: Cell<Option<LevelPtr>>,
    /// 1 for the outermost scope.
    pub(crate) depth: usize,
    /// `bump.allocated_bytes()` as of this level's last exit or trim (exact
    /// whenever the level is not active: only its own scope allocates in it).
    reserved: Cell<usize>,
    /// Most bytes used by one scope in the current window of periods.
    peak_cur: Cell<usize>,
    /// Most bytes used by one scope in the previous window.
    peak_prev: Cell<usize>,
    /// A scope used this level in the current window.
    touched_cur: Cell<bool>,
    /// A scope used this level in the previous window.
    touched_prev: Cell<bool>,
    /// The request of the last `ScratchAlloc` call that failed (for a
    /// `ScratchVec`'s error).
    pub(crate) failed: Cell<Option<Layout>>,
}

impl Level {
    fn new(parent: Option<LevelPtr>, depth: usize) -> Self {
        Level {
            bump: Bump::new(),
            drops: Cell::new(None),
            parent,
            child: Cell::new(None),
            depth,
            reserved: Cell::new(0),
            peak_cur: Cell::new(0),
            peak_prev: Cell::new(0),
            touched_cur: Cell::new(false),
            touched_prev: Cell::new(false),
            failed: Cell::new(None),
        }
    }

    /// Bytes consumed since the last reset: earlier chunks count whole
    /// (their skipped tails are lost until the reset), the current one up to
    /// its bump pointer.
    #[inline]
    pub(crate) fn used(&self) -> usize {
        self.bump
            .allocated_bytes()
            .saturating_sub(self.bump.chunk_capacity())
    }

    fn recent_high_water(&self) -> usize {
        self.peak_cur.get().max(self.peak_prev.get())
    }
}

/// Allocate a new level on the heap.
fn new_level(parent: Option<LevelPtr>, depth: usize) -> LevelPtr {
    NonNull::from(Box::leak(Box::new(Level::new(parent, depth))))
}

/// Free a level made by [`new_level`].
///
/// # Safety
///
/// `level` came from [`new_level`], is not freed yet, no longer linked from
/// anywhere, and nothing refers to it (it is not active).
unsafe fn free_level(level: LevelPtr) {
    // SAFETY: the caller guarantees `level` is a live, unlinked
    // `Box::leak`ed level with no other users, so we own it again.
    drop(unsafe { Box::from_raw(level.as_ptr()) });
}

/// Run (and unlink) every destructor registered in `level`, newest first.
/// If one panics, the rest still run while unwinding (a second panic
/// aborts, as for a `Vec`'s elements).
pub(crate) fn run_drops(level: &Level) {
    /// Resumes the remaining destructors if one panics.
    struct Resume<'a>(&'a Level);
    impl Drop for Resume<'_> {
        fn drop(&mut self) {
            run_drops(self.0);
        }
    }

    while let Some(entry) = level.drops.get() {
        // SAFETY: entries are only linked by `Scratch`'s allocation methods,
        // pointing at an initialised `DropEntry` in this level's chunks, and
        // the chunks are not reset before the list is empty.
        let entry_ref = unsafe { entry.as_ref() };
        let (next, drop_fn) = (entry_ref.next, entry_ref.drop_fn);
        // Unlink first, so the entry runs at most once even if it panics.
        level.drops.set(next);
        let resume = Resume(level);
        // SAFETY: `drop_fn` was registered with this entry's record, which
        // is still initialised and is dropped only here, once (unlinked
        // above). The scope is over, so no reference to the value is live.
        unsafe { drop_fn(entry) };
        mem::forget(resume);
    }
}

/// How [`State::trim_inactive`] decides what to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// The policy at a period end: shrink levels holding more than twice
    /// their recent high-water.
    Policy,
    /// [`trim`]: shrink to the recent high-water.
    Manual,
    /// [`release_all`]: release everything and forget history.
    All,
}

/// This thread's scratch arenas.
pub(crate) struct State {
    /// The innermost active level (`None` outside any scope).
    current: Cell<Option<LevelPtr>>,
    /// Depth 1's level, once needed.
    root: Cell<Option<LevelPtr>>,
    /// `policy::trim_requests()` as last seen.
    seen_requests: Cell<u64>,
    /// Outermost scopes left before a period ends by count.
    scopes_left: Cell<u32>,
    /// Periods so far in the current window.
    periods: Cell<u32>,
    /// Cached policy (refreshed at every period end).
    quiet_periods: Cell<u32>,
    period_scopes: Cell<u32>,
    max_retained: Cell<usize>,
    /// Scopes closed on this thread.
    scopes: Cell<u64>,
    /// Most bytes in use at once on this thread.
    high_water: Cell<usize>,
    /// Sum of the levels' `reserved`.
    reserved: Cell<usize>,
    /// This thread's published stats, once registered (claimed until the
    /// state is dropped).
    slot: Cell<Option<&'static Published>>,
    /// A trim or the creation of a level is under way: the inactive levels
    /// are unlinked (or being linked). A `with` that re-enters meanwhile
    /// (from the global allocator) gets a temporary scope instead.
    busy: Cell<bool>,
    /// The slot's counters when this thread took it over.
    scopes_base: Cell<u64>,
    high_water_base: Cell<usize>,
}

thread_local! {
    static STATE: CachePadded<State> = const { CachePadded::new(State::new()) };
}

impl State {
    const fn new() -> Self {
        State {
            current: Cell::new(None),
            root: Cell::new(None),
            seen_requests: Cell::new(0),
            scopes_left: Cell::new(u32::MAX),
            periods: Cell::new(0),
            quiet_periods: Cell::new(1),
            period_scopes: Cell::new(0),
            max_retained: Cell::new(usize::MAX),
            scopes: Cell::new(0),
            high_water: Cell::new(0),
            reserved: Cell::new(0),
            slot: Cell::new(None),
            busy: Cell::new(false),
            scopes_base: Cell::new(0),
            high_water_base: Cell::new(0),
        }
    }

    /// Open a scope: activate (and return) the level one deeper. `None`
    /// when a `with` re-entered from the global allocator while this state
    /// is busy: the caller uses a temporary level instead.
    #[inline]
    pub(crate) fn enter(&self) -> Option<LevelPtr> {
        let next = match self.current.get() {
            // SAFETY: the active level is live (levels are only freed while
            // inactive, or with the `State`).
            Some(cur) => unsafe { cur.as_ref() }.child.get(),
            None => {
                let requests = policy::trim_requests();
                if requests != self.seen_requests.get() {
                    self.on_trim_requests(requests);
                }
                self.root.get()
            }
        };
        let level = match next {
            Some(level) => level,
            None => self.grow()?,
        };
        self.current.set(Some(level));
        Some(level)
    }

    /// Close the scope that [`enter`](Self::enter) opened on `level`: run its
    /// destructors, reset its chunks, publish stats, apply the trim policy.
    #[inline(always)]
    pub(crate) fn exit(&self, level: LevelPtr) {
        if self.current.get() != Some(level) {
            scopes_out_of_order();
        }
        // SAFETY: `level` is the active level (live).
        if unsafe { level.as_ref() }.drops.get().is_some() {
            self.exit_with_drops(level);
        } else {
            self.finish_exit(level);
        }
    }

    #[cold]
    #[inline(never)]
    fn exit_with_drops(&self, level: LevelPtr) {
        /// Finishes the exit even if a destructor panics.
        struct Finish<'a>(&'a State, LevelPtr);
        impl Drop for Finish<'_> {
            fn drop(&mut self) {
                self.0.finish_exit(self.1);
            }
        }
        let finish = Finish(self, level);
        // SAFETY: `level` is the active level (live).
        run_drops(unsafe { level.as_ref() });
        drop(finish);
    }

    #[inline(always)]
    fn finish_exit(&self, level: LevelPtr) {
        let (used, grew, parent, depth) = {
            // SAFETY: `level` is live; this shared reference ends in this block.
            let l = unsafe { level.as_ref() };
            l.touched_cur.set(true);
            let allocated = l.bump.allocated_bytes();
            let used = allocated.saturating_sub(l.bump.chunk_capacity());
            // A zero-sized allocation can still have taken a first chunk.
            (used, allocated != l.reserved.get(), l.parent, l.depth)
        };
        self.scopes.set(self.scopes.get() + 1);
        if used != 0 || grew || parent.is_some() {
            self.finish_exit_slow(level, used, grew, parent, depth);
            return;
        }
        self.current.set(None);
        // The fast path: an outermost scope that allocated nothing. Reserved
        // bytes and high-water are unchanged.
        let left = self.scopes_left.get();
        if left <= 1 {
            self.period_by_scopes();
        } else {
            self.scopes_left.set(left - 1);
        }
        if let Some(slot) = self.slot.get() {
            slot.bytes_in_use.store(0, Relaxed);
            slot.depth.store(0, Relaxed);
            slot.scopes
                .store(self.scopes_base.get() + self.scopes.get(), Relaxed);
        }
    }

    #[inline(never)]
    fn finish_exit_slow(
        &self,
        level: LevelPtr,
        used: usize,
        grew: bool,
        parent: Option<LevelPtr>,
        depth: usize,
    ) {
        let outer_in_use = match parent {
            Some(p) => in_use_from(p),
            None => 0,
        };
        if used != 0 || grew {
            // While `level` is still the active one: a `with` re-entering
            // from the global allocator as chunks are freed opens the next
            // level, never this one.
            self.reclaim(level, used, grew, outer_in_use);
        }
        self.current.set(parent);
        if parent.is_none() {
            self.outermost_exit();
        }
        self.publish(outer_in_use, depth - 1);
    }

    /// Reset `level`'s chunks and account for them. `grew`: chunks were
    /// added since the last reset (`allocated_bytes` changed; chunks are only
    /// freed by resets and trims).
    #[inline]
    fn reclaim(&self, level: LevelPtr, used: usize, grew: bool, outer_in_use: usize) {
        if grew {
            self.reset_grown(level);
        } else {
            // SAFETY: the scope that used `level` is over: its `Scratch` is
            // gone, every reference it handed out has expired (they borrow
            // the `Scratch`) and its destructors have run, so no reference
            // into the level's `Bump` is live. The unique borrow covers the
            // `bump` field only and ends with the statement, which cannot
            // call out: the `Bump` has a single chunk (none was added since
            // the last reset, which left one), so the reset frees nothing.
            unsafe { &mut (*level.as_ptr()).bump }.reset();
        }
        // SAFETY: `level` is live; a fresh shared reference after the reset.
        let l = unsafe { level.as_ref() };
        let reserved = l.bump.allocated_bytes();
        self.reserved
            .set(self.reserved.get() - l.reserved.get() + reserved);
        l.reserved.set(reserved);
        if used > l.peak_cur.get() {
            l.peak_cur.set(used);
        }
        let total = outer_in_use + used;
        if total > self.high_water.get() {
            self.high_water.set(total);
        }
    }

    /// Reset a level whose `Bump` gained chunks. The reset frees them,
    /// calling the global allocator, which may re-enter `with` and open this
    /// level's child (`level` is still `current`); that scope reads its
    /// parents' `Bump`s for its stats, so none of them may be uniquely
    /// borrowed meanwhile: the reset runs on the `Bump` moved out.
    #[cold]
    #[inline(never)]
    fn reset_grown(&self, level: LevelPtr) {
        // SAFETY: as in `reclaim`; the unique borrow of the `bump` field ends
        // with the statement, which cannot call out (`Bump::new` does not
        // allocate).
        let mut bump = mem::replace(unsafe { &mut (*level.as_ptr()).bump }, Bump::new());
        // The chunks bumpalo grew during the scope were tickmem's
        // housekeeping, made inside the user's allocations: note them as
        // such now (the level held one chunk after its last reset if it
        // reserved anything). Freeing them is housekeeping too.
        // SAFETY: nothing allocates from `bump` while the iterator lives (it
        // is consumed by `count` in this statement); no data is read.
        let chunks = unsafe { bump.iter_allocated_chunks_raw() }.count();
        // SAFETY: `level` is live; a shared reference to read its counter.
        let reserved_before = unsafe { level.as_ref() }.reserved.get();
        let grown = chunks.saturating_sub(usize::from(reserved_before > 0));
        tickmem_track::note_housekeeping(tickmem_track::AllocStats {
            allocs: grown as u64,
            bytes_allocated: bump.allocated_bytes().saturating_sub(reserved_before) as u64,
            ..tickmem_track::AllocStats::default()
        });
        tickmem_track::housekeeping(|| bump.reset());
        // SAFETY: as above; the empty `Bump` put there meanwhile owns no
        // chunk, so dropping it does not call out either.
        drop(mem::replace(unsafe { &mut (*level.as_ptr()).bump }, bump));
    }

    #[inline]
    fn outermost_exit(&self) {
        let left = self.scopes_left.get();
        if left <= 1 {
            self.period_by_scopes();
        } else {
            self.scopes_left.set(left - 1);
        }
        if self.reserved.get() > self.max_retained.get() {
            self.enforce_cap();
        }
    }

    #[inline]
    fn publish(&self, in_use: usize, depth: usize) {
        if let Some(slot) = self.slot.get() {
            slot.bytes_in_use.store(in_use, Relaxed);
            slot.depth.store(depth, Relaxed);
            slot.bytes_reserved.store(self.reserved.get(), Relaxed);
            slot.high_water_bytes.store(
                self.high_water.get().max(self.high_water_base.get()),
                Relaxed,
            );
            slot.scopes
                .store(self.scopes_base.get() + self.scopes.get(), Relaxed);
        }
    }

    /// Scopes open on this thread.
    fn depth(&self) -> usize {
        // SAFETY: the active level is live.
        self.current
            .get()
            .map_or(0, |c| unsafe { c.as_ref() }.depth)
    }

    /// Create the level one deeper than `current` (first use of a depth).
    /// `None` if this state is busy: a `with` re-entered from the global
    /// allocator during a trim or during another `grow`.
    #[cold]
    #[inline(never)]
    fn grow(&self) -> Option<LevelPtr> {
        let _busy = self.busy()?;
        // A new level record is tickmem's housekeeping.
        tickmem_track::housekeeping(|| {
            if self.slot.get().is_none() {
                self.register();
            }
            let parent = self.current.get();
            // SAFETY: the active level is live.
            let depth = parent.map_or(1, |p| unsafe { p.as_ref() }.depth + 1);
            let level = new_level(parent, depth);
            match parent {
                // SAFETY: the active level is live.
                Some(p) => unsafe { p.as_ref() }.child.set(Some(level)),
                None => self.root.set(Some(level)),
            }
            Some(level)
        })
    }

    /// Mark this state busy until the guard drops; `None` if it already is.
    fn busy(&self) -> Option<Busy<'_>> {
        if self.busy.replace(true) {
            None
        } else {
            Some(Busy(self))
        }
    }

    /// Take this thread's slot in the stats registry.
    fn register(&self) {
        let slot = Published::claim();
        self.scopes_base.set(slot.scopes.load(Relaxed));
        self.high_water_base
            .set(slot.high_water_bytes.load(Relaxed));
        self.slot.set(Some(slot));
        self.refresh_policy();
        self.seen_requests.set(policy::trim_requests());
    }

    pub(crate) fn refresh_policy(&self) {
        let p = trim_policy();
        self.quiet_periods.set(p.quiet_periods.max(1));
        self.period_scopes.set(p.period_scopes);
        self.max_retained.set(p.max_retained_bytes);
        self.scopes_left.set(if p.period_scopes == 0 {
            u32::MAX
        } else {
            p.period_scopes
        });
    }

    #[cold]
    #[inline(never)]
    fn on_trim_requests(&self, requests: u64) {
        let elapsed = requests.wrapping_sub(self.seen_requests.get());
        self.seen_requests.set(requests);
        if self.slot.get().is_some() {
            self.advance(elapsed);
        }
    }

    #[cold]
    #[inline(never)]
    fn period_by_scopes(&self) {
        if self.period_scopes.get() == 0 {
            self.scopes_left.set(u32::MAX);
        } else {
            self.advance(1);
        }
    }

    /// `periods` periods have ended: roll the high-water windows and apply
    /// the policy.
    fn advance(&self, periods: u64) {
        self.refresh_policy();
        let quiet = u64::from(self.quiet_periods.get());
        let total = u64::from(self.periods.get()).saturating_add(periods);
        let roll = if total >= 2 * quiet {
            self.periods.set(0);
            2
        } else if total >= quiet {
            // `total - quiet < quiet <= u32::MAX`.
            self.periods.set(u32::try_from(total - quiet).unwrap_or(0));
            1
        } else {
            // `total < quiet <= u32::MAX`.
            self.periods.set(u32::try_from(total).unwrap_or(0));
            0
        };
        if roll > 0 {
            let mut next = self.root.get();
            while let Some(lp) = next {
                // SAFETY: linked levels are live.
                let l = unsafe { lp.as_ref() };
                if roll == 1 {
                    l.peak_prev.set(l.peak_cur.get());
                    l.touched_prev.set(l.touched_cur.get());
                } else {
                    l.peak_prev.set(0);
                    l.touched_prev.set(false);
                }
                l.peak_cur.set(0);
                l.touched_cur.set(false);
                next = l.child.get();
            }
        }
        self.trim_inactive(Rule::Policy);
        // A new cap applies from the first period end after it is set.
        if self.reserved.get() > self.max_retained.get() {
            self.enforce_cap();
        }
    }

    /// Run `trim` on the chain of levels no scope is using (the first one,
    /// its child, ...), unlinked from the active ones meanwhile, and link
    /// back the chain it returns. Skipped if this state is busy.
    ///
    /// Unlinking is what makes trims safe against a `with` re-entering from
    /// the global allocator while chunks or levels are freed: it finds no
    /// inactive level, and `grow` (busy) sends it to a temporary level.
    fn with_inactive(&self, trim: impl FnOnce(Option<LevelPtr>) -> Option<LevelPtr>) {
        let Some(_busy) = self.busy() else { return };
        let parent = self.current.get();
        let link = |chain: Option<LevelPtr>| match parent {
            // SAFETY: the active level is live, and stays active during the
            // trim (which opens and closes no scope of this state).
            Some(p) => unsafe { p.as_ref() }.child.replace(chain),
            None => self.root.replace(chain),
        };
        let chain = link(None);
        let kept = trim(chain);
        link(kept);
    }

    /// Shrink the levels no scope is using, per `rule`.
    fn trim_inactive(&self, rule: Rule) {
        tickmem_tracy::zone!("tickmem::scratch_trim");
        // Freeing chunks and levels is tickmem's housekeeping.
        tickmem_track::housekeeping(|| self.trim_inactive_chain(rule));
        self.publish_now();
    }

    fn trim_inactive_chain(&self, rule: Rule) {
        self.with_inactive(|chain| {
            let mut next = chain;
            while let Some(lp) = next {
                // SAFETY: levels of the chain are live.
                let l = unsafe { lp.as_ref() };
                next = l.child.get();
                let reserved = l.reserved.get();
                let high_water = l.recent_high_water();
                let keep = match rule {
                    Rule::Policy => (reserved > MIN_TRIM_BYTES
                        && reserved > high_water.saturating_mul(2))
                    .then_some(high_water),
                    Rule::Manual => (reserved > high_water.saturating_add(MANUAL_TRIM_SLACK))
                        .then_some(high_water),
                    Rule::All => {
                        l.peak_cur.set(0);
                        l.peak_prev.set(0);
                        l.touched_cur.set(false);
                        l.touched_prev.set(false);
                        (reserved > 0).then_some(0)
                    }
                };
                if let Some(keep) = keep {
                    self.shrink(lp, keep);
                }
            }
            self.free_tail(chain)
        });
    }

    /// Release inactive levels, deepest first, until the thread reserves no
    /// more than the policy's cap.
    #[cold]
    #[inline(never)]
    fn enforce_cap(&self) {
        tickmem_tracy::zone!("tickmem::scratch_trim");
        // Freeing chunks and levels is tickmem's housekeeping.
        tickmem_track::housekeeping(|| self.enforce_cap_chain());
    }

    fn enforce_cap_chain(&self) {
        let cap = self.max_retained.get();
        self.with_inactive(|chain| {
            let mut deepest = chain;
            while let Some(lp) = deepest {
                // SAFETY: levels of the chain are live.
                match unsafe { lp.as_ref() }.child.get() {
                    Some(c) => deepest = Some(c),
                    None => break,
                }
            }
            while let Some(lp) = deepest {
                if self.reserved.get() <= cap {
                    break;
                }
                // SAFETY: levels of the chain are live.
                let l = unsafe { lp.as_ref() };
                deepest = if Some(lp) == chain { None } else { l.parent };
                if l.reserved.get() > 0 {
                    self.shrink(lp, 0);
                }
            }
            self.free_tail(chain)
        });
    }

    /// Replace an inactive level's `Bump` with one holding `keep` bytes.
    fn shrink(&self, level: LevelPtr, keep: usize) {
        let bump = if keep == 0 {
            Bump::new()
        } else {
            Bump::try_with_capacity(keep).unwrap_or_else(|_| Bump::new())
        };
        // SAFETY: `level` is inactive and unlinked (see `with_inactive`): no
        // scope uses it, so no `Scratch` and no reference into its `Bump`
        // exist, and none can be made meanwhile. The unique borrow covers
        // the `bump` field only. Its drop list is empty (drops run at exit).
        let old = mem::replace(unsafe { &mut (*level.as_ptr()).bump }, bump);
        // Frees the old chunks (the global allocator may re-enter `with`).
        drop(old);
        // SAFETY: `level` is live; a fresh shared reference after the write.
        let l = unsafe { level.as_ref() };
        debug_assert!(l.drops.get().is_none());
        let reserved = l.bump.allocated_bytes();
        self.reserved
            .set(self.reserved.get() - l.reserved.get() + reserved);
        l.reserved.set(reserved);
    }

    /// Free the levels of an inactive chain past the last one that holds
    /// memory or was used recently (a depth spike does not keep its level
    /// records). Returns what is left of the chain.
    fn free_tail(&self, chain: Option<LevelPtr>) -> Option<LevelPtr> {
        let mut last_kept = None;
        let mut next = chain;
        while let Some(lp) = next {
            // SAFETY: levels of the chain are live.
            let l = unsafe { lp.as_ref() };
            if l.reserved.get() > 0 || l.touched_cur.get() || l.touched_prev.get() {
                last_kept = Some(lp);
            }
            next = l.child.get();
        }
        let mut tail = match last_kept {
            // SAFETY: levels of the chain are live.
            Some(k) => unsafe { k.as_ref() }.child.replace(None),
            None => chain,
        };
        while let Some(lp) = tail {
            // SAFETY: levels of the chain are live.
            tail = unsafe { lp.as_ref() }.child.get();
            // SAFETY: `lp` is inactive, unlinked (from the active levels and
            // from its parent in the chain, or the chain is dropped whole)
            // and nothing refers to it.
            unsafe { free_level(lp) };
        }
        last_kept.and(chain)
    }

    /// Publish stats computed from scratch (after a trim).
    fn publish_now(&self) {
        let depth = self.depth();
        let in_use = match self.current.get() {
            Some(c) => in_use_from(c),
            None => 0,
        };
        self.publish(in_use, depth);
    }

    fn local_stats(&self) -> ScratchStats {
        let depth = self.depth();
        let mut stats = ScratchStats {
            depth,
            scopes: self.scopes.get(),
            threads: usize::from(self.slot.get().is_some()),
            ..ScratchStats::default()
        };
        let mut next = self.root.get();
        while let Some(lp) = next {
            // SAFETY: linked levels are live.
            let l = unsafe { lp.as_ref() };
            stats.bytes_reserved += l.bump.allocated_bytes();
            if l.depth <= depth {
                stats.bytes_in_use += l.used();
            }
            next = l.child.get();
        }
        stats.high_water_bytes = self.high_water.get().max(stats.bytes_in_use);
        stats
    }
}

/// Bytes used by `level` and every level above it.
fn in_use_from(level: LevelPtr) -> usize {
    let mut total = 0;
    let mut next = Some(level);
    while let Some(lp) = next {
        // SAFETY: active levels are live.
        let l = unsafe { lp.as_ref() };
        total += l.used();
        next = l.parent;
    }
    total
}

impl Drop for State {
    fn drop(&mut self) {
        if self.current.get().is_none() && !self.busy.get() {
            let mut next = self.root.take();
            while let Some(lp) = next {
                // SAFETY: linked levels are live.
                next = unsafe { lp.as_ref() }.child.get();
                // SAFETY: no scope is open and no trim is under way, so
                // nothing refers to the levels; they are unlinked (`root`
                // was taken) and freed once each.
                unsafe { free_level(lp) };
            }
        }
        // Otherwise scopes are open while this thread's thread-local
        // destructors run: `std::process::exit` was called inside a scope
        // (glibc's `exit` runs the calling thread's destructors) and the
        // open scopes' frames will never resume. Their memory is left alone
        // (leaked) rather than freed under them.
        if let Some(slot) = self.slot.get() {
            slot.release();
        }
    }
}

/// Marks a [`State`] busy (see `State::busy`) until dropped.
struct Busy<'a>(&'a State);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.set(false);
    }
}

/// A scope is being closed that is not the innermost one. Scopes are frames
/// of `with` calls on one thread's stack, so this only happens when
/// something switches stacks inside a scope (a stackful coroutine that
/// suspends inside `with` and another that opens a scope on the same
/// thread). Continuing would reset memory an open scope still uses.
#[cold]
#[inline(never)]
fn scopes_out_of_order() -> ! {
    // Not a panic: unwinding would run the other scope's guards, and
    // recovering is impossible.
    eprintln!(
        "tickmem-scratch: fatal: scratch scopes closed out of order (a stackful \
         coroutine switched stacks inside `tickmem_scratch::with`?); aborting"
    );
    std::process::abort()
}

/// Closes a scope when dropped: on return and on unwind.
struct ScopeGuard<'a> {
    state: &'a State,
    level: LevelPtr,
}

impl Drop for ScopeGuard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.state.exit(self.level);
    }
}

/// Run `f` with this thread's scratch arena, in a fresh scope.
///
/// Everything `f` allocates through the [`Scratch`] is reclaimed when `f`
/// returns or panics, and the destructors of values that need one run then
/// (newest first). Calls nest: a `with` inside `f` opens an inner scope whose
/// allocations are reclaimed when *it* returns, while the outer scope's stay
/// valid. Any thread can call it, with no set-up; after warm-up a scope makes
/// no call to the global allocator.
///
/// Nothing allocated can outlive the scope: the references borrow the
/// `Scratch`, which only lives during the call.
///
/// # Panics and thread exit
///
/// `f` may panic, and so may the destructors of what it allocated: the
/// scope is closed either way, each value dropped exactly once (a panic in a
/// destructor while already unwinding aborts, as for a `Vec`). It may be
/// called from a thread-local destructor at any point of thread exit: once
/// this crate's own thread-local state is gone, each scope gets a temporary
/// arena freed at its exit. See the crate docs ("What holds under panics,
/// across threads and at thread exit").
///
/// # Examples
///
/// ```
/// let total = tickmem_scratch::with(|s| {
///     let squares = s.alloc_slice_fill_with(100, |i| (i * i) as u64);
///     let inner = tickmem_scratch::with(|t| {
///         // An inner scope; `squares` stays valid across it.
///         let evens = t.alloc_slice_fill_with(50, |i| squares[2 * i]);
///         evens.iter().sum::<u64>()
///     });
///     inner + squares[1]
/// });
/// assert_eq!(total, (0..50u64).map(|i| 4 * i * i).sum::<u64>() + 1);
/// ```
///
/// A reference cannot escape:
///
/// ```compile_fail
/// let leaked = tickmem_scratch::with(|s| s.alloc(5u32));
/// ```
///
/// ```compile_fail,E0521
/// let mut outside: &[u8] = &[];
/// tickmem_scratch::with(|s| outside = s.alloc_slice_copy(b"no"));
/// ```
///
/// Nor can an inner scope's allocation escape into the outer scope:
///
/// ```compile_fail,E0521
/// tickmem_scratch::with(|outer| {
///     let mut keep: &u32 = outer.alloc(1);
///     tickmem_scratch::with(|inner| keep = inner.alloc(2u32));
///     assert_eq!(*keep, 2);
/// });
/// ```
#[inline]
pub fn with<'env, R>(f: impl FnOnce(&Scratch<'env>) -> R) -> R {
    let Ok(state) = STATE.try_with(|state| NonNull::from(&**state)) else {
        // This thread's scratch state is being or has been destroyed.
        return with_temporary(f);
    };
    // SAFETY: the thread-local is alive (`try_with` succeeded) and its
    // destructor only runs when no frame of this thread uses it any more:
    // at thread exit after the stack has unwound, or in
    // `std::process::exit` called inside a scope, whose frames never resume
    // (the destructor then leaves the open levels alone). `State` is only
    // ever shared (all `Cell`s).
    let state: &State = unsafe { state.as_ref() };
    let Some(level) = state.enter() else {
        // Re-entered from the global allocator while the state was busy.
        return with_temporary(f);
    };
    let _guard = ScopeGuard { state, level };
    f(&Scratch::new(level))
}

thread_local! {
    /// The innermost open temporary scope (see [`with_temporary`]). No
    /// destructor, so it stays usable while the thread's other thread-locals
    /// are destroyed.
    static TEMPORARY: Cell<Option<LevelPtr>> = const { Cell::new(None) };
}

/// `with` without this thread's state: after its thread-local has been
/// destroyed (a later thread-local destructor uses scratch), or when a
/// `with` re-enters from the global allocator while the state is busy. The
/// scope gets a level of its own, freed when it exits; temporary scopes nest
/// like the others.
#[cold]
#[inline(never)]
fn with_temporary<'env, R>(f: impl FnOnce(&Scratch<'env>) -> R) -> R {
    /// Runs the destructors, then closes the scope and frees the level.
    struct Temporary(LevelPtr);
    impl Drop for Temporary {
        fn drop(&mut self) {
            /// Closes the scope and frees the level even if a destructor
            /// panics.
            struct Free(LevelPtr);
            impl Drop for Free {
                fn drop(&mut self) {
                    // SAFETY: the level is live until freed below.
                    let parent = unsafe { self.0.as_ref() }.parent;
                    TEMPORARY.set(parent);
                    // SAFETY: the scope is over and no longer the innermost
                    // temporary scope: nothing else refers to the level.
                    unsafe { free_level(self.0) };
                }
            }
            if TEMPORARY.get() != Some(self.0) {
                scopes_out_of_order();
            }
            let free = Free(self.0);
            // SAFETY: the level is live until `free` drops.
            run_drops(unsafe { self.0.as_ref() });
            drop(free);
        }
    }
    let parent = TEMPORARY.get();
    // SAFETY: the innermost open temporary scope's level is live.
    let depth = parent.map_or(1, |p| unsafe { p.as_ref() }.depth + 1);
    let guard = Temporary(new_level(parent, depth));
    TEMPORARY.set(Some(guard.0));
    f(&Scratch::new(guard.0))
}

/// Stats of the open temporary scopes (for [`stats`] once the thread's
/// state is gone).
fn temporary_stats() -> ScratchStats {
    let Some(level) = TEMPORARY.get() else {
        return ScratchStats::default();
    };
    let in_use = in_use_from(level);
    let mut reserved = 0;
    let mut next = Some(level);
    while let Some(lp) = next {
        // SAFETY: open temporary levels are live.
        let l = unsafe { lp.as_ref() };
        reserved += l.bump.allocated_bytes();
        next = l.parent;
    }
    ScratchStats {
        bytes_in_use: in_use,
        high_water_bytes: in_use,
        bytes_reserved: reserved,
        // SAFETY: as above.
        depth: unsafe { level.as_ref() }.depth,
        scopes: 0,
        threads: 0,
    }
}

/// Release this thread's retained scratch memory above each level's recent
/// high-water mark (see [`TrimPolicy`](crate::TrimPolicy)), now. Levels of
/// scopes that are open are left alone.
///
/// # Examples
///
/// ```
/// tickmem_scratch::with(|s| {
///     s.alloc_slice_copy(&[0u8; 10_000]);
/// });
/// tickmem_scratch::trim(); // keeps what the recent jobs used
/// assert!(tickmem_scratch::stats().bytes_reserved >= 10_000);
/// ```
pub fn trim() {
    let _ = STATE.try_with(|state| state.trim_inactive(Rule::Manual));
}

/// Release all of this thread's retained scratch memory (except what open
/// scopes use) and forget its usage history. The next scope allocates its
/// chunks again.
///
/// # Examples
///
/// ```
/// tickmem_scratch::with(|s| {
///     s.alloc_slice_copy(&[0u8; 10_000]);
/// });
/// tickmem_scratch::release_all();
/// assert_eq!(tickmem_scratch::stats().bytes_reserved, 0);
/// ```
pub fn release_all() {
    let _ = STATE.try_with(|state| state.trim_inactive(Rule::All));
}

/// This thread's scratch stats, computed now.
///
/// # Examples
///
/// ```
/// assert_eq!(tickmem_scratch::stats().depth, 0);
/// tickmem_scratch::with(|_| {
///     tickmem_scratch::with(|_| assert_eq!(tickmem_scratch::stats().depth, 2));
/// });
/// ```
pub fn stats() -> ScratchStats {
    STATE
        .try_with(|state| state.local_stats())
        .unwrap_or_else(|_| temporary_stats())
}

/// Refresh this thread's cached policy (after `set_trim_policy`).
pub(crate) fn refresh_policy_here() {
    let _ = STATE.try_with(|state| {
        if state.slot.get().is_some() {
            state.refresh_policy();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run by `closing_an_outer_scope_first_aborts` in a child process.
    #[test]
    #[ignore = "run in a child process by closing_an_outer_scope_first_aborts"]
    fn child_closes_an_outer_scope_first() {
        if std::env::var_os("TICKMEM_SCRATCH_ORDER_CHILD").is_none() {
            return;
        }
        // What a stackful coroutine switching stacks inside `with` would do.
        let state = State::new();
        let outer = state.enter().expect("not busy");
        let _inner = state.enter().expect("not busy");
        state.exit(outer);
    }

    #[cfg(all(unix, not(miri)))]
    #[test]
    fn closing_an_outer_scope_first_aborts() {
        use std::os::unix::process::ExitStatusExt;

        let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "state::tests::child_closes_an_outer_scope_first",
                "--ignored",
                "--nocapture",
            ])
            .env("TICKMEM_SCRATCH_ORDER_CHILD", "1")
            .output()
            .expect("child ran");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.signal(), Some(6), "{:?}: {stderr}", out.status);
        assert!(stderr.contains("scopes closed out of order"), "{stderr}");
    }
}
