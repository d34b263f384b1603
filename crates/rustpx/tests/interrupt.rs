//! Kernel interrupts reach every kind of wait. The interrupt flag is process-wide, so
//! the cases run one after another inside a single test.

use rustpx::{Client, Error, TaskErrorKind, interrupt};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Raises an interrupt `after` from now, from another thread (as SIGUSR1 would).
fn interrupt_in(after: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(after);
        interrupt::raise();
    })
}

fn spin_until_cancelled() {
    while !rustpx::cancelled() {
        std::thread::sleep(Duration::from_millis(1));
    }
}

// One scenario on purpose: the interrupt flag is process-wide, so every wait it must stop
// runs in one sequence on one client rather than in tests the harness runs in parallel.
#[test]
fn interrupts_abort_waits_within_a_second() {
    interrupt::clear();
    let rc = Client::local(2).unwrap();

    // A blocking, borrowing map: returns Interrupted once its running tasks stop.
    let started = AtomicUsize::new(0);
    let t = interrupt_in(Duration::from_millis(100));
    let start = Instant::now();
    let r = rc.load_balanced_view().chunksize(1).map(0..1000, |_| {
        started.fetch_add(1, Ordering::SeqCst);
        spin_until_cancelled();
    });
    t.join().unwrap();
    assert_eq!(r, Err(Error::Interrupted));
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(
        started.load(Ordering::SeqCst),
        2,
        "only the two running tasks ever started"
    );
    assert!(!interrupt::pending(), "the wait consumed the interrupt");

    // A direct apply.
    let t = interrupt_in(Duration::from_millis(50));
    assert_eq!(
        rc.direct_view().apply(|_| spin_until_cancelled()),
        Err(Error::Interrupted)
    );
    t.join().unwrap();

    // get() of a background map: returns without waiting for a task that ignores it.
    let started = Arc::new(AtomicUsize::new(0));
    let s = started.clone();
    let amr = rc
        .load_balanced_view()
        .chunksize(1)
        .map_async(0..100, move |_| {
            s.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300));
        });
    let t = interrupt_in(Duration::from_millis(50));
    let start = Instant::now();
    let errors_before = amr.errors().len();
    assert_eq!(errors_before, 0);
    let amr_state = {
        let r = amr.wait();
        assert_eq!(r, Err(Error::Interrupted));
        amr.state()
    };
    assert!(start.elapsed() < Duration::from_millis(200));
    assert_eq!(amr_state, rustpx::State::Aborted);
    t.join().unwrap();
    let errs = match amr.get() {
        Err(Error::Tasks(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(errs.len(), 100 - started.load(Ordering::SeqCst));
    assert!(errs.iter().all(|e| e.kind == TaskErrorKind::Cancelled));

    // wait_interactive.
    let amr = rc
        .load_balanced_view()
        .map_async(0..2, |_| spin_until_cancelled());
    let t = interrupt_in(Duration::from_millis(50));
    assert_eq!(amr.wait_interactive(), Err(Error::Interrupted));
    t.join().unwrap();

    // imap ends with one Cancelled error.
    let t = interrupt_in(Duration::from_millis(50));
    let got: Vec<_> = rc
        .load_balanced_view()
        .imap(0..10, |_| spin_until_cancelled())
        .collect();
    t.join().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].as_ref().unwrap_err().kind, TaskErrorKind::Cancelled);

    // Results that borrow from the caller are all dropped before an interrupted call
    // returns, also when another worker still holds the job in its queue.
    results_borrowing_the_caller_do_not_outlive_an_interrupted_call(&rc);

    // An interrupt cleared before anyone waits (the kernel's SIGUSR2 at cell end)
    // does not fail the next wait.
    interrupt::raise();
    interrupt::clear();
    assert_eq!(rc.direct_view().map(0..4, |x| x).unwrap(), vec![0, 1, 2, 3]);
}

/// A result that borrows the caller's counter and records its drop there.
struct Recorded<'a>(&'a AtomicUsize);

impl Drop for Recorded<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn results_borrowing_the_caller_do_not_outlive_an_interrupted_call(rc: &Client) {
    // Worker 1 stays busy, so the map's entry in its queue keeps the job alive.
    let release = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let r = release.clone();
    let busy = rc.view(1).unwrap().apply_async(move |_| {
        while !r.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let live = AtomicUsize::new(0);
    let t = interrupt_in(Duration::from_millis(50));
    let out = rc.load_balanced_view().chunksize(1).map(0..1000, |_| {
        live.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(1));
        Recorded(&live)
    });
    t.join().unwrap();
    let live_at_return = live.load(Ordering::SeqCst);
    release.store(true, Ordering::SeqCst);
    busy.wait().unwrap();
    assert!(matches!(out, Err(Error::Interrupted)));
    assert_eq!(
        live_at_return, 0,
        "every result was dropped before the call returned"
    );
}
