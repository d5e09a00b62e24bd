//! Thread-local scratch arenas with nested scopes (`tickmem_scratch::with`).
//!
//! This crate is being built: see the tickmem README and `shared/DESIGN.md`.
//! It exports nothing yet.
#![warn(missing_docs)]
