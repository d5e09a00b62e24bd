//! Placeholder: the `scratch` benches are written by their issue. Not yet measured.
fn main() {}
