//! The types of a cell's new variables, learned from rustc while rust-analyzer is still
//! warming up.
//!
//! evcxr stores each variable a cell defines with its type written out
//! (`put_variable::<T>(…)`), and normally asks rust-analyzer for `T`. rust-analyzer's first
//! inference in a session takes seconds (every crate's name resolution and impls), and it
//! runs in the background from the start; a `let` sent before it ends would wait for it.
//! rustc already knows the type: the cell is first compiled storing each new variable as
//! [`PROBE_TYPE`], and the "mismatched types" error names the real type, with inference
//! variables rustc's fallback would settle (`{integer}` is `i32`). rustc prints types
//! with trimmed paths (`Arc<…>` even where `Arc` is not imported); when a name then does
//! not resolve, rustc's own import suggestion qualifies it, or else each of the paths the
//! embedder names (`CommandContext::set_type_probe_scopes`), one compile each.
//!
//! A probe is only ever a faster route to the same place: a probed type must compile, or
//! the cell goes the usual way (rust-analyzer, then evcxr's own error handling). Any error
//! the probe cannot read, a type it cannot write (a closure, `impl Trait`, a borrowed
//! lifetime) or an error in the user's code sends the cell there, so what the user sees
//! for such a cell does not change; and no cell runs until it compiles, so nothing runs
//! twice.

use crate::code_block::CodeKind;
use crate::errors::CompilationError;
use crate::rust_analyzer::EDITION;
use crate::rust_analyzer::is_type_valid;
use once_cell::sync::Lazy;
use ra_ap_syntax::AstNode;
use ra_ap_syntax::ast;
use regex::Regex;
use serde_json::Value;
use std::collections::HashMap;
use std::collections::HashSet;

/// The type a variable is first stored as: an empty enum in the cell's own runtime
/// module, so no value has it and no trait bound in the user's code is met by it (a
/// `let n = s.parse().unwrap();` must not compile as `()`); rustc's error names the type
/// the variable has.
pub(crate) const PROBE_TYPE: &str = "evcxr_internal_runtime::TypeProbe";

/// How many times a cell is compiled again with what the probe learned before it gives up.
const MAX_ROUNDS: u32 = 5;

/// A variable a cell's top-level `let` declares, read from its syntax.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Declared {
    pub(crate) name: String,
    pub(crate) is_mut: bool,
    /// The written type, when it is complete (no `_`): it needs no probe.
    pub(crate) explicit_type: Option<String>,
}

/// The variables the top-level `let`s of `function_name` in `source` declare: the bindings
/// rust-analyzer would report (`RustAnalyzer::top_level_variables`), found the same way
/// (a whole pattern that is a name keeps its written type; otherwise each name inside it).
/// Syntax alone answers this, so a cell that declares none needs no analysis at all.
pub(crate) fn declared_variables(source: &str, function_name: &str) -> Vec<Declared> {
    use ra_ap_syntax::ast::HasModuleItem;
    use ra_ap_syntax::ast::HasName;
    let file = ast::SourceFile::parse(source, EDITION).tree();
    let mut declared = Vec::new();
    let body = file.items().find_map(|item| match item {
        ast::Item::Fn(function) if function.name().is_some_and(|n| n.text() == function_name) => {
            function.body()
        }
        _ => None,
    });
    for statement in body.iter().flat_map(|body| body.statements()) {
        let ast::Stmt::LetStmt(let_stmt) = statement else {
            continue;
        };
        let Some(pat) = let_stmt.pat() else {
            continue;
        };
        let explicit_type = let_stmt
            .ty()
            .map(|ty| ty.syntax().text().to_string())
            .filter(|ty| is_type_valid(ty));
        if let Some(variable) = binding(&pat, explicit_type) {
            declared.push(variable);
            continue;
        }
        for node in pat.syntax().descendants() {
            if let Some(variable) = ast::Pat::cast(node).and_then(|sub| binding(&sub, None)) {
                declared.push(variable);
            }
        }
    }
    declared
}

