//! What a map runs over: [`Source`] and [`IntoSource`].
//!
//! A map hands item *indices* to workers; the worker that runs task `i` calls
//! [`Source::take`] for item `i` itself. That is what lets an
//! [`ImageSequence`](crate::ImageSequence) decode each frame inside the worker that
//! processes it, and what lets a `Vec` move each item to exactly one worker without a
//! lock per item.

use crate::Error;

/// Why one item of a source could not be produced (an unreadable or undecodable frame).
/// It fails only that item's task; the message names the item (for a file, its path).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ItemError(pub String);

/// A fixed-length sequence of items that workers read by index.
///
/// Implemented for owned and borrowed vectors and slices, ranges, image sequences and
/// ndarray stacks; see [`IntoSource`] for what a map accepts.
pub trait Source: Send + Sync {
    /// What one task receives.
    type Item: Send;

    /// How many items (tasks) there are; at most `usize::MAX` (see [`try_len`](Self::try_len)).
    fn len(&self) -> usize;

    /// How many items there are, or [`Error::TooManyItems`] when that is more than a
    /// `usize` counts (a range of 2^64 items on a 64-bit machine), where
    /// [`len`](Self::len) stops at `usize::MAX`. A map calls this before any task runs.
    ///
    /// # Errors
    /// [`Error::TooManyItems`], with the exact count.
    fn try_len(&self) -> Result<usize, Error> {
        Ok(self.len())
    }

    /// Whether there are no items.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Produces item `index`, on the worker that will run its task.
    ///
    /// # Safety
    /// The caller (the scheduler) calls this at most once for each `index < len()`,
    /// so an owning source may move the item out without synchronisation.
    unsafe fn take(&self, index: usize) -> Result<Self::Item, ItemError>;
}

/// Anything a map accepts as its items: `Vec<T>` (items by value), `&Vec<T>` and `&[T]`
/// (items by reference, for the blocking calls), ranges, `&ImageSequence` (a cheap
/// clone; frames are decoded in the workers) and ndarray stacks (frames along axis 0).
pub trait IntoSource {
    /// The source this turns into.
    type Source: Source;

    /// Converts into the source.
    fn into_source(self) -> Self::Source;
}

/// The source of an owned `Vec<T>`: each task receives its item by value.
pub struct VecSource<T> {
    items: Box<[std::cell::UnsafeCell<Option<T>>]>,
}

// SAFETY: each cell is taken at most once, by the one worker that claimed its index
// (the `Source::take` contract), so no cell is accessed from two threads.
unsafe impl<T: Send> Sync for VecSource<T> {}

impl<T: Send> Source for VecSource<T> {
    type Item = T;
    fn len(&self) -> usize {
        self.items.len()
    }
    unsafe fn take(&self, index: usize) -> Result<T, ItemError> {
        let cell = self
            .items
            .get(index)
            .ok_or_else(|| ItemError(format!("no item {index}")))?;
        // SAFETY: the caller takes each index at most once, from one thread.
        unsafe { (*cell.get()).take() }
            .ok_or_else(|| ItemError(format!("item {index} was already taken")))
    }
}

impl<T: Send> IntoSource for Vec<T> {
    type Source = VecSource<T>;
    fn into_source(self) -> VecSource<T> {
        VecSource {
            items: self
                .into_iter()
                .map(|t| std::cell::UnsafeCell::new(Some(t)))
                .collect(),
        }
    }
}

impl<T: Send, const N: usize> IntoSource for [T; N] {
    type Source = VecSource<T>;
    fn into_source(self) -> VecSource<T> {
        Vec::from(self).into_source()
    }
}

/// The source of a borrowed slice: each task receives `&T`.
pub struct SliceSource<'a, T>(&'a [T]);

impl<'a, T: Sync> Source for SliceSource<'a, T> {
    type Item = &'a T;
    fn len(&self) -> usize {
        self.0.len()
    }
    unsafe fn take(&self, index: usize) -> Result<&'a T, ItemError> {
        self.0
            .get(index)
            .ok_or_else(|| ItemError(format!("no item {index}")))
    }
}

impl<'a, T: Sync> IntoSource for &'a [T] {
    type Source = SliceSource<'a, T>;
    fn into_source(self) -> SliceSource<'a, T> {
        SliceSource(self)
    }
}

impl<'a, T: Sync> IntoSource for &'a Vec<T> {
    type Source = SliceSource<'a, T>;
    fn into_source(self) -> SliceSource<'a, T> {
        SliceSource(self)
    }
}

impl<'a, T: Sync, const N: usize> IntoSource for &'a [T; N] {
    type Source = SliceSource<'a, T>;
    fn into_source(self) -> SliceSource<'a, T> {
        SliceSource(self)
    }
}

/// The source of an integer range: task `i` receives `start + i`.
#[derive(Debug, Clone, Copy)]
pub struct RangeSource<T> {
    start: T,
    /// The exact item count: a range of a 64-bit type can hold 2^64 items, one more
    /// than `usize` counts, and a map must refuse it rather than drop the last items.
    items: u128,
}

impl<T> RangeSource<T> {
    /// The item count as a `usize`, saturated (the refusal is [`Source::try_len`]'s).
    fn saturated_len(&self) -> usize {
        usize::try_from(self.items).unwrap_or(usize::MAX)
    }
}

