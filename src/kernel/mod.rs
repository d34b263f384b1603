//! The Jupyter kernel (feature `kernel`): protocol server, evcxr driving, output routing,
//! interrupts, completion, install, and the embedded runtime.

pub mod bench;
pub mod build_dir;
pub mod child;
pub mod complete;
pub mod errors;
pub mod execute;
pub mod fdtap;
pub mod history;
pub mod install;
pub mod interrupt;
pub mod is_complete;
pub mod magics;
pub mod outbox;
pub mod output;
pub mod runtime_embed;
pub mod rustc_fix;
pub mod server;
pub mod session;
pub mod wire;
