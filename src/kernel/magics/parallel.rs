//! The parallel magics: turning a cell that uses `:px`, `:autopx`, `:pxresult`,
//! `:pxconfig`, `:workers` or `:timeit` into code evcxr can run.
//!
//! [`ParallelMagics::prepare`] rewrites a cell and says what to remember if it succeeds;
//! the kernel runs the code and calls [`ParallelMagics::commit`] only when the cell
//! succeeded, so a failing cell (a bad target, a failing worker) changes nothing: neither
//! the notebook's variables nor the magics' own settings.
//!
//! Lines that start with any other `:` command are left for evcxr.

use super::flags::{PxFlags, TimeitFlags, parse_flags, split_options};
use super::px::{PerWorkerVars, PxError, PxPlan, ordinary_bindings, rewrite};

/// What `:help` adds to evcxr's list.
pub const HELP: &str = "\
:px [--targets SPEC] [--noblock] [--group-outputs] [--timeout SECS] CODE
                  Run CODE once on each worker of the active view (a line, or the rest
                  of the cell when :px is alone on the first line). `let` defines
                  PerWorker variables; SPEC is all, 0, 0,2, 1:3 or ::2
:autopx           Toggle running every cell as :px
:pxresult         Show the outcome of the last :px --noblock
:pxconfig [--targets SPEC] [--block|--noblock]
                  Set the defaults of :px
:workers [N]      Show the workers (id, tasks done, busy); with N, restart them with N
:timeit [-n N] [-r R] CODE
                  Time CODE like IPython's %%timeit (best and mean per loop)
";

/// The kernel-side state of the parallel magics for one notebook session.
#[derive(Debug, Clone, Default)]
pub struct ParallelMagics {
    autopx: bool,
    defaults: PxFlags,
    per_worker: PerWorkerVars,
}

/// A cell ready for evcxr, and what to remember if it succeeds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prepared {
    /// The code to hand to evcxr (may be empty: nothing to run).
    pub code: String,
    /// Lines for the user (mode changes), shown on stdout before the code runs.
    pub notes: Vec<String>,
    /// Whether any of our magics was used (the kernel may time or log these).
    pub used_magics: bool,
    commit: Commit,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Commit {
    define: Vec<(String, bool)>,
    forget: Vec<String>,
    autopx: Option<bool>,
    defaults: Option<PxFlags>,
    reset_per_worker: bool,
}

/// A magic used wrongly. Nothing has run and nothing changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MagicError {
    /// Bad options.
    #[error("{0}")]
    Options(String),
    /// The `:px` code cannot be rewritten.
    #[error(transparent)]
    Px(#[from] PxError),
    /// Something else wrong with how a magic was written.
    #[error("{0}")]
    Usage(String),
}

impl ParallelMagics {
    /// Whether `:autopx` is on.
    pub fn autopx(&self) -> bool {
        self.autopx
    }

    /// Per-worker variables defined by `:px` so far.
    pub fn per_worker_vars(&self) -> &PerWorkerVars {
        &self.per_worker
    }

    /// Forgets everything tied to the evaluation context (after a restart or `:clear`).
    pub fn reset_variables(&mut self) {
        self.per_worker.clear();
    }

    /// Rewrites `cell`. Returns the code for evcxr; call [`commit`](Self::commit) with the
    /// result once the cell has succeeded.
    pub fn prepare(&self, cell: &str) -> Result<Prepared, MagicError> {
        let mut out = Prepared::default();
        let first = cell.trim_start();
        if let Some(rest) = magic_args(first, "autopx") {
            if !rest.trim().is_empty() {
                return Err(MagicError::Usage(":autopx takes no options or code".into()));
            }
            let on = !self.autopx;
            out.used_magics = true;
            out.commit.autopx = Some(on);
            out.notes.push(if on {
                "%autopx enabled: every cell now runs on the workers as :px (:autopx to stop)"
                    .into()
            } else {
                "%autopx disabled: cells run in the notebook again".into()
            });
            return Ok(out);
        }
        if self.autopx && !first.starts_with(':') {
            out.used_magics = true;
            let rewritten = rewrite(cell, &self.plan(&PxFlags::default())?, &self.per_worker)?;
            out.commit.define = rewritten.defines;
            out.code = rewritten.code;
            return Ok(out);
        }
        // A magic alone on the first line takes the rest of the cell.
        let (head, body) = first.split_once('\n').unwrap_or((first, ""));
        for name in ["px", "timeit"] {
            if let Some(args) = magic_args(head, name) {
                let (words, code) = split_options(args);
                if code.trim().is_empty() {
                    out.used_magics = true;
                    out.code = self.line_magic(name, &words, body, &mut out.commit)?;
                    return Ok(out);
                }
            }
        }
        let mut code = String::new();
        let mut ordinary = String::new();
        for line in cell.lines() {
            match self.line(line, &mut out.commit)? {
                Some(rewritten) => {
                    out.used_magics = true;
                    code.push_str(&rewritten);
                }
                None => {
                    code.push_str(line);
                    if !line.trim_start().starts_with(':') {
                        ordinary.push_str(line);
                        ordinary.push('\n');
                    }
                }
            }
            code.push('\n');
        }
        out.commit.forget = ordinary_bindings(&ordinary)
            .into_iter()
            .filter(|n| self.per_worker.contains_key(n))
            .collect();
        if cell.lines().any(|l| l.trim() == ":clear") {
            out.commit.reset_per_worker = true;
        }
        out.code = code;
        Ok(out)
    }

