//! Tracy instrumentation for tickmem (frame marks, zones, plots, memory pools); compiles to nothing without the `tracy` feature.
//!
//! This crate is being built: see the tickmem README and `shared/DESIGN.md`.
//! It exports nothing yet.
#![warn(missing_docs)]
