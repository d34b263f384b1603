//! Views: which workers a call runs on and how its items are scheduled.
//! [`DirectView`] partitions statically, [`LoadBalancedView`] hands items to idle workers.

mod balanced;
mod direct;

pub use balanced::{LoadBalancedView, ParallelFunction};
pub use direct::DirectView;

use crate::job::{Body, Failure, Job, collect, run_scoped};
use crate::schedule::Plan;
use crate::source::Source;
use crate::{AsyncMapResult, Client, Error, Worker};
use std::fmt::Display;
use std::time::Duration;

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

/// A blocking map of `g` over `source` on `targets`, scheduled by `plan(len)`.
pub(crate) fn map_scoped<'a, S, R, G>(
    client: &Client,
    targets: &[usize],
    plan: impl FnOnce(usize) -> Plan,
    timeout: Option<Duration>,
    source: S,
    g: G,
) -> Result<Vec<R>, Error>
where
    S: Source + 'a,
    R: Send + 'a,
    G: Fn(&Worker, S::Item) -> Result<R, Failure> + Send + Sync + 'a,
{
    let len = source.try_len()?;
    let body = source_body(source, g);
    collect(run_scoped(client, targets, len, plan(len), timeout, body)?)
}

/// A background map of `g` over `source` on `targets`, scheduled by `plan(len)`; a
/// source too long to count or to hold results for gives a refused result (its `get`
/// and `wait` return the error) and starts no task.
pub(crate) fn map_async_on<S, R, G>(
    client: &Client,
    targets: &[usize],
    plan: impl FnOnce(usize) -> Plan,
    timeout: Option<Duration>,
    source: S,
    g: G,
) -> AsyncMapResult<R>
where
    S: Source + 'static,
    R: Send + 'static,
    G: Fn(&Worker, S::Item) -> Result<R, Failure> + Send + Sync + 'static,
{
    let job = source
        .try_len()
        .and_then(|len| Job::try_new(len, plan(len), targets, timeout, source_body(source, g)));
    match job {
        Ok(job) => {
            job.submit(client);
            AsyncMapResult::new(job, client.clone())
        }
        Err(refusal) => AsyncMapResult::refused(refusal, targets, client.clone()),
    }
}
