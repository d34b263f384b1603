//! One call's shared state: the type-erased body its workers run, one result slot per
//! item, and the counters its waiters watch. See `src/schedule/README.md` for the
//! protocol; in short, a job is queued once on each target worker, workers claim items
//! through cursors, and each slot is resolved exactly once.

use crate::registry::{JobRef, Shared};
use crate::schedule::{Cursor, Plan};
use crate::{Client, Error, TaskError, TaskErrorKind, TaskErrors, Worker, cancel, interrupt};
use crate::{panic_hook, worker};
use parking_lot::{Condvar, Mutex};
use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How often a busy worker publishes its counts at least.
const FLUSH: Duration = Duration::from_micros(200);
/// How long a waiter spins before it sleeps: an `apply` on an idle worker returns sooner.
const WAIT_SPIN: Duration = Duration::from_micros(50);
/// The first part of that spin, before it starts yielding the core.
pub(crate) const PURE_SPIN: Duration = Duration::from_micros(3);

const EMPTY: u8 = 0;
const WRITING: u8 = 1;
const DONE: u8 = 2;
const TAKEN: u8 = 3;

/// A task's result as stored: errors boxed so a slot stays small (dispatch speed).
pub(crate) type Outcome<R> = Result<R, Box<TaskError>>;

/// How a task body fails other than by panicking.
pub(crate) enum Failure {
    /// The closure returned `Err` (its `Display`).
    Error(String),
    /// The item could not be produced.
    Item(String),
}

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

/// The lifecycle of a call, for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Submitted; no task has started.
    Pending,
    /// Some tasks have started; not all are finished.
    Running,
    /// Every task succeeded.
    Done,
    /// Every task finished and at least one failed.
    Failed,
    /// Aborted (by `abort()` or an interrupt).
    Aborted,
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    Met,
    TimedOut,
    Interrupted,
}

/// (item index, start time) of the task a worker position is running.
type RunningTask = (usize, Instant);

/// The non-generic part of a job: counters, flags, timing and the waiters' condvar.
pub(crate) struct Core {
    len: usize,
    plan: Plan,
    cursors: Box<[Cursor]>,
    targets: Box<[usize]>,
    resolved: AtomicUsize,
    finished: AtomicUsize,
    failed: AtomicUsize,
    aborted: AtomicBool,
    cancel: AtomicBool,
    submitted: Instant,
    started: AtomicBool,
    completed: OnceLock<Instant>,
    serial_nanos: AtomicU64,
    waiters: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
    timeout: Option<Duration>,
    running: Box<[Mutex<Option<RunningTask>>]>,
    task_cancel: Box<[AtomicBool]>,
}

impl Core {
    pub(crate) fn len(&self) -> usize {
        self.len
    }
    pub(crate) fn resolved(&self) -> usize {
        self.resolved.load(Ordering::Acquire)
    }
    pub(crate) fn ready(&self) -> bool {
        self.resolved() == self.len
    }
    pub(crate) fn failed(&self) -> usize {
        self.failed.load(Ordering::Acquire)
    }
    pub(crate) fn submitted(&self) -> Instant {
        self.submitted
    }
    pub(crate) fn completed(&self) -> Option<Instant> {
        self.completed.get().copied()
    }
    pub(crate) fn serial_time(&self) -> Duration {
        Duration::from_nanos(self.serial_nanos.load(Ordering::Relaxed))
    }
    pub(crate) fn targets(&self) -> &[usize] {
        &self.targets
    }
    pub(crate) fn state(&self) -> State {
        if self.aborted.load(Ordering::Acquire) {
            State::Aborted
        } else if self.ready() {
            if self.failed() == 0 {
                State::Done
            } else {
                State::Failed
            }
        } else if self.started.load(Ordering::Relaxed) || self.resolved() > 0 {
            State::Running
        } else {
            State::Pending
        }
    }

