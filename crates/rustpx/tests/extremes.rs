//! Extreme and empty inputs to the public functions of frames, display, compute and the
//! views' maps: each gives a value or an error that names the problem, never a panic.

use ndarray::{Array2, Array3};
use rustpx::Client;
use rustpx::compute::{ParallelCompute, choose_workers, parallel_compute};
use rustpx::display::{Canvas, LinePlot, Png, Table, format_duration, speedup_plot, time_plot};
use rustpx::frames::{Frame, ImageSequence, write_sequence};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[test]
fn empty_and_missing_frames_are_errors_naming_the_input() {
    let err = ImageSequence::open("").unwrap_err().to_string();
    assert!(err.contains("no files match ``"), "{err}");
    let err = ImageSequence::open("/no/such/dir/*.png")
        .unwrap_err()
        .to_string();
    assert!(err.contains("/no/such/dir/*.png"), "{err}");
    let err = ImageSequence::open("[").unwrap_err().to_string();
    assert!(err.contains('['), "{err}");
    let seq = ImageSequence::from_paths(["a.png"]);
    assert_eq!(seq.slice(usize::MAX..).len(), 0);
    assert_eq!(seq.slice(..=usize::MAX).len(), 1);
    assert!(seq.get(usize::MAX).is_err());
    assert!(seq.gray().get(0).unwrap_err().to_string().contains("a.png"));
    let err = Frame::open("/no/such.png").unwrap_err().to_string();
    assert!(err.contains("/no/such.png"), "{err}");
}

#[test]
fn frames_with_no_pixels_are_errors_when_encoded() {
    let dir = tempfile::tempdir().unwrap();
    let empty = Frame::from(Array2::<u8>::zeros((0, 0)));
    assert!(empty.save(dir.path().join("e.png")).is_err());
    assert!(Png::gray(&Array2::<f32>::zeros((0, 5))).is_err());
    assert!(Png::rgb8(&Array3::<u8>::zeros((3, 0, 3))).is_err());
    assert!(Png::from_bytes(Vec::new()).is_err());
    assert!(Canvas::gray(&Array2::<f32>::zeros((0, 0))).png().is_err());
    let written = write_sequence(dir.path(), "f", "png", Vec::<Array2<u8>>::new()).unwrap();
    assert!(written.is_empty());
    let err = write_sequence(dir.path(), "f", "nope", [Array2::<u8>::zeros((2, 2))]);
    assert!(err.unwrap_err().to_string().contains("f0.nope"));
}

#[test]
fn pixels_of_any_value_render() {
    let odd = Array2::from_shape_vec((1, 4), vec![f32::NAN, f32::INFINITY, f32::MIN, 0.0]).unwrap();
    assert!(Png::gray(&odd).is_ok());
    let canvas = Canvas::gray(&Array2::<f32>::zeros((4, 4)))
        .circle(f64::MAX, f64::MIN, f64::MAX, rustpx::display::RED)
        .circle(1.0, 1.0, -3.0, rustpx::display::RED)
        .circles(
            [(f64::NAN, 0.0), (1e300, -1e300)],
            1.0,
            rustpx::display::RED,
        );
    assert!(canvas.png().is_ok());
}

#[test]
fn plots_and_tables_take_empty_and_extreme_series() {
    for runs in [
        vec![],
        vec![(0, Duration::ZERO)],
        vec![(1, Duration::MAX), (2, Duration::ZERO)],
        vec![(usize::MAX, Duration::from_nanos(1))],
    ] {
        let _ = time_plot(&runs).map(|svg| svg.text().to_string());
        let _ = speedup_plot(&runs).map(|svg| svg.text().to_string());
    }
    let plot = LinePlot::new("t")
        .size(0, 0)
        .line("nan", vec![(f64::NAN, f64::INFINITY), (0.0, f64::MAX)])
        .points("none", Vec::<(f64, f64)>::new());
    let _ = plot.svg();
    let _ = plot.text();
    let table = Table::new(["a", "b"]).row([1]).row([1, 2, 3]);
    assert!(table.html().contains("<td>3</td>") || table.html().contains(">3<"));
    assert!(!table.text().is_empty());
    assert!(Table::new(Vec::<String>::new()).html().contains("<table"));
}

#[test]
fn durations_format_at_the_extremes() {
    assert!(format_duration(Duration::MAX).ends_with(" s"));
    assert_eq!(format_duration(Duration::ZERO), "0.00 ns");
}

#[test]
fn parallel_compute_takes_no_items_and_extreme_requests() {
    let (out, report) = parallel_compute(Vec::<u8>::new(), |x| x).unwrap();
    assert!(out.is_empty());
    assert!(report.workers >= 1);
    let (out, _) = ParallelCompute::new()
        .workers(0)
        .quiet()
        .run(0..3u8, |x| x)
        .unwrap();
    assert_eq!(out, [0, 1, 2]);
    let (out, _) = ParallelCompute::new()
        .workers(usize::MAX)
        .quiet()
        .run(0..3u8, |x| x)
        .unwrap();
    assert_eq!(out, [0, 1, 2]);
    assert_eq!(choose_workers(0, Duration::MAX, 0, Some(usize::MAX)).0, 1);
    assert!(choose_workers(usize::MAX, Duration::MAX, usize::MAX, None).0 >= 1);
}

/// A map body that counts its calls, so a test can tell that no task ran.
fn counting(calls: &Arc<AtomicUsize>) -> impl Fn(u64) -> u64 + Send + Sync + 'static {
    let calls = calls.clone();
    move |x| {
        calls.fetch_add(1, Ordering::SeqCst);
        x
    }
}

