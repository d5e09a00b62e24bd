//! Frame data published into a `FrameHost`: values that borrow their frame
//! (slices, `allocator_api2` vectors, hashbrown maps, structs) read in their
//! frame and the next, and dropped exactly once before their frame is
//! reclaimed — across threads, panicking destructors, hosts that move, are
//! dropped or taken apart while values live. Run under Miri with Stacked and
//! Tree Borrows (`.ci/run`); the threaded tests also with many seeds.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use allocator_api2::vec::Vec as AVec;
use hashbrown::{DefaultHashBuilder, HashMap};
use proptest::prelude::*;
use tickmem_frame::{FrameAlloc, FrameBuilder, FrameConfig, FrameHost, Published};

/// What happened to tracked values: drop order, and failed checks.
#[derive(Default)]
struct Log {
    dropped: Mutex<Vec<u64>>,
}

impl Log {
    fn dropped(&self) -> Vec<u64> {
        self.dropped.lock().unwrap().clone()
    }
}

/// A value that borrows its frame three ways — a frame vector holding heap
/// strings, a frame map, a frame string — and checks in its destructor
/// that all of them still hold what they were built with (so a destructor
/// running after its frame was reclaimed, or poisoned with the `poison`
/// feature, fails natively; under Miri it is also a use of freed or
/// invalidated memory).
struct Tracked<'f> {
    id: u64,
    words: AVec<String, FrameAlloc<'f>>,
    squares: HashMap<u64, u64, DefaultHashBuilder, FrameAlloc<'f>>,
    name: &'f str,
    log: Arc<Log>,
    bomb: bool,
}

impl Tracked<'_> {
    fn check(&self) {
        let n = self.len();
        assert_eq!(self.words.len(), n);
        for (i, w) in self.words.iter().enumerate() {
            assert_eq!(*w, format!("{}:{i}", self.id));
        }
        assert_eq!(self.squares.len(), n);
        for i in 0..n as u64 {
            assert_eq!(self.squares[&i], i * i + self.id);
        }
        assert_eq!(self.name, format!("value {}", self.id));
    }

    fn len(&self) -> usize {
        (self.id % 5) as usize + 1
    }
}

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        self.check();
        self.log.dropped.lock().unwrap().push(self.id);
        assert!(!self.bomb, "bomb in a published value's destructor");
    }
}

tickmem_frame::frame_data! {
    /// Tracked values.
    Values<'f> = Tracked<'f>;
    /// A plain frame vector of numbers.
    Numbers<'f> = AVec<u64, FrameAlloc<'f>>;
    /// A slice in the frame.
    Slice<'f> = &'f [u32];
}

fn build<'f>(f: FrameBuilder<'f>, id: u64, log: &Arc<Log>, bomb: bool) -> Tracked<'f> {
    let n = (id % 5) as usize + 1;
    let mut words = AVec::with_capacity_in(n, f.allocator());
    let mut squares =
        HashMap::with_capacity_and_hasher_in(n, DefaultHashBuilder::default(), f.allocator());
    for i in 0..n {
        words.push(format!("{id}:{i}"));
        squares.insert(i as u64, (i * i) as u64 + id);
    }
    Tracked {
        id,
        words,
        squares,
        name: f.alloc_str(&format!("value {id}")),
        log: log.clone(),
        bomb,
    }
}

fn publish(host: &FrameHost, id: u64, log: &Arc<Log>) -> Published<Values> {
    host.publish::<Values>(|f| build(f, id, log, false))
}

/// Silence the expected panics' messages (they are caught).
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = info
                .payload()
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
                .unwrap_or("");
            if !text.contains("bomb") {
                default(info);
            }
        }));
    });
}

fn small_host() -> FrameHost {
    FrameHost::with_config(FrameConfig::default().lane_capacity(1024))
}

#[test]
fn values_are_read_in_their_frame_and_the_next_then_dropped_once() {
    let log = Arc::new(Log::default());
    let mut host = small_host();
    let a = publish(&host, 1, &log);
    let b = publish(&host, 2, &log);
    host.read(a).unwrap().check();
    host.begin_frame(); // frame 1
    let c = publish(&host, 3, &log);
    host.read(a).unwrap().check();
    host.read(b).unwrap().check();
    host.read(c).unwrap().check();
    assert!(log.dropped().is_empty());
    host.begin_frame(); // frame 2: frame 0's values dropped, then reclaimed
    assert_eq!(host.read(a).map(|v| v.id), None);
    assert_eq!(host.read(b).map(|v| v.id), None);
    assert_eq!(host.read(c).map(|v| v.id), Some(3));
    let mut dropped = log.dropped();
    dropped.sort_unstable();
    assert_eq!(dropped, [1, 2]);
    host.begin_frame();
    assert_eq!(host.read(c).map(|v| v.id), None);
    assert_eq!(log.dropped().len(), 3);
    drop(host);
    assert_eq!(log.dropped().len(), 3, "nothing is dropped twice");
}

