//! A viewer may connect (and disconnect, and another connect) at any point:
//! what it receives of the memory pools must always make sense to it.
//!
//! Random programs of pool operations, frame marks, connects and
//! disconnects run against the real emission layer (with a simulated
//! viewer), and every recorded event is fed to a model of Tracy's server:
//!
//! * a discard must name a pool the viewer has seen an allocation for (the
//!   server ignores it otherwise, *without* advancing its memory-event
//!   reference time: every later memory event lands at about minus the
//!   process uptime);
//! * a free must name a block the viewer knows is live;
//! * nothing memory-related is sent while no viewer is connected;
//! * after a frame mark, the viewer's live blocks of each pool are exactly
//!   the pool's live blocks (chunks allocated before it connected included).
//!
//! The simulated connection is process-wide: this binary holds one test.
#![cfg(feature = "record")]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use tickmem_tracy::MemoryPool;
use tickmem_tracy::testing::{Event, record, simulate_viewer};

const POOLS: usize = 3;
const BLOCKS: usize = 4;

#[derive(Debug, Clone, Copy)]
enum Op {
    Alloc(usize, usize),
    Free(usize, usize),
    Discard(usize),
    FrameMark,
    Connect,
    Disconnect,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..POOLS, 0..BLOCKS).prop_map(|(p, b)| Op::Alloc(p, b)),
        2 => (0..POOLS, 0..BLOCKS).prop_map(|(p, b)| Op::Free(p, b)),
        2 => (0..POOLS).prop_map(Op::Discard),
        2 => Just(Op::FrameMark),
        1 => Just(Op::Connect),
        1 => Just(Op::Disconnect),
    ]
}

/// What one connected viewer knows, per pool name: the live blocks it was
/// told about (a pool is known once it has been told about an allocation).
#[derive(Default)]
struct Viewer {
    pools: BTreeMap<&'static str, BTreeSet<usize>>,
}

impl Viewer {
    fn receive(&mut self, event: &Event) -> Result<(), String> {
        match *event {
            Event::PoolAlloc { pool, addr, .. } => {
                self.pools.entry(pool).or_default().insert(addr);
            }
            Event::PoolFree { pool, addr } => {
                let known = self.pools.get_mut(pool).is_some_and(|b| b.remove(&addr));
                if !known {
                    return Err(format!("free of {addr:#x} unknown to the viewer in {pool}"));
                }
            }
            Event::PoolDiscard { pool } => match self.pools.get_mut(pool) {
                Some(blocks) => blocks.clear(),
                None => return Err(format!("discard of {pool}, never seen by the viewer")),
            },
            _ => {}
        }
        Ok(())
    }
}

fn is_pool_event(e: &Event) -> bool {
    matches!(
        e,
        Event::PoolAlloc { .. } | Event::PoolFree { .. } | Event::PoolDiscard { .. }
    )
}

fn run(ops: &[Op], case: u32) -> Result<(), TestCaseError> {
    // Fresh pool names per case: pools are process-wide state.
    let names: Vec<String> = (0..POOLS)
        .map(|p| format!("late_viewer/case{case}/pool{p}"))
        .collect();
    let pools: Vec<MemoryPool> = names.iter().map(|n| MemoryPool::new(n.as_str())).collect();
    // Distinct fake addresses per (pool, block); never dereferenced.
    let memory = [0u8; POOLS * BLOCKS];
    let addr = |p: usize, b: usize| memory.as_ptr().wrapping_add(p * BLOCKS + b);
    // The model of what is live, per pool.
    let mut live: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); POOLS];
    let mut connected = false;
    simulate_viewer(Some(false));
    let mut viewer = Viewer::default();

    for &op in ops {
        match op {
            Op::Connect if !connected => {
                connected = true;
                viewer = Viewer::default();
                simulate_viewer(Some(true));
                continue;
            }
            Op::Disconnect => {
                connected = false;
                simulate_viewer(Some(false));
                continue;
            }
            _ => {}
        }
        let ((), events) = record(|| match op {
            Op::Alloc(p, b) => pools[p].alloc(addr(p, b), 16),
            Op::Free(p, b) => pools[p].free(addr(p, b)),
            Op::Discard(p) => pools[p].discard(),
            Op::FrameMark => tickmem_tracy::frame_mark(),
            Op::Connect | Op::Disconnect => {}
        });
        match op {
            Op::Alloc(p, b) => {
                // A block reported twice is two blocks at one address for
                // the pool; the model keeps one (frees remove the newest).
                live[p].insert(addr(p, b).addr());
            }
            Op::Free(p, b) => {
                live[p].remove(&addr(p, b).addr());
            }
            Op::Discard(p) => live[p].clear(),
            _ => {}
        }
        let ours: Vec<&Event> = events
            .iter()
            .filter(|e| is_pool_event(e))
            .filter(|e| match e {
                Event::PoolAlloc { pool, .. }
                | Event::PoolFree { pool, .. }
                | Event::PoolDiscard { pool } => names.iter().any(|n| n == pool),
                _ => false,
            })
            .collect();
        if !connected {
            prop_assert!(ours.is_empty(), "sent without a viewer: {ours:?}");
            continue;
        }
        for e in ours {
            viewer.receive(e).map_err(TestCaseError::fail)?;
        }
        if matches!(op, Op::FrameMark) {
            for (p, name) in names.iter().enumerate() {
                let seen = viewer.pools.get(name.as_str()).cloned().unwrap_or_default();
                prop_assert_eq!(&seen, &live[p], "pool {} after a frame mark", name);
            }
        }
    }
    simulate_viewer(None);
    Ok(())
}

#[test]
fn a_late_viewer_sees_a_consistent_memory_history() {
    // Exactly one block per (pool, block) address: an allocation of a live
    // address is only reported after it was freed, as real allocators do.
    let cases = if cfg!(miri) { 16 } else { 512 };
    let case = std::sync::atomic::AtomicU32::new(0);
    proptest!(ProptestConfig::with_cases(cases), |(ops in proptest::collection::vec(op(), 1..60))| {
        let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ops = no_double_alloc(&ops);
        run(&ops, n)?;
    });
}

/// Drop allocations of an address that is live already (a real allocator
/// never hands out a live block twice).
fn no_double_alloc(ops: &[Op]) -> Vec<Op> {
    let mut live = BTreeSet::new();
    ops.iter()
        .copied()
        .filter(|op| match *op {
            Op::Alloc(p, b) => live.insert((p, b)),
            Op::Free(p, b) => {
                live.remove(&(p, b));
                true
            }
            Op::Discard(p) => {
                live.retain(|&(q, _)| q != p);
                true
            }
            _ => true,
        })
        .collect()
}
