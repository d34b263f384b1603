//! The execution core: one call's shared state and the loop its workers run.
//!
//! A [`Job`] holds the type-erased body the workers run, the call's [`Core`] (cursors,
//! counters, flags, waiters) and a [`Sink`] for the outcomes: [`Slots`] (one write-once
//! slot per item) or a bounded [`Stream`] (`imap`). It is queued once on each target
//! worker; workers claim items through the plan's cursors and resolve each item exactly
//! once. See `README.md` here and `src/schedule/README.md` for the protocol.
//!
//! - `core.rs`: counters, state, publishing and waiting;
//! - `wait.rs`: spin-then-park, shared with the idle workers;
//! - `slots.rs`: outcomes, the sink trait, result slots;
//! - `stream.rs`: the `imap` sink;
//! - `scope.rs`: blocking calls whose body borrows the caller's stack.

mod core;
mod scope;
mod slots;
mod stream;
pub(crate) mod wait;

#[cfg(all(test, loom))]
mod loom;
#[cfg(test)]
mod test;

pub use self::core::State;
pub(crate) use self::core::{Core, Wait};
pub(crate) use scope::run_scoped;
pub(crate) use slots::{Failure, Outcome, Sink, Slots, collect};
pub(crate) use stream::{Message, Stream};

use self::slots::{Ran, never_started, outcome};
use crate::registry::{JobRef, Shared};
use crate::schedule::Plan;
use crate::{Client, Error, TaskError, TaskErrorKind, Worker, cancel, panic_hook};
use std::cell::UnsafeCell;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often a busy worker publishes its counts at least.
#[cfg(not(loom))]
const FLUSH: Duration = Duration::from_micros(200);
/// A loom model must be deterministic given its schedule, and a flush on a timer is
/// not: under loom a worker publishes once, when it runs out of items.
#[cfg(loom)]
const FLUSH: Duration = Duration::MAX;

/// A call's body: runs item `index` on `worker`. Built by the views; it calls
/// `Source::take(index)`, which the claiming protocol calls at most once per index.
pub(crate) type Body<'a, R> = Box<dyn Fn(&Worker, usize) -> Result<R, Failure> + Send + Sync + 'a>;

/// What a worker runs from its queue.
pub(crate) trait Task: Send + Sync {
    /// Runs the worker's share of the job.
    fn run(&self, shared: &Shared, worker: usize, position: usize);
    /// Drops the job unrun (the client is gone): aborts it.
    fn discard(&self);
}

/// A call in flight. `'a` is what the body borrows (`'static` for `_async` calls).
pub(crate) struct Job<'a, R, S = Slots<R>> {
    core: Core,
    sink: S,
    body: UnsafeCell<Option<Body<'a, R>>>,
}

// SAFETY: the body is `Fn + Send + Sync`, called through `&` by any number of workers,
// and taken out (`&mut` use of the cell) only once no worker can reach it any more
// (`Core::all_finished`, see `scope.rs`); the core and the sink are `Sync` themselves.
unsafe impl<R: Send, S: Sink<R>> Sync for Job<'_, R, S> {}
// SAFETY: as above; sending the job sends the body, which is `Send`.
unsafe impl<R: Send, S: Sink<R>> Send for Job<'_, R, S> {}

