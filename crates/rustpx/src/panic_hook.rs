//! The runtime's panic hook: a worker's panic becomes a quiet
//! [`TaskError`](crate::TaskError) with a location, and a panic of the notebook cell itself
//! becomes the cell's error in the kernel.
//!
//! The location of a panic is only known to the hook, not to `catch_unwind`. While a
//! worker runs a task the hook records it (and the message) in a thread-local and prints
//! nothing, since the failure is reported through the call's result.
//!
//! evcxr catches a cell's panic and reports success, so the kernel learns of it only
//! from this hook: on the thread [`report_cell_panics`] was called from (the one that runs
//! cells), a panic is sent to the kernel as an [`Event::Error`] named `panic`. The hook
//! has to live in the runtime, not the kernel binary: cells link the toolchain's shared
//! libstd, whose hook is not the binary's. Any other panic goes to the hook that was
//! installed before ours.

use crate::protocol::{self, Event};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, PanicHookInfo};
use std::sync::{Once, OnceLock};
use std::thread::ThreadId;

thread_local! {
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The thread that runs notebook cells, once [`report_cell_panics`] has named it.
static CELL_THREAD: OnceLock<ThreadId> = OnceLock::new();

/// Reports a panic of the calling thread to the kernel as the failing cell's error
/// (`ename` `panic`, the panic's message as `evalue`). The kernel's prelude calls it on
/// the thread that runs cells; the first call names that thread for the process.
/// Without a kernel attached (see [`protocol::attached`]) such panics are printed as
/// usual.
pub fn report_cell_panics() {
    let _ = CELL_THREAD.set(std::thread::current().id());
    install();
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
            } else if !(on_cell_thread() && report_to_kernel(info.payload())) {
                previous(info);
            }
        }));
    });
}

fn on_cell_thread() -> bool {
    CELL_THREAD.get() == Some(&std::thread::current().id())
}

/// Sends the cell's panic to the kernel; `false` when no kernel listens.
fn report_to_kernel(payload: &(dyn Any + Send)) -> bool {
    let message = payload_message(payload);
    protocol::emit(&Event::Error {
        ename: "panic".into(),
        traceback: vec![format!("the cell panicked: {message}")],
        evalue: message,
    })
}

/// A panic's message: its payload when that is a string.
fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Runs a task body, catching a panic as (message, location).
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, (String, Option<String>)> {
    let was = IN_TASK.with(|t| t.replace(true));
    let result = panic::catch_unwind(panic::AssertUnwindSafe(f));
    IN_TASK.with(|t| t.set(was));
    result.map_err(|payload| {
        let message = payload_message(payload.as_ref());
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

    #[test]
    fn non_string_payloads_have_a_message() {
        install();
        let (msg, _) = catch(|| std::panic::panic_any(42)).unwrap_err();
        assert_eq!(msg, "panic with a non-string payload");
    }
}
