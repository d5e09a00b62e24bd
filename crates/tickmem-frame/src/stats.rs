//! [`FrameStats`]: what a [`FrameArena`](crate::FrameArena) holds and has used.

use std::fmt;

/// A snapshot of a [`FrameArena`](crate::FrameArena)'s memory, from
/// [`FrameArena::stats`](crate::FrameArena::stats).
///
/// Byte counts are bytes of frame memory, summed over all lanes: the sizes
/// of values, slices and collection buffers, their alignment padding, 32
/// bytes of bookkeeping per value or slice that needs `Drop`, and the
/// unused end of a lane's block when a request made it move to a new chunk.
/// Three measures per frame, because an `allocator_api2` collection that
/// frees or shrinks its block hands the bytes back to its lane when the
/// block was the lane's most recent allocation (dropping a frame `Vec` or
/// `HashMap` at the end of a system usually does):
///
/// * **bumped** (`bumped_this_frame`): every byte allocated in the frame so
///   far, including bytes given back since (and bytes bumped again after
///   that: the volume of allocation). Only grows within a frame.
/// * **in use** (`bytes_this_frame`): bumped minus given back: what the
///   frame holds right now. Drops when a collection gives its block back.
/// * **peak** (`peak_this_frame`): the most bytes in use at once so far
///   (each lane's own peak, summed: an upper bound of the arena's peak when
///   threads peak at different times, exact with one lane). This is the
///   memory the frame needed: chunks are sized from it.
///
/// `bumped >= peak >= in use`, and [`high_water_bytes`](Self::high_water_bytes)
/// is at least every peak, so at least any in-use number a system can read
/// in any frame.
///
/// Read while other threads allocate, each lane's counters are read without
/// a lock, so the sums can be off by what is allocated meanwhile; at the
/// frame boundary (no allocation running) they are exact.
///
/// # Examples
///
/// ```
/// use tickmem_frame::{FrameArena, FrameConfig};
///
/// let mut arena = FrameArena::with_config(FrameConfig::default().lane_capacity(4096));
/// arena.alloc_slice_copy(&[0u64; 100]);
/// let stats = arena.stats();
/// assert_eq!((stats.epoch, stats.bytes_this_frame, stats.lanes), (0, 800, 1));
///
/// // A collection dropped at the end of a system gives its block back.
/// let mut v = allocator_api2::vec::Vec::<u64, _>::with_capacity_in(50, arena.allocator());
/// v.extend(0..50);
/// drop(v);
/// let stats = arena.stats();
/// assert_eq!(stats.bytes_this_frame, 800); // in use now
/// assert_eq!(stats.bumped_this_frame, 1200); // all that was allocated
/// assert_eq!(stats.peak_this_frame, 1200); // the most in use at once
///
/// arena.begin_frame();
/// let stats = arena.stats();
/// assert_eq!((stats.bytes_this_frame, stats.bumped_last_frame), (0, 1200));
/// assert_eq!((stats.peak_last_frame, stats.high_water_bytes), (1200, 1200));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct FrameStats {
    /// The current frame (see [`FrameArena::epoch`](crate::FrameArena::epoch)).
    pub epoch: u64,
    /// Bytes in use in the current frame now: bumped minus given back.
    pub bytes_this_frame: usize,
    /// Bytes bumped in the current frame so far, including bytes
    /// collections gave back since.
    pub bumped_this_frame: usize,
    /// The most bytes in use at once in the current frame so far.
    pub peak_this_frame: usize,
    /// Bytes in use by the previous frame (still valid, reclaimed at the
    /// next [`begin_frame`](crate::FrameArena::begin_frame)).
    pub bytes_last_frame: usize,
    /// Bytes bumped in the previous frame.
    pub bumped_last_frame: usize,
    /// The most bytes in use at once in the previous frame.
    pub peak_last_frame: usize,
    /// The largest [`peak_this_frame`](Self::peak_this_frame) of any frame,
    /// the current one included.
    pub high_water_bytes: usize,
    /// Chunks the arena holds (both frame halves of every lane).
    pub chunks: usize,
    /// Bytes of chunk capacity the arena holds (both frame halves of every
    /// lane), without bumpalo's per-chunk footer.
    pub bytes_reserved: usize,
    /// Lanes: the most threads that allocated within one frame.
    pub lanes: usize,
    /// Calls the arena has made to the global allocator, all of them for
    /// chunks: every chunk allocated (up front, when a lane grows, when a
    /// half is resized) and every chunk freed (on reset, resize and trim),
    /// counted as they happen (bumpalo's chunk growth is trapped through its
    /// allocation limit, so the arena sees each one). Not counted: the
    /// one-time creation of a lane (its `LaneState` box, the
    /// lane's Tracy pool names) and the freeing of everything when the arena
    /// is dropped. A test checks this against `tickmem_track`'s counts.
    pub global_alloc_calls: u64,
}

impl fmt::Display for FrameStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "frame {}: {} bytes in use, {} bumped, peak {} (last frame {} bumped, peak {}; \
             high water {}), {} chunks / {} bytes reserved in {} lanes, {} global-allocator calls",
            self.epoch,
            self.bytes_this_frame,
            self.bumped_this_frame,
            self.peak_this_frame,
            self.bumped_last_frame,
            self.peak_last_frame,
            self.high_water_bytes,
            self.chunks,
            self.bytes_reserved,
            self.lanes,
            self.global_alloc_calls
        )
    }
}
