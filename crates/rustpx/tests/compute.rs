//! `parallel_compute` on a real client: results, the report, failures.

use ndarray::Array2;
use rustpx::compute::{Limit, ParallelCompute, parallel_compute};
use rustpx::{Client, Error, TaskErrorKind};
use std::time::{Duration, Instant};

/// Busy-waits: sleeping would not show parallelism on a loaded machine any better,
/// but it keeps the test's cost independent of CPU speed.
fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// The index of the largest value of a spectrum.
fn peak(s: ndarray::ArrayView1<f64>) -> usize {
    s.iter()
        .enumerate()
        .fold(0, |best, (j, &v)| if v > s[best] { j } else { best })
}

#[test]
fn spectra_match_the_serial_loop_in_order() {
    let spectra = Array2::from_shape_fn((4096, 119), |(i, j)| {
        -((j as f64 - (i % 100) as f64 - 10.0).powi(2))
    });
    let serial: Vec<usize> = spectra.rows().into_iter().map(peak).collect();
    let rc = Client::local(2).unwrap();
    let (parallel, report) = ParallelCompute::new()
        .client(&rc)
        .quiet()
        .run(&spectra, peak)
        .unwrap();
    assert_eq!(parallel, serial);
    assert_eq!(report.items, 4096);
    assert!(report.sampled >= 1 && report.sampled <= 410, "{report:?}");
    assert!(report.elapsed > Duration::ZERO);
    assert!(
        report
            .to_string()
            .starts_with("parallel_compute: 4096 items at ~"),
        "{report}"
    );
}

#[test]
fn expensive_items_get_the_workers_cheap_ones_run_serially() {
    let rc = Client::local(2).unwrap();
    let cores = std::thread::available_parallelism().unwrap().get();
    let run = ParallelCompute::new().client(&rc).quiet();
    let (out, report) = run
        .run(0..40u32, |i| {
            spin(Duration::from_millis(1));
            i
        })
        .unwrap();
    assert_eq!(out, (0..40).collect::<Vec<_>>());
    let expected = rustpx::compute::default_worker_cap(cores).min(2);
    assert_eq!(report.workers, expected, "{report:?}");

    let (_, report) = run.run(0..50u32, |i| i + 1).unwrap();
    assert_eq!(
        (report.workers, report.limit),
        (1, Limit::Work),
        "{report:?}"
    );

    let (_, report) = run
        .clone()
        .workers(1)
        .run(0..40u32, |i| {
            spin(Duration::from_millis(1));
            i
        })
        .unwrap();
    assert_eq!((report.workers, report.limit), (1, Limit::Requested));
}

#[test]
fn failures_in_the_sample_and_the_rest_are_reported_together() {
    let rc = Client::local(2).unwrap();
    let err = ParallelCompute::new()
        .client(&rc)
        .quiet()
        .run(0..200usize, |i| {
            spin(Duration::from_micros(200));
            if i == 0 || i == 150 {
                panic!("bad spectrum {i}");
            }
            i
        })
        .unwrap_err();
    let Error::Tasks(errors) = err else {
        panic!("expected task errors, got {err}")
    };
    let failed: Vec<(usize, TaskErrorKind)> = errors.iter().map(|e| (e.task, e.kind)).collect();
    assert_eq!(
        failed,
        [(0, TaskErrorKind::Panic), (150, TaskErrorKind::Panic)]
    );
    assert_eq!(errors.errors()[1].message, "bad spectrum 150");
    assert_eq!(errors.total(), 200);
}

#[test]
fn empty_and_single_inputs() {
    let rc = Client::local(2).unwrap();
    let (out, report) = ParallelCompute::new()
        .client(&rc)
        .quiet()
        .run(Vec::<u8>::new(), |x| x)
        .unwrap();
    assert!(out.is_empty());
    assert_eq!((report.items, report.sampled, report.workers), (0, 0, 1));
    let (out, _) = parallel_compute(vec![7u8], |x| x * 2).unwrap();
    assert_eq!(out, [14]);
}
