//! [`ImageSequence`]: a lazily decoded, naturally sorted list of image files.

use super::error::FrameError;
use super::frame::Frame;
use super::natural_sort::natural_cmp;
use crate::source::{IntoSource, ItemError, Source};
use ndarray::{Array2, Array3};
use std::fmt;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The per-frame processing chain, applied after decoding (on the worker).
type Process<T> = dyn Fn(Frame) -> Result<T, String> + Send + Sync;

/// A sequence of image files, decoded one frame at a time when a frame is needed.
///
/// The sequence itself is only a list of paths plus a processing chain, behind `Arc`s,
/// so cloning it (or passing `&frames` to `map_async`) is cheap and nothing is decoded
/// up front. A map over a sequence decodes each frame *inside the worker that
/// processes it*, so decoding runs in parallel too and at most one frame per worker is
/// in memory at a time.
///
/// `T` is what one frame becomes:
/// - [`ImageSequence::open`] gives [`Frame`]s (native bit depth);
/// - [`.gray()`](ImageSequence::gray) gives `Array2<f32>` in the file's own intensity
///   scale (the usual input of feature location);
/// - [`.channel(c)`](ImageSequence::channel) one channel as `Array2<f32>`;
/// - [`.rgb8()`](ImageSequence::rgb8) `Array3<u8>` (height × width × 3, for display);
/// - [`.map_frames(f)`](ImageSequence::map_frames) anything, composed lazily.
///
/// A file that cannot be decoded fails only the task of its own frame, with an error
/// naming the file.
///
/// ```
/// use ndarray::Array2;
/// use rustpx::frames::{Frame, ImageSequence};
/// let dir = tempfile::tempdir().unwrap();
/// for i in 0..12 {
///     let path = dir.path().join(format!("frame{i}.png"));
///     Frame::from(Array2::from_elem((4, 5), i as u8)).save(path).unwrap();
/// }
/// let pattern = format!("{}/frame*.png", dir.path().display());
/// let frames = ImageSequence::open(&pattern).unwrap().gray();
/// assert_eq!(frames.len(), 12);
/// // Natural order: frame2 comes before frame10.
/// assert!(frames.paths()[2].ends_with("frame2.png"));
/// assert_eq!(frames.get(10).unwrap()[[0, 0]], 10.0);
/// let means: Vec<f32> = frames.iter().map(|f| f.unwrap().mean().unwrap()).collect();
/// assert_eq!(means[11], 11.0);
/// ```
pub struct ImageSequence<T = Frame> {
    paths: Arc<[PathBuf]>,
    /// The sub-range of `paths` this (possibly sliced) sequence covers.
    start: usize,
    len: usize,
    pattern: Option<Arc<str>>,
    process: Arc<Process<T>>,
}

impl<T> Clone for ImageSequence<T> {
    fn clone(&self) -> Self {
        ImageSequence {
            paths: Arc::clone(&self.paths),
            start: self.start,
            len: self.len,
            pattern: self.pattern.clone(),
            process: Arc::clone(&self.process),
        }
    }
}

impl ImageSequence<Frame> {
    /// The files matching the glob `pattern` (e.g. `"data/frames/*.png"`), in natural
    /// order (`frame2` before `frame10`). Directories that match are skipped. Nothing is
    /// decoded yet.
    ///
    /// Fails if the pattern is invalid, a directory cannot be read, or nothing matches
    /// (the error names the pattern).
    ///
    /// ```
    /// use rustpx::frames::{FrameError, ImageSequence};
    /// let err = ImageSequence::open("/nonexistent/*.png").unwrap_err();
    /// assert!(matches!(err, FrameError::NoMatch { .. }));
    /// assert_eq!(err.to_string(), "no files match `/nonexistent/*.png`");
    /// ```
    pub fn open(pattern: impl AsRef<str>) -> Result<ImageSequence<Frame>, FrameError> {
        let pattern = pattern.as_ref();
        let entries = glob::glob(pattern).map_err(|e| FrameError::BadPattern {
            pattern: pattern.to_string(),
            message: e.to_string(),
        })?;
        let mut paths = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| FrameError::Glob {
                path: e.path().to_path_buf(),
                message: e.error().to_string(),
            })?;
            if !path.is_dir() {
                paths.push(path);
            }
        }
        if paths.is_empty() {
            return Err(FrameError::NoMatch {
                pattern: pattern.to_string(),
            });
        }
        paths.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
        let mut sequence = ImageSequence::from_paths(paths);
        sequence.pattern = Some(pattern.into());
        Ok(sequence)
    }

    /// A sequence of the given files, in the order given (no sorting, no existence
    /// check: a missing file fails its own frame when it is decoded).
    pub fn from_paths<P: Into<PathBuf>>(
        paths: impl IntoIterator<Item = P>,
    ) -> ImageSequence<Frame> {
        let paths: Arc<[PathBuf]> = paths.into_iter().map(Into::into).collect();
        ImageSequence {
            len: paths.len(),
            paths,
            start: 0,
            pattern: None,
            process: Arc::new(Ok),
        }
    }

    /// Frames as one `f32` channel in the file's intensity scale (see
    /// [`Frame::into_gray`]: gray values unchanged, colour as Rec. 709 luma).
    pub fn gray(&self) -> ImageSequence<Array2<f32>> {
        self.map_frames(Frame::into_gray)
    }

    /// Frames as one channel (`0` = red or gray) in `f32`, like `image[:, :, c]`. A
    /// frame without that channel fails its own task.
    pub fn channel(&self, channel: usize) -> ImageSequence<Array2<f32>> {
        self.try_map_frames(move |frame| frame.into_channel(channel))
    }

    /// Frames as 8-bit RGB, height × width × 3 (see [`Frame::into_rgb8`]).
    pub fn rgb8(&self) -> ImageSequence<Array3<u8>> {
        self.map_frames(Frame::into_rgb8)
    }
}

