//! Per-worker output of `:px` code.
//!
//! Rust has no stable way to capture what a thread prints, so the kernel rewrites the
//! `print!` family and `dbg!` in `:px` code into [`px_print!`](crate::px_print) and
//! friends. These write through the capture installed on the worker for the duration of
//! its task: each complete line goes to the kernel at once, tagged with the worker, so
//! output streams while the cell runs and nothing printed before a failure is lost. With
//! `--group-outputs` (and for `--noblock` runs, which may outlive their cell) lines are
//! kept and shown per worker at the end instead. Code that prints from functions defined
//! in earlier cells still prints to the notebook, untagged.

use crate::protocol::{self as channel, Event, StreamName};
use parking_lot::Mutex;
use std::cell::RefCell;
use std::fmt;
use std::io::Write;
use std::sync::Arc;

/// Where the lines of one `:px` run go.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    keep: bool,
    kept: Mutex<Vec<(usize, StreamName, String)>>,
}

impl Sink {
    /// A sink that streams each line as it is printed (`keep == false`) or keeps them.
    pub(crate) fn new(keep: bool) -> Arc<Sink> {
        Arc::new(Sink {
            keep,
            kept: Mutex::new(Vec::new()),
        })
    }

    fn deliver(&self, worker: usize, name: StreamName, text: String) {
        if self.keep {
            self.kept.lock().push((worker, name, text));
        } else {
            show(worker, name, text);
        }
    }

    /// The kept lines, grouped by worker (in worker order, each worker's in print order).
    pub(crate) fn grouped(&self) -> Vec<(usize, StreamName, String)> {
        let mut kept = std::mem::take(&mut *self.kept.lock());
        kept.sort_by_key(|(w, ..)| *w);
        kept
    }

    /// Shows the kept lines grouped by worker.
    pub(crate) fn show_grouped(&self) {
        for (worker, name, text) in self.grouped() {
            show(worker, name, text);
        }
    }
}

/// Sends one piece of tagged output to the kernel, or prints it tagged outside a kernel.
pub(crate) fn show(worker: usize, name: StreamName, text: String) {
    if channel::emit(&Event::Stream {
        worker,
        name,
        text: text.clone(),
    }) {
        return;
    }
    let tagged: String = text
        .lines()
        .map(|l| format!("[{}:{worker}] {l}\n", stream_label(name)))
        .collect();
    match name {
        StreamName::Stdout => {
            let _ = std::io::stdout().lock().write_all(tagged.as_bytes());
        }
        StreamName::Stderr => {
            let _ = std::io::stderr().lock().write_all(tagged.as_bytes());
        }
    }
}

fn stream_label(name: StreamName) -> &'static str {
    match name {
        StreamName::Stdout => "stdout",
        StreamName::Stderr => "stderr",
    }
}

struct Capture {
    worker: usize,
    sink: Arc<Sink>,
    partial: [String; 2],
}

impl Capture {
    fn flush(&mut self) {
        for (i, name) in [StreamName::Stdout, StreamName::Stderr]
            .into_iter()
            .enumerate()
        {
            let rest = std::mem::take(&mut self.partial[i]);
            if !rest.is_empty() {
                self.sink.deliver(self.worker, name, rest);
            }
        }
    }
}

thread_local! {
    static CAPTURE: RefCell<Option<Capture>> = const { RefCell::new(None) };
}

/// Routes this thread's `px_print!` output to `sink` as `worker` until dropped; then the
/// last unterminated line is delivered too.
pub(crate) struct CaptureGuard(());

pub(crate) fn capture(worker: usize, sink: Arc<Sink>) -> CaptureGuard {
    CAPTURE.with(|c| {
        *c.borrow_mut() = Some(Capture {
            worker,
            sink,
            partial: Default::default(),
        });
    });
    CaptureGuard(())
}

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CAPTURE.with(|c| {
            if let Some(mut cap) = c.borrow_mut().take() {
                cap.flush();
            }
        });
    }
}

