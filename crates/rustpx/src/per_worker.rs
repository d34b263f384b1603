//! [`PerWorker<T>`]: one value per target worker, like ipyparallel's per-engine results.

use std::fmt;
use std::ops::{Index, IndexMut};

/// One value per worker of a view, in target order, indexed by worker id.
///
/// Iterating yields the values (so `per_worker.iter().sum()` adds them up);
/// [`PerWorker::pairs`] yields `(worker id, &value)`.
///
/// ```
/// let rc = rustpx::Client::local(3)?;
/// let parts = rc.view((0..).step_by(2))?.apply(|w| w.id() * 10)?;
/// assert_eq!(parts[2], 20);
/// assert_eq!(parts.get(1), None);
/// assert_eq!(parts.ids(), &[0, 2]);
/// assert_eq!(parts.iter().sum::<usize>(), 20);
/// assert_eq!(parts.to_string(), "Out[0]: 0\nOut[2]: 20");
/// # Ok::<(), rustpx::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct PerWorker<T> {
    ids: Vec<usize>,
    values: Vec<T>,
}

impl<T> PerWorker<T> {
    /// Pairs worker ids with values.
    ///
    /// # Errors
    /// [`Error::InputLength`](crate::Error::InputLength) when the lengths differ.
    pub fn new(ids: Vec<usize>, values: Vec<T>) -> Result<PerWorker<T>, crate::Error> {
        if ids.len() != values.len() {
            return Err(crate::Error::InputLength {
                expected: ids.len(),
                got: values.len(),
            });
        }
        Ok(PerWorker { ids, values })
    }

    pub(crate) fn from_parts(ids: Vec<usize>, values: Vec<T>) -> PerWorker<T> {
        debug_assert_eq!(ids.len(), values.len());
        PerWorker { ids, values }
    }

    /// The worker ids, in target order.
    pub fn ids(&self) -> &[usize] {
        &self.ids
    }

    /// How many workers have a value.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The value of worker `id`, if it has one.
    pub fn get(&self, id: usize) -> Option<&T> {
        self.ids
            .iter()
            .position(|&i| i == id)
            .map(|p| &self.values[p])
    }

    /// The value of worker `id`, mutably, if it has one.
    pub fn get_mut(&mut self, id: usize) -> Option<&mut T> {
        self.ids
            .iter()
            .position(|&i| i == id)
            .map(|p| &mut self.values[p])
    }

    /// The values in target order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.values.iter()
    }

    /// The values in target order, mutably.
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, T> {
        self.values.iter_mut()
    }

    /// The values in target order (the same as [`PerWorker::iter`]).
    pub fn values(&self) -> std::slice::Iter<'_, T> {
        self.values.iter()
    }

    /// `(worker id, &value)` in target order.
    pub fn pairs(&self) -> impl ExactSizeIterator<Item = (usize, &T)> + '_ {
        self.ids.iter().copied().zip(self.values.iter())
    }

    /// `(worker id, &mut value)` in target order.
    pub fn pairs_mut(&mut self) -> impl ExactSizeIterator<Item = (usize, &mut T)> + '_ {
        self.ids.iter().copied().zip(self.values.iter_mut())
    }

    /// The values as a slice, in target order.
    pub fn as_slice(&self) -> &[T] {
        &self.values
    }

    /// Takes the values, in target order.
    pub fn into_values(self) -> Vec<T> {
        self.values
    }

    /// Takes `(worker id, value)` pairs.
    pub fn into_pairs(self) -> impl ExactSizeIterator<Item = (usize, T)> {
        self.ids.into_iter().zip(self.values)
    }

    /// Applies `f` to each value (on the calling thread), keeping the worker ids.
    ///
    /// ```
    /// let rc = rustpx::Client::local(2)?;
    /// let doubled = rc.direct_view().push(21).map(|v| v * 2);
    /// assert_eq!(doubled.into_values(), vec![42, 42]);
    /// # Ok::<(), rustpx::Error>(())
    /// ```
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> PerWorker<U> {
        PerWorker {
            ids: self.ids,
            values: self.values.into_iter().map(f).collect(),
        }
    }

    /// Borrows each value, keeping the worker ids.
    pub fn as_ref(&self) -> PerWorker<&T> {
        PerWorker {
            ids: self.ids.clone(),
            values: self.values.iter().collect(),
        }
    }

    /// Borrows each value mutably, keeping the worker ids (for
    /// [`DirectView::apply_with`](crate::DirectView::apply_with)).
    pub fn as_mut(&mut self) -> PerWorker<&mut T> {
        PerWorker {
            ids: self.ids.clone(),
            values: self.values.iter_mut().collect(),
        }
    }
}

