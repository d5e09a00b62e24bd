//! bevy_ecs integration: frame-boundary system, `Frame` system param, pools as resources, `EntityPool`.
//!
//! This crate is being built: see the tickmem README and `shared/DESIGN.md`.
//! It exports nothing yet.
#![warn(missing_docs)]
