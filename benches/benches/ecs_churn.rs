//! Placeholder: the `ecs_churn` benches are written by their issue. Not yet measured.
fn main() {}