/// Writes formatted output to the current worker's stream; used by the `px_*` macros.
/// Outside a `:px` run it prints like `print!`/`eprint!`.
#[doc(hidden)]
pub fn write(name: StreamName, args: fmt::Arguments<'_>) {
    let text = args.to_string();
    let unrouted = CAPTURE.with(|c| {
        let mut c = c.borrow_mut();
        let Some(cap) = c.as_mut() else {
            return Some(text);
        };
        let i = usize::from(name == StreamName::Stderr);
        cap.partial[i].push_str(&text);
        if let Some(end) = cap.partial[i].rfind('\n') {
            let lines: String = cap.partial[i].drain(..=end).collect();
            cap.sink.deliver(cap.worker, name, lines);
        }
        None
    });
    if let Some(text) = unrouted {
        match name {
            StreamName::Stdout => print!("{text}"),
            StreamName::Stderr => eprint!("{text}"),
        }
    }
}

/// `print!` for `:px` code: output tagged with the worker that printed it.
#[macro_export]
macro_rules! px_print {
    ($($arg:tt)*) => {
        $crate::px::output::write($crate::protocol::StreamName::Stdout, format_args!($($arg)*))
    };
}

/// `println!` for `:px` code: output tagged with the worker that printed it.
#[macro_export]
macro_rules! px_println {
    () => { $crate::px_print!("\n") };
    ($($arg:tt)*) => {
        $crate::px::output::write(
            $crate::protocol::StreamName::Stdout,
            format_args!("{}\n", format_args!($($arg)*)),
        )
    };
}

/// `eprint!` for `:px` code: output tagged with the worker that printed it.
#[macro_export]
macro_rules! px_eprint {
    ($($arg:tt)*) => {
        $crate::px::output::write($crate::protocol::StreamName::Stderr, format_args!($($arg)*))
    };
}

/// `eprintln!` for `:px` code: output tagged with the worker that printed it.
#[macro_export]
macro_rules! px_eprintln {
    () => { $crate::px_eprint!("\n") };
    ($($arg:tt)*) => {
        $crate::px::output::write(
            $crate::protocol::StreamName::Stderr,
            format_args!("{}\n", format_args!($($arg)*)),
        )
    };
}

/// `dbg!` for `:px` code: the value and its expression on the worker's stderr.
#[macro_export]
macro_rules! px_dbg {
    () => {
        $crate::px_eprintln!("[{}:{}:{}]", file!(), line!(), column!())
    };
    ($val:expr $(,)?) => {
        match $val {
            tmp => {
                $crate::px_eprintln!(
                    "[{}:{}:{}] {} = {:#?}", file!(), line!(), column!(), stringify!($val), &tmp
                );
                tmp
            }
        }
    };
    ($($val:expr),+ $(,)?) => { ($($crate::px_dbg!($val)),+,) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_delivered_whole_and_the_rest_on_drop() {
        let sink = Sink::new(true);
        {
            let _g = capture(3, Arc::clone(&sink));
            crate::px_print!("a");
            crate::px_println!("b");
            crate::px_eprintln!("oops {}", 1);
            crate::px_print!("tail");
        }
        let got = sink.grouped();
        assert_eq!(
            got,
            [
                (3, StreamName::Stdout, "ab\n".to_string()),
                (3, StreamName::Stderr, "oops 1\n".to_string()),
                (3, StreamName::Stdout, "tail".to_string()),
            ]
        );
        // The capture ended with the guard.
        CAPTURE.with(|c| assert!(c.borrow().is_none()));
    }

    #[test]
    fn grouped_output_is_in_worker_order() {
        let sink = Sink::new(true);
        for w in [2, 0, 2, 1] {
            let _g = capture(w, Arc::clone(&sink));
            crate::px_println!("from {w}");
        }
        let workers: Vec<usize> = sink.grouped().into_iter().map(|(w, ..)| w).collect();
        assert_eq!(workers, [0, 1, 2, 2]);
    }

    #[test]
    fn dbg_returns_its_value() {
        let sink = Sink::new(true);
        let v = {
            let _g = capture(0, Arc::clone(&sink));
            crate::px_dbg!(2 + 3)
        };
        assert_eq!(v, 5);
        let text = &sink.grouped()[0].2;
        assert!(text.contains("2 + 3 = 5"), "{text}");
    }
}
