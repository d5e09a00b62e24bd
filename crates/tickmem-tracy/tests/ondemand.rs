//! With the Tracy client compiled in and no viewer connected, on-demand mode
//! queues nothing: memory does not grow with the number of events. Alone in
//! its binary so no other test allocates while resident memory is measured.
//!
//! Only with the `tracy` feature (never `tracy-network` in tests), on Linux.
#![cfg(all(feature = "tracy", target_os = "linux"))]

use tickmem_tracy::{MemoryPool, Plot, PlotFormat};

/// Resident memory of this process in bytes (`VmRSS`, Linux).
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line in kB");
    kib * 1024
}

/// Without `ondemand`, Tracy keeps every event in memory until a viewer
/// connects: 2,000,000 events of 20-40 bytes would be 40-80 MB. With it,
/// memory stays flat.
#[test]
fn on_demand_mode_queues_nothing_without_a_viewer() {
    if tickmem_tracy::connected() {
        // Someone's viewer is attached: data is legitimately being queued.
        eprintln!("skipped: a Tracy viewer is connected");
        return;
    }
    let plot = Plot::new("no_viewer/ondemand", PlotFormat::Number);
    let pool = MemoryPool::new("no_viewer/ondemand_pool");
    let block = [0u8; 64];
    let emit = |n: u32| {
        for i in 0..n {
            tickmem_tracy::zone!("no_viewer::ondemand");
            plot.set(f64::from(i));
            pool.alloc(block.as_ptr(), 64);
            pool.free(block.as_ptr());
            tickmem_tracy::frame_mark();
        }
    };
    emit(10_000); // warm-up: Tracy's per-thread state, the zone's location
    let before = resident_bytes();
    emit(400_000); // 2,000,000 events
    let grown = resident_bytes().saturating_sub(before);
    assert!(
        grown < 8 << 20,
        "resident memory grew by {grown} bytes over 2,000,000 events with no viewer: \
         is tracy-client's `ondemand` feature off?"
    );
}
