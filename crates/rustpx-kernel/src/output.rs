//! Turning the child process's output into Jupyter messages while a cell runs.
//!
//! evcxr hands over the child's stdout and stderr lines on two channels. A stdout line
//! that carries a marker (see `rustpx::protocol`) becomes `display_data`,
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
//!
//! A cell's own output always precedes its reply: [`OutputReaders::settle`] waits until
//! both readers have handled everything the cell's runs wrote (see `child` for the fence
//! that marks the end of a run's stderr).

use super::child::is_fence;
use super::errors::CellError;
use super::outbox::Outbox;
use super::wire::Request;
use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex};
use rustpx::protocol::{Event, StreamName};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the output readers know about the cell that output belongs to.
#[derive(Default)]
pub struct CellOutput {
    /// The execute request output is attributed to.
    pub parent: Option<Request>,
    /// Whether the running cell is silent (no output published).
    pub silent: bool,
    /// The first failure the child reported for the running cell.
    failure: Option<Failure>,
    /// The end of the stderr text received while the cell ran (the message of a `?`
    /// error is its last line).
    stderr: String,
}

/// How the child reported that the running cell failed.
enum Failure {
    /// With the whole error (a panic, a runtime event).
    Raised(CellError),
    /// The cell returned an `Err` through `?`; its message is on stderr.
    QuestionMark,
}

/// How much of a cell's stderr is kept for a `?` error's message and traceback.
const STDERR_KEPT: usize = 64 * 1024;

impl CellOutput {
    /// The output state for a cell that starts running `request`.
    pub fn for_request(request: &Request, silent: bool) -> CellOutput {
        CellOutput {
            parent: Some(request.clone()),
            silent,
            ..CellOutput::default()
        }
    }

    /// The failure the child reported since the last call, if any; clears what was
    /// collected for it.
    pub fn take_error(&mut self) -> Option<CellError> {
        let stderr = std::mem::take(&mut self.stderr);
        match self.failure.take()? {
            Failure::Raised(error) => Some(error),
            Failure::QuestionMark => Some(CellError::question_mark(&stderr)),
        }
    }

    fn report(&mut self, failure: Failure) {
        self.failure.get_or_insert(failure);
    }

    /// Appends `text` and keeps the last [`STDERR_KEPT`] bytes, from a line start when
    /// one is in there.
    fn record_stderr(&mut self, text: &str) {
        self.stderr.push_str(text);
        if self.stderr.len() > STDERR_KEPT {
            let mut cut = self.stderr.len() - STDERR_KEPT;
            while !self.stderr.is_char_boundary(cut) {
                cut += 1;
            }
            if let Some(at) = self.stderr[cut..].find('\n')
                && cut + at + 1 < self.stderr.len()
            {
                cut += at + 1;
            }
            self.stderr.drain(..cut);
        }
    }
}

/// Shared between the executor and the two reader threads.
pub type SharedCell = Arc<Mutex<CellOutput>>;

/// The reader threads of one evcxr context, and the means to wait until they have
/// handled everything a cell wrote.
pub struct OutputReaders {
    sync: Sender<Sender<()>>,
    /// How many output fences (`child::FENCE`, one per run) stderr has delivered.
    fences: Arc<(Mutex<u64>, Condvar)>,
}

/// How long [`OutputReaders::settle`] waits for stderr fences. evcxr's stderr thread
/// normally delivers them within microseconds; this only bounds a stuck pipe.
const STDERR_FENCE_PATIENCE: Duration = Duration::from_secs(2);

/// Starts the stdout and stderr readers for one evcxr context.
pub fn spawn_readers(
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    cell: SharedCell,
    outbox: Arc<Outbox>,
) -> OutputReaders {
    let (sync, sync_rx) = crossbeam_channel::unbounded();
    let fences = Arc::new((Mutex::new(0), Condvar::new()));
    let (c, o) = (cell.clone(), outbox.clone());
    let _ = std::thread::Builder::new()
        .name("rustpx-stdout".into())
        .spawn(move || read_stdout(&stdout, &sync_rx, &c, &o));
    let f = fences.clone();
    let _ = std::thread::Builder::new()
        .name("rustpx-stderr".into())
        .spawn(move || read_stderr(&stderr, &cell, &outbox, &f));
    OutputReaders { sync, fences }
}

impl OutputReaders {
    /// How many runs' stderr has fully arrived; take it before a cell, for [`settle`].
    ///
    /// [`settle`]: OutputReaders::settle
    pub fn mark(&self) -> u64 {
        *self.fences.0.lock()
    }

