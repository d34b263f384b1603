//! [`Stream`]: the sink of an `imap`, a bounded channel to one consumer instead of a slot
//! per item, so a long map never holds all its results at once.

use super::slots::{Outcome, Sink};
use crossbeam_channel::{Receiver, SendTimeoutError, Sender};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// How long a worker blocked on a full channel or window waits before it re-checks for
/// an abort.
const POLL: Duration = Duration::from_millis(5);
/// How long a worker sleeps while item `i` is outside the reorder window.
const WINDOW_POLL: Duration = Duration::from_micros(100);

/// A message of the stream: (item index, its outcome).
pub(crate) type Message<R> = (usize, Outcome<R>);

/// The sending half of an `imap`, shared by its workers.
pub(crate) struct Stream<R> {
    tx: Sender<Message<R>>,
    /// Items handed to the consumer, in order (ordered mode only).
    delivered: AtomicUsize,
    /// How far ahead of `delivered` a worker may start an item; bounds the consumer's
    /// reorder buffer (`usize::MAX` when unordered).
    window: usize,
}

impl<R> Stream<R> {
    /// A stream buffering `capacity` messages whose workers run at most `window` items
    /// ahead of the consumer, and its receiving half.
    pub(crate) fn new(capacity: usize, window: usize) -> (Stream<R>, Receiver<Message<R>>) {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        let stream = Stream {
            tx,
            delivered: AtomicUsize::new(0),
            window,
        };
        (stream, rx)
    }

    /// Records that the consumer has taken every item before `next`.
    pub(crate) fn delivered(&self, next: usize) {
        self.delivered.store(next, Ordering::Release);
    }
}

impl<R: Send> Sink<R> for Stream<R> {
    fn admit(&self, i: usize, aborted: &AtomicBool) -> bool {
        while i
            >= self
                .delivered
                .load(Ordering::Acquire)
                .saturating_add(self.window)
        {
            if aborted.load(Ordering::Acquire) {
                return false;
            }
            std::thread::sleep(WINDOW_POLL);
        }
        !aborted.load(Ordering::Acquire)
    }

    fn resolve(&self, i: usize, outcome: Outcome<R>, aborted: &AtomicBool) -> bool {
        // Each index is resolved once here: a stream has no time limits, and an aborted
        // stream has no consumer left to deliver to.
        let mut msg = (i, outcome);
        loop {
            if aborted.load(Ordering::Acquire) {
                return false;
            }
            match self.tx.send_timeout(msg, POLL) {
                Ok(()) => return true,
                Err(SendTimeoutError::Timeout(back)) => msg = back,
                Err(SendTimeoutError::Disconnected(_)) => return false,
            }
        }
    }
}
