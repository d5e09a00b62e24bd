//! Bench group for the arena vectors, `FrameVec` and `ScratchVec` (one
//! implementation since issue 14), against the vectors they are built like.
//!
//! * `arena_vec_push`: one iteration = `N` pushes of a `u64` into a vector
//!   that starts empty (so it grows: 4, 8, 16, ... elements), then the
//!   vector is dropped and its memory reclaimed. Ids: `frame_vec`
//!   (`FrameArena::vec`, then `begin_frame`), `scratch_vec`
//!   (`Scratch::vec` inside one `tickmem_scratch::with` scope),
//!   `bumpalo_vec` (`bumpalo::collections::Vec` in a `Bump`, then `reset`),
//!   `api2_vec_frame` (`allocator_api2`'s `Vec` over `FrameAlloc`: the arena
//!   without tickmem's vector), `std_vec` (a fresh `Vec` with glibc's
//!   malloc, freed at the end).
//! * `arena_vec_push_reserved`: the same pushes into a vector reserved for
//!   all `N` up front: the cost of `push` alone.
//!
//! Deterministic instruction counts (the machine is shared):
//! `TICKMEM_ICOUNT=<id>:<rounds>` runs `rounds` iterations of one id and
//! nothing else; run it under `valgrind --tool=callgrind` with two round
//! counts and take the difference (the set-up cancels out):
//!
//! ```sh
//! cargo bench -p tickmem-benches --bench arena_vec --no-run
//! B=$(ls -t target/release/deps/arena_vec-* | grep -v '\.d$' | head -1)
//! for r in 10 20; do
//!   TICKMEM_ICOUNT=frame_vec:$r valgrind --tool=callgrind \
//!     --callgrind-out-file=/dev/null $B 2>&1 | grep refs
//! done
//! ```
//!
//! Run: `cargo bench -p tickmem-benches --bench arena_vec`.

use std::hint::black_box;

use bumpalo::Bump;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tickmem_frame::{FrameArena, FrameConfig};

/// Pushes per iteration.
const N: usize = 10_000;

/// Room for a whole frame's growth steps in one chunk per lane half.
fn config() -> FrameConfig {
    FrameConfig::default().lane_capacity(4 * N * size_of::<u64>() + 4096)
}

/// One iteration of `id`, with `reserved` room up front or none.
/// Returns a function run once per iteration.
fn body(id: &str, reserved: bool) -> Box<dyn FnMut()> {
    let cap = if reserved { N } else { 0 };
    match id {
        "frame_vec" => {
            let mut arena = FrameArena::with_config(config());
            Box::new(move || {
                {
                    let mut v = arena.vec_with_capacity::<u64>(cap);
                    for i in 0..N as u64 {
                        v.push(black_box(i));
                    }
                    black_box(v.as_slice());
                }
                arena.begin_frame();
            })
        }
        "scratch_vec" => Box::new(move || {
            tickmem_scratch::with(|s| {
                let mut v = s.vec_with_capacity::<u64>(cap);
                for i in 0..N as u64 {
                    v.push(black_box(i));
                }
                black_box(v.as_slice());
            });
        }),
        "bumpalo_vec" => {
            let mut bump = Bump::with_capacity(4 * N * size_of::<u64>());
            Box::new(move || {
                {
                    let mut v = bumpalo::collections::Vec::with_capacity_in(cap, &bump);
                    for i in 0..N as u64 {
                        v.push(black_box(i));
                    }
                    black_box(v.as_slice());
                }
                bump.reset();
            })
        }
        "api2_vec_frame" => {
            let mut arena = FrameArena::with_config(config());
            Box::new(move || {
                {
                    let mut v = allocator_api2::vec::Vec::with_capacity_in(cap, arena.allocator());
                    for i in 0..N as u64 {
                        v.push(black_box(i));
                    }
                    black_box(v.as_slice());
                }
                arena.begin_frame();
            })
        }
        "std_vec" => Box::new(move || {
            let mut v = Vec::with_capacity(cap);
            for i in 0..N as u64 {
                v.push(black_box(i));
            }
            black_box(v.as_slice());
        }),
        other => panic!("unknown id {other}"),
    }
}

const IDS: [&str; 5] = [
    "frame_vec",
    "scratch_vec",
    "bumpalo_vec",
    "api2_vec_frame",
    "std_vec",
];

fn arena_vec(c: &mut Criterion) {
    if let Ok(spec) = std::env::var("TICKMEM_ICOUNT") {
        let (id, rounds) = spec.split_once(':').expect("TICKMEM_ICOUNT=<id>:<rounds>");
        let (id, reserved) = match id.strip_suffix("/reserved") {
            Some(id) => (id, true),
            None => (id, false),
        };
        let rounds: u32 = rounds.parse().expect("rounds");
        let mut run = body(id, reserved);
        for _ in 0..rounds {
            run();
        }
        std::process::exit(0);
    }
    tickmem_benches::make_process_multithreaded();
    for (group, reserved) in [("arena_vec_push", false), ("arena_vec_push_reserved", true)] {
        let mut group = c.benchmark_group(group);
        group.throughput(Throughput::Elements(N as u64));
        for id in IDS {
            let mut run = body(id, reserved);
            group.bench_function(id, |b| b.iter(&mut run));
        }
        group.finish();
    }
}

criterion_group!(benches, arena_vec);
criterion_main!(benches);
