//! # bullet_hell: why tickmem exists, in one command
//!
//! ```sh
//! cargo run --release --example bullet_hell
//! ```
//!
//! A headless `bevy_ecs` bullet-hell game loop, run twice with the same
//! seed: once with tickmem (bullets recycled through an `EntityPool`, the
//! broadphase grid and collision pairs in the frame arena, enemy AI in
//! scratch arenas inside worker jobs, hits persisted as `FrameHandle`s for a
//! next-tick render extract, enemies in a `Pool`), and once written the usual
//! way (per-tick `Vec`s, `Box`ed temporaries, spawn/despawn). Both must end
//! with the same checksum. It prints a comparison table, one `summary` line
//! per mode, and writes `target/bullet_hell.svg`.
//!
//! Flags: `--ticks N`, `--bullets N` (spawned per tick), `--enemies N`,
//! `--seed N`, `--mode tickmem|baseline|both`, `--csv PATH` (per-tick rows),
//! `--threads N` (worker threads for `par_iter` and AI jobs; with more than
//! one the multi-threaded executor is used), `--warmup N`, `--plot PATH`,
//! `--budget N` (tickmem mode: at most N global-allocator calls per tick
//! after the warm-up; each overrun is printed as it happens), `--soak N`
//! (tickmem mode only, N ticks, resident memory and allocator calls checked
//! at checkpoints; see `soak.rs`).
//!
//! With `--features attribution`, an overrun names the first call over the
//! budget (system, thread, size, call stack), and each mode prints the
//! systems that allocate the most per tick:
//!
//! ```sh
//! cargo run --release --example bullet_hell --features attribution -- --budget 0
//! ```

mod baseline;
mod plot;
mod sim;
mod soak;
mod tickmem_mode;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{MultiThreadedExecutor, SingleThreadedExecutor};
use bevy_tasks::{ComputeTaskPool, TaskPoolBuilder};
use tickmem::track::CountingAlloc;

use sim::SimConfig;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();

/// Which implementation of the game runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// tickmem's allocators.
    Tickmem,
    /// The usual way: heap per tick, spawn/despawn.
    Baseline,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Tickmem => "tickmem",
            Mode::Baseline => "baseline",
        }
    }
}

#[derive(Debug)]
struct Args {
    ticks: u32,
    bullets: u32,
    enemies: u32,
    seed: u64,
    modes: Vec<Mode>,
    csv: Option<PathBuf>,
    plot: PathBuf,
    threads: usize,
    warmup: u32,
    budget: Option<u64>,
    soak: Option<u64>,
}

const USAGE: &str = "usage: bullet_hell [--ticks N] [--bullets N] [--enemies N] [--seed N] \
[--mode tickmem|baseline|both] [--csv PATH] [--plot PATH] [--threads N] [--warmup N] [--budget N] [--soak N]";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        ticks: 600,
        bullets: 2048,
        enemies: 64,
        seed: 0x71C4_3E3A,
        modes: vec![Mode::Tickmem, Mode::Baseline],
        csv: None,
        plot: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("bullet_hell.svg"),
        threads: 1,
        warmup: 60,
        budget: None,
        soak: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|e| format!("{flag} {v}: {e}\n{USAGE}"))
        };
        match flag.as_str() {
            "--ticks" => a.ticks = num(&value)? as u32,
            "--bullets" => a.bullets = num(&value)? as u32,
            "--enemies" => a.enemies = num(&value)? as u32,
            "--seed" => a.seed = num(&value)?,
            "--threads" => a.threads = num(&value)? as usize,
            "--warmup" => a.warmup = num(&value)? as u32,
            "--budget" => a.budget = Some(num(&value)?),
            "--soak" => a.soak = Some(num(&value)?),
            "--csv" => a.csv = Some(PathBuf::from(value)),
            "--plot" => a.plot = PathBuf::from(value),
            "--mode" => {
                a.modes = match value.as_str() {
                    "tickmem" => vec![Mode::Tickmem],
                    "baseline" => vec![Mode::Baseline],
                    "both" => vec![Mode::Tickmem, Mode::Baseline],
                    other => {
                        return Err(format!(
                            "--mode {other}: expected tickmem, baseline or both\n{USAGE}"
                        ));
                    }
                }
            }
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    if a.ticks == 0 || a.enemies == 0 || a.threads == 0 {
        return Err(format!(
            "--ticks, --enemies and --threads must be at least 1\n{USAGE}"
        ));
    }
    if let Some(soak) = a.soak {
        if u64::from(a.warmup) >= soak {
            return Err(format!(
                "--warmup ({}) must be below --soak ({soak})\n{USAGE}",
                a.warmup
            ));
        }
        return Ok(a);
    }
    if a.warmup >= a.ticks {
        return Err(format!(
            "--warmup ({}) must be below --ticks ({})\n{USAGE}",
            a.warmup, a.ticks
        ));
    }
    Ok(a)
}

