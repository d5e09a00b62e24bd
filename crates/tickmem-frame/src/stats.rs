//! [`FrameStats`]: what a [`FrameArena`](crate::FrameArena) holds and has used.

use std::fmt;

/// A snapshot of a [`FrameArena`](crate::FrameArena)'s memory, from
/// [`FrameArena::stats`](crate::FrameArena::stats).
///
/// Byte counts are the bytes of frame memory used, summed over all lanes:
/// the sizes of values, slices and collection buffers, their alignment
/// padding, 32 bytes of bookkeeping per value or slice that needs `Drop`,
/// and the unused end of a lane's block when a request made it move to a new
/// chunk. Memory freed by an `allocator_api2` collection is given back only
/// when it was the lane's most recent allocation. Read while other threads
/// allocate, each lane's counters are read without a lock, so the sum can
/// be off by what is allocated meanwhile; at the frame boundary (no
/// allocation running) it is exact.
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
/// arena.begin_frame();
/// let stats = arena.stats();
/// assert_eq!((stats.bytes_this_frame, stats.bytes_last_frame, stats.high_water_bytes), (0, 800, 800));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct FrameStats {
    /// The current frame (see [`FrameArena::epoch`](crate::FrameArena::epoch)).
    pub epoch: u64,
    /// Bytes used by the current frame so far.
    pub bytes_this_frame: usize,
    /// Bytes used by the previous frame (still valid, reclaimed at the next
    /// [`begin_frame`](crate::FrameArena::begin_frame)).
    pub bytes_last_frame: usize,
    /// The most bytes any frame has used, the current one included.
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
            "frame {}: {} bytes (last frame {}, high water {}), {} chunks / {} bytes reserved \
             in {} lanes, {} global-allocator calls",
            self.epoch,
            self.bytes_this_frame,
            self.bytes_last_frame,
            self.high_water_bytes,
            self.chunks,
            self.bytes_reserved,
            self.lanes,
            self.global_alloc_calls
        )
    }
}
