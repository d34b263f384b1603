//! Turning the child process's output into Jupyter messages while a cell runs.
//!
//! evcxr hands over the child's stdout and stderr lines on two channels. A stdout line
//! that carries a marker (see `rustpx::protocol`) becomes `display_data`,
//! `update_display_data`, a per-worker stream, or a recorded cell error; any other line
//! is `stream` output. A line is sent as it arrives, so output appears while the cell
//! runs; only lines that follow within a few milliseconds are batched (see
//! `StreamBuffer`), so a cell printing megabytes sends few large messages.
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
    fences: Arc<Fences>,
}

/// A count of output fences and the means to wait for the next.
type Fences = (Mutex<u64>, Condvar);

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

/// The shortest time between two stream messages of one stream: lines that arrive sooner
/// wait for the rest of it (with the lines behind them).
const STREAM_INTERVAL: Duration = Duration::from_millis(20);

/// Stream text that is sent at once, whatever the interval.
const STREAM_BATCH: usize = 64 * 1024;

/// Text of one stream on its way to the notebook. A line goes out at once unless a
/// message left less than [`STREAM_INTERVAL`] ago; then it waits out the interval,
/// gathering the lines behind it up to [`STREAM_BATCH`]. A flood of lines so becomes a
/// few large messages (each one signed, queued and parsed by the frontend as a whole),
/// while a lone line still shows at once.
#[derive(Default)]
struct StreamBuffer {
    text: String,
    last_sent: Option<Instant>,
}

impl StreamBuffer {
    fn push_line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }

    fn is_full(&self) -> bool {
        self.text.len() >= STREAM_BATCH
    }

    /// When the buffered text is due: a channel that delivers then, or never when there
    /// is no text.
    fn due(&self) -> Receiver<Instant> {
        if self.text.is_empty() {
            return crossbeam_channel::never();
        }
        let now = Instant::now();
        let at = self
            .last_sent
            .map_or(now, |t| (t + STREAM_INTERVAL).max(now));
        crossbeam_channel::at(at)
    }

    fn take(&mut self) -> String {
        self.last_sent = Some(Instant::now());
        std::mem::take(&mut self.text)
    }
}

fn read_stdout(
    rx: &Receiver<String>,
    sync: &Receiver<Sender<()>>,
    cell: &SharedCell,
    outbox: &Outbox,
) {
    let mut buffer = StreamBuffer::default();
    let never = crossbeam_channel::never();
    loop {
        // With text waiting, lines are taken when it is due, all at once: waking this
        // thread for each line of a flood costs more than handling it.
        let lines = if buffer.text.is_empty() { rx } else { &never };
        crossbeam_channel::select! {
            recv(lines) -> line => match line {
                Ok(line) => on_stdout_line(&line, &mut buffer, cell, outbox),
                Err(_) => return send_stream(cell, outbox, "stdout", &mut buffer),
            },
            recv(sync) -> ack => {
                let Ok(ack) = ack else { return };
                drain_queued(rx, &mut buffer, |l, b| on_stdout_line(l, b, cell, outbox));
                send_stream(cell, outbox, "stdout", &mut buffer);
                let _ = ack.send(());
            }
            recv(buffer.due()) -> _ => {
                drain_queued(rx, &mut buffer, |l, b| on_stdout_line(l, b, cell, outbox));
                send_stream(cell, outbox, "stdout", &mut buffer);
            }
        }
    }
}

/// Handles the lines queued now, and no more: under a flood the reader still gets back to
/// its other duties (acks, deadlines).
fn drain_queued(
    rx: &Receiver<String>,
    buffer: &mut StreamBuffer,
    mut on_line: impl FnMut(&str, &mut StreamBuffer),
) {
    for line in rx.try_iter().take(rx.len()) {
        on_line(&line, buffer);
    }
}

/// A marker line's event is handled in its place: the text before it is sent first.
fn on_stdout_line(line: &str, buffer: &mut StreamBuffer, cell: &SharedCell, outbox: &Outbox) {
    match Event::parse_line(line) {
        Some((before, event)) => {
            buffer.text.push_str(before);
            send_stream(cell, outbox, "stdout", buffer);
            handle_event(cell, outbox, event);
        }
        None => {
            buffer.push_line(line);
            if buffer.is_full() {
                send_stream(cell, outbox, "stdout", buffer);
            }
        }
    }
}

fn read_stderr(rx: &Receiver<String>, cell: &SharedCell, outbox: &Outbox, fences: &Fences) {
    let mut buffer = StreamBuffer::default();
    let never = crossbeam_channel::never();
    loop {
        // As for stdout; a fence behind waiting text waits with it, at most an interval.
        let lines = if buffer.text.is_empty() { rx } else { &never };
        crossbeam_channel::select! {
            recv(lines) -> line => match line {
                Ok(line) => on_stderr_line(&line, &mut buffer, cell, outbox, fences),
                Err(_) => return send_stream(cell, outbox, "stderr", &mut buffer),
            },
            recv(buffer.due()) -> _ => {
                drain_queued(rx, &mut buffer, |l, b| on_stderr_line(l, b, cell, outbox, fences));
                send_stream(cell, outbox, "stderr", &mut buffer);
            }
        }
    }
}

