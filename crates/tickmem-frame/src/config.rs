//! [`FrameConfig`]: how a [`FrameArena`](crate::FrameArena) sizes and limits its frames.

use std::fmt;

/// Default bytes reserved per lane and per frame half: 64 KiB.
pub const DEFAULT_LANE_CAPACITY: usize = 64 * 1024;

/// The largest [`FrameConfig::lane_capacity`]: 4 GiB (`isize::MAX / 2` on
/// targets where that is less). A lane reserves it up front for each of
/// its two frame halves, on every thread that allocates; lanes grow past it
/// on demand, so a larger up-front reservation buys nothing.
pub const MAX_LANE_CAPACITY: usize = {
    let four_gib: u64 = 4 << 30;
    if four_gib < (isize::MAX as u64) / 2 {
        four_gib as usize
    } else {
        isize::MAX as usize / 2
    }
};

/// Default number of quiet frames before memory above the recent high-water
/// mark is released: 120 (two seconds at 60 frames per second).
pub const DEFAULT_TRIM_AFTER_QUIET_FRAMES: u32 = 120;

/// How a [`FrameArena`](crate::FrameArena) sizes, limits and trims its memory.
///
/// Build it from [`FrameConfig::default`] with the builder methods; the
/// fields are public for reading.
///
/// # Examples
///
/// ```
/// use tickmem_frame::{FrameArena, FrameConfig};
///
/// let config = FrameConfig::default()
///     .lane_capacity(256 * 1024)            // each lane starts with 256 KiB per frame
///     .frame_byte_limit(Some(8 << 20))      // a frame may use at most 8 MiB in total
///     .trim_after_quiet_frames(300);        // release spike memory after 300 quiet frames
/// assert_eq!(config.frame_byte_limit, Some(8 << 20));
/// let arena = FrameArena::with_config(config);
/// assert_eq!(arena.config().lane_capacity, 256 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FrameConfig {
    /// Bytes each lane reserves up front for each of its two frame halves
    /// (so a lane holds about twice this), and the smallest size trimming
    /// shrinks a half to. `0` reserves nothing until the lane allocates.
    /// Default: [`DEFAULT_LANE_CAPACITY`].
    pub lane_capacity: usize,
    /// Bytes a single frame may allocate in total, over all lanes; `None`
    /// (the default) for no limit. See
    /// [`FrameArena`](crate::FrameArena#byte-limit) for how it is enforced.
    pub frame_byte_limit: Option<usize>,
    /// After this many consecutive quiet frames on a lane (frames using at
    /// most half of the lane's high-water mark), the lane's high-water mark
    /// drops to the largest of those frames and memory reserved above it is
    /// returned to the global allocator. `0` never trims. Default:
    /// [`DEFAULT_TRIM_AFTER_QUIET_FRAMES`].
    pub trim_after_quiet_frames: u32,
}

impl Default for FrameConfig {
    fn default() -> Self {
        FrameConfig {
            lane_capacity: DEFAULT_LANE_CAPACITY,
            frame_byte_limit: None,
            trim_after_quiet_frames: DEFAULT_TRIM_AFTER_QUIET_FRAMES,
        }
    }
}

impl FrameConfig {
    /// Check the configuration: `Err` says what is wrong.
    /// [`FrameArena::with_config`](crate::FrameArena::with_config) panics
    /// with that message, [`FrameArena::try_with_config`](crate::FrameArena::try_with_config)
    /// returns it.
    ///
    /// Invalid: a [`lane_capacity`](Self::lane_capacity) over
    /// [`MAX_LANE_CAPACITY`]. Every byte limit and trim setting is valid.
    ///
    /// ```
    /// use tickmem_frame::{FrameConfig, FrameConfigError, MAX_LANE_CAPACITY};
    /// assert_eq!(FrameConfig::default().validate(), Ok(()));
    /// assert_eq!(
    ///     FrameConfig::default().lane_capacity(usize::MAX).validate(),
    ///     Err(FrameConfigError::LaneCapacityTooLarge { requested: usize::MAX, max: MAX_LANE_CAPACITY })
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), FrameConfigError> {
        if self.lane_capacity > MAX_LANE_CAPACITY {
            return Err(FrameConfigError::LaneCapacityTooLarge {
                requested: self.lane_capacity,
                max: MAX_LANE_CAPACITY,
            });
        }
        Ok(())
    }

    /// Bytes each lane reserves up front for each frame half (at most
    /// [`MAX_LANE_CAPACITY`]; checked by [`validate`](Self::validate) when
    /// the arena is made). If the global allocator refuses the reservation,
    /// the lane starts without it and grows on demand.
    ///
    /// ```
    /// let config = tickmem_frame::FrameConfig::default().lane_capacity(0);
    /// assert_eq!(config.lane_capacity, 0);
    /// ```
    #[must_use]
    pub fn lane_capacity(mut self, bytes: usize) -> Self {
        self.lane_capacity = bytes;
        self
    }

    /// Limit the bytes a frame may allocate over all lanes (`None`: no limit).
    ///
    /// ```
    /// let config = tickmem_frame::FrameConfig::default().frame_byte_limit(Some(1 << 20));
    /// assert_eq!(config.frame_byte_limit, Some(1 << 20));
    /// ```
    #[must_use]
    pub fn frame_byte_limit(mut self, bytes: Option<usize>) -> Self {
        self.frame_byte_limit = bytes;
        self
    }

    /// Quiet frames before spike memory is released (`0`: never).
    ///
    /// ```
    /// let config = tickmem_frame::FrameConfig::default().trim_after_quiet_frames(30);
    /// assert_eq!(config.trim_after_quiet_frames, 30);
    /// ```
    #[must_use]
    pub fn trim_after_quiet_frames(mut self, frames: u32) -> Self {
        self.trim_after_quiet_frames = frames;
        self
    }
}

/// Why a [`FrameConfig`] is invalid, from [`FrameConfig::validate`].
///
/// # Examples
///
/// ```
/// use tickmem_frame::{FrameArena, FrameConfig};
/// let err = FrameArena::try_with_config(FrameConfig::default().lane_capacity(1 << 40)).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "FrameConfig::lane_capacity of 1099511627776 bytes is over the maximum of 4294967296 bytes \
///      reserved up front per lane and frame half (lanes grow past their capacity on demand)"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FrameConfigError {
    /// [`FrameConfig::lane_capacity`] is over [`MAX_LANE_CAPACITY`].
    LaneCapacityTooLarge {
        /// The configured capacity.
        requested: usize,
        /// [`MAX_LANE_CAPACITY`].
        max: usize,
    },
}

impl fmt::Display for FrameConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameConfigError::LaneCapacityTooLarge { requested, max } => write!(
                f,
                "FrameConfig::lane_capacity of {requested} bytes is over the maximum of {max} bytes \
                 reserved up front per lane and frame half (lanes grow past their capacity on demand)"
            ),
        }
    }
}

impl std::error::Error for FrameConfigError {}
