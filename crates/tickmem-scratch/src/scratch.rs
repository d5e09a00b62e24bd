//! [`Scratch`]: the allocation handle a [`with`](crate::with) scope gets.

use std::alloc::Layout;
use std::fmt;
use std::marker::PhantomData;
use std::mem;
use std::ptr::{self, NonNull};

use allocator_api2::alloc::{AllocError, Allocator};
use bumpalo::Bump;

use crate::state::{DropEntry, Level, LevelPtr};
use crate::vec::{ScratchAlloc, ScratchVec};

/// One scope of this thread's scratch arena, handed to the closure of
/// [`with`](crate::with). Everything allocated through it lives until the
/// scope exits.
///
/// Allocation is a pointer bump in the scope's own chunks: no lock, no atomic,
/// no global-allocator call once the thread's arena is warm.
///
/// # Lifetimes
///
/// Allocations borrow the `&Scratch` the closure receives, so none can leave
/// the closure. `'env` stands for data from outside the scope (it outlives
/// the whole [`with`](crate::with) call).
///
/// # Destructors
///
/// A value whose type needs `Drop`, given to [`alloc`](Self::alloc),
/// [`try_alloc`](Self::try_alloc), [`alloc_slice_fill_with`](Self::alloc_slice_fill_with)
/// or [`alloc_slice_clone`](Self::alloc_slice_clone), is dropped when the scope
/// exits (also on panic), exactly once, newest first. For that to be sound
/// those methods require `T: 'env`: such a value may borrow data from outside
/// the scope, but not other scratch allocations, whose destructors may
/// already have run when its own runs:
///
/// ```compile_fail,E0521
/// use std::cell::Cell;
/// struct Node<'a> {
///     next: Cell<Option<&'a Node<'a>>>,
///     name: String,
/// }
/// impl Drop for Node<'_> {
///     fn drop(&mut self) {
///         // Would read a node that may have been dropped already.
///         if let Some(n) = self.next.get() { assert!(!n.name.is_empty()) }
///     }
/// }
/// tickmem_scratch::with(|s| {
///     let a = s.alloc(Node { next: Cell::new(None), name: "a".into() });
///     let b = s.alloc(Node { next: Cell::new(None), name: "b".into() });
///     a.next.set(Some(b)); // rejected: `Node<'scope>` does not outlive `'env`
/// });
/// ```
///
/// Naming the scope's own lifetime as `'env` does not get around it
/// (`Scratch` is invariant in `'env`):
///
/// ```compile_fail,E0521
/// # use std::cell::Cell;
/// # struct Node<'a> { next: Cell<Option<&'a Node<'a>>>, name: String }
/// # impl Drop for Node<'_> { fn drop(&mut self) {} }
/// fn build<'a>(s: &'a tickmem_scratch::Scratch<'a>) {
///     let a = s.alloc(Node { next: Cell::new(None), name: "a".into() });
///     let b = s.alloc(Node { next: Cell::new(None), name: "b".into() });
///     a.next.set(Some(b));
/// }
/// tickmem_scratch::with(|s| build(s)); // rejected
/// ```
///
/// An outer scope's value with a destructor cannot borrow an inner scope's
/// allocation (the inner one is gone first); the other way round is fine:
///
/// ```compile_fail,E0521
/// struct Holder<'a>(&'a u32);
/// impl Drop for Holder<'_> { fn drop(&mut self) { assert_eq!(*self.0, 5) } }
/// tickmem_scratch::with(|outer| {
///     tickmem_scratch::with(|inner| {
///         let v = inner.alloc_copy(5u32);
///         outer.alloc(Holder(v)); // rejected
///     });
/// });
/// ```
///
/// ```
/// struct Holder<'a>(&'a u32);
/// impl Drop for Holder<'_> { fn drop(&mut self) { assert_eq!(*self.0, 5) } }
/// tickmem_scratch::with(|outer| {
///     let v = outer.alloc_copy(5u32);
///     tickmem_scratch::with(|inner| {
///         inner.alloc(Holder(v)); // dropped at the inner exit, `v` still alive
///     });
/// });
/// ```
///
/// Values that borrow other scratch allocations have no such risk when they
/// have no destructor: use [`alloc_copy`](Self::alloc_copy),
/// [`alloc_slice_copy`](Self::alloc_slice_copy) or a [`ScratchVec`] for them.
///
/// ```
/// #[derive(Clone, Copy)]
/// struct Edge<'a> { to: &'a u32 }
/// tickmem_scratch::with(|s| {
///     let node = s.alloc_copy(7u32);
///     let edge = s.alloc_copy(Edge { to: node });
///     assert_eq!(*edge.to, 7);
/// });
/// ```
///
/// # Threads
///
/// A `Scratch` belongs to its thread: it is neither `Send` nor `Sync`.
///
/// ```compile_fail,E0277
/// fn assert_send<T: Send>() {}
/// assert_send::<tickmem_scratch::Scratch<'static>>();
/// ```
///
/// ```compile_fail,E0277
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<tickmem_scratch::Scratch<'static>>();
/// ```
///
/// ```compile_fail,E0277
/// tickmem_scratch::with(|s| {
///     std::thread::scope(|t| {
///         t.spawn(|| s.alloc(1u8)); // `&Scratch` cannot cross threads
///     });
/// });
/// ```
///
/// Nor can a collection that allocates through it:
///
/// ```compile_fail,E0277
/// use allocator_api2::vec::Vec;
/// tickmem_scratch::with(|s| {
///     let mut v: Vec<u32, _> = Vec::new_in(s);
///     std::thread::scope(|t| {
///         t.spawn(move || v.push(1));
///     });
/// });
/// ```
///
/// What it allocated may be lent to other threads while the scope is open,
/// as any borrowed data (`&mut T` is `Send` when `T` is, `&T` when `T` is
/// `Sync`): the memory stays valid until the scope exits, which the borrow
/// checker places after the scoped threads have joined. Values with a
/// destructor are still dropped by the scope's own thread.
///
/// ```
/// tickmem_scratch::with(|s| {
///     let sums = s.alloc_slice_fill_with(4, |_| 0u64);
///     let names = s.alloc_slice_fill_with(4, |i| format!("worker {i}"));
///     std::thread::scope(|t| {
///         for (sum, name) in sums.iter_mut().zip(names.iter()) {
///             t.spawn(move || *sum = name.len() as u64);
///         }
///     });
///     assert_eq!(sums, &[8, 8, 8, 8]);
/// });
/// ```
///
/// A value that is not `Send` stays on its thread:
///
/// ```compile_fail,E0277
/// tickmem_scratch::with(|s| {
///     let shared = s.alloc(std::rc::Rc::new(1u32));
///     std::thread::scope(|t| {
///         t.spawn(move || **shared + 1);
///     });
/// });
/// ```
pub struct Scratch<'env> {
    level: LevelPtr,
    /// Invariant in `'env` (so `'env` cannot be shrunk to the scope's own
    /// lifetime), and `!Send + !Sync`.
    _env: PhantomData<*mut &'env ()>,
}

