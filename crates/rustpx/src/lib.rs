//! # rustpx: IPython-parallel-style workers for Rust notebooks
//!
//! The library half of rustpx: what notebook cells call to run work on local worker
//! threads. The kernel (crate `rustpx-kernel`, installed as the `rustpx` binary) injects
//! `use rustpx::prelude::*;` into every notebook.

#![warn(missing_docs)]

mod cancel;
mod client;
pub mod compute;
pub mod display;
pub mod engines;
mod error;
pub mod frames;
pub mod interrupt;
mod job;
pub mod panic_hook;
mod per_worker;
mod progress;
pub mod protocol;
pub mod px;
mod registry;
pub mod result;
pub mod scatter;
pub mod schedule;
pub mod source;
mod sync;
mod targets;
pub mod timeit;
mod view;
mod worker;

pub use frames::{Frame, FrameError, ImageSequence};

// The crates whose types the runtime's functions return. evcxr stores a variable under a
// type written as a path from the notebook, and a notebook has no `:dep` on these: the
// re-exports give every returned type such a path (`rustpx::ndarray::ArrayBase<…>`).
pub use image;
pub use ndarray;
pub use serde_json;

pub use cancel::{cancelled, check_cancelled};
pub use client::{Client, active_view, default_client, set_default_workers};
pub use error::{Cancelled, Error, TaskError, TaskErrorKind, TaskErrors};
pub use per_worker::PerWorker;
pub use progress::Progress;
pub use registry::WorkerStats;
pub use result::{AsyncMapResult, AsyncResult, Imap, State};
pub use scatter::{Gather, Scatter};
pub use source::{IntoSource, ItemError, Source};
pub use targets::{IntoTargets, Targets};
pub use view::{DirectView, LoadBalancedView, ParallelFunction};
pub use worker::{Worker, current_worker, worker_id};

/// Everything a notebook needs, imported by the kernel into every notebook.
pub mod prelude {
    pub use crate::compute::{ParallelCompute, parallel_compute};
    pub use crate::display::{
        Canvas, DebugDisplay, Html, LinePlot, Png, RichDisplay, Table, display, speedup_plot,
        time_plot,
    };
    pub use crate::engines::engines;
    pub use crate::frames::{Frame, ImageSequence, write_sequence};
    pub use crate::{
        AsyncMapResult, AsyncResult, Client, DirectView, Error, LoadBalancedView, PerWorker,
        Targets, TaskError, TaskErrors, active_view, cancelled, check_cancelled, current_worker,
        default_client, worker_id,
    };
}
