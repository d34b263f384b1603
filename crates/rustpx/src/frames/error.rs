//! What can go wrong when opening, decoding or writing frames.

use std::path::PathBuf;

/// An error from [`ImageSequence`](crate::frames::ImageSequence) or the frame writers.
///
/// Every variant that concerns a file names it, so a failure in the middle of a long
/// map says which frame to look at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The glob pattern is not valid glob syntax.
    #[error("invalid glob pattern `{pattern}`: {message}")]
    BadPattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// The glob pattern is valid but matches no file.
    #[error("no files match `{pattern}`")]
    NoMatch {
        /// The pattern as given.
        pattern: String,
    },
    /// A directory could not be listed while expanding the pattern.
    #[error("cannot read {}: {message}", path.display())]
    Glob {
        /// The path that could not be read.
        path: PathBuf,
        /// The underlying I/O error.
        message: String,
    },
    /// A frame's file could not be read or decoded.
    #[error("cannot decode {}: {message}", path.display())]
    Decode {
        /// The frame's file.
        path: PathBuf,
        /// What the decoder said.
        message: String,
    },
    /// A frame could not be encoded or written.
    #[error("cannot write {}: {message}", path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A per-frame function (from [`try_map_frames`](crate::frames::ImageSequence::try_map_frames))
    /// failed on this frame.
    #[error("{}: {message}", path.display())]
    Process {
        /// The frame's file.
        path: PathBuf,
        /// The function's error message.
        message: String,
    },
    /// A frame index past the end of the sequence.
    #[error("frame {index} is out of range: the sequence has {len} frames")]
    OutOfRange {
        /// The index asked for.
        index: usize,
        /// The number of frames.
        len: usize,
    },
    /// An array whose shape cannot be a frame (for example 5 colour channels).
    #[error("an array of shape {shape:?} is not a frame: {message}")]
    Shape {
        /// The array's shape.
        shape: Vec<usize>,
        /// Why it does not fit.
        message: String,
    },
}
