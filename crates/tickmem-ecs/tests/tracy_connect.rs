//! A Tracy viewer connecting to a running game at tick K (0, 1, a few, many)
//! — and disconnecting and reconnecting later — receives a memory history
//! that makes sense from its first event: no discard of a pool it has never
//! seen an allocation for (Tracy's server would then shift every later
//! memory event to about minus the process uptime), no free of a block it
//! does not know, nothing while disconnected, and after the first frame
//! mark the live blocks it knows of add up to what the frame arena holds.
//!
//! Checked through tickmem-tracy's recording sink with a simulated viewer
//! (process-wide: this binary holds one test). The ECS test game runs with
//! the single-threaded executor and one compute thread, so every lane's
//! events happen on the recording thread.
//!
//! Run with `cargo test -p tickmem-ecs --features tracy --test tracy_connect`.
#![cfg(feature = "tracy")]

#[global_allocator]
static GLOBAL: tickmem_track::CountingAlloc = tickmem_track::CountingAlloc::system();

mod common;

use std::collections::BTreeMap;

use bevy_ecs::prelude::*;
use common::game::{self, Mode};
use common::{Executor, init_compute_pool, schedule};
use tickmem_ecs::{FrameMemory, MemoryStats};
use tickmem_tracy::testing::{Event, record, simulate_viewer};

/// A model of what one viewer connection knows of the memory pools.
#[derive(Default)]
struct Viewer {
    /// Pool name → live blocks (address → size) the viewer was told about.
    pools: BTreeMap<&'static str, BTreeMap<usize, usize>>,
}

impl Viewer {
    fn receive(&mut self, tick: u64, event: &Event) {
        match *event {
            Event::PoolAlloc { pool, addr, size } => {
                self.pools.entry(pool).or_default().insert(addr, size);
            }
            Event::PoolFree { pool, addr } => {
                let known = self.pools.get_mut(pool).and_then(|b| b.remove(&addr));
                assert!(
                    known.is_some(),
                    "tick {tick}: free of {addr:#x} in {pool}, unknown to the viewer"
                );
            }
            Event::PoolDiscard { pool } => match self.pools.get_mut(pool) {
                Some(blocks) => blocks.clear(),
                None => panic!("tick {tick}: discard of {pool}, never seen by this viewer"),
            },
            _ => {}
        }
    }

    /// Bytes of live blocks in the pools of `arena`.
    fn live_bytes(&self, arena: u64) -> usize {
        let prefix = format!("tickmem/frame/arena{arena}/");
        self.pools
            .iter()
            .filter(|(name, _)| name.starts_with(&prefix))
            .flat_map(|(_, blocks)| blocks.values())
            .sum()
    }
}

fn is_pool_event(e: &Event) -> bool {
    matches!(
        e,
        Event::PoolAlloc { .. } | Event::PoolFree { .. } | Event::PoolDiscard { .. }
    )
}

/// Run the game for `ticks`; the viewer is connected during the tick ranges
/// in `connected` (half-open), and checked at every tick.
fn run(ticks: u64, connected: &[(u64, u64)]) {
    let mut world = World::new();
    let mut schedule = schedule(Executor::Single);
    game::build(&mut world, &mut schedule, Mode::Tickmem, Default::default());
    let arena = world.resource::<FrameMemory>().id();
    let mut viewer: Option<Viewer> = None;
    let mut announced_after_connect = false;
    for tick in 0..ticks {
        let on = connected.iter().any(|&(a, b)| (a..b).contains(&tick));
        match (on, viewer.is_some()) {
            (true, false) => {
                simulate_viewer(Some(true));
                viewer = Some(Viewer::default());
                announced_after_connect = false;
            }
            (false, true) => {
                simulate_viewer(Some(false));
                viewer = None;
            }
            _ => {}
        }
        let ((), events) = record(|| schedule.run(&mut world));
        world.clear_trackers();
        let Some(v) = viewer.as_mut() else {
            let sent: Vec<&Event> = events.iter().filter(|e| is_pool_event(e)).collect();
            assert!(
                sent.is_empty(),
                "tick {tick}: sent with no viewer: {sent:?}"
            );
            continue;
        };
        for e in &events {
            v.receive(tick, e);
            if *e == Event::FrameMark {
                announced_after_connect = true;
            }
        }
        // The frame mark ends the boundary, the first system of the tick:
        // from then on, the viewer knows every chunk the arena holds.
        assert!(announced_after_connect, "tick {tick}: no frame mark");
        let reserved = world.resource::<FrameMemory>().stats().bytes_reserved;
        assert_eq!(
            v.live_bytes(arena),
            reserved,
            "tick {tick}: the viewer's live frame blocks vs the arena's chunks"
        );
    }
    simulate_viewer(Some(false));
    assert!(world.resource::<MemoryStats>().frame_chunks > 0);
}

fn a_viewer_connecting_at_any_tick_sees_consistent_frame_pools() {
    init_compute_pool(1);
    simulate_viewer(Some(false));
    // Connected from the start; at tick 1; after warm-up; in two sessions.
    run(40, &[(0, 40)]);
    run(40, &[(1, 40)]);
    run(80, &[(37, 80)]);
    run(120, &[(5, 30), (31, 33), (64, 120)]);
    simulate_viewer(None);
}

// No libtest harness (`harness = false` in Cargo.toml): the counts are
// process-wide, and libtest's main thread allocates right after it starts a
// test's thread (see `tests/housekeeping.rs`). Here no other thread runs.
fn main() {
    a_viewer_connecting_at_any_tick_sees_consistent_frame_pools();
    println!("test a_viewer_connecting_at_any_tick_sees_consistent_frame_pools ... ok");
}
