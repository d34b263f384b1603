//! The core on its own: jobs run by hand on the test thread (`Task::run` with a
//! thread-less [`Shared`]), so each case controls exactly who claims what.

use super::*;
use crate::State;
use crate::registry::Shared;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::Instant;

fn body<'a, R: Send + 'a>(f: impl Fn(usize) -> R + Send + Sync + 'a) -> Body<'a, R> {
    Box::new(move |_, i| Ok(f(i)))
}

fn kinds<R>(outcomes: &[Outcome<R>]) -> Vec<Option<TaskErrorKind>> {
    outcomes
        .iter()
        .map(|o| o.as_ref().err().map(|e| e.kind))
        .collect()
}

#[test]
fn one_worker_runs_every_item_once_in_chunks() {
    let shared = Shared::new(1);
    let calls = AtomicUsize::new(0);
    let job = Job::new(
        10,
        Plan::Dynamic { chunk: 3 },
        &[0],
        None,
        body(|i| {
            calls.fetch_add(1, Ordering::Relaxed);
            i * 2
        }),
    );
    assert_eq!(job.core().state(), State::Pending);
    job.run(&shared, 0, 0);
    assert_eq!(calls.load(Ordering::Relaxed), 10);
    assert!(job.core().ready() && job.core().all_finished());
    assert_eq!(job.core().state(), State::Done);
    assert!(job.core().completed().is_some());
    let values = collect(job.take_all()).unwrap();
    assert_eq!(values, (0..10).map(|i| i * 2).collect::<Vec<_>>());
}

#[test]
fn static_plan_gives_each_position_its_own_block() {
    let shared = Shared::new(3);
    let job = Job::new(7, Plan::Static, &[0, 1, 2], None, body(|i| i));
    job.run(&shared, 1, 1);
    let resolved: Vec<bool> = (0..7).map(|i| job.is_resolved(i)).collect();
    // partition(7, 3) = [0..3, 3..5, 5..7]
    assert_eq!(
        resolved,
        [false, false, false, true, true, false, false],
        "position 1 ran block 1 only"
    );
    assert_eq!(job.core().state(), State::Running);
    job.run(&shared, 0, 0);
    job.run(&shared, 2, 2);
    assert_eq!(collect(job.take_all()).unwrap(), (0..7).collect::<Vec<_>>());
}

#[test]
fn failures_map_to_their_kinds_and_count() {
    crate::panic_hook::install();
    let shared = Shared::new(1);
    let job: Arc<Job<'_, u8>> = Job::new(
        4,
        Plan::Dynamic { chunk: 4 },
        &[0],
        None,
        Box::new(|_, i| match i {
            0 => Ok(1),
            1 => Err(Failure::Error("bad".into())),
            2 => Err(Failure::Item("unreadable".into())),
            _ => panic!("boom"),
        }),
    );
    job.run(&shared, 0, 0);
    assert_eq!(job.core().failed(), 3);
    assert_eq!(job.core().state(), State::Failed);
    let errors = job.errors();
    assert_eq!(errors.len(), 3);
    assert_eq!(
        errors[2].location.as_deref().map(|l| l.contains("test.rs")),
        Some(true)
    );
    assert_eq!(
        kinds(&job.take_all()),
        [
            None,
            Some(TaskErrorKind::Error),
            Some(TaskErrorKind::Item),
            Some(TaskErrorKind::Panic)
        ]
    );
}

#[test]
fn abort_resolves_unclaimed_items_and_later_claims_get_nothing() {
    let shared = Shared::new(2);
    let ran = AtomicUsize::new(0);
    let job = Job::new(
        5,
        Plan::Dynamic { chunk: 1 },
        &[0, 1],
        None,
        body(|_| ran.fetch_add(1, Ordering::Relaxed)),
    );
    job.abort();
    assert!(job.core().ready() && job.core().all_finished());
    assert_eq!(job.core().state(), State::Aborted);
    job.run(&shared, 0, 0);
    assert_eq!(ran.load(Ordering::Relaxed), 0);
    let outcomes = job.take_all();
    assert!(
        kinds(&outcomes)
            .iter()
            .all(|k| *k == Some(TaskErrorKind::Cancelled))
    );
}

