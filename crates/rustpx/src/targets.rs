//! Which workers a view runs on: [`IntoTargets`] for ids, ranges, `..`, `step_by` and
//! lists, and [`Targets`] for ipyparallel's text form (`:px --targets`).

use crate::Error;
use std::iter::StepBy;
use std::ops::{Range, RangeFrom, RangeFull, RangeInclusive};

/// A set of workers written as ipyparallel writes engine targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    /// Every worker (`"all"`, `".."`).
    All,
    /// These workers, in this order (`"0"`, `"0,2"`).
    Ids(Vec<usize>),
    /// The ids `start, start + step, …` below `end` (a Rust range, `(a..b).step_by(k)`):
    /// each must be a worker, as with [`Targets::Ids`], without listing them.
    Span {
        /// First id.
        start: usize,
        /// One past the last id.
        end: usize,
        /// Distance between ids (at least 1).
        step: usize,
    },
    /// A Python-style slice `start:stop:step` (`"1:3"`, `"::2"`), clipped to the workers.
    Slice {
        /// First id.
        start: usize,
        /// One past the last id; `None` for "to the end".
        stop: Option<usize>,
        /// Distance between ids (at least 1).
        step: usize,
    },
}

impl Targets {
    /// Parses ipyparallel's target syntax: `all`, one id, a comma-separated list, or a
    /// slice `start:stop[:step]` with any part left out.
    ///
    /// ```
    /// use rustpx::Targets;
    /// assert_eq!(Targets::parse("all")?, Targets::All);
    /// assert_eq!(Targets::parse("0,2")?, Targets::Ids(vec![0, 2]));
    /// assert_eq!(Targets::parse("::2")?.resolve(5)?, vec![0, 2, 4]);
    /// assert_eq!(Targets::parse("1:3")?.resolve(5)?, vec![1, 2]);
    /// assert!(Targets::parse("x").is_err());
    /// # Ok::<(), rustpx::Error>(())
    /// ```
    pub fn parse(spec: &str) -> Result<Targets, Error> {
        let s = spec.trim();
        let bad = |reason: &str| Error::BadTargets {
            spec: spec.to_string(),
            reason: reason.into(),
        };
        let number = |t: &str| -> Result<usize, Error> {
            t.trim()
                .parse::<usize>()
                .map_err(|_| bad(&format!("{:?} is not a worker id", t.trim())))
        };
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s == "all" || s == ".." || s == ":" {
            return Ok(Targets::All);
        }
        if s.contains(':') {
            let parts: Vec<&str> = s.split(':').collect();
            if parts.len() > 3 {
                return Err(bad("a slice has at most start:stop:step"));
            }
            let opt = |t: &str| -> Result<Option<usize>, Error> {
                if t.trim().is_empty() {
                    Ok(None)
                } else {
                    number(t).map(Some)
                }
            };
            let start = opt(parts[0])?.unwrap_or(0);
            let stop = opt(parts[1])?;
            let step = match parts.get(2) {
                Some(t) => opt(t)?.unwrap_or(1),
                None => 1,
            };
            if step == 0 {
                return Err(bad("the step cannot be 0"));
            }
            return Ok(Targets::Slice { start, stop, step });
        }
        s.split(',')
            .map(number)
            .collect::<Result<_, _>>()
            .map(Targets::Ids)
    }

    /// The worker ids this means for a client of `workers` workers.
    ///
    /// # Errors
    /// [`Error::UnknownWorker`] for an id that is not a worker, [`Error::NoWorkers`]
    /// when nothing is left.
    pub fn resolve(&self, workers: usize) -> Result<Vec<usize>, Error> {
        let unknown = |id| Error::UnknownWorker {
            id,
            workers: (0..workers).collect(),
        };
        let ids: Vec<usize> = match self {
            Targets::All => (0..workers).collect(),
            Targets::Ids(ids) => {
                if let Some(&id) = ids.iter().find(|&&id| id >= workers) {
                    return Err(unknown(id));
                }
                ids.clone()
            }
            Targets::Span { start, end, step } => {
                let step = (*step).max(1);
                if let Some(id) = first_at_or_above(*start, *end, step, workers) {
                    return Err(unknown(id));
                }
                (*start..*end).step_by(step).collect()
            }
            Targets::Slice { start, stop, step } => {
                let stop = stop.unwrap_or(workers).min(workers);
                (*start..stop).step_by((*step).max(1)).collect()
            }
        };
        if ids.is_empty() {
            return Err(Error::NoWorkers);
        }
        Ok(ids)
    }
}

