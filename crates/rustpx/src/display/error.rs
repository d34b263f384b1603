//! What can go wrong when rendering a value for display.

/// An error from the display renderers (PNG encoding, plotting).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DisplayError {
    /// The image could not be encoded (for example, it has no pixels).
    #[error("cannot encode the image: {0}")]
    Encode(String),
    /// The bytes given as a PNG are not one.
    #[error("not a PNG image: {0}")]
    NotPng(String),
    /// The plot could not be drawn (for example, it has no points).
    #[error("cannot draw the plot: {0}")]
    Plot(String),
}
