//! Where a job's outcomes go: the [`Sink`] trait, [`Slots`] (one result slot per item,
//! for `map`, `apply` and their `_async` forms), and the mapping of what a task body
//! did to an [`Outcome`].

use crate::sync::{AtomicU8, UnsafeCell};
use crate::{Error, TaskError, TaskErrorKind, TaskErrors};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};

/// A task's result as stored: errors boxed so a slot stays small (dispatch speed).
pub(crate) type Outcome<R> = Result<R, Box<TaskError>>;

/// How a task body fails other than by panicking.
pub(crate) enum Failure {
    /// The closure returned `Err` (its `Display`).
    Error(String),
    /// The item could not be produced.
    Item(String),
}

/// What running one task body gave: its value or failure, or a panic (message, location).
pub(super) type Ran<R> = Result<Result<R, Failure>, (String, Option<String>)>;

/// The outcome of item `i` run on worker `worker`.
pub(super) fn outcome<R>(ran: Ran<R>, worker: usize, i: usize) -> Outcome<R> {
    let fail = |kind, message| Err(Box::new(TaskError::new(Some(worker), i, kind, message)));
    match ran {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(Failure::Error(m))) => fail(TaskErrorKind::Error, m),
        Ok(Err(Failure::Item(m))) => fail(TaskErrorKind::Item, m),
        Err((m, location)) => {
            let mut e = TaskError::new(Some(worker), i, TaskErrorKind::Panic, m);
            e.location = location;
            Err(Box::new(e))
        }
    }
}

/// The outcome of an item that never ran because its call was aborted.
pub(super) fn never_started<R>(task: usize) -> Outcome<R> {
    Err(Box::new(TaskError::new(
        None,
        task,
        TaskErrorKind::Cancelled,
        "aborted before it started",
    )))
}

/// Where a job's workers put outcomes.
pub(crate) trait Sink<R>: Send + Sync {
    /// Whether item `i` may start now; may block (a bounded stream waits for its
    /// consumer). `false` only once `aborted` is set.
    fn admit(&self, i: usize, aborted: &AtomicBool) -> bool;

    /// Stores the outcome of item `i` unless it was resolved already (a time limit or
    /// an abort got there first); returns whether this call resolved it.
    fn resolve(&self, i: usize, outcome: Outcome<R>, aborted: &AtomicBool) -> bool;
}

const EMPTY: u8 = 0;
const WRITING: u8 = 1;
const DONE: u8 = 2;
const TAKEN: u8 = 3;

/// One write-once slot per item.
pub(crate) struct Slots<R> {
    state: Box<[AtomicU8]>,
    value: Box<[UnsafeCell<MaybeUninit<Outcome<R>>>]>,
}

// SAFETY: a slot's value is written only by the one thread that wins its EMPTY -> WRITING
// swap and moved out only by the one that wins DONE -> TAKEN, so values move between
// threads (`R: Send`) but are never accessed by two at once. A shared read hands out
// `&R` to whichever thread holds the job, so `peek` requires `R: Sync` itself.
unsafe impl<R: Send> Sync for Slots<R> {}
// SAFETY: as above: sending the slots sends the `R`s in them.
unsafe impl<R: Send> Send for Slots<R> {}

impl<R> Slots<R> {
    /// `len` empty slots.
    pub(crate) fn new(len: usize) -> Slots<R> {
        Slots {
            state: (0..len).map(|_| AtomicU8::new(EMPTY)).collect(),
            value: (0..len)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
        }
    }

    /// `len` empty slots, or [`Error::OutOfMemory`] when they cannot be allocated, so
    /// that a map too large for memory is refused instead of aborting the process.
    pub(crate) fn try_new(len: usize) -> Result<Slots<R>, Error> {
        let refused = || Error::OutOfMemory {
            items: len,
            bytes: len as u128 * Self::SLOT_BYTES as u128,
        };
        let mut state = Vec::new();
        state.try_reserve_exact(len).map_err(|_| refused())?;
        let mut value = Vec::new();
        value.try_reserve_exact(len).map_err(|_| refused())?;
        state.extend((0..len).map(|_| AtomicU8::new(EMPTY)));
        value.extend((0..len).map(|_| UnsafeCell::new(MaybeUninit::uninit())));
        Ok(Slots {
            state: state.into_boxed_slice(),
            value: value.into_boxed_slice(),
        })
    }

