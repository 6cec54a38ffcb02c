//! Reproducible samples of a period: the days an auditor's sample draws, chosen by
//! ChaCha8 from a seed the bundle records, so anyone re-draws the same days. Host and
//! fleet bundles draw through this one function. Pure: no clock, no I/O.

use chrono::{DateTime, NaiveDate, Utc};
use rand::SeedableRng;

/// The days `[from, to)` touches, and `n` of them (all when fewer) chosen by ChaCha8
/// seeded with `seed`, in date order.
pub fn sample_days(from: DateTime<Utc>, to: DateTime<Utc>, n: usize, seed: u64) -> Vec<NaiveDate> {
    let first = from.date_naive();
    let last = (to - chrono::Duration::seconds(1)).date_naive();
    let days = ((last - first).num_days() + 1).max(0) as usize;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut picked: Vec<NaiveDate> = rand::seq::index::sample(&mut rng, days, n.min(days))
        .into_iter()
        .map(|i| first + chrono::Duration::days(i as i64))
        .collect();
    picked.sort();
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_days_inside_the_period() {
        let from = "2025-01-01T00:00:00Z".parse().unwrap();
        let to = "2025-02-01T00:00:00Z".parse().unwrap();
        let a = sample_days(from, to, 5, 42);
        assert_eq!(a, sample_days(from, to, 5, 42));
        assert_eq!(a.len(), 5);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert!(a.iter().all(|d| d.to_string().starts_with("2025-01-")));
        assert_ne!(a, sample_days(from, to, 5, 43));
        assert_eq!(sample_days(from, to, 99, 1).len(), 31);
    }
}
