//! Who allocated: tag the code a thread runs, count each tag's own
//! allocator calls, and capture the call stack of the first call over a
//! budget (feature `attribution`).
//!
//! * A [`Tag`] names something that runs on threads (tickmem-ecs makes one
//!   per bevy system). [`enter`] makes it this thread's current tag until the
//!   returned [`Scope`] is finished or dropped; [`Scope::finish`] returns the
//!   calls the thread made meanwhile *minus* those of scopes nested inside
//!   it (a system that, while waiting for its jobs, runs another system's
//!   task on the same thread is not charged for it). Counting costs nothing
//!   inside the allocator: a scope reads this thread's counters when it
//!   starts and when it ends.
//! * [`arm`] asks the allocator to capture the call that goes over a budget:
//!   the `max_calls + 1`-th call of the process from now on (every thread),
//!   with its size, kind, thread, current tag and raw return addresses,
//!   written into a fixed static buffer without allocating, without a lock
//!   and without panicking. [`take`] reads it back, and
//!   [`Offender::symbolize`] turns the addresses into function names, files
//!   and lines, outside the allocator.
//!
//! # Examples
//!
//! ```
//! use tickmem_track::CountingAlloc;
//! use tickmem_track::attribution::{self, Tag};
//!
//! #[global_allocator]
//! static GLOBAL: CountingAlloc = CountingAlloc::system();
//!
//! let physics = Tag::unique();
//! let ai = Tag::unique();
//! let outer = attribution::enter(physics);
//! drop(Box::new(1u64)); // physics: 2 calls
//! let inner = attribution::enter(ai);
//! drop(vec![0u8; 100]); // ai: 2 calls, not charged to physics
//! assert_eq!(attribution::current(), Some(ai));
//! let ai_calls = inner.finish();
//! let physics_calls = outer.finish();
//! assert_eq!((ai_calls.calls(), ai_calls.bytes_allocated), (2, 100));
//! assert_eq!((physics_calls.calls(), physics_calls.bytes_allocated), (2, 8));
//! assert_eq!(attribution::current(), None);
//! ```

use std::cell::Cell;
use std::ffi::c_void;
use std::fmt;
use std::marker::PhantomData;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize};
use std::sync::{Mutex, PoisonError};

use crate::AllocStats;
use crate::counters::{Event, LOCAL, local_snapshot};

/// How many return addresses an [`Offender`] keeps (innermost first).
pub const MAX_FRAMES: usize = 48;

/// A name for code that runs on threads, such as a bevy system: allocator
/// calls made while it is a thread's current tag ([`enter`]) are its own.
///
/// Tags are unique in the process ([`Tag::unique`]); map them to names
/// yourself (tickmem-ecs keeps a table per world).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(NonZeroU32);

static NEXT_TAG: AtomicU32 = AtomicU32::new(1);

/// The tag of [`housekeeping`](crate::housekeeping) scopes (made on first use).
static HOUSEKEEPING_TAG: AtomicU32 = AtomicU32::new(0);

/// The [`Tag`] current while tickmem runs its own housekeeping
/// ([`housekeeping`](crate::housekeeping)): its calls are a nested scope of
/// their own, not charged to the surrounding one (a bevy system that
/// happened to make the frame arena grow).
///
/// ```
/// use tickmem_track::attribution::{current, housekeeping_tag};
/// assert_eq!(housekeeping_tag(), housekeeping_tag());
/// tickmem_track::housekeeping(|| assert_eq!(current(), Some(housekeeping_tag())));
/// assert_eq!(current(), None);
/// ```
pub fn housekeeping_tag() -> Tag {
    let raw = HOUSEKEEPING_TAG.load(Relaxed);
    if let Some(tag) = Tag::from_raw(raw) {
        return tag;
    }
    let fresh = Tag::unique().get();
    match HOUSEKEEPING_TAG.compare_exchange(0, fresh, Relaxed, Relaxed) {
        Ok(_) => Tag::from_raw(fresh),
        Err(won) => Tag::from_raw(won),
    }
    .expect("tags are never 0")
}

