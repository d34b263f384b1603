//! Kernel interrupts that keep the notebook's state.
//!
//! evcxr runs notebook cells in a child process, and a plain SIGINT kills that child
//! with every variable in it. The rustpx kernel therefore forwards a Jupyter interrupt
//! to the child as `SIGUSR1`, which this module turns into a flag that every blocking
//! wait of the runtime polls (at least every [`POLL_INTERVAL`]). The wait that sees the
//! flag consumes it, aborts its pending tasks, signals its running ones and returns
//! [`Error::Interrupted`](crate::Error::Interrupted); the process and its variables live on.
//!
//! When a cell ends, the kernel sends `SIGUSR2` so that an interrupt which arrived while
//! the cell was not waiting (and was therefore never consumed) cannot fail a wait in a
//! later cell.
//!
//! Outside a kernel nothing is installed and [`pending`] is always `false` unless a test
//! calls [`raise`].

use crate::protocol::{CLEAR_SIGNAL, INTERRUPT_SIGNAL};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The longest a runtime wait goes without looking at the interrupt flag.
///
/// The kernel promises control back within a second of an interrupt; a short poll keeps
/// that promise with room for the abort itself.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

// Counters rather than a flag: the handlers run at signal time and only touch atomics,
// so a clear (SIGUSR2) followed by a new interrupt (SIGUSR1) before anyone polls keeps
// the new interrupt. An interrupt is pending while `RAISED` is ahead of `SEEN`.
static RAISED: AtomicU64 = AtomicU64::new(0);
static SEEN: AtomicU64 = AtomicU64::new(0);

/// Installs the `SIGUSR1`/`SIGUSR2` handlers. The kernel's prelude calls this once per
/// child process, before it ever forwards an interrupt (an unhandled `SIGUSR1` would kill
/// the child). Calling it again is harmless.
///
/// # Errors
/// Returns the OS error if a handler cannot be registered.
pub fn install() -> std::io::Result<()> {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    // SAFETY: both handlers only perform atomic loads and stores, which are
    // async-signal-safe; they allocate nothing and take no lock.
    unsafe {
        signal_hook::low_level::register(INTERRUPT_SIGNAL, raise)?;
        signal_hook::low_level::register(CLEAR_SIGNAL, clear)?;
    }
    let _ = INSTALLED.set(());
    Ok(())
}

/// Whether an interrupt is waiting to be consumed.
pub fn pending() -> bool {
    RAISED.load(Ordering::Acquire) > SEEN.load(Ordering::Acquire)
}

/// Consumes a pending interrupt: returns `true` once per interrupt. A runtime wait that
/// gets `true` aborts its work and returns [`Error::Interrupted`](crate::Error::Interrupted).
pub fn take() -> bool {
    let raised = RAISED.load(Ordering::Acquire);
    SEEN.fetch_max(raised, Ordering::AcqRel) < raised
}

/// Raises an interrupt from inside the process, as the kernel's `SIGUSR1` would.
/// Meant for tests and for code that wants to stop the current wait.
pub fn raise() {
    RAISED.fetch_add(1, Ordering::AcqRel);
}

/// Drops any pending interrupt, as the kernel's `SIGUSR2` would.
pub fn clear() {
    SEEN.fetch_max(RAISED.load(Ordering::Acquire), Ordering::AcqRel);
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test owns the process-wide flag so parallel tests cannot race on it.
    #[test]
    fn raise_take_clear_and_signals() {
        install().unwrap();
        clear();
        assert!(!pending());
        raise();
        assert!(pending());
        assert!(take());
        assert!(!take());

        raise();
        clear();
        assert!(!take());

        signal_hook::low_level::raise(INTERRUPT_SIGNAL).unwrap();
        assert!(pending());
        signal_hook::low_level::raise(CLEAR_SIGNAL).unwrap();
        assert!(!pending());
    }
}
