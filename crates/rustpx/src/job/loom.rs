//! The claim, slot and wait protocols under the `loom` model checker, every
//! interleaving of a few threads: claims racing claims and an abort's close (an
//! interrupt arriving during a claim), a worker's completion racing a time limit, an
//! abort racing completion, the last handle to a job dropped while its worker still
//! runs tasks, and a waiter's timed sleep racing the completion it waits for. Run with
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p rustpx --lib loom`.

use super::core::{Core, Wait};
use super::slots::{Outcome, Sink, Slots, never_started};
use super::{Job, Task};
use crate::registry::Shared;
use crate::schedule::{Cursor, Plan};
use crate::{TaskError, TaskErrorKind};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool as LoomBool, AtomicUsize};
use loom::thread;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A model bounded so that each test explores its interleavings in seconds.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

/// Everything a worker claims from `cursor`, `n` at a time.
fn claim_all(cursor: &Cursor, n: usize) -> Vec<usize> {
    let mut got = Vec::new();
    while let Some(range) = cursor.claim(n) {
        got.extend(range);
    }
    got
}

fn assert_each_once(len: usize, parts: &[Vec<usize>]) {
    let mut all: Vec<usize> = parts.iter().flatten().copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..len).collect::<Vec<_>>(), "each index exactly once");
}

#[test]
fn loom_claims_and_an_abort_hand_out_each_index_once() {
    model(|| {
        let cursor = Arc::new(Cursor::new(0..3, 2));
        let workers: Vec<_> = [1, usize::MAX]
            .into_iter()
            .map(|n| {
                let c = cursor.clone();
                thread::spawn(move || claim_all(&c, n))
            })
            .collect();
        let closed: Vec<usize> = cursor.close().collect();
        let mut parts: Vec<Vec<usize>> = workers.into_iter().map(|w| w.join().unwrap()).collect();
        parts.push(closed);
        assert_each_once(3, &parts);
    });
}

#[test]
fn loom_huge_claims_never_hand_out_an_index_twice() {
    model(|| {
        let cursor = Arc::new(Cursor::new(0..2, 2));
        let c = cursor.clone();
        let other = thread::spawn(move || claim_all(&c, 1 << 63));
        let mine = claim_all(&cursor, usize::MAX);
        assert_each_once(2, &[mine, other.join().unwrap()]);
    });
}

fn timeout_error(i: usize) -> Outcome<usize> {
    Err(Box::new(TaskError::new(
        Some(0),
        i,
        TaskErrorKind::Timeout,
        "late",
    )))
}

#[test]
fn loom_completion_racing_a_time_limit_resolves_once() {
    model(|| {
        let slots = Arc::new(Slots::<usize>::new(1));
        let flag = AtomicBool::new(false);
        let s = slots.clone();
        let worker = thread::spawn(move || s.resolve(0, Ok(7), &AtomicBool::new(false)));
        let timed_out = slots.resolve(0, timeout_error(0), &flag);
        let completed = worker.join().unwrap();
        assert!(completed != timed_out, "exactly one resolve wins");
        let outcome = slots.take_all().pop().unwrap();
        assert_eq!(outcome.is_ok(), completed);
    });
}

#[test]
fn loom_an_abort_racing_completion_finishes_each_item_once() {
    model(|| {
        let cursor = Arc::new(Cursor::new(0..2, 2));
        let slots = Arc::new(Slots::<usize>::new(2));
        let finished = Arc::new(AtomicUsize::new(0));
        let (c, s, f) = (cursor.clone(), slots.clone(), finished.clone());
        let worker = thread::spawn(move || {
            let flag = AtomicBool::new(false);
            while let Some(range) = c.claim(1) {
                for i in range {
                    s.resolve(i, Ok(i), &flag);
                    f.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        let flag = AtomicBool::new(true);
        for i in cursor.close() {
            slots.resolve(i, never_started(i), &flag);
            finished.fetch_add(1, Ordering::SeqCst);
        }
        worker.join().unwrap();
        assert_eq!(finished.load(Ordering::SeqCst), 2);
        let outcomes = slots.take_all();
        for (i, o) in outcomes.iter().enumerate() {
            match o {
                Ok(v) => assert_eq!(*v, i),
                Err(e) => assert_eq!(e.kind, TaskErrorKind::Cancelled),
            }
        }
    });
}

/// A result that counts its creations and drops per item, and fails the model if one
/// item's result is dropped twice.
struct Counted {
    item: usize,
    counts: Arc<Counts>,
}

/// Per item: results created, results dropped.
struct Counts {
    created: [AtomicUsize; 2],
    dropped: [AtomicUsize; 2],
}

impl Counts {
    fn new() -> Counts {
        Counts {
            created: [AtomicUsize::new(0), AtomicUsize::new(0)],
            dropped: [AtomicUsize::new(0), AtomicUsize::new(0)],
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let before = self.counts.dropped[self.item].fetch_add(1, Ordering::SeqCst);
        assert_eq!(before, 0, "the result of item {} dropped twice", self.item);
    }
}

/// A real job of two items whose results are [`Counted`], held in a loom `Arc` so that
/// the model checks which thread's drop is the last and what it may still see.
fn counted_job(counts: &Arc<Counts>) -> Arc<Job<'static, Counted>> {
    let c = counts.clone();
    let job = Job::new(
        2,
        Plan::Dynamic { chunk: 1 },
        &[0],
        None,
        Box::new(move |_, item| {
            c.created[item].fetch_add(1, Ordering::SeqCst);
            Ok(Counted {
                item,
                counts: c.clone(),
            })
        }),
    );
    let job = std::sync::Arc::try_unwrap(job).unwrap_or_else(|_| unreachable!("a new job"));
    Arc::new(job)
}

/// The last handle (an `AsyncMapResult` going out of scope, after an `abort()` when
/// `abort`) dropped while a worker still runs the job: whichever drops the job last,
/// every result a task produced is dropped exactly once, after its write (loom checks
/// the slot cells' accesses and the `Arc`'s release and acquire).
fn last_handle_dropped_while_a_worker_runs(abort: bool) {
    model(move || {
        let counts = Arc::new(Counts::new());
        let job = counted_job(&counts);
        let running = job.clone();
        let worker = thread::spawn(move || {
            let shared = Shared::new(1);
            Task::run(&*running, &shared, 0, 0);
        });
        // The handle reads a result in place (`iter()`) while the worker may be
        // writing the other one.
        if let Some(Ok(first)) = job.peek(0) {
            assert_eq!(first.item, 0);
        }
        if abort {
            job.abort();
        }
        drop(job);
        worker.join().unwrap();
        for item in 0..2 {
            let created = counts.created[item].load(Ordering::SeqCst);
            let dropped = counts.dropped[item].load(Ordering::SeqCst);
            assert!(abort || created == 1, "item {item} ran unless aborted");
            assert_eq!(dropped, created, "item {item}: each result dropped once");
        }
    });
}

#[test]
fn loom_the_last_handle_dropped_mid_run_drops_each_result_once() {
    last_handle_dropped_while_a_worker_runs(false);
}

#[test]
fn loom_an_aborted_handle_dropped_mid_run_drops_each_result_once() {
    last_handle_dropped_while_a_worker_runs(true);
}

/// A one-item call's core, shared by a model's threads.
fn one_item_core() -> Arc<Core> {
    Arc::new(Core::new(1, Plan::Dynamic { chunk: 1 }, &[0], None))
}

/// A waiter with a deadline, racing the worker's completion. loom never times a wait
/// out (see `sync.rs`), so a lost wake-up would leave the waiter blocked for ever and
/// fail the model as a deadlock: the waiter does not depend on its timeout or the
/// interrupt poll to see the completion.
#[test]
fn loom_a_timed_waiter_racing_completion_is_woken() {
    model(|| {
        let core = one_item_core();
        let c = core.clone();
        let worker = thread::spawn(move || c.publish(1, 1, 0, 0));
        let deadline = Instant::now().checked_add(Duration::from_secs(3600));
        assert_eq!(
            core.wait(&|c| c.ready(), deadline, false, &|| {}),
            Wait::Met
        );
        worker.join().unwrap();
    });
}

/// The waiter's timeout firing at any point of the race with completion (a timer
/// thread that marks it expired and wakes the sleepers, as the end of a timed sleep
/// does): the waiter returns, having seen the completion or the timeout, and is never
/// left asleep.
#[test]
fn loom_a_timeout_racing_completion_never_strands_the_waiter() {
    model(|| {
        let core = one_item_core();
        let expired = Arc::new(LoomBool::new(false));
        let c = core.clone();
        let worker = thread::spawn(move || c.publish(1, 1, 0, 0));
        let (c, e) = (core.clone(), expired.clone());
        let timer = thread::spawn(move || {
            e.store(true, Ordering::SeqCst);
            c.notify();
        });
        let woke = core.wait(
            &|c| c.ready() || expired.load(Ordering::SeqCst),
            None,
            false,
            &|| {},
        );
        assert_eq!(woke, Wait::Met);
        assert!(core.ready() || expired.load(Ordering::SeqCst));
        worker.join().unwrap();
        timer.join().unwrap();
        assert!(core.ready() && core.all_finished());
    });
}