/// The names among `declared` that already name a variable (`defined`) and that
/// `user_code` mentions nowhere but in the one binding: a cell that shadows them without
/// reading them. Counted in the text, so a name in a string (`format!("{y}")`), a macro
/// or a comment counts as read: a wrong "unread" would be unsound, a wrong "read" only
/// costs a probe compile.
pub(crate) fn unread_redefinitions(
    declared: &[Declared],
    user_code: &str,
    defined: impl Fn(&str) -> bool,
) -> HashSet<String> {
    declared
        .iter()
        .map(|variable| variable.name.as_str())
        .filter(|name| defined(name) && mentions(user_code, name) == 1)
        .map(str::to_owned)
        .collect()
}

/// How often `name` occurs in `text` as a whole word (not inside a longer identifier).
fn mentions(text: &str, name: &str) -> usize {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(name)
        .filter(|(at, _)| {
            let before = text[..*at].chars().next_back();
            let after = text[at + name.len()..].chars().next();
            !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
        })
        .count()
}

fn binding(pat: &ast::Pat, explicit_type: Option<String>) -> Option<Declared> {
    use ra_ap_syntax::ast::HasName;
    let ast::Pat::IdentPat(ident) = pat else {
        return None;
    };
    Some(Declared {
        name: ident.name()?.text().to_string(),
        is_mut: ident.mut_token().is_some(),
        explicit_type,
    })
}

/// What one failed compile taught a [`Probe`].
pub(crate) struct Learned<'e> {
    /// `(variable, type)` for each variable whose type changed.
    pub(crate) types: Vec<(String, String)>,
    /// The errors that are not about a probed type.
    pub(crate) unread: Vec<&'e CompilationError>,
}

impl Learned<'_> {
    /// Whether every error left unread is about the user's code, where evcxr may know
    /// how to mend it (`?` outside a function returning `Result`, `await` outside
    /// `async`); an error about storing a variable (moved, private type) is left to
    /// evcxr's usual route.
    pub(crate) fn unread_are_users(&self) -> bool {
        self.unread.iter().all(|error| {
            let origins = &error.code_origins;
            let users = |origin: &CodeKind| {
                origin.is_user_supplied() || matches!(origin, CodeKind::WithFallback(_))
            };
            let stores = |origin: &CodeKind| matches!(origin, CodeKind::PackVariable { .. });
            origins.iter().any(users) && !origins.iter().any(stores)
        })
    }
}

/// The probe of one cell: the type each probed variable is compiled with, the paths
/// tried for names rustc printed bare, and how many compiles it has cost.
#[derive(Debug)]
pub(crate) struct Probe {
    types: Vec<(String, String)>,
    /// Where a bare name that does not resolve is looked for, in order, when rustc
    /// suggests no import for it (it suggests none for items of a dependency's
    /// dependency, such as `rustpx::ndarray::ArrayBase`).
    scopes: Vec<String>,
    /// For each such name, the path it is written with now and how many scopes it has
    /// been tried in.
    paths: HashMap<String, (String, usize)>,
    rounds: u32,
}

impl Probe {
    /// A probe of `probed`, the variables stored as [`PROBE_TYPE`], that looks for names
    /// in `scopes`.
    pub(crate) fn new(probed: Vec<String>, scopes: Vec<String>) -> Probe {
        let types = probed
            .into_iter()
            .map(|variable| (variable, PROBE_TYPE.to_owned()))
            .collect();
        Probe {
            types,
            scopes,
            paths: HashMap::new(),
            rounds: 0,
        }
    }

    /// Takes `types` (from an earlier probe of the same source) as learned.
    pub(crate) fn assume(&mut self, types: &[(String, String)]) {
        for (variable, type_name) in types {
            if let Some(entry) = self.types.iter_mut().find(|(v, _)| v == variable) {
                entry.1.clone_from(type_name);
            }
        }
    }

    /// The variables' types, once the cell compiled with them.
    pub(crate) fn into_types(self) -> Vec<(String, String)> {
        self.types
    }