impl<'a, R: Send + 'a> Job<'a, R> {
    /// A job of `len` items over the workers `targets`, with one result slot per item.
    pub(crate) fn new(
        len: usize,
        plan: Plan,
        targets: &[usize],
        timeout: Option<Duration>,
        body: Body<'a, R>,
    ) -> Arc<Job<'a, R>> {
        Job::with_sink(
            Core::new(len, plan, targets, timeout),
            Slots::new(len),
            body,
        )
    }

    /// [`Job::new`] for a map, whose item count the caller chose: its result slots are
    /// allocated fallibly, so a count too large for memory is [`Error::OutOfMemory`]
    /// before any task runs.
    pub(crate) fn try_new(
        len: usize,
        plan: Plan,
        targets: &[usize],
        timeout: Option<Duration>,
        body: Body<'a, R>,
    ) -> Result<Arc<Job<'a, R>>, Error> {
        let slots = Slots::try_new(len)?;
        Ok(Job::with_sink(
            Core::new(len, plan, targets, timeout),
            slots,
            body,
        ))
    }

    /// The outcome of item `i` if it is resolved.
    pub(crate) fn peek(&self, i: usize) -> Option<&Outcome<R>>
    where
        R: Sync,
    {
        self.sink.peek(i)
    }

    /// Whether item `i` is resolved.
    pub(crate) fn is_resolved(&self, i: usize) -> bool {
        self.sink.is_resolved(i)
    }

    /// Moves every outcome out, in item order (see [`Slots::take_all`]).
    pub(crate) fn take_all(&self) -> Vec<Outcome<R>> {
        self.sink.take_all()
    }

    /// Drops every outcome not yet moved out.
    pub(crate) fn clear(&self) {
        self.sink.clear()
    }

    /// Every failure resolved so far (clones).
    pub(crate) fn errors(&self) -> Vec<TaskError> {
        self.sink.errors()
    }

    /// Fails the tasks running longer than the time limit.
    pub(crate) fn check_timeouts(&self) {
        let core = &self.core;
        let Some(limit) = core.timeout else { return };
        let now = Instant::now();
        for (p, running) in core.running.iter().enumerate() {
            let mut running = running.lock();
            if let Some((i, start)) = *running
                && now.duration_since(start) >= limit
            {
                *running = None;
                core.task_cancel[p].store(true, Ordering::SeqCst);
                let message = format!("still running after the {limit:?} time limit");
                let err = TaskError::new(Some(core.targets[p]), i, TaskErrorKind::Timeout, message);
                if self.sink.resolve(i, Err(Box::new(err)), &core.aborted) {
                    core.publish(1, 0, 1, 0);
                }
            }
        }
    }
}

impl<'a, R: Send + 'a> Job<'a, R, Stream<R>> {
    /// A job of `len` items over `targets` whose outcomes go to `stream` (no time limit).
    pub(crate) fn streaming(
        len: usize,
        plan: Plan,
        targets: &[usize],
        stream: Stream<R>,
        body: Body<'a, R>,
    ) -> Arc<Job<'a, R, Stream<R>>> {
        Job::with_sink(Core::new(len, plan, targets, None), stream, body)
    }

    /// The stream the workers send to.
    pub(crate) fn stream(&self) -> &Stream<R> {
        &self.sink
    }
}