    /// Records what a successful cell defined or changed.
    pub fn commit(&mut self, prepared: Prepared) {
        let c = prepared.commit;
        if c.reset_per_worker {
            self.per_worker.clear();
        }
        for name in c.forget {
            self.per_worker.remove(&name);
        }
        self.per_worker.extend(c.define);
        if let Some(on) = c.autopx {
            self.autopx = on;
        }
        if let Some(d) = c.defaults {
            self.defaults = d;
        }
    }

    /// Rewrites one line if it is one of our magics.
    fn line(&self, line: &str, commit: &mut Commit) -> Result<Option<String>, MagicError> {
        let trimmed = line.trim_start();
        for name in ["px", "timeit", "pxresult", "pxconfig", "workers"] {
            if let Some(args) = magic_args(trimmed, name) {
                let (words, code) = split_options(args);
                return self.line_magic(name, &words, code, commit).map(Some);
            }
        }
        if magic_args(trimmed, "autopx").is_some() {
            return Err(MagicError::Usage(
                ":autopx must be alone in its cell (it changes how later cells run)".into(),
            ));
        }
        Ok(None)
    }

    fn line_magic(
        &self,
        name: &str,
        words: &[String],
        code: &str,
        commit: &mut Commit,
    ) -> Result<String, MagicError> {
        match name {
            "px" => {
                let flags: PxFlags = parse_flags("px", words).map_err(MagicError::Options)?;
                let rewritten = rewrite(code, &self.plan(&flags)?, &self.per_worker)?;
                commit.define.extend(rewritten.defines);
                Ok(rewritten.code)
            }
            "timeit" => {
                let flags: TimeitFlags =
                    parse_flags("timeit", words).map_err(MagicError::Options)?;
                if code.trim().is_empty() {
                    return Err(MagicError::Usage(
                        ":timeit needs code to time, on its line or the lines below".into(),
                    ));
                }
                let opt = |v: Option<u64>| match v {
                    Some(n) => format!("::core::option::Option::Some({n})"),
                    None => "::core::option::Option::None".into(),
                };
                Ok(format!(
                    "::rustpx::timeit::timeit(::rustpx::timeit::TimeitOptions {{ number: {}, \
                     repeat: {} }}, || {{\n{code}\n}});",
                    opt(flags.number),
                    opt(flags.repeat)
                ))
            }
            "pxresult" => {
                no_extra(name, words, code)?;
                Ok("::rustpx::px::result()?".into())
            }
            "workers" => {
                if !words.is_empty() {
                    return Err(MagicError::Options(format!(
                        ":workers: unknown option `{}` (usage: :workers [N])",
                        words[0]
                    )));
                }
                match code.trim() {
                    "" => Ok("::rustpx::px::workers()?".into()),
                    n => match n.parse::<usize>() {
                        Ok(n) if n > 0 => Ok(format!("::rustpx::px::set_workers({n})?")),
                        _ => Err(MagicError::Options(format!(
                            ":workers: `{n}` is not a worker count (usage: :workers [N], N ≥ 1)"
                        ))),
                    },
                }
            }
            "pxconfig" => {
                let flags: PxFlags =
                    parse_flags("pxconfig", words).map_err(MagicError::Options)?;
                if !code.trim().is_empty() {
                    return Err(MagicError::Usage(format!(
                        ":pxconfig takes only options, not `{}`",
                        code.trim()
                    )));
                }
                let mut defaults = self.defaults.clone();
                if flags.targets.is_some() {
                    defaults.targets = flags.targets.clone();
                }
                if flags.noblock || flags.block {
                    defaults.noblock = flags.noblock;
                }
                if flags.group_outputs {
                    defaults.group_outputs = true;
                }
                if flags.timeout.is_some() {
                    defaults.timeout = flags.timeout;
                }
                let targets = match &defaults.targets {
                    Some(spec) => format!("::core::option::Option::Some({spec:?})"),
                    None => "::core::option::Option::None".into(),
                };
                let summary = format!(
                    ":px defaults: targets {}, {}",
                    defaults.targets.as_deref().unwrap_or("all"),
                    if defaults.noblock { "noblock" } else { "block" }
                );
                commit.defaults = Some(defaults);
                // Checks the targets against the workers before anything is changed.
                Ok(format!(
                    "::rustpx::px::view({targets})?; ::std::println!(\"{{}}\", {summary:?});"
                ))
            }
            _ => unreachable!("only known magics are dispatched"),
        }
    }

    /// `:px` flags over the `:pxconfig` defaults.
    fn plan(&self, flags: &PxFlags) -> Result<PxPlan, MagicError> {
        let d = &self.defaults;
        Ok(PxPlan {
            targets: flags.targets.clone().or_else(|| d.targets.clone()),
            noblock: if flags.block { false } else { flags.noblock || d.noblock },
            group_outputs: flags.group_outputs || d.group_outputs,
            timeout: flags.timeout.or(d.timeout),
        })
    }
}

