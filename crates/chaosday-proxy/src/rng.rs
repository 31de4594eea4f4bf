//! A small seeded generator (SplitMix64) for toxicity draws, jitter and slice sizes: the same
//! `--seed` gives the same draws, as Toxiproxy's `-seed`.

/// SplitMix64: fast, and good enough for fault randomness (not for secrets).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// A seed from the clock and the pid, for runs without `--seed`.
    pub fn entropy() -> u64 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos ^ (u64::from(std::process::id()) << 32)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An integer in [-spread, spread].
    pub fn spread(&mut self, spread: i64) -> i64 {
        if spread <= 0 {
            return 0;
        }
        // In 128 bits: any spread up to `i64::MAX` gives a width that fits, and a draw in range.
        let width = (spread as u128) * 2 + 1;
        ((u128::from(self.next_u64()) % width) as i128 - i128::from(spread)) as i64
    }

    /// Whether an event of probability `p` happens.
    pub fn chance(&mut self, p: f64) -> bool {
        p >= 1.0 || (p > 0.0 && self.unit() < p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_draws_within_range() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..1000 {
            let (x, y) = (a.spread(10), b.spread(10));
            assert_eq!(x, y);
            assert!((-10..=10).contains(&x));
            let u = a.unit();
            assert_eq!(u, b.unit());
            assert!((0.0..1.0).contains(&u));
        }
        assert!(Rng::new(1).chance(1.0) && !Rng::new(1).chance(0.0));
    }

    #[test]
    fn the_widest_spread_draws_in_range_without_overflow() {
        let mut rng = Rng::new(7);
        let draws: Vec<i64> = (0..1000).map(|_| rng.spread(i64::MAX)).collect();
        assert!(draws.iter().any(|d| *d < 0) && draws.iter().any(|d| *d > 0));
    }
}