#[test]
fn abort_during_a_claimed_chunk_skips_its_rest_and_cancels_the_running_task() {
    let shared = Shared::new(1);
    let job_slot: std::sync::OnceLock<Arc<Job<'static, bool>>> = std::sync::OnceLock::new();
    let job_slot = Arc::new(job_slot);
    let inside = job_slot.clone();
    let job = Job::new(
        4,
        Plan::Dynamic { chunk: 4 },
        &[0],
        None,
        body(move |i| {
            if i == 1 {
                inside.get().unwrap().abort();
            }
            crate::cancelled()
        }),
    );
    let _ = job_slot.set(job.clone());
    job.run(&shared, 0, 0);
    let outcomes = job.take_all();
    assert!(!*outcomes[0].as_ref().unwrap());
    assert!(
        *outcomes[1].as_ref().unwrap(),
        "the running task saw cancelled()"
    );
    assert_eq!(
        kinds(&outcomes[2..]),
        [
            Some(TaskErrorKind::Cancelled),
            Some(TaskErrorKind::Cancelled)
        ]
    );
}

#[test]
fn a_task_past_its_limit_is_failed_and_its_late_result_dropped() {
    let shared = Shared::new(1);
    let go = AtomicBool::new(false);
    let job = Job::new(
        2,
        Plan::Dynamic { chunk: 1 },
        &[0],
        Some(Duration::from_millis(5)),
        body(|i| {
            if i == 0 {
                while !go.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                }
            }
            i
        }),
    );
    std::thread::scope(|s| {
        s.spawn(|| job.run(&shared, 0, 0));
        while job.core().resolved() == 0 {
            std::thread::sleep(Duration::from_millis(2));
            job.check_timeouts();
        }
        go.store(true, Ordering::SeqCst);
    });
    let outcomes = job.take_all();
    assert_eq!(
        outcomes[0].as_ref().unwrap_err().kind,
        TaskErrorKind::Timeout
    );
    assert_eq!(*outcomes[1].as_ref().unwrap(), 1, "the worker went on");
    assert_eq!(job.core().failed(), 1);
}

#[test]
fn waits_time_out_and_see_conditions() {
    let job = Job::new(1, Plan::Static, &[0], None, body(|i| i));
    let start = Instant::now();
    let deadline = Some(start + Duration::from_millis(20));
    let waited = job.core().wait(&|c| c.ready(), deadline, false, &|| {});
    assert_eq!(waited, Wait::TimedOut);
    assert!(start.elapsed() >= Duration::from_millis(20));
    job.run(&Shared::new(1), 0, 0);
    assert_eq!(
        job.core().wait(&|c| c.ready(), None, false, &|| {}),
        Wait::Met
    );
    assert!(!wait::spin_until(Duration::from_micros(10), || false));
    assert!(wait::spin_until(Duration::ZERO, || true));
}

#[test]
fn an_ordered_stream_starts_items_only_inside_its_window() {
    let shared = Shared::new(1);
    let (stream, rx) = Stream::new(16, 2);
    let job = Job::streaming(5, Plan::Dynamic { chunk: 5 }, &[0], stream, body(|i| i));
    std::thread::scope(|s| {
        s.spawn(|| job.run(&shared, 0, 0));
        let first: Vec<usize> = (0..2).map(|_| rx.recv().unwrap().0).collect();
        assert_eq!(first, [0, 1]);
        std::thread::sleep(Duration::from_millis(20));
        assert!(rx.try_recv().is_err(), "item 2 waits for the consumer");
        job.stream().delivered(2);
        assert_eq!(rx.recv().unwrap().0, 2);
        job.abort();
    });
    assert!(job.core().all_finished());
    let rest: Vec<usize> = rx.try_iter().map(|(i, _)| i).collect();
    assert!(
        rest.iter().all(|&i| i == 3),
        "item 4 never started: {rest:?}"
    );
}

#[test]
fn scoped_calls_return_outcomes_in_order_and_refuse_nesting() {
    let client = Client::local(2).unwrap();
    let offset = 10;
    let body: Body<'_, usize> = Box::new(|_, i| Ok(i + offset));
    let out = run_scoped(&client, &[0, 1], 4, Plan::Static, None, body).unwrap();
    assert_eq!(collect(out).unwrap(), [10, 11, 12, 13]);
    let empty = run_scoped::<u8>(&client, &[0], 0, Plan::Static, None, body_never());
    assert!(empty.unwrap().is_empty());
    let inner = client.clone();
    let nested = client
        .view(0)
        .unwrap()
        .apply(move |_| run_scoped::<u8>(&inner, &[0], 1, Plan::Static, None, body_never()))
        .unwrap();
    assert!(matches!(
        nested[0],
        Err(crate::Error::WouldDeadlock { worker: 0 })
    ));
}

fn body_never<R: Send + 'static>() -> Body<'static, R> {
    Box::new(|_, _| unreachable!("no item runs"))
}