impl Tag {
    /// A tag no other call returned.
    ///
    /// # Panics
    ///
    /// After 4,294,967,295 tags (they are never reused).
    ///
    /// # Examples
    ///
    /// ```
    /// use tickmem_track::attribution::Tag;
    /// assert_ne!(Tag::unique(), Tag::unique());
    /// ```
    pub fn unique() -> Tag {
        let n = NEXT_TAG.fetch_add(1, Relaxed);
        Tag(NonZeroU32::new(n).expect("tickmem-track: attribution tags exhausted (2^32 - 1 made)"))
    }

    /// The tag's number (never 0).
    pub fn get(self) -> u32 {
        self.0.get()
    }

    fn from_raw(raw: u32) -> Option<Tag> {
        NonZeroU32::new(raw).map(Tag)
    }
}

/// This thread's attribution state, part of the counters' thread-local
/// (const-initialised, no destructor: readable inside the allocator and
/// during thread exit).
pub(crate) struct ThreadState {
    /// The current tag (0: none).
    tag: Cell<u32>,
    /// Sum of the own counts of every scope finished on this thread.
    nested: Cell<AllocStats>,
    /// This thread's number (0: not assigned yet).
    index: Cell<u64>,
    /// A capture is running on this thread (re-entry guard).
    capturing: Cell<bool>,
    /// The thread's name was recorded ([`name_this_thread`]).
    named: Cell<bool>,
}

const ZERO: AllocStats = AllocStats {
    allocs: 0,
    deallocs: 0,
    reallocs: 0,
    bytes_allocated: 0,
    bytes_freed: 0,
    peak_bytes: 0,
};

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

impl ThreadState {
    pub(crate) const fn new() -> Self {
        ThreadState {
            tag: Cell::new(0),
            nested: Cell::new(ZERO),
            index: Cell::new(0),
            capturing: Cell::new(false),
            named: Cell::new(false),
        }
    }

    fn index(&self) -> u64 {
        let i = self.index.get();
        if i != 0 {
            return i;
        }
        let i = NEXT_THREAD.fetch_add(1, Relaxed);
        self.index.set(i);
        i
    }
}

/// `a - b`, field by field, never below 0 (`peak_bytes` is 0).
fn minus(a: AllocStats, b: AllocStats) -> AllocStats {
    AllocStats {
        allocs: a.allocs.saturating_sub(b.allocs),
        deallocs: a.deallocs.saturating_sub(b.deallocs),
        reallocs: a.reallocs.saturating_sub(b.reallocs),
        bytes_allocated: a.bytes_allocated.saturating_sub(b.bytes_allocated),
        bytes_freed: a.bytes_freed.saturating_sub(b.bytes_freed),
        peak_bytes: 0,
    }
}

/// `a + b`, field by field (`peak_bytes` is 0).
fn plus(a: AllocStats, b: AllocStats) -> AllocStats {
    AllocStats {
        allocs: a.allocs.wrapping_add(b.allocs),
        deallocs: a.deallocs.wrapping_add(b.deallocs),
        reallocs: a.reallocs.wrapping_add(b.reallocs),
        bytes_allocated: a.bytes_allocated.wrapping_add(b.bytes_allocated),
        bytes_freed: a.bytes_freed.wrapping_add(b.bytes_freed),
        peak_bytes: 0,
    }
}

/// Make `tag` this thread's current tag until the returned [`Scope`] ends.
///
/// Scopes nest: the innermost one's tag is current, and each scope's
/// [`finish`](Scope::finish) counts only what no nested scope counted.
/// They must end in the reverse order they began (as guards in nested
/// blocks do): ending an outer scope while an inner one is open charges the
/// outer one with the inner one's calls so far and leaves a stale tag
/// current when the inner one ends.
/// Calls are counted when `CountingAlloc` is the global allocator (zeros
/// otherwise).
///
/// # Examples
///
/// ```
/// use tickmem_track::attribution::{self, Tag};
/// let tag = Tag::unique();
/// let scope = attribution::enter(tag);
/// assert_eq!(attribution::current(), Some(tag));
/// drop(scope);
/// assert_eq!(attribution::current(), None);
/// ```
pub fn enter(tag: Tag) -> Scope {
    let (prev, nested_start) = LOCAL.with(|l| {
        let a = &l.attribution;
        (a.tag.replace(tag.get()), a.nested.get())
    });
    Scope {
        prev,
        start: local_snapshot(),
        nested_start,
        open: true,
        _not_send: PhantomData,
    }
}

