//! Random frame-arena programs from libFuzzer's bytes: several threads'
//! lanes, persist/get, frame data published into the arena's `FrameHost`
//! (build closures and destructors that panic) and read back, vector growth
//! (moved across threads), slices whose
//! fill closure panics, iterators and `retain` predicates that panic,
//! destructors that panic when their frame is reclaimed, and the frame byte
//! limit. The interpreter and its model are those of the panic-injection
//! test (`crates/tickmem-frame/tests/program/mod.rs`): allocations stay
//! intact, handles resolve exactly while their frame is live, every
//! destructor runs exactly once, the limit holds, and the arena stays usable
//! after every caught panic.
//!
//! `FRAME_PROGRAM_DEBUG=1` prints the decoded program.
#![no_main]

#[path = "../../crates/tickmem-frame/tests/program/mod.rs"]
mod program;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use program::{Op, Program, THREADS};

fn op(u: &mut Unstructured<'_>) -> Result<Op> {
    Ok(match u.int_in_range(0..=9u8)? {
        0 => Op::Bytes {
            len: u.int_in_range(0..=3000)?,
            fill: u.arbitrary()?,
        },
        1 => Op::Alloc {
            bomb: u.ratio(1, 4)?,
        },
        2 => Op::Slice {
            len: u.int_in_range(0..=8)?,
            panic_at: u.int_in_range(0..=10)?,
            bombs: u.arbitrary::<u8>()? & u.arbitrary::<u8>()?,
        },
        3 => Op::Probes {
            len: u.int_in_range(0..=8)?,
            panic_at: u.int_in_range(0..=10)?,
            keep: u.arbitrary()?,
            cross: u.arbitrary()?,
        },
        4 => Op::Words {
            len: u.int_in_range(0..=600)?,
            keep: u.arbitrary()?,
            cross: u.arbitrary()?,
        },
        5 => Op::Retain {
            len: u.int_in_range(0..=8)?,
            panic_at: u.int_in_range(0..=10)?,
        },
        6 => Op::Persist {
            value: u.arbitrary()?,
            bomb: u.ratio(1, 5)?,
        },
        7 => Op::Publish {
            len: u.int_in_range(0..=8)?,
            panic_at: u.int_in_range(0..=10)?,
            bomb: u.ratio(1, 4)?,
        },
        8 => Op::Read {
            index: u.arbitrary()?,
        },
        _ => Op::Get {
            index: u.arbitrary()?,
        },
    })
}

/// `(lane_capacity, limit, program)` from the bytes.
fn decode(data: &[u8]) -> Result<(usize, Option<usize>, Program)> {
    let mut u = Unstructured::new(data);
    let lane_capacity = *u.choose(&[0usize, 64, 4096])?;
    let limit = if u.arbitrary()? {
        Some(u.int_in_range(0..=20_000usize)?)
    } else {
        None
    };
    let mut frames = Vec::new();
    for _ in 0..u.int_in_range(1..=8)? {
        let mut frame = Vec::new();
        for _ in 0..u.int_in_range(0..=24)? {
            frame.push((u.int_in_range(0..=THREADS - 1)?, op(&mut u)?));
        }
        frames.push(frame);
    }
    Ok((lane_capacity, limit, frames))
}

fuzz_target!(|data: &[u8]| {
    let Ok((lane_capacity, limit, program)) = decode(data) else {
        return;
    };
    if std::env::var_os("FRAME_PROGRAM_DEBUG").is_some() {
        eprintln!("lane_capacity {lane_capacity}, limit {limit:?}, program {program:#?}");
    }
    program::run(program, lane_capacity, limit);
});