impl<T: 'static> ImageSequence<T> {
    /// Adds a per-frame processing step, applied lazily after the steps before it
    /// (trackpy's `process_func`, or pims' pipelines). It runs on the worker that
    /// processes the frame; the sequence stays cheap to clone.
    ///
    /// ```
    /// # use ndarray::{s, Array2};
    /// # use rustpx::frames::{Frame, ImageSequence};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("a.png");
    /// # Frame::from(Array2::from_elem((8, 8), 3u8)).save(&path).unwrap();
    /// let cropped = ImageSequence::from_paths([path])
    ///     .gray()
    ///     .map_frames(|img| img.slice(s![2..6, 2..6]).to_owned())
    ///     .map_frames(|img| img * 2.0);
    /// assert_eq!(cropped.get(0).unwrap(), Array2::from_elem((4, 4), 6.0f32));
    /// ```
    pub fn map_frames<U, F>(&self, f: F) -> ImageSequence<U>
    where
        F: Fn(T) -> U + Send + Sync + 'static,
    {
        let previous = Arc::clone(&self.process);
        self.with_process(Arc::new(move |frame| previous(frame).map(&f)))
    }

    /// Like [`map_frames`](ImageSequence::map_frames) with a step that can fail; the
    /// failure fails that frame's task, with a message naming the file.
    pub fn try_map_frames<U, E, F>(&self, f: F) -> ImageSequence<U>
    where
        E: fmt::Display,
        F: Fn(T) -> Result<U, E> + Send + Sync + 'static,
    {
        let previous = Arc::clone(&self.process);
        self.with_process(Arc::new(move |frame| {
            previous(frame).and_then(|t| f(t).map_err(|e| e.to_string()))
        }))
    }

    fn with_process<U>(&self, process: Arc<Process<U>>) -> ImageSequence<U> {
        ImageSequence {
            paths: Arc::clone(&self.paths),
            start: self.start,
            len: self.len,
            pattern: self.pattern.clone(),
            process,
        }
    }
}

impl<T> ImageSequence<T> {
    /// Number of frames.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no frames.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The frames' files, in sequence order.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths[self.start..self.start + self.len]
    }

    /// The file of frame `index`, if there is one.
    pub fn path(&self, index: usize) -> Option<&Path> {
        self.paths().get(index).map(PathBuf::as_path)
    }

    /// The glob pattern the sequence was opened with, if any.
    pub fn pattern(&self) -> Option<&str> {
        self.pattern.as_deref()
    }

    /// Decodes and processes frame `index` now, on the calling thread.
    pub fn get(&self, index: usize) -> Result<T, FrameError> {
        let path = self.path(index).ok_or(FrameError::OutOfRange {
            index,
            len: self.len,
        })?;
        let frame = Frame::open(path)?;
        (self.process)(frame).map_err(|message| FrameError::Process {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Decodes the frames one after another on the calling thread: the serial loop a
    /// parallel map is compared with.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Result<T, FrameError>> + '_ {
        (0..self.len).map(move |i| self.get(i))
    }

    /// The frames in `range` (like Python's `frames[:32]`), sharing this sequence's
    /// paths and processing. As in Python slicing, bounds past the end are clipped.
    ///
    /// ```
    /// # use rustpx::frames::ImageSequence;
    /// let seq = ImageSequence::from_paths(["a.png", "b.png", "c.png"]);
    /// assert_eq!(seq.slice(1..).len(), 2);
    /// assert_eq!(seq.slice(..32).len(), 3);
    /// assert!(seq.slice(1..).paths()[0].ends_with("b.png"));
    /// ```
    pub fn slice(&self, range: impl RangeBounds<usize>) -> ImageSequence<T> {
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        }
        .min(self.len);
        let end = match range.end_bound() {
            Bound::Included(&e) => e.saturating_add(1),
            Bound::Excluded(&e) => e,
            Bound::Unbounded => self.len,
        }
        .clamp(start, self.len);
        let mut sliced = self.clone();
        sliced.start = self.start + start;
        sliced.len = end - start;
        sliced
    }
}

