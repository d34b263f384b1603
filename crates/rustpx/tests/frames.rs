//! Maps over real on-disk image sequences and in-memory stacks, through the views.

use ndarray::{Array2, Array3, ArrayView2, Axis};
use rustpx::frames::{Frame, write_sequence};
use rustpx::{Client, Error, ImageSequence, TaskErrorKind};
use std::path::Path;
use std::sync::Arc;

/// The brightest pixel as (row, column).
fn brightest(img: ArrayView2<f32>) -> (usize, usize) {
    let mut best = (0, 0);
    for ((r, c), &v) in img.indexed_iter() {
        if v > img[best] {
            best = (r, c);
        }
    }
    best
}

/// A spot per frame at a known place: frame i has it at (i % 20, 2 * i % 30).
fn spot(i: usize) -> (usize, usize) {
    (i % 20, (2 * i) % 30)
}

/// Writes `n` 16-bit frames with one bright pixel each (value 1000 + i over a flat 100).
fn write_spots(dir: &Path, n: usize, ext: &str) {
    let frames = (0..n).map(|i| {
        let mut a = Array2::from_elem((20, 30), 100u16);
        a[spot(i)] = 1000 + i as u16;
        a
    });
    write_sequence(dir, "frame", ext, frames).unwrap();
}

#[test]
fn load_balanced_map_async_over_a_sequence_decodes_in_the_workers() {
    let dir = tempfile::tempdir().unwrap();
    write_spots(dir.path(), 40, "tif");
    let frames = ImageSequence::open(format!("{}/frame*.tif", dir.path().display()))
        .unwrap()
        .gray();
    assert_eq!(frames.len(), 40);
    let rc = Client::local(2).unwrap();
    let lview = rc.load_balanced_view();
    // Which thread decodes: the map's closure sees frames already decoded; the
    // processing step records the worker it ran on.
    let on_workers = frames.map_frames(|img| (rustpx::current_worker(), img));
    let amr = lview.map_async(&on_workers, |(worker, img)| {
        (worker, brightest(img.view()), img[spot(0)])
    });
    let results = amr.get().unwrap();
    for (i, (worker, at, _)) in results.iter().enumerate() {
        assert_eq!(*at, spot(i), "frame {i} in natural order");
        assert!(worker.is_some(), "frame {i} was decoded on a worker");
    }
    // The 16-bit values keep their scale.
    assert_eq!(frames.get(7).unwrap()[spot(7)], 1007.0);
    // `frames` is still usable after being mapped by reference.
    assert_eq!(on_workers.len(), 40);
}

#[test]
fn an_undecodable_frame_fails_only_its_task_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_spots(dir.path(), 12, "png");
    std::fs::write(dir.path().join("frame5.png"), b"truncated").unwrap();
    let frames = ImageSequence::open(format!("{}/*.png", dir.path().display()))
        .unwrap()
        .gray();
    let rc = Client::local(2).unwrap();
    let err = rc
        .load_balanced_view()
        .map(&frames, |img| brightest(img.view()))
        .unwrap_err();
    let Error::Tasks(errors) = err else {
        panic!("expected task errors, got {err}")
    };
    assert_eq!(errors.len(), 1);
    let e = &errors.errors()[0];
    assert_eq!((e.task, e.kind), (5, TaskErrorKind::Item));
    assert!(e.message.contains("frame5.png"), "{}", e.message);
    // The direct view too, and the good frames still map.
    let ok = rc
        .direct_view()
        .map(frames.slice(..5), |img| brightest(img.view()))
        .unwrap();
    assert_eq!(ok, (0..5).map(spot).collect::<Vec<_>>());
}

#[test]
fn in_memory_stacks_map_like_sequences() {
    let stack = Array3::from_shape_fn(
        (9, 20, 30),
        |(i, r, c)| if (r, c) == spot(i) { 9.0f32 } else { 0.0 },
    );
    let rc = Client::local(2).unwrap();
    let lview = rc.load_balanced_view();
    let expected: Vec<_> = (0..9).map(spot).collect();
    // Borrowed: frames are views, for the blocking calls.
    assert_eq!(lview.map(&stack, brightest).unwrap(), expected);
    assert_eq!(
        rc.direct_view().map(stack.view(), brightest).unwrap(),
        expected
    );
    // Shared and owned: 'static, for map_async; frames are owned copies.
    let shared = Arc::new(stack.clone());
    let amr = lview.map_async(&shared, |img| brightest(img.view()));
    assert_eq!(amr.get().unwrap(), expected);
    let amr = lview.map_async(stack, |img| brightest(img.view()));
    assert_eq!(amr.get().unwrap(), expected);
    // Rows of a 2-D array, and a stack of colour frames (4-D).
    let spectra = Array2::from_shape_fn((50, 8), |(i, j)| (i * j) as f64);
    let sums = lview.map(&spectra, |row| row.sum()).unwrap();
    assert_eq!(sums, spectra.sum_axis(Axis(1)).to_vec());
    let colour = ndarray::Array4::<u8>::zeros((3, 4, 4, 3));
    let frames: Vec<Frame> = lview
        .map(&colour, |f| Frame::try_from(f.to_owned()).unwrap())
        .unwrap();
    assert_eq!(frames[2].channels(), 3);
}

/// Every layout an ndarray can have: sliced from the top or bottom, transposed, strided.
/// Saving, reloading and the displayed PNG must show exactly the array's pixels.
#[test]
fn arrays_of_any_layout_save_and_reload_as_their_pixels() {
    use ndarray::s;
    let base = Array2::from_shape_fn((6, 5), |(r, c)| (r * 10 + c) as u8);
    let cases: Vec<(&str, Array2<u8>)> = vec![
        ("sliced from the top", base.clone().slice_move(s![2.., ..])),
        (
            "sliced from the bottom",
            base.clone().slice_move(s![..3, ..]),
        ),
        (
            "sliced on both axes",
            base.clone().slice_move(s![1..4, 2..]),
        ),
        ("transposed", base.clone().reversed_axes()),
        ("strided", base.clone().slice_move(s![..;2, ..;-1])),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (what, array) in cases {
        let path = dir.path().join(format!("{}.png", what.replace(' ', "_")));
        Frame::from(array.clone()).save(&path).unwrap();
        assert_eq!(
            Frame::open(&path).unwrap(),
            Frame::from(array.as_standard_layout().into_owned()),
            "{what}"
        );
        let rgb = Frame::from(array.clone()).into_rgb8();
        let expected =
            Array3::from_shape_fn((array.nrows(), array.ncols(), 3), |(r, c, _)| array[[r, c]]);
        assert_eq!(rgb, expected, "{what}: into_rgb8");
    }
}
