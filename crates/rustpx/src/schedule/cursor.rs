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
    /// The largest claim that may use a plain `fetch_add` (see [`Cursor::claim`]).
    fast: usize,
}

impl Cursor {
    /// A cursor over `range` claimed by at most `claimants` threads.
    pub(crate) fn new(range: Range<usize>, claimants: usize) -> Cursor {
        Cursor {
            next: CachePadded::new(AtomicUsize::new(range.start)),
            end: range.end,
            fast: (usize::MAX - range.end) / claimants.saturating_add(1),
        }
    }

    /// Claims up to `n` items. Each index is returned by at most one claim, and none
    /// after [`Cursor::close`]. Each claimant stops claiming after its first `None`.
    pub(crate) fn claim(&self, n: usize) -> Option<Range<usize>> {
        if n <= self.fast {
            // `next` passes `end` by at most `n` on the claim that crosses it, then by
            // `n` per failed claim, at most one per claimant: `(claimants + 1) * fast`
            // at most, so it cannot wrap back to an index already handed out.
            let start = self.next.fetch_add(n, Ordering::AcqRel);
            return (start < self.end).then(|| start..(start + n).min(self.end));
        }
        // A claim too large for that: a compare-and-swap that never moves `next` past
        // `end`.
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
        old.min(self.end)..self.end
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn claims_are_disjoint_and_close_returns_the_rest() {
        let c = Cursor::new(3..10, 1);
        assert_eq!(c.claim(4), Some(3..7));
        assert_eq!(c.claim(1), Some(7..8));
        assert_eq!(c.close(), 8..10);
        assert_eq!(c.claim(1), None);
        assert_eq!(c.close(), 10..10);
    }

    #[test]
    fn huge_claims_never_wrap_the_counter() {
        let fast_limit = (usize::MAX - 10) / 4;
        for n in [
            1 << 63,
            usize::MAX,
            usize::MAX - 1,
            fast_limit,
            fast_limit + 1,
        ] {
            let c = Cursor::new(0..10, 3);
            assert_eq!(c.claim(n), Some(0..10));
            for claimant in 0..3 {
                assert_eq!(c.claim(n), None, "claimant {claimant}, claim({n})");
            }
            assert_eq!(c.close(), 10..10);
        }
        let c = Cursor::new(usize::MAX - 3..usize::MAX, 1);
        assert_eq!(c.claim(2), Some(usize::MAX - 3..usize::MAX - 1));
        assert_eq!(c.claim(usize::MAX), Some(usize::MAX - 1..usize::MAX));
        assert_eq!(c.claim(1), None);
        assert_eq!(c.close(), usize::MAX..usize::MAX);
    }

    #[test]
    fn concurrent_claims_cover_each_index_once() {
        let c = Cursor::new(0..10_000, 4);
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
