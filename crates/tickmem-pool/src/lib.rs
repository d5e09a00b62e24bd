//! Typed pools (`Pool<T>`) with 8-byte generational handles (`Handle<T>`).
//!
//! This crate is being built: see the tickmem README and `shared/DESIGN.md`.
//! It exports nothing yet.
#![warn(missing_docs)]