    /// What `errors` (a failed compile of the cell) teach: the new type of each variable
    /// whose type they change, and the errors that are not about a probed type (for
    /// evcxr's own mending, or the user's). `None` once the probe has cost enough compiles.
    pub(crate) fn learn<'e>(&mut self, errors: &'e [CompilationError]) -> Option<Learned<'e>> {
        self.rounds += 1;
        if self.rounds > MAX_ROUNDS {
            return None;
        }
        let mut changed = Vec::new();
        let mut unread = Vec::new();
        let mut renamed = HashSet::new();
        // rustc's closing summary ("Some errors have detailed explanations") and warnings
        // are not errors to mend.
        let to_mend = |e: &&CompilationError| !matches!(e.level(), "failure-note" | "warning");
        for error in errors.iter().filter(to_mend) {
            if let Some((index, type_name)) = self.found(error) {
                self.types[index].1 = type_name;
                changed.push(index);
                continue;
            }
            let Some((name, suggested)) = self.unresolved(error) else {
                unread.push(error);
                continue;
            };
            // One error per use of the name: the first one moves it to its next path.
            if renamed.insert(name.clone()) {
                match self.rename(&name, suggested) {
                    Some(indices) => changed.extend(indices),
                    None => unread.push(error),
                }
            }
        }
        changed.sort_unstable();
        changed.dedup();
        let types = changed.into_iter().map(|i| self.types[i].clone()).collect();
        Some(Learned { types, unread })
    }

    /// The variable a "mismatched types" error at a probed variable's store is about,
    /// and the type it names.
    fn found(&self, error: &CompilationError) -> Option<(usize, String)> {
        let index = error.code_origins.iter().find_map(|origin| match origin {
            CodeKind::PackVariable { variable_name } => {
                self.types.iter().position(|(variable, type_name)| {
                    variable == variable_name && type_name == PROBE_TYPE
                })
            }
            _ => None,
        })?;
        (error.code()? == "E0308").then_some(())?;
        Some((index, found_type(&error.json)?))
    }

    /// The name in a probed type that `error` says does not resolve, with the path
    /// rustc suggests importing it from, if any.
    fn unresolved(&self, error: &CompilationError) -> Option<(String, Option<String>)> {
        static NAME: Lazy<Regex> = Lazy::new(|| Regex::new(r"`([A-Za-z_][A-Za-z0-9_]*)`").unwrap());
        let (name, suggested) = match suggested_import(&error.json) {
            Some((name, path)) => (name, Some(path)),
            None if matches!(error.code()?, "E0412" | "E0425" | "E0433") => {
                (NAME.captures(&error.message())?[1].to_owned(), None)
            }
            None => return None,
        };
        let written = self.written(&name);
        let in_a_type = self
            .types
            .iter()
            .any(|(_, type_name)| replace_path(type_name, written, written).1);
        in_a_type.then_some((name, suggested))
    }

    /// The path `name` is written with in the probed types now.
    fn written<'a>(&'a self, name: &'a str) -> &'a str {
        self.paths.get(name).map_or(name, |(path, _)| path.as_str())
    }

    /// Writes `name` with the next path to try (rustc's suggestion first, then each
    /// scope) in every probed type; the variables whose type changed, or `None` when
    /// every path has been tried.
    fn rename(&mut self, name: &str, suggested: Option<String>) -> Option<Vec<usize>> {
        let (written, tried) = self
            .paths
            .get(name)
            .cloned()
            .unwrap_or_else(|| (name.to_owned(), 0));
        let (next, tried) = match suggested {
            Some(path) if written == name => (path, tried),
            _ => (format!("{}::{name}", self.scopes.get(tried)?), tried + 1),
        };
        let mut changed = Vec::new();
        for (index, (_, type_name)) in self.types.iter_mut().enumerate() {
            let (renamed, found) = replace_path(type_name, &written, &next);
            if found {
                *type_name = renamed;
                changed.push(index);
            }
        }
        self.paths.insert(name.to_owned(), (next, tried));
        (!changed.is_empty()).then_some(changed)
    }
}

