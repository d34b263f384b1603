//! Static partitioning and chunk sizes.

use std::ops::Range;

/// Splits `len` items into `parts` contiguous blocks the way ipyparallel's scatter and
/// DirectView.map do: the first `len % parts` blocks get one item more.
///
/// ```
/// assert_eq!(rustpx::schedule::partition(10, 3), vec![0..4, 4..7, 7..10]);
/// assert_eq!(rustpx::schedule::partition(1, 3), vec![0..1, 1..1, 1..1]);
/// ```
pub fn partition(len: usize, parts: usize) -> Vec<Range<usize>> {
    let parts = parts.max(1);
    let (base, extra) = (len / parts, len % parts);
    let mut start = 0;
    (0..parts)
        .map(|p| {
            let size = base + usize::from(p < extra);
            let block = start..start + size;
            start += size;
            block
        })
        .collect()
}

/// The default chunk size of a load-balanced map, as Python's `multiprocessing.Pool.map`
/// chooses it: about four chunks per worker, at least one item.
///
/// ```
/// assert_eq!(rustpx::schedule::auto_chunksize(100_000, 2), 12_500);
/// assert_eq!(rustpx::schedule::auto_chunksize(10, 4), 1);
/// assert_eq!(rustpx::schedule::auto_chunksize(0, 4), 1);
/// assert_eq!(rustpx::schedule::auto_chunksize(usize::MAX, usize::MAX), 1);
/// ```
pub fn auto_chunksize(len: usize, workers: usize) -> usize {
    len.div_ceil(workers.max(1).saturating_mul(4)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_covers_everything_in_order() {
        for len in 0..30 {
            for parts in 1..7 {
                let blocks = partition(len, parts);
                assert_eq!(blocks.len(), parts);
                assert_eq!(blocks.first().unwrap().start, 0);
                assert_eq!(blocks.last().unwrap().end, len);
                for w in blocks.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                    assert!(w[0].len() >= w[1].len() && w[0].len() - w[1].len() <= 1);
                }
            }
        }
    }
}
