//! The protocol between the runtime (inside evcxr's child process) and the kernel.
//!
//! Both crates name this module: the runtime writes [`Event`]s, the kernel reads them,
//! and the kernel signals the runtime with [`INTERRUPT_SIGNAL`] and [`CLEAR_SIGNAL`].
//!
//! Only stdout leaves the child while a cell runs, and evcxr's own
//! `EVCXR_BEGIN_CONTENT` blocks are collected until the cell ends (only the last block
//! per MIME type survives). So the runtime writes *marker lines*: [`MARKER`] followed
//! by one JSON-encoded [`Event`] and a newline. The kernel takes these lines out of the
//! stream and turns them into Jupyter messages (`display_data`,
//! `update_display_data`, per-worker `stream` output, error replies). The runtime knows
//! MIME bundles, never Jupyter messages.
//!
//! The kernel sets [`KERNEL_ENV`] in the child's environment; without it (a plain
//! program, `cargo test`) [`emit`] writes nothing and returns `false`, and callers fall
//! back to the terminal (a progress bar on stderr, text on stdout).
//!
//! Calls that need an answer from the kernel (moving values to and from the MPI
//! engines, [`crate::engines`]) cannot use stdout: they connect to the unix socket named
//! by [`SOCKET_ENV`] and exchange one [`EngineRequest`] for one [`EngineReply`], each a
//! JSON line ([`write_message`]); the values go through files beside.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::sync::OnceLock;

/// Starts every marker line. The control characters keep it from clashing with
/// anything a user prints.
pub const MARKER: &str = "\u{1}rustpx\u{1}";

/// The signal the kernel sends to interrupt the waiting cell (see [`crate::interrupt`]).
pub const INTERRUPT_SIGNAL: i32 = signal_hook::consts::SIGUSR1;

/// The signal the kernel sends when a cell ends, to drop an unconsumed interrupt.
pub const CLEAR_SIGNAL: i32 = signal_hook::consts::SIGUSR2;

/// Set (to any value) by the kernel in the environment of the process that runs cells.
pub const KERNEL_ENV: &str = "RUSTPX_KERNEL";

/// Set by the kernel to the path of the unix socket that answers [`EngineRequest`]s.
pub const SOCKET_ENV: &str = "RUSTPX_KERNEL_SOCKET";

/// Set on every engine: where an engine on a host that cannot see the kernel's files
/// keeps the files the kernel's hub sends it (cell libraries, pushed values).
pub const ENGINE_MIRROR_ENV: &str = "RUSTPX_ENGINE_MIRROR";

/// Set on an engine that runs from its mirror (see [`ENGINE_MIRROR_ENV`]).
pub const ENGINE_MIRRORED_ENV: &str = "RUSTPX_ENGINE_MIRRORED";

/// Set to `1` to turn live progress bars into one final line (CI, docs builds).
pub const NONINTERACTIVE_ENV: &str = "RUSTPX_NONINTERACTIVE";

/// A MIME bundle: MIME type to its content (text, or base64 for binary formats).
pub type MimeBundle = serde_json::Map<String, serde_json::Value>;

/// Which output stream a [`Event::Stream`] belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamName {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One message from the runtime to the kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// Show `data` now. With an `id`, later [`Event::Update`]s replace it in place.
    Display {
        /// The display id (Jupyter's `transient.display_id`), if it will be updated.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// What to show.
        data: MimeBundle,
    },
    /// Replace what is shown under `id`.
    Update {
        /// The display id given in an earlier [`Event::Display`].
        id: String,
        /// The new content.
        data: MimeBundle,
    },
    /// Output printed by code running on one worker (`:px`), shown as `[stdout:w]`.
    Stream {
        /// The worker that printed it.
        worker: usize,
        /// stdout or stderr.
        name: StreamName,
        /// The text, usually whole lines.
        text: String,
    },
    /// The cell failed; the kernel answers it with an error reply carrying these fields.
    Error {
        /// The error's type name.
        ename: String,
        /// The error's message.
        evalue: String,
        /// Lines of detail, most relevant first.
        traceback: Vec<String>,
    },
    /// An engine that cannot see the kernel's files hands over its value for a pull
    /// (what it would write to `pull/<rank>` in the transfer directory); the hub writes
    /// the file there for the notebook.
    Pulled {
        /// The value's bytes, base64 (the engine is the one whose output carries it).
        data: String,
    },
    /// An engine that cannot see the kernel's files asks the hub to claim for it the
    /// first task of the running map from `from` on that no engine has taken; the hub
    /// answers into the engine's mirror (see `rustpx::engines::offer`).
    TaskWanted {
        /// The first task to consider.
        from: usize,
    },
    /// Such an engine hands over what became of a task it ran, for the hub to record in
    /// the map's files (see `rustpx::engines::record_ended`).
    TaskEnded {
        /// The task and its outcome, base64.
        data: String,
    },
    /// The cell returned an `Err` through `?`. evcxr prints the error's message on the
    /// child's stderr just before, so the event carries nothing: the kernel takes the
    /// message from the stderr it collected for the cell.
    QuestionMarkError,
}

impl Event {
    /// The marker line for this event, without the trailing newline.
    pub fn to_line(&self) -> String {
        // Serializing these plain types cannot fail.
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("{MARKER}{json}")
    }