impl<T> fmt::Debug for ImageSequence<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageSequence")
            .field("pattern", &self.pattern)
            .field("len", &self.len)
            .field("first", &self.paths().first())
            .field("last", &self.paths().last())
            .finish()
    }
}

impl<T> fmt::Display for ImageSequence<T> {
    /// `ImageSequence: 32 frames (frame0.png … frame31.png) from data/*.png`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |p: Option<&PathBuf>| {
            p.map(|p| {
                p.file_name()
                    .unwrap_or(p.as_os_str())
                    .to_string_lossy()
                    .into_owned()
            })
        };
        write!(
            f,
            "ImageSequence: {} frame{}",
            self.len,
            if self.len == 1 { "" } else { "s" }
        )?;
        match (name(self.paths().first()), name(self.paths().last())) {
            (Some(a), Some(b)) if self.len > 1 => write!(f, " ({a} … {b})")?,
            (Some(a), _) => write!(f, " ({a})")?,
            _ => {}
        }
        if let Some(pattern) = &self.pattern {
            write!(f, " from {pattern}")?;
        }
        Ok(())
    }
}

impl<T: Send> Source for ImageSequence<T> {
    type Item = T;

    fn len(&self) -> usize {
        self.len
    }

    unsafe fn take(&self, index: usize) -> Result<T, ItemError> {
        self.get(index).map_err(|e| ItemError(e.to_string()))
    }
}

impl<T: Send> IntoSource for ImageSequence<T> {
    type Source = ImageSequence<T>;

    fn into_source(self) -> ImageSequence<T> {
        self
    }
}

/// A borrowed sequence maps as a clone (two `Arc`s), so `lview.map_async(&frames, f)`
/// gets a `'static` source and `frames` stays usable.
impl<T: Send> IntoSource for &ImageSequence<T> {
    type Source = ImageSequence<T>;