/// Asserts `err` is a refusal of a too large input whose message names `count`.
fn assert_refused(err: &rustpx::Error, count: &str) {
    assert!(
        matches!(
            err,
            rustpx::Error::TooManyItems {
                limit: usize::MAX,
                ..
            } | rustpx::Error::OutOfMemory { .. }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("too many items") || text.contains("out of memory"),
        "{text}"
    );
    assert!(
        text.contains(count),
        "the message names the count {count}: {text}"
    );
}

#[test]
fn ranges_longer_than_usize_are_refused_before_any_task_runs() {
    let rc = Client::local(2).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let all_i64 = "18446744073709551616"; // 2^64
    let err = rc
        .direct_view()
        .map(i64::MIN..=i64::MAX, |x| x)
        .unwrap_err();
    assert_refused(&err, all_i64);
    let err = rc
        .load_balanced_view()
        .map(0..=u64::MAX, counting(&calls))
        .unwrap_err();
    assert_refused(&err, all_i64);
    let amr = rc
        .load_balanced_view()
        .map_async(0..=u64::MAX, counting(&calls));
    assert!(amr.ready() && amr.successful() == Some(false));
    assert_refused(&amr.wait().unwrap_err(), all_i64);
    assert_refused(&amr.get().unwrap_err(), all_i64);
    let amr = rc.direct_view().map_async(i64::MIN..=i64::MAX, |x| x);
    assert_eq!(amr.state(), rustpx::State::Failed);
    assert!(amr.wait_timeout(Duration::ZERO) && amr.wait_interactive().is_err());
    let items: Vec<_> = amr.iter().collect();
    assert!(items.len() == 1 && items[0].as_ref().unwrap_err().message.contains(all_i64));
    assert_eq!(amr.iter_completed().count(), 1);
    assert_refused(&amr.get().unwrap_err(), all_i64);
    let mut imap = rc.load_balanced_view().imap(0..=u64::MAX, counting(&calls));
    let first = imap.next().unwrap().unwrap_err();
    assert!(first.message.contains(all_i64), "{first}");
    assert!(imap.next().is_none());
    assert_eq!(calls.load(Ordering::SeqCst), 0, "no task ran");
}

#[test]
fn maps_too_large_to_hold_their_results_are_refused_not_aborted() {
    let rc = Client::local(2).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = counting(&calls);
    let f = move |x: usize| counted(x as u64);
    let huge = usize::MAX.to_string();
    let err = rc.load_balanced_view().map(0..usize::MAX, &f).unwrap_err();
    assert_refused(&err, &huge);
    let err = rc.direct_view().map(0..usize::MAX, &f).unwrap_err();
    assert_refused(&err, &huge);
    let err = rc
        .direct_view()
        .map(0..u64::MAX, counting(&calls))
        .unwrap_err();
    assert_refused(&err, &u64::MAX.to_string());
    let f = Arc::new(f);
    let g = f.clone();
    let amr = rc
        .load_balanced_view()
        .map_async(0..usize::MAX, move |x| g(x));
    assert_refused(&amr.get().unwrap_err(), &huge);
    let amr = rc.direct_view().map_async(0..usize::MAX, move |x| f(x));
    assert_refused(&amr.get().unwrap_err(), &huge);
    let err = ParallelCompute::new()
        .quiet()
        .client(&rc)
        .run(0..usize::MAX, |x| x)
        .unwrap_err();
    assert_refused(&err, &huge);
    assert_eq!(calls.load(Ordering::SeqCst), 0, "no task ran");
}

#[test]
fn ranges_at_the_ends_of_their_types_map_every_item() {
    let rc = Client::local(2).unwrap();
    let top = rc
        .load_balanced_view()
        .map(i64::MAX - 10..=i64::MAX, |x| x)
        .unwrap();
    assert_eq!(top, (i64::MAX - 10..=i64::MAX).collect::<Vec<_>>());
    let bottom = rc.direct_view().map(i64::MIN..i64::MIN + 3, |x| x).unwrap();
    assert_eq!(bottom, [i64::MIN, i64::MIN + 1, i64::MIN + 2]);
    let bytes = rc.direct_view().map_async(0..=255u8, |x| x).get().unwrap();
    assert_eq!(bytes, (0..=255u8).collect::<Vec<_>>());
    let top = rc
        .direct_view()
        .map_async(u64::MAX - 2..=u64::MAX, |x| x)
        .get()
        .unwrap();
    assert_eq!(top, [u64::MAX - 2, u64::MAX - 1, u64::MAX]);
    let all_i8: Vec<i8> = rc
        .load_balanced_view()
        .imap(i8::MIN..=i8::MAX, |x| x)
        .map(Result::unwrap)
        .collect();
    assert_eq!(all_i8.len(), 256);
}

#[test]
fn maps_beyond_any_address_space_are_refused_not_aborted() {
    let rc = Client::local(2).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    // Few enough for a `Vec` to count the bytes (no capacity overflow) but more than any
    // address space: the allocator itself fails, which used to abort the process.
    let beyond_memory = 1u64 << 62;
    let err = rc
        .load_balanced_view()
        .map(0..beyond_memory, counting(&calls))
        .unwrap_err();
    assert_refused(&err, &beyond_memory.to_string());
    let amr = rc
        .direct_view()
        .map_async(0..beyond_memory, counting(&calls));
    assert_refused(&amr.get().unwrap_err(), &beyond_memory.to_string());
    assert_eq!(calls.load(Ordering::SeqCst), 0, "no task ran");
}