/// What one mode's run measured.
pub(crate) struct Run {
    pub(crate) mode: Mode,
    pub(crate) tick_us: Vec<f64>,
    /// Global-allocator calls of each tick, tickmem's own housekeeping left
    /// out (it is in `housekeeping`).
    pub(crate) allocs: Vec<u64>,
    /// Calls tickmem made for its own housekeeping in each tick (chunks
    /// grown or trimmed, entity pools shrunk; `tickmem::track::housekeeping`).
    pub(crate) housekeeping: Vec<u64>,
    /// Bytes of per-tick data: the frame arena's bytes (tickmem), the bytes
    /// allocated from the heap during the tick (baseline).
    pub(crate) tick_bytes: Vec<u64>,
    pub(crate) retained_bytes: i64,
    pub(crate) checksum: u64,
    pub(crate) warmup: usize,
    pub(crate) live_bullets: usize,
    /// Budget overruns (tickmem mode with `--budget`).
    pub(crate) overruns: u64,
    /// Calls the frame boundary made reporting them (not a tick's).
    pub(crate) reporting_calls: u64,
    /// Per system: (name, calls, bytes) summed over the ticks after the
    /// warm-up (feature `attribution`).
    pub(crate) systems: Vec<(String, u64, u64)>,
}

impl Run {
    fn steady<'a, T: Copy>(&self, v: &'a [T]) -> &'a [T] {
        &v[self.warmup.min(v.len())..]
    }
    fn avg_tick_us(&self) -> f64 {
        let s = self.steady(&self.tick_us);
        s.iter().sum::<f64>() / s.len() as f64
    }
    fn p99_tick_us(&self) -> f64 {
        let mut s = self.steady(&self.tick_us).to_vec();
        s.sort_by(f64::total_cmp);
        s[((s.len() as f64 * 0.99).ceil() as usize).clamp(1, s.len()) - 1]
    }
    fn allocs_per_tick(&self) -> f64 {
        let s = self.steady(&self.allocs);
        s.iter().sum::<u64>() as f64 / s.len() as f64
    }
    fn housekeeping_per_tick(&self) -> f64 {
        let s = self.steady(&self.housekeeping);
        s.iter().sum::<u64>() as f64 / s.len() as f64
    }
    fn avg_tick_bytes(&self) -> f64 {
        let s = self.steady(&self.tick_bytes);
        s.iter().sum::<u64>() as f64 / s.len() as f64
    }
    fn peak_tick_bytes(&self) -> u64 {
        self.steady(&self.tick_bytes)
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
    }
}

