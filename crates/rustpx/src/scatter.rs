//! Splitting data into per-worker parts ([`Scatter`]) and joining them ([`Gather`]),
//! with ipyparallel's split: contiguous parts, the first `len % n` one element longer.

use crate::schedule::partition;
use crate::{Error, PerWorker};
use ndarray::{Array, ArrayView, Axis, RemoveAxis};

/// Data that [`DirectView::scatter`](crate::DirectView::scatter) can split.
pub trait Scatter {
    /// One worker's part.
    type Part;
    /// Splits into `n` contiguous parts.
    fn split_into(self, n: usize) -> Vec<Self::Part>;
}

impl<T> Scatter for Vec<T> {
    type Part = Vec<T>;
    fn split_into(mut self, n: usize) -> Vec<Vec<T>> {
        let blocks = partition(self.len(), n);
        // Split from the back so each part is moved out, never cloned.
        let mut parts: Vec<Vec<T>> = blocks
            .iter()
            .rev()
            .map(|b| self.split_off(b.start))
            .collect();
        parts.reverse();
        parts
    }
}

impl<T: Clone> Scatter for &[T] {
    type Part = Vec<T>;
    fn split_into(self, n: usize) -> Vec<Vec<T>> {
        partition(self.len(), n)
            .into_iter()
            .map(|b| self[b].to_vec())
            .collect()
    }
}

impl<T: Clone> Scatter for &Vec<T> {
    type Part = Vec<T>;
    fn split_into(self, n: usize) -> Vec<Vec<T>> {
        self.as_slice().split_into(n)
    }
}

/// Arrays split along axis 0 (rows, or frames of a stack).
///
/// ```
/// use ndarray::Array2;
/// let rc = rustpx::Client::local(2)?;
/// let dview = rc.direct_view();
/// let a = Array2::from_shape_fn((5, 2), |(r, c)| (r * 2 + c) as f64);
/// let parts = dview.scatter(a.clone());
/// assert_eq!(parts[0].nrows(), 3);
/// assert_eq!(dview.gather(&parts)?, a);
/// # Ok::<(), rustpx::Error>(())
/// ```
impl<A: Clone, D: RemoveAxis> Scatter for Array<A, D> {
    type Part = Array<A, D>;
    fn split_into(self, n: usize) -> Vec<Array<A, D>> {
        self.view().split_into(n)
    }
}

impl<A: Clone, D: RemoveAxis> Scatter for &Array<A, D> {
    type Part = Array<A, D>;
    fn split_into(self, n: usize) -> Vec<Array<A, D>> {
        self.view().split_into(n)
    }
}

impl<A: Clone, D: RemoveAxis> Scatter for ArrayView<'_, A, D> {
    type Part = Array<A, D>;
    fn split_into(self, n: usize) -> Vec<Array<A, D>> {
        let len = if self.ndim() == 0 {
            0
        } else {
            self.len_of(Axis(0))
        };
        partition(len, n)
            .into_iter()
            .map(|b| self.slice_axis(Axis(0), (b.start..b.end).into()).to_owned())
            .collect()
    }
}

/// Parts that [`DirectView::gather`](crate::DirectView::gather) can join.
pub trait Gather: Sized {
    /// The joined value.
    type Output;
    /// Joins the parts in target order.
    fn gather(parts: &PerWorker<Self>) -> Self::Output;
}

impl<T: Clone> Gather for Vec<T> {
    type Output = Vec<T>;
    fn gather(parts: &PerWorker<Vec<T>>) -> Vec<T> {
        parts.iter().flatten().cloned().collect()
    }
}

impl<A: Clone, D: RemoveAxis> Gather for Array<A, D> {
    type Output = Result<Array<A, D>, Error>;
    fn gather(parts: &PerWorker<Array<A, D>>) -> Result<Array<A, D>, Error> {
        let views: Vec<ArrayView<'_, A, D>> = parts.iter().map(|a| a.view()).collect();
        if views.is_empty() {
            return Err(Error::Shape("nothing to gather".into()));
        }
        ndarray::concatenate(Axis(0), &views).map_err(|e| Error::Shape(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array3};

    #[test]
    fn vec_split_matches_ipyparallel() {
        let parts = (0..10).collect::<Vec<_>>().split_into(4);
        assert_eq!(
            parts,
            vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7], vec![8, 9]]
        );
        assert_eq!(
            Vec::<u8>::new().split_into(2),
            vec![Vec::<u8>::new(), Vec::new()]
        );
        assert_eq!((&[1, 2][..]).split_into(3), vec![vec![1], vec![2], vec![]]);
    }

    #[test]
    fn arrays_split_along_axis_0_and_gather_back() {
        let stack = Array3::from_shape_fn((7, 2, 3), |(f, r, c)| (f * 100 + r * 10 + c) as u16);
        let parts = stack.clone().split_into(3);
        assert_eq!(
            parts.iter().map(|p| p.shape()[0]).collect::<Vec<_>>(),
            vec![3, 2, 2]
        );
        let per = PerWorker::from_parts(vec![0, 1, 2], parts);
        assert_eq!(Array::gather(&per).unwrap(), stack);
        let bad = PerWorker::from_parts(
            vec![0, 1],
            vec![
                Array1::<f32>::zeros(2).into_dyn(),
                ndarray::ArrayD::zeros(vec![1, 2]),
            ],
        );
        assert!(matches!(Array::gather(&bad), Err(Error::Shape(_))));
    }
}