    /// Returns once every line of the cell that just ended has been handled, so its
    /// stream messages precede the reply and its reported errors are recorded. `runs` is
    /// how many times the child ran code since [`mark`](OutputReaders::mark) returned
    /// `mark`.
    ///
    /// evcxr waits for its stdout channel to drain before `execute` returns, so the
    /// stdout reader has every line and only needs to finish the batch it holds. stderr
    /// has its own thread in evcxr: wait for the fence each run writes there last.
    pub fn settle(&self, mark: u64, runs: usize) {
        let (ack, acked) = crossbeam_channel::bounded(1);
        if self.sync.send(ack).is_ok() {
            let _ = acked.recv_timeout(Duration::from_secs(5));
        }
        let (seen, arrived) = &*self.fences;
        let mut seen = seen.lock();
        let deadline = Instant::now() + STDERR_FENCE_PATIENCE;
        while *seen < mark + runs as u64 {
            if arrived.wait_until(&mut seen, deadline).timed_out() {
                tracing::warn!("stderr of the last cell is late; it will follow the reply");
                return;
            }
        }
    }
}

fn read_stdout(
    rx: &Receiver<String>,
    sync: &Receiver<Sender<()>>,
    cell: &SharedCell,
    outbox: &Outbox,
) {
    loop {
        crossbeam_channel::select! {
            recv(rx) -> line => match line {
                Ok(first) => forward_stdout(first, rx, cell, outbox),
                Err(_) => return,
            },
            recv(sync) -> ack => {
                let Ok(ack) = ack else { return };
                while let Ok(line) = rx.try_recv() {
                    forward_stdout(line, rx, cell, outbox);
                }
                let _ = ack.send(());
            }
        }
    }
}

/// Handles `first` and the lines already waiting behind it (batched into one stream
/// message, without delaying anything).
fn forward_stdout(first: String, rx: &Receiver<String>, cell: &SharedCell, outbox: &Outbox) {
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
        if text.len() < 64 * 1024 {
            line = rx.try_recv().ok();
        }
    }
    flush_stream(cell, outbox, "stdout", &mut text);
}

fn read_stderr(
    rx: &Receiver<String>,
    cell: &SharedCell,
    outbox: &Outbox,
    fences: &(Mutex<u64>, Condvar),
) {
    while let Ok(first) = rx.recv() {
        let mut text = String::new();
        let mut line = Some(first);
        while let Some(l) = line.take() {
            if is_fence(&l) {
                // What came before the fence is the run's: publish it, then tell.
                publish_stderr(cell, outbox, &mut text);
                *fences.0.lock() += 1;
                fences.1.notify_all();
            } else {
                text.push_str(&l);
                text.push('\n');
            }
            if text.len() < 64 * 1024 {
                line = rx.try_recv().ok();
            }
        }
        publish_stderr(cell, outbox, &mut text);
    }
}

/// Records stderr text for the running cell (a `?` error's message is in it) and
/// publishes it.
fn publish_stderr(cell: &SharedCell, outbox: &Outbox, text: &mut String) {
    if !text.is_empty() {
        cell.lock().record_stderr(text);
        flush_stream(cell, outbox, "stderr", text);
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
        } => guard.report(Failure::Raised(CellError {
            ename,
            evalue,
            traceback,
        })),
        Event::QuestionMarkError => guard.report(Failure::QuestionMark),
    }
}

/// ipyparallel's `[stdout:w]` header in front of a worker's output.
fn prefix_worker(worker: usize, name: &str, text: &str) -> String {
    format!("[{name}:{worker}] {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_question_mark_takes_its_message_from_stderr_and_the_first_failure_wins() {
        let mut cell = CellOutput::default();
        cell.record_stderr("some log\n");
        cell.report(Failure::QuestionMark);
        cell.report(Failure::Raised(CellError::message("panic", "later")));
        cell.record_stderr("invalid digit found in string\n");
        let error = cell.take_error().unwrap();
        assert_eq!(error.evalue, "invalid digit found in string");
        assert_eq!(error.traceback.len(), 2);
        assert_eq!(cell.take_error(), None);
    }

    #[test]
    fn a_long_stderr_keeps_its_last_whole_lines() {
        let mut cell = CellOutput::default();
        for i in 0..100_000 {
            cell.record_stderr(&format!("line {i}\n"));
        }
        assert!(cell.stderr.len() <= STDERR_KEPT);
        assert!(cell.stderr.starts_with("line "));
        assert!(cell.stderr.ends_with("line 99999\n"));
    }

    #[test]
    fn worker_output_is_labelled() {
        assert_eq!(prefix_worker(2, "stdout", "hi\n"), "[stdout:2] hi\n");
    }
}
