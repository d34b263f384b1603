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
//!    saves, and small or cheap jobs run serially (on one worker).
//!
//! The sample runs on the calling thread (so a failure there has no worker id); the
//! rest runs as a load-balanced map on the first workers of the default client (or of
//! [`ParallelCompute::client`]).

use crate::display::{RichDisplay, TEXT_PLAIN, Table, bundle, format_duration};
use crate::protocol::MimeBundle;
use crate::source::{IntoSource, ItemError, Source};
use crate::{Client, Error, TaskError, TaskErrorKind, TaskErrors, default_client};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

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

/// Maps `f` over `data` in parallel with a worker count chosen for you, and returns
/// the results in order with a [`ComputeReport`] of the choice (also printed as one
/// line on stdout). pyUSID's `parallel_compute`; see the [module docs](self) for how
/// the count is chosen, and [`ParallelCompute`] to request a count or a client.
///
/// Blocking, so `f` may borrow notebook variables. `data` is anything a map takes: a
/// `Vec`, a slice, a range, an [`ImageSequence`](crate::ImageSequence), or an ndarray
/// (rows of an `Array2`, frames of an `Array3`).
///
/// ```
/// use ndarray::Array2;
/// use rustpx::compute::parallel_compute;
/// // 1,000 spectra of 119 points, each with one peak at a known index.
/// let spectra = Array2::from_shape_fn((1000, 119), |(i, j)| if j == i % 119 { 1.0 } else { 0.0 });
/// let (peaks, report) = parallel_compute(&spectra, |s| {
///     s.iter().enumerate().fold(0, |best, (j, &v)| if v > s[best] { j } else { best })
/// })?;
/// assert_eq!(peaks.len(), 1000);
/// assert!(peaks.iter().enumerate().all(|(i, &p)| p == i % 119));
/// assert!(report.workers >= 1);
/// # Ok::<(), rustpx::Error>(())
/// ```
///
/// # Errors
/// [`Error::Tasks`] with every failed item (panics, undecodable frames), or an error
/// of the runtime ([`Error::Interrupted`] on a kernel interrupt).
pub fn parallel_compute<I, F, R>(data: I, f: F) -> Result<(Vec<R>, ComputeReport), Error>
where
    I: IntoSource,
    F: Fn(<I::Source as Source>::Item) -> R + Send + Sync,
    R: Send,
{
    ParallelCompute::new().run(data, f)
}

/// [`parallel_compute`] with options: a requested worker count (pyUSID's `cores=`), a
/// client to run on, and whether to print the choice.
///
/// ```
/// use rustpx::compute::ParallelCompute;
/// let rc = rustpx::Client::local(2)?;
/// let (squares, report) = ParallelCompute::new()
///     .workers(2)
///     .client(&rc)
///     .quiet()
///     .run(0..100u64, |i| i * i)?;
/// assert_eq!(squares[99], 9801);
/// assert_eq!(report.items, 100);
/// # Ok::<(), rustpx::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ParallelCompute {
    requested: Option<usize>,
    client: Option<Client>,
    quiet: bool,
}

impl ParallelCompute {
    /// Default options: choose the count, the default client, print the choice.
    pub fn new() -> ParallelCompute {
        ParallelCompute::default()
    }

    /// Asks for `n` workers instead of the default cap (still at most the cores, the
    /// items and what the work justifies).
    pub fn workers(mut self, n: usize) -> ParallelCompute {
        self.requested = Some(n);
        self
    }

    /// Runs on `client`'s workers instead of the default client's.
    pub fn client(mut self, client: &Client) -> ParallelCompute {
        self.client = Some(client.clone());
        self
    }

    /// Does not print the choice (it is still in the report).
    pub fn quiet(mut self) -> ParallelCompute {
        self.quiet = true;
        self
    }

    /// Runs the computation; see [`parallel_compute`].
    ///
    /// # Errors
    /// As [`parallel_compute`].
    pub fn run<I, F, R>(&self, data: I, f: F) -> Result<(Vec<R>, ComputeReport), Error>
    where
        I: IntoSource,
        F: Fn(<I::Source as Source>::Item) -> R + Send + Sync,
        R: Send,
    {
        let start = Instant::now();
        let source = data.into_source();
        let items = source.try_len()?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

        // The timed sample: the first items, on this thread, results kept.
        let sample_cap = (items / 10).max(1).min(items);
        // Fallibly, and before the sample runs: a map too large to hold its results is
        // refused before any item runs, not aborted by the allocator.
        let mut results = Vec::new();
        results
            .try_reserve_exact(items)
            .map_err(|_| Error::OutOfMemory {
                items,
                bytes: items as u128 * size_of::<R>() as u128,
            })?;
        let mut errors = Vec::new();
        let mut sampled = 0;
        while sampled < sample_cap && (sampled == 0 || start.elapsed() < SAMPLE_TIME) {
            // SAFETY: each index below `items` is taken once: here for the sample,
            // and through `Rest` (offset by `sampled`) for the others.
            match run_one(unsafe { source.take(sampled) }, &f) {
                Ok(r) => results.push(r),
                Err((kind, message)) => errors.push(TaskError::new(None, sampled, kind, message)),
            }
            sampled += 1;
        }
        let per_item = if sampled == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(start.elapsed().as_secs_f64() / sampled as f64)
        };

