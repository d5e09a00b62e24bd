//! A tiny game loop that proves, with `CountingAlloc`, that its warmed-up
//! frames allocate nothing: per-frame buffers are cleared and reused instead
//! of being allocated anew.
//!
//! Run: `cargo run --release --example count_allocs`

use std::hint::black_box;

use tickmem::prelude::*;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();

fn main() {
    let mut budget = FrameBudget::new(0).with_warm_up(3);
    let mut draw_list: Vec<(u32, f32)> = Vec::new();
    let mut naive_calls = 0;
    for frame in 0..60u32 {
        // The naive way: a fresh Vec every frame.
        let ((), naive) = tickmem::track::count(|| {
            let list: Vec<(u32, f32)> = (0..1000).map(|i| (i, i as f32 * 0.5)).collect();
            black_box(list);
        });
        naive_calls += naive.calls();

        // The reuse way: one buffer, cleared each frame.
        let (_, usage) = budget.frame(|| {
            draw_list.clear();
            draw_list.extend((0..1000 + frame % 7).map(|i| (i, i as f32 * 0.5)));
            black_box(&draw_list);
        });
        let usage = usage.expect("a warmed-up frame must not allocate");
        if frame % 20 == 0 || usage.warming_up {
            println!(
                "frame {frame:>2}: reused buffer {:>2} allocator calls{} | fresh Vec {} calls",
                usage.stats.calls(),
                if usage.warming_up { " (warm-up)" } else { "" },
                naive.calls(),
            );
        }
    }
    println!(
        "60 frames: reused buffer overran the 0-call budget {} times; fresh Vecs made {naive_calls} allocator calls",
        budget.overruns()
    );
}
