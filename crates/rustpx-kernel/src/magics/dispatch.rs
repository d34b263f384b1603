//! Routing a cell through the magics, and the state they keep for one notebook session.
//!
//! [`Magics::prepare`] finds the magics of a cell by looking each line's first word up in
//! [`MAGICS`](super::MAGICS), has them rewrite their part, and says what to remember if
//! the cell succeeds ([`Changes`]); the kernel runs the code and calls
//! [`Magics::commit`] only when the cell succeeded, so a failing cell (a bad target, a
//! failing worker) changes nothing: neither the notebook's variables nor the magics' own
//! settings. Lines that start with any other `:` command are left for evcxr.

use super::code::{ident, render};
use super::flags::split;
use super::output_format::DebugStyle;
use super::px::{Px, PxFlags};
use super::px_rewrite::{PerWorkerVars, ordinary_bindings};
use super::variable_types;
use super::{Call, EngineAction, Magic, MagicError, Placement, Rewrite, lookup};
use proc_macro2::TokenStream;
use quote::quote;
use std::collections::{BTreeMap, BTreeSet};

/// The magics' state for one notebook session.
#[derive(Debug, Clone, Default)]
pub struct Magics {
    autopx: bool,
    /// Whether `:px` runs on the MPI engines (`:engines activate`).
    engines_active: bool,
    px_defaults: PxFlags,
    /// Defined by `:px let` (name → declared `mut`).
    per_worker: PerWorkerVars,
    /// Ordinary variables declared `let mut`, so a typed per-worker one is writable in `:px`.
    ordinary_mut: BTreeSet<String>,
    /// Every notebook variable and its type, as evcxr reported them before the cell.
    types: BTreeMap<String, String>,
    /// `:fmt` and `:types`.
    debug_style: DebugStyle,
}

/// A cell ready for evcxr, and what to remember if it succeeds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prepared {
    /// The code to hand to evcxr (may be empty: nothing to run).
    pub code: String,
    /// Lines for the user (mode changes), shown on stdout before the code runs.
    pub notes: Vec<String>,
    /// Text to show as the cell's result instead of running anything.
    pub reply: Option<String>,
    /// Whether the cell is evcxr's `:help`, to which the kernel appends
    /// [`help_text`](super::help_text).
    pub append_help: bool,
    /// Whether any of our magics was used (the kernel may time or log these).
    pub used_magics: bool,
    /// Code that puts back the variables a failing `:px` redefined (see
    /// `rustpx::px::keep`); the kernel runs it if the cell ran and failed.
    pub restore: Option<String>,
    /// What the cell asks of the engines; then it holds nothing else.
    pub engines: Option<EngineAction>,
    changes: Changes,
}

/// What a cell changes in [`Magics`] if it succeeds; magics record here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Per-worker variables the cell defines, with their mutability.
    pub define: Vec<(String, bool)>,
    /// Existing variables the `:px` code redefines (kept by it if it fails).
    pub kept: Vec<String>,
    /// The new `:autopx` mode.
    pub autopx: Option<bool>,
    /// Whether `:px` now runs on the MPI engines.
    pub engines_active: Option<bool>,
    /// The new `:px` defaults.
    pub px_defaults: Option<PxFlags>,
    /// The new `:fmt`/`:types` style.
    pub debug_style: Option<DebugStyle>,
    forget: Vec<String>,
    ordinary: Vec<(String, bool)>,
    reset_per_worker: bool,
}

impl Magics {
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

    /// Whether `:autopx` is on.
    pub fn autopx(&self) -> bool {
        self.autopx
    }

    /// Whether `:px` (and `:autopx`) runs on the MPI engines instead of the workers.
    pub fn engines_active(&self) -> bool {
        self.engines_active
    }

    /// The `:px` options set by `:pxconfig`.
    pub fn px_defaults(&self) -> &PxFlags {
        &self.px_defaults
    }

    /// How cell values are shown (`:fmt`, `:types`).
    pub fn debug_style(&self) -> DebugStyle {
        self.debug_style
    }

