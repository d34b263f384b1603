//! The atomics of the claim and slot protocols, from `loom` when the crate is built for
//! the model checker (`RUSTFLAGS="--cfg loom"`), else from `std`. Only the protocols
//! `loom` checks (`schedule::Cursor`, `job::Slots`) use them: a loom atomic works only
//! inside `loom::model`, so under `--cfg loom` only the `loom` tests can run.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, AtomicUsize};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU8, AtomicUsize};
