//! A viewer connecting must not make tickmem allocate.
//!
//! At the first frame mark of a connection every memory pool announces the
//! blocks it holds. That frame mark is emitted inside the frame boundary of a
//! warmed-up game, whose allocation budget is typically 0: if announcing
//! allocated on the global allocator, merely connecting Tracy would report a
//! budget overrun blaming tickmem itself (a real Tracy 0.14 capture of the
//! demo showed exactly that: "2 global-allocator calls ... in system
//! `tickmem::frame_boundary` ... at `tickmem_tracy::pool::announce_all`").
//!
//! The simulated connection is process-wide and the global allocator counts:
//! this binary holds one test.
#![cfg(feature = "record")]

use tickmem_track::CountingAlloc;
use tickmem_tracy::MemoryPool;
use tickmem_tracy::testing::{Event, record_with_capacity, simulate_viewer};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();

#[test]
fn announcing_pools_at_a_new_connection_allocates_nothing() {
    // Several pools (some empty, some holding blocks) that no viewer saw.
    let pools: Vec<MemoryPool> = (0..6)
        .map(|i| MemoryPool::new(format!("test/connect_no_alloc/{i}")))
        .collect();
    let blocks = [[0u8; 64]; 3];
    simulate_viewer(Some(false));
    for (i, pool) in pools.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        for block in &blocks[..=i % 3] {
            pool.alloc(block.as_ptr(), 64);
        }
    }
    // Warm up what a frame mark touches in any case (thread-locals, the
    // Tracy client when compiled in), with no viewer: nothing to announce.
    tickmem_tracy::frame_mark();

    for connection in 0..3 {
        simulate_viewer(Some(true));
        let (calls, events) = record_with_capacity(64, || {
            let ((), stats) = tickmem_track::count(tickmem_tracy::frame_mark);
            stats.calls()
        });
        assert_eq!(
            calls, 0,
            "connection {connection}: the first frame mark allocated"
        );
        // It did announce: every block of every pool that holds some.
        let announced = events
            .iter()
            .filter(|e| {
                matches!(e, Event::PoolAlloc { pool, .. }
                    if pool.starts_with("test/connect_no_alloc/"))
            })
            .count();
        assert_eq!(announced, 1 + 3 + 2, "connection {connection}: {events:?}");
        simulate_viewer(Some(false));
    }
    simulate_viewer(None);
}
