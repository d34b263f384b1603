//! # rustpx: IPython-parallel-style workers for Rust notebooks
//!
//! The library half of rustpx: what notebook cells call to run work on local worker
//! threads. The kernel (the `rustpx` binary, feature `kernel`) injects
//! `use rustpx::prelude::*;` into every notebook.

#![warn(missing_docs)]

pub mod compute;
pub mod display;
pub mod frames;
pub mod source;
pub mod interrupt;

pub use frames::{Frame, FrameError, ImageSequence};

/// Everything a notebook needs, imported by the kernel into every notebook.
pub mod prelude {
    pub use crate::display::{
        Canvas, Html, LinePlot, Png, RichDisplay, Table, display, speedup_plot, time_plot,
    };
    pub use crate::frames::{Frame, ImageSequence, write_sequence};
}
