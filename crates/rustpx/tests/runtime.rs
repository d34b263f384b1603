//! The runtime as a notebook uses it: clients, views, results, failures, time limits.

use rustpx::{Client, Error, State, TaskErrorKind};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn tasks_error(e: Error) -> rustpx::TaskErrors {
    match e {
        Error::Tasks(t) => t,
        other => panic!("expected task errors, got {other:?}"),
    }
}

#[test]
fn dropping_the_last_handle_stops_and_joins_the_threads() {
    static EXITED: AtomicUsize = AtomicUsize::new(0);
    struct OnExit;
    impl Drop for OnExit {
        fn drop(&mut self) {
            EXITED.fetch_add(1, Ordering::SeqCst);
        }
    }
    thread_local!(static GUARD: std::cell::RefCell<Option<OnExit>> = const { std::cell::RefCell::new(None) });
    let rc = Client::local(3).unwrap();
    let view = rc.view(1..).unwrap();
    rc.direct_view()
        .apply(|_| GUARD.with(|g| *g.borrow_mut() = Some(OnExit)))
        .unwrap();
    drop(rc);
    assert_eq!(
        EXITED.load(Ordering::SeqCst),
        0,
        "a view still holds the workers"
    );
    drop(view);
    // Joined in drop: every thread-local destructor has run.
    assert_eq!(EXITED.load(Ordering::SeqCst), 3);
}

#[test]
fn direct_map_gives_each_worker_one_contiguous_block() {
    let rc = Client::local(3).unwrap();
    let owners = rc
        .direct_view()
        .map(0..10, |_| rustpx::worker_id())
        .unwrap();
    assert_eq!(owners, vec![0, 0, 0, 0, 1, 1, 1, 2, 2, 2]);
    let on_two = rc
        .view([2, 0])
        .unwrap()
        .map(0..3, |_| rustpx::worker_id())
        .unwrap();
    assert_eq!(on_two, vec![2, 2, 0]);
}

#[test]
fn empty_single_and_fewer_items_than_workers() {
    let rc = Client::local(4).unwrap();
    let (d, l) = (rc.direct_view(), rc.load_balanced_view());
    assert_eq!(d.map(Vec::<u8>::new(), |x| x).unwrap(), Vec::<u8>::new());
    assert_eq!(l.map(0..0, |x: i32| x).unwrap(), Vec::<i32>::new());
    assert_eq!(d.map(vec![7], |x| x + 1).unwrap(), vec![8]);
    assert_eq!(l.map(0..2, |x| x * 3).unwrap(), vec![0, 3]);
    let amr = l.map_async(Vec::<u8>::new(), |x| x);
    assert!(amr.ready());
    assert_eq!(amr.wall_time(), Some(Duration::ZERO));
    assert_eq!(amr.get().unwrap(), Vec::<u8>::new());
}

#[test]
fn blocking_calls_borrow_and_return_items_in_order() {
    let rc = Client::local(2).unwrap();
    let names: Vec<String> = (0..50).map(|i| format!("f{i}")).collect();
    let suffix = String::from(".png");
    let files = rc
        .load_balanced_view()
        .chunksize(3)
        .map(&names, |n| format!("{n}{suffix}"))
        .unwrap();
    assert_eq!(files[49], "f49.png");
    let lens = rc.direct_view().map(names.as_slice(), |n| n.len()).unwrap();
    assert_eq!(
        lens.iter().sum::<usize>(),
        names.iter().map(String::len).sum::<usize>()
    );
}

#[test]
fn every_task_panicking_is_reported_and_workers_survive() {
    let rc = Client::local(2).unwrap();
    for view_chunk in [None, Some(1)] {
        let mut l = rc.load_balanced_view();
        if let Some(c) = view_chunk {
            l = l.chunksize(c);
        }
        let errs = tasks_error(
            l.map(0..20, |i: i32| -> i32 { panic!("item {i} is bad") })
                .unwrap_err(),
        );
        assert_eq!((errs.len(), errs.total()), (20, 20));
        assert!(
            errs.iter()
                .all(|e| e.kind == TaskErrorKind::Panic && e.location.is_some())
        );
        assert_eq!(errs.errors()[5].message, "item 5 is bad");
        let text = errs.to_string();
        assert!(text.contains("... and 15 more"), "{text}");
    }
    let errs = tasks_error(
        rc.direct_view()
            .apply(|w| {
                if w.id() == 1 {
                    panic!("w1")
                }
            })
            .unwrap_err(),
    );
    assert_eq!(errs.errors()[0].worker, Some(1));
    // The workers are still there.
    assert_eq!(rc.direct_view().map(0..4, |x| x).unwrap(), vec![0, 1, 2, 3]);
}