    /// The names of every notebook variable.
    pub fn existing(&self) -> BTreeSet<String> {
        self.types.keys().cloned().collect()
    }

    /// `let` statements that take back the old values of `kept` variables, with the types
    /// evcxr reported for them.
    fn restore_code(&self, kept: &[String]) -> Result<Option<String>, MagicError> {
        let mut lets = TokenStream::new();
        for name in kept {
            let Some(ty) = self.types.get(name) else {
                continue;
            };
            let ty = variable_types::parse(name, ty)?;
            let mutable = self.per_worker.get(name).copied().unwrap_or(false)
                || self.ordinary_mut.contains(name);
            let m = mutable.then(|| quote!(mut));
            let var = ident(name);
            lets.extend(quote! {
                let #m #var: #ty = rustpx::px::restore::<#ty>(#name)?;
            });
        }
        Ok((!lets.is_empty()).then(|| render(&lets)))
    }

    /// Every variable `:px` code sees per worker: ordinary variables of type `PerWorker<…>`
    /// (made by `scatter`, `apply`, …; writable if declared `let mut`), overridden by `:px`
    /// definitions.
    pub fn known(&self) -> PerWorkerVars {
        let mut known: PerWorkerVars = self
            .types
            .iter()
            .filter(|(_, ty)| variable_types::is_per_worker(ty))
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
        let mut out = self.route(cell)?;
        if out.engines.is_some() && !out.code.trim().is_empty() {
            return Err(MagicError::Usage(
                "a cell with :engines or :px --engines holds nothing else (it runs on the \
                 engines, not in the notebook): move the other lines to a cell of their own"
                    .into(),
            ));
        }
        out.restore = self.restore_code(&out.changes.kept)?;
        let first_word = cell.split_whitespace().next();
        out.append_help = first_word == Some(":help");
        Ok(out)
    }

    /// A magic alone on the first line (with its options) that takes the whole cell, the
    /// cell as `:px` under `:autopx`, or else each line on its own.
    fn route(&self, cell: &str) -> Result<Prepared, MagicError> {
        let mut out = Prepared::default();
        let first = cell.trim_start();
        let (head, body) = first.split_once('\n').unwrap_or((first, ""));
        if let Some((magic, args)) = lookup(head) {
            let (flags, code) = split(magic, args)?;
            let whole_cell = match magic.placement() {
                Placement::Cell if !body.trim().is_empty() => {
                    return Err(alone_in_cell(magic));
                }
                Placement::Cell => Some(code),
                Placement::LineOrCell if code.trim().is_empty() => Some(body),
                _ => None,
            };
            if let Some(code) = whole_cell {
                let call = Call { flags, code };
                self.apply(magic, &call, &mut out)?;
                return Ok(out);
            }
        }
        if self.autopx && !first.starts_with(':') {
            let call = Call {
                flags: Vec::new(),
                code: cell,
            };
            self.apply(&Px, &call, &mut out)?;
            return Ok(out);
        }
        self.lines(cell, &mut out)?;
        Ok(out)
    }