/// The type a "mismatched types" error found where [`PROBE_TYPE`] was expected, written
/// so that it compiles, if it can be.
fn found_type(json: &Value) -> Option<String> {
    static NOTE: Lazy<Regex> =
        Lazy::new(|| Regex::new(r"(?s)^expected enum `TypeProbe`\s+found [a-z ]*`(.*)`$").unwrap());
    static LABEL: Lazy<Regex> = Lazy::new(|| {
        Regex::new(r"^expected `TypeProbe`, found (?:`(.*)`|(integer)|(floating-point number))$")
            .unwrap()
    });
    let notes = json["children"].as_array().into_iter().flatten();
    let from_note = notes
        .filter_map(|child| child["message"].as_str())
        .find_map(|message| Some(NOTE.captures(message)?[1].to_owned()));
    let labels = json["spans"].as_array().into_iter().flatten();
    let from_label = || {
        labels
            .filter_map(|span| span["label"].as_str())
            .find_map(|label| {
                let captures = LABEL.captures(label)?;
                Some(match (captures.get(1), captures.get(2)) {
                    (Some(found), _) => found.as_str().to_owned(),
                    (None, Some(_)) => "{integer}".to_owned(),
                    (None, None) => "{float}".to_owned(),
                })
            })
    };
    writable(&from_note.or_else(from_label)?)
}

/// `type_name` with the inference variables rustc's fallback settles written out, if the
/// result is a type a cell can name: not a closure or other unnameable type, not
/// `impl Trait`, no elided or local lifetime.
fn writable(type_name: &str) -> Option<String> {
    let settled = type_name
        .replace("{integer}", "i32")
        .replace("{float}", "f64");
    let unnameable = settled.contains('{')
        || settled.contains("impl ")
        || settled.contains("'_")
        || settled.contains("...");
    (!unnameable && is_type_valid(&settled)).then_some(settled)
}

/// The name an unresolved-path error is about and the path rustc's first import
/// suggestion gives it (`use std::sync::Arc;`), from the error or from its help (which
/// evcxr reports alone when it points at the cell's code). rustc trims a path only when
/// its last name is unique among the crates it sees, so every suggestion names the same
/// item.
fn suggested_import(json: &Value) -> Option<(String, String)> {
    static IMPORT: Lazy<Regex> = Lazy::new(|| {
        Regex::new(r"^\s*use ((?:[A-Za-z_][A-Za-z0-9_]*::)+([A-Za-z_][A-Za-z0-9_]*));\s*$").unwrap()
    });
    let children = json["children"].as_array().into_iter().flatten();
    std::iter::once(json)
        .chain(children)
        .flat_map(|diagnostic| diagnostic["spans"].as_array().into_iter().flatten())
        .filter_map(|span| span["suggested_replacement"].as_str())
        .find_map(|replacement| {
            let captures = IMPORT.captures(replacement)?;
            Some((captures[2].to_owned(), captures[1].to_owned()))
        })
}

/// `type_name` with each path that starts with `from` made to start with `to` instead,
/// and whether there was one.
fn replace_path(type_name: &str, from: &str, to: &str) -> (String, bool) {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut replaced = String::with_capacity(type_name.len() + to.len());
    let mut found = false;
    let mut last = 0;
    for (start, _) in type_name.match_indices(from) {
        let before = &type_name[..start];
        let after = &type_name[start + from.len()..];
        let starts_path = !before.ends_with(':') && !before.ends_with(is_ident);
        if start >= last && starts_path && !after.starts_with(is_ident) {
            replaced.push_str(&type_name[last..start]);
            replaced.push_str(to);
            last = start + from.len();
            found = true;
        }
    }
    replaced.push_str(&type_name[last..]);
    (replaced, found)
}

#[cfg(test)]
mod test {
    use super::*;
    use serde_json::json;

    #[test]
    fn declared_variables_mirror_the_analysis() {
        let source = "fn wrapper() { let a = 1; let mut b: Vec<u8> = vec![]; \
                      let c: Vec<_> = vec![1]; let (d, mut e) = (1, 2); let _ = 3; 4 }";
        let declared = declared_variables(source, "wrapper");
        let seen: Vec<_> = declared
            .iter()
            .map(|v| (v.name.as_str(), v.is_mut, v.explicit_type.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                ("a", false, None),
                ("b", true, Some("Vec<u8>")),
                ("c", false, None),
                ("d", false, None),
                ("e", true, None),
            ]
        );
    }