/// The program that is undefined behaviour if the host made a `&mut
/// FrameArena` to advance the frame: a value of frame 0 holds `&FrameArena`
/// (its `FrameAlloc`s) across the reclaim at the start of frame 1, then
/// uses it — a reader clones the vector (allocating through the stored
/// allocator), and the destructor frees through it.
#[test]
fn a_value_uses_its_allocator_after_the_next_frame_starts() {
    let mut host = small_host();
    let t = host.publish::<Numbers>(|f| {
        let mut v = AVec::with_capacity_in(4, f.allocator());
        v.extend([1, 2, 3, 4]);
        v
    });
    host.begin_frame();
    let copy = host.read(t).unwrap().clone(); // allocates in frame 1
    assert_eq!(copy[..], [1, 2, 3, 4]);
    drop(copy);
    host.begin_frame(); // drops the vector: frees through its allocator
    host.begin_frame();
    assert!(host.read(t).is_none());
}

tickmem_frame::frame_data! { Words<'f> = tickmem_frame::FrameVec<'f, Noisy>; }

/// Counts its drops.
struct Noisy(String, Arc<Log>);

impl Drop for Noisy {
    fn drop(&mut self) {
        self.1.dropped.lock().unwrap().push(self.0.len() as u64);
    }
}

/// A `FrameVec` (the builder's `vec`) as published data: grown in its
/// frame, read in the next, its elements dropped once when its frame is
/// reclaimed (by the vector's own `Drop`, before the memory is reset).
#[test]
fn a_frame_vec_is_published_read_next_frame_and_dropped_once() {
    let log = Arc::new(Log::default());
    let mut host = small_host();
    let t = host.publish::<Words>(|f| {
        let mut v = f.vec();
        for i in 1..=5 {
            v.push(Noisy("x".repeat(i), Arc::clone(&log)));
        }
        v
    });
    host.begin_frame();
    let lens: Vec<usize> = host.read(t).unwrap().iter().map(|w| w.0.len()).collect();
    assert_eq!(lens, [1, 2, 3, 4, 5]);
    assert!(log.dropped().is_empty());
    host.begin_frame();
    assert!(host.read(t).is_none());
    let mut dropped = log.dropped();
    dropped.sort_unstable();
    assert_eq!(dropped, [1, 2, 3, 4, 5]);
    drop(host);
    assert_eq!(log.dropped().len(), 5, "nothing is dropped twice");
}

