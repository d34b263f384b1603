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
use std::collections::{BTreeMap, BTreeSet};

/// The kernel-side state of the parallel magics for one notebook session.
#[derive(Debug, Clone, Default)]
pub struct ParallelMagics {
    autopx: bool,
    defaults: PxFlags,
    /// Defined by `:px let` (name → declared `mut`).
    per_worker: PerWorkerVars,
    /// Ordinary variables declared `let mut`, so a typed per-worker one is writable in `:px`.
    ordinary_mut: BTreeSet<String>,
    /// Every notebook variable and its type, as evcxr reported them before the cell.
    types: BTreeMap<String, String>,
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
    /// Code that puts back the variables a failing `:px` redefined (see
    /// `rustpx::px::keep`); the kernel runs it if the cell ran and failed.
    pub restore: Option<String>,
    commit: Commit,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Commit {
    define: Vec<(String, bool)>,
    /// Existing variables the `:px` code redefines (kept by it if it fails).
    kept: Vec<String>,
    forget: Vec<String>,
    ordinary: Vec<(String, bool)>,
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
    /// Takes the notebook's variables and their types as evcxr reports them (before each
    /// cell), so a `PerWorker` made outside `:px` (`let chunks = dview.scatter(..)?`) means
    /// this worker's own value inside `:px` code, as in ipyparallel.
    pub fn observe_variable_types<'a>(
        &mut self,
        vars: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) {
        self.types = vars
            .into_iter()
            .map(|(name, ty)| (name.to_string(), ty.to_string()))
            .collect();
    }

    /// The names of every notebook variable.
    fn existing(&self) -> BTreeSet<String> {
        self.types.keys().cloned().collect()
    }

    /// `let` statements that take back the old values of `kept` variables.
    fn restore_code(&self, kept: &[String]) -> Option<String> {
        let lets: Vec<String> = kept
            .iter()
            .filter_map(|name| {
                let ty = self.types.get(name)?;
                let mutable = self.per_worker.get(name).copied().unwrap_or(false)
                    || self.ordinary_mut.contains(name);
                let m = if mutable { "mut " } else { "" };
                Some(format!(
                    "let {m}{name}: {ty} = rustpx::px::restore::<{ty}>({name:?})?;"
                ))
            })
            .collect();
        (!lets.is_empty()).then(|| lets.join("\n"))
    }

    /// Every variable `:px` code sees per worker: ordinary variables of type `PerWorker<…>`
    /// (made by `scatter`, `apply`, …; writable if declared `let mut`), overridden by `:px`
    /// definitions.
    fn known(&self) -> PerWorkerVars {
        let mut known: PerWorkerVars = self
            .types
            .iter()
            .filter(|(_, ty)| is_per_worker_type(ty))
            .map(|(name, _)| (name.clone(), self.ordinary_mut.contains(name)))
            .collect();
        known.extend(self.per_worker.iter().map(|(n, m)| (n.clone(), *m)));
        known
    }

    /// Forgets everything tied to the evaluation context (after a restart or `:clear`).
    pub fn reset_variables(&mut self) {
        self.per_worker.clear();
        self.ordinary_mut.clear();
        self.types.clear();
    }

    /// Rewrites `cell`. Returns the code for evcxr; call [`commit`](Self::commit) with the
    /// result once the cell has succeeded.
    pub fn prepare(&self, cell: &str) -> Result<Prepared, MagicError> {
        let mut out = self.rewrite_cell(cell)?;
        out.restore = self.restore_code(&out.commit.kept);
        Ok(out)
    }