/// A scratch allocation failed: the global allocator could not provide a
/// chunk big enough.
///
/// ```
/// use tickmem_scratch::ScratchAllocError;
///
/// let err = ScratchAllocError { requested: 1 << 40, align: 8, in_use: 4096 };
/// assert_eq!(
///     err.to_string(),
///     "scratch allocation of 1099511627776 bytes (align 8) failed: the global allocator \
///      could not provide a chunk (the scope had already used 4096 bytes)"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScratchAllocError {
    /// Bytes asked for.
    pub requested: usize,
    /// Alignment asked for.
    pub align: usize,
    /// Bytes the scope had already used.
    pub in_use: usize,
}

impl fmt::Display for ScratchAllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.requested > isize::MAX as usize {
            return write!(
                f,
                "scratch allocation of {} bytes (align {}) failed: larger than isize::MAX bytes \
                 (the scope had already used {} bytes)",
                self.requested, self.align, self.in_use
            );
        }
        write!(
            f,
            "scratch allocation of {} bytes (align {}) failed: the global allocator \
             could not provide a chunk (the scope had already used {} bytes)",
            self.requested, self.align, self.in_use
        )
    }
}

impl std::error::Error for ScratchAllocError {}

/// A value with its destructor entry in front.
#[repr(C)]
struct Owned<T> {
    entry: DropEntry,
    value: T,
}

