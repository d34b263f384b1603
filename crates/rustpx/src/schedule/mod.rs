//! How a call's items are handed to its workers (see `README.md` in this folder):
//! a static contiguous partition for direct views, dynamic chunk claiming for
//! load-balanced ones, both through lock-free [`Cursor`]s.

mod cursor;
mod partition;

pub(crate) use cursor::Cursor;
pub use partition::{auto_chunksize, partition};

/// How the items of one call are split between its workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Worker at position `p` runs block `p` of [`partition`]; it claims its own block
    /// `step` items at a time (so an abort stops it between items).
    Static,
    /// All workers claim `chunk` items at a time from one shared cursor.
    Dynamic {
        /// Items per claim.
        chunk: usize,
    },
}

impl Plan {
    /// The cursors of a call of `len` items over `workers` positions.
    pub(crate) fn cursors(self, len: usize, workers: usize) -> Box<[Cursor]> {
        match self {
            Plan::Static => partition(len, workers)
                .into_iter()
                .map(Cursor::new)
                .collect(),
            Plan::Dynamic { .. } => vec![Cursor::new(0..len)].into_boxed_slice(),
        }
    }

    /// Which cursor the worker at `position` claims from, and how many items at a time.
    pub(crate) fn claim_from(self, position: usize) -> (usize, usize) {
        match self {
            Plan::Static => (position, 1),
            Plan::Dynamic { chunk } => (0, chunk.max(1)),
        }
    }
}
