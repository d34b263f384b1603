//! Showing values in a notebook: the renderers.
//!
//! See [`crate::protocol`] for how content reaches the kernel while a cell runs. The renderers
//! ([`Html`], [`Png`], [`Canvas`], [`Table`], [`LinePlot`] and the scaling plots,
//! [`Svg`]) all implement [`RichDisplay`] (a MIME bundle with a `text/plain` fallback)
//! and have an inherent `evcxr_display` method, so a notebook shows them richly when
//! they are a cell's value; [`display`] shows one in the middle of a cell. Frames,
//! image sequences and the runtime's values (results, per-worker values, task errors)
//! display the same way.

mod canvas;
mod error;
mod expression;
mod format;
mod frame_values;
mod html;
mod plot;
mod png;
mod rich;
mod runtime_values;
mod table;

pub use canvas::{BLUE, Canvas, GREEN, RED, Rgb, YELLOW};
pub use error::DisplayError;
pub use expression::{DebugDisplay, set_debug_style};
pub use format::format_duration;
pub use html::Html;
pub use plot::{LinePlot, Svg, speedup_plot, time_plot};
pub use png::Png;
pub use rich::{
    RichDisplay, TEXT_PLAIN, bundle, display, escape_html, plain_text, print_evcxr,
    write_evcxr_blocks,
};
pub use table::Table;
