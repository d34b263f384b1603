//! Blocking calls whose body borrows the caller's stack (`map`, `apply`, …): the job
//! is posted with its lifetime erased, so this module alone decides when the borrow may
//! end.

use super::{Body, Job, Outcome, Wait};
use crate::schedule::Plan;
use crate::{Client, Error, worker};
use std::time::Duration;

/// Runs a job whose body borrows the caller's stack and returns its outcomes, in item
/// order. Does not return while any worker can still use the body, even on interrupt
/// (then it aborts, waits for the running tasks, and returns `Error::Interrupted`).
pub(crate) fn run_scoped<'a, R: Send + 'a>(
    client: &Client,
    targets: &[usize],
    len: usize,
    plan: Plan,
    timeout: Option<Duration>,
    body: Body<'a, R>,
) -> Result<Vec<Outcome<R>>, Error> {
    check_not_nested(client, targets)?;
    if len == 0 {
        return Ok(Vec::new());
    }
    let job = Job::try_new(len, plan, targets, timeout, body)?;
    // SAFETY: `scope` settles the job (see `Scope::settle`) before 'a ends, also when
    // this thread unwinds.
    unsafe { job.post(&client.registry().shared) };
    let scope = Scope(&job);
    let waited = job
        .core
        .wait(&|c| c.all_finished(), None, true, &|| job.check_timeouts());
    if waited == Wait::Interrupted {
        job.abort();
    }
    scope.settle();
    match waited {
        Wait::Interrupted => Err(Error::Interrupted),
        _ => Ok(job.take_all()),
    }
}

/// Settles a scoped job and empties its slots when dropped, so that both happen even if
/// the caller unwinds.
struct Scope<'j, 'a, R: Send + 'a>(&'j Job<'a, R>);

impl<'a, R: Send + 'a> Scope<'_, 'a, R> {
    /// Waits until no worker can reach the body (every index finished: a claim can no
    /// longer succeed), then drops the body.
    fn settle(&self) {
        let job = self.0;
        job.core
            .wait(&|c| c.all_finished(), None, false, &|| job.check_timeouts());
        // SAFETY: every index is finished, so no worker reaches the body again.
        drop(unsafe { (*job.body.get()).take() });
    }
}

impl<'a, R: Send + 'a> Drop for Scope<'_, 'a, R> {
    /// Settles, then drops the outcomes nobody took (all of them when the call was
    /// interrupted or unwinds): a queued entry may keep the job alive after the call
    /// returns, and results of lifetime `'a` must not be dropped after `'a` ends.
    fn drop(&mut self) {
        self.settle();
        self.0.clear();
    }
}

/// Fails a blocking call made by a task on a worker that the call would wait for.
fn check_not_nested(client: &Client, targets: &[usize]) -> Result<(), Error> {
    match worker::current() {
        Some((registry, w)) if registry == client.registry().id() && targets.contains(&w) => {
            Err(Error::WouldDeadlock { worker: w })
        }
        _ => Ok(()),
    }
}