    /// Adds a worker's (or an abort's) counts and wakes registered waiters.
    fn publish(&self, resolved: usize, finished: usize, failed: usize, nanos: u64) {
        if nanos > 0 {
            self.serial_nanos.fetch_add(nanos, Ordering::Relaxed);
        }
        if failed > 0 {
            self.failed.fetch_add(failed, Ordering::SeqCst);
        }
        if resolved > 0 {
            let before = self.resolved.fetch_add(resolved, Ordering::SeqCst);
            if before + resolved == self.len {
                let _ = self.completed.set(Instant::now());
            }
        }
        if finished > 0 {
            self.finished.fetch_add(finished, Ordering::SeqCst);
        }
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock();
            self.cv.notify_all();
        }
    }

    /// Blocks until `cond` holds, `deadline` passes, or (when `interruptible`) an
    /// interrupt is taken. `poll` runs at least every [`interrupt::POLL_INTERVAL`].
    pub(crate) fn wait(
        &self,
        cond: &dyn Fn(&Core) -> bool,
        deadline: Option<Instant>,
        interruptible: bool,
        poll: &dyn Fn(),
    ) -> Wait {
        let start = Instant::now();
        loop {
            if cond(self) {
                return Wait::Met;
            }
            let spun = start.elapsed();
            if spun >= WAIT_SPIN {
                break;
            }
            if spun < PURE_SPIN {
                for _ in 0..32 {
                    std::hint::spin_loop();
                }
            } else {
                // The worker may share this core (a loaded machine): let it run.
                std::thread::yield_now();
            }
        }
        loop {
            poll();
            if cond(self) {
                return Wait::Met;
            }
            if interruptible && interrupt::take() {
                return Wait::Interrupted;
            }
            let now = Instant::now();
            let mut until = now + interrupt::POLL_INTERVAL;
            if let Some(d) = deadline {
                if now >= d {
                    return Wait::TimedOut;
                }
                until = until.min(d);
            }
            let mut guard = self.lock.lock();
            self.waiters.fetch_add(1, Ordering::SeqCst);
            if !cond(self) {
                self.cv.wait_until(&mut guard, until);
            }
            self.waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Wakes every waiter (used when something other than a count changed).
    pub(crate) fn notify(&self) {
        let _guard = self.lock.lock();
        self.cv.notify_all();
    }
}

struct Slots<R> {
    state: Box<[AtomicU8]>,
    value: Box<[UnsafeCell<MaybeUninit<Outcome<R>>>]>,
}

/// A call in flight. `'a` is what the body borrows (`'static` for `_async` calls).
pub(crate) struct Job<'a, R> {
    core: Core,
    slots: Slots<R>,
    body: UnsafeCell<Option<Body<'a, R>>>,
}

// SAFETY: slots are written by the one thread that wins their EMPTY -> WRITING swap and
// read only after DONE is published; the body is shared (`Fn + Sync`) and taken out only
// when no worker can reach it any more (see `finished`).
unsafe impl<R: Send> Send for Job<'_, R> {}
unsafe impl<R: Send> Sync for Job<'_, R> {}

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
    fn flush(&mut self, core: &Core, shared: &Shared, me: usize, now: Instant) {
        if self.ran > 0 {
            shared.count_done(me, self.ran);
        }
        if self.finished > 0 || self.resolved > 0 {
            core.publish(self.resolved, self.finished, self.failed, self.nanos);
        }
        *self = Local {
            resolved: 0,
            finished: 0,
            failed: 0,
            ran: 0,
            nanos: 0,
            last_flush: now,
        };
    }
}

fn never_started(task: usize) -> Box<TaskError> {
    Box::new(TaskError::new(
        None,
        task,
        TaskErrorKind::Cancelled,
        "aborted before it started",
    ))
}

