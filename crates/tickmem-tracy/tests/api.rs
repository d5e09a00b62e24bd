//! The public API in whatever mode this test binary was built: off (default),
//! `record`, or `tracy` (no viewer connected).
//!
//! - Off: every type is zero-sized and nothing is recorded or allocated.
//! - `record`/`tracy`: the recording sink sees exactly what was emitted, in
//!   order; emitting allocates nothing when no recorder is active.

use std::mem::size_of;

use tickmem_tracy::{MemoryPool, Plot, PlotFormat, Zone};

#[global_allocator]
static GLOBAL: tickmem_track::CountingAlloc = tickmem_track::CountingAlloc::system();

/// Touch every emission point once.
fn emit_everything(plot: &Plot, pool: &MemoryPool, block: &[u8]) {
    tickmem_tracy::zone!("api::emit_everything");
    plot.set(1.5);
    pool.alloc(block.as_ptr(), block.len());
    pool.free(block.as_ptr());
    pool.alloc(block.as_ptr(), block.len());
    pool.discard();
    tickmem_tracy::message("budget overrun: 3 calls");
    tickmem_tracy::frame_mark();
    tickmem_tracy::global_alloc(block.as_ptr(), block.len());
    tickmem_tracy::global_free(block.as_ptr());
}

#[test]
fn enabled_matches_the_features() {
    assert_eq!(
        tickmem_tracy::ENABLED,
        cfg!(any(feature = "tracy", feature = "tracy-network"))
    );
    assert_eq!(tickmem_tracy::ACTIVE, cfg!(feature = "record"));
    if !tickmem_tracy::ENABLED {
        assert!(!tickmem_tracy::connected());
    }
}

#[cfg(not(feature = "record"))]
#[test]
fn off_mode_types_are_zero_sized() {
    assert_eq!(size_of::<Plot>(), 0);
    assert_eq!(size_of::<MemoryPool>(), 0);
    assert_eq!(size_of::<Zone>(), 0);
    assert!(!std::mem::needs_drop::<Zone>());
    assert!(!std::mem::needs_drop::<Plot>());
    assert!(!std::mem::needs_drop::<MemoryPool>());
}

#[cfg(feature = "record")]
#[test]
fn on_mode_types_are_small() {
    // A plot is one interned name (a pointer and a length), a pool one
    // pointer to its interned state.
    assert_eq!(size_of::<Plot>(), size_of::<&str>());
    assert_eq!(size_of::<MemoryPool>(), size_of::<&()>());
    assert!(size_of::<Zone>() <= 64);
}

#[test]
fn emitting_allocates_nothing_without_a_recorder() {
    let plot = Plot::new("tickmem/test/no_alloc", PlotFormat::Memory);
    let pool = MemoryPool::new("tickmem/test/no_alloc_pool");
    let block = vec![0u8; 256];
    // Warm up: a zone's source location is built on its first use.
    emit_everything(&plot, &pool, &block);
    let ((), stats) = tickmem_track::count(|| {
        for _ in 0..1_000 {
            emit_everything(&plot, &pool, &block);
        }
    });
    assert_eq!(stats.calls(), 0, "emitting allocated: {stats:?}");
}

#[test]
fn zero_sized_or_not_the_guard_lives_to_the_end_of_the_scope() {
    // Two zones in one scope, both statement macros: compiles, nests, and
    // (with `record`) closes in reverse order, checked in `recording` below.
    tickmem_tracy::zone!("outer");
    tickmem_tracy::zone!("inner");
}

#[cfg(feature = "record")]
mod recording {
    use super::*;
    use tickmem_tracy::testing::{Event, record, record_with_capacity};

    #[test]
    fn the_sink_sees_exactly_what_was_emitted() {
        let plot = Plot::new("tickmem/test/exact", PlotFormat::Number);
        let pool = MemoryPool::new("tickmem/test/exact_pool");
        let block = [0u8; 48];
        let addr = block.as_ptr().addr();
        let ((), events) = record(|| emit_everything(&plot, &pool, &block));
        let pool_name = "tickmem/test/exact_pool";
        let pool_events = [
            Event::PoolAlloc {
                pool: pool_name,
                addr,
                size: 48,
            },
            Event::PoolFree {
                pool: pool_name,
                addr,
            },
            Event::PoolAlloc {
                pool: pool_name,
                addr,
                size: 48,
            },
            Event::PoolDiscard { pool: pool_name },
        ];
        // Memory-pool events only go to a connected viewer. A `record`-only
        // build treats the sink as one, connected from the start; with a
        // Tracy client and no viewer, nothing is sent.
        let viewer = !tickmem_tracy::ENABLED || tickmem_tracy::connected();
        let mut expected = vec![
            Event::ZoneEnter {
                name: "api::emit_everything",
            },
            Event::Plot {
                name: "tickmem/test/exact",
                value: 1.5,
            },
        ];
        if viewer {
            expected.extend(pool_events);
        }
        expected.extend([
            Event::Message("budget overrun: 3 calls".to_owned()),
            Event::FrameMark,
            // global_alloc / global_free are never recorded.
            Event::ZoneExit {
                name: "api::emit_everything",
            },
        ]);
        assert_eq!(events, expected);
    }

