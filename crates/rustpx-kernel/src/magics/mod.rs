//! Kernel-level commands (magics) that are rewritten before evcxr sees the cell.
//!
//! The magics of issue 4 (`:px`, `:autopx`, `:pxresult`, `:pxconfig`, `:workers`,
//! `:timeit`) register here: add a [`Magic`] to [`MAGICS`] (so `:help` lists it) and a
//! branch in [`dispatch`] that turns the cell into ordinary Rust ([`Action::Evaluate`])
//! or answers it directly ([`Action::Reply`]). Everything else goes to evcxr unchanged,
//! so every evcxr command (`:dep`, `:vars`, `:opt`, …) keeps working.

mod flags;
mod parallel;
mod px;

pub use parallel::{ParallelMagics, Prepared};

use evcxr::EvalOutputs;

/// A kernel command, as listed by `:help`.
pub struct Magic {
    /// The command, with its leading colon.
    pub name: &'static str,
    /// Arguments, e.g. `[--targets SPEC] CODE`.
    pub usage: &'static str,
    /// One line of description.
    pub summary: &'static str,
}

/// Every kernel command.
pub static MAGICS: &[Magic] = &[
    Magic {
        name: ":px",
        usage: "[--targets SPEC] [--noblock] [--group-outputs] [--timeout SECS] CODE",
        summary: "Run CODE once on each worker of the active view (a line, or the rest of the \
                  cell when :px is alone on the first line); `let` defines PerWorker \
                  variables; SPEC is all, 0, 0,2, 1:3 or ::2",
    },
    Magic {
        name: ":autopx",
        usage: "",
        summary: "Toggle running every following cell as :px",
    },
    Magic {
        name: ":pxresult",
        usage: "",
        summary: "Show the outcome of the last :px --noblock",
    },
    Magic {
        name: ":pxconfig",
        usage: "[--targets SPEC] [--block|--noblock]",
        summary: "Set the defaults of :px",
    },
    Magic {
        name: ":workers",
        usage: "[N]",
        summary: "Show the workers (id, tasks done, busy); with N, restart the default client",
    },
    Magic {
        name: ":timeit",
        usage: "[-n N] [-r R] CODE",
        summary: "Time CODE like IPython's %%timeit (mean, std. dev. and best per loop)",
    },
    Magic {
        name: ":rustpx",
        usage: "",
        summary: "Show the rustpx version, the runtime's source and the build cache directory",
    },
];

/// What the executor does with a cell.
pub enum Action {
    /// Run this code with evcxr.
    Evaluate(String),
    /// Run this code with evcxr (it is `:help`) and append [`help_text`].
    EvaluateThenAppendHelp(String),
    /// Show these outputs; evcxr is not involved.
    Reply(EvalOutputs),
}

/// Routes a cell. `Err` is a usage error shown to the user; nothing runs.
pub fn dispatch(code: &str) -> Result<Action, String> {
    let first = code.trim_start().lines().next().unwrap_or("").trim();
    let command = first.split_whitespace().next().unwrap_or("");
    match command {
        ":help" => Ok(Action::EvaluateThenAppendHelp(code.to_string())),
        ":rustpx" => {
            if first != ":rustpx" {
                return Err(format!(":rustpx takes no arguments, got `{first}`"));
            }
            let mut outputs = EvalOutputs::new();
            let text = format!(
                "rustpx {}\nruntime source: {}\nbuild cache: {}\n",
                env!("CARGO_PKG_VERSION"),
                super::runtime_embed::version_dir()
                    .join("runtime")
                    .display(),
                std::env::var("EVCXR_TMPDIR").unwrap_or_else(|_| "(temporary)".into()),
            );
            outputs
                .content_by_mime_type
                .insert("text/plain".into(), text);
            Ok(Action::Reply(outputs))
        }
        _ => Ok(Action::Evaluate(code.to_string())),
    }
}

/// The `:help` section for the kernel's commands.
pub fn help_text() -> String {
    let mut text = String::from("\nrustpx kernel commands:\n");
    for magic in MAGICS {
        let head = format!("{} {}", magic.name, magic.usage);
        text.push_str(&format!("{:<24} {}\n", head.trim_end(), magic.summary));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_cells() {
        assert!(matches!(dispatch("1 + 1"), Ok(Action::Evaluate(c)) if c == "1 + 1"));
        assert!(matches!(dispatch(":vars"), Ok(Action::Evaluate(_))));
        assert!(matches!(
            dispatch(":help"),
            Ok(Action::EvaluateThenAppendHelp(_))
        ));
        assert!(matches!(dispatch(":rustpx"), Ok(Action::Reply(_))));
        assert!(dispatch(":rustpx now").is_err());
        assert!(help_text().contains(":rustpx"));
    }
}