/// # Safety
///
/// `entry` points to the `entry` field of a live, initialised `Owned<T>`,
/// with provenance over the whole record, whose value is dropped only here.
unsafe fn drop_owned<T>(entry: NonNull<DropEntry>) {
    let owned = entry.cast::<Owned<T>>().as_ptr();
    // SAFETY: per the contract, `owned` points to a live `Owned<T>`.
    let value = unsafe { &raw mut (*owned).value };
    // SAFETY: per the contract, the value is initialised and dropped only
    // here.
    unsafe { ptr::drop_in_place(value) };
}

/// A slice's destructor entry: drops the first `len` elements at `ptr`.
#[repr(C)]
struct SliceDrop<T> {
    entry: DropEntry,
    ptr: NonNull<T>,
    len: usize,
}

/// # Safety
///
/// `entry` points to the `entry` field of a live `SliceDrop<T>`, with
/// provenance over the whole record, whose first `len` elements at `ptr` are
/// initialised and dropped only here.
unsafe fn drop_slice<T>(entry: NonNull<DropEntry>) {
    // SAFETY: per the contract, `entry` starts a live `SliceDrop<T>`.
    let record = unsafe { entry.cast::<SliceDrop<T>>().as_ref() };
    let (ptr, len) = (record.ptr, record.len);
    // SAFETY: per the contract, the `len` elements at `ptr` are initialised
    // and dropped only here.
    unsafe { ptr::drop_in_place(ptr::slice_from_raw_parts_mut(ptr.as_ptr(), len)) };
}

#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn alloc_failed(err: ScratchAllocError) -> ! {
    panic!("tickmem-scratch: {err}")
}

#[cold]
#[inline(never)]
#[track_caller]
fn slice_too_big(len: usize, size: usize) -> ! {
    panic!(
        "tickmem-scratch: a slice of {len} elements of {size} bytes is larger than isize::MAX bytes"
    )
}

#[expect(
    clippy::mut_from_ref,
    reason = "arena allocation: every call returns a fresh block, unique until the scope exits"
)]
impl<'env> Scratch<'env> {
    pub(crate) fn new(level: LevelPtr) -> Self {
        Scratch {
            level,
            _env: PhantomData,
        }
    }

    #[inline(always)]
    fn level(&self) -> &Level {
        // SAFETY: the level of an open scope is live for as long as the
        // scope's `Scratch` exists: trims free only levels no scope uses, a
        // temporary level is freed after its scope's closure has returned,
        // and the thread's state leaves its levels alone when it is
        // destroyed while scopes are open (`std::process::exit` in a scope).
        unsafe { self.level.as_ref() }
    }

    #[inline(always)]
    fn bump(&self) -> &Bump {
        &self.level().bump
    }