impl<'a, R: Send + 'a> Job<'a, R> {
    /// A job of `len` items over the workers `targets`.
    pub(crate) fn new(
        len: usize,
        plan: Plan,
        targets: &[usize],
        timeout: Option<Duration>,
        body: Body<'a, R>,
    ) -> Arc<Job<'a, R>> {
        let n = targets.len();
        let value = std::iter::repeat_with(|| UnsafeCell::new(MaybeUninit::uninit()))
            .take(len)
            .collect();
        Arc::new(Job {
            core: Core {
                len,
                plan,
                cursors: plan.cursors(len, n),
                targets: targets.into(),
                resolved: AtomicUsize::new(0),
                finished: AtomicUsize::new(0),
                failed: AtomicUsize::new(0),
                aborted: AtomicBool::new(false),
                cancel: AtomicBool::new(false),
                submitted: Instant::now(),
                started: AtomicBool::new(false),
                completed: OnceLock::new(),
                serial_nanos: AtomicU64::new(0),
                waiters: AtomicUsize::new(0),
                lock: Mutex::new(()),
                cv: Condvar::new(),
                timeout,
                running: (0..n).map(|_| Mutex::new(None)).collect(),
                task_cancel: (0..n).map(|_| AtomicBool::new(false)).collect(),
            },
            slots: Slots {
                state: (0..len).map(|_| AtomicU8::new(EMPTY)).collect(),
                value,
            },
            body: UnsafeCell::new(Some(body)),
        })
    }

    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    /// Stores `outcome` for item `i` unless the slot was already resolved.
    fn resolve(&self, i: usize, outcome: Outcome<R>) -> bool {
        let state = &self.slots.state[i];
        if state
            .compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        // SAFETY: we won the swap, so nobody else writes or reads this slot until DONE.
        unsafe { (*self.slots.value[i].get()).write(outcome) };
        state.store(DONE, Ordering::Release);
        true
    }

    /// The outcome of item `i` if it is resolved.
    pub(crate) fn peek(&self, i: usize) -> Option<&Outcome<R>> {
        if self.slots.state.get(i)?.load(Ordering::Acquire) != DONE {
            return None;
        }
        // SAFETY: DONE slots are initialised and never written again; taking needs
        // exclusive use of the result handle, which outlives this borrow.
        Some(unsafe { (*self.slots.value[i].get()).assume_init_ref() })
    }

    /// Moves every resolved outcome out, in item order. Only when all are resolved and
    /// nobody holds a [`Job::peek`] borrow.
    pub(crate) fn take_all(&self) -> Vec<Outcome<R>> {
        (0..self.core.len)
            .map(|i| {
                if self.slots.state[i]
                    .compare_exchange(DONE, TAKEN, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    // SAFETY: it was DONE (initialised) and we alone moved it to TAKEN.
                    unsafe { (*self.slots.value[i].get()).assume_init_read() }
                } else {
                    Err(never_started(i))
                }
            })
            .collect()
    }

    /// Every failure resolved so far (clones).
    pub(crate) fn errors(&self) -> Vec<TaskError> {
        (0..self.core.len)
            .filter_map(|i| match self.peek(i) {
                Some(Err(e)) => Some((**e).clone()),
                _ => None,
            })
            .collect()
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
                if self.resolve(i, Err(never_started(i))) {
                    resolved += 1;
                }
            }
        }
        core.publish(resolved, finished, resolved, 0);
        core.notify();
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
                if self.resolve(i, Err(Box::new(err))) {
                    core.publish(1, 0, 1, 0);
                }
            }
        }
    }

    /// Queues the job on each of its target workers.
    ///
    /// # Safety
    /// For a non-`'static` body the caller must not let `'a` end before `finished == len`
    /// and must then take the body out ([`run_scoped`] does both).
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
}

impl<R: Send + 'static> Job<'static, R> {
    /// Submits a `'static` job.
    pub(crate) fn submit(self: &Arc<Self>, client: &Client) {
        // SAFETY: nothing is borrowed.
        unsafe { self.post(&client.registry().shared) }
    }
}

