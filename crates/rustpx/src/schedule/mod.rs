//! How a call's items are handed to its workers (see `README.md` in this folder):
//! a static contiguous partition for direct views, dynamic chunk claiming for
//! load-balanced ones, both through lock-free [`Cursor`]s.

mod cursor;
mod partition;

pub(crate) use cursor::Cursor;
pub use partition::{auto_chunksize, partition};

/// The largest automatic chunk of an `imap`: its results wait in small buffers, and a
/// chunk is what one worker may run ahead of the others.
const STREAM_CHUNK_CAP: usize = 64;

/// The smallest reorder window of an ordered `imap`, in items.
const MIN_WINDOW: usize = 64;

/// How the items of one call are split between its workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Worker at position `p` runs block `p` of [`partition`], claimed in chunks.
    Static,
    /// All workers claim `chunk` items at a time from one shared cursor.
    Dynamic {
        /// Items per claim.
        chunk: usize,
    },
}

impl Plan {
    /// The plan of a load-balanced map of `len` items over `workers`: `chunksize` items
    /// per claim when given, else [`auto_chunksize`].
    pub(crate) fn balanced(len: usize, workers: usize, chunksize: Option<usize>) -> Plan {
        Plan::Dynamic {
            chunk: chunksize.unwrap_or_else(|| auto_chunksize(len, workers)),
        }
    }

    /// The plan of an `imap`: as [`Plan::balanced`], the automatic chunk capped at 64
    /// to keep the buffers small.
    pub(crate) fn streamed(len: usize, workers: usize, chunksize: Option<usize>) -> Plan {
        Plan::Dynamic {
            chunk: chunksize.unwrap_or_else(|| auto_chunksize(len, workers).min(STREAM_CHUNK_CAP)),
        }
    }

    /// How far ahead of its consumer an ordered `imap` may start items: a few chunks
    /// per worker, which bounds the consumer's reorder buffer.
    pub(crate) fn window(self, len: usize, workers: usize) -> usize {
        let (_, chunk) = self.claim_from(0, len, workers);
        chunk
            .saturating_mul(workers)
            .saturating_mul(4)
            .max(MIN_WINDOW)
    }

    /// The cursors of a call of `len` items over `workers` positions.
    pub(crate) fn cursors(self, len: usize, workers: usize) -> Box<[Cursor]> {
        match self {
            Plan::Static => partition(len, workers)
                .into_iter()
                .map(|block| Cursor::new(block, 1))
                .collect(),
            Plan::Dynamic { .. } => vec![Cursor::new(0..len, workers)].into_boxed_slice(),
        }
    }

    /// Which cursor the worker at `position` claims from, and how many items at a time,
    /// in a call of `len` items over `workers` positions. A static block is claimed a
    /// quarter at a time, like a dynamic default chunk: one claim per item would cost
    /// an atomic operation per item, and an abort still stops the worker between items.
    pub(crate) fn claim_from(self, position: usize, len: usize, workers: usize) -> (usize, usize) {
        match self {
            Plan::Static => (position, auto_chunksize(len, workers)),
            Plan::Dynamic { chunk } => (0, chunk.clamp(1, len.max(1))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_clamped_to_the_items_and_windows_saturate() {
        let plan = Plan::balanced(10, 3, Some(usize::MAX));
        assert_eq!(plan.claim_from(2, 10, 3), (0, 10));
        assert_eq!(Plan::balanced(0, 3, Some(0)).claim_from(0, 0, 3), (0, 1));
        assert_eq!(Plan::Static.claim_from(1, 100, 2), (1, 13));
        let streamed = Plan::streamed(1_000_000, 2, None);
        assert_eq!(streamed.claim_from(0, 1_000_000, 2), (0, 64));
        assert_eq!(streamed.window(1_000_000, 2), 512);
        assert_eq!(
            Plan::Dynamic { chunk: usize::MAX }.window(usize::MAX, 9),
            usize::MAX
        );
    }
}
