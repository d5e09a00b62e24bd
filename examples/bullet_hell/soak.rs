//! `--soak N`: run tickmem mode for N ticks and watch resident memory.
//!
//! A long run is where a slow leak, a chunk that is never reused, or a pool
//! that only grows shows up. The soak loop keeps no per-tick records (they
//! would grow the resident set themselves): it sums the global-allocator
//! calls made inside ticks after the warm-up, and reads the resident set
//! size (`VmRSS` in `/proc/self/status`, Linux) at the end of the warm-up and at every
//! checkpoint (ticks 10^k, and the last tick). Reading it allocates a little,
//! between two ticks, outside what is counted.
//!
//! It prints one `soak tick=...` line per checkpoint and a final
//! `soak summary ...` line; CI runs a short soak and fails on any allocator
//! call after the warm-up or on resident-set growth above 1 %.
//!
//! ```sh
//! cargo run --release --example bullet_hell -- --soak 1000000 --bullets 128 --enemies 16
//! ```

use std::io::Write;
use std::time::Instant;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{MultiThreadedExecutor, SingleThreadedExecutor};

use crate::Args;
use crate::sim::SimConfig;
use crate::tickmem_mode;

/// The resident set size in KiB (`VmRSS` of `/proc/self/status`; `None`
/// where that file does not exist).
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `tick` (1-based) is a checkpoint: 10, 100, 1000, ... and 10k,
/// 20k, ... 90k, 100k, 200k, ... (two per decade would hide a slope).
fn is_checkpoint(tick: u64) -> bool {
    let mut decade = 10;
    while decade * 10 <= tick {
        decade *= 10;
    }
    tick.is_multiple_of(decade)
}

/// Run the soak and exit the process with 0 (flat) or 1 (grew).
pub(crate) fn run(args: &Args, ticks: u64) -> ! {
    let cfg = SimConfig {
        seed: args.seed,
        enemies: args.enemies,
        bullets_per_tick: args.bullets,
    };
    let warmup = u64::from(args.warmup);
    let mut world = World::new();
    let mut schedule = Schedule::default();
    if args.threads > 1 {
        schedule.set_executor(MultiThreadedExecutor::new());
    } else {
        schedule.set_executor(SingleThreadedExecutor::new());
    }
    tickmem_mode::setup(&mut world, &mut schedule, cfg);

    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "soak: {ticks} ticks of tickmem mode, {} bullets/tick from {} enemies, warm-up {warmup} ticks",
        args.bullets, args.enemies
    );
    let started = Instant::now();
    let mut calls_after_warmup = 0u64;
    let mut rss_after_warmup = None;
    let mut rss_max = 0u64;
    for tick in 1..=ticks {
        let before = tickmem::track::global_stats().calls();
        schedule.run(&mut world);
        world.clear_trackers();
        let calls = tickmem::track::global_stats().calls() - before;
        if tick > warmup {
            calls_after_warmup += calls;
        }
        if tick == warmup {
            rss_after_warmup = rss_kib();
        }
        if tick > warmup && (is_checkpoint(tick) || tick == ticks) {
            let rss = rss_kib().unwrap_or(0);
            rss_max = rss_max.max(rss);
            let _ = writeln!(
                out,
                "soak tick={tick} rss_kib={rss} allocs_after_warmup={calls_after_warmup} heap_live_bytes={} entities={} pooled_live={} pooled_parked={} frame_reserved_bytes={} elapsed_s={:.1}",
                tickmem::track::global_stats().live_bytes(),
                world.entities().count_spawned(),
                world
                    .resource::<tickmem::ecs::EntityPool<crate::sim::Bullet>>()
                    .live(),
                world
                    .resource::<tickmem::ecs::EntityPool<crate::sim::Bullet>>()
                    .parked(),
                world
                    .resource::<tickmem::ecs::FrameMemory>()
                    .stats()
                    .bytes_reserved,
                started.elapsed().as_secs_f64(),
            );
            let _ = out.flush();
        }
    }
    let base = rss_after_warmup.unwrap_or(0);
    let growth_pct = if base == 0 {
        0.0
    } else {
        (rss_max.saturating_sub(base)) as f64 * 100.0 / base as f64
    };
    let measured = ticks.saturating_sub(warmup).max(1);
    let _ = writeln!(
        out,
        "soak summary ticks={ticks} warmup={warmup} rss_after_warmup_kib={base} rss_max_kib={rss_max} rss_growth_pct={growth_pct:.2} allocs_per_tick={:.2}",
        calls_after_warmup as f64 / measured as f64
    );
    let flat = growth_pct <= 1.0 && calls_after_warmup == 0;
    let _ = writeln!(
        out,
        "soak {}",
        if flat {
            "flat: no allocator call after the warm-up, resident memory within 1%"
        } else {
            "FAILED: allocator calls after the warm-up or resident memory grew by more than 1%"
        }
    );
    let _ = out.flush();
    std::process::exit(if flat { 0 } else { 1 });
}
