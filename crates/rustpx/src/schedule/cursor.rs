//! A lock-free claim counter over a range of item indices.

use crate::sync::AtomicUsize;
use crossbeam_utils::CachePadded;
use std::ops::Range;
use std::sync::atomic::Ordering;

/// Hands out disjoint sub-ranges of `start..end`; padded so that two workers' cursors
/// never share a cache line.
#[derive(Debug)]
pub(crate) struct Cursor {
    next: CachePadded<AtomicUsize>,
    end: usize,
}

impl Cursor {
    pub(crate) fn new(range: Range<usize>) -> Cursor {
        Cursor {
            next: CachePadded::new(AtomicUsize::new(range.start)),
            end: range.end,
        }
    }

    /// Claims up to `n` items. Each index is returned by at most one claim, and none
    /// after [`Cursor::close`].
    pub(crate) fn claim(&self, n: usize) -> Option<Range<usize>> {
        // A compare-and-swap rather than a `fetch_add`: `next` never passes `end`, so no
        // claim size can wrap it back to an index that was already handed out.
        let mut start = self.next.load(Ordering::Acquire);
        loop {
            if start >= self.end {
                return None;
            }
            let stop = start + n.min(self.end - start);
            match self
                .next
                .compare_exchange_weak(start, stop, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(start..stop),
                Err(now) => start = now,
            }
        }
    }

    /// Stops all further claims and returns the items never claimed.
    pub(crate) fn close(&self) -> Range<usize> {
        let old = self.next.swap(self.end, Ordering::AcqRel);
        old..self.end
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn claims_are_disjoint_and_close_returns_the_rest() {
        let c = Cursor::new(3..10);
        assert_eq!(c.claim(4), Some(3..7));
        assert_eq!(c.claim(1), Some(7..8));
        assert_eq!(c.close(), 8..10);
        assert_eq!(c.claim(1), None);
        assert_eq!(c.close(), 10..10);
    }

    #[test]
    fn huge_claims_never_wrap_the_counter() {
        for n in [1 << 63, usize::MAX, usize::MAX - 1] {
            let c = Cursor::new(0..10);
            assert_eq!(c.claim(n), Some(0..10));
            for _ in 0..4 {
                assert_eq!(c.claim(n), None, "claim({n}) after the end");
            }
        }
        let c = Cursor::new(usize::MAX - 3..usize::MAX);
        assert_eq!(c.claim(2), Some(usize::MAX - 3..usize::MAX - 1));
        assert_eq!(c.claim(usize::MAX), Some(usize::MAX - 1..usize::MAX));
        assert_eq!(c.claim(1), None);
        assert_eq!(c.close(), usize::MAX..usize::MAX);
    }

    #[test]
    fn concurrent_claims_cover_each_index_once() {
        let c = Cursor::new(0..10_000);
        let seen: Vec<AtomicUsize> = (0..10_000).map(|_| AtomicUsize::new(0)).collect();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    while let Some(r) = c.claim(7) {
                        r.for_each(|i| {
                            seen[i].fetch_add(1, Ordering::Relaxed);
                        });
                    }
                });
            }
        });
        assert!(seen.iter().all(|s| s.load(Ordering::Relaxed) == 1));
    }
}