/// The text after `:NAME` when `line` starts with that magic as a whole word.
fn magic_args<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(':')?.strip_prefix(name)?;
    (rest.is_empty() || rest.starts_with(char::is_whitespace)).then_some(rest)
}

fn no_extra(name: &str, words: &[String], code: &str) -> Result<(), MagicError> {
    match words.first() {
        Some(w) => Err(MagicError::Options(format!(":{name}: unknown option `{w}`"))),
        None if !code.trim().is_empty() => {
            Err(MagicError::Usage(format!(":{name} takes no code, got `{}`", code.trim())))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(m: &mut ParallelMagics, cell: &str) -> Prepared {
        let p = m.prepare(cell).unwrap();
        m.commit(p.clone());
        p
    }

    #[test]
    fn ordinary_cells_pass_through() {
        let m = ParallelMagics::default();
        let p = m.prepare(":dep foo\nlet x = 1;\nx").unwrap();
        assert_eq!(p.code, ":dep foo\nlet x = 1;\nx\n");
        assert!(!p.used_magics);
    }

    #[test]
    fn line_and_cell_px_define_per_worker_variables_on_commit_only() {
        let mut m = ParallelMagics::default();
        let p = m.prepare(":px let part = worker_id() * 10;\npart").unwrap();
        assert!(p.code.contains("::rustpx::px::run") || p.code.contains(":: rustpx :: px :: run"));
        assert!(p.code.ends_with("part\n"), "{}", p.code);
        assert!(m.per_worker_vars().is_empty(), "not before the cell succeeded");
        m.commit(p);
        assert_eq!(m.per_worker_vars().get("part"), Some(&false));

        run(&mut m, ":px --targets 0\nlet mut acc = 0;\nacc += part;");
        assert_eq!(m.per_worker_vars().get("acc"), Some(&true));
        // An ordinary let of the same name makes it an ordinary variable again.
        run(&mut m, "let part = 5;");
        assert!(!m.per_worker_vars().contains_key("part"));
    }

    #[test]
    fn autopx_toggles_and_rewrites_every_cell() {
        let mut m = ParallelMagics::default();
        let p = run(&mut m, ":autopx");
        assert!(m.autopx() && p.code.is_empty() && p.notes[0].contains("enabled"));
        let p = run(&mut m, "let y = 2;");
        assert!(p.code.contains("px :: run"), "{}", p.code);
        assert!(m.per_worker_vars().contains_key("y"));
        let p = run(&mut m, ":autopx");
        assert!(!m.autopx() && p.notes[0].contains("disabled"));
        assert!(m.prepare(":autopx now").is_err());
    }

    #[test]
    fn pxconfig_sets_defaults_only_when_the_check_succeeds() {
        let mut m = ParallelMagics::default();
        let p = m.prepare(":pxconfig --targets ::2 --noblock").unwrap();
        assert!(p.code.contains("::rustpx::px::view(::core::option::Option::Some(\"::2\"))?"));
        let p2 = m.prepare(":px 1").unwrap();
        assert!(!p2.code.contains("submit"), "defaults unchanged before commit");
        m.commit(p);
        let p3 = m.prepare(":px 1").unwrap();
        assert!(p3.code.contains("submit") && p3.code.contains("\"::2\""), "{}", p3.code);
        let p4 = m.prepare(":px --block 1").unwrap();
        assert!(!p4.code.contains("submit"));
        assert!(matches!(m.prepare(":pxconfig --wat"), Err(MagicError::Options(_))));
    }

    #[test]
    fn other_magics() {
        let m = ParallelMagics::default();
        assert_eq!(m.prepare(":pxresult").unwrap().code, "::rustpx::px::result()?\n");
        assert_eq!(m.prepare(":workers").unwrap().code, "::rustpx::px::workers()?\n");
        assert_eq!(m.prepare(":workers 3").unwrap().code, "::rustpx::px::set_workers(3)?\n");
        assert!(m.prepare(":workers zero").is_err());
        assert!(m.prepare(":workers 0").is_err());
        assert!(m.prepare(":pxresult --x").is_err());
        let t = m.prepare(":timeit -n 3\nv.iter().sum::<i32>()").unwrap();
        assert!(t.code.contains("number: ::core::option::Option::Some(3)"), "{}", t.code);
        assert!(t.code.contains("v.iter().sum::<i32>()"));
        assert!(m.prepare(":timeit -r 0 1").is_err());
        assert!(m.prepare(":timeit").is_err());
        assert!(matches!(m.prepare(":px let x = ;"), Err(MagicError::Px(_))));
        assert!(!m.prepare(":pxe").unwrap().used_magics, "a different command is evcxr's");
    }

    #[test]
    fn clear_forgets_per_worker_variables() {
        let mut m = ParallelMagics::default();
        run(&mut m, ":px let a = 1;");
        run(&mut m, ":clear");
        assert!(m.per_worker_vars().is_empty());
    }
}
