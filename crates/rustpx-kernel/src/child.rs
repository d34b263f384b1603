//! Set-up of evcxr's child process (the process that runs cells), done in `main` before
//! `evcxr::runtime_hook()` hands the process to evcxr.
//!
//! evcxr reports a failing cell only to itself: a `?` error is printed to stderr followed
//! by a line on stdout that evcxr consumes, and `execute()` then returns `Ok`. So this
//! module taps stdout and writes a marker-line [`Event::QuestionMarkError`] before that
//! line. (Panics are reported by the runtime's panic hook, which the notebook prelude
//! installs: cells use the toolchain's shared libstd, whose panic hook is not this
//! binary's.)
//!
//! The tap also writes an *output fence* on stderr when evcxr's end-of-run line goes
//! by. evcxr reads stderr on a thread of its own, so without it the kernel cannot tell
//! when a cell's last stderr line (an `eprintln!`, the message of a `?` error) has
//! arrived; with it, the kernel waits for one fence per run (see
//! `output::OutputReaders::settle`). Nothing is added to stdout: evcxr waits for its
//! stdout channel to drain after each run, and nobody reads that channel during the
//! run evcxr makes while starting.
//!
//! It filters evcxr's commands on stdin: a cell library reused from the build cache
//! exports another run's entry point (see `cell_build::alias`).
//!
//! It also ignores the interrupt signals until the notebook prelude installs the runtime's
//! real handlers, so an early interrupt cannot kill the child (and every variable).

use rustpx::protocol::Event;
use std::io::Write;

/// evcxr's line after the message of an error returned by `?` in a cell.
const EVCXR_USER_ERROR: &[u8] = b"EVCXR_ERROR_OCCURRED";

/// evcxr's line after each run of a cell in the child.
const EVCXR_EXECUTION_COMPLETE: &[u8] = b"EVCXR_EXECUTION_COMPLETE";

/// Starts an output-fence line on stderr; the rest is the run's number in this process
/// (for logs).
pub const FENCE: &str = "\u{1}rustpx-fence\u{1}";

/// Whether `line` is an output fence.
pub fn is_fence(line: &str) -> bool {
    line.starts_with(FENCE)
}

/// Whether this process is evcxr's child (then `runtime_hook` will not return).
pub fn is_child() -> bool {
    std::env::var_os("EVCXR_IS_RUNTIME").is_some()
}

/// Prepares the child; see the module documentation. Failures only lose error detection,
/// so they are reported on stderr and otherwise ignored.
pub fn prepare() {
    for signal in [
        rustpx::protocol::INTERRUPT_SIGNAL,
        rustpx::protocol::CLEAR_SIGNAL,
    ] {
        let ignored = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Err(e) = signal_hook::flag::register(signal, ignored) {
            eprintln!("rustpx: cannot guard signal {signal}: {e}");
        }
    }
    let mut runs = 0u64;
    let tapped = super::fdtap::tap(1, move |line, out| {
        let line_end = line.trim_ascii_end();
        if line_end == EVCXR_EXECUTION_COMPLETE {
            runs += 1;
            // Everything the run wrote to stderr is already in that pipe, ahead of this.
            let _ = writeln!(std::io::stderr(), "{FENCE}{runs}");
        } else if line_end == EVCXR_USER_ERROR {
            let _ = writeln!(out, "{}", Event::QuestionMarkError.to_line());
        }
        let _ = out.write_all(line);
    });
    if let Err(e) = tapped {
        eprintln!("rustpx: cannot watch stdout for cell errors: {e}");
    }
    let aliased = super::fdtap::tap_input(0, |line, process| {
        let _ = match super::cell_build::alias::resolve(line) {
            Some(aliased) => process.write_all(&aliased),
            None => process.write_all(line),
        };
    });
    if let Err(e) = aliased {
        // A reused cell library then fails to load with evcxr's "undefined symbol" error.
        eprintln!("rustpx: cannot filter evcxr's commands: {e}");
    }
}
