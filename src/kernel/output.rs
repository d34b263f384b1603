//! Turning the child process's output into Jupyter messages while a cell runs.
//!
//! evcxr hands over the child's stdout and stderr lines on two channels. A stdout line
//! that carries a marker (see `rustpx::display::channel`) becomes `display_data`,
//! `update_display_data`, a per-worker stream, or a recorded cell error; any other line
//! is `stream` output. Lines are sent as they arrive (batched only with lines already
//! waiting), so output appears while the cell runs.
//!
//! Late output policy: output is attributed to the cell that is running or, when none
//! is, to the cell that ran last (as ipykernel does for background threads), so a worker
//! that prints after its cell ended still shows under that cell. evcxr only reads the
//! child's stdout during `execute()`, so stdout written between cells arrives when the
//! next cell starts and is shown under that next cell; stderr has its own reader and is
//! shown under the last cell as it arrives.

use super::child::QUESTION_MARK_ENAME;
use super::outbox::Outbox;
use super::wire::Request;
use crossbeam_channel::Receiver;
use parking_lot::Mutex;
use rustpx::display::channel::{Event, StreamName};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// What the output readers know about the cell that output belongs to.
#[derive(Default)]
pub struct CellOutput {
    /// The execute request output is attributed to.
    pub parent: Option<Request>,
    /// Errors reported by the child for the running cell (panic, `?`, runtime events).
    pub errors: Vec<(String, String, Vec<String>)>,
    /// stderr text received while the cell ran (the message of a `?` error is in it).
    pub stderr: String,
    /// Whether the running cell is silent (no output published).
    pub silent: bool,
}

/// Shared between the executor and the two reader threads.
pub type SharedCell = Arc<Mutex<CellOutput>>;

/// Starts the stdout and stderr readers for one evcxr context.
pub fn spawn_readers(
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    cell: SharedCell,
    outbox: Arc<Outbox>,
) {
    let (c, o) = (cell.clone(), outbox.clone());
    let _ = std::thread::Builder::new()
        .name("rustpx-stdout".into())
        .spawn(move || read_stdout(&stdout, &c, &o));
    let _ = std::thread::Builder::new()
        .name("rustpx-stderr".into())
        .spawn(move || read_stderr(&stderr, &cell, &outbox));
}

/// Waits a little for stderr lines still in flight (evcxr reads stderr on its own
/// thread, so a `?` error's message can trail the end of the cell).
pub fn settle_stderr(stderr_pending: impl Fn() -> bool) {
    for _ in 0..20 {
        if !stderr_pending() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn read_stdout(rx: &Receiver<String>, cell: &SharedCell, outbox: &Outbox) {
    while let Ok(first) = rx.recv() {
        let mut text = String::new();
        let mut line = Some(first);
        while let Some(l) = line.take() {
            match Event::parse_line(&l) {
                Some((before, event)) => {
                    text.push_str(before);
                    flush_stream(cell, outbox, "stdout", &mut text);
                    handle_event(cell, outbox, event);
                }
                None => {
                    text.push_str(&l);
                    text.push('\n');
                }
            }
            // Batch what is already waiting, without delaying anything.
            if text.len() < 64 * 1024 {
                line = rx.try_recv().ok();
            }
        }
        flush_stream(cell, outbox, "stdout", &mut text);
    }
}

fn read_stderr(rx: &Receiver<String>, cell: &SharedCell, outbox: &Outbox) {
    while let Ok(first) = rx.recv() {
        let mut text = format!("{first}\n");
        while text.len() < 64 * 1024 {
            match rx.try_recv() {
                Ok(l) => {
                    text.push_str(&l);
                    text.push('\n');
                }
                Err(_) => break,
            }
        }
        cell.lock().stderr.push_str(&text);
        flush_stream(cell, outbox, "stderr", &mut text);
    }
}

fn flush_stream(cell: &SharedCell, outbox: &Outbox, name: &str, text: &mut String) {
    if text.is_empty() {
        return;
    }
    let guard = cell.lock();
    if let (Some(parent), false) = (&guard.parent, guard.silent) {
        outbox.publish(parent.iopub("stream", json!({ "name": name, "text": text })));
    } else {
        tracing::info!("{name} outside a cell: {text}");
    }
    text.clear();
}

fn handle_event(cell: &SharedCell, outbox: &Outbox, event: Event) {
    let mut guard = cell.lock();
    let publish = |msg_type: &str, content: Value| {
        if let (Some(parent), false) = (&guard.parent, guard.silent) {
            outbox.publish(parent.iopub(msg_type, content));
        }
    };
    match event {
        Event::Display { id, data } => {
            let transient = id.map_or(json!({}), |id| json!({ "display_id": id }));
            publish(
                "display_data",
                json!({ "data": data, "metadata": {}, "transient": transient }),
            );
        }
        Event::Update { id, data } => {
            publish(
                "update_display_data",
                json!({ "data": data, "metadata": {}, "transient": { "display_id": id } }),
            );
        }
        Event::Stream { worker, name, text } => {
            let name = match name {
                StreamName::Stdout => "stdout",
                StreamName::Stderr => "stderr",
            };
            let text = prefix_worker(worker, name, &text);
            publish("stream", json!({ "name": name, "text": text }));
        }
        Event::Error {
            ename,
            evalue,
            traceback,
        } => {
            guard.errors.push((ename, evalue, traceback));
        }
    }
}

/// ipyparallel's `[stdout:w]` header in front of a worker's output.
fn prefix_worker(worker: usize, name: &str, text: &str) -> String {
    format!("[{name}:{worker}] {text}")
}

/// The `(ename, evalue, traceback)` for the errors the child reported during a cell, if
/// any. A `?` error's message is the stderr text evcxr printed for it.
pub fn cell_error(
    errors: &[(String, String, Vec<String>)],
    stderr: &str,
) -> Option<(String, String, Vec<String>)> {
    let (ename, evalue, traceback) = errors.first()?.clone();
    if ename == QUESTION_MARK_ENAME {
        let message = stderr.trim_end().lines().last().unwrap_or("").to_string();
        let lines: Vec<String> = stderr.trim_end().lines().map(str::to_string).collect();
        let message = if message.is_empty() {
            "the cell returned an error".into()
        } else {
            message
        };
        return Some((
            "Error".into(),
            message,
            if lines.is_empty() { vec![] } else { lines },
        ));
    }
    Some((ename, evalue, traceback))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_mark_error_takes_its_message_from_stderr() {
        let errors = vec![(QUESTION_MARK_ENAME.to_string(), String::new(), vec![])];
        let (ename, evalue, tb) =
            cell_error(&errors, "some log\ninvalid digit found in string\n").unwrap();
        assert_eq!(ename, "Error");
        assert_eq!(evalue, "invalid digit found in string");
        assert_eq!(tb.len(), 2);
        assert!(cell_error(&[], "anything").is_none());
    }

    #[test]
    fn panics_keep_their_fields() {
        let errors = vec![(
            "panic".to_string(),
            "boom".to_string(),
            vec!["at x".to_string()],
        )];
        assert_eq!(
            cell_error(&errors, ""),
            Some(("panic".into(), "boom".into(), vec!["at x".into()]))
        );
    }

    #[test]
    fn worker_output_is_labelled() {
        assert_eq!(prefix_worker(2, "stdout", "hi\n"), "[stdout:2] hi\n");
    }
}