    /// Rewrites the magic lines of `cell` one by one; other lines stay as they are.
    fn lines(&self, cell: &str, out: &mut Prepared) -> Result<(), MagicError> {
        let mut ordinary = String::new();
        for line in cell.lines() {
            match lookup(line) {
                Some((magic, _)) if magic.placement() == Placement::Cell => {
                    return Err(alone_in_cell(magic));
                }
                Some((magic, args)) => {
                    let (flags, code) = split(magic, args)?;
                    self.apply(magic, &Call { flags, code }, out)?;
                }
                None => {
                    out.code.push_str(line);
                    if !line.trim_start().starts_with(':') {
                        ordinary.push_str(line);
                        ordinary.push('\n');
                    }
                }
            }
            out.code.push('\n');
        }
        let changes = &mut out.changes;
        changes.ordinary = ordinary_bindings(&ordinary);
        changes.forget = changes
            .ordinary
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| self.per_worker.contains_key(n))
            .collect();
        changes.reset_per_worker = cell.lines().any(|l| l.trim() == ":clear");
        Ok(())
    }

    /// Has `magic` rewrite `call` into `out`.
    fn apply(
        &self,
        magic: &dyn Magic,
        call: &Call<'_>,
        out: &mut Prepared,
    ) -> Result<(), MagicError> {
        out.used_magics = true;
        match magic.rewrite(call, self, &mut out.changes)? {
            Rewrite::Code(code) => out.code.push_str(&code),
            Rewrite::Note(note) => out.notes.push(note),
            Rewrite::Reply(text) => out.reply = Some(text),
            Rewrite::Engines(action) => {
                if out.engines.replace(action).is_some() {
                    return Err(MagicError::Usage(
                        "one :engines or :px --engines per cell".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Records what a successful cell defined or changed.
    pub fn commit(&mut self, prepared: Prepared) {
        let c = prepared.changes;
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
        if let Some(on) = c.engines_active {
            self.engines_active = on;
        }
        if let Some(d) = c.px_defaults {
            self.px_defaults = d;
        }
        if let Some(style) = c.debug_style {
            self.debug_style = style;
        }
    }
}

fn alone_in_cell(magic: &dyn Magic) -> MagicError {
    MagicError::Usage(format!(
        "{} must be alone in its cell (it changes how the session runs)",
        magic.name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::magics::code::inspect::{calls, has};
    use syn::parse_quote;

    /// Asserts that `code` is the statements `expected`, whatever the spacing.
    fn assert_code(code: &str, expected: TokenStream) {
        let parse = |code: &str| crate::magics::code::parse_statements(code).expect(code);
        assert_eq!(parse(code), parse(&expected.to_string()), "{code}");
    }

    fn run(m: &mut Magics, cell: &str) -> Prepared {
        let p = m.prepare(cell).unwrap();
        m.commit(p.clone());
        p
    }

    #[test]
    fn ordinary_cells_pass_through() {
        let m = Magics::default();
        let p = m.prepare(":dep foo\nlet x = 1;\nx").unwrap();
        assert_eq!(p.code, ":dep foo\nlet x = 1;\nx\n");
        assert!(!p.used_magics);
    }

    #[test]
    fn line_and_cell_px_define_per_worker_variables_on_commit_only() {
        let mut m = Magics::default();
        let p = m.prepare(":px let part = worker_id() * 10;\npart").unwrap();
        assert!(
            calls(&p.code, parse_quote!(::rustpx::px::run)),
            "{}",
            p.code
        );
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
        let mut m = Magics::default();
        let p = run(&mut m, ":autopx");
        assert!(m.autopx && p.code.is_empty() && p.notes[0].contains("enabled"));
        let p = run(&mut m, "let y = 2;");
        assert!(
            calls(&p.code, parse_quote!(::rustpx::px::run)),
            "{}",
            p.code
        );
        assert!(m.per_worker.contains_key("y"));
        let p = run(&mut m, ":autopx");
        assert!(!m.autopx && p.notes[0].contains("disabled"));
        assert!(m.prepare(":autopx now").is_err());
    }

    #[test]
    fn pxconfig_sets_defaults_only_when_the_check_succeeds() {
        let mut m = Magics::default();
        let p = m.prepare(":pxconfig --targets ::2 --noblock").unwrap();
        assert_code(
            &p.code,
            quote! {
                rustpx::px::view(::core::option::Option::Some("::2"))?;
                ::std::println!("{}", ":px defaults: targets ::2, noblock");
            },
        );
        let p2 = m.prepare(":px 1").unwrap();
        assert!(
            !calls(&p2.code, parse_quote!(::rustpx::px::submit)),
            "defaults unchanged before commit"
        );
        m.commit(p);
        let p3 = m.prepare(":px 1").unwrap();
        assert!(
            calls(&p3.code, parse_quote!(::rustpx::px::submit))
                && has(&p3.code, parse_quote!(::core::option::Option::Some("::2"))),
            "{}",
            p3.code
        );
        let p4 = m.prepare(":px --block 1").unwrap();
        assert!(!calls(&p4.code, parse_quote!(::rustpx::px::submit)));
        assert!(matches!(
            m.prepare(":pxconfig --wat"),
            Err(MagicError::UnknownFlag { .. })
        ));
    }

    #[test]
    fn other_magics() {
        let m = Magics::default();
        assert_code(
            &m.prepare(":pxresult").unwrap().code,
            quote!(rustpx::px::result()?),
        );
        assert_code(
            &m.prepare(":workers").unwrap().code,
            quote!(rustpx::px::workers()?),
        );
        assert_code(
            &m.prepare(":workers 3").unwrap().code,
            quote!(rustpx::px::set_workers(3usize)?),
        );
        assert!(m.prepare(":workers zero").is_err());
        assert!(m.prepare(":workers 0").is_err());
        assert!(m.prepare(":pxresult --x").is_err());
        let t = m
            .prepare(":timeit -n 3\nv.sort();\nv.iter().sum::<i32>()")
            .unwrap();
        assert_code(
            &t.code,
            quote! {
                rustpx::timeit::timeit(
                    rustpx::timeit::TimeitOptions {
                        number: ::core::option::Option::Some(3u64),
                        repeat: ::core::option::Option::None
                    },
                    || { v.sort(); v.iter().sum::<i32>() },
                );
            },
        );
        assert_eq!(
            m.prepare(":timeit 1 +").unwrap_err().to_string(),
            ":timeit: cannot parse the code: unexpected end of input, expected an expression \
             (line 1, column 4)"
        );
        assert!(m.prepare(":timeit -r 0 1").is_err());
        assert!(m.prepare(":timeit").is_err());
        assert!(matches!(
            m.prepare(":px let x = ;"),
            Err(MagicError::PxRewrite(_))
        ));
        assert!(
            !m.prepare(":pxe").unwrap().used_magics,
            "a different command is evcxr's"
        );
    }

    #[test]
    fn redefined_variables_are_restored_with_their_types() {
        let mut m = Magics::default();
        run(&mut m, ":px let mut v = 1;");
        m.observe_variable_types([("v", "PerWorker<i32>"), ("n", "u8")]);
        let p = m
            .prepare(":px let v = 2; let n = 3; let fresh = 4;")
            .unwrap();
        let keep = |name: &str| -> syn::Expr {
            let var = ident(name);
            parse_quote!(::rustpx::px::keep(#name, #var))
        };
        assert!(has(&p.code, keep("v")), "{}", p.code);
        assert!(!has(&p.code, keep("fresh")), "{}", p.code);
        assert_code(
            p.restore.as_deref().unwrap(),
            quote! {
                let mut v: PerWorker<i32> = rustpx::px::restore::<PerWorker<i32>>("v")?;
                let n: u8 = rustpx::px::restore::<u8>("n")?;
            },
        );
        m.observe_variable_types([("v", "PerWorker<[closure@cell:1]>"), ("n", "u8")]);
        let err = m.prepare(":px let v = 2;").unwrap_err().to_string();
        assert!(err.starts_with("cannot restore `v`"), "{err}");
        assert_eq!(m.prepare(":px let fresh = 1;").unwrap().restore, None);
    }

    #[test]
    fn generated_code_is_never_an_evcxr_command() {
        let m = Magics::default();
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
        let mut m = Magics::default();
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
        assert!(
            has(
                &p.code,
                parse_quote!(::rustpx::px::input(&chunks, "chunks", __px_id)?.clone())
            ),
            "{}",
            p.code
        );
    }

    #[test]
    fn clear_forgets_per_worker_variables() {
        let mut m = Magics::default();
        run(&mut m, ":px let a = 1;");
        run(&mut m, ":clear");
        assert!(m.per_worker.is_empty());
    }
}