/// This thread's current tag, if a [`Scope`] is open.
///
/// # Examples
///
/// ```
/// assert_eq!(tickmem_track::attribution::current(), None);
/// ```
pub fn current() -> Option<Tag> {
    LOCAL.with(|l| Tag::from_raw(l.attribution.tag.get()))
}

/// A thread working for a [`Tag`], made by [`enter`]. Ends with
/// [`finish`](Scope::finish) (which returns its own counts) or when dropped
/// (also during a panic): the previous tag is current again.
///
/// `!Send`: it belongs to the thread that entered it.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<tickmem_track::attribution::Scope>();
/// ```
#[must_use = "the tag is current until the scope is finished or dropped"]
#[derive(Debug)]
pub struct Scope {
    prev: u32,
    start: AllocStats,
    nested_start: AllocStats,
    open: bool,
    _not_send: PhantomData<*const ()>,
}

impl Scope {
    /// End the scope and return the calls this thread made in it, minus
    /// those counted by scopes nested in it (`peak_bytes` is 0).
    pub fn finish(mut self) -> AllocStats {
        self.close()
    }

    fn close(&mut self) -> AllocStats {
        if !std::mem::replace(&mut self.open, false) {
            return ZERO;
        }
        let total = minus(local_snapshot(), self.start);
        LOCAL.with(|l| {
            let a = &l.attribution;
            let nested_now = a.nested.get();
            let own = minus(total, minus(nested_now, self.nested_start));
            a.nested.set(plus(nested_now, own));
            a.tag.set(self.prev);
            own
        })
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        self.close();
    }
}

/// This thread's number for reports (1 for the first thread that asked, and
/// so on; never reused). Safe to call inside the allocator: it does not
/// allocate.
///
/// # Examples
///
/// ```
/// let me = tickmem_track::attribution::thread_index();
/// assert_eq!(me, tickmem_track::attribution::thread_index());
/// let other = std::thread::spawn(tickmem_track::attribution::thread_index).join().unwrap();
/// assert_ne!(me, other);
/// ```
pub fn thread_index() -> u64 {
    LOCAL.try_with(|l| l.attribution.index()).unwrap_or(0)
}

/// Names of threads, by [`thread_index`], as recorded by
/// [`name_this_thread`] (at most [`MAX_NAMED_THREADS`]).
static THREAD_NAMES: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());

/// How many thread names [`name_this_thread`] keeps.
pub const MAX_NAMED_THREADS: usize = 4096;

/// Remember this thread's name for reports ([`thread_name`]); the first call
/// per thread allocates the copy, later ones do nothing. Not for use inside
/// the allocator.
///
/// # Examples
///
/// ```
/// use tickmem_track::attribution::{name_this_thread, thread_index, thread_name};
/// std::thread::Builder::new()
///     .name("worker-7".into())
///     .spawn(|| {
///         name_this_thread();
///         assert_eq!(thread_name(thread_index()).as_deref(), Some("worker-7"));
///     })
///     .unwrap()
///     .join()
///     .unwrap();
/// ```
pub fn name_this_thread() {
    let Ok(first) = LOCAL.try_with(|l| !l.attribution.named.replace(true)) else {
        return;
    };
    if !first {
        return;
    }
    let index = thread_index();
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("<unnamed>").to_owned();
    let mut names = THREAD_NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    if names.len() < MAX_NAMED_THREADS {
        names.push((index, name));
    }
}

/// The name recorded for thread `index` by [`name_this_thread`], if any.
pub fn thread_name(index: u64) -> Option<String> {
    let names = THREAD_NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    names
        .iter()
        .find(|(i, _)| *i == index)
        .map(|(_, n)| n.clone())
}