    fn into_source(self) -> ImageSequence<T> {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Writes `n` gray frames `f0.png … f{n-1}.png` whose pixels all equal their index.
    fn write_frames(dir: &Path, n: usize) {
        for i in 0..n {
            Frame::from(Array2::from_elem((3, 4), i as u8))
                .save(dir.join(format!("f{i}.png")))
                .unwrap();
        }
    }

    fn pattern(dir: &Path, glob: &str) -> String {
        format!("{}/{glob}", dir.display())
    }

    #[test]
    fn open_sorts_naturally_and_skips_directories() {
        let dir = tempfile::tempdir().unwrap();
        write_frames(dir.path(), 12);
        std::fs::create_dir(dir.path().join("f99.png")).unwrap();
        let seq = ImageSequence::open(pattern(dir.path(), "f*.png")).unwrap();
        assert_eq!(seq.len(), 12);
        let names: Vec<String> = seq
            .paths()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let expected: Vec<String> = (0..12).map(|i| format!("f{i}.png")).collect();
        assert_eq!(names, expected);
        for i in 0..12 {
            assert_eq!(
                seq.get(i).unwrap(),
                Frame::Gray8(Array2::from_elem((3, 4), i as u8))
            );
        }
    }

    #[test]
    fn no_match_and_bad_pattern_name_the_pattern() {
        let dir = tempfile::tempdir().unwrap();
        let p = pattern(dir.path(), "*.tif");
        let err = ImageSequence::open(&p).unwrap_err();
        assert!(err.to_string().contains(&p), "{err}");
        let err = ImageSequence::open("data/[unclosed").unwrap_err();
        assert!(matches!(err, FrameError::BadPattern { .. }));
        assert!(err.to_string().contains("data/[unclosed"), "{err}");
    }

    #[test]
    fn an_undecodable_file_fails_only_its_frame() {
        let dir = tempfile::tempdir().unwrap();
        write_frames(dir.path(), 3);
        std::fs::write(dir.path().join("f1.png"), b"garbage").unwrap();
        let seq = ImageSequence::open(pattern(dir.path(), "*.png"))
            .unwrap()
            .gray();
        assert!(seq.get(0).is_ok());
        assert!(seq.get(2).is_ok());
        let err = seq.get(1).unwrap_err();
        assert!(err.to_string().contains("f1.png"), "{err}");
        let item = unsafe { Source::take(&seq, 1) }.unwrap_err();
        assert!(item.0.contains("f1.png"), "{item}");
        assert_eq!(
            unsafe { Source::take(&seq, 2) }.unwrap(),
            Array2::from_elem((3, 4), 2.0f32)
        );
    }

    #[test]
    fn map_frames_composes_lazily_and_try_map_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write_frames(dir.path(), 4);
        let seq = ImageSequence::open(pattern(dir.path(), "*.png")).unwrap();
        let sums = seq
            .gray()
            .map_frames(|a| a.sum())
            .map_frames(|s| s as i64 + 1);
        assert_eq!(
            sums.iter().collect::<Result<Vec<_>, _>>().unwrap(),
            [1, 13, 25, 37]
        );
        let checked = seq.gray().try_map_frames(|a| {
            if a[[0, 0]] == 2.0 {
                Err("saturated")
            } else {
                Ok(a[[0, 0]])
            }
        });
        assert_eq!(checked.get(3).unwrap(), 3.0);
        let err = checked.get(2).unwrap_err();
        assert!(matches!(err, FrameError::Process { .. }));
        assert!(
            err.to_string().contains("f2.png") && err.to_string().contains("saturated"),
            "{err}"
        );
        assert!(matches!(
            seq.get(4),
            Err(FrameError::OutOfRange { index: 4, len: 4 })
        ));
    }

    #[test]
    fn channel_and_rgb8_views() {
        let dir = tempfile::tempdir().unwrap();
        let rgb = Array3::from_shape_vec((1, 1, 3), vec![10u8, 20, 30]).unwrap();
        Frame::try_from(rgb.clone())
            .unwrap()
            .save(dir.path().join("c.png"))
            .unwrap();
        let seq = ImageSequence::open(pattern(dir.path(), "c.png")).unwrap();
        assert_eq!(seq.channel(1).get(0).unwrap(), array![[20.0f32]]);
        assert!(
            seq.channel(3)
                .get(0)
                .unwrap_err()
                .to_string()
                .contains("c.png")
        );
        assert_eq!(seq.rgb8().get(0).unwrap(), rgb);
    }

    #[test]
    fn slices_clip_and_compose() {
        let dir = tempfile::tempdir().unwrap();
        write_frames(dir.path(), 10);
        let seq = ImageSequence::open(pattern(dir.path(), "*.png"))
            .unwrap()
            .gray();
        let mid = seq.slice(2..8).slice(1..=2);
        assert_eq!(mid.len(), 2);
        assert_eq!(mid.get(0).unwrap()[[0, 0]], 3.0);
        assert_eq!(mid.get(1).unwrap()[[0, 0]], 4.0);
        assert!(mid.get(2).is_err());
        assert_eq!(seq.slice(..100).len(), 10);
        assert_eq!(seq.slice(20..).len(), 0);
        assert_eq!(seq.slice((Bound::Included(5), Bound::Excluded(3))).len(), 0);
        assert!(seq.slice(20..).is_empty());
    }

    #[test]
    fn sources_and_display() {
        let dir = tempfile::tempdir().unwrap();
        write_frames(dir.path(), 3);
        let seq = ImageSequence::open(pattern(dir.path(), "*.png"))
            .unwrap()
            .gray();
        let source = (&seq).into_source();
        assert_eq!(Source::len(&source), 3);
        assert_eq!(seq.len(), 3, "a borrowed sequence stays usable");
        let text = seq.to_string();
        assert!(
            text.starts_with("ImageSequence: 3 frames (f0.png … f2.png) from "),
            "{text}"
        );
        assert!(format!("{seq:?}").contains("len: 3"));
        fn assert_send_sync<S: Send + Sync + 'static>(_: &S) {}
        assert_send_sync(&source);
    }
}