impl<T> Index<usize> for PerWorker<T> {
    type Output = T;
    /// The value of worker `id`.
    ///
    /// # Panics
    /// When worker `id` has no value; [`PerWorker::get`] does not panic.
    fn index(&self, id: usize) -> &T {
        match self.get(id) {
            Some(v) => v,
            None => panic!("worker {id} has no value here (workers: {:?})", self.ids),
        }
    }
}

impl<T> IndexMut<usize> for PerWorker<T> {
    fn index_mut(&mut self, id: usize) -> &mut T {
        let ids = self.ids.clone();
        match self.get_mut(id) {
            Some(v) => v,
            None => panic!("worker {id} has no value here (workers: {ids:?})"),
        }
    }
}

/// Collects `(worker id, value)` pairs, as `:px` does with what each worker returned.
///
/// ```
/// let p: rustpx::PerWorker<&str> = [(0, "a"), (2, "b")].into_iter().collect();
/// assert_eq!((p.ids(), p[2]), (&[0, 2][..], "b"));
/// ```
impl<T> FromIterator<(usize, T)> for PerWorker<T> {
    fn from_iter<I: IntoIterator<Item = (usize, T)>>(iter: I) -> Self {
        let (ids, values) = iter.into_iter().unzip();
        PerWorker::from_parts(ids, values)
    }
}

impl<T> IntoIterator for PerWorker<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.values.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a PerWorker<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.values.iter()
    }
}

impl<'a, T> IntoIterator for &'a mut PerWorker<T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.values.iter_mut()
    }
}

fn lines<T>(
    p: &PerWorker<T>,
    f: &mut fmt::Formatter<'_>,
    show: impl Fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result,
) -> fmt::Result {
    for (n, (id, v)) in p.pairs().enumerate() {
        if n > 0 {
            writeln!(f)?;
        }
        write!(f, "Out[{id}]: ")?;
        show(v, f)?;
    }
    Ok(())
}

impl<T: fmt::Display> fmt::Display for PerWorker<T> {
    /// One line per worker, as ipyparallel shows per-engine outputs: `Out[0]: value`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        lines(self, f, |v, f| fmt::Display::fmt(v, f))
    }
}

impl<T: fmt::Debug> fmt::Debug for PerWorker<T> {
    /// One line per worker with the values' `Debug`: `Out[0]: value`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        lines(self, f, |v, f| fmt::Debug::fmt(v, f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexing_iteration_and_display() {
        let mut p = PerWorker::new(vec![1, 3], vec!["a".to_string(), "b".into()]).unwrap();
        assert_eq!(p[3], "b");
        p[1].push('!');
        assert_eq!(format!("{p:?}"), "Out[1]: \"a!\"\nOut[3]: \"b\"");
        assert_eq!(p.pairs().map(|(i, _)| i).collect::<Vec<_>>(), vec![1, 3]);
        for v in p.iter_mut() {
            v.push('?');
        }
        assert_eq!(p.clone().into_pairs().last(), Some((3, "b?".to_string())));
        assert_eq!(p.as_ref().map(|s| s.len()).into_values(), vec![3, 2]);
        assert!(std::panic::catch_unwind(|| p[0].clone()).is_err());
        assert!(PerWorker::new(vec![0], Vec::<u8>::new()).is_err());
    }
}
