//! The Rust on both sides of a magic: the user's code, parsed with `syn`, and the
//! generated token stream, printed for evcxr.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;

/// User code that does not parse as Rust statements.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse the code: {message} (line {line}, column {column})")]
pub struct CodeError {
    /// syn's message.
    pub message: String,
    /// 1-based line within the magic's code.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// Parses `code` as the statements of a block (the last may be an expression without
/// `;`, the block's value).
pub fn parse_statements(code: &str) -> Result<Vec<syn::Stmt>, CodeError> {
    syn::Block::parse_within.parse_str(code).map_err(|e| {
        let (start, end) = (e.span().start(), e.span().end());
        // syn reports running out of input with an empty span; the code's end is where
        // something is missing.
        let (line, column) = if start == end {
            let last = code.trim_end().lines().last().unwrap_or("");
            (
                code.trim_end().lines().count().max(1),
                last.chars().count() + 1,
            )
        } else {
            (start.line, start.column + 1)
        };
        CodeError {
            message: e.to_string(),
            line,
            column,
        }
    })
}

/// The identifier `name`, a variable name as syn or evcxr print it (`r#type` for a raw
/// one).
pub fn ident(name: &str) -> syn::Ident {
    match name.strip_prefix("r#") {
        Some(raw) => syn::Ident::new_raw(raw, Span::call_site()),
        None => syn::Ident::new(name, Span::call_site()),
    }
}

/// Prints generated code for evcxr.
///
/// evcxr takes a line that starts (after spaces) with `:` as one of its commands, and
/// one that starts with `!` as a shell command, until the first line of Rust; so the
/// generated code must not begin with `::path` or `!`. proc-macro2 prints a token stream
/// on one line (only a literal that spans lines adds line breaks), so its first token
/// decides: generated statements start with `let`, `{` or a `rustpx::…` path, never with
/// `::rustpx::…`.
pub fn render(tokens: &TokenStream) -> String {
    let code = tokens.to_string();
    debug_assert!(
        !code.starts_with([':', '!']),
        "generated code would be an evcxr command: {code}"
    );
    code
}

/// Reading generated code back as syntax, so tests check what it does, not how its
/// tokens are spaced.
#[cfg(test)]
pub mod inspect {
    use super::parse_statements;
    use syn::visit_mut::VisitMut;

    #[derive(Default)]
    struct Collect {
        exprs: Vec<syn::Expr>,
        macros: Vec<syn::Path>,
    }

    impl VisitMut for Collect {
        fn visit_expr_mut(&mut self, e: &mut syn::Expr) {
            self.exprs.push(e.clone());
            syn::visit_mut::visit_expr_mut(self, e);
        }

        fn visit_macro_mut(&mut self, m: &mut syn::Macro) {
            self.macros.push(m.path.clone());
        }
    }

    fn collect(code: &str) -> Collect {
        let mut stmts = parse_statements(code).expect("generated code parses");
        let mut found = Collect::default();
        stmts.iter_mut().for_each(|s| found.visit_stmt_mut(s));
        found
    }

    /// The statements of `code`, which must parse.
    pub fn stmts(code: &str) -> Vec<syn::Stmt> {
        parse_statements(code).expect("generated code parses")
    }

    /// Every expression in `code`, outermost first.
    pub fn exprs(code: &str) -> Vec<syn::Expr> {
        collect(code).exprs
    }

    /// How often `code` contains the expression `expected`.
    pub fn count(code: &str, expected: &syn::Expr) -> usize {
        exprs(code).iter().filter(|e| *e == expected).count()
    }

    /// Whether `code` contains the expression `expected`.
    pub fn has(code: &str, expected: syn::Expr) -> bool {
        count(code, &expected) > 0
    }

    /// Whether `code` calls the function `path`.
    pub fn calls(code: &str, path: syn::Expr) -> bool {
        exprs(code)
            .iter()
            .any(|e| matches!(e, syn::Expr::Call(c) if *c.func == path))
    }

    /// The paths of the macros `code` invokes.
    pub fn macros(code: &str) -> Vec<syn::Path> {
        collect(code).macros
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn statements_parse_with_their_position() {
        let stmts = parse_statements("let a = 1;\nprintln!(\"{a}\");\na + 1").unwrap();
        assert_eq!(stmts.len(), 3);
        assert!(matches!(stmts[2], syn::Stmt::Expr(_, None)));
        let err = parse_statements("let a = 1;\nlet b = ;").unwrap_err();
        assert_eq!((err.line, err.column), (2, 9), "{err}");
        let err = parse_statements("let a = 1;\nlet b = 2 +\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 12), "{err}");
    }

    #[test]
    fn generated_code_is_printed_on_one_line() {
        let code = render(&quote! {
            let x = {
                rustpx::px::run(1)?;
                ::core::option::Option::Some(2)
            };
        });
        assert_eq!(code.lines().count(), 1, "{code}");
        assert!(code.starts_with("let x"), "{code}");
    }
}
