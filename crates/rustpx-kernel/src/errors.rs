//! evcxr's errors as Jupyter's `ename` / `evalue` / `traceback`.

use evcxr::Error;

/// The error fields for an evcxr error. Compile errors show rustc's message, the
/// offending lines of the cell with the compiler's labels, and its help notes.
pub fn describe(error: &Error) -> (String, String, Vec<String>) {
    match error {
        Error::CompilationErrors(errors) => {
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
            let ename = first
                .and_then(|e| e.code().map(|c| format!("CompileError[{c}]")))
                .unwrap_or_else(|| "CompileError".into());
            let evalue = first.map(|e| e.message()).unwrap_or_default();
            (ename, evalue, traceback)
        }
        Error::TypeRedefinedVariablesLost(vars) => (
            "VariablesLost".into(),
            error.to_string(),
            vec![format!("lost: {}", vars.join(", "))],
        ),
        Error::SubprocessTerminated(message) => (
            "ProcessDied".into(),
            format!("{message} — the process running cells was restarted; all variables were lost"),
            vec![message.clone()],
        ),
        Error::Message(message) => (
            "Error".into(),
            message.lines().next().unwrap_or("").to_string(),
            message.lines().map(str::to_string).collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_messages_and_terminations() {
        let (ename, evalue, tb) = describe(&Error::Message("bad :dep\nmore".into()));
        assert_eq!(
            (ename.as_str(), evalue.as_str(), tb.len()),
            ("Error", "bad :dep", 2)
        );
        let (ename, evalue, _) = describe(&Error::SubprocessTerminated("killed".into()));
        assert_eq!(ename, "ProcessDied");
        assert!(evalue.contains("variables were lost"));
    }
}