        let (chosen, limit) = choose_workers(items, per_item, cores, self.requested);
        let client = match &self.client {
            Some(c) => c.clone(),
            None => default_client()?,
        };
        let ids = client.ids();
        let workers = chosen.min(ids.len()).max(1);
        let mut report = ComputeReport {
            items,
            sampled,
            per_item,
            workers,
            limit: if workers < chosen {
                Limit::Cores
            } else {
                limit
            },
            cores,
            requested: self.requested,
            elapsed: Duration::ZERO,
        };
        if !self.quiet {
            println!("{}", report.choice());
        }

        if sampled < items {
            let view = client.load_balanced_view_on(ids[..workers].to_vec())?;
            let rest = Rest {
                inner: source,
                offset: sampled,
            };
            match view.map(rest, &f) {
                Ok(rest) => results.extend(rest),
                Err(Error::Tasks(failed)) => {
                    errors.extend(failed.into_vec().into_iter().map(|mut e| {
                        e.task += sampled;
                        e
                    }))
                }
                Err(other) => return Err(other),
            }
        }
        report.elapsed = start.elapsed();
        if errors.is_empty() {
            Ok((results, report))
        } else {
            Err(Error::Tasks(TaskErrors::new(errors, items)))
        }
    }
}

/// Runs `f` on one sampled item, catching a panic (the sample runs on the caller's
/// thread, which must survive it like a worker does).
fn run_one<T, R>(
    item: Result<T, ItemError>,
    f: &impl Fn(T) -> R,
) -> Result<R, (TaskErrorKind, String)> {
    let item = item.map_err(|e| (TaskErrorKind::Item, e.0))?;
    catch_unwind(AssertUnwindSafe(|| f(item))).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic with a non-string payload".to_string());
        (TaskErrorKind::Panic, message)
    })
}

/// The items after the sample: item `i` is the inner source's item `offset + i`.
struct Rest<S> {
    inner: S,
    offset: usize,
}

impl<S: Source> Source for Rest<S> {
    type Item = S::Item;

    fn len(&self) -> usize {
        self.inner.len() - self.offset
    }

    fn try_len(&self) -> Result<usize, Error> {
        Ok(self.inner.try_len()? - self.offset)
    }

    unsafe fn take(&self, index: usize) -> Result<S::Item, ItemError> {
        // SAFETY: the caller takes each index once, so each `offset + index` is taken
        // once, and never one of the sample's indices (all below `offset`).
        unsafe { self.inner.take(self.offset + index) }
    }
}

impl<S: Source> IntoSource for Rest<S> {
    type Source = Rest<S>;

    fn into_source(self) -> Rest<S> {
        self
    }
}

/// What [`parallel_compute`] chose and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct ComputeReport {
    /// Number of items.
    pub items: usize,
    /// Items run as the timed sample.
    pub sampled: usize,
    /// Estimated time of one item (the sample's mean).
    pub per_item: Duration,
    /// Workers used for the rest.
    pub workers: usize,
    /// What decided the count.
    pub limit: Limit,
    /// Logical cores of the machine.
    pub cores: usize,
    /// The count asked for, if any.
    pub requested: Option<usize>,
    /// Total wall time, sample included.
    pub elapsed: Duration,
}

impl ComputeReport {
    /// The line printed when the choice is made.
    fn choice(&self) -> String {
        let requested = self
            .requested
            .map_or(String::new(), |n| format!(", requested {n}"));
        format!(
            "parallel_compute: {} items at ~{} each (timed on {}): {} worker{} of {} cores ({}{requested})",
            self.items,
            format_duration(self.per_item),
            self.sampled,
            self.workers,
            if self.workers == 1 { "" } else { "s" },
            self.cores,
            self.limit,
        )
    }

    /// Prints the report in evcxr's format, so that a notebook shows it as a table
    /// when it is a cell's final value.
    pub fn evcxr_display(&self) {
        crate::display::print_evcxr(&self.mime_bundle());
    }
}

impl fmt::Display for ComputeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, took {}",
            self.choice(),
            format_duration(self.elapsed)
        )
    }
}

impl RichDisplay for ComputeReport {
    fn mime_bundle(&self) -> MimeBundle {
        let table = Table::new(["items", "per item", "workers", "cores", "why", "elapsed"]).row([
            self.items.to_string(),
            format_duration(self.per_item),
            self.workers.to_string(),
            self.cores.to_string(),
            self.limit.to_string(),
            format_duration(self.elapsed),
        ]);
        bundle([("text/html", table.html()), (TEXT_PLAIN, self.to_string())])
    }
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
