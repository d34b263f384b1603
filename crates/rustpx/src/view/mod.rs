//! Views: which workers a call runs on and how its items are scheduled.
//! [`DirectView`] partitions statically, [`LoadBalancedView`] hands items to idle workers.

mod balanced;
mod direct;

pub use balanced::{LoadBalancedView, ParallelFunction};
pub use direct::DirectView;

use crate::Worker;
use crate::job::{Body, Failure};
use crate::source::Source;
use std::fmt::Display;

/// A body that takes item `i` from `source` and runs `f` on it.
pub(crate) fn source_body<'a, S, R, F>(source: S, f: F) -> Body<'a, R>
where
    S: Source + 'a,
    F: Fn(&Worker, S::Item) -> Result<R, Failure> + Send + Sync + 'a,
{
    Box::new(move |w, i| {
        // SAFETY: the job claims each index once, on the worker that runs it.
        let item = unsafe { source.take(i) }.map_err(|e| Failure::Item(e.0))?;
        f(w, item)
    })
}

/// An `Err` from a `try_` closure as a task failure.
pub(crate) fn failure<E: Display>(e: E) -> Failure {
    Failure::Error(e.to_string())
}