    /// Parses a marker line as written by [`Event::to_line`]. Text before the marker
    /// (a user's unterminated `print!`) is returned first so it is not lost.
    ///
    /// ```
    /// use rustpx::protocol::{Event, StreamName};
    /// let e = Event::Stream { worker: 1, name: StreamName::Stdout, text: "hi\n".into() };
    /// let line = format!("partial{}", e.to_line());
    /// assert_eq!(Event::parse_line(&line), Some(("partial", e)));
    /// assert_eq!(Event::parse_line("ordinary output"), None);
    /// ```
    pub fn parse_line(line: &str) -> Option<(&str, Event)> {
        let at = line.find(MARKER)?;
        let json = line[at + MARKER.len()..].trim_end_matches(['\r', '\n']);
        let event = serde_json::from_str(json).ok()?;
        Some((&line[..at], event))
    }
}

/// Whether a rustpx kernel is reading this process's stdout.
pub fn attached() -> bool {
    static ATTACHED: OnceLock<bool> = OnceLock::new();
    *ATTACHED.get_or_init(|| std::env::var_os(KERNEL_ENV).is_some())
}

/// Whether progress bars should print one final line instead of updating.
pub fn noninteractive() -> bool {
    std::env::var(NONINTERACTIVE_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Sends `event` to the kernel. Returns `false` (and writes nothing) outside a kernel.
pub fn emit(event: &Event) -> bool {
    if !attached() {
        return false;
    }
    let line = event.to_line();
    // One write of a whole line under the stdout lock, so lines printed by other
    // threads cannot split it.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    true
}

/// What the runtime asks of the kernel about the engines. The values themselves cross
/// as `postcard` files in the engines' transfer directory (named in every
/// [`EngineReply::Ok`]): `push/all` (one value for every engine) or `push/R` (engine R's
/// own), written by the runtime before a push; `pull/R`, written by engine R for a pull;
/// for a map, `map/items/I` (task I's item, by the runtime), `map/claims/I` (created by
/// the engine that takes task I), `map/results/I` or `map/failed/I` (by that engine) and
/// `map/abort` (by the runtime, to stop the engines taking tasks).
/// The files never leave this host, so nothing is copied through the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum EngineRequest {
    /// How many engines are running, and where their transfer directory is.
    Size,
    /// Define the variable `name` on every engine from the files in `push/`.
    Push {
        /// The variable's name.
        name: String,
        /// `std::any::type_name` of the value, which the kernel turns into the type the
        /// engines declare the variable with.
        type_name: String,
        /// `1` for `push/all`, or the number of engines for `push/R` files.
        parts: usize,
    },
    /// Have every engine write its variable `name` to `pull/R`.
    Pull {
        /// The variable's name.
        name: String,
    },
    /// Have the engines run `function` (defined in an engine cell) on each of the
    /// `items` files in `map/items/`, each task taken by the first engine free for it.
    Map {
        /// The function's path, as the engines' cells name it.
        function: String,
        /// `std::any::type_name` of an item, as for [`EngineRequest::Push`].
        type_name: String,
    },
}

/// The kernel's answer to an [`EngineRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum EngineReply {
    /// Done.
    Ok {
        /// How many engines are running.
        engines: usize,
        /// The engines' transfer directory.
        transfer: std::path::PathBuf,
    },
    /// Not done, and why (no engines, a compile error, the failing rank).
    Error {
        /// The reason, as the user should read it.
        message: String,
    },
}

/// Writes `message` as one JSON line (how requests and replies cross the socket).
///
/// ```
/// use rustpx::protocol::{EngineRequest, read_message, write_message};
/// let mut wire = Vec::new();
/// let request = EngineRequest::Pull { name: "x".into() };
/// write_message(&mut wire, &request)?;
/// assert_eq!(read_message::<EngineRequest>(&mut wire.as_slice())?, request);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_message<M: Serialize>(out: &mut impl Write, message: &M) -> std::io::Result<()> {
    let mut json = serde_json::to_vec(message)?;
    json.push(b'\n');
    out.write_all(&json)?;
    out.flush()
}

/// Reads a message written by [`write_message`].
pub fn read_message<M: serde::de::DeserializeOwned>(
    input: &mut impl std::io::BufRead,
) -> std::io::Result<M> {
    let mut line = Vec::new();
    input.read_until(b'\n', &mut line)?;
    Ok(serde_json::from_slice(&line)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_round_trips() {
        let mut data = MimeBundle::new();
        data.insert("text/plain".into(), "x".into());
        let events = [
            Event::Display {
                id: Some("p1".into()),
                data: data.clone(),
            },
            Event::Display {
                id: None,
                data: data.clone(),
            },
            Event::Update {
                id: "p1".into(),
                data,
            },
            Event::Stream {
                worker: 3,
                name: StreamName::Stderr,
                text: "a\nb".into(),
            },
            Event::Error {
                ename: "E".into(),
                evalue: "v".into(),
                traceback: vec!["t".into()],
            },
            Event::QuestionMarkError,
        ];
        for e in events {
            let line = e.to_line();
            assert!(!line.contains('\n'), "one event is one line");
            assert_eq!(Event::parse_line(&line), Some(("", e)));
        }
    }

    #[test]
    fn a_truncated_message_is_an_error() {
        let mut wire = Vec::new();
        write_message(&mut wire, &EngineRequest::Size).unwrap();
        wire.truncate(wire.len() - 3);
        assert!(read_message::<EngineRequest>(&mut wire.as_slice()).is_err());
    }

    #[test]
    fn malformed_marker_is_not_an_event() {
        assert_eq!(Event::parse_line(&format!("{MARKER}{{not json")), None);
    }
}
