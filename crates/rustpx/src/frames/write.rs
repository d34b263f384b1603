//! Writing frames to disk: test data and notebook data sets.

use super::error::FrameError;
use super::frame::Frame;
use std::path::{Path, PathBuf};

/// Writes `frames` as `dir/{stem}{i}.{ext}` for i = 0, 1, … (no zero padding; an
/// [`ImageSequence`](super::ImageSequence) sorts them naturally) and returns the paths.
/// `ext` picks the format: `png`, `tif`/`tiff` (both keep 16 bits) or `jpg`.
///
/// Each frame is anything that converts into a [`Frame`]: `Array2<u8>`, `Array2<u16>`,
/// an h×w×c `Array3<u8 | u16 | f32>`, or a `Frame`. `dir` must exist.
///
/// ```
/// use ndarray::Array2;
/// use rustpx::frames::{write_sequence, ImageSequence};
/// let dir = tempfile::tempdir().unwrap();
/// let frames = (0..3u16).map(|i| Array2::from_elem((2, 2), i * 1000));
/// let paths = write_sequence(dir.path(), "frame", "tif", frames).unwrap();
/// assert!(paths[2].ends_with("frame2.tif"));
/// let seq = ImageSequence::open(format!("{}/*.tif", dir.path().display())).unwrap();
/// assert_eq!(seq.gray().get(2).unwrap()[[1, 1]], 2000.0);
/// ```
pub fn write_sequence<F>(
    dir: impl AsRef<Path>,
    stem: &str,
    ext: &str,
    frames: impl IntoIterator<Item = F>,
) -> Result<Vec<PathBuf>, FrameError>
where
    F: TryInto<Frame>,
    FrameError: From<F::Error>,
{
    let dir = dir.as_ref();
    frames
        .into_iter()
        .enumerate()
        .map(|(i, frame)| {
            let path = dir.join(format!("{stem}{i}.{ext}"));
            frame.try_into()?.save(&path)?;
            Ok(path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3};

    #[test]
    fn writes_every_kind_and_reports_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let rgb = (0..2).map(|i| Array3::from_elem((2, 2, 3), i as u8));
        let paths = write_sequence(dir.path(), "c", "png", rgb).unwrap();
        assert_eq!(
            Frame::open(&paths[1]).unwrap(),
            Frame::Color8(Array3::from_elem((2, 2, 3), 1))
        );

        let bad = [Array3::<u8>::zeros((2, 2, 7))];
        assert!(matches!(
            write_sequence(dir.path(), "b", "png", bad),
            Err(FrameError::Shape { .. })
        ));

        let err = write_sequence(
            dir.path().join("missing"),
            "g",
            "png",
            [Array2::<u8>::zeros((1, 1))],
        )
        .unwrap_err();
        assert!(err.to_string().contains("g0.png"), "{err}");
        let err =
            write_sequence(dir.path(), "x", "nope", [Array2::<u8>::zeros((1, 1))]).unwrap_err();
        assert!(matches!(err, FrameError::Write { .. }), "{err}");
    }
}
