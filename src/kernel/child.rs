//! Set-up of evcxr's child process (the process that runs cells), done in `main` before
//! `evcxr::runtime_hook()` hands the process to evcxr.
//!
//! evcxr reports a failing cell only to itself: a panic is caught and announced on stdout
//! with a line evcxr consumes, and a `?` error is printed to stderr followed by another
//! consumed line; `execute()` then returns `Ok`. The kernel needs to know, so this module
//! (1) installs a panic hook that sends the panic's message and location as a marker-line
//! [`Event::Error`], and (2) taps stdout to add a marker before evcxr's `?`-error line.
//! It also ignores the interrupt signals until the notebook prelude installs the runtime's
//! real handlers, so an early interrupt cannot kill the child (and every variable).

use rustpx::display::channel::Event;
use std::io::Write;

/// evcxr's line after the message of an error returned by `?` in a cell.
const EVCXR_USER_ERROR: &[u8] = b"EVCXR_ERROR_OCCURRED";

/// `ename` of the event sent for a `?` error: the message itself is what evcxr printed
/// to stderr just before, which the kernel collects.
pub const QUESTION_MARK_ENAME: &str = "rustpx::question_mark_error";

/// `ename` of the event sent for a panic in a cell.
pub const PANIC_ENAME: &str = "panic";

/// Whether this process is evcxr's child (then `runtime_hook` will not return).
pub fn is_child() -> bool {
    std::env::var_os("EVCXR_IS_RUNTIME").is_some()
}

/// Prepares the child; see the module documentation. Failures only lose error detection,
/// so they are reported on stderr and otherwise ignored.
pub fn prepare() {
    for signal in [
        rustpx::interrupt::INTERRUPT_SIGNAL,
        rustpx::interrupt::CLEAR_SIGNAL,
    ] {
        let ignored = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Err(e) = signal_hook::flag::register(signal, ignored) {
            eprintln!("rustpx: cannot guard signal {signal}: {e}");
        }
    }
    install_panic_hook();
    let tapped = super::fdtap::tap(1, |line, out| {
        if line.trim_ascii_end() == EVCXR_USER_ERROR {
            let event = Event::Error {
                ename: QUESTION_MARK_ENAME.into(),
                evalue: String::new(),
                traceback: Vec::new(),
            };
            let _ = writeln!(out, "{}", event.to_line());
        }
        let _ = out.write_all(line);
    });
    if let Err(e) = tapped {
        eprintln!("rustpx: cannot watch stdout for cell errors: {e}");
    }
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Cells run on the child's main thread; panics elsewhere (the runtime's workers
        // have their own hook, user threads) keep the usual report.
        if std::thread::current().name() != Some("main") {
            previous(info);
            return;
        }
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "Box<dyn Any>".to_string());
        let location = info.location().map(|l| l.to_string()).unwrap_or_default();
        let event = Event::Error {
            ename: PANIC_ENAME.into(),
            evalue: message.clone(),
            traceback: vec![format!("thread 'main' panicked at {location}:"), message],
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", event.to_line());
        let _ = out.flush();
    }));
}
