//! `:timeit`: IPython's `%%timeit` for notebook code.
//!
//! The kernel compiles the timed code once, as a closure, and calls [`timeit`]. Like
//! IPython, when the loop count is not given it grows (1, 2, 5, 10, 20, 50, …) until one
//! repeat takes at least [`AUTO_TARGET`], then runs the repeats; it reports the mean and
//! standard deviation over repeats and the best repeat, per loop.

use crate::Error;
use crate::interrupt;
use std::fmt;
use std::time::{Duration, Instant};

/// How long one repeat should take at least when the loop count is chosen automatically.
pub const AUTO_TARGET: Duration = Duration::from_millis(200);

/// Repeats when none are given (IPython's default).
pub const DEFAULT_REPEAT: u64 = 7;

/// `-n` and `-r`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeitOptions {
    /// Loops per repeat (`-n`); chosen automatically when `None`.
    pub number: Option<u64>,
    /// Repeats (`-r`); [`DEFAULT_REPEAT`] when `None`.
    pub repeat: Option<u64>,
}

/// What [`timeit`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeitResult {
    /// Loops per repeat.
    pub loops: u64,
    /// Time per loop of each repeat.
    pub per_loop: Vec<Duration>,
}

impl TimeitResult {
    /// The fastest repeat's time per loop.
    pub fn best(&self) -> Duration {
        self.per_loop.iter().copied().min().unwrap_or_default()
    }

    /// The mean time per loop over repeats.
    pub fn mean(&self) -> Duration {
        divide(self.per_loop.iter().sum(), self.per_loop.len() as u64)
    }

    /// The standard deviation of the time per loop over repeats.
    pub fn stdev(&self) -> Duration {
        let mean = self.mean().as_secs_f64();
        let n = self.per_loop.len().max(1) as f64;
        let var = self
            .per_loop
            .iter()
            .map(|d| (d.as_secs_f64() - mean).powi(2))
            .sum::<f64>()
            / n;
        Duration::from_secs_f64(var.sqrt())
    }
}

impl fmt::Display for TimeitResult {
    /// IPython's line, plus the best repeat.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let runs = self.per_loop.len();
        write!(
            f,
            "{} ± {} per loop (mean ± std. dev. of {runs} run{}, {} loop{} each); best {}",
            human(self.mean()),
            human(self.stdev()),
            if runs == 1 { "" } else { "s" },
            self.loops,
            if self.loops == 1 { "" } else { "s" },
            human(self.best()),
        )
    }
}

/// Formats a duration with three significant digits in s, ms, µs or ns.
pub fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    let (v, unit) = match s {
        s if s >= 1.0 => (s, "s"),
        s if s >= 1e-3 => (s * 1e3, "ms"),
        s if s >= 1e-6 => (s * 1e6, "µs"),
        s => (s * 1e9, "ns"),
    };
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$} {unit}")
}

/// `total / count`, exact for every count (`Duration / u32` stops at `u32::MAX` loops);
/// zero for none.
fn divide(total: Duration, count: u64) -> Duration {
    if count == 0 {
        return Duration::ZERO;
    }
    let nanos = total.as_nanos() / u128::from(count);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Times `f` and prints IPython's summary line; returns the measurements.
///
/// ```
/// use rustpx::timeit::{timeit, TimeitOptions};
/// let r = timeit(TimeitOptions { number: Some(10), repeat: Some(3) }, || (0..100).sum::<u64>())
///     .unwrap();
/// assert_eq!((r.loops, r.per_loop.len()), (10, 3));
/// assert!(r.best() <= r.mean());
/// ```
///
/// # Errors
/// [`Error::Interrupted`] when the kernel is interrupted (checked between loops).
pub fn timeit<R>(options: TimeitOptions, mut f: impl FnMut() -> R) -> Result<TimeitResult, Error> {
    let mut time_loops = |loops: u64| -> Result<Duration, Error> {
        let start = Instant::now();
        for _ in 0..loops {
            if interrupt::take() {
                return Err(Error::Interrupted);
            }
            std::hint::black_box(f());
        }
        Ok(start.elapsed())
    };
    let loops = match options.number {
        Some(n) => n.max(1),
        None => {
            let mut chosen = 1;
            'grow: for scale in (0..10).map(|e| 10u64.pow(e)) {
                for step in [1, 2, 5] {
                    chosen = step * scale;
                    if time_loops(chosen)? >= AUTO_TARGET {
                        break 'grow;
                    }
                }
            }
            chosen
        }
    };
    let repeat = options.repeat.unwrap_or(DEFAULT_REPEAT).max(1);
    // Grown as repeats finish: a huge `-r` is a long run the user may interrupt, not an
    // allocation up front.
    let mut per_loop = Vec::new();
    for _ in 0..repeat {
        per_loop.push(divide(time_loops(loops)?, loops));
    }
    let result = TimeitResult { loops, per_loop };
    println!("{result}");
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_and_line() {
        let r = TimeitResult {
            loops: 100,
            per_loop: vec![Duration::from_micros(10), Duration::from_micros(20)],
        };
        assert_eq!(r.best(), Duration::from_micros(10));
        assert_eq!(r.mean(), Duration::from_micros(15));
        assert_eq!(r.stdev(), Duration::from_micros(5));
        assert_eq!(
            r.to_string(),
            "15.0 µs ± 5.00 µs per loop (mean ± std. dev. of 2 runs, 100 loops each); best 10.0 µs"
        );
    }

    #[test]
    fn automatic_loop_count_reaches_the_target() {
        let r = timeit(
            TimeitOptions {
                number: None,
                repeat: Some(1),
            },
            || std::thread::sleep(Duration::from_millis(30)),
        )
        .unwrap();
        // 30 ms a loop: 1 and 2 loops stay under 200 ms, 10 loops are over it (5 loops
        // are 150 ms unless the machine stalls the sleeps).
        assert!(matches!(r.loops, 5 | 10), "{}", r.loops);
    }

    #[test]
    fn per_loop_time_is_exact_past_u32_max_loops() {
        let loops = 2 * u64::from(u32::MAX);
        assert_eq!(
            divide(Duration::from_secs(loops), loops),
            Duration::from_secs(1)
        );
        assert_eq!(divide(Duration::from_secs(3), 0), Duration::ZERO);
        let empty = TimeitResult {
            loops: 1,
            per_loop: Vec::new(),
        };
        assert_eq!(
            (empty.mean(), empty.best()),
            (Duration::ZERO, Duration::ZERO)
        );
    }

    #[test]
    fn human_units() {
        assert_eq!(human(Duration::from_secs(2)), "2.00 s");
        assert_eq!(human(Duration::from_micros(1500)), "1.50 ms");
        assert_eq!(human(Duration::from_nanos(12)), "12.0 ns");
        assert_eq!(human(Duration::from_millis(250)), "250 ms");
    }
}
