//! Without `CountingAlloc` as the global allocator, tickmem says it cannot
//! count rather than reporting zeros that would look like success.

mod common;

use bevy_ecs::prelude::*;
use common::game::{self, Mode};
use common::{Executor, init_compute_pool, schedule};
use tickmem_ecs::{MemoryStats, TickmemConfig};

#[test]
fn no_counting_allocator_means_no_numbers() {
    init_compute_pool(1);
    let mut world = World::new();
    let mut schedule = schedule(Executor::Single);
    // A budget that every tick would break, were allocations counted.
    let config = TickmemConfig::default().with_budget(0, 0);
    game::build(&mut world, &mut schedule, Mode::Tickmem, config);
    for _ in 0..20 {
        schedule.run(&mut world);
    }
    let stats = world.resource::<MemoryStats>();
    assert_eq!(stats.global_alloc_calls, None);
    assert_eq!(stats.budget_overruns, 0);
    assert_eq!(stats.last_overrun, None);
    // Everything else is still published.
    assert_eq!(stats.epoch, 20);
    assert!(stats.frame_bytes > 0);
}