/// The first of `start, start + step, …` below `end` that is `bound` or more, without
/// walking the ids (a span may be as long as `usize` allows).
fn first_at_or_above(start: usize, end: usize, step: usize, bound: usize) -> Option<usize> {
    let id = if start >= bound {
        start
    } else {
        let steps = (bound - start).div_ceil(step);
        start.checked_add(steps.checked_mul(step)?)?
    };
    (id < end).then_some(id)
}

impl std::str::FromStr for Targets {
    type Err = Error;
    fn from_str(s: &str) -> Result<Targets, Error> {
        Targets::parse(s)
    }
}

/// What [`Client::view`](crate::Client::view) accepts: a worker id, a range, `..`,
/// `(0..).step_by(k)`, a `Vec`, slice or array of ids, or a [`Targets`].
///
/// Open-ended forms (`n..`, `(0..).step_by(k)`) are clipped to the client's workers;
/// explicit ids must exist.
pub trait IntoTargets {
    /// Converts into targets.
    ///
    /// # Errors
    /// [`Error::BadTargets`] for a string that is not ipyparallel's target syntax.
    fn into_targets(self) -> Result<Targets, Error>;
}

impl IntoTargets for Targets {
    fn into_targets(self) -> Result<Targets, Error> {
        Ok(self)
    }
}
impl IntoTargets for &str {
    fn into_targets(self) -> Result<Targets, Error> {
        Targets::parse(self)
    }
}
impl IntoTargets for usize {
    fn into_targets(self) -> Result<Targets, Error> {
        Ok(Targets::Ids(vec![self]))
    }
}
impl IntoTargets for RangeFull {
    fn into_targets(self) -> Result<Targets, Error> {
        Ok(Targets::All)
    }
}
impl IntoTargets for Range<usize> {
    fn into_targets(self) -> Result<Targets, Error> {
        Ok(Targets::Span {
            start: self.start,
            end: self.end,
            step: 1,
        })
    }
}
impl IntoTargets for RangeInclusive<usize> {
    fn into_targets(self) -> Result<Targets, Error> {
        (*self.start()..self.end().saturating_add(1)).into_targets()
    }
}
impl IntoTargets for RangeFrom<usize> {
    fn into_targets(self) -> Result<Targets, Error> {
        Ok(Targets::Slice {
            start: self.start,
            stop: None,
            step: 1,
        })
    }
}
impl IntoTargets for StepBy<RangeFrom<usize>> {
    fn into_targets(mut self) -> Result<Targets, Error> {
        // StepBy hides its step; read it from the first two elements.
        let start = self.next().unwrap_or(0);
        let step = self.next().map_or(1, |second| second - start);
        Ok(Targets::Slice {
            start,
            stop: None,
            step,
        })
    }
}
impl IntoTargets for StepBy<Range<usize>> {
    fn into_targets(self) -> Result<Targets, Error> {
        span_of(self)
    }
}
impl IntoTargets for StepBy<RangeInclusive<usize>> {
    fn into_targets(self) -> Result<Targets, Error> {
        span_of(self)
    }
}

