//! [`Imap`]: a load-balanced map whose results stream back through a bounded buffer,
//! so that a long map never holds all its results at once.

use crate::job::{Body, Failure, Outcome, Task};
use crate::registry::{JobRef, Shared};
use crate::schedule::Cursor;
use crate::{Client, TaskError, TaskErrorKind, Worker, cancel, interrupt, panic_hook};
use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// How long a worker blocked on a full buffer waits before re-checking for an abort.
const SEND_POLL: Duration = Duration::from_millis(5);

struct ImapJob<R> {
    body: Body<'static, R>,
    cursor: Cursor,
    chunk: usize,
    tx: Sender<(usize, Outcome<R>)>,
    aborted: AtomicBool,
    no_timeout: AtomicBool,
    /// Items handed to the consumer, in order (ordered mode only).
    delivered: AtomicUsize,
    /// How far ahead of `delivered` a worker may start an item (ordered mode), which
    /// bounds the consumer's reorder buffer.
    window: usize,
}

impl<R: Send + 'static> Task for ImapJob<R> {
    fn run(&self, shared: &Shared, me: usize, position: usize) {
        let worker = Worker::new(me, position);
        let mut ran = 0;
        'claims: while let Some(range) = self.cursor.claim(self.chunk) {
            if shared.terminating() {
                self.aborted.store(true, Ordering::Release);
            }
            for i in range {
                while i
                    >= self
                        .delivered
                        .load(Ordering::Acquire)
                        .saturating_add(self.window)
                {
                    if self.aborted.load(Ordering::Acquire) {
                        break 'claims;
                    }
                    std::thread::sleep(Duration::from_micros(100));
                }
                if self.aborted.load(Ordering::Acquire) {
                    break 'claims;
                }
                let outcome = cancel::with_token(&self.aborted, &self.no_timeout, || {
                    panic_hook::catch(|| (self.body)(&worker, i))
                });
                ran += 1;
                let mut msg = (i, to_outcome(outcome, me, i));
                loop {
                    match self.tx.send_timeout(msg, SEND_POLL) {
                        Ok(()) => break,
                        Err(SendTimeoutError::Timeout(back)) => {
                            if self.aborted.load(Ordering::Acquire) {
                                break 'claims;
                            }
                            msg = back;
                        }
                        Err(SendTimeoutError::Disconnected(_)) => break 'claims,
                    }
                }
            }
        }
        shared.count_done(me, ran);
    }

    fn discard(&self) {
        self.aborted.store(true, Ordering::Release);
    }
}

fn to_outcome<R>(
    outcome: Result<Result<R, Failure>, (String, Option<String>)>,
    me: usize,
    i: usize,
) -> Outcome<R> {
    match outcome {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(Failure::Error(m))) => Err(Box::new(TaskError::new(
            Some(me),
            i,
            TaskErrorKind::Error,
            m,
        ))),
        Ok(Err(Failure::Item(m))) => Err(Box::new(TaskError::new(
            Some(me),
            i,
            TaskErrorKind::Item,
            m,
        ))),
        Err((m, location)) => {
            let mut e = TaskError::new(Some(me), i, TaskErrorKind::Panic, m);
            e.location = location;
            Err(Box::new(e))
        }
    }
}

/// Results of [`LoadBalancedView::imap`](crate::LoadBalancedView::imap) as they arrive:
/// in item order when the view is [`ordered`](crate::LoadBalancedView::ordered) (the
/// default), else in completion order.
///
/// At most a bounded number of results exist at once (a small buffer per worker, plus in
/// ordered mode a reorder window of a few chunks), however long the map. Dropping the
/// iterator aborts the rest of the map. An interrupt ends it with one `Cancelled` error.
pub struct Imap<R> {
    job: Arc<ImapJob<R>>,
    rx: Receiver<(usize, Outcome<R>)>,
    ordered: bool,
    reorder: BTreeMap<usize, Outcome<R>>,
    next: usize,
    yielded: usize,
    len: usize,
    _client: Client,
}

pub(crate) fn start_imap<R: Send + 'static>(
    client: &Client,
    targets: &[usize],
    len: usize,
    chunk: usize,
    ordered: bool,
    body: Body<'static, R>,
) -> Imap<R> {
    let workers = targets.len();
    let (tx, rx) = crossbeam_channel::bounded(2 * workers);
    let job = Arc::new(ImapJob {
        body,
        cursor: Cursor::new(0..len),
        chunk,
        tx,
        aborted: AtomicBool::new(false),
        no_timeout: AtomicBool::new(false),
        delivered: AtomicUsize::new(0),
        window: if ordered {
            (4 * workers * chunk).max(64)
        } else {
            usize::MAX
        },
    });
    if len > 0 {
        let task: Arc<dyn Task> = job.clone();
        for (position, &w) in targets.iter().enumerate() {
            client.registry().shared.push(
                w,
                JobRef {
                    task: task.clone(),
                    position,
                },
            );
        }
    }
    Imap {
        job,
        rx,
        ordered,
        reorder: BTreeMap::new(),
        next: 0,
        yielded: 0,
        len,
        _client: client.clone(),
    }
}

impl<R> Imap<R> {
    /// How many results are still to come.
    pub fn remaining(&self) -> usize {
        self.len - self.yielded
    }

    /// Stops the map: no further item starts; running tasks see `cancelled()`.
    pub fn abort(&mut self) {
        self.job.aborted.store(true, Ordering::Release);
        self.yielded = self.len;
    }
}

impl<R> Iterator for Imap<R> {
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.yielded >= self.len {
                return None;
            }
            if self.ordered
                && let Some(o) = self.reorder.remove(&self.next)
            {
                self.next += 1;
                self.yielded += 1;
                self.job.delivered.store(self.next, Ordering::Release);
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

impl<R> Drop for Imap<R> {
    fn drop(&mut self) {
        self.job.aborted.store(true, Ordering::Release);
    }
}
