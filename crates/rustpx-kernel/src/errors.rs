//! A failed cell as Jupyter shows it: [`CellError`], whatever reported the failure (evcxr,
//! the runtime's events from the child, an interrupt, the magics, the kernel's start).

use evcxr::Error;
use serde_json::{Value, json};
use std::fmt;

/// Why a cell failed, in the three fields of Jupyter's `error` message and error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellError {
    /// The error's type name (`panic`, `CompileError[E0308]`, `KeyboardInterrupt`, …).
    pub ename: String,
    /// The one-line message.
    pub evalue: String,
    /// Lines of detail, most relevant first.
    pub traceback: Vec<String>,
}

impl CellError {
    /// An error whose detail is its message alone.
    pub fn message(ename: &str, message: impl Into<String>) -> CellError {
        let message = message.into();
        CellError {
            ename: ename.into(),
            evalue: message.clone(),
            traceback: vec![message],
        }
    }

    /// A cell that returned an `Err` through `?`. evcxr printed the error to `stderr`
    /// just before it reported the failure, so the message is the last line printed
    /// there and the traceback everything the cell printed there.
    pub fn question_mark(stderr: &str) -> CellError {
        let lines: Vec<String> = stderr.trim_end().lines().map(str::to_string).collect();
        let evalue = match lines.last() {
            Some(last) if !last.is_empty() => last.clone(),
            _ => "the cell returned an error".into(),
        };
        CellError {
            ename: "Error".into(),
            evalue,
            traceback: lines,
        }
    }

    /// A cell whose process had to be killed after an interrupt.
    pub fn killed_after_interrupt() -> CellError {
        CellError::message(
            "KeyboardInterrupt",
            "The cell did not stop within the grace period after the interrupt (it never \
             reached a runtime wait), so its process was restarted: all variables were lost.",
        )
    }

    /// An engine cell whose engines had to be killed after an interrupt.
    pub fn engines_killed_after_interrupt() -> CellError {
        CellError::message(
            "KeyboardInterrupt",
            "The engines did not stop within the grace period after the interrupt, so they \
             were killed and are restarting: every engine's variables were lost (the \
             notebook's are kept).",
        )
    }

    /// A cell that cannot run because evcxr or the runtime did not start.
    pub fn not_started(why: impl Into<String>) -> CellError {
        CellError::message("KernelStartError", why)
    }

    /// The `ename`, `evalue` and `traceback` fields as JSON, for both the `error` message
    /// and the error reply.
    pub fn fields(&self) -> Value {
        json!({ "ename": self.ename, "evalue": self.evalue, "traceback": self.traceback })
    }
}

impl fmt::Display for CellError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.ename, self.evalue)
    }
}

/// Compile errors show rustc's message, the offending lines of the cell with the
/// compiler's labels, and its help notes.
impl From<&Error> for CellError {
    fn from(error: &Error) -> CellError {
        match error {
            Error::CompilationErrors(errors) => compile_error(errors),
            Error::TypeRedefinedVariablesLost(vars) => CellError {
                ename: "VariablesLost".into(),
                evalue: error.to_string(),
                traceback: vec![format!("lost: {}", vars.join(", "))],
            },
            Error::SubprocessTerminated(message) => CellError {
                ename: "ProcessDied".into(),
                evalue: format!(
                    "{message} — the process running cells was restarted; all variables were lost"
                ),
                traceback: vec![message.clone()],
            },
            Error::Message(message) => CellError {
                ename: "Error".into(),
                evalue: message.lines().next().unwrap_or("").to_string(),
                traceback: message.lines().map(str::to_string).collect(),
            },
        }
    }
}

impl From<Error> for CellError {
    fn from(error: Error) -> CellError {
        CellError::from(&error)
    }
}

fn compile_error(errors: &[evcxr::CompilationError]) -> CellError {
    let mut traceback = Vec::new();
    for e in errors {
        let code = e.code().map(|c| format!("[{c}]")).unwrap_or_default();
        traceback.push(format!("{}{code}: {}", e.level(), e.message()));
        for spanned in e.spanned_messages() {
            for line in &spanned.lines {
                traceback.push(format!("  | {line}"));
            }
            if !spanned.label.is_empty() {
                traceback.push(format!("  = {}", spanned.label));
            }
        }
        for help in e.help() {
            traceback.push(format!("  help: {help}"));
        }
    }
    let first = errors.first();
    CellError {
        ename: first
            .and_then(|e| e.code().map(|c| format!("CompileError[{c}]")))
            .unwrap_or_else(|| "CompileError".into()),
        evalue: first.map(|e| e.message()).unwrap_or_default(),
        traceback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_messages_and_terminations() {
        let e = CellError::from(Error::Message("bad :dep\nmore".into()));
        assert_eq!(
            (e.ename.as_str(), e.evalue.as_str(), e.traceback.len()),
            ("Error", "bad :dep", 2)
        );
        let e = CellError::from(Error::SubprocessTerminated("killed".into()));
        assert_eq!(e.ename, "ProcessDied");
        assert!(e.evalue.contains("variables were lost"));
    }

    #[test]
    fn question_mark_error_takes_its_message_from_stderr() {
        let e = CellError::question_mark("some log\ninvalid digit found in string\n");
        assert_eq!(e.ename, "Error");
        assert_eq!(e.evalue, "invalid digit found in string");
        assert_eq!(e.traceback.len(), 2);
        let e = CellError::question_mark("");
        assert_eq!(e.evalue, "the cell returned an error");
        assert!(e.traceback.is_empty());
    }

    #[test]
    fn fields_are_jupyters() {
        let fields = CellError::message("MagicError", "bad option").fields();
        assert_eq!(
            fields,
            json!({ "ename": "MagicError", "evalue": "bad option", "traceback": ["bad option"] })
        );
    }
}