    fn rewrite_cell(&self, cell: &str) -> Result<Prepared, MagicError> {
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
            let rewritten = rewrite(
                cell,
                &self.plan(&PxFlags::default())?,
                &self.known(),
                &self.existing(),
            )?;
            out.commit.kept = rewritten.kept;
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
        out.commit.ordinary = ordinary_bindings(&ordinary);
        out.commit.forget = out
            .commit
            .ordinary
            .iter()
            .map(|(n, _)| n.clone())
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
            self.reset_variables();
        }
        for name in c.forget {
            self.per_worker.remove(&name);
        }
        for (name, mutable) in c.ordinary {
            if mutable {
                self.ordinary_mut.insert(name);
            } else {
                self.ordinary_mut.remove(&name);
            }
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

    /// The Rust for one magic line. Generated code never starts with `::`: evcxr takes
    /// any line that starts with `:` for one of its commands.
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
                let rewritten =
                    rewrite(code, &self.plan(&flags)?, &self.known(), &self.existing())?;
                commit.define.extend(rewritten.defines);
                commit.kept.extend(rewritten.kept);
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
                    "rustpx::timeit::timeit(rustpx::timeit::TimeitOptions {{ number: {}, \
                     repeat: {} }}, || {{\n{code}\n}});",
                    opt(flags.number),
                    opt(flags.repeat)
                ))
            }
            "pxresult" => {
                no_extra(name, words, code)?;
                Ok("rustpx::px::result()?".into())
            }
            "workers" => {
                if !words.is_empty() {
                    return Err(MagicError::Options(format!(
                        ":workers: unknown option `{}` (usage: :workers [N])",
                        words[0]
                    )));
                }
                match code.trim() {
                    "" => Ok("rustpx::px::workers()?".into()),
                    n => match n.parse::<usize>() {
                        Ok(n) if n > 0 => Ok(format!("rustpx::px::set_workers({n})?")),
                        _ => Err(MagicError::Options(format!(
                            ":workers: `{n}` is not a worker count (usage: :workers [N], N ≥ 1)"
                        ))),
                    },
                }
            }
            "pxconfig" => {
                let flags: PxFlags = parse_flags("pxconfig", words).map_err(MagicError::Options)?;
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
                    "rustpx::px::view({targets})?; ::std::println!(\"{{}}\", {summary:?});"
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
            noblock: if flags.block {
                false
            } else {
                flags.noblock || d.noblock
            },
            group_outputs: flags.group_outputs || d.group_outputs,
            timeout: flags.timeout.or(d.timeout),
        })
    }
}

/// Whether an evcxr type name is rustpx's `PerWorker<…>` (however rust-analyzer spells the
/// path).
fn is_per_worker_type(ty: &str) -> bool {
    let head = ty.split('<').next().unwrap_or("").trim();
    head.rsplit("::").next() == Some("PerWorker")
}

/// The text after `:NAME` when `line` starts with that magic as a whole word.
fn magic_args<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(':')?.strip_prefix(name)?;
    (rest.is_empty() || rest.starts_with(char::is_whitespace)).then_some(rest)
}

