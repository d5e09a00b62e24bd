//! The Tracy backend: the only module with `unsafe` code, compiled only with
//! the `tracy` or `tracy-network` feature.
//!
//! Frame marks, messages and zones use `tracy-client`'s safe API. Plots and
//! memory pools call Tracy's C API (`tracy-client-sys`) with our interned
//! names, because Tracy keeps the name *pointer* and identifies a plot or
//! pool by it (see `name.rs`).
//!
//! Every function first obtains a [`Client`] with [`Client::start`]: without
//! tracy-client's `manual-lifetime` feature (we never enable it) the client
//! is started by Tracy's static constructor before `main` and `start` is a
//! no-op; if another crate in the build turns `manual-lifetime` on, `start`
//! starts it once, thread-safely. A Tracy client built with `ondemand` sends
//! and queues nothing until a viewer connects: each call is then a check of
//! one flag.

use std::ffi::c_void;

use tracy_client::Client;
use tracy_client::sys;

use crate::PlotFormat;
use crate::name::Name;

/// Tracy's value for a plot format.
fn format_code(format: PlotFormat) -> i32 {
    let code = match format {
        PlotFormat::Number => sys::TracyPlotFormatEnum_TracyPlotFormatNumber,
        PlotFormat::Memory => sys::TracyPlotFormatEnum_TracyPlotFormatMemory,
        PlotFormat::Percentage => sys::TracyPlotFormatEnum_TracyPlotFormatPercentage,
    };
    // The enum's values are 0..=3.
    code as i32
}

#[inline]
pub(crate) fn connected() -> bool {
    Client::is_connected()
}

#[inline]
pub(crate) fn frame_mark() {
    Client::start().frame_mark();
}

#[inline]
pub(crate) fn message(text: &str) {
    // `text` was cut to Tracy's limit by the emission layer.
    Client::start().message(text, 0);
}

#[inline]
pub(crate) fn span(location: &'static tracy_client::SpanLocation) -> tracy_client::Span {
    Client::start().span(location, 0)
}

pub(crate) fn plot_config(name: Name, format: PlotFormat) {
    let _client = Client::start();
    // Per-frame values: stepped (a value holds until the next frame), filled,
    // default colour.
    let (step, fill, color) = (1, 1, 0);
    // SAFETY: the client is running (`_client`); `name.as_c_ptr()` is a
    // NUL-terminated string that lives for the rest of the program (`Name`'s
    // invariant), which Tracy requires because it keeps the pointer and reads
    // the string later, from its own thread.
    unsafe {
        sys::___tracy_emit_plot_config(name.as_c_ptr(), format_code(format), step, fill, color);
    }
}

#[inline]
pub(crate) fn plot(name: Name, value: f64) {
    let _client = Client::start();
    // SAFETY: as in `plot_config`: a running client and a `'static`
    // NUL-terminated name.
    unsafe { sys::___tracy_emit_plot(name.as_c_ptr(), value) };
}

#[inline]
pub(crate) fn pool_alloc(name: Name, ptr: *const u8, size: usize) {
    let _client = Client::start();
    // SAFETY: a running client and a `'static` NUL-terminated name (see
    // `plot_config`). Tracy records `ptr` as a number and never reads
    // through it, so any address is fine.
    unsafe { sys::___tracy_emit_memory_alloc_named(ptr.cast::<c_void>(), size, name.as_c_ptr()) };
}

#[inline]
pub(crate) fn pool_free(name: Name, ptr: *const u8) {
    let _client = Client::start();
    // SAFETY: as in `pool_alloc`; `ptr` is only recorded.
    unsafe { sys::___tracy_emit_memory_free_named(ptr.cast::<c_void>(), name.as_c_ptr()) };
}

#[inline]
pub(crate) fn pool_discard(name: Name) {
    let _client = Client::start();
    // SAFETY: a running client and a `'static` NUL-terminated name (see
    // `plot_config`).
    unsafe { sys::___tracy_emit_memory_discard(name.as_c_ptr()) };
}

/// Called from inside a global allocator: must not allocate through the
/// Rust global allocator nor take a Rust lock. Mirrors
/// `tracy_client::ProfiledAllocator`: start the client (a no-op, or Tracy's
/// own start-up, which allocates with Tracy's internal allocator), then emit
/// to the default (unnamed) memory pool. Before Tracy's static constructor
/// ran, or after its destructor, Tracy itself ignores the call
/// (`ProfilerAvailable()`).
#[inline]
pub(crate) fn global_alloc(ptr: *const u8, size: usize) {
    let _client = Client::start();
    // SAFETY: the client is running (`_client`); Tracy records `ptr` as a
    // number and never reads through it.
    unsafe { sys::___tracy_emit_memory_alloc(ptr.cast::<c_void>(), size) };
}

/// See [`global_alloc`]. A free can only follow an allocation, so it does not
/// start the client: if none is running, nothing was reported.
#[inline]
pub(crate) fn global_free(ptr: *const u8) {
    if Client::is_running() {
        // SAFETY: the client is running (checked above); `ptr` is only
        // recorded.
        unsafe { sys::___tracy_emit_memory_free(ptr.cast::<c_void>()) };
    }
}
