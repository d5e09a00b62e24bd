//! Double-buffered per-frame bump arenas (`FrameArena`), per-thread lanes and `FrameHandle<T>`.
//!
//! This crate is being built: see the tickmem README and `shared/DESIGN.md`.
//! It exports nothing yet.
#![warn(missing_docs)]