// ---------------------------------------------------------------------------
// The first offender.

/// What kind of allocator call an [`Offender`] was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// `alloc` or `alloc_zeroed`.
    Alloc,
    /// `dealloc`.
    Dealloc,
    /// `realloc`.
    Realloc,
}

impl fmt::Display for CallKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CallKind::Alloc => "allocation",
            CallKind::Dealloc => "deallocation",
            CallKind::Realloc => "reallocation",
        })
    }
}

const EMPTY: u8 = 0;
const WRITING: u8 = 1;
const READY: u8 = 2;

/// The capture buffer: one offender at a time, written by the one thread
/// whose call drew the ticket `max_calls`, read by [`take`].
struct Slot {
    state: AtomicU8,
    tick: AtomicU32,
    kind: AtomicU8,
    size: AtomicUsize,
    tag: AtomicU32,
    thread: AtomicU64,
    len: AtomicUsize,
    frames: [AtomicUsize; MAX_FRAMES],
}

static SLOT: Slot = Slot {
    state: AtomicU8::new(EMPTY),
    tick: AtomicU32::new(0),
    kind: AtomicU8::new(0),
    size: AtomicUsize::new(0),
    tag: AtomicU32::new(0),
    thread: AtomicU64::new(0),
    len: AtomicUsize::new(0),
    frames: [const { AtomicUsize::new(0) }; MAX_FRAMES],
};

static ARMED: AtomicBool = AtomicBool::new(false);
/// The budget: the call whose ticket equals it is the offender.
static MAX_CALLS: AtomicU64 = AtomicU64::new(0);
/// `(tick as u32) << 32 | calls counted since [`arm`]`.
static TICKET: AtomicU64 = AtomicU64::new(0);

/// Capture the first call over `max_calls` from now on, for tick `tick`:
/// the `max_calls + 1`-th successful allocator call of the process (every
/// thread) is recorded with its stack. Re-arming restarts the count.
///
/// Costs one shared atomic add per allocator call while armed (none when
/// not). A budget of 2^32 calls or more is never captured.
///
/// # Examples
///
/// ```
/// use tickmem_track::CountingAlloc;
/// use tickmem_track::attribution::{self, CallKind};
///
/// #[global_allocator]
/// static GLOBAL: CountingAlloc = CountingAlloc::system();
///
/// attribution::arm(1, 7); // tick 7 may make one call
/// let a = Box::new(1u32); // call 1: within the budget
/// let b = Box::new([0u8; 24]); // call 2: the offender
/// attribution::disarm();
/// let offender = attribution::take(7).expect("captured");
/// assert_eq!((offender.kind, offender.size), (CallKind::Alloc, 24));
/// assert_eq!(offender.thread, attribution::thread_index());
/// # drop((a, b));
/// ```
pub fn arm(max_calls: u64, tick: u64) {
    // An offender nobody took (or a late one of an earlier tick) would keep
    // this tick's from being written.
    let _ = SLOT.state.compare_exchange(READY, EMPTY, Acquire, Relaxed);
    MAX_CALLS.store(max_calls, Relaxed);
    TICKET.store(u64::from(tick as u32) << 32, Relaxed);
    ARMED.store(true, Release);
}

/// Stop capturing (until the next [`arm`]).
pub fn disarm() {
    ARMED.store(false, Release);
}

/// Called by the counters after every successful allocator call: inside the
/// global allocator, so it neither allocates nor panics.
#[inline(always)]
pub(crate) fn on_call(event: Event) {
    if ARMED.load(Relaxed) {
        armed_call(event);
    }
}

#[cold]
#[inline(never)]
fn armed_call(event: Event) {
    // tickmem's own housekeeping is not the user's: it takes no ticket, so
    // it is never the captured call over the budget.
    if crate::housekeeping::active() {
        return;
    }
    let ticket = TICKET.fetch_add(1, Relaxed);
    if ticket & 0xFFFF_FFFF == MAX_CALLS.load(Relaxed) {
        capture((ticket >> 32) as u32, event);
    }
}