macro_rules! range_sources {
    ($($t:ty),*) => {$(
        impl Source for RangeSource<$t> {
            type Item = $t;
            fn len(&self) -> usize {
                self.saturated_len()
            }
            fn try_len(&self) -> Result<usize, Error> {
                usize::try_from(self.items).map_err(|_| Error::TooManyItems {
                    items: self.items,
                    limit: usize::MAX,
                })
            }
            unsafe fn take(&self, index: usize) -> Result<$t, ItemError> {
                // index < len and start + len - 1 fits in the type, so the sum is in range
                // and two's-complement wrapping gives it exactly, also where `index` itself
                // does not fit in a signed `$t` (index 128 of `-100i8..100`).
                Ok(self.start.wrapping_add(index as $t))
            }
        }

        impl IntoSource for std::ops::Range<$t> {
            type Source = RangeSource<$t>;
            fn into_source(self) -> RangeSource<$t> {
                // The types here are at most 64 bits wide, so the count fits a u128.
                let items = if self.end > self.start {
                    self.end.abs_diff(self.start) as u128
                } else {
                    0
                };
                RangeSource { start: self.start, items }
            }
        }

        impl IntoSource for std::ops::RangeInclusive<$t> {
            type Source = RangeSource<$t>;
            fn into_source(self) -> RangeSource<$t> {
                let (start, end) = self.into_inner();
                let items = if end >= start {
                    end.abs_diff(start) as u128 + 1
                } else {
                    0
                };
                RangeSource { start, items }
            }
        }
    )*};
}

range_sources!(usize, u8, u16, u32, u64, isize, i8, i16, i32, i64);

#[cfg(test)]
mod tests {
    use super::*;

    fn all<S: Source>(s: S) -> Vec<S::Item> {
        // SAFETY: each index once.
        (0..s.len())
            .map(|i| unsafe { s.take(i) }.unwrap())
            .collect()
    }

    #[test]
    fn vec_slice_and_range_sources() {
        assert_eq!(
            all(vec!["a".to_string(), "b".into()].into_source()),
            vec!["a", "b"]
        );
        let v = vec![1, 2, 3];
        assert_eq!(all((&v).into_source()), vec![&1, &2, &3]);
        assert_eq!(all(v[1..].into_source()), vec![&2, &3]);
        assert_eq!(all((-2i32..2).into_source()), vec![-2, -1, 0, 1]);
        assert_eq!(all((250u8..=255).into_source()).len(), 6);
        let (hi, lo) = (5usize, 3usize);
        assert_eq!((hi..lo).into_source().len(), 0);
    }

    #[test]
    fn ranges_past_usize_are_refused_with_their_exact_count() {
        let two_to_64 = 1u128 << 64;
        assert_eq!(
            (i64::MIN..=i64::MAX).into_source().try_len(),
            Err(Error::TooManyItems {
                items: two_to_64,
                limit: usize::MAX
            })
        );
        let unsigned = (0..=u64::MAX).into_source();
        assert!(
            matches!(unsigned.try_len(), Err(Error::TooManyItems { items, .. }) if items == two_to_64)
        );
        assert_eq!(unsigned.len(), usize::MAX, "len saturates; try_len refuses");
        if usize::BITS == 64 {
            // One item fewer is countable (if perhaps not allocatable).
            assert_eq!((0..u64::MAX).into_source().try_len(), Ok(usize::MAX));
            assert_eq!((i64::MIN..i64::MAX).into_source().try_len(), Ok(usize::MAX));
        }
        // A full range of the pointer-sized types is one item past `usize` everywhere.
        assert!((isize::MIN..=isize::MAX).into_source().try_len().is_err());
        assert!((0..=usize::MAX).into_source().try_len().is_err());
        assert_eq!((0..=255u8).into_source().try_len(), Ok(256));
        assert_eq!(vec![1, 2].into_source().try_len(), Ok(2));
    }

    #[test]
    fn signed_ranges_yield_every_item_past_the_signed_midpoint() {
        assert_eq!(
            all((-100i8..100).into_source()),
            (-100i8..100).collect::<Vec<_>>()
        );
        assert_eq!(all((i8::MIN..=i8::MAX).into_source()).len(), 256);
        assert_eq!(
            all((i16::MIN..=i16::MAX).into_source()).last(),
            Some(&i16::MAX)
        );
        let wide = (i64::MIN..=i64::MIN + 300).into_source();
        // SAFETY: each index once.
        assert_eq!(unsafe { wide.take(300) }.unwrap(), i64::MIN + 300);
    }

    #[test]
    fn vec_source_takes_once_and_drops_the_rest() {
        let counted = std::sync::Arc::new(());
        let s = vec![counted.clone(), counted.clone(), counted.clone()].into_source();
        // SAFETY: the first take of index 0; the second exercises the defensive check.
        let first = unsafe { s.take(0) }.unwrap();
        assert!(unsafe { s.take(0) }.is_err());
        assert!(unsafe { s.take(9) }.is_err());
        drop(s);
        assert_eq!(
            std::sync::Arc::strong_count(&counted),
            2,
            "untaken items are dropped"
        );
        drop(first);
    }
}
