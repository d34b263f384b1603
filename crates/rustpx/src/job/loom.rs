//! The claim and slot protocols under the `loom` model checker, every interleaving of
//! a few threads: claims racing claims and an abort's close (an interrupt arriving
//! during a claim), a worker's completion racing a time limit, an abort racing
//! completion. Run with
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p rustpx --lib loom`.

use super::slots::{Outcome, Sink, Slots, never_started};
use crate::schedule::Cursor;
use crate::{TaskError, TaskErrorKind};
use loom::sync::Arc;
use loom::sync::atomic::AtomicUsize;
use loom::thread;
use std::sync::atomic::{AtomicBool, Ordering};

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