#[test]
fn try_calls_turn_err_into_task_errors_and_others_still_run() {
    let rc = Client::local(2).unwrap();
    let ran = AtomicUsize::new(0);
    let r = rc.load_balanced_view().chunksize(1).try_map(0..10, |i| {
        ran.fetch_add(1, Ordering::SeqCst);
        if i % 3 == 0 {
            Err(format!("multiple of 3: {i}"))
        } else {
            Ok(i)
        }
    });
    let errs = tasks_error(r.unwrap_err());
    assert_eq!(
        errs.iter().map(|e| e.task).collect::<Vec<_>>(),
        vec![0, 3, 6, 9]
    );
    assert!(errs.iter().all(|e| e.kind == TaskErrorKind::Error));
    assert_eq!(ran.load(Ordering::SeqCst), 10);
    let ok = rc
        .direct_view()
        .try_apply(|w| Ok::<_, String>(w.id()))
        .unwrap();
    assert_eq!(ok.into_values(), vec![0, 1]);
}

#[test]
fn load_balancing_gives_work_to_the_idle_worker() {
    let rc = Client::local(2).unwrap();
    // Worker 0 is stuck in a long direct task; the load-balanced map runs on worker 1.
    let stuck = rc
        .view(0)
        .unwrap()
        .apply_async(|_| std::thread::sleep(Duration::from_millis(300)));
    std::thread::sleep(Duration::from_millis(20));
    let owners = rc
        .load_balanced_view()
        .chunksize(1)
        .map(0..20, |_| rustpx::worker_id())
        .unwrap();
    assert!(owners.iter().all(|&w| w == 1));
    let one = rc.load_balanced_view().apply(rustpx::worker_id).unwrap();
    assert_eq!(one, 1);
    stuck.get().unwrap();
}

#[test]
fn apply_with_hands_each_worker_its_own_mut_input() {
    let rc = Client::local(3).unwrap();
    let dview = rc.direct_view();
    let mut state = dview.push(Vec::<usize>::new());
    for _ in 0..3 {
        dview
            .apply_with(state.as_mut().into_values(), |w, v| v.push(w.id()))
            .unwrap();
    }
    assert_eq!(state[2], vec![2, 2, 2]);
    let err = dview.apply_with(vec![1, 2], |_, x| x).unwrap_err();
    assert_eq!(
        err,
        Error::InputLength {
            expected: 3,
            got: 2
        }
    );
}

#[test]
fn async_map_reports_progress_state_and_times() {
    let rc = Client::local(2).unwrap();
    let amr = rc
        .load_balanced_view()
        .chunksize(1)
        .map_async(0..8u64, |x| {
            std::thread::sleep(Duration::from_millis(20));
            x
        });
    assert_eq!(amr.len(), 8);
    assert!(!amr.ready());
    assert_eq!(amr.successful(), None);
    assert!(matches!(amr.state(), State::Pending | State::Running));
    assert!(!amr.wait_timeout(Duration::from_millis(1)));
    amr.wait().unwrap();
    assert_eq!(
        (amr.progress(), amr.state(), amr.successful()),
        (8, State::Done, Some(true))
    );
    let wall = amr.wall_time().unwrap();
    assert!(amr.serial_time() >= Duration::from_millis(160));
    assert!(wall >= Duration::from_millis(80) && amr.elapsed() >= wall);
    let speedup = amr.speedup().unwrap();
    assert!(speedup > 1.3 && speedup < 2.1, "speedup {speedup}");
    assert_eq!(
        amr.iter().map(|r| *r.unwrap()).collect::<Vec<_>>(),
        (0..8).collect::<Vec<_>>()
    );
    let done: HashSet<usize> = amr.iter_completed().map(|(i, _)| i).collect();
    assert_eq!(done.len(), 8);
    assert_eq!(amr.get().unwrap(), (0..8).collect::<Vec<_>>());
}

#[test]
fn abort_stops_pending_tasks_and_signals_running_ones() {
    let rc = Client::local(1).unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let s = started.clone();
    let amr = rc
        .load_balanced_view()
        .chunksize(1)
        .map_async(0..100, move |i| {
            s.fetch_add(1, Ordering::SeqCst);
            while !rustpx::cancelled() {
                std::thread::sleep(Duration::from_millis(1));
            }
            i
        });
    while started.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    amr.abort();
    amr.wait().unwrap();
    assert_eq!(amr.state(), State::Aborted);
    assert_eq!(
        started.load(Ordering::SeqCst),
        1,
        "pending tasks never start"
    );
    let errs = amr.errors();
    assert_eq!(errs.len(), 99);
    assert!(
        errs.iter()
            .all(|e| e.kind == TaskErrorKind::Cancelled && e.worker.is_none())
    );
    let errs = tasks_error(amr.get().unwrap_err());
    assert_eq!(errs.len(), 99);
    // The worker is free again.
    assert_eq!(
        rc.direct_view().apply(|w| w.id()).unwrap().into_values(),
        vec![0]
    );
}

