//! Placeholder: the `frame` benches are written by their issue. Not yet measured.
fn main() {}
