//! In-memory ndarray stacks as map sources: items are the sub-arrays along axis 0.
//!
//! A map accepts an array wherever it accepts an [`ImageSequence`](super::ImageSequence):
//! an `Array3<T>` is a stack of frames (`frames[i]` = `a.index_axis(Axis(0), i)`), an
//! `Array2<T>` a list of rows (pyUSID's spectra, one per row), an `Array1<T>` a list of
//! values.
//!
//! | given to a map | source | one item |
//! |---|---|---|
//! | `Array<A, D>`, `Arc<Array<A, D>>`, `&Arc<…>` | [`Stack`] (`'static`, for `map_async`) | an owned copy of the sub-array (`Array1<A>` row, `Array2<A>` frame, …); for `Array1` the element `A` (cloned) |
//! | `&Array<A, D>`, `ArrayView<A, D>` | [`StackView`] (borrows, for blocking maps) | a view (`ArrayView1<A>`, `ArrayView2<A>`, …); for 1-D `&A` |
//!
//! Dimensions 1 to 4 and `IxDyn` are supported. A dynamic-dimensional array with no
//! axes has no items.

use crate::source::{IntoSource, ItemError, Source};
use ndarray::{Array, ArrayView, Axis, Dimension, Ix1, Ix2, Ix3, Ix4, IxDyn};
use std::sync::Arc;

/// An owned array shared behind an `Arc`, mapped over its first axis; each item is an
/// owned copy of one sub-array. Cheap to clone, `'static`, so it suits `map_async`.
///
/// ```
/// use ndarray::{Array2, Array3};
/// use rustpx::frames::Stack;
/// use rustpx::source::{IntoSource, Source};
/// let frames = Array3::from_shape_fn((4, 2, 2), |(i, _, _)| i as u16);
/// let stack: Stack<u16, _> = frames.into_source();
/// assert_eq!(stack.len(), 4);
/// // The scheduler calls `take` once per index; here we do it by hand.
/// assert_eq!(unsafe { stack.take(3) }.unwrap(), Array2::from_elem((2, 2), 3u16));
/// ```
#[derive(Debug)]
pub struct Stack<A, D: Dimension> {
    array: Arc<Array<A, D>>,
}

impl<A, D: Dimension> Clone for Stack<A, D> {
    fn clone(&self) -> Self {
        Stack {
            array: Arc::clone(&self.array),
        }
    }
}

impl<A, D: Dimension> Stack<A, D> {
    /// The whole array.
    pub fn array(&self) -> &Array<A, D> {
        &self.array
    }
}

/// A borrowed array (or view) mapped over its first axis; each item is a view of one
/// sub-array, so nothing is copied. For the blocking maps, which may borrow.
///
/// ```
/// use ndarray::Array2;
/// use rustpx::frames::StackView;
/// use rustpx::source::{IntoSource, Source};
/// let spectra = Array2::from_shape_fn((3, 5), |(r, c)| (r * 10 + c) as f64);
/// let rows: StackView<f64, _> = (&spectra).into_source();
/// assert_eq!(unsafe { rows.take(2) }.unwrap()[4], 24.0);
/// ```
#[derive(Debug, Clone)]
pub struct StackView<'a, A, D: Dimension> {
    view: ArrayView<'a, A, D>,
}

impl<'a, A, D: Dimension> StackView<'a, A, D> {
    /// The whole view.
    pub fn view(&self) -> &ArrayView<'a, A, D> {
        &self.view
    }
}

/// Length along axis 0; an array with no axes (only possible with `IxDyn`) has none.
fn outer_len<A, S: ndarray::Data<Elem = A>, D: Dimension>(a: &ndarray::ArrayBase<S, D>) -> usize {
    if a.ndim() == 0 { 0 } else { a.len_of(Axis(0)) }
}

/// The error for an index past the end; the scheduler never asks for one, but `take` is
/// public and must not panic.
fn out_of_range(index: usize, len: usize) -> ItemError {
    ItemError(format!(
        "item {index} is out of range: the array has {len} along axis 0"
    ))
}

macro_rules! stack_sources {
    ($($dim:ty),*) => {$(
        impl<A: Clone + Send + Sync> Source for Stack<A, $dim> {
            type Item = Array<A, <$dim as Dimension>::Smaller>;

            fn len(&self) -> usize {
                outer_len(&*self.array)
            }

            unsafe fn take(&self, index: usize) -> Result<Self::Item, ItemError> {
                let len = outer_len(&*self.array);
                if index >= len {
                    return Err(out_of_range(index, len));
                }
                Ok(self.array.index_axis(Axis(0), index).to_owned())
            }
        }

        impl<'a, A: Sync> Source for StackView<'a, A, $dim> {
            type Item = ArrayView<'a, A, <$dim as Dimension>::Smaller>;

            fn len(&self) -> usize {
                outer_len(&self.view)
            }

            unsafe fn take(&self, index: usize) -> Result<Self::Item, ItemError> {
                let len = outer_len(&self.view);
                if index >= len {
                    return Err(out_of_range(index, len));
                }
                Ok(self.view.clone().index_axis_move(Axis(0), index))
            }
        }
    )*};
}

stack_sources!(Ix2, Ix3, Ix4, IxDyn);

impl<A: Clone + Send + Sync> Source for Stack<A, Ix1> {
    type Item = A;

    fn len(&self) -> usize {
        self.array.len()
    }