#[test]
fn timeout_fails_only_the_slow_task_and_frees_the_worker() {
    let rc = Client::local(2).unwrap();
    let lview = rc
        .load_balanced_view()
        .chunksize(1)
        .timeout(Duration::from_millis(100));
    let r = lview.map(0..6, |i| {
        if i == 2 {
            while !rustpx::cancelled() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        i
    });
    let errs = tasks_error(r.unwrap_err());
    assert_eq!(errs.len(), 1);
    assert_eq!(
        (errs.errors()[0].task, errs.errors()[0].kind),
        (2, TaskErrorKind::Timeout)
    );

    // A 'static task that ignores cancellation: get() does not wait for it.
    let start = Instant::now();
    let ar = rc
        .view(0)
        .unwrap()
        .timeout(Duration::from_millis(50))
        .apply_async(|_| {
            std::thread::sleep(Duration::from_millis(700));
            1
        });
    let errs = tasks_error(ar.get().unwrap_err());
    assert_eq!(errs.errors()[0].kind, TaskErrorKind::Timeout);
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    // Worker 1 was never blocked; worker 0 takes new work once the task returns.
    assert_eq!(rc.view(0).unwrap().apply(|w| w.id()).unwrap()[0], 0);
}

#[test]
fn dropping_results_and_views_mid_run_does_not_deadlock() {
    let rc = Client::local(2).unwrap();
    let amr = rc
        .load_balanced_view()
        .chunksize(1)
        .map_async(0..1000, |i| {
            std::thread::sleep(Duration::from_millis(1));
            i
        });
    let imap = rc.load_balanced_view().imap(0..1000, |i| i);
    let lview = rc.load_balanced_view();
    drop(imap);
    drop(lview);
    drop(rc);
    assert!(amr.progress() < 1000);
    let start = Instant::now();
    drop(amr); // last handle: threads finish their current task, stop and are joined
    assert!(
        start.elapsed() < Duration::from_millis(100),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn nested_blocking_call_on_own_worker_is_an_error() {
    let rc = Client::local(2).unwrap();
    let inner = rc.clone();
    let r = rc
        .view(0)
        .unwrap()
        .apply(|_| inner.direct_view().map(0..4, |x| x));
    let nested = r.unwrap().into_values().pop().unwrap();
    assert_eq!(nested, Err(Error::WouldDeadlock { worker: 0 }));
    // A view that excludes the calling worker works.
    let other = rc
        .view(0)
        .unwrap()
        .apply(|_| inner.view(1).unwrap().map(0..4, |x| x + 1))
        .unwrap();
    assert_eq!(other[0], Ok(vec![1, 2, 3, 4]));
}

#[test]
fn client_lookups_targets_and_stats() {
    let rc = Client::local(4).unwrap();
    assert_eq!(Client::local(0).unwrap_err(), Error::NoWorkers);
    assert!(matches!(
        rc.view(9),
        Err(Error::UnknownWorker { id: 9, .. })
    ));
    assert!(rc.load_balanced_view_on([1, 7]).is_err());
    assert_eq!(
        rc.view(rustpx::Targets::parse("::2").unwrap())
            .unwrap()
            .targets(),
        &[0, 2]
    );
    assert_eq!(rc.load_balanced_view_on(2..).unwrap().targets(), &[2, 3]);
    rc.load_balanced_view().map(0..100, |x| x).unwrap();
    let stats = rc.worker_stats();
    assert_eq!(stats.len(), 4);
    assert_eq!(stats.iter().map(|s| s.tasks_done).sum::<u64>(), 100);
    assert_eq!(
        Client::new().unwrap().len(),
        std::thread::available_parallelism().unwrap().get()
    );
}

#[test]
fn default_client_and_active_view() {
    let rc = rustpx::set_default_workers(3).unwrap();
    assert!(rc.same_as(&rustpx::default_client().unwrap()));
    assert_eq!(rustpx::active_view().unwrap().targets(), &[0, 1, 2]);
    rc.view(1..).unwrap().activate();
    assert_eq!(rustpx::active_view().unwrap().targets(), &[1, 2]);
    // Restarting the default client drops the activation on the old one.
    rustpx::set_default_workers(2).unwrap();
    assert_eq!(rustpx::active_view().unwrap().targets(), &[0, 1]);
    assert!(rustpx::set_default_workers(0).is_err());
    assert_eq!(rustpx::default_client().unwrap().len(), 2);
}

#[test]
fn worker_id_outside_a_worker_panics_with_a_clear_message() {
    assert_eq!(rustpx::current_worker(), None);
    let msg = std::panic::catch_unwind(rustpx::worker_id).unwrap_err();
    let text = msg
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| msg.downcast_ref::<String>().cloned());
    assert!(text.unwrap().contains("outside a worker"));
}

#[test]
fn imap_unordered_yields_as_completed_and_reports_errors() {
    let rc = Client::local(2).unwrap();
    let lview = rc.load_balanced_view().ordered(false).chunksize(1);
    let first = lview
        .imap(0..4u64, |i| {
            std::thread::sleep(Duration::from_millis(if i == 0 { 200 } else { 1 }));
            i
        })
        .next()
        .unwrap()
        .unwrap();
    assert_ne!(first, 0, "a fast item arrives before the slow first one");
    let results: Vec<_> = rc
        .load_balanced_view()
        .imap(0..5, |i| if i == 3 { panic!("three") } else { i })
        .collect();
    assert_eq!(results.len(), 5);
    assert_eq!(results[3].as_ref().unwrap_err().message, "three");
    assert_eq!(results[4], Ok(4));
}

#[test]
fn imap_keeps_memory_bounded_for_100k_one_kib_results() {
    static LIVE: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);
    struct Buf(#[allow(dead_code)] Vec<u8>);
    impl Buf {
        fn new() -> Buf {
            let live = LIVE.fetch_add(1, Ordering::SeqCst) + 1;
            PEAK.fetch_max(live, Ordering::SeqCst);
            Buf(vec![0; 1024])
        }
    }
    impl Drop for Buf {
        fn drop(&mut self) {
            LIVE.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let rc = Client::local(2).unwrap();
    for ordered in [true, false] {
        PEAK.store(0, Ordering::SeqCst);
        let n = rc
            .load_balanced_view()
            .ordered(ordered)
            .imap(0..100_000, |_| Buf::new())
            .filter(Result::is_ok)
            .count();
        assert_eq!(n, 100_000);
        let peak = PEAK.load(Ordering::SeqCst);
        // Channel (2 per worker) + reorder window (4 * workers * chunk) + in flight.
        assert!(
            peak <= 600,
            "peak {peak} live 1 KiB results (ordered: {ordered})"
        );
        eprintln!("imap ordered={ordered}: peak {peak} live results of 100000");
    }
}

#[test]
fn huge_chunk_sizes_take_each_item_once() {
    let rc = Client::local(3).unwrap();
    for chunk in [1 << 63, usize::MAX] {
        for _ in 0..5 {
            let taken: Vec<AtomicUsize> = (0..50).map(|_| AtomicUsize::new(0)).collect();
            // Slow enough that every worker tries to claim while the first runs.
            let out = rc
                .load_balanced_view()
                .chunksize(chunk)
                .map(0..50usize, |i| {
                    std::thread::sleep(Duration::from_micros(200));
                    taken[i].fetch_add(1, Ordering::SeqCst)
                })
                .unwrap();
            assert!(out.iter().all(|&before| before == 0), "chunksize {chunk}");
            assert!(taken.iter().all(|t| t.load(Ordering::SeqCst) == 1));
            let owned: Vec<String> = (0..9).map(|i| i.to_string()).collect();
            let lens = rc.load_balanced_view().chunksize(chunk).map(owned, |s| {
                std::thread::sleep(Duration::from_micros(200));
                s.len()
            });
            assert_eq!(lens.unwrap(), vec![1; 9], "a Vec item is moved out once");
        }
    }
}

#[test]
fn extreme_numbers_and_empty_inputs_are_ordinary() {
    let rc = Client::local(3).unwrap();
    let lview = rc.load_balanced_view();
    let amr = lview.map_async(0..10u64, |x| x);
    assert!(amr.wait_timeout(Duration::MAX), "an unbounded wait");
    assert!(amr.wait_timeout(Duration::ZERO));
    let empty = lview.map_async(Vec::<u8>::new(), |x| x);
    assert!(empty.wait_timeout(Duration::MAX) && empty.wait_timeout(Duration::ZERO));
    let ar = rc.direct_view().apply_async(|w| w.id());
    assert!(ar.wait_timeout(Duration::MAX));
    assert_eq!(
        lview.chunksize(0).map(0..5, |x| x).unwrap(),
        vec![0, 1, 2, 3, 4]
    );
    let unlimited = rc.direct_view().timeout(Duration::MAX);
    assert_eq!(unlimited.map(0..4, |x| x * 2).unwrap(), vec![0, 2, 4, 6]);
    for ordered in [true, false] {
        let huge = lview.ordered(ordered).chunksize(usize::MAX);
        let mut got: Vec<u32> = huge.imap(0..100u32, |x| x).map(Result::unwrap).collect();
        got.sort();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        assert_eq!(huge.imap(Vec::<u8>::new(), |x| x).count(), 0);
    }
    assert!(matches!(Client::local(usize::MAX), Err(Error::Spawn(_))));
    assert!(matches!(
        rustpx::set_default_workers(usize::MAX),
        Err(Error::Spawn(_))
    ));
}
