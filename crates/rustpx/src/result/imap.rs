//! [`Imap`]: a load-balanced map whose results stream back through a bounded buffer,
//! so that a long map never holds all its results at once. The workers run the ordinary
//! job loop with a [`Stream`] as its sink; this is the consuming half.

use crate::job::{Body, Job, Message, Outcome, Stream};
use crate::schedule::Plan;
use crate::{Client, Error, TaskError, TaskErrorKind, interrupt};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Results of [`LoadBalancedView::imap`](crate::LoadBalancedView::imap) as they arrive:
/// in item order when the view is [`ordered`](crate::LoadBalancedView::ordered) (the
/// default), else in completion order.
///
/// At most a bounded number of results exist at once (a small buffer per worker, plus in
/// ordered mode a reorder window of a few chunks), however long the map. Dropping the
/// iterator aborts the rest of the map. An interrupt ends it with one `Cancelled` error.
pub struct Imap<R: Send + 'static> {
    job: Arc<Job<'static, R, Stream<R>>>,
    rx: Receiver<Message<R>>,
    ordered: bool,
    reorder: BTreeMap<usize, Outcome<R>>,
    next: usize,
    yielded: usize,
    len: usize,
    /// Why the map was refused before it started, yielded by the first `next`.
    refusal: Option<TaskError>,
    _client: Client,
}

/// Starts an `imap` of `len` items on `targets`.
pub(crate) fn start_imap<R: Send + 'static>(
    client: &Client,
    targets: &[usize],
    len: usize,
    plan: Plan,
    ordered: bool,
    body: Body<'static, R>,
) -> Imap<R> {
    let workers = targets.len();
    let window = if ordered {
        plan.window(len, workers)
    } else {
        usize::MAX
    };
    let (stream, rx) = Stream::new(2 * workers, window);
    let job = Job::streaming(len, plan, targets, stream, body);
    if len > 0 {
        job.submit(client);
    }
    Imap {
        job,
        rx,
        ordered,
        reorder: BTreeMap::new(),
        next: 0,
        yielded: 0,
        len,
        refusal: None,
        _client: client.clone(),
    }
}

impl<R: Send + 'static> Imap<R> {
    /// This (empty, unstarted) map, yielding `refusal` as its one error if there is one.
    pub(crate) fn refusing(mut self, refusal: Option<Error>) -> Imap<R> {
        self.refusal =
            refusal.map(|e| TaskError::new(None, 0, TaskErrorKind::Cancelled, e.to_string()));
        self
    }

    /// How many results are still to come.
    pub fn remaining(&self) -> usize {
        self.len - self.yielded
    }

    /// Stops the map: no further item starts; running tasks see `cancelled()`.
    pub fn abort(&mut self) {
        self.job.abort();
        self.yielded = self.len;
    }
}

impl<R: Send + 'static> Iterator for Imap<R> {
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(refusal) = self.refusal.take() {
            return Some(Err(refusal));
        }
        loop {
            if self.yielded >= self.len {
                return None;
            }
            if self.ordered
                && let Some(o) = self.reorder.remove(&self.next)
            {
                self.next += 1;
                self.yielded += 1;
                self.job.stream().delivered(self.next);
                return Some(o.map_err(|e| *e));
            }
            match self.rx.recv_timeout(interrupt::POLL_INTERVAL) {
                Ok((i, o)) if self.ordered => {
                    self.reorder.insert(i, o);
                }
                Ok((_, o)) => {
                    self.yielded += 1;
                    return Some(o.map_err(|e| *e));
                }
                Err(RecvTimeoutError::Timeout) => {
                    if interrupt::take() {
                        self.abort();
                        let e = TaskError::new(
                            None,
                            self.next,
                            TaskErrorKind::Cancelled,
                            "interrupted",
                        );
                        return Some(Err(e));
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }
}

impl<R: Send + 'static> Drop for Imap<R> {
    fn drop(&mut self) {
        self.job.abort();
    }
}