fn run_mode(mode: Mode, args: &Args) -> Run {
    let cfg = SimConfig {
        seed: args.seed,
        enemies: args.enemies,
        bullets_per_tick: args.bullets,
    };
    let live_before = tickmem::track::global_stats().live_bytes();
    let mut world = World::new();
    let mut schedule = Schedule::default();
    if args.threads > 1 {
        schedule.set_executor(MultiThreadedExecutor::new());
    } else {
        schedule.set_executor(SingleThreadedExecutor::new());
    }
    match mode {
        Mode::Tickmem => {
            let mut config = tickmem::ecs::TickmemConfig::default();
            if let Some(n) = args.budget {
                config = config.with_budget(n, u64::from(args.warmup));
            }
            tickmem_mode::setup_with_config(&mut world, &mut schedule, cfg, config);
        }
        Mode::Baseline => {
            baseline::setup(&mut world, &mut schedule, cfg);
            // Per-system counts without tickmem installed.
            #[cfg(feature = "attribution")]
            tickmem::ecs::attribute(&mut world, &mut schedule);
        }
    }

    let n = args.ticks as usize;
    let mut run = Run {
        mode,
        tick_us: Vec::with_capacity(n),
        allocs: Vec::with_capacity(n),
        housekeeping: Vec::with_capacity(n),
        tick_bytes: Vec::with_capacity(n),
        retained_bytes: 0,
        checksum: 0,
        warmup: args.warmup as usize,
        live_bullets: 0,
        overruns: 0,
        reporting_calls: 0,
        systems: Vec::with_capacity(16),
    };
    let started = Instant::now();
    let mut out = std::io::stdout().lock();
    let (lead, tail) = if std::io::stdout().is_terminal() {
        ("\r", "")
    } else {
        ("", "\n")
    };
    for tick in 0..n {
        let before = tickmem::track::global_stats();
        let hk_before = tickmem::track::housekeeping_stats();
        let t0 = Instant::now();
        schedule.run(&mut world);
        let dt = t0.elapsed();
        // What `App::update` does after each update: without it bevy's
        // removed-component buffers grow for the whole run (the soak found
        // it). Not part of the timed tick; its allocator calls count.
        world.clear_trackers();
        let after = tickmem::track::global_stats();
        let housekeeping = tickmem::track::housekeeping_stats()
            .since(&hk_before)
            .calls();
        run.tick_us.push(dt.as_secs_f64() * 1e6);
        run.allocs
            .push(after.calls() - before.calls() - housekeeping);
        run.housekeeping.push(housekeeping);
        run.tick_bytes.push(match mode {
            Mode::Tickmem => tickmem_mode::frame_bytes(&world),
            Mode::Baseline => after.bytes_allocated - before.bytes_allocated,
        });
        if mode == Mode::Tickmem {
            // The boundary reports overruns between two ticks: what it
            // allocates doing so (symbolising a call stack) is no tick's.
            let reported = world
                .resource::<tickmem::ecs::MemoryStats>()
                .reporting_calls;
            if let Some(calls) = run.allocs.last_mut() {
                *calls -= reported - run.reporting_calls;
            }
            run.reporting_calls = reported;
            report_overrun(&world, &mut run, &mut out);
        }
        #[cfg(feature = "attribution")]
        {
            // Summed from the first tick (so the names are known before the
            // measured ticks: nothing to allocate then), counted from the
            // end of the warm-up.
            if tick == run.warmup {
                for s in &mut run.systems {
                    (s.1, s.2) = (0, 0);
                }
            }
            let calls = after.calls() - before.calls();
            sum_systems(&mut world, mode, calls, &mut run.systems);
        }
        if (tick + 1) % (n / 10).max(1) == 0 || tick + 1 == n {
            let _ = write!(
                out,
                "{lead}[{:>8}] tick {:>5}/{n}  {:>7.1} ms elapsed  last tick {:>7.1} us  {:>6} allocator calls{}{tail}",
                mode.name(),
                tick + 1,
                started.elapsed().as_secs_f64() * 1e3,
                dt.as_secs_f64() * 1e6,
                run.allocs.last().copied().unwrap_or(0),
                match run.housekeeping.last() {
                    Some(&h) if h > 0 => format!(" (+{h} tickmem housekeeping)"),
                    _ => String::new(),
                },
            );
            let _ = out.flush();
        }
    }
    if tail.is_empty() {
        let _ = writeln!(out);
    }
    run.retained_bytes = tickmem::track::global_stats().live_bytes() - live_before;
    run.live_bullets = world
        .query_filtered::<(), With<sim::Bullet>>()
        .iter(&world)
        .count();
    run.checksum = match mode {
        Mode::Tickmem => tickmem_mode::checksum(&mut world),
        Mode::Baseline => baseline::checksum(&mut world),
    };
    run
}