/// At a fence, what came before it is the run's: it is sent, then the fence counted.
fn on_stderr_line(
    line: &str,
    buffer: &mut StreamBuffer,
    cell: &SharedCell,
    outbox: &Outbox,
    fences: &Fences,
) {
    if is_fence(line) {
        send_stream(cell, outbox, "stderr", buffer);
        *fences.0.lock() += 1;
        fences.1.notify_all();
    } else {
        buffer.push_line(line);
        if buffer.is_full() {
            send_stream(cell, outbox, "stderr", buffer);
        }
    }
}

/// Publishes the buffered text of stream `name` under the cell it belongs to. stderr is
/// also recorded for the cell (a `?` error's message is in it).
fn send_stream(cell: &SharedCell, outbox: &Outbox, name: &str, buffer: &mut StreamBuffer) {
    if buffer.text.is_empty() {
        return;
    }
    let text = buffer.take();
    let mut guard = cell.lock();
    if name == "stderr" {
        guard.record_stderr(&text);
    }
    if let (Some(parent), false) = (&guard.parent, guard.silent) {
        outbox.publish(parent.iopub("stream", json!({ "name": name, "text": text })));
    } else {
        tracing::info!("{name} outside a cell: {text}");
    }
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
        // Only an engine writes these, and the engines' hub takes them.
        Event::Pulled { .. } | Event::TaskWanted { .. } | Event::TaskEnded { .. } => {
            tracing::warn!("an engine's event outside the engines ignored")
        }
    }
}

/// ipyparallel's `[stdout:w]` header in front of a worker's output.
fn prefix_worker(worker: usize, name: &str, text: &str) -> String {
    format!("[{name}:{worker}] {text}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::message;
    use jupyter_protocol::{JupyterMessage, JupyterMessageContent};

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

    fn stream_texts(
        iopub: &mut tokio::sync::mpsc::UnboundedReceiver<JupyterMessage>,
    ) -> Vec<String> {
        let mut texts = Vec::new();
        while let Ok(message) = iopub.try_recv() {
            if let JupyterMessageContent::UnknownMessage(m) = message.content {
                texts.push(m.content["text"].as_str().unwrap_or_default().to_string());
            }
        }
        texts
    }

    #[test]
    fn a_lone_line_goes_at_once_and_a_stream_of_lines_leaves_in_batches() {
        let (iopub, mut published) = tokio::sync::mpsc::unbounded_channel();
        let (shell, _) = tokio::sync::mpsc::unbounded_channel();
        let (control, _) = tokio::sync::mpsc::unbounded_channel();
        let (stdin, _) = tokio::sync::mpsc::unbounded_channel();
        let outbox = Arc::new(Outbox {
            iopub,
            shell,
            control,
            stdin,
            input_waiter: Mutex::new(None),
        });
        let request = Request {
            message: message("execute_request", json!({}), None),
            msg_type: "execute_request".into(),
            content: json!({}),
            announced: false,
        };
        let cell = Arc::new(Mutex::new(CellOutput::for_request(&request, false)));
        let (stdout, lines) = crossbeam_channel::unbounded();
        let (_stderr, stderr_lines) = crossbeam_channel::unbounded::<String>();
        let readers = spawn_readers(lines, stderr_lines, cell, outbox);

        stdout.send("alone".to_string()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut texts = Vec::new();
        while texts.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
            texts = stream_texts(&mut published);
        }
        assert_eq!(
            texts,
            ["alone\n"],
            "sent without waiting for the cell's end"
        );

        // Lines that trickle in about as fast as the reader takes them (a cell printing
        // in a loop) still leave in batches, one per interval at most.
        let lines = 5_000;
        let start = Instant::now();
        for i in 0..lines {
            stdout.send(format!("line {i}")).unwrap();
            std::thread::sleep(Duration::from_micros(50));
        }
        readers.settle(readers.mark(), 0);
        let intervals = start.elapsed().as_millis() / STREAM_INTERVAL.as_millis() + 1;
        let texts = stream_texts(&mut published);
        let expected: String = (0..lines).map(|i| format!("line {i}\n")).collect();
        assert_eq!(texts.concat(), expected);
        assert!(
            texts.len() as u128 <= intervals + 1,
            "{} messages",
            texts.len()
        );
    }

    #[test]
    fn worker_output_is_labelled() {
        assert_eq!(prefix_worker(2, "stdout", "hi\n"), "[stdout:2] hi\n");
    }
}
