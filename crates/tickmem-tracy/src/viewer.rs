//! Is a viewer connected, and since when: connection *generations*.
//!
//! Tracy's memory events only make sense to a viewer that saw them from the
//! start of its connection: the server ignores a discard of a pool it has
//! never seen an allocation for *without* advancing its memory-event
//! reference time, so every later memory event of the capture lands at
//! about minus the process uptime. [`crate::pool`] therefore remembers, per
//! pool, in which connection it last announced its blocks, and this module
//! numbers the connections: each time a viewer is seen connected after
//! having been seen disconnected, a new generation starts.
//!
//! The connection flag is sampled (at every memory event and frame mark), so
//! a disconnect and reconnect between two samples counts as one connection;
//! with one memory event per frame at least, that window is one frame.
//!
//! Tests can pretend a viewer connects and disconnects
//! ([`testing::simulate_viewer`](crate::testing::simulate_viewer)). Without a
//! Tracy client (`record` only), the recording sink plays the viewer: it is
//! "connected" from the start.

use std::sync::atomic::AtomicU8;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Release};

/// `generation << 1 | connected`, as last sampled.
static STATE: AtomicU64 = AtomicU64::new(0);

/// What [`testing::simulate_viewer`](crate::testing::simulate_viewer) set.
static SIMULATED: AtomicU8 = AtomicU8::new(REAL);
const REAL: u8 = 0;
const OFF: u8 = 1;
const ON: u8 = 2;

/// Override the connection flag (`None`: the real one again).
pub(crate) fn simulate(connected: Option<bool>) {
    let v = match connected {
        None => REAL,
        Some(false) => OFF,
        Some(true) => ON,
    };
    SIMULATED.store(v, Release);
    // A simulated change happens now: sample it at once, so that a
    // disconnect and reconnect with no event in between are two connections.
    generation();
}

/// Whether a viewer receives what is emitted now.
#[inline]
pub(crate) fn connected() -> bool {
    match SIMULATED.load(Acquire) {
        ON => true,
        OFF => false,
        _ => backend_connected(),
    }
}

/// The simulated flag, if a test set one.
#[inline]
pub(crate) fn simulated() -> Option<bool> {
    match SIMULATED.load(Acquire) {
        ON => Some(true),
        OFF => Some(false),
        _ => None,
    }
}

#[cfg(any(feature = "tracy", feature = "tracy-network"))]
#[inline]
fn backend_connected() -> bool {
    crate::ffi::connected()
}

/// `record` without a Tracy client: the recording sink is the viewer, and it
/// has been there from the start.
#[cfg(not(any(feature = "tracy", feature = "tracy-network")))]
#[inline]
fn backend_connected() -> bool {
    true
}

/// The current connection's generation (never 0), or `None` when no viewer
/// is connected.
pub(crate) fn generation() -> Option<u64> {
    let connected = connected();
    let mut state = STATE.load(Acquire);
    loop {
        let was_connected = state & 1 == 1;
        let next = match (was_connected, connected) {
            (true, true) => return Some(state >> 1),
            (false, false) => return None,
            // A new connection: the next generation.
            (false, true) => (((state >> 1) + 1) << 1) | 1,
            // Disconnected: keep the number, clear the flag.
            (true, false) => state & !1,
        };
        match STATE.compare_exchange_weak(state, next, AcqRel, Acquire) {
            Ok(_) => return connected.then_some(next >> 1),
            Err(now) => state = now,
        }
    }
}
