//! [`parallel_compute`]: pyUSID's one-call parallel map, which picks its own worker
//! count.
//!
//! The choice (see [`choose_workers`]) is made from three numbers: how many items
//! there are, how long one item takes (timed on the first items, whose results are
//! kept), and how many logical cores the machine has.
//!
//! 1. At most the cores, minus one on machines with more than two, so the machine
//!    stays responsive (pyUSID leaves 1–2 cores free); a requested count
//!    ([`ParallelCompute::workers`]) replaces this cap but is still clipped to the cores.
//! 2. At most one worker per item.
//! 3. Every worker must get at least [`MIN_WORK_PER_WORKER`] of estimated work: handing
//!    a task to a worker costs microseconds, so below that the split costs more than it
//!    saves, and small or cheap jobs run serially (1 worker, no dispatch at all).

use std::fmt;
use std::time::Duration;

/// The least estimated work per worker for which another worker is worth it.
pub const MIN_WORK_PER_WORKER: Duration = Duration::from_millis(2);

/// How long the timed sample runs at most before the rest is dispatched (it always
/// runs at least one item, and at most a tenth of them).
pub const SAMPLE_TIME: Duration = Duration::from_millis(2);

/// The workers available by default on a machine with `cores` logical cores: all of
/// them on one or two cores, all but one above that.
///
/// ```
/// use rustpx::compute::default_worker_cap;
/// assert_eq!(default_worker_cap(1), 1);
/// assert_eq!(default_worker_cap(2), 2);
/// assert_eq!(default_worker_cap(8), 7);
/// ```
pub fn default_worker_cap(cores: usize) -> usize {
    if cores > 2 { cores - 1 } else { cores.max(1) }
}

/// Why [`choose_workers`] settled on its count: the binding limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The cores available (after keeping one free on machines with more than two).
    Cores,
    /// The count the caller asked for.
    Requested,
    /// One worker per item.
    Items,
    /// Not enough work: each worker needs at least [`MIN_WORK_PER_WORKER`].
    Work,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Cores => "cores available",
            Limit::Requested => "as requested",
            Limit::Items => "one per item",
            Limit::Work => "too little work for more",
        })
    }
}

/// The worker count for `items` items of `per_item` estimated time each, on a machine
/// with `cores` logical cores, and the limit that decided it (see the module docs).
/// Never 0.
///
/// ```
/// use rustpx::compute::{choose_workers, Limit};
/// use std::time::Duration;
/// let ms = Duration::from_millis;
/// // pyUSID's example: 16,384 spectra at ~3.6 ms each, 4 cores: keep one free.
/// assert_eq!(choose_workers(16_384, ms(3), 4, None), (3, Limit::Cores));
/// // Cheap items: 100 × 50 µs = 5 ms of work in all, worth 2 workers at most.
/// assert_eq!(choose_workers(100, Duration::from_micros(50), 8, None), (2, Limit::Work));
/// assert_eq!(choose_workers(10, Duration::from_micros(1), 8, None), (1, Limit::Work));
/// ```
pub fn choose_workers(
    items: usize,
    per_item: Duration,
    cores: usize,
    requested: Option<usize>,
) -> (usize, Limit) {
    let cores = cores.max(1);
    let (mut workers, mut limit) = match requested {
        Some(n) if n >= 1 && n <= cores => (n, Limit::Requested),
        Some(n) if n > cores => (cores, Limit::Cores),
        _ => (default_worker_cap(cores), Limit::Cores),
    };
    if items < workers {
        (workers, limit) = (items.max(1), Limit::Items);
    }
    let total = per_item.as_secs_f64() * items as f64;
    // Saturating float-to-int conversion: huge estimates simply do not bind.
    let by_work = ((total / MIN_WORK_PER_WORKER.as_secs_f64()) as usize).max(1);
    if by_work < workers {
        (workers, limit) = (by_work, Limit::Work);
    }
    (workers, limit)
}

#[cfg(test)]
mod choice_tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn leaves_a_core_free_only_above_two() {
        assert_eq!(choose_workers(1000, 10 * MS, 2, None), (2, Limit::Cores));
        assert_eq!(choose_workers(1000, 10 * MS, 3, None), (2, Limit::Cores));
        assert_eq!(choose_workers(1000, 10 * MS, 16, None), (15, Limit::Cores));
        assert_eq!(choose_workers(1000, 10 * MS, 0, None), (1, Limit::Cores));
    }

    #[test]
    fn requests_are_honoured_within_the_cores() {
        assert_eq!(
            choose_workers(1000, 10 * MS, 8, Some(8)),
            (8, Limit::Requested)
        );
        assert_eq!(
            choose_workers(1000, 10 * MS, 8, Some(3)),
            (3, Limit::Requested)
        );
        assert_eq!(choose_workers(1000, 10 * MS, 2, Some(3)), (2, Limit::Cores));
        assert_eq!(choose_workers(1000, 10 * MS, 4, Some(0)), (3, Limit::Cores));
    }

    #[test]
    fn few_items_or_little_work_mean_fewer_workers() {
        assert_eq!(choose_workers(2, 100 * MS, 8, None), (2, Limit::Items));
        assert_eq!(choose_workers(0, 100 * MS, 8, None), (1, Limit::Items));
        // 3 workers' worth of work (6 ms) on 8 cores.
        assert_eq!(choose_workers(6, MS, 8, None), (3, Limit::Work));
        assert_eq!(
            choose_workers(1_000_000, Duration::ZERO, 8, None),
            (1, Limit::Work)
        );
        // Plenty of cheap items is still worth every core.
        assert_eq!(
            choose_workers(1_000_000, Duration::from_micros(1), 8, None),
            (7, Limit::Cores)
        );
    }
}
