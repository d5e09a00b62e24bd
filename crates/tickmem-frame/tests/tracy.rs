//! What the arena reports to Tracy (through tickmem-tracy's recording sink):
//! a `tickmem::begin_frame` zone, and each lane half's chunks as a memory
//! pool that is discarded when that half's frame is reclaimed.

use tickmem_frame::{FrameArena, FrameConfig};
use tickmem_tracy::testing::{Event, record};

#[test]
fn begin_frame_is_a_zone_and_chunks_are_pool_allocations() {
    let mut arena = FrameArena::with_config(FrameConfig::default().lane_capacity(1024));
    let id = arena.id();
    let even = format!("tickmem/frame/arena{id}/lane0/even");
    let odd = format!("tickmem/frame/arena{id}/lane0/odd");
    let pool_of = |e: &Event| match e {
        Event::PoolAlloc { pool, .. }
        | Event::PoolDiscard { pool }
        | Event::PoolFree { pool, .. } => Some(pool.to_string()),
        _ => None,
    };

    // Creating the lane reserves a chunk per half.
    let ((), events) = record(|| {
        arena.alloc(1u8);
    });
    let created: Vec<String> = events.iter().filter_map(pool_of).collect();
    assert_eq!(created, [even.clone(), odd.clone()], "{events:?}");

    // Growing frame 0 (even half) reports the new chunk there.
    let ((), events) = record(|| {
        arena.alloc_slice_copy(&[0u8; 4000]);
    });
    match events.as_slice() {
        [Event::PoolAlloc { pool, size, .. }] => {
            assert_eq!(*pool, even.as_str());
            assert!(*size >= 4000);
        }
        other => panic!("expected one chunk report, got {other:?}"),
    }

    // Frame 1 reclaims the odd half (frame -1): discard, then its kept chunk.
    let ((), events) = record(|| arena.begin_frame());
    assert_eq!(
        events.first(),
        Some(&Event::ZoneEnter {
            name: "tickmem::begin_frame"
        })
    );
    assert_eq!(
        events.last(),
        Some(&Event::ZoneExit {
            name: "tickmem::begin_frame"
        })
    );
    let pools: Vec<String> = events.iter().filter_map(pool_of).collect();
    assert_eq!(pools, [odd.clone(), odd.clone()], "{events:?}");
    assert!(matches!(events[1], Event::PoolDiscard { .. }));

    // Frame 2 reclaims frame 0's even half.
    let ((), events) = record(|| arena.begin_frame());
    let discarded: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::PoolDiscard { .. }))
        .collect();
    assert_eq!(discarded.len(), 1);
    assert_eq!(pool_of(discarded[0]).as_deref(), Some(even.as_str()));
}
