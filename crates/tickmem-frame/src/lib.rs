#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![expect(
    unsafe_code,
    reason = "frame memory is handed out from bumpalo chunks through raw pointers, \
              destructors are run from type-erased lists, and handles are checked then dereferenced"
)]

mod alloc_api;
mod arena;
mod config;
mod data;
mod error;
mod handle;
mod host;
mod lane;
mod lanes;
mod owner;
mod stats;
mod vec;

pub use alloc_api::FrameAlloc;
pub use arena::FrameArena;
pub use config::{
    DEFAULT_LANE_CAPACITY, DEFAULT_TRIM_AFTER_QUIET_FRAMES, FrameConfig, FrameConfigError,
    MAX_LANE_CAPACITY,
};
pub use data::{FrameBuilder, FrameData, Published};
pub use error::FrameAllocError;
pub use handle::FrameHandle;
pub use host::FrameHost;
pub use lane::Lane;
pub use stats::FrameStats;
pub use vec::{FrameVec, FrameVecIntoIter};

/// The `allocator_api2` crate this one implements `Allocator` from, so that
/// users name the same trait and collections.
pub use allocator_api2;

/// The byte that reclaimed frame memory is overwritten with when the
/// `poison` feature is on.
pub const POISON_BYTE: u8 = 0xDD;

#[cfg(all(test, feature = "poison"))]
mod poison_tests {
    use super::{FrameArena, FrameConfig, POISON_BYTE};

    #[test]
    #[cfg_attr(
        miri,
        ignore = "reads through a pointer whose frame was reclaimed, on purpose"
    )]
    fn reclaimed_memory_is_poisoned() {
        let mut arena = FrameArena::with_config(FrameConfig::default().lane_capacity(4096));
        let value: *const u64 = arena.alloc(0x1234_5678_u64);
        let text: *const u8 = arena.alloc_str("hello").as_ptr();
        arena.begin_frame();
        // SAFETY: frame 0 is still valid during frame 1.
        assert_eq!(unsafe { value.read() }, 0x1234_5678);
        arena.begin_frame();
        // SAFETY: not sound in Rust's model (the frame was reclaimed), which
        // is what the poison pattern is for; the chunk is still allocated
        // (the lane keeps its 4 KiB chunk), so the bytes can be inspected.
        let poisoned = unsafe { value.read() };
        assert_eq!(poisoned, u64::from_ne_bytes([POISON_BYTE; 8]));
        // SAFETY: as above.
        assert_eq!(unsafe { text.read() }, POISON_BYTE);
        // Memory handed out again is usable as usual.
        assert_eq!(*arena.alloc(7u64), 7);
    }

    #[test]
    fn poisoning_keeps_live_frames_intact() {
        let mut arena = FrameArena::with_config(FrameConfig::default().lane_capacity(64));
        let mut kept = Vec::new();
        for frame in 0..6_u64 {
            arena.begin_frame();
            let words = arena.alloc_slice_fill_with(20, |i| vec![frame; i]);
            kept.push(arena.persist(words.iter().map(Vec::len).sum::<usize>()));
            for (i, &h) in kept.iter().enumerate() {
                let live = arena.get(h).copied();
                let age = frame - i as u64;
                assert_eq!(live, (age <= 1).then_some(190), "frame {frame}");
            }
        }
    }
}