/// Record the offending call. Inside the allocator: no allocation, no lock,
/// no panic; a re-entrant call (the unwinder allocating) does nothing.
fn capture(tick: u32, event: Event) {
    let Ok(entered) = LOCAL.try_with(|l| !l.attribution.capturing.replace(true)) else {
        return;
    };
    if !entered {
        return;
    }
    if SLOT
        .state
        .compare_exchange(EMPTY, WRITING, Acquire, Relaxed)
        .is_ok()
    {
        let (kind, size) = match event {
            Event::Alloc { size } => (CallKind::Alloc, size),
            Event::Dealloc { size } => (CallKind::Dealloc, size),
            Event::Realloc { new, .. } => (CallKind::Realloc, new),
        };
        SLOT.tick.store(tick, Relaxed);
        SLOT.kind.store(kind as u8, Relaxed);
        SLOT.size.store(size, Relaxed);
        let tag = LOCAL.try_with(|l| l.attribution.tag.get()).unwrap_or(0);
        SLOT.tag.store(tag, Relaxed);
        SLOT.thread.store(thread_index(), Relaxed);
        let mut frames = [0usize; MAX_FRAMES];
        let len = walk_stack(&mut frames);
        for (slot, &ip) in SLOT.frames.iter().zip(&frames[..len]) {
            slot.store(ip, Relaxed);
        }
        SLOT.len.store(len, Relaxed);
        SLOT.state.store(READY, Release);
    }
    let _ = LOCAL.try_with(|l| l.attribution.capturing.set(false));
}

/// Write this thread's return addresses, innermost first, into `buf`;
/// returns how many were written. Does not allocate, lock or panic, so it
/// can run inside a global allocator. Empty on platforms other than Unix,
/// and under Miri.
///
/// # Examples
///
/// ```
/// let mut buf = [0usize; 16];
/// let n = tickmem_track::attribution::walk_stack(&mut buf);
/// assert!(n <= buf.len());
/// # #[cfg(all(unix, not(miri)))]
/// assert!(n > 0);
/// ```
pub fn walk_stack(buf: &mut [usize]) -> usize {
    #[cfg(all(unix, not(miri)))]
    {
        let mut n = 0;
        // SAFETY: `trace_unsynchronized` is only "unsafe" for lack of the
        // crate's lock, which serialises Windows' dbghelp; on Unix the frames
        // come from libgcc's `_Unwind_Backtrace`, which is thread-safe and
        // re-entrant and does not allocate through the Rust allocator. The
        // callback cannot panic (bounds-checked write), as the crate asks.
        unsafe {
            backtrace::trace_unsynchronized(|frame| match buf.get_mut(n) {
                Some(slot) => {
                    *slot = frame.ip().addr();
                    n += 1;
                    true
                }
                None => false,
            });
        }
        n
    }
    #[cfg(not(all(unix, not(miri))))]
    {
        let _ = buf;
        0
    }
}

/// The first allocator call over a budget, as captured after [`arm`].
///
/// Plain data (`Copy`, no allocation): the return addresses are raw until
/// [`symbolize`](Offender::symbolize)d.
#[derive(Clone, Copy)]
pub struct Offender {
    /// The tick it was armed for (the low 32 bits of [`arm`]'s `tick`).
    pub tick: u32,
    /// What kind of call it was.
    pub kind: CallKind,
    /// Bytes requested (the new size of a reallocation; the size freed for
    /// a deallocation).
    pub size: usize,
    /// The calling thread's current tag, if a [`Scope`] was open.
    pub tag: Option<Tag>,
    /// The calling thread's [`thread_index`].
    pub thread: u64,
    frames: [usize; MAX_FRAMES],
    len: usize,
}

impl fmt::Debug for Offender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Offender")
            .field("tick", &self.tick)
            .field("kind", &self.kind)
            .field("size", &self.size)
            .field("tag", &self.tag)
            .field("thread", &self.thread)
            .field("frames", &self.frames())
            .finish()
    }
}

