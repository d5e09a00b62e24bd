//! With the Tracy client compiled in and no viewer connected: emitting many
//! events from several threads works and terminates (see `ondemand.rs` for
//! the memory check).
//!
//! Only with the `tracy` feature (never `tracy-network` in tests).
#![cfg(feature = "tracy")]

use tickmem_tracy::testing::{Event, record};
use tickmem_tracy::{MemoryPool, Plot, PlotFormat};

/// One frame's worth of every kind of event.
fn frame(plot: &Plot, pool: &MemoryPool, block: &[u8], frame: u32) {
    tickmem_tracy::zone!("no_viewer::frame");
    for chunk in block.chunks(64) {
        pool.alloc(chunk.as_ptr(), chunk.len());
    }
    plot.set(f64::from(frame));
    if frame.is_multiple_of(100) {
        tickmem_tracy::message(&format!("frame {frame}"));
    }
    pool.free(block.as_ptr());
    pool.discard();
    tickmem_tracy::global_alloc(block.as_ptr(), block.len());
    tickmem_tracy::global_free(block.as_ptr());
    tickmem_tracy::frame_mark();
}

#[test]
fn thousands_of_events_from_many_threads_terminate() {
    let block = vec![0u8; 1024];
    std::thread::scope(|s| {
        for t in 0..4 {
            let block = &block;
            s.spawn(move || {
                let plot = Plot::new(format!("no_viewer/plot{t}"), PlotFormat::Memory);
                let pool = MemoryPool::new(format!("no_viewer/pool{t}"));
                for f in 0..5_000 {
                    frame(&plot, &pool, block, f);
                }
                // The same calls still reach the emission layer, complete.
                let ((), events) = record(|| {
                    for f in 0..200 {
                        frame(&plot, &pool, block, f);
                    }
                });
                let count = |want: fn(&Event) -> bool| events.iter().filter(|e| want(e)).count();
                assert_eq!(count(|e| *e == Event::FrameMark), 200);
                // Memory-pool events are for a connected viewer only.
                let pool_events = count(|e| {
                    matches!(
                        e,
                        Event::PoolAlloc { .. }
                            | Event::PoolFree { .. }
                            | Event::PoolDiscard { .. }
                    )
                });
                if !tickmem_tracy::connected() {
                    assert_eq!(pool_events, 0);
                }
                assert_eq!(count(|e| matches!(e, Event::Message(_))), 2);
                assert_eq!(count(|e| matches!(e, Event::ZoneExit { .. })), 200);
            });
        }
    });
}
