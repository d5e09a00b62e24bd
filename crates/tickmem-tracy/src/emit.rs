//! The one emission layer: every event the public API emits goes through a
//! function here, which hands it to the recording sink (when a
//! [`testing::record`](crate::testing::record) is active on this thread) and
//! to the backend (Tracy's client when compiled in, nothing otherwise).
//!
//! Global allocations (`global_alloc`/`global_free`) do not come through
//! here: they are called from inside a global allocator, and recording
//! allocates.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::name::{self, Name};
use crate::pool::{self, PoolState};
use crate::testing::Event;
use crate::{PlotFormat, viewer};

#[cfg(any(feature = "tracy", feature = "tracy-network"))]
use crate::ffi as backend;

/// No Tracy client compiled in (`record` only): events go to the sink only.
#[cfg(not(any(feature = "tracy", feature = "tracy-network")))]
mod backend {
    use crate::PlotFormat;
    use crate::name::Name;

    pub(crate) fn frame_mark() {}
    pub(crate) fn message(_text: &str) {}
    pub(crate) fn plot_config(_name: Name, _format: PlotFormat) {}
    pub(crate) fn plot(_name: Name, _value: f64) {}
    pub(crate) fn pool_alloc(_name: Name, _ptr: *const u8, _size: usize) {}
    pub(crate) fn pool_free(_name: Name, _ptr: *const u8) {}
    pub(crate) fn pool_discard(_name: Name) {}
}

/// Tracy refuses messages of `u16::MAX` bytes or more (an assertion in its
/// client).
pub(crate) const MAX_MESSAGE_BYTES: usize = u16::MAX as usize - 1;

thread_local! {
    /// Whether a recorder is active on this thread: the only cost of the
    /// sink when none is (a const thread-local without `Drop`, so reading
    /// it never fails, even while the thread shuts down).
    static RECORDING: Cell<bool> = const { Cell::new(false) };
    /// The events recorded on this thread by the innermost active recorder.
    static EVENTS: RefCell<Vec<Event>> = const { RefCell::new(Vec::new()) };
}

#[inline(always)]
fn recording() -> bool {
    RECORDING.with(Cell::get)
}

/// Record the event `make` builds, if a recorder is active.
#[inline(always)]
fn record(make: impl FnOnce() -> Event) {
    if recording() {
        push(make());
    }
}

#[cold]
#[inline(never)]
fn push(event: Event) {
    // `try_with`: a zone dropped by a thread-local destructor after `EVENTS`
    // was destroyed is simply not recorded.
    let _ = EVENTS.try_with(|events| events.borrow_mut().push(event));
}

/// Start recording on this thread: returns the previous recorder state, to
/// give back to [`end_recording`].
pub(crate) fn begin_recording(capacity: usize) -> (bool, Vec<Event>) {
    let outer_events = EVENTS.with(|events| events.replace(Vec::with_capacity(capacity)));
    (RECORDING.replace(true), outer_events)
}

/// Stop the recorder begun by the [`begin_recording`] that returned `outer`,
/// restore the previous one, and return what was recorded in between. An
/// outer recorder also sees the inner recorder's events.
pub(crate) fn end_recording(outer: (bool, Vec<Event>)) -> Vec<Event> {
    let (outer_active, outer_events) = outer;
    let inner = EVENTS.with(|events| {
        let inner = events.replace(outer_events);
        if outer_active {
            events.borrow_mut().extend(inner.iter().cloned());
        }
        inner
    });
    RECORDING.set(outer_active);
    inner
}

/// Cut `text` to what Tracy accepts, at a character boundary.
pub(crate) fn truncate_message(text: &str) -> &str {
    if text.len() <= MAX_MESSAGE_BYTES {
        return text;
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

pub(crate) fn plot_new(text: String, format: PlotFormat) -> Name {
    name::with_entry(text, "plot", |entry| {
        // Configure once per name (and again only if the format changes):
        // in on-demand mode Tracy keeps every configuration to replay it to
        // a viewer that connects later.
        if entry.plot_format != Some(format) {
            entry.plot_format = Some(format);
            backend::plot_config(entry.name, format);
        }
        entry.name
    })
}

pub(crate) fn pool_new(text: String) -> &'static PoolState {
    name::with_entry(text, "memory pool", |entry| {
        *entry
            .pool
            .get_or_insert_with(|| PoolState::leak(entry.name))
    })
}

#[inline(always)]
pub(crate) fn frame_mark() {
    // The first frame mark of a connection shows the viewer the blocks every
    // pool held when it connected.
    if let Some(g) = viewer::generation()
        && ANNOUNCED.load(Relaxed) != g
        && ANNOUNCED.swap(g, Relaxed) != g
    {
        pool::announce_all(g);
    }
    record(|| Event::FrameMark);
    backend::frame_mark();
}

/// The connection generation whose pools [`frame_mark`] announced.
static ANNOUNCED: AtomicU64 = AtomicU64::new(0);

#[inline(always)]
pub(crate) fn message(text: &str) {
    let text = truncate_message(text);
    record(|| Event::Message(text.to_owned()));
    backend::message(text);
}

#[inline(always)]
pub(crate) fn plot(name: Name, value: f64) {
    record(|| Event::Plot {
        name: name.as_str(),
        value,
    });
    backend::plot(name, value);
}

/// A memory-pool allocation that reaches the viewer (decided by
/// [`pool`](crate::pool)).
pub(crate) fn pool_alloc_event(name: Name, addr: usize, size: usize) {
    record(|| Event::PoolAlloc {
        pool: name.as_str(),
        addr,
        size,
    });
    backend::pool_alloc(name, std::ptr::without_provenance(addr), size);
}

/// A memory-pool free that reaches the viewer.
pub(crate) fn pool_free_event(name: Name, addr: usize) {
    record(|| Event::PoolFree {
        pool: name.as_str(),
        addr,
    });
    backend::pool_free(name, std::ptr::without_provenance(addr));
}

/// A memory-pool discard that reaches the viewer.
pub(crate) fn pool_discard_event(name: Name) {
    record(|| Event::PoolDiscard {
        pool: name.as_str(),
    });
    backend::pool_discard(name);
}

/// Record a zone's start (the Tracy zone itself is a `tracy_client::Span`
/// held by the `Zone` guard).
#[inline(always)]
pub(crate) fn zone_enter(name: &'static str) {
    record(|| Event::ZoneEnter { name });
}

/// Record a zone's end.
#[inline(always)]
pub(crate) fn zone_exit(name: &'static str) {
    record(|| Event::ZoneExit { name });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_short_text() {
        assert_eq!(truncate_message("budget overrun"), "budget overrun");
        let exact = "x".repeat(MAX_MESSAGE_BYTES);
        assert_eq!(truncate_message(&exact).len(), MAX_MESSAGE_BYTES);
    }

    #[test]
    fn truncation_cuts_at_a_char_boundary() {
        // 'é' is 2 bytes: a boundary falls at every even offset, and the
        // limit (65,534) is even, so prefix one ASCII byte to make it odd.
        let text = format!("a{}", "é".repeat(40_000));
        let cut = truncate_message(&text);
        assert!(cut.len() <= MAX_MESSAGE_BYTES);
        assert_eq!(cut.len(), MAX_MESSAGE_BYTES - 1);
        assert!(text.starts_with(cut));
    }
}