/// The offender captured for `tick`, if its call happened (and only once:
/// the buffer is emptied). An offender of another tick still in the buffer
/// (a call that raced with re-arming) is dropped.
pub fn take(tick: u64) -> Option<Offender> {
    // The offending call may be being captured right now on another thread
    // (a worker that made it just before the boundary, walking its stack:
    // the first walk in a process loads unwind tables). The capture neither
    // blocks nor allocates: wait for it, a bounded while. Before, `take`
    // returned `None` then, and the report lost its offender.
    let mut waited = 0u32;
    loop {
        match SLOT.state.load(Acquire) {
            READY => break,
            WRITING if waited < 100_000 => {
                waited += 1;
                std::thread::yield_now();
            }
            _ => return None,
        }
    }
    let kind = match SLOT.kind.load(Relaxed) {
        0 => CallKind::Alloc,
        1 => CallKind::Dealloc,
        _ => CallKind::Realloc,
    };
    let len = SLOT.len.load(Relaxed).min(MAX_FRAMES);
    let mut frames = [0usize; MAX_FRAMES];
    for (out, slot) in frames.iter_mut().zip(&SLOT.frames[..len]) {
        *out = slot.load(Relaxed);
    }
    let offender = Offender {
        tick: SLOT.tick.load(Relaxed),
        kind,
        size: SLOT.size.load(Relaxed),
        tag: Tag::from_raw(SLOT.tag.load(Relaxed)),
        thread: SLOT.thread.load(Relaxed),
        frames,
        len,
    };
    SLOT.state.store(EMPTY, Release);
    (offender.tick == tick as u32).then_some(offender)
}

/// One frame of a symbolised stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackFrame {
    /// The return address.
    pub ip: usize,
    /// The function, demangled, if symbols are available.
    pub function: Option<String>,
    /// Its source file, with debug info.
    pub file: Option<PathBuf>,
    /// Its line, with debug info.
    pub line: Option<u32>,
}

impl fmt::Display for StackFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.function {
            Some(name) => f.write_str(name)?,
            None => write!(f, "{:#x}", self.ip)?,
        }
        if let Some(file) = &self.file {
            write!(f, "\n             at {}", file.display())?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
        }
        Ok(())
    }
}

/// Functions of the allocator and of the capture itself: the top of every
/// captured stack, not where the allocation came from.
const MACHINERY: [&str; 11] = [
    "backtrace::",
    "__rustc",
    "tickmem_track::",
    "<tickmem_track::",
    "__rust_",
    "__rdl_",
    "__rg_",
    "alloc::alloc::",
    "<alloc::alloc::",
    "std::alloc::",
    "<std::alloc::",
];

impl Offender {
    /// The raw return addresses, innermost first (at most [`MAX_FRAMES`]).
    pub fn frames(&self) -> &[usize] {
        &self.frames[..self.len]
    }

    /// Resolve the return addresses to functions, files and lines (inlined
    /// functions are frames of their own), starting at the first frame
    /// outside the allocator and the capture. Allocates and reads debug
    /// info: call it outside the allocator, e.g. when reporting.
    ///
    /// Without symbols (a stripped binary) frames show only addresses;
    /// without debug info, no files and lines.
    pub fn symbolize(&self) -> Vec<StackFrame> {
        let mut out = Vec::new();
        for &ip in self.frames() {
            let before = out.len();
            backtrace::resolve(std::ptr::without_provenance_mut::<c_void>(ip), |symbol| {
                out.push(StackFrame {
                    ip,
                    // `{:#}`: demangled without the hash suffix.
                    function: symbol.name().map(|n| format!("{n:#}")),
                    file: symbol.filename().map(|p| p.to_path_buf()),
                    line: symbol.lineno(),
                });
            });
            if out.len() == before {
                out.push(StackFrame {
                    ip,
                    function: None,
                    file: None,
                    line: None,
                });
            }
        }
        let machinery = out
            .iter()
            .take_while(|f| {
                f.function
                    .as_deref()
                    .is_some_and(|name| MACHINERY.iter().any(|m| name.starts_with(m)))
            })
            .count();
        out.drain(..machinery);
        out
    }
}
