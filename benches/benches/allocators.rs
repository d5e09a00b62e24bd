//! Placeholder: the `allocators` benches are written by their issue. Not yet measured.
fn main() {}