    /// This scope's allocator handle (what a `ScratchVec` grows with).
    #[inline(always)]
    fn handle(&self) -> ScratchAlloc<'_> {
        ScratchAlloc::new(self.level())
    }

    fn error(&self, layout: Layout) -> ScratchAllocError {
        ScratchAllocError {
            requested: layout.size(),
            align: layout.align(),
            in_use: self.level().used(),
        }
    }

    #[inline(always)]
    #[track_caller]
    fn alloc_layout(&self, layout: Layout) -> NonNull<u8> {
        match self.bump().try_alloc_layout(layout) {
            Ok(p) => p,
            Err(_) => alloc_failed(self.error(layout)),
        }
    }

    /// Link a destructor record. It must be fully initialised.
    fn register(&self, entry: NonNull<DropEntry>) {
        self.level().drops.set(Some(entry));
    }

    /// The depth of this scope: 1 for an outermost scope. (A temporary
    /// scope, used at thread exit after the thread's scratch state is gone,
    /// counts the open temporary scopes.)
    ///
    /// ```
    /// tickmem_scratch::with(|s| {
    ///     assert_eq!(s.depth(), 1);
    ///     tickmem_scratch::with(|t| assert_eq!(t.depth(), 2));
    /// });
    /// ```
    pub fn depth(&self) -> usize {
        self.level().depth
    }

    /// Bytes this scope has used so far (padding included).
    ///
    /// ```
    /// tickmem_scratch::with(|s| {
    ///     s.alloc_slice_copy(&[0u64; 8]);
    ///     assert!(s.bytes_used() >= 64);
    /// });
    /// ```
    pub fn bytes_used(&self) -> usize {
        self.level().used()
    }

    /// Move `val` into the scope and return a reference to it. If `T` needs
    /// `Drop`, it is dropped when the scope exits.
    ///
    /// # Panics
    ///
    /// If the global allocator cannot provide a chunk (see
    /// [`try_alloc`](Self::try_alloc)).
    ///
    /// # Examples
    ///
    /// ```
    /// tickmem_scratch::with(|s| {
    ///     let name = s.alloc(String::from("path query"));
    ///     name.push_str(" #1");
    ///     assert_eq!(name, "path query #1");
    /// }); // `name` is dropped here
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc<T: 'env>(&self, val: T) -> &mut T {
        if mem::needs_drop::<T>() {
            return match self.alloc_owned(val) {
                Ok(v) => v,
                Err(e) => alloc_failed(e),
            };
        }
        let p = self.alloc_layout(Layout::new::<T>()).cast::<T>();
        // SAFETY: `p` is a fresh allocation with `T`'s layout.
        unsafe { p.write(val) };
        // SAFETY: `p` is initialised, unique, and valid until the scope
        // exits, which the returned borrow of `self` cannot outlive.
        unsafe { &mut *p.as_ptr() }
    }

    /// Like [`alloc`](Self::alloc), but an allocation failure is an error
    /// (and `val` is dropped).
    ///
    /// ```
    /// tickmem_scratch::with(|s| {
    ///     let v = s.try_alloc(vec![1, 2, 3]).expect("small allocation");
    ///     assert_eq!(v.len(), 3);
    /// });
    /// ```
    #[inline]
    pub fn try_alloc<T: 'env>(&self, val: T) -> Result<&mut T, ScratchAllocError> {
        if mem::needs_drop::<T>() {
            return self.alloc_owned(val);
        }
        let layout = Layout::new::<T>();
        let p = self
            .bump()
            .try_alloc_layout(layout)
            .map_err(|_| self.error(layout))?
            .cast::<T>();
        // SAFETY: `p` is a fresh allocation with `T`'s layout.
        unsafe { p.write(val) };
        // SAFETY: as in `alloc`.
        Ok(unsafe { &mut *p.as_ptr() })
    }

    /// Allocate `val` with a destructor entry in front of it.
    fn alloc_owned<T>(&self, val: T) -> Result<&mut T, ScratchAllocError> {
        let layout = Layout::new::<Owned<T>>();
        let p = self
            .bump()
            .try_alloc_layout(layout)
            .map_err(|_| self.error(layout))?
            .cast::<Owned<T>>();
        let record = Owned {
            entry: DropEntry {
                next: self.level().drops.get(),
                drop_fn: drop_owned::<T>,
            },
            value: val,
        };
        // SAFETY: `p` is a fresh allocation with `Owned<T>`'s layout.
        unsafe { p.write(record) };
        // `Owned` is `repr(C)` with `entry` first: `p` is the entry's address,
        // with provenance over the whole record, as `drop_owned` requires.
        self.register(p.cast());
        // SAFETY: the value is initialised, not aliased (the drop list only
        // touches it at scope exit, after this borrow of `self` has ended)
        // and valid until the scope exits.
        Ok(unsafe { &mut (*p.as_ptr()).value })
    }

    /// Move a `Copy` value into the scope. Unlike [`alloc`](Self::alloc) it
    /// needs no `'env` bound, so the value may borrow other scratch
    /// allocations (a `Copy` type has no destructor).
    ///
    /// ```
    /// tickmem_scratch::with(|s| {
    ///     let ids = s.alloc_slice_copy(&[3u32, 1, 2]);
    ///     let view: &mut &[u32] = s.alloc_copy(&ids[..2]);
    ///     assert_eq!(**view, [3, 1]);
    /// });
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc_copy<T: Copy>(&self, val: T) -> &mut T {
        let p = self.alloc_layout(Layout::new::<T>()).cast::<T>();
        // SAFETY: `p` is a fresh allocation with `T`'s layout.
        unsafe { p.write(val) };
        // SAFETY: as in `alloc`.
        unsafe { &mut *p.as_ptr() }
    }

    /// Copy a slice into the scope.
    ///
    /// ```
    /// tickmem_scratch::with(|s| {
    ///     let path = s.alloc_slice_copy(&[4u16, 8, 15]);
    ///     path.reverse();
    ///     assert_eq!(path, &[15, 8, 4]);
    /// });
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc_slice_copy<T: Copy>(&self, src: &[T]) -> &mut [T] {
        let p = self.alloc_layout(Layout::for_value(src)).cast::<T>();
        // SAFETY: `p` is a fresh allocation of `src.len()` `T`s, which cannot
        // overlap `src`.
        unsafe { ptr::copy_nonoverlapping(src.as_ptr(), p.as_ptr(), src.len()) };
        // SAFETY: the `src.len()` elements are initialised, unique and valid
        // until the scope exits.
        unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), src.len()) }
    }

    /// Copy a string into the scope.
    ///
    /// ```
    /// tickmem_scratch::with(|s| {
    ///     let label = s.alloc_str("enemy-7");
    ///     label.make_ascii_uppercase();
    ///     assert_eq!(label, "ENEMY-7");
    /// });
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc_str(&self, src: &str) -> &mut str {
        let bytes = self.alloc_slice_copy(src.as_bytes());
        // SAFETY: the bytes were copied from a `str`, so they are UTF-8.
        unsafe { std::str::from_utf8_unchecked_mut(bytes) }
    }

    /// Allocate a slice of `len` elements, element `i` being `f(i)`. If `T`
    /// needs `Drop`, the elements are dropped when the scope exits (those
    /// made before a panic in `f` too).
    ///
    /// # Panics
    ///
    /// If the slice would be larger than `isize::MAX` bytes, if the global
    /// allocator cannot provide a chunk, or if `f` panics.
    ///
    /// ```
    /// tickmem_scratch::with(|s| {
    ///     let costs = s.alloc_slice_fill_with(4, |i| i as f32 * 0.5);
    ///     assert_eq!(costs, &[0.0, 0.5, 1.0, 1.5]);
    ///     let names = s.alloc_slice_fill_with(2, |i| format!("cell {i}"));
    ///     assert_eq!(names[1], "cell 1");
    /// });
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc_slice_fill_with<T: 'env, F>(&self, len: usize, mut f: F) -> &mut [T]
    where
        F: FnMut(usize) -> T,
    {
        let Ok(layout) = Layout::array::<T>(len) else {
            slice_too_big(len, mem::size_of::<T>())
        };
        if !mem::needs_drop::<T>() {
            let p = self.alloc_layout(layout).cast::<T>();
            for i in 0..len {
                let value = f(i);
                // SAFETY: `i < len`: inside the fresh allocation of `len` `T`s.
                let slot = unsafe { p.add(i) };
                // SAFETY: `slot` is in bounds, aligned and not initialised yet.
                unsafe { slot.write(value) };
            }
            // SAFETY: all `len` elements are initialised, unique and valid
            // until the scope exits.
            return unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), len) };
        }
        // The destructor record first, counting the elements made so far, so
        // a panic in `f` still drops them at scope exit.
        let record = self
            .alloc_layout(Layout::new::<SliceDrop<T>>())
            .cast::<SliceDrop<T>>();
        let init = SliceDrop {
            entry: DropEntry {
                next: self.level().drops.get(),
                drop_fn: drop_slice::<T>,
            },
            ptr: NonNull::dangling(),
            len: 0,
        };
        // SAFETY: `record` is a fresh allocation with `SliceDrop<T>`'s layout.
        unsafe { record.write(init) };
        // `SliceDrop` is `repr(C)` with `entry` first (see `alloc_owned`).
        self.register(record.cast());
        let p = self.alloc_layout(layout).cast::<T>();
        // SAFETY: `record` is initialised and only this function touches it
        // until the scope exits.
        unsafe { (*record.as_ptr()).ptr = p };
        for i in 0..len {
            let value = f(i);
            // SAFETY: `i < len`: inside the fresh allocation of `len` `T`s.
            let slot = unsafe { p.add(i) };
            // SAFETY: `slot` is in bounds, aligned and not initialised yet.
            unsafe { slot.write(value) };
            // SAFETY: as above; element `i` is now initialised.
            unsafe { (*record.as_ptr()).len = i + 1 };
        }
        // SAFETY: all `len` elements are initialised and valid until the scope
        // exits; the record only touches them then, after this borrow ends.
        unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), len) }
    }

    /// Clone a slice into the scope (dropped at scope exit if `T` needs it).
    ///
    /// ```
    /// tickmem_scratch::with(|s| {
    ///     let words = s.alloc_slice_clone(&[String::from("a"), String::from("b")]);
    ///     words[0].push('!');
    ///     assert_eq!(words.concat(), "a!b");
    /// });
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc_slice_clone<T: Clone + 'env>(&self, src: &[T]) -> &mut [T] {
        self.alloc_slice_fill_with(src.len(), |i| src[i].clone())
    }

    /// An empty growable vector in the scope.
    ///
    /// ```
    /// tickmem_scratch::with(|s| {
    ///     let mut open = s.vec();
    ///     open.extend([5u32, 3, 9]);
    ///     open.sort_unstable();
    ///     assert_eq!(open, [3, 5, 9]);
    /// });
    /// ```
    #[inline]
    pub fn vec<T>(&self) -> ScratchVec<'_, T> {
        ScratchVec::new_in(self.handle())
    }

    /// A growable vector in the scope with room for `capacity` elements.
    ///
    /// ```
    /// tickmem_scratch::with(|s| {
    ///     let mut hits = s.vec_with_capacity(16);
    ///     hits.push((1u32, 2u32));
    ///     assert!(hits.capacity() >= 16);
    /// });
    /// ```
    #[inline]
    pub fn vec_with_capacity<T>(&self, capacity: usize) -> ScratchVec<'_, T> {
        ScratchVec::with_capacity_in(capacity, self.handle())
    }

    /// This scope as an [`allocator_api2`] allocator (the same as `self`:
    /// `&Scratch` implements [`Allocator`]), for `allocator_api2`'s `Vec`,
    /// `Box` and `hashbrown` maps.
    ///
    /// ```
    /// use allocator_api2::vec::Vec;
    ///
    /// tickmem_scratch::with(|s| {
    ///     let mut v: Vec<u64, _> = Vec::new_in(s.allocator());
    ///     v.extend(0..100);
    ///     assert_eq!(v.iter().sum::<u64>(), 4950);
    /// });
    /// ```
    #[inline]
    pub fn allocator(&self) -> &Self {
        self
    }
}

// SAFETY: every method forwards to this scope's `ScratchAlloc` (the level's
// `&Bump`), unchanged; `ScratchAlloc`'s SAFETY note applies. Blocks stay
// valid until they are deallocated or the scope exits; the scope cannot exit
// while the `&Scratch` (and so any collection using it) is alive, because
// the `&Scratch` borrows the scope's `Scratch`, which is dropped only after
// the closure has returned. Every `ScratchAlloc` of the scope is the same
// allocator, so blocks may be given to any of them.
unsafe impl Allocator for &Scratch<'_> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.handle().allocate(layout)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { self.handle().deallocate(ptr, layout) }
    }

    #[inline]
    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: forwarded from the caller.
        unsafe { self.handle().grow(ptr, old_layout, new_layout) }
    }

    #[inline]
    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: forwarded from the caller.
        unsafe { self.handle().shrink(ptr, old_layout, new_layout) }
    }
}

impl fmt::Debug for Scratch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scratch")
            .field("depth", &self.depth())
            .field("bytes_used", &self.bytes_used())
            .finish()
    }
}
