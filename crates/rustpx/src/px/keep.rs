//! Keeping notebook variables through a failing `:px` cell.
//!
//! evcxr drops every variable a failing cell re-`let`s: it takes all variables out of
//! its store when a cell starts, and puts back only those the cell does not define anew.
//! So a `:px` cell that fails before it could assign `let x = …` would lose the old `x`.
//! The generated code hands such old values to [`keep`] on its failure path, and the
//! kernel then runs `let x: T = rustpx::px::restore::<T>("x")?;` with the type evcxr
//! reported, so the notebook is as it was before the cell.

use super::PxError;
use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;

thread_local! {
    // evcxr runs every cell on the child's main thread; values need not be `Send`.
    static KEPT: RefCell<HashMap<String, Box<dyn Any>>> = RefCell::new(HashMap::new());
}

/// Holds `value`, the old value of the notebook variable `name`, for [`restore`].
///
/// ```
/// rustpx::px::keep("x", vec![1, 2]);
/// assert_eq!(rustpx::px::restore::<Vec<i32>>("x"), Ok(vec![1, 2]));
/// assert!(rustpx::px::restore::<Vec<i32>>("x").is_err(), "taken once");
/// ```
pub fn keep<T: 'static>(name: &str, value: T) {
    KEPT.with(|k| k.borrow_mut().insert(name.to_string(), Box::new(value)));
}

/// Takes back what [`keep`] held for `name`.
///
/// # Errors
/// [`PxError::NotKept`] if nothing of type `T` is held for `name`.
pub fn restore<T: 'static>(name: &str) -> Result<T, PxError> {
    let value = KEPT.with(|k| k.borrow_mut().remove(name));
    value
        .and_then(|v| v.downcast::<T>().ok())
        .map(|v| *v)
        .ok_or_else(|| PxError::NotKept(name.to_string()))
}