    unsafe fn take(&self, index: usize) -> Result<A, ItemError> {
        self.array
            .get(index)
            .cloned()
            .ok_or_else(|| out_of_range(index, self.array.len()))
    }
}

impl<'a, A: Sync> Source for StackView<'a, A, Ix1> {
    type Item = &'a A;

    fn len(&self) -> usize {
        self.view.len()
    }

    unsafe fn take(&self, index: usize) -> Result<&'a A, ItemError> {
        let len = self.view.len();
        if index >= len {
            return Err(out_of_range(index, len));
        }
        // Through a 0-d view rather than `get`, whose result would borrow `self`
        // instead of living for 'a.
        Ok(self.view.index_axis_move(Axis(0), index).into_scalar())
    }
}

macro_rules! into_stack_sources {
    ($($dim:ty),*) => {$(
        impl<A: Clone + Send + Sync> IntoSource for Array<A, $dim> {
            type Source = Stack<A, $dim>;
            fn into_source(self) -> Stack<A, $dim> {
                Stack { array: Arc::new(self) }
            }
        }

        impl<A: Clone + Send + Sync> IntoSource for Arc<Array<A, $dim>> {
            type Source = Stack<A, $dim>;
            fn into_source(self) -> Stack<A, $dim> {
                Stack { array: self }
            }
        }

        impl<A: Clone + Send + Sync> IntoSource for &Arc<Array<A, $dim>> {
            type Source = Stack<A, $dim>;
            fn into_source(self) -> Stack<A, $dim> {
                Stack { array: Arc::clone(self) }
            }
        }

        impl<A: Clone + Send + Sync> IntoSource for Stack<A, $dim> {
            type Source = Stack<A, $dim>;
            fn into_source(self) -> Stack<A, $dim> {
                self
            }
        }

        impl<'a, A: Sync> IntoSource for &'a Array<A, $dim> {
            type Source = StackView<'a, A, $dim>;
            fn into_source(self) -> StackView<'a, A, $dim> {
                StackView { view: self.view() }
            }
        }

        impl<'a, A: Sync> IntoSource for ArrayView<'a, A, $dim> {
            type Source = StackView<'a, A, $dim>;
            fn into_source(self) -> StackView<'a, A, $dim> {
                StackView { view: self }
            }
        }

        impl<'a, A: Sync> IntoSource for StackView<'a, A, $dim> {
            type Source = StackView<'a, A, $dim>;
            fn into_source(self) -> StackView<'a, A, $dim> {
                self
            }
        }
    )*};
}

into_stack_sources!(Ix1, Ix2, Ix3, Ix4, IxDyn);

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2, Array3, ArrayD, array, s};

    fn all<S: Source>(source: &S) -> Vec<S::Item> {
        (0..source.len())
            .map(|i| unsafe { source.take(i) }.unwrap())
            .collect()
    }

    #[test]
    fn owned_frames_along_axis_0() {
        let a = Array3::from_shape_fn((3, 2, 2), |(i, r, c)| (i * 100 + r * 10 + c) as f32);
        let frames = all(&a.clone().into_source());
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[2], array![[200.0, 201.0], [210.0, 211.0]]);
        let shared = Arc::new(a);
        let again = all(&(&shared).into_source());
        assert_eq!(again, frames);
        assert_eq!(
            Arc::strong_count(&shared),
            1,
            "items are copies, the source is gone"
        );
    }

    #[test]
    fn views_and_borrowed_arrays_do_not_copy() {
        let a = Array3::from_shape_fn((4, 3, 3), |(i, _, _)| i as u8);
        let views = all(&(&a).into_source());
        assert_eq!(views.len(), 4);
        assert!(std::ptr::eq(
            views[1].as_ptr(),
            a.slice(s![1, .., ..]).as_ptr()
        ));
        // A strided view: every other frame, transposed.
        let odd = a.slice(s![1..;2, .., ..]).reversed_axes().reversed_axes();
        let items = all(&odd.into_source());
        assert_eq!(items.len(), 2);
        assert_eq!(items[1], Array2::from_elem((3, 3), 3u8));
    }

    #[test]
    fn rows_and_elements() {
        let spectra = Array2::from_shape_fn((5, 119), |(r, c)| (r * 1000 + c) as f64);
        let rows = all(&spectra.clone().into_source());
        assert_eq!(rows[4].len(), 119);
        assert_eq!(rows[4][118], 4118.0);
        let row_views = all(&spectra.view().into_source());
        assert_eq!(row_views[3][0], 3000.0);

        let values: Array1<i32> = array![5, 6, 7];
        assert_eq!(all(&values.clone().into_source()), [5, 6, 7]);
        assert_eq!(all(&(&values).into_source()), [&5, &6, &7]);
        let strided = values.slice(s![..;-2]);
        assert_eq!(all(&strided.into_source()), [&7, &5]);
    }

    #[test]
    fn dynamic_and_empty_arrays() {
        let d = ArrayD::<u8>::zeros(vec![2, 3, 4]);
        let items = all(&d.into_source());
        assert_eq!(items[1].shape(), &[3, 4]);
        let scalar = ArrayD::<u8>::zeros(vec![]);
        assert_eq!(Source::len(&scalar.into_source()), 0);
        let empty = Array3::<u8>::zeros((0, 5, 5));
        let source = empty.into_source();
        assert!(source.is_empty());
        assert!(unsafe { source.take(0) }.is_err());
        let one_d = Array1::<u8>::zeros(2);
        assert!(unsafe { (&one_d).into_source().take(2) }.is_err());
    }
}
