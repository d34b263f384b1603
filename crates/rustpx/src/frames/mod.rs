//! Image data for maps: [`ImageSequence`] (files decoded lazily in the workers) and
//! in-memory ndarray stacks, plus writers to make test data.
//!
//! Both kinds are [`Source`](crate::source::Source)s: a map over them hands each
//! worker a frame index, and the worker produces the frame itself (decoding a file, or
//! viewing/copying one slice of an array).

mod error;
mod frame;
mod natural_sort;
mod sequence;
mod stack;
mod write;

pub use error::FrameError;
pub use frame::Frame;
pub use natural_sort::natural_cmp;
pub use sequence::ImageSequence;
pub use stack::{Stack, StackView};
pub use write::write_sequence;
