//! Memory pools as a viewer must see them.
//!
//! Each pool remembers its live blocks (reported by
//! [`MemoryPool::alloc`](crate::MemoryPool::alloc), not yet freed or
//! discarded) and the connection generation ([`crate::viewer`]) in which it
//! last announced them. The rules, for every viewer:
//!
//! * an allocation reaches the viewer; if the pool has not announced itself
//!   in this connection yet, every live block is announced first (the viewer
//!   connected after they were allocated);
//! * a free or a discard reaches the viewer only if the pool announced its
//!   blocks in this connection: Tracy ignores a discard of a pool it never
//!   saw an allocation for *without advancing its memory-event reference
//!   time*, which shifts every later memory event of the capture by about
//!   minus the process uptime;
//! * at the first frame mark of a connection, every pool with live blocks
//!   announces them ([`announce_all`]), so the memory window shows the
//!   chunks held at the moment the viewer connected.
//!
//! Pool events are rare (a chunk grown, a frame reclaimed), so each pool's
//! state sits behind a mutex. The list of live blocks is inline up to
//! [`INLINE_BLOCKS`] entries (a frame-arena half holds a handful of chunks:
//! bumpalo doubles their size), so reporting blocks allocates nothing unless
//! a pool holds more at once.

use std::sync::{Mutex, MutexGuard, PoisonError};

use smallvec::SmallVec;

use crate::emit;
use crate::name::Name;

/// One pool's state, shared by every `MemoryPool` of its name (leaked once
/// per name, like the name itself).
pub(crate) struct PoolState {
    pub(crate) name: Name,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for PoolState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.name, f)
    }
}

/// Live blocks a pool keeps without allocating.
const INLINE_BLOCKS: usize = 32;

struct Inner {
    /// Generation in which the live blocks were announced (0: never).
    announced: u64,
    /// `(address, size)` of every live block.
    live: SmallVec<[(usize, usize); INLINE_BLOCKS]>,
}

/// Every pool ever created, for [`announce_all`].
static POOLS: Mutex<Vec<&'static PoolState>> = Mutex::new(Vec::new());

impl PoolState {
    /// A new pool state for `name`, registered for [`announce_all`].
    pub(crate) fn leak(name: Name) -> &'static PoolState {
        let state: &'static PoolState = Box::leak(Box::new(PoolState {
            name,
            inner: Mutex::new(Inner {
                announced: 0,
                live: SmallVec::new(),
            }),
        }));
        lock(&POOLS).push(state);
        state
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    pub(crate) fn alloc(&self, addr: usize, size: usize) {
        let generation = crate::viewer::generation();
        let mut inner = self.inner();
        inner.live.push((addr, size));
        match generation {
            Some(g) if inner.announced == g => emit::pool_alloc_event(self.name, addr, size),
            Some(g) => self.announce(&mut inner, g),
            None => {}
        }
    }

    pub(crate) fn free(&self, addr: usize) {
        let generation = crate::viewer::generation();
        let mut inner = self.inner();
        let Some(at) = inner.live.iter().rposition(|&(a, _)| a == addr) else {
            // Not a block of this pool: nothing a viewer could match.
            return;
        };
        inner.live.swap_remove(at);
        if generation.is_some_and(|g| inner.announced == g) {
            emit::pool_free_event(self.name, addr);
        }
    }

    pub(crate) fn discard(&self) {
        let generation = crate::viewer::generation();
        let mut inner = self.inner();
        inner.live.clear();
        if generation.is_some_and(|g| inner.announced == g) {
            emit::pool_discard_event(self.name);
        }
    }

    /// Announce every live block in generation `g` (nothing when there is
    /// none: a pool without an allocation stays unknown to the viewer).
    fn announce(&self, inner: &mut Inner, g: u64) {
        if inner.live.is_empty() {
            return;
        }
        for &(addr, size) in &inner.live {
            emit::pool_alloc_event(self.name, addr, size);
        }
        inner.announced = g;
    }
}

/// Announce the live blocks of every pool that has not announced them in
/// generation `g` yet.
///
/// Allocates nothing: it runs at a frame mark, inside the frame boundary of a
/// game whose allocation budget is typically 0, and a viewer connecting must
/// not make tickmem itself overrun it. So the registry is walked under its
/// lock instead of being copied. Lock order: `POOLS`, then a pool's state.
/// Nothing that holds a pool's state takes `POOLS` (creating a pool takes
/// only `POOLS`, under the name table's lock, and no pool's state), so a
/// pool created meanwhile merely waits for the walk to end.
pub(crate) fn announce_all(g: u64) {
    let pools = lock(&POOLS);
    for pool in pools.iter() {
        let mut inner = pool.inner();
        if inner.announced != g {
            pool.announce(&mut inner, g);
        }
    }
}

/// A panic while a pool's lock was held cannot leave it inconsistent (every
/// update is one push, removal or clear), so a poisoned lock is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