/// Print a budget overrun the tick's boundary just reported (the first
/// few in full). Printing allocates nothing, so it does not cause the next
/// overrun itself.
fn report_overrun(world: &World, run: &mut Run, out: &mut impl Write) {
    const IN_FULL: u64 = 3;
    let stats = world.resource::<tickmem::ecs::MemoryStats>();
    if stats.budget_overruns == run.overruns {
        return;
    }
    run.overruns = stats.budget_overruns;
    if let Some(overrun) = &stats.last_overrun {
        if run.overruns <= IN_FULL {
            let _ = writeln!(out, "\n[ tickmem] {overrun}");
        } else if run.overruns == IN_FULL + 1 {
            let _ = writeln!(out, "\n(more overruns: counted, not printed)");
        }
    }
}

/// Add this tick's per-system counts to `sums` (tickmem mode: what the
/// boundary published for the previous tick, `(outside systems)`
/// included; baseline: the counters since the last call, and what remains
/// of the tick's `calls` as `(outside systems)`).
#[cfg(feature = "attribution")]
fn sum_systems(world: &mut World, mode: Mode, calls: u64, sums: &mut Vec<(String, u64, u64)>) {
    let mut add =
        |name: &str, calls: u64, bytes: u64| match sums.iter_mut().find(|(n, ..)| n == name) {
            Some(entry) => {
                entry.1 += calls;
                entry.2 += bytes;
            }
            None => sums.push((name.to_owned(), calls, bytes)),
        };
    match mode {
        Mode::Tickmem => {
            for s in &world.resource::<tickmem::ecs::MemoryStats>().systems {
                add(&s.name, s.calls, s.bytes_allocated);
            }
        }
        Mode::Baseline => {
            let mut attributed = 0;
            for s in tickmem::ecs::take_system_stats(world) {
                attributed += s.calls;
                add(&s.name, s.calls, s.bytes_allocated);
            }
            add("(outside systems)", calls.saturating_sub(attributed), 0);
        }
    }
}

