//! A recording sink: check what code emits to Tracy, without a viewer.
//!
//! Available with the `record` feature (which `tracy` and `tracy-network`
//! turn on); a test crate enables it with
//! `tickmem-tracy = { workspace = true, features = ["record"] }` in its
//! `[dev-dependencies]`, without compiling Tracy's client.
//!
//! [`record`] runs a closure and returns every event the public API emitted
//! **on the calling thread** meanwhile, in order. Events emitted on other
//! threads are not seen (run an ECS schedule with the single-threaded
//! executor, or record inside the system you check). Global allocations
//! ([`global_alloc`](crate::global_alloc)) are never recorded: they come
//! from inside the global allocator, and recording allocates.
//!
//! When no recorder is active the sink costs one thread-local `bool` read per
//! event.
//!
//! # Examples
//!
//! ```
//! use tickmem_tracy::testing::{Event, record};
//! use tickmem_tracy::{Plot, PlotFormat};
//!
//! let plot = Plot::new("tickmem/frame_bytes", PlotFormat::Memory);
//! let ((), events) = record(|| {
//!     tickmem_tracy::zone!("tick");
//!     plot.set(4096.0);
//!     tickmem_tracy::frame_mark();
//! });
//! assert_eq!(
//!     events,
//!     [
//!         Event::ZoneEnter { name: "tick" },
//!         Event::Plot { name: "tickmem/frame_bytes", value: 4096.0 },
//!         Event::FrameMark,
//!         Event::ZoneExit { name: "tick" },
//!     ]
//! );
//! ```

use crate::{PlotFormat, emit};

/// One emission, as seen by [`record`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// [`frame_mark`](crate::frame_mark).
    FrameMark,
    /// [`Plot::set`](crate::Plot::set).
    Plot {
        /// The plot's name.
        name: &'static str,
        /// The value set.
        value: f64,
    },
    /// [`message`](crate::message), with the text as sent to Tracy (cut to
    /// 65,534 bytes).
    Message(String),
    /// [`MemoryPool::alloc`](crate::MemoryPool::alloc).
    PoolAlloc {
        /// The pool's name.
        pool: &'static str,
        /// The block's address.
        addr: usize,
        /// The block's size in bytes.
        size: usize,
    },
    /// [`MemoryPool::free`](crate::MemoryPool::free).
    PoolFree {
        /// The pool's name.
        pool: &'static str,
        /// The block's address.
        addr: usize,
    },
    /// [`MemoryPool::discard`](crate::MemoryPool::discard).
    PoolDiscard {
        /// The pool's name.
        pool: &'static str,
    },
    /// A [`zone!`](crate::zone!) opened.
    ZoneEnter {
        /// The zone's name.
        name: &'static str,
    },
    /// A [`zone!`](crate::zone!) closed (its guard was dropped).
    ZoneExit {
        /// The zone's name.
        name: &'static str,
    },
}

/// Run `f` and return its result with every event emitted on this thread
/// while it ran, in order.
///
/// Recorders nest: an inner `record` returns the events emitted inside it,
/// and the outer one sees them too. If `f` panics, the recorder is removed
/// and the panic continues.
///
/// Recording allocates (the event list grows, a [`Event::Message`] owns its
/// text): to keep allocation counts of the measured code exact, reserve room
/// with [`record_with_capacity`].
///
/// # Examples
///
/// ```
/// use tickmem_tracy::testing::{Event, record};
/// let (n, events) = record(|| {
///     tickmem_tracy::message("budget overrun: 2 calls");
///     7
/// });
/// assert_eq!(n, 7);
/// assert_eq!(events, [Event::Message("budget overrun: 2 calls".into())]);
/// ```
pub fn record<R>(f: impl FnOnce() -> R) -> (R, Vec<Event>) {
    record_with_capacity(0, f)
}

/// [`record`], with room for `capacity` events reserved up front.
///
/// # Examples
///
/// ```
/// use tickmem_tracy::testing::record_with_capacity;
/// let ((), events) = record_with_capacity(64, || {
///     for _ in 0..64 {
///         tickmem_tracy::frame_mark();
///     }
/// });
/// assert_eq!(events.len(), 64);
/// ```
pub fn record_with_capacity<R>(capacity: usize, f: impl FnOnce() -> R) -> (R, Vec<Event>) {
    /// Restores the outer recorder, also when `f` unwinds.
    struct Guard(Option<(bool, Vec<Event>)>);
    impl Drop for Guard {
        fn drop(&mut self) {
            if let Some(outer) = self.0.take() {
                emit::end_recording(outer);
            }
        }
    }

    let mut guard = Guard(Some(emit::begin_recording(capacity)));
    let result = f();
    let outer = guard.0.take().expect("the guard is only emptied here");
    (result, emit::end_recording(outer))
}

/// The format Tracy was told for the plot named `name` (by the latest
/// [`Plot::new`](crate::Plot::new) of that name), or `None` if no such plot
/// was created in this process.
///
/// Plots are configured once per name, when created, not per emission, so
/// [`record`] does not see it; check it here.
///
/// # Examples
///
/// ```
/// use tickmem_tracy::testing::plot_format;
/// use tickmem_tracy::{Plot, PlotFormat};
/// let _plot = Plot::new("tickmem/scratch_reserved", PlotFormat::Memory);
/// assert_eq!(plot_format("tickmem/scratch_reserved"), Some(PlotFormat::Memory));
/// assert_eq!(plot_format("no/such/plot"), None);
/// ```
pub fn plot_format(name: &str) -> Option<PlotFormat> {
    crate::name::plot_format(name)
}

/// Pretend that a Tracy viewer is connected (`Some(true)`) or not
/// (`Some(false)`), or stop pretending (`None`): for tests of what a viewer
/// that connects late receives.
///
/// It changes [`connected`](crate::connected) and what memory pools emit
/// (and so what [`record`] sees of them): a pool's free or discard is only
/// emitted once the pool has announced its live blocks to the current
/// viewer, which happens at its next allocation or at the next
/// [`frame_mark`](crate::frame_mark). Each change from `false` to `true` is a
/// new viewer. Without it, a build with a Tracy client follows the real
/// connection, and a `record`-only build behaves as if the recording sink
/// were a viewer connected from the start.
///
/// The setting is **process-wide** (a connection is): use it in a test binary
/// of its own, or in tests that do not run in parallel with other tests
/// emitting memory-pool events.
///
/// # Examples
///
/// ```
/// use tickmem_tracy::MemoryPool;
/// use tickmem_tracy::testing::{Event, record, simulate_viewer};
///
/// let pool = MemoryPool::new("doc/late_viewer");
/// let block = [0u8; 64];
/// simulate_viewer(Some(false));
/// pool.alloc(block.as_ptr(), 64); // nobody sees it
/// simulate_viewer(Some(true)); // a viewer connects
/// let ((), events) = record(|| {
///     pool.discard(); // the viewer never saw this pool: not sent
///     pool.alloc(block.as_ptr(), 32); // announced now
///     pool.discard(); // and this one is sent
/// });
/// simulate_viewer(None);
/// assert_eq!(events.len(), 2, "{events:?}");
/// assert!(matches!(events[0], Event::PoolAlloc { size: 32, .. }));
/// assert!(matches!(events[1], Event::PoolDiscard { .. }));
/// ```
pub fn simulate_viewer(connected: Option<bool>) {
    crate::viewer::simulate(connected);
}
