//! Shared helpers for the tickmem criterion benches (seeded inputs, the
//! glibc "second thread" warm-up). The benches themselves live in `benches/`.

pub mod pool_common;

/// A small, fast, seeded PRNG (SplitMix64) so every bench sees the same inputs.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Start and join one thread. glibc's malloc switches to its multi-threaded
/// (atomic) paths for good once a process has had a second thread; a game
/// always has, so the benches measure glibc in that state.
pub fn make_process_multithreaded() {
    std::thread::spawn(|| {
        std::hint::black_box(Box::new(1u64));
    })
    .join()
    .expect("warm-up thread panicked");
}
