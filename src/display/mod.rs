//! Showing runtime values in a notebook: the channel to the kernel and the renderers.
//!
//! See [`channel`] for how content reaches the kernel while a cell runs.

pub mod channel;
