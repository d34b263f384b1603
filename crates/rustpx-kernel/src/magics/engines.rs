//! `:engines [start -n N [--hostfile FILE] | stop | activate | deactivate]`: MPI engines
//! (see `crate::engines`); `activate` makes `:px` run on them, as ipyparallel's
//! `view.activate()` does.
//!
//! These, and `:px --engines`, act on the kernel's engine context rather than on the
//! notebook's code, so they rewrite into an [`EngineAction`] the executor carries out.

use super::dispatch::Changes;
use super::flags::{Flag, no_code, split};
use super::{Call, Magic, MagicError, Magics, Placement, Rewrite};
use std::path::PathBuf;

/// The most engines `:engines start -n N` starts from one notebook.
pub const MAX_ENGINES: usize = 4096;

/// What a cell asks of the engines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineAction {
    /// Start `ranks` engines, on the hosts of `hostfile` if given.
    Start {
        /// How many.
        ranks: usize,
        /// An MPI hostfile.
        hostfile: Option<PathBuf>,
    },
    /// Show the engine table.
    Show,
    /// Stop the engines.
    Stop,
    /// Compile the code once and run it on every engine (`:px --engines`).
    Run(String),
}

/// The `:engines` magic.
pub struct Engines;

static ENGINES_FLAGS: &[Flag] = &[
    Flag {
        name: "-n",
        value: Some("N"),
    },
    Flag {
        name: "--hostfile",
        value: Some("FILE"),
    },
];

impl Magic for Engines {
    fn name(&self) -> &'static str {
        ":engines"
    }

    fn usage(&self) -> &'static str {
        "[start -n N [--hostfile FILE] | stop | activate | deactivate]"
    }

    fn summary(&self) -> &'static str {
        "Show the MPI engines (rank, host, pid, state, cells), start N of them with \
         mpiexec, or stop them; :px --engines runs code on them, and every :px after \
         :engines activate (until :engines deactivate or stop)"
    }

    fn placement(&self) -> Placement {
        Placement::Line
    }

    fn flags(&self) -> &'static [Flag] {
        ENGINES_FLAGS
    }

    fn rewrite(
        &self,
        call: &Call<'_>,
        _: &Magics,
        changes: &mut Changes,
    ) -> Result<Rewrite, MagicError> {
        let code = call.code.trim();
        let (command, rest) = code.split_once(char::is_whitespace).unwrap_or((code, ""));
        let action = match command {
            "" => EngineAction::Show,
            "stop" => {
                no_code(self, rest)?;
                changes.engines_active = Some(false);
                EngineAction::Stop
            }
            "activate" | "deactivate" => {
                no_code(self, rest)?;
                let on = command == "activate";
                changes.engines_active = Some(on);
                return Ok(Rewrite::Note(if on {
                    ":px now runs on the MPI engines (:engines deactivate for the worker threads)"
                        .into()
                } else {
                    ":px runs on the worker threads again".into()
                }));
            }
            "start" => self.start(rest)?,
            other => {
                return Err(MagicError::Usage(format!(
                    ":engines: unknown command `{other}` (usage: :engines {})",
                    self.usage()
                )));
            }
        };
        Ok(Rewrite::Engines(action))
    }
}

impl Engines {
    /// `start`'s options, checked: a count in range and a hostfile that exists.
    fn start(&self, text: &str) -> Result<EngineAction, MagicError> {
        let (given, rest) = split(self, text)?;
        no_code(self, rest)?;
        let mut ranks = None;
        let mut hostfile = None;
        for g in given {
            match g.flag.name {
                "-n" => {
                    ranks = Some(
                        g.value
                            .parse::<usize>()
                            .ok()
                            .filter(|n| (1..=MAX_ENGINES).contains(n))
                            .ok_or_else(|| {
                                MagicError::bad_value(
                                    self.name(),
                                    "-n",
                                    g.value,
                                    format!("an engine count (1 <= N <= {MAX_ENGINES})"),
                                )
                            })?,
                    );
                }
                "--hostfile" => {
                    let path = PathBuf::from(g.value);
                    if !path.is_file() {
                        return Err(MagicError::bad_value(
                            self.name(),
                            "--hostfile",
                            g.value,
                            "a readable file (no such file)",
                        ));
                    }
                    hostfile = Some(path);
                }
                other => unreachable!("{other} is not in ENGINES_FLAGS"),
            }
        }
        let ranks = ranks.ok_or_else(|| {
            MagicError::Usage(":engines start: -n N is required (how many engines)".into())
        })?;
        Ok(EngineAction::Start { ranks, hostfile })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(cell: &str) -> Result<Option<EngineAction>, String> {
        Magics::default()
            .prepare(cell)
            .map(|p| p.engines)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn commands_and_options() {
        assert_eq!(action(":engines"), Ok(Some(EngineAction::Show)));
        assert_eq!(action(":engines stop"), Ok(Some(EngineAction::Stop)));
        assert_eq!(
            action(":engines start -n 4"),
            Ok(Some(EngineAction::Start {
                ranks: 4,
                hostfile: None
            }))
        );
        let hosts = tempfile::NamedTempFile::new().unwrap();
        let path = hosts.path().display().to_string();
        assert_eq!(
            action(&format!(":engines start --hostfile {path} -n 2")),
            Ok(Some(EngineAction::Start {
                ranks: 2,
                hostfile: Some(hosts.path().into())
            }))
        );
    }

    #[test]
    fn bad_input_names_the_problem() {
        assert_eq!(
            action(":engines start").unwrap_err(),
            ":engines start: -n N is required (how many engines)"
        );
        assert_eq!(
            action(":engines start -n 0").unwrap_err(),
            ":engines -n: 0 is not an engine count (1 <= N <= 4096)"
        );
        assert_eq!(
            action(":engines start -n 2 --hostfile /no/such").unwrap_err(),
            ":engines --hostfile: /no/such is not a readable file (no such file)"
        );
        assert!(
            action(":engines launch")
                .unwrap_err()
                .starts_with(":engines: unknown command `launch`")
        );
        assert!(action(":engines stop now").is_err());
        assert!(action(":engines start -n 2 -x").is_err());
    }

    #[test]
    fn activate_sends_px_to_the_engines_until_deactivate_or_stop() {
        let mut magics = Magics::default();
        let mut run = |cell: &str| {
            let prepared = magics.prepare(cell).unwrap();
            let engines = prepared.engines.clone();
            magics.commit(prepared);
            engines
        };
        assert_eq!(run(":engines activate"), None);
        assert_eq!(run(":px rank()"), Some(EngineAction::Run("rank()".into())));
        assert_eq!(run(":engines deactivate"), None);
        assert_eq!(run(":px worker_id()"), None);
        run(":engines activate");
        assert_eq!(run(":engines stop"), Some(EngineAction::Stop));
        assert_eq!(run(":px worker_id()"), None);
        let err = Magics::default()
            .prepare(":engines activate now")
            .unwrap_err();
        assert!(
            err.to_string().contains("takes no code, got `now`"),
            "{err}"
        );
    }

    #[test]
    fn an_engine_cell_holds_nothing_else() {
        assert_eq!(
            action(":px --engines rank()"),
            Ok(Some(EngineAction::Run("rank()".into())))
        );
        assert_eq!(
            action(":px --engines\nlet x = 1;\nx"),
            Ok(Some(EngineAction::Run("let x = 1;\nx".into())))
        );
        let err = action(":engines\nlet y = 2;").unwrap_err();
        assert!(err.contains("nothing else"), "{err}");
        let err = action(":px --engines --targets 0 1").unwrap_err();
        assert!(err.contains("--targets"), "{err}");
    }
}