#[test]
fn writers_on_many_threads_readers_on_others() {
    let threads: u64 = if cfg!(miri) { 3 } else { 8 };
    let per_thread: u64 = if cfg!(miri) { 2 } else { 50 };
    let log = Arc::new(Log::default());
    let mut host = small_host();
    for frame in 0..3u64 {
        let tokens: Vec<(u64, Published<Values>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (host, log) = (&host, &log);
                    s.spawn(move || {
                        (0..per_thread)
                            .map(|i| {
                                let id = frame * 10_000 + t * 100 + i;
                                (id, publish(host, id, log))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        // Other threads read every value, in this frame...
        std::thread::scope(|s| {
            for chunk in tokens.chunks(tokens.len().div_ceil(2)) {
                let host = &host;
                s.spawn(move || {
                    for &(id, t) in chunk {
                        let v = host.read(t).expect("published this frame");
                        assert_eq!(v.id, id);
                        v.check();
                    }
                });
            }
        });
        host.begin_frame();
        // ... and in the next.
        for &(id, t) in &tokens {
            assert_eq!(host.read(t).map(|v| v.id), Some(id));
        }
        let expected_dropped = frame * threads * per_thread;
        assert_eq!(log.dropped().len() as u64, expected_dropped);
    }
    drop(host);
    assert_eq!(log.dropped().len() as u64, 3 * threads * per_thread);
}

#[test]
fn panicking_destructors_do_not_stop_the_others() {
    quiet_panics();
    let log = Arc::new(Log::default());
    let mut host = small_host();
    for id in 0..6 {
        let bomb = id % 2 == 1;
        host.publish::<Values>(|f| build(f, id, &log, bomb));
    }
    // An arena value with a panicking destructor in the same frame.
    struct ArenaBomb(Arc<Log>);
    impl Drop for ArenaBomb {
        fn drop(&mut self) {
            self.0.dropped.lock().unwrap().push(100);
            panic!("bomb in an arena value");
        }
    }
    host.alloc(ArenaBomb(log.clone()));
    host.begin_frame();
    let err = catch_unwind(AssertUnwindSafe(|| host.begin_frame())).unwrap_err();
    let text = err.downcast_ref::<String>().map(String::as_str);
    let text = text.or_else(|| err.downcast_ref::<&str>().copied());
    assert_eq!(
        text,
        Some("bomb in a published value's destructor"),
        "published values are dropped first; the first panic resumes"
    );
    let mut dropped = log.dropped();
    assert_eq!(dropped.last(), Some(&100), "the arena's own values after");
    dropped.sort_unstable();
    assert_eq!(dropped, [0, 1, 2, 3, 4, 5, 100]);
    // The frame advanced and the host works.
    assert_eq!(host.epoch(), 2);
    let t = publish(&host, 7, &log);
    host.read(t).unwrap().check();
    drop(host);
    assert_eq!(log.dropped().len(), 8);
}

#[test]
fn a_panicking_build_publishes_nothing() {
    quiet_panics();
    let log = Arc::new(Log::default());
    let mut host = small_host();
    let r = catch_unwind(AssertUnwindSafe(|| {
        host.publish::<Values>(|f| {
            let v = build(f, 1, &log, false);
            panic!("bomb in a publish closure {}", v.id);
        })
    }));
    assert!(r.is_err());
    assert_eq!(log.dropped(), [1], "the half-built value unwound normally");
    host.begin_frame();
    host.begin_frame();
    assert_eq!(log.dropped(), [1]);
}

#[test]
fn hosts_move_between_threads_with_live_values() {
    let log = Arc::new(Log::default());
    let host = small_host();
    let a = publish(&host, 1, &log);
    let boxed = Box::new(host); // moved: the arena stays where it is
    boxed.read(a).unwrap().check();
    let mut hosts = vec![*boxed];
    let b = publish(&hosts[0], 2, &log);
    let host = hosts.pop().unwrap();
    let (host, c) = std::thread::spawn(move || {
        let mut host = host;
        host.read(a).unwrap().check();
        host.read(b).unwrap().check();
        host.begin_frame();
        let c = publish(&host, 3, &log);
        (host, c)
    })
    .join()
    .unwrap();
    for t in [a, b, c] {
        host.read(t).unwrap().check();
    }
    let mut host = host;
    host.begin_frame(); // frame 0's values, dropped on this thread
    assert_eq!(host.read(c).map(|v| v.id), Some(3));
    drop(host);
}

#[test]
fn dropping_the_host_drops_both_frames_older_first() {
    let log = Arc::new(Log::default());
    let mut host = small_host();
    publish(&host, 1, &log);
    host.begin_frame();
    publish(&host, 2, &log);
    publish(&host, 3, &log);
    drop(host);
    let dropped = log.dropped();
    assert_eq!(dropped[0], 1, "the older frame first");
    let mut rest = dropped[1..].to_vec();
    rest.sort_unstable();
    assert_eq!(rest, [2, 3]);
}

#[test]
fn into_inner_drops_every_value_first_and_old_tokens_stay_dead() {
    let log = Arc::new(Log::default());
    let mut host = small_host();
    publish(&host, 1, &log);
    host.begin_frame();
    let t = publish(&host, 2, &log);
    let arena = host.into_inner();
    assert_eq!(log.dropped(), [1, 2]);
    // The same arena, same epoch, in a new host: the token does not resolve.
    let again = FrameHost::new(arena);
    assert_eq!(again.epoch(), t.epoch());
    assert!(again.read(t).is_none());
    let mut arena = again.into_inner();
    arena.begin_frame();
    arena.alloc(5u32);
}

#[test]
fn a_destructor_may_allocate_from_the_arena() {
    /// Rebuilds its vector in the destructor: allocates, through its own
    /// allocator, in the frame that is current while values are dropped.
    struct Regrow<'f>(AVec<u64, FrameAlloc<'f>>, Arc<Log>);
    impl Drop for Regrow<'_> {
        fn drop(&mut self) {
            let mut copy = self.0.clone();
            copy.extend(self.0.iter().map(|x| x * 2));
            assert_eq!(copy.len(), 2 * self.0.len());
            self.1.dropped.lock().unwrap().push(copy.iter().sum());
        }
    }
    tickmem_frame::frame_data! { Regrows<'f> = Regrow<'f>; }

    let log = Arc::new(Log::default());
    let mut host = small_host();
    host.publish::<Regrows>(|f| {
        let mut v = AVec::new_in(f.allocator());
        v.extend(1..=10);
        Regrow(v, log.clone())
    });
    for _ in 0..3 {
        host.begin_frame();
    }
    assert_eq!(log.dropped(), [3 * 55]);
}

#[test]
fn over_the_limit_build_is_not_called() {
    let mut host = FrameHost::with_config(FrameConfig::default().frame_byte_limit(Some(64)));
    let t = host.publish::<Slice>(|f| &*f.alloc_slice_copy(&[1u32, 2, 3]));
    assert_eq!(host.read(t).copied(), Some(&[1u32, 2, 3][..]));
    // A `Tracked` and its list node take more than the 64-byte limit.
    let err = host
        .try_publish::<Values>(|_| unreachable!("not called when the memory is refused"))
        .unwrap_err();
    assert!(err.requested() > 64, "{err}");
    host.begin_frame();
    assert_eq!(host.read(t).copied(), Some(&[1u32, 2, 3][..]));
}

#[test]
fn foreign_and_stale_tokens_read_none() {
    let mut a = small_host();
    let b = small_host();
    let t = a.publish::<Slice>(|f| &*f.alloc_slice_copy(&[9u32]));
    assert!(b.read(t).is_none());
    assert!(a.is_live(t));
    a.begin_frame();
    a.begin_frame();
    assert!(!a.is_live(t));
    assert!(a.read(t).is_none());
}

// ---------------------------------------------------------------------------
// A model: random programs of publish / read / begin_frame / move, checked
// against which values must be live and how many were dropped.

#[derive(Debug, Clone)]
enum Op {
    /// Publish a value (whose destructor panics if `bomb`).
    Publish {
        bomb: bool,
    },
    /// Publish from another thread.
    PublishOnThread,
    /// Read the `n`-th value published so far (modulo).
    Read(usize),
    BeginFrame,
    /// Move the host to another thread and back.
    MoveHost,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Publish { bomb: false }),
        1 => Just(Op::Publish { bomb: true }),
        2 => Just(Op::PublishOnThread),
        4 => (0..64usize).prop_map(Op::Read),
        2 => Just(Op::BeginFrame),
        1 => Just(Op::MoveHost),
    ]
}

/// A value in the model: its id, token, frame and whether it panics.
struct Model {
    id: u64,
    token: Published<Values>,
    epoch: u64,
    bomb: bool,
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 128 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn model(ops in proptest::collection::vec(op(), 1..if cfg!(miri) { 12 } else { 60 })) {
        quiet_panics();
        let log = Arc::new(Log::default());
        let mut host = Box::new(small_host());
        let mut epoch = 0u64;
        let mut values: Vec<Model> = Vec::new();
        for op in ops {
            match op {
                Op::Publish { bomb } => {
                    let id = values.len() as u64;
                    let token = host.publish::<Values>(|f| build(f, id, &log, bomb));
                    values.push(Model { id, token, epoch, bomb });
                }
                Op::PublishOnThread => {
                    let id = values.len() as u64;
                    let token = std::thread::scope(|s| {
                        let (host, log) = (&*host, &log);
                        s.spawn(move || publish(host, id, log)).join().unwrap()
                    });
                    values.push(Model { id, token, epoch, bomb: false });
                }
                Op::Read(n) => {
                    if let Some(v) = values.get(n % values.len().max(1)) {
                        let got = host.read(v.token);
                        prop_assert_eq!(got.is_some(), epoch - v.epoch <= 1);
                        if let Some(got) = got {
                            prop_assert_eq!(got.id, v.id);
                            got.check();
                        }
                    }
                }
                Op::BeginFrame => {
                    // The values of frame `epoch - 1` are dropped now; the
                    // reclaim panics if one of them does.
                    let bombs = values.iter().any(|v| v.epoch + 1 == epoch && v.bomb);
                    let r = catch_unwind(AssertUnwindSafe(|| host.begin_frame()));
                    prop_assert_eq!(r.is_err(), bombs);
                    epoch += 1;
                    prop_assert_eq!(host.epoch(), epoch);
                    let must = values.iter().filter(|v| v.epoch + 1 < epoch).count();
                    prop_assert_eq!(log.dropped().len(), must);
                }
                Op::MoveHost => {
                    let moved = *host;
                    host = std::thread::spawn(move || Box::new(moved)).join().unwrap();
                }
            }
        }
        let bombs = values.iter().any(|v| v.epoch + 1 >= epoch && v.bomb);
        let r = catch_unwind(AssertUnwindSafe(move || drop(host)));
        prop_assert_eq!(r.is_err(), bombs);
        let mut dropped = log.dropped();
        dropped.sort_unstable();
        prop_assert_eq!(dropped, (0..values.len() as u64).collect::<Vec<_>>());
    }
}