fn no_extra(name: &str, words: &[String], code: &str) -> Result<(), MagicError> {
    match words.first() {
        Some(w) => Err(MagicError::Options(format!(
            ":{name}: unknown option `{w}`"
        ))),
        None if !code.trim().is_empty() => Err(MagicError::Usage(format!(
            ":{name} takes no code, got `{}`",
            code.trim()
        ))),
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
        assert!(m.per_worker.is_empty(), "not before the cell succeeded");
        m.commit(p);
        assert_eq!(m.per_worker.get("part"), Some(&false));

        run(&mut m, ":px --targets 0\nlet mut acc = 0;\nacc += part;");
        assert_eq!(m.per_worker.get("acc"), Some(&true));
        // An ordinary let of the same name makes it an ordinary variable again.
        run(&mut m, "let part = 5;");
        assert!(!m.per_worker.contains_key("part"));
    }

    #[test]
    fn autopx_toggles_and_rewrites_every_cell() {
        let mut m = ParallelMagics::default();
        let p = run(&mut m, ":autopx");
        assert!(m.autopx && p.code.is_empty() && p.notes[0].contains("enabled"));
        let p = run(&mut m, "let y = 2;");
        assert!(p.code.contains("px :: run"), "{}", p.code);
        assert!(m.per_worker.contains_key("y"));
        let p = run(&mut m, ":autopx");
        assert!(!m.autopx && p.notes[0].contains("disabled"));
        assert!(m.prepare(":autopx now").is_err());
    }

    #[test]
    fn pxconfig_sets_defaults_only_when_the_check_succeeds() {
        let mut m = ParallelMagics::default();
        let p = m.prepare(":pxconfig --targets ::2 --noblock").unwrap();
        assert!(
            p.code
                .contains("rustpx::px::view(::core::option::Option::Some(\"::2\"))?")
        );
        let p2 = m.prepare(":px 1").unwrap();
        assert!(
            !p2.code.contains("submit"),
            "defaults unchanged before commit"
        );
        m.commit(p);
        let p3 = m.prepare(":px 1").unwrap();
        assert!(
            p3.code.contains("submit") && p3.code.contains("\"::2\""),
            "{}",
            p3.code
        );
        let p4 = m.prepare(":px --block 1").unwrap();
        assert!(!p4.code.contains("submit"));
        assert!(matches!(
            m.prepare(":pxconfig --wat"),
            Err(MagicError::Options(_))
        ));
    }

    #[test]
    fn other_magics() {
        let m = ParallelMagics::default();
        assert_eq!(
            m.prepare(":pxresult").unwrap().code,
            "rustpx::px::result()?\n"
        );
        assert_eq!(
            m.prepare(":workers").unwrap().code,
            "rustpx::px::workers()?\n"
        );
        assert_eq!(
            m.prepare(":workers 3").unwrap().code,
            "rustpx::px::set_workers(3)?\n"
        );
        assert!(m.prepare(":workers zero").is_err());
        assert!(m.prepare(":workers 0").is_err());
        assert!(m.prepare(":pxresult --x").is_err());
        let t = m.prepare(":timeit -n 3\nv.iter().sum::<i32>()").unwrap();
        assert!(
            t.code.contains("number: ::core::option::Option::Some(3)"),
            "{}",
            t.code
        );
        assert!(t.code.contains("v.iter().sum::<i32>()"));
        assert!(m.prepare(":timeit -r 0 1").is_err());
        assert!(m.prepare(":timeit").is_err());
        assert!(matches!(m.prepare(":px let x = ;"), Err(MagicError::Px(_))));
        assert!(
            !m.prepare(":pxe").unwrap().used_magics,
            "a different command is evcxr's"
        );
    }

    #[test]
    fn redefined_variables_are_restored_with_their_types() {
        let mut m = ParallelMagics::default();
        run(&mut m, ":px let mut v = 1;");
        m.observe_variable_types([("v", "PerWorker<i32>"), ("n", "u8")]);
        let p = m
            .prepare(":px let v = 2; let n = 3; let fresh = 4;")
            .unwrap();
        assert!(p.code.contains("keep (\"v\" , v)"), "{}", p.code);
        assert!(!p.code.contains("keep (\"fresh\""), "{}", p.code);
        assert_eq!(
            p.restore.as_deref(),
            Some(
                "let mut v: PerWorker<i32> = rustpx::px::restore::<PerWorker<i32>>(\"v\")?;\n\
                 let n: u8 = rustpx::px::restore::<u8>(\"n\")?;"
            )
        );
        assert_eq!(m.prepare(":px let fresh = 1;").unwrap().restore, None);
    }

    #[test]
    fn generated_code_is_never_an_evcxr_command() {
        let m = ParallelMagics::default();
        for cell in [
            ":px 1",
            ":px let a = 1;",
            ":px --noblock 1",
            ":pxresult",
            ":workers",
            ":workers 2",
            ":pxconfig --targets 0",
            ":timeit 1",
        ] {
            let code = m.prepare(cell).unwrap().code;
            for line in code.lines() {
                assert!(!line.trim_start().starts_with(':'), "{cell}: {line}");
            }
        }
    }

    #[test]
    fn per_worker_values_made_outside_px_are_per_worker_inside_it() {
        let mut m = ParallelMagics::default();
        run(&mut m, "let mut chunks = dview.scatter(&v)?;\nlet n = 3;");
        m.observe_variable_types([
            ("chunks", "rustpx::PerWorker<Vec<i32>>"),
            ("n", "i32"),
            ("ids", "PerWorker<usize>"),
            ("other", "Vec<PerWorker<usize>>"),
        ]);
        let known = m.known();
        assert_eq!(known.get("chunks"), Some(&true), "declared let mut");
        assert_eq!(known.get("ids"), Some(&false));
        assert!(!known.contains_key("n") && !known.contains_key("other"));
        let p = m.prepare(":px let s: i32 = chunks.iter().sum();").unwrap();
        assert!(p.code.contains("input (& chunks"), "{}", p.code);
    }

    #[test]
    fn clear_forgets_per_worker_variables() {
        let mut m = ParallelMagics::default();
        run(&mut m, ":px let a = 1;");
        run(&mut m, ":clear");
        assert!(m.per_worker.is_empty());
    }
}
