//! What a map runs over: [`Source`] and [`IntoSource`].
//!
//! A map hands item *indices* to workers; the worker that runs task `i` calls
//! [`Source::take`] for item `i` itself. That is what lets an
//! [`ImageSequence`](crate::ImageSequence) decode each frame inside the worker that
//! processes it, and what lets a `Vec` move each item to exactly one worker without a
//! lock per item.

/// Why one item of a source could not be produced (an unreadable or undecodable frame).
/// It fails only that item's task; the message names the item (for a file, its path).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ItemError(pub String);

/// A fixed-length sequence of items that workers read by index.
///
/// Implemented for owned and borrowed vectors and slices, ranges, image sequences and
/// ndarray stacks; see [`IntoSource`] for what a map accepts.
pub trait Source: Send + Sync {
    /// What one task receives.
    type Item: Send;

    /// How many items (tasks) there are.
    fn len(&self) -> usize;

    /// Whether there are no items.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Produces item `index`, on the worker that will run its task.
    ///
    /// # Safety
    /// The caller (the scheduler) calls this at most once for each `index < len()`,
    /// so an owning source may move the item out without synchronisation.
    unsafe fn take(&self, index: usize) -> Result<Self::Item, ItemError>;
}

/// Anything a map accepts as its items: `Vec<T>` (items by value), `&Vec<T>` and `&[T]`
/// (items by reference, for the blocking calls), ranges, `&ImageSequence` (a cheap
/// clone; frames are decoded in the workers) and ndarray stacks (frames along axis 0).
pub trait IntoSource {
    /// The source this turns into.
    type Source: Source;

    /// Converts into the source.
    fn into_source(self) -> Self::Source;
}
