//! Reproducible pseudo-random numbers: particle sampling and the initial weights of controllers
//! and networks draw from a seed, so a scene or task gives the same numbers on every machine.

/// A small, fast, reproducible generator (SplitMix64, Steele et al. 2014).
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose stream depends only on `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Normal with mean zero and standard deviation `std` (Box-Muller, the first of the pair
    /// only, so each draw takes two steps of the generator and the stream depends on the seed
    /// alone).
    pub fn normal(&mut self, std: f64) -> f64 {
        // In (0, 1], for the logarithm.
        let u1 = self.uniform() + f64::EPSILON;
        let u2 = self.uniform() + f64::EPSILON;
        std * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}
