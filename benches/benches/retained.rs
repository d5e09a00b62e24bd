//! Bench group for `tickmem_ecs::Retained`, the per-system buffer that keeps
//! its capacity across ticks, against what Bevy users write instead.
//!
//! * `retained_buffer`: one iteration = one tick of a one-system schedule
//!   (tickmem installed, single-threaded executor) whose system collects
//!   `N` `u64`s into a buffer and sums them. Ids: `retained`
//!   (`Retained<Vec<u64>>`), `local_vec` (`Local<Vec<u64>>`, cleared at the
//!   start of the run: keeps its capacity, never gives it back),
//!   `fresh_vec` (a `Vec::new()` per run, grown by pushing, freed at the
//!   end), `frame_vec` (a `FrameVec` from the frame arena, reclaimed two
//!   ticks later).
//!
//! Deterministic instruction counts: `TICKMEM_ICOUNT=<id>:<ticks>` runs
//! `ticks` ticks of one id and nothing else (see `arena_vec.rs` for the
//! callgrind recipe).
//!
//! Run: `cargo bench -p tickmem-benches --bench retained`.

use std::hint::black_box;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tickmem_ecs::{Frame, Retained};

/// Elements collected per tick.
const N: u64 = 1_000;

fn retained(mut buf: Retained<Vec<u64>>) {
    buf.extend((0..N).map(black_box));
    black_box(buf.iter().sum::<u64>());
}

fn local_vec(mut buf: Local<Vec<u64>>) {
    buf.clear();
    buf.extend((0..N).map(black_box));
    black_box(buf.iter().sum::<u64>());
}

fn fresh_vec() {
    let mut buf = Vec::new();
    for i in 0..N {
        buf.push(black_box(i));
    }
    black_box(buf.iter().sum::<u64>());
}

fn frame_vec(frame: Frame) {
    let mut buf = frame.vec();
    buf.extend((0..N).map(black_box));
    black_box(buf.iter().sum::<u64>());
}

fn world(id: &str) -> (World, Schedule) {
    let mut world = World::new();
    let mut schedule = Schedule::default();
    schedule.set_executor(SingleThreadedExecutor::new());
    tickmem_ecs::install(&mut world, &mut schedule);
    match id {
        "retained" => schedule.add_systems(retained),
        "local_vec" => schedule.add_systems(local_vec),
        "fresh_vec" => schedule.add_systems(fresh_vec),
        "frame_vec" => schedule.add_systems(frame_vec),
        other => panic!("unknown id {other}"),
    };
    // Warm up: buffers and arena at their steady size.
    for _ in 0..10 {
        schedule.run(&mut world);
    }
    (world, schedule)
}

const IDS: [&str; 4] = ["retained", "local_vec", "fresh_vec", "frame_vec"];

fn retained_buffer(c: &mut Criterion) {
    if let Ok(spec) = std::env::var("TICKMEM_ICOUNT") {
        let (id, ticks) = spec.split_once(':').expect("TICKMEM_ICOUNT=<id>:<ticks>");
        let ticks: u32 = ticks.parse().expect("ticks");
        let (mut world, mut schedule) = world(id);
        for _ in 0..ticks {
            schedule.run(&mut world);
        }
        std::process::exit(0);
    }
    tickmem_benches::make_process_multithreaded();
    let mut group = c.benchmark_group("retained_buffer");
    group.throughput(Throughput::Elements(N));
    for id in IDS {
        let (mut world, mut schedule) = world(id);
        group.bench_function(id, |b| b.iter(|| schedule.run(&mut world)));
    }
    group.finish();
}

criterion_group!(benches, retained_buffer);
criterion_main!(benches);