impl<'a, R: Send + 'a> Task for Job<'a, R> {
    fn run(&self, shared: &Shared, me: usize, position: usize) {
        let core = &self.core;
        let (from, step) = core.plan.claim_from(position);
        let cursor = &core.cursors[from];
        let worker = Worker::new(me, position);
        let task_flag = &core.task_cancel[position];
        let mut now = Instant::now();
        let mut local = Local {
            resolved: 0,
            finished: 0,
            failed: 0,
            ran: 0,
            nanos: 0,
            last_flush: now,
        };
        while let Some(range) = cursor.claim(step) {
            if shared.terminating() {
                // Nobody can observe this job any more; settle it and let the thread exit.
                self.abort();
            }
            core.started.store(true, Ordering::Relaxed);
            for i in range {
                if core.aborted.load(Ordering::Relaxed) {
                    local.finished += 1;
                    if self.resolve(i, Err(never_started(i))) {
                        local.resolved += 1;
                        local.failed += 1;
                    }
                    continue;
                }
                if core.timeout.is_some() {
                    task_flag.store(false, Ordering::SeqCst);
                    *core.running[position].lock() = Some((i, now));
                    // A 'static waiter may return without this task; it needs the rest.
                    local.flush(core, shared, me, now);
                }
                // SAFETY: index `i` is ours alone (claimed), so the body is still there:
                // it is taken out only once every claimed index is finished.
                let body = unsafe { (*self.body.get()).as_ref() };
                let outcome = match body {
                    Some(body) => cancel::with_token(&core.cancel, task_flag, || {
                        panic_hook::catch(|| body(&worker, i))
                    }),
                    None => Ok(Err(Failure::Error("the call was already over".into()))),
                };
                let end = Instant::now();
                local.nanos += end.duration_since(now).as_nanos() as u64;
                now = end;
                if core.timeout.is_some() {
                    *core.running[position].lock() = None;
                }
                let outcome = match outcome {
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
                };
                let failed = outcome.is_err();
                if self.resolve(i, outcome) {
                    local.resolved += 1;
                    local.failed += usize::from(failed);
                }
                local.ran += 1;
                local.finished += 1;
                if now.duration_since(local.last_flush) >= FLUSH {
                    local.flush(core, shared, me, now);
                }
            }
        }
        local.flush(core, shared, me, now);
    }

    fn discard(&self) {
        self.abort();
    }
}

impl<R> Drop for Job<'_, R> {
    fn drop(&mut self) {
        for (state, value) in self.slots.state.iter().zip(self.slots.value.iter_mut()) {
            if state.load(Ordering::Acquire) == DONE {
                // SAFETY: DONE slots are initialised and not yet moved out.
                unsafe { value.get_mut().assume_init_drop() };
            }
        }
    }
}

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
    let job = Job::new(len, plan, targets, timeout, body);

    // Runs even if this thread unwinds: the borrow must outlive every worker's use.
    struct Settle<'j, 'a, R: Send + 'a>(&'j Job<'a, R>);
    impl<'a, R: Send + 'a> Drop for Settle<'_, 'a, R> {
        fn drop(&mut self) {
            let job = self.0;
            let len = job.core.len;
            job.core.wait(
                &|c| c.finished.load(Ordering::SeqCst) == len,
                None,
                false,
                &|| job.check_timeouts(),
            );
            // SAFETY: finished == len, so no worker reaches the body again.
            drop(unsafe { (*job.body.get()).take() });
        }
    }

    // SAFETY: `settle` waits for finished == len and takes the body before 'a ends.
    unsafe { job.post(&client.registry().shared) };
    let settle = Settle(&job);
    let outcome = job.core.wait(
        &|c| c.finished.load(Ordering::SeqCst) == len,
        None,
        true,
        &|| job.check_timeouts(),
    );
    if outcome == Wait::Interrupted {
        job.abort();
    }
    drop(settle);
    match outcome {
        Wait::Interrupted => Err(Error::Interrupted),
        _ => Ok(job.take_all()),
    }
}

/// Fails a blocking call made by a task on a worker that the call would wait for.
pub(crate) fn check_not_nested(client: &Client, targets: &[usize]) -> Result<(), Error> {
    match worker::current() {
        Some((registry, w)) if registry == client.registry().id() && targets.contains(&w) => {
            Err(Error::WouldDeadlock { worker: w })
        }
        _ => Ok(()),
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