impl<'a, R: Send + 'a, S: Sink<R> + 'a> Job<'a, R, S> {
    fn with_sink(core: Core, sink: S, body: Body<'a, R>) -> Arc<Job<'a, R, S>> {
        Arc::new(Job {
            core,
            sink,
            body: UnsafeCell::new(Some(body)),
        })
    }

    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    /// Aborts: pending items never start, running tasks see `cancelled()`.
    pub(crate) fn abort(&self) {
        let core = &self.core;
        core.aborted.store(true, Ordering::SeqCst);
        core.cancel.store(true, Ordering::SeqCst);
        let (mut resolved, mut finished) = (0, 0);
        for cursor in core.cursors.iter() {
            for i in cursor.close() {
                finished += 1;
                if self.sink.resolve(i, never_started(i), &core.aborted) {
                    resolved += 1;
                }
            }
        }
        core.publish(resolved, finished, resolved, 0);
        core.notify();
    }

    /// Queues the job on each of its target workers.
    ///
    /// # Safety
    /// For a non-`'static` body the caller must not let `'a` end before
    /// [`Core::all_finished`] and must then take the body out, and drop every outcome
    /// still in the sink ([`run_scoped`] does all three).
    unsafe fn post(self: &Arc<Self>, shared: &Shared) {
        let task: Arc<dyn Task + 'a> = self.clone();
        // SAFETY: by the caller's promise the erased borrow is never used after 'a.
        let task: Arc<dyn Task + 'static> = unsafe { std::mem::transmute(task) };
        for (position, &w) in self.core.targets.iter().enumerate() {
            shared.push(
                w,
                JobRef {
                    task: task.clone(),
                    position,
                },
            );
        }
    }

    /// Runs item `i` (or skips it once the job is aborted) and counts it in `run`.
    fn run_item(&self, shared: &Shared, run: &mut Run, i: usize) {
        let core = &self.core;
        if core.aborted.load(Ordering::Relaxed) || !self.sink.admit(i, &core.aborted) {
            run.local.finished += 1;
            if self.sink.resolve(i, never_started(i), &core.aborted) {
                run.local.resolved += 1;
                run.local.failed += 1;
            }
            return;
        }
        let (me, position) = (run.worker.id(), run.worker.position());
        if core.timeout.is_some() {
            core.task_cancel[position].store(false, Ordering::SeqCst);
            *core.running[position].lock() = Some((i, run.now));
            // A 'static waiter may return without this task; it needs the rest.
            run.local.flush(core, shared, me, run.now);
        }
        let ran = self.call(&run.worker, i);
        let end = Instant::now();
        run.local.nanos += end.duration_since(run.now).as_nanos() as u64;
        run.now = end;
        if core.timeout.is_some() {
            *core.running[position].lock() = None;
        }
        let outcome = outcome(ran, me, i);
        let failed = outcome.is_err();
        if self.sink.resolve(i, outcome, &core.aborted) {
            run.local.resolved += 1;
            run.local.failed += usize::from(failed);
        }
        run.local.ran += 1;
        run.local.finished += 1;
        if run.now.duration_since(run.local.last_flush) >= FLUSH {
            run.local.flush(core, shared, me, run.now);
        }
    }

    /// Calls the body for claimed item `i`, with the task's cancel flags set and panics
    /// caught.
    fn call(&self, worker: &Worker, i: usize) -> Ran<R> {
        let core = &self.core;
        // SAFETY: index `i` is claimed and not yet counted finished, so the body is still
        // there: it is taken out only once every index is finished.
        let body = unsafe { (*self.body.get()).as_ref() };
        match body {
            Some(body) => {
                let task_flag = &core.task_cancel[worker.position()];
                cancel::with_token(&core.cancel, task_flag, || {
                    panic_hook::catch(|| body(worker, i))
                })
            }
            None => Ok(Err(Failure::Error("the call was already over".into()))),
        }
    }
}

impl<R: Send + 'static, S: Sink<R> + 'static> Job<'static, R, S> {
    /// Submits a `'static` job.
    pub(crate) fn submit(self: &Arc<Self>, client: &Client) {
        // SAFETY: nothing is borrowed.
        unsafe { self.post(&client.registry().shared) }
    }
}

impl<'a, R: Send + 'a, S: Sink<R> + 'a> Task for Job<'a, R, S> {
    fn run(&self, shared: &Shared, me: usize, position: usize) {
        let core = &self.core;
        let (from, step) = core.plan.claim_from(position, core.len, core.targets.len());
        let cursor = &core.cursors[from];
        let now = Instant::now();
        let mut run = Run {
            worker: Worker::new(me, position),
            local: Local::new(now),
            now,
        };
        let mut started = false;
        while let Some(range) = cursor.claim(step) {
            if shared.terminating() {
                // Nobody can observe this job any more; settle it and let the thread exit.
                self.abort();
            }
            if !started {
                // Once per worker: a store per claim would bounce the core's cache line
                // between the workers.
                core.started.store(true, Ordering::Relaxed);
                started = true;
            }
            for i in range {
                self.run_item(shared, &mut run, i);
            }
        }
        run.local.flush(core, shared, me, run.now);
    }

    fn discard(&self) {
        self.abort();
    }
}

/// One worker's pass over a job: who it is, its unpublished counts, and the time its
/// current task started.
struct Run {
    worker: Worker,
    local: Local,
    now: Instant,
}

/// A worker's counts, published in batches.
struct Local {
    resolved: usize,
    finished: usize,
    failed: usize,
    ran: u64,
    nanos: u64,
    last_flush: Instant,
}

impl Local {
    fn new(now: Instant) -> Local {
        Local {
            resolved: 0,
            finished: 0,
            failed: 0,
            ran: 0,
            nanos: 0,
            last_flush: now,
        }
    }

    fn flush(&mut self, core: &Core, shared: &Shared, me: usize, now: Instant) {
        if self.ran > 0 {
            shared.count_done(me, self.ran);
        }
        if self.finished > 0 || self.resolved > 0 {
            core.publish(self.resolved, self.finished, self.failed, self.nanos);
        }
        *self = Local::new(now);
    }
}
