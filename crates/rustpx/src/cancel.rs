//! Cooperative cancellation: a running task asks [`cancelled()`] (or uses
//! [`check_cancelled()`]`?`) to learn that its call was aborted, interrupted or timed out.
//!
//! Rust cannot stop a thread from outside, so a long task that never asks runs to its
//! end; a blocking call that must wait for it (a scoped `map`) then returns only when it
//! does.

use crate::Cancelled;
use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    // The running task's two stop flags: its call's (abort, interrupt) and its own
    // (timeout). Null outside a task. The worker sets them around each task and the
    // flags outlive the task (they live in the job the worker holds).
    static TOKEN: Cell<[*const AtomicBool; 2]> = const { Cell::new([ptr::null(); 2]) };
}

/// Sets the running task's flags for the duration of `f`.
pub(crate) fn with_token<T>(call: &AtomicBool, task: &AtomicBool, f: impl FnOnce() -> T) -> T {
    struct Reset([*const AtomicBool; 2]);
    impl Drop for Reset {
        fn drop(&mut self) {
            TOKEN.with(|t| t.set(self.0));
        }
    }
    let previous = TOKEN.with(|t| t.replace([call, task]));
    let _reset = Reset(previous);
    f()
}

/// Whether the running task was told to stop: its call was aborted
/// ([`AsyncMapResult::abort`](crate::AsyncMapResult::abort)) or interrupted, or the
/// task ran past its time limit. Always `false` outside a task.
///
/// ```
/// use std::time::Duration;
/// let rc = rustpx::Client::local(1)?;
/// let lview = rc.load_balanced_view().timeout(Duration::from_millis(50));
/// let err = lview.map(0..1, |_| {
///     while !rustpx::cancelled() {
///         std::thread::sleep(Duration::from_millis(1));
///     }
/// }).unwrap_err();
/// assert!(err.to_string().contains("timed out"));
/// # Ok::<(), rustpx::Error>(())
/// ```
pub fn cancelled() -> bool {
    TOKEN.with(|t| {
        t.get().iter().any(|&flag| {
            // SAFETY: non-null only while the worker runs the task, and the flags live
            // in the job that the worker keeps alive for that time.
            !flag.is_null() && unsafe { (*flag).load(Ordering::Relaxed) }
        })
    })
}

/// `Err(Cancelled)` when the running task was told to stop, for use with `?` in the
/// `try_` calls.
///
/// ```
/// assert_eq!(rustpx::check_cancelled(), Ok(()));
/// ```
pub fn check_cancelled() -> Result<(), Cancelled> {
    if cancelled() { Err(Cancelled) } else { Ok(()) }
}
