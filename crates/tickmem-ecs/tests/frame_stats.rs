//! `MemoryStats` tells the truth about the frame arena (issue 16): a system
//! that builds frame collections and drops them before it returns (they
//! give their blocks back to the lane) still shows its bytes in
//! `frame_bytes`, and the high-water mark is at least what the system saw
//! in use. Before, `frame_bytes` read 0 and `frame_high_water` stayed below
//! what `Frame::stats()` showed inside the system.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use allocator_api2::vec::Vec as AVec;
use bevy_ecs::prelude::*;
use hashbrown::{DefaultHashBuilder, HashMap};
use tickmem_ecs::{Frame, MemoryStats};

static SEEN_IN_USE: AtomicUsize = AtomicUsize::new(0);

/// Builds a map and a vector in the frame, reads the arena's stats, and
/// drops both (the map's table, then the vector, go back to the lane).
fn neighbours(frame: Frame, mut tick: Local<u64>) {
    *tick += 1;
    let n = 200 + (*tick % 3) as usize * 100;
    let mut list = AVec::with_capacity_in(n, frame.allocator());
    list.extend(0..n as u64);
    let mut map =
        HashMap::with_capacity_and_hasher_in(n, DefaultHashBuilder::default(), frame.allocator());
    for &x in &list {
        map.insert(x, x * 2);
    }
    let in_use = frame.stats().bytes_this_frame;
    SEEN_IN_USE.fetch_max(in_use, Relaxed);
    drop(map);
    drop(list);
}

#[test]
fn dropped_frame_collections_still_count_and_the_high_water_covers_what_systems_saw() {
    let mut world = World::new();
    let mut schedule = Schedule::default();
    tickmem_ecs::install(&mut world, &mut schedule);
    schedule.add_systems(neighbours);
    for _ in 0..8 {
        schedule.run(&mut world);
        let stats = world.resource::<MemoryStats>();
        if stats.epoch < 2 {
            continue;
        }
        // The vector alone is 1,600 to 3,200 bytes.
        assert!(stats.frame_bytes >= 1600, "{stats:?}");
        assert!(stats.frame_peak >= 1600, "{stats:?}");
        assert!(stats.frame_bytes >= stats.frame_peak);
    }
    let stats = world.resource::<MemoryStats>();
    let seen = SEEN_IN_USE.load(Relaxed);
    assert!(seen > 0);
    assert!(
        stats.frame_high_water >= seen,
        "high water {} below the {seen} bytes a system saw in use",
        stats.frame_high_water
    );
}
