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
        let ids: Vec<usize> = match self {
            Targets::All => (0..workers).collect(),
            Targets::Ids(ids) => {
                if let Some(&id) = ids.iter().find(|&&id| id >= workers) {
                    return Err(Error::UnknownWorker {
                        id,
                        workers: (0..workers).collect(),
                    });
                }
                ids.clone()
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
    fn into_targets(self) -> Targets;
}

impl IntoTargets for Targets {
    fn into_targets(self) -> Targets {
        self
    }
}
impl IntoTargets for &str {
    /// A malformed string resolves to an error naming it (see [`Targets::parse`]).
    fn into_targets(self) -> Targets {
        // An unparseable spec becomes an id no client has, reported as UnknownWorker.
        Targets::parse(self).unwrap_or(Targets::Ids(vec![usize::MAX]))
    }
}
impl IntoTargets for usize {
    fn into_targets(self) -> Targets {
        Targets::Ids(vec![self])
    }
}
impl IntoTargets for RangeFull {
    fn into_targets(self) -> Targets {
        Targets::All
    }
}
impl IntoTargets for Range<usize> {
    fn into_targets(self) -> Targets {
        Targets::Ids(self.collect())
    }
}
impl IntoTargets for RangeInclusive<usize> {
    fn into_targets(self) -> Targets {
        Targets::Ids(self.collect())
    }
}
impl IntoTargets for RangeFrom<usize> {
    fn into_targets(self) -> Targets {
        Targets::Slice {
            start: self.start,
            stop: None,
            step: 1,
        }
    }
}
impl IntoTargets for StepBy<RangeFrom<usize>> {
    fn into_targets(mut self) -> Targets {
        // StepBy hides its step; read it from the first two elements.
        let start = self.next().unwrap_or(0);
        let step = self.next().map_or(1, |second| second - start);
        Targets::Slice {
            start,
            stop: None,
            step,
        }
    }
}
impl IntoTargets for StepBy<Range<usize>> {
    fn into_targets(self) -> Targets {
        Targets::Ids(self.collect())
    }
}
impl IntoTargets for StepBy<RangeInclusive<usize>> {
    fn into_targets(self) -> Targets {
        Targets::Ids(self.collect())
    }
}
impl IntoTargets for Vec<usize> {
    fn into_targets(self) -> Targets {
        Targets::Ids(self)
    }
}
impl IntoTargets for &Vec<usize> {
    fn into_targets(self) -> Targets {
        Targets::Ids(self.clone())
    }
}
impl IntoTargets for &[usize] {
    fn into_targets(self) -> Targets {
        Targets::Ids(self.to_vec())
    }
}
impl<const N: usize> IntoTargets for [usize; N] {
    fn into_targets(self) -> Targets {
        Targets::Ids(self.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(t: impl IntoTargets, n: usize) -> Result<Vec<usize>, Error> {
        t.into_targets().resolve(n)
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
        assert!(ids("nonsense", 2).is_err());
    }
}
