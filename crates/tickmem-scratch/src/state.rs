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
//! Levels are heap-allocated (`Box<CachePadded<Level>>`, stable addresses, one
//! cache line set per thread) and reached through raw pointers; every mutable
//! field is a `Cell`, and the only `&mut` ever made (`Bump::reset` and trims)
//! is made on a level that is not active, when no reference into it exists.
//!
//! [`Scratch`]: crate::Scratch

use std::cell::Cell;
use std::mem;
use std::ptr::NonNull;
use std::sync::atomic::Ordering::Relaxed;

use bumpalo::Bump;
use crossbeam_utils::CachePadded;

use crate::Scratch;
use crate::policy::{self, trim_policy};
use crate::stats::{NEXT_SERIAL, Published, REGISTRY, ScratchStats};

/// A level, by address. Valid from `State::grow` until the level is freed by
/// `State::free_tail` (only ever inactive levels) or by `State`'s `Drop`.
pub(crate) type LevelPtr = NonNull<CachePadded<Level>>;

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
    NonNull::from(Box::leak(Box::new(CachePadded::new(Level::new(
        parent, depth,
    )))))
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
    /// This thread's published stats, once registered.
    slot: Cell<Option<&'static CachePadded<Published>>>,
    serial: Cell<u64>,
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
            serial: Cell::new(0),
            scopes_base: Cell::new(0),
            high_water_base: Cell::new(0),
        }
    }

    /// Open a scope: activate (and return) the level one deeper.
    #[inline]
    pub(crate) fn enter(&self) -> LevelPtr {
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
            None => self.grow(),
        };
        self.current.set(Some(level));
        level
    }

    /// Close the scope that [`enter`](Self::enter) opened on `level`: run its
    /// destructors, reset its chunks, publish stats, apply the trim policy.
    #[inline(always)]
    pub(crate) fn exit(&self, level: LevelPtr) {
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
        let (used, changed, parent, depth) = {
            // SAFETY: `level` is live; this shared reference ends in this block.
            let l = unsafe { level.as_ref() };
            l.touched_cur.set(true);
            let allocated = l.bump.allocated_bytes();
            let used = allocated.saturating_sub(l.bump.chunk_capacity());
            // A zero-sized allocation can still have taken a first chunk.
            (
                used,
                used != 0 || allocated != l.reserved.get(),
                l.parent,
                l.depth,
            )
        };
        self.current.set(parent);
        self.scopes.set(self.scopes.get() + 1);
        if changed || parent.is_some() {
            self.finish_exit_slow(level, used, changed, parent, depth);
            return;
        }
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
        changed: bool,
        parent: Option<LevelPtr>,
        depth: usize,
    ) {
        let outer_in_use = match parent {
            Some(p) => in_use_from(p),
            None => 0,
        };
        if changed {
            self.reclaim(level, used, outer_in_use);
        }
        if parent.is_none() {
            self.outermost_exit();
        }
        self.publish(outer_in_use, depth - 1);
    }

    /// Reset `level`'s chunks and account for them.
    #[inline]
    fn reclaim(&self, level: LevelPtr, used: usize, outer_in_use: usize) {
        // SAFETY: the scope that used `level` is over: its `Scratch` is gone,
        // every reference it handed out has expired (they borrow the
        // `Scratch`), its destructors have run, and `current` no longer
        // points to it. No reference into the level is live, so a unique
        // borrow of its `Bump` is sound.
        unsafe { &mut *level.as_ptr() }.bump.reset();
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

    /// The first level no scope is using.
    fn first_inactive(&self) -> Option<LevelPtr> {
        match self.current.get() {
            // SAFETY: the active level is live.
            Some(c) => unsafe { c.as_ref() }.child.get(),
            None => self.root.get(),
        }
    }

    /// Create the level one deeper than `current` (first use of a depth).
    #[cold]
    #[inline(never)]
    fn grow(&self) -> LevelPtr {
        if self.slot.get().is_none() {
            self.register();
        }
        let parent = self.current.get();
        // SAFETY: the active level is live.
        let depth = parent.map_or(1, |p| unsafe { p.as_ref() }.depth + 1);
        let level = new_level(parent, depth);
        // Link it, unless the global allocator re-entered `with` while we
        // allocated and linked one first.
        let link = match parent {
            // SAFETY: the active level is live.
            Some(p) => &unsafe { p.as_ref() }.child,
            None => &self.root,
        };
        match link.get() {
            Some(existing) => {
                // SAFETY: `level` was never linked or handed out.
                unsafe { free_level(level) };
                existing
            }
            None => {
                link.set(Some(level));
                level
            }
        }
    }

    /// Take this thread's slot in the stats registry.
    fn register(&self) {
        let slot: &'static CachePadded<Published> = REGISTRY.get_or(Default::default);
        let serial = NEXT_SERIAL.fetch_add(1, Relaxed);
        slot.owner.store(serial, Relaxed);
        self.serial.set(serial);
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

    /// Shrink the levels no scope is using, per `rule`.
    fn trim_inactive(&self, rule: Rule) {
        tickmem_tracy::zone!("tickmem::scratch_trim");
        let mut next = self.first_inactive();
        while let Some(lp) = next {
            // SAFETY: linked levels are live.
            let l = unsafe { lp.as_ref() };
            next = l.child.get();
            let reserved = l.reserved.get();
            let high_water = l.recent_high_water();
            let keep = match rule {
                Rule::Policy => (reserved > MIN_TRIM_BYTES
                    && reserved > high_water.saturating_mul(2))
                .then_some(high_water),
                Rule::Manual => {
                    (reserved > high_water.saturating_add(MANUAL_TRIM_SLACK)).then_some(high_water)
                }
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
        self.free_tail();
        self.publish_now();
    }

    /// Release levels, deepest first, until the thread reserves no more than
    /// the policy's cap. Only called when no scope is open.
    #[cold]
    #[inline(never)]
    fn enforce_cap(&self) {
        tickmem_tracy::zone!("tickmem::scratch_trim");
        let cap = self.max_retained.get();
        let mut deepest = self.first_inactive();
        while let Some(lp) = deepest {
            // SAFETY: linked levels are live.
            match unsafe { lp.as_ref() }.child.get() {
                Some(c) => deepest = Some(c),
                None => break,
            }
        }
        let depth = self.depth();
        while let Some(lp) = deepest {
            // SAFETY: linked levels are live.
            let l = unsafe { lp.as_ref() };
            if self.reserved.get() <= cap || l.depth <= depth {
                break;
            }
            deepest = l.parent;
            if l.reserved.get() > 0 {
                self.shrink(lp, 0);
            }
        }
        self.free_tail();
    }

    /// Replace an inactive level's `Bump` with one holding `keep` bytes.
    fn shrink(&self, level: LevelPtr, keep: usize) {
        let bump = if keep == 0 {
            Bump::new()
        } else {
            Bump::try_with_capacity(keep).unwrap_or_else(|_| Bump::new())
        };
        // SAFETY: `level` is inactive: no scope uses it, so no `Scratch` and
        // no reference into it exist, and its drop list is empty (drops run
        // at exit). A unique borrow of its `Bump` is sound; the old chunks
        // are freed as the old `Bump` drops.
        let old = mem::replace(&mut unsafe { &mut *level.as_ptr() }.bump, bump);
        drop(old);
        // SAFETY: `level` is live; a fresh shared reference after the write.
        let l = unsafe { level.as_ref() };
        debug_assert!(l.drops.get().is_none());
        let reserved = l.bump.allocated_bytes();
        self.reserved
            .set(self.reserved.get() - l.reserved.get() + reserved);
        l.reserved.set(reserved);
    }

    /// Free the levels past the last one that is active, holds memory or was
    /// used recently (a depth spike does not keep its level records).
    fn free_tail(&self) {
        let depth = self.depth();
        let mut last_kept = None;
        let mut next = self.root.get();
        while let Some(lp) = next {
            // SAFETY: linked levels are live.
            let l = unsafe { lp.as_ref() };
            if l.depth <= depth
                || l.reserved.get() > 0
                || l.touched_cur.get()
                || l.touched_prev.get()
            {
                last_kept = Some(lp);
            }
            next = l.child.get();
        }
        let mut tail = match last_kept {
            // SAFETY: linked levels are live.
            Some(k) => unsafe { k.as_ref() }.child.replace(None),
            None => self.root.replace(None),
        };
        while let Some(lp) = tail {
            // SAFETY: linked levels are live.
            tail = unsafe { lp.as_ref() }.child.get();
            // SAFETY: `lp` is deeper than every active level (inactive), was
            // just unlinked from its parent, and reserves nothing.
            unsafe { free_level(lp) };
        }
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
        // No scope can be open: a scope is a `with` frame on this thread's
        // stack, and thread-local destructors run after it has unwound.
        debug_assert!(self.current.get().is_none());
        let mut next = self.root.take();
        while let Some(lp) = next {
            // SAFETY: linked levels are live.
            next = unsafe { lp.as_ref() }.child.get();
            // SAFETY: the thread is exiting; nothing refers to its levels.
            unsafe { free_level(lp) };
        }
        if let Some(slot) = self.slot.get() {
            // `thread_local` may already have handed the slot to a new
            // thread; only clear it if it is still ours.
            if slot.owner.load(Relaxed) == self.serial.get() {
                slot.bytes_in_use.store(0, Relaxed);
                slot.bytes_reserved.store(0, Relaxed);
                slot.depth.store(0, Relaxed);
            }
        }
    }
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
/// ```compile_fail
/// let mut outside: &[u8] = &[];
/// tickmem_scratch::with(|s| outside = s.alloc_slice_copy(b"no"));
/// ```
///
/// Nor can an inner scope's allocation escape into the outer scope:
///
/// ```compile_fail
/// tickmem_scratch::with(|outer| {
///     let mut keep: &u32 = outer.alloc(1);
///     tickmem_scratch::with(|inner| keep = inner.alloc(2u32));
///     assert_eq!(*keep, 2);
/// });
/// ```
#[inline]
pub fn with<'env, R>(f: impl FnOnce(&Scratch<'env>) -> R) -> R {
    match STATE.try_with(|state| NonNull::from(&**state)) {
        Ok(state) => {
            // SAFETY: a thread-local lives until this thread runs its
            // thread-local destructors, which cannot happen while this call
            // is running on the thread (`try_with` succeeded, so ours has
            // not run yet). `State` is only ever shared (all `Cell`s).
            let state: &State = unsafe { state.as_ref() };
            let level = state.enter();
            let _guard = ScopeGuard { state, level };
            f(&Scratch::new(level))
        }
        Err(_) => with_detached(f),
    }
}

/// `with` for a thread whose thread-locals are being destroyed: a temporary
/// level, freed at the end.
#[cold]
#[inline(never)]
fn with_detached<'env, R>(f: impl FnOnce(&Scratch<'env>) -> R) -> R {
    /// Runs the destructors, then frees the level.
    struct Detached(LevelPtr);
    impl Drop for Detached {
        fn drop(&mut self) {
            /// Frees the level even if a destructor panics.
            struct Free(LevelPtr);
            impl Drop for Free {
                fn drop(&mut self) {
                    // SAFETY: the scope is over; nothing else knows the level.
                    unsafe { free_level(self.0) };
                }
            }
            let free = Free(self.0);
            // SAFETY: the level is live until `free` drops.
            run_drops(unsafe { self.0.as_ref() });
            drop(free);
        }
    }
    let guard = Detached(new_level(None, 1));
    f(&Scratch::new(guard.0))
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
        .unwrap_or_default()
}

/// Refresh this thread's cached policy (after `set_trim_policy`).
pub(crate) fn refresh_policy_here() {
    let _ = STATE.try_with(|state| {
        if state.slot.get().is_some() {
            state.refresh_policy();
        }
    });
}
