//! [`FrameAllocError`]: why a frame allocation failed.

use std::fmt;

/// Why an allocation in a [`FrameArena`](crate::FrameArena) failed.
///
/// The `try_*` methods return it; the panicking methods (`alloc`, ...) panic
/// with its [`Display`](fmt::Display) text.
///
/// # Examples
///
/// ```
/// use tickmem_frame::{FrameAllocError, FrameArena, FrameConfig};
///
/// let arena = FrameArena::with_config(FrameConfig::default().frame_byte_limit(Some(100)));
/// arena.alloc_slice_copy(&[0u8; 60]);
/// let err = arena.try_alloc_slice_copy(&[0u8; 60]).unwrap_err();
/// assert_eq!(
///     err,
///     FrameAllocError::LimitExceeded {
///         requested: 60, align: 1, needed: 64, remaining: 40, limit: 100, epoch: 0
///     }
/// );
/// assert_eq!(
///     err.to_string(),
///     "frame byte limit exceeded in frame 0: asked for 60 bytes, 40 of the 100-byte limit left"
/// );
///
/// // When the request needs more of the limit than its size, the message says so.
/// let tiny = FrameArena::with_config(FrameConfig::default().frame_byte_limit(Some(7)));
/// assert_eq!(
///     tiny.try_alloc(1u8).unwrap_err().to_string(),
///     "frame byte limit exceeded in frame 0: asked for 1 bytes, 7 of the 7-byte limit left, \
///      but the request takes up to 8 bytes of the limit in one block \
///      (blocks are whole multiples of 8 bytes)"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FrameAllocError {
    /// The allocation would take the frame over
    /// [`FrameConfig::frame_byte_limit`](crate::FrameConfig::frame_byte_limit).
    LimitExceeded {
        /// Bytes asked for.
        requested: usize,
        /// Alignment asked for.
        align: usize,
        /// Bytes of the limit the request takes at most: lanes take the
        /// limit in blocks whose sizes are multiples of 8 bytes, and a block
        /// must hold the request at any alignment, so this is `requested`
        /// rounded up to 8, plus `align - 8` when `align` is over 8.
        needed: usize,
        /// Bytes of the frame's limit still available to this thread: what
        /// no lane has taken yet plus what this thread's lane holds unused.
        remaining: usize,
        /// The frame's byte limit.
        limit: usize,
        /// The frame (epoch) that ran out.
        epoch: u64,
    },
    /// No new chunk could be allocated: the global allocator refused it, or
    /// its size does not fit in memory.
    OutOfMemory {
        /// Bytes asked for.
        requested: usize,
    },
    /// The size of the request does not fit in `isize::MAX` bytes
    /// (e.g. a slice of `len` elements of `elem_size` bytes), counting the
    /// padding its alignment may need.
    SizeOverflow {
        /// Elements asked for.
        len: usize,
        /// Bytes per element.
        elem_size: usize,
    },
}

impl FrameAllocError {
    /// Bytes the failed request asked for (`usize::MAX` for
    /// [`SizeOverflow`](Self::SizeOverflow)).
    pub fn requested(&self) -> usize {
        match *self {
            FrameAllocError::LimitExceeded { requested, .. }
            | FrameAllocError::OutOfMemory { requested } => requested,
            FrameAllocError::SizeOverflow { .. } => usize::MAX,
        }
    }

    /// Bytes of the frame limit left for this thread, when the limit was the
    /// cause.
    pub fn remaining(&self) -> Option<usize> {
        match *self {
            FrameAllocError::LimitExceeded { remaining, .. } => Some(remaining),
            _ => None,
        }
    }
}

impl fmt::Display for FrameAllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameAllocError::LimitExceeded {
                requested,
                align,
                needed,
                remaining,
                limit,
                epoch,
            } => {
                write!(
                    f,
                    "frame byte limit exceeded in frame {epoch}: asked for {requested} bytes"
                )?;
                if align > 8 {
                    write!(f, " aligned to {align}")?;
                }
                write!(f, ", {remaining} of the {limit}-byte limit left")?;
                // Say why, when the size alone does not explain the refusal.
                if remaining >= needed {
                    write!(
                        f,
                        ", but not in one piece: part of it is the end of this thread's \
                         current block, too short for the request"
                    )?;
                } else if remaining >= requested {
                    write!(
                        f,
                        ", but the request takes up to {needed} bytes of the limit in one block"
                    )?;
                    if align > 8 {
                        write!(
                            f,
                            " (blocks are whole multiples of 8 bytes, with room to align the \
                             request to {align})"
                        )?;
                    } else {
                        write!(f, " (blocks are whole multiples of 8 bytes)")?;
                    }
                }
                Ok(())
            }
            FrameAllocError::OutOfMemory { requested } => write!(
                f,
                "out of memory: no new frame chunk could be allocated \
                 for a {requested}-byte allocation"
            ),
            FrameAllocError::SizeOverflow { len, elem_size } => write!(
                f,
                "allocation size overflow: {len} elements of {elem_size} bytes \
                 exceed isize::MAX bytes (alignment padding included)"
            ),
        }
    }
}

impl std::error::Error for FrameAllocError {}

/// Panic with `err`'s message (the panicking `alloc*` methods).
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn alloc_failed(err: FrameAllocError) -> ! {
    panic!("{err}")
}
