//! What one emission costs in this build, with no viewer connected and no
//! recorder active. Run it in each mode and compare:
//!
//! ```text
//! cargo run --release -p tickmem-tracy --example emission_cost
//! cargo run --release -p tickmem-tracy --example emission_cost --features record
//! cargo run --release -p tickmem-tracy --example emission_cost --features tracy
//! ```
//!
//! Wall-clock numbers: noisy on a loaded machine; take the best of a few runs.

use std::hint::black_box;
use std::time::Instant;

use tickmem_tracy::{MemoryPool, Plot, PlotFormat};

const ITERS: u32 = 10_000_000;

/// Nanoseconds per iteration of `f`, best of 5 runs.
fn ns_per_iter(mut f: impl FnMut(u32)) -> f64 {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for i in 0..ITERS {
                f(black_box(i));
            }
            start.elapsed().as_secs_f64() * 1e9 / f64::from(ITERS)
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let mode = if tickmem_tracy::ENABLED {
        "tracy (no viewer)"
    } else if cfg!(feature = "record") {
        "record (no recorder active)"
    } else {
        "off"
    };
    let plot = Plot::new("emission_cost/plot", PlotFormat::Number);
    let pool = MemoryPool::new("emission_cost/pool");
    let block = [0u8; 64];
    let ptr = block.as_ptr();

    let baseline = ns_per_iter(|i| {
        black_box(i);
    });
    let rows: [(&str, f64); 6] = [
        ("Plot::set", ns_per_iter(|i| plot.set(f64::from(i)))),
        (
            "zone! (enter + exit)",
            ns_per_iter(|i| {
                tickmem_tracy::zone!("emission_cost::zone");
                black_box(i);
            }),
        ),
        ("frame_mark", ns_per_iter(|_| tickmem_tracy::frame_mark())),
        (
            "MemoryPool::alloc + free",
            ns_per_iter(|i| {
                pool.alloc(ptr.wrapping_add(i as usize % 64), 1);
                pool.free(ptr.wrapping_add(i as usize % 64));
            }),
        ),
        (
            "message (short)",
            ns_per_iter(|_| tickmem_tracy::message(black_box("budget overrun: 3 calls"))),
        ),
        (
            "global_alloc + global_free",
            ns_per_iter(|i| {
                tickmem_tracy::global_alloc(ptr.wrapping_add(i as usize % 64), 8);
                tickmem_tracy::global_free(ptr.wrapping_add(i as usize % 64));
            }),
        ),
    ];
    println!("tickmem-tracy emission cost, mode: {mode}");
    println!(
        "{:<28} {:>10}",
        "empty loop (baseline)",
        format!("{baseline:.2} ns")
    );
    for (name, ns) in rows {
        println!(
            "{name:<28} {:>10}   (+{:.2} ns over the empty loop)",
            format!("{ns:.2} ns"),
            (ns - baseline).max(0.0)
        );
    }
}