    #[test]
    fn nothing_is_recorded_outside_a_recorder() {
        tickmem_tracy::frame_mark();
        let ((), events) = record(|| ());
        assert!(events.is_empty(), "{events:?}");
        tickmem_tracy::frame_mark();
    }

    #[test]
    fn zones_nest_and_close_in_reverse_order() {
        let ((), events) = record(|| {
            tickmem_tracy::zone!("outer");
            {
                tickmem_tracy::zone!("a");
                tickmem_tracy::zone!("b");
            }
            tickmem_tracy::frame_mark();
        });
        let names: Vec<String> = events
            .iter()
            .map(|e| match e {
                Event::ZoneEnter { name } => format!("+{name}"),
                Event::ZoneExit { name } => format!("-{name}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            names,
            ["+outer", "+a", "+b", "-b", "-a", "FrameMark", "-outer"]
        );
    }

    #[test]
    fn counts_and_values_over_many_frames() {
        let bytes = Plot::new("tickmem/test/frame_bytes", PlotFormat::Memory);
        let ((), events) = record_with_capacity(2_000, || {
            for frame in 0..1_000u32 {
                bytes.set(f64::from(frame * 64));
                tickmem_tracy::frame_mark();
            }
        });
        let marks = events.iter().filter(|e| **e == Event::FrameMark).count();
        assert_eq!(marks, 1_000);
        let values: Vec<f64> = events
            .iter()
            .filter_map(|e| match e {
                Event::Plot {
                    name: "tickmem/test/frame_bytes",
                    value,
                } => Some(*value),
                _ => None,
            })
            .collect();
        let expected: Vec<f64> = (0..1_000u32).map(|f| f64::from(f * 64)).collect();
        assert_eq!(values, expected);
    }

    #[test]
    fn record_with_capacity_does_not_allocate_while_recording() {
        let plot = Plot::new("tickmem/test/cap", PlotFormat::Number);
        let ((), stats) = tickmem_track::count(|| {
            let ((), events) = record_with_capacity(100, || {
                // Counted from inside: the event list was reserved up front.
                let ((), inner) = tickmem_track::count(|| {
                    for i in 0..100 {
                        plot.set(f64::from(i));
                    }
                });
                assert_eq!(inner.calls(), 0, "{inner:?}");
            });
            assert_eq!(events.len(), 100);
        });
        // The reservation itself and its free are the only calls.
        assert_eq!((stats.allocs, stats.deallocs), (1, 1), "{stats:?}");
    }

    #[test]
    fn recorders_nest_and_the_outer_one_sees_everything() {
        let ((inner_events, ()), outer_events) = record(|| {
            tickmem_tracy::message("before");
            let ((), inner) = record(|| tickmem_tracy::message("inside"));
            tickmem_tracy::message("after");
            (inner, ())
        });
        assert_eq!(inner_events, [Event::Message("inside".into())]);
        assert_eq!(
            outer_events,
            [
                Event::Message("before".into()),
                Event::Message("inside".into()),
                Event::Message("after".into()),
            ]
        );
    }

    #[test]
    fn a_panic_inside_removes_the_recorder() {
        let caught = std::panic::catch_unwind(|| {
            record(|| {
                tickmem_tracy::frame_mark();
                panic!("boom");
            })
        });
        assert!(caught.is_err());
        // The recorder is gone: a new one starts empty and sees only its own.
        let ((), events) = record(|| tickmem_tracy::message("fresh"));
        assert_eq!(events, [Event::Message("fresh".into())]);
    }

    #[test]
    fn a_panic_in_a_nested_recorder_keeps_the_outer_one() {
        let ((), events) = record(|| {
            tickmem_tracy::message("outer");
            let caught = std::panic::catch_unwind(|| {
                record(|| {
                    tickmem_tracy::message("inner");
                    panic!("boom");
                })
            });
            assert!(caught.is_err());
            tickmem_tracy::message("outer again");
        });
        assert_eq!(
            events,
            [
                Event::Message("outer".into()),
                Event::Message("inner".into()),
                Event::Message("outer again".into()),
            ]
        );
    }

    #[test]
    fn recording_is_per_thread() {
        let ((), events) = record(|| {
            std::thread::scope(|s| {
                s.spawn(|| {
                    tickmem_tracy::message("other thread");
                    tickmem_tracy::frame_mark();
                });
            });
            tickmem_tracy::message("this thread");
        });
        assert_eq!(events, [Event::Message("this thread".into())]);
    }

    #[test]
    fn concurrent_recorders_do_not_mix() {
        std::thread::scope(|s| {
            for t in 0..4u32 {
                s.spawn(move || {
                    let plot = Plot::new(format!("tickmem/test/thread{t}"), PlotFormat::Number);
                    let ((), events) = record(|| {
                        for i in 0..500u32 {
                            plot.set(f64::from(t * 1_000 + i));
                        }
                    });
                    assert_eq!(events.len(), 500);
                    let name = format!("tickmem/test/thread{t}");
                    for (i, e) in (0..500u32).zip(&events) {
                        let Event::Plot { name: got, value } = e else {
                            panic!("unexpected event {e:?}");
                        };
                        assert_eq!((*got, *value), (name.as_str(), f64::from(t * 1_000 + i)));
                    }
                });
            }
        });
    }

    #[test]
    fn plot_and_pool_names_built_at_run_time_are_interned() {
        let plot_a = Plot::new(
            format!("tickmem/pool_live/{}", "Bullet"),
            PlotFormat::Number,
        );
        let plot_b = Plot::new(String::from("tickmem/pool_live/Bullet"), PlotFormat::Number);
        let ((), events) = record(|| {
            plot_a.set(1.0);
            plot_b.set(2.0);
        });
        let [
            Event::Plot {
                name: a,
                value: 1.0,
            },
            Event::Plot {
                name: b,
                value: 2.0,
            },
        ] = events.as_slice()
        else {
            panic!("unexpected events {events:?}");
        };
        assert_eq!(*a, "tickmem/pool_live/Bullet");
        // One interned copy: the same pointer.
        assert_eq!(a.as_ptr(), b.as_ptr());
    }

    #[test]
    fn creating_the_same_names_again_does_not_grow_memory() {
        // Warm up: the first creation interns (allocates once).
        let _ = Plot::new("tickmem/test/again", PlotFormat::Memory);
        let _ = MemoryPool::new("tickmem/test/again_pool");
        let ((), stats) = tickmem_track::count(|| {
            for _ in 0..100 {
                let _ = Plot::new("tickmem/test/again", PlotFormat::Memory);
                let _ = MemoryPool::new("tickmem/test/again_pool");
            }
        });
        // Each `new` turns its `&str` into a `String` (one allocation, freed
        // again); nothing is kept.
        assert_eq!(stats.allocs, stats.deallocs, "{stats:?}");
        assert_eq!(stats.bytes_allocated, stats.bytes_freed, "{stats:?}");
    }

    #[test]
    fn plot_formats_are_kept_per_name_and_the_latest_wins() {
        use tickmem_tracy::testing::plot_format;
        assert_eq!(plot_format("tickmem/test/format"), None);
        let _ = Plot::new("tickmem/test/format", PlotFormat::Number);
        assert_eq!(plot_format("tickmem/test/format"), Some(PlotFormat::Number));
        let _ = Plot::new("tickmem/test/format", PlotFormat::Percentage);
        assert_eq!(
            plot_format("tickmem/test/format"),
            Some(PlotFormat::Percentage)
        );
        // A memory pool of the same name is not a plot.
        let _ = MemoryPool::new("tickmem/test/format_pool");
        assert_eq!(plot_format("tickmem/test/format_pool"), None);
    }

    #[test]
    fn a_long_message_is_cut_to_tracys_limit_at_a_char_boundary() {
        let text = format!("a{}", "é".repeat(40_000)); // 80,001 bytes
        let ((), events) = record(|| tickmem_tracy::message(&text));
        let [Event::Message(sent)] = events.as_slice() else {
            panic!("unexpected events {events:?}");
        };
        assert_eq!(sent.len(), 65_533);
        assert!(text.starts_with(sent.as_str()));
    }

    #[test]
    #[should_panic(expected = "plot name \"bad\\0name\" contains a NUL byte at byte 3")]
    fn a_nul_in_a_plot_name_is_refused() {
        let _ = Plot::new("bad\0name", PlotFormat::Number);
    }

    #[test]
    #[should_panic(expected = "memory pool name \"\\0\" contains a NUL byte at byte 0")]
    fn a_nul_in_a_pool_name_is_refused() {
        let _ = MemoryPool::new("\0");
    }
}