/// The span a stepped range covers. `StepBy` hides its step and end; its first two
/// elements and the count of the rest give them (a count past `usize` reaches the end of
/// the ids).
fn span_of(mut ids: impl Iterator<Item = usize>) -> Result<Targets, Error> {
    let Some(start) = ids.next() else {
        return Ok(Targets::Ids(Vec::new()));
    };
    let Some(second) = ids.next() else {
        return Ok(Targets::Ids(vec![start]));
    };
    let step = second - start;
    let rest = ids.size_hint().1.unwrap_or(usize::MAX);
    let last = second.saturating_add(rest.saturating_mul(step));
    Ok(Targets::Span {
        start,
        end: last.saturating_add(1),
        step,
    })
}
impl IntoTargets for Vec<usize> {
    fn into_targets(self) -> Result<Targets, Error> {
        Ok(Targets::Ids(self))
    }
}
impl IntoTargets for &Vec<usize> {
    fn into_targets(self) -> Result<Targets, Error> {
        Ok(Targets::Ids(self.clone()))
    }
}
impl IntoTargets for &[usize] {
    fn into_targets(self) -> Result<Targets, Error> {
        Ok(Targets::Ids(self.to_vec()))
    }
}
impl<const N: usize> IntoTargets for [usize; N] {
    fn into_targets(self) -> Result<Targets, Error> {
        Ok(Targets::Ids(self.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(t: impl IntoTargets, n: usize) -> Result<Vec<usize>, Error> {
        t.into_targets()?.resolve(n)
    }

    #[test]
    fn every_form_resolves() {
        assert_eq!(ids(1, 4).unwrap(), vec![1]);
        assert_eq!(ids(.., 3).unwrap(), vec![0, 1, 2]);
        assert_eq!(ids(1..3, 4).unwrap(), vec![1, 2]);
        assert_eq!(ids(1..=3, 4).unwrap(), vec![1, 2, 3]);
        assert_eq!(ids(2.., 4).unwrap(), vec![2, 3]);
        assert_eq!(ids((0..).step_by(2), 5).unwrap(), vec![0, 2, 4]);
        assert_eq!(ids((1..).step_by(3), 8).unwrap(), vec![1, 4, 7]);
        assert_eq!(ids((0..4).step_by(2), 5).unwrap(), vec![0, 2]);
        assert_eq!(ids(vec![3, 0], 4).unwrap(), vec![3, 0]);
        assert_eq!(ids([0, 1], 4).unwrap(), vec![0, 1]);
        assert_eq!(ids(&[2usize][..], 4).unwrap(), vec![2]);
        assert_eq!(ids("1:", 3).unwrap(), vec![1, 2]);
    }

    #[test]
    fn bad_targets_are_errors() {
        assert_eq!(
            ids(4, 4),
            Err(Error::UnknownWorker {
                id: 4,
                workers: vec![0, 1, 2, 3]
            })
        );
        assert!(matches!(
            ids(2..6, 4),
            Err(Error::UnknownWorker { id: 4, .. })
        ));
        assert_eq!(ids(5.., 4), Err(Error::NoWorkers));
        assert_eq!(ids(Vec::new(), 4), Err(Error::NoWorkers));
        for spec in ["", "a", "1:2:0", "1:2:3:4", "-1", "1,,2"] {
            assert!(
                matches!(Targets::parse(spec), Err(Error::BadTargets { .. })),
                "{spec}"
            );
        }
        assert!(matches!(
            ids("nonsense", 2),
            Err(Error::BadTargets { spec, .. }) if spec == "nonsense"
        ));
    }

    #[test]
    fn huge_explicit_ranges_are_unknown_workers_not_allocations() {
        let unknown = |id| Error::UnknownWorker {
            id,
            workers: vec![0, 1, 2],
        };
        assert_eq!(ids(0..usize::MAX, 3), Err(unknown(3)));
        assert_eq!(ids(1..=usize::MAX, 3), Err(unknown(3)));
        assert_eq!(ids((0..usize::MAX).step_by(2), 3), Err(unknown(4)));
        assert_eq!(
            ids((1..=usize::MAX).step_by(usize::MAX / 2), 3),
            Err(unknown(usize::MAX / 2 + 1))
        );
        assert_eq!(ids((2..9).step_by(5), 3), Err(unknown(7)));
        assert_eq!(ids((0..=2).step_by(2), 3).unwrap(), vec![0, 2]);
        assert_eq!(ids(usize::MAX..usize::MAX, 3), Err(Error::NoWorkers));
    }
}