    /// The bytes one item's slot takes.
    const SLOT_BYTES: usize =
        size_of::<AtomicU8>() + size_of::<UnsafeCell<MaybeUninit<Outcome<R>>>>();

    /// The outcome of item `i` if it is resolved.
    pub(crate) fn peek(&self, i: usize) -> Option<&Outcome<R>>
    where
        R: Sync,
    {
        self.outcome(i)
    }

    /// [`Slots::peek`] without the `R: Sync` bound, for readers that never hand out the
    /// `&R` (they look at the error only).
    fn outcome(&self, i: usize) -> Option<&Outcome<R>> {
        if self.state.get(i)?.load(Ordering::Acquire) != DONE {
            return None;
        }
        // SAFETY: DONE slots are initialised and not written again; moving one out
        // (`take_all`) needs the result handle by value, which this borrow outlives.
        // (loom checks the access itself, not the borrow that outlives the closure.)
        Some(self.value[i].with(|value| unsafe { (*value).assume_init_ref() }))
    }

    /// Whether item `i` is resolved and its outcome written (or already taken).
    pub(crate) fn is_resolved(&self, i: usize) -> bool {
        self.state
            .get(i)
            .is_some_and(|s| s.load(Ordering::Acquire) >= DONE)
    }

    /// Every failure resolved so far (clones).
    pub(crate) fn errors(&self) -> Vec<TaskError> {
        (0..self.state.len())
            .filter_map(|i| match self.outcome(i) {
                Some(Err(e)) => Some((**e).clone()),
                _ => None,
            })
            .collect()
    }

    /// Moves every resolved outcome out, in item order; an unresolved item reads as
    /// never started. Only when nobody holds a [`Slots::peek`] borrow.
    pub(crate) fn take_all(&self) -> Vec<Outcome<R>> {
        (0..self.state.len())
            .map(|i| self.take(i).unwrap_or_else(|| never_started(i)))
            .collect()
    }

    /// Drops every outcome not yet moved out.
    pub(crate) fn clear(&self) {
        (0..self.state.len()).for_each(|i| drop(self.take(i)));
    }

    fn take(&self, i: usize) -> Option<Outcome<R>> {
        self.state[i]
            .compare_exchange(DONE, TAKEN, Ordering::AcqRel, Ordering::Relaxed)
            .ok()?;
        // SAFETY: it was DONE (initialised) and we alone moved it to TAKEN.
        Some(self.value[i].with_mut(|value| unsafe { (*value).assume_init_read() }))
    }
}

impl<R: Send> Sink<R> for Slots<R> {
    fn admit(&self, _: usize, _: &AtomicBool) -> bool {
        true
    }

    fn resolve(&self, i: usize, outcome: Outcome<R>, _: &AtomicBool) -> bool {
        let state = &self.state[i];
        if state
            .compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        // SAFETY: we won the swap, so nobody else writes or reads this slot until DONE.
        self.value[i].with_mut(|value| unsafe { (*value).write(outcome) });
        state.store(DONE, Ordering::Release);
        true
    }
}

impl<R> Drop for Slots<R> {
    fn drop(&mut self) {
        for (state, value) in self.state.iter().zip(self.value.iter()) {
            if state.load(Ordering::Acquire) == DONE {
                // SAFETY: DONE slots are initialised and not yet moved out; `&mut self`
                // means no other thread holds the slots.
                value.with_mut(|value| unsafe { (*value).assume_init_drop() });
            }
        }
    }
}

/// Turns outcomes into values, or every failure.
pub(crate) fn collect<R>(outcomes: Vec<Outcome<R>>) -> Result<Vec<R>, Error> {
    let total = outcomes.len();
    let mut values = Vec::with_capacity(total);
    let mut errors = Vec::new();
    for o in outcomes {
        match o {
            Ok(v) => values.push(v),
            Err(e) => errors.push(*e),
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(Error::Tasks(TaskErrors::new(errors, total)))
    }
}