fn fmt_bytes(b: f64) -> String {
    if b.abs() >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else if b.abs() >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    ComputeTaskPool::get_or_init(|| TaskPoolBuilder::new().num_threads(args.threads).build());
    if let Some(ticks) = args.soak {
        soak::run(&args, ticks);
    }
    println!(
        "bullet_hell: {} ticks, {} bullets/tick from {} enemies, seed {:#x}, {} worker thread(s), {} executor, warm-up {} ticks",
        args.ticks,
        args.bullets,
        args.enemies,
        args.seed,
        args.threads,
        if args.threads > 1 {
            "multi-threaded"
        } else {
            "single-threaded"
        },
        args.warmup
    );

    let runs: Vec<Run> = args.modes.iter().map(|&m| run_mode(m, &args)).collect();

    println!();
    println!(
        "{:<9} {:>12} {:>12} {:>10} {:>12} {:>15} {:>16} {:>13} {:>8}",
        "mode",
        "avg tick",
        "p99 tick",
        "ticks/s",
        "allocs/tick",
        "avg tick bytes",
        "peak tick bytes",
        "retained",
        "bullets"
    );
    for r in &runs {
        println!(
            "{:<9} {:>9.1} us {:>9.1} us {:>10.0} {:>12.1} {:>15} {:>16} {:>13} {:>8}",
            r.mode.name(),
            r.avg_tick_us(),
            r.p99_tick_us(),
            1e6 / r.avg_tick_us(),
            r.allocs_per_tick(),
            fmt_bytes(r.avg_tick_bytes()),
            fmt_bytes(r.peak_tick_bytes() as f64),
            fmt_bytes(r.retained_bytes as f64),
            r.live_bullets,
        );
    }
    if let [t, b] = &runs[..] {
        println!(
            "tickmem is {:.2}x faster per tick on average ({:.2}x at p99), with {:.1} vs {:.1} allocator calls per tick",
            b.avg_tick_us() / t.avg_tick_us(),
            b.p99_tick_us() / t.p99_tick_us(),
            t.allocs_per_tick(),
            b.allocs_per_tick()
        );
    }
    println!(
        "(allocs/tick: global-allocator calls counted by CountingAlloc after the warm-up, all threads, tickmem's own housekeeping (chunks grown or trimmed, entity pools shrunk) counted apart; tick bytes: frame-arena bytes of a tick for tickmem, heap bytes allocated during a tick for baseline (its peak is one tick where a bevy-internal buffer regrows); retained: heap bytes still live at the end of the run)"
    );
    println!();
    for r in &runs {
        println!(
            "summary mode={} ticks={} avg_tick_us={:.2} p99_tick_us={:.2} allocs_per_tick={:.2} housekeeping_per_tick={:.2} peak_frame_bytes={} checksum={:016x}",
            r.mode.name(),
            r.tick_us.len(),
            r.avg_tick_us(),
            r.p99_tick_us(),
            r.allocs_per_tick(),
            r.housekeeping_per_tick(),
            r.peak_tick_bytes(),
            r.checksum
        );
    }

    print_top_systems(&runs);
    if let Some(budget) = args.budget {
        for r in runs.iter().filter(|r| r.mode == Mode::Tickmem) {
            println!(
                "budget: at most {budget} global-allocator calls per tick after {} warm-up ticks: {} overrun(s)",
                args.warmup, r.overruns
            );
        }
        if !args.modes.contains(&Mode::Tickmem) {
            println!("(--budget applies to tickmem mode)");
        }
    }

    if let Some(path) = &args.csv {
        match write_csv(path, &runs) {
            Ok(()) => println!("per-tick rows written to {}", path.display()),
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                std::process::exit(1);
            }
        }
    }
    match plot::write_svg(&args.plot, &runs) {
        Ok(()) => println!("plot written to {}", args.plot.display()),
        Err(e) => {
            eprintln!("error: cannot write the plot {}: {e}", args.plot.display());
            std::process::exit(1);
        }
    }

    if let [t, b] = &runs[..] {
        if t.checksum != b.checksum {
            eprintln!(
                "error: the two modes disagree: tickmem checksum {:016x}, baseline {:016x}",
                t.checksum, b.checksum
            );
            std::process::exit(1);
        }
        println!("checksums match: both modes computed the same game");
    }
}

/// The systems that allocate the most per tick after the warm-up, per mode.
fn print_top_systems(runs: &[Run]) {
    if !cfg!(feature = "attribution") {
        println!(
            "(run with --features attribution to see which systems allocate, and the first call over a --budget)"
        );
        return;
    }
    for r in runs {
        let ticks = r.tick_us.len().saturating_sub(r.warmup).max(1) as f64;
        let mut top: Vec<&(String, u64, u64)> = r.systems.iter().filter(|s| s.1 > 0).collect();
        top.sort_by_key(|s| std::cmp::Reverse((s.1, s.2)));
        if top.is_empty() {
            println!(
                "top allocating systems ({}): none allocated after the warm-up",
                r.mode.name()
            );
            continue;
        }
        println!(
            "top allocating systems ({}, per tick after the warm-up):",
            r.mode.name()
        );
        for (name, calls, bytes) in top.into_iter().take(5) {
            println!(
                "  {:<28} {:>10.1} calls {:>12}",
                name,
                *calls as f64 / ticks,
                fmt_bytes(*bytes as f64 / ticks)
            );
        }
    }
}

fn write_csv(path: &std::path::Path, runs: &[Run]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(f, "mode,tick,tick_us,allocs,housekeeping,tick_bytes")?;
    for r in runs {
        for i in 0..r.tick_us.len() {
            writeln!(
                f,
                "{},{},{:.3},{},{},{}",
                r.mode.name(),
                i,
                r.tick_us[i],
                r.allocs[i],
                r.housekeeping[i],
                r.tick_bytes[i]
            )?;
        }
    }
    f.flush()
}
