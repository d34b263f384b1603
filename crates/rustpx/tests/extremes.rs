//! Extreme and empty inputs to the public functions of frames, display and compute: each
//! gives a value or an error that names the problem, never a panic.

use ndarray::{Array2, Array3};
use rustpx::compute::{ParallelCompute, choose_workers, parallel_compute};
use rustpx::display::{Canvas, LinePlot, Png, Table, format_duration, speedup_plot, time_plot};
use rustpx::frames::{Frame, ImageSequence, write_sequence};
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
