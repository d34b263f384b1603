//! The panic hook that turns a worker's panic into a quiet [`TaskError`](crate::TaskError)
//! with a location.
//!
//! The location of a panic is only known to the hook, not to `catch_unwind`. While a
//! worker runs a task the hook records it (and the message) in a thread-local and prints
//! nothing, since the failure is reported through the call's result. Any other panic goes
//! to the hook that was installed before ours.

use std::cell::{Cell, RefCell};
use std::panic::{self, PanicHookInfo};
use std::sync::Once;

thread_local! {
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the hook once per process.
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            if IN_TASK.with(Cell::get) {
                let loc = info.location().map(|l| l.to_string());
                LAST.with(|l| *l.borrow_mut() = loc);
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs a task body, catching a panic as (message, location).
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, (String, Option<String>)> {
    let was = IN_TASK.with(|t| t.replace(true));
    let result = panic::catch_unwind(panic::AssertUnwindSafe(f));
    IN_TASK.with(|t| t.set(was));
    result.map_err(|payload| {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "panic with a non-string payload".to_string()
        };
        // Dropping a payload can itself panic; keep that away from the worker.
        let _ = panic::catch_unwind(panic::AssertUnwindSafe(move || drop(payload)));
        (message, LAST.with(|l| l.borrow_mut().take()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catches_message_and_location() {
        install();
        let (msg, loc) = catch(|| panic!("boom {}", 1)).unwrap_err();
        assert_eq!(msg, "boom 1");
        assert!(loc.unwrap().contains("panic_hook.rs"));
        assert_eq!(catch(|| 5).unwrap(), 5);
    }
}