    #[test]
    fn a_redefinition_is_unread_only_when_named_once() {
        let cell =
            "let y = x + 2; let mut yy = 1; let s = format!(\"{s}\"); let n = n + 1; let w = 1;";
        let declared = declared_variables(&format!("fn wrapper() {{ {cell} }}"), "wrapper");
        let defined = |name: &str| ["y", "yy", "s", "n"].contains(&name);
        let mut unread: Vec<_> = unread_redefinitions(&declared, cell, defined)
            .into_iter()
            .collect();
        unread.sort();
        // `s` is read by the format string, `n` by its initialiser, `w` is new.
        assert_eq!(unread, ["y", "yy"]);
    }

    #[test]
    fn found_types_are_read_from_the_note_then_the_label() {
        let note = json!({
            "children": [{"message": "expected enum `TypeProbe`\n      found struct `Arc<std::sync::Mutex<Vec<{integer}>>>`"}],
            "spans": [{"label": "expected `TypeProbe`, found `Arc<Mutex<Vec<{integer}>>>`"}]
        });
        assert_eq!(
            found_type(&note).as_deref(),
            Some("Arc<std::sync::Mutex<Vec<i32>>>")
        );
        let label = |text: &str| json!({"children": [], "spans": [{"label": text}]});
        let found = |text: &str| found_type(&label(text));
        assert_eq!(
            found("expected `TypeProbe`, found integer").as_deref(),
            Some("i32")
        );
        assert_eq!(
            found("expected `TypeProbe`, found floating-point number").as_deref(),
            Some("f64")
        );
        assert_eq!(
            found("expected `TypeProbe`, found `&str`").as_deref(),
            Some("&str")
        );
        assert_eq!(
            found("expected `TypeProbe`, found `()`").as_deref(),
            Some("()")
        );
        assert_eq!(found("expected `u8`, found `()`"), None);
    }

    #[test]
    fn unnameable_types_are_not_written() {
        assert_eq!(writable("{closure@src/lib.rs:8:13: 8:21}"), None);
        assert_eq!(
            writable("Map<Range<i32>, {closure@src/lib.rs:9:24: 9:27}>"),
            None
        );
        assert_eq!(writable("impl Iterator<Item = i32>"), None);
        assert_eq!(writable("Chars<'_>"), None);
        assert_eq!(writable("Vec<_>"), None);
        assert_eq!(writable("[u8; 4]").as_deref(), Some("[u8; 4]"));
        assert_eq!(writable("Vec<{float}>").as_deref(), Some("Vec<f64>"));
    }

    #[test]
    fn paths_are_replaced_only_where_they_start() {
        let json =
            json!({"children": [{"spans": [{"suggested_replacement": "use std::sync::Arc;\n"}]}]});
        let (name, path) = suggested_import(&json).unwrap();
        assert_eq!((name.as_str(), path.as_str()), ("Arc", "std::sync::Arc"));
        let (replaced, found) = replace_path("Arc<other::Arc<ArcX, Arc>>", &name, &path);
        assert!(found);
        assert_eq!(replaced, "std::sync::Arc<other::Arc<ArcX, std::sync::Arc>>");
        let (replaced, found) = replace_path("Vec<a::Dim<[usize; 2]>>", "a::Dim", "b::Dim");
        assert!(found);
        assert_eq!(replaced, "Vec<b::Dim<[usize; 2]>>");
        assert!(!replace_path("Vec<xa::Dim>", "a::Dim", "b::Dim").1);
    }

    #[test]
    fn a_bare_name_tries_the_suggestion_then_each_scope() {
        let scopes = vec!["rt".to_owned(), "rt::nd".to_owned()];
        let mut probe = Probe::new(vec!["v".to_owned()], scopes);
        probe.types[0].1 = "Seq<Base<f32>, Base<u8>>".to_owned();
        assert_eq!(probe.rename("Base", None), Some(vec![0]));
        assert_eq!(probe.types[0].1, "Seq<rt::Base<f32>, rt::Base<u8>>");
        assert_eq!(probe.rename("Base", None), Some(vec![0]));
        assert_eq!(probe.types[0].1, "Seq<rt::nd::Base<f32>, rt::nd::Base<u8>>");
        assert_eq!(probe.rename("Base", None), None);
        assert_eq!(
            probe.rename("Seq", Some("x::Seq".to_owned())),
            Some(vec![0])
        );
        assert!(probe.types[0].1.starts_with("x::Seq<"));
    }
}
