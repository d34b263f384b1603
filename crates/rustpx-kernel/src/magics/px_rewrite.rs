//! Rewriting `:px` code into ordinary Rust that runs once on each target worker.
//!
//! The code is parsed with `syn` as the statements of a block and the result built with
//! `quote!`. What it becomes:
//!
//! ```text
//! :px let part = worker_id() * 10;        let part = {
//!                                             let __px_view = ::rustpx::px::view(None)?;
//!                                             ... one input per target worker ...
//!                                             let __px_kept = ::rustpx::px::run(&__px_view, ..,
//!                                                 |__px_worker, ()| { let part = ..; Ok(((part,), ()), ()) })?;
//!                                             ... unzip into PerWorker<usize> ...
//!                                         };
//! ```
//!
//! - Top-level `let` bindings are returned from every worker and become `PerWorker<T>`
//!   notebook variables (a tuple pattern `let (a, b) = {..}` when there are several, which
//!   evcxr records as separate variables).
//! - A per-worker variable from an earlier `:px` that the code mentions is handed to each
//!   worker as its own value: by reference when it was declared `let x`, as an owned clone
//!   written back on success when it was `let mut x` (so a failure changes nothing).
//! - `print!`-family macros and `dbg!` become `::rustpx::px_*` macros, which tag output with
//!   the worker that printed it.
//! - Every loop of the code itself (not those inside closures or items it defines) starts
//!   each iteration with `::rustpx::check_cancelled()?`, so an interrupt stops a looping
//!   `:px` cell within one iteration: the blocking run cannot return while workers still
//!   borrow the notebook's variables, so it must ask them to stop.
//! - Every fallible step happens before any notebook variable is assigned, so a failing
//!   worker leaves the notebook as it was. A `let` that redefines an existing notebook
//!   variable would still lose it (evcxr drops what a failing cell redefines), so on
//!   failure the code hands the old values to `rustpx::px::keep` and the kernel restores
//!   them (see `rustpx::px::keep`'s module).

use super::code::{CodeError, ident, parse_statements, render};
use proc_macro2::{TokenStream, TokenTree};
use quote::{format_ident, quote};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use syn::visit_mut::VisitMut;

/// Per-worker variables the kernel knows about: name → declared `mut`.
pub type PerWorkerVars = BTreeMap<String, bool>;

/// How a `:px` run is configured (from its flags and `:pxconfig`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PxPlan {
    /// ipyparallel target spec, `None` for every worker of the active view.
    pub targets: Option<String>,
    /// `--noblock`: submit and return.
    pub noblock: bool,
    /// `--group-outputs`.
    pub group_outputs: bool,
    /// `--timeout SECS`.
    pub timeout: Option<Duration>,
}

/// The Rust that a `:px` block becomes, and the per-worker variables it defines.
#[derive(Debug, Clone, PartialEq)]
pub struct Rewritten {
    /// Code for evcxr.
    pub code: String,
    /// Names the code defines as `PerWorker` variables, with their mutability.
    pub defines: Vec<(String, bool)>,
    /// Existing notebook variables among `defines`: kept by the code if it fails, for
    /// the kernel to restore.
    pub kept: Vec<String>,
}

/// Why `:px` code cannot be rewritten.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PxRewriteError {
    /// The code does not parse as Rust statements.
    #[error(":px: {0}")]
    Parse(#[from] CodeError),
    /// `--noblock` code tried to define per-worker variables.
    #[error(
        ":px --noblock cannot define variables (`{0}`): the run finishes after the cell, \
         so there is nowhere to keep them; run it without --noblock"
    )]
    NoblockDefines(String),
    /// There is no code to run.
    #[error(":px needs code to run, on the same line or on the lines below it")]
    Empty,
}

/// Rewrites the `:px` code `code` under `plan`, given the per-worker variables already
/// defined in the notebook and the names of all its variables (`existing`).
pub fn rewrite(
    code: &str,
    plan: &PxPlan,
    known: &PerWorkerVars,
    existing: &BTreeSet<String>,
) -> Result<Rewritten, PxRewriteError> {
    if code.trim().is_empty() {
        return Err(PxRewriteError::Empty);
    }
    let mut stmts = parse_statements(code)?;
    for stmt in &mut stmts {
        RoutePrints.visit_stmt_mut(stmt);
        CancellableLoops.visit_stmt_mut(stmt);
    }
    let final_expr = match stmts.last() {
        Some(syn::Stmt::Expr(_, None)) => match stmts.pop() {
            Some(syn::Stmt::Expr(e, None)) => Some(e),
            _ => unreachable!("just matched"),
        },
        _ => None,
    };

    let defines = top_level_bindings(&stmts);
    if plan.noblock
        && let Some((name, _)) = defines.first()
    {
        return Err(PxRewriteError::NoblockDefines(name.clone()));
    }

    let mut mentioned = BTreeSet::new();
    collect_idents(
        code.parse::<TokenStream>().unwrap_or_default(),
        &mut mentioned,
    );
    let inputs: Vec<(&String, bool)> = known
        .iter()
        .filter(|(name, _)| mentioned.contains(name.as_str()))
        .map(|(name, mutable)| (name, *mutable && !plan.noblock))
        .collect();

    let kept: Vec<String> = defines
        .iter()
        .map(|(name, _)| name.clone())
        .filter(|name| existing.contains(name))
        .collect();
    let tokens = generate(&stmts, final_expr.as_ref(), &defines, &kept, &inputs, plan);
    Ok(Rewritten {
        code: render(&tokens),
        defines,
        kept,
    })
}

/// The `PxRun` options of the generated call.
fn run_options(plan: &PxPlan, show: bool) -> TokenStream {
    let timeout = match plan.timeout {
        Some(limit) => {
            let (secs, nanos) = (limit.as_secs(), limit.subsec_nanos());
            quote!(::core::option::Option::Some(::std::time::Duration::new(#secs, #nanos)))
        }
        None => quote!(::core::option::Option::None),
    };
    let group = plan.group_outputs;
    quote! {
        ::rustpx::px::PxRun { timeout: #timeout, group_outputs: #group, show: #show }
    }
}

/// The view and each worker's inputs: immutable per-worker variables by reference
/// (blocking) or by clone ('static, --noblock); mutable ones as an owned clone written
/// back on success.
fn prologue(inputs: &[(&String, bool)], plan: &PxPlan) -> TokenStream {
    let targets = match &plan.targets {
        Some(spec) => quote!(::core::option::Option::Some(#spec)),
        None => quote!(::core::option::Option::None),
    };
    let input_exprs = inputs.iter().map(|(name, mutable)| {
        let var = ident(name);
        let by_value = *mutable || plan.noblock;
        let clone = by_value.then(|| quote!(.clone()));
        quote!(::rustpx::px::input(&#var, #name, __px_id)? #clone)
    });
    quote! {
        let __px_view = ::rustpx::px::view(#targets)?;
        let __px_inputs = __px_view
            .targets()
            .iter()
            .map(|&__px_id| ::core::result::Result::<_, ::rustpx::Error>::Ok(( #(#input_exprs,)* )))
            .collect::<::core::result::Result<::std::vec::Vec<_>, _>>()?;
    }
}

fn generate(
    stmts: &[syn::Stmt],
    final_expr: Option<&syn::Expr>,
    defines: &[(String, bool)],
    kept: &[String],
    inputs: &[(&String, bool)],
    plan: &PxPlan,
) -> TokenStream {
    let options = run_options(plan, final_expr.is_some());
    let prologue = prologue(inputs, plan);
    let final_value = match final_expr {
        Some(e) => quote!(#e),
        None => quote!(()),
    };

    if plan.noblock {
        return generate_noblock(stmts, &final_value, inputs, &options, &prologue);
    }
    generate_blocking(
        stmts,
        &final_value,
        defines,
        kept,
        inputs,
        &options,
        &prologue,
    )
}

/// A blocking run: the outcome is written back to the cell's variables, or the kept
/// values are restored and the error leaves the cell.
fn generate_blocking(
    stmts: &[syn::Stmt],
    final_value: &TokenStream,
    defines: &[(String, bool)],
    kept: &[String],
    inputs: &[(&String, bool)],
    options: &TokenStream,
    prologue: &TokenStream,
) -> TokenStream {
    let input_pats = input_patterns(inputs);
    let def_vars: Vec<_> = defines.iter().map(|(n, _)| ident(n)).collect();
    let mut_vars: Vec<_> = inputs
        .iter()
        .filter(|(_, m)| *m)
        .map(|(n, _)| ident(n))
        .collect();
    let def_tmps: Vec<_> = (0..defines.len())
        .map(|i| format_ident!("__px_d{i}"))
        .collect();
    let mut_tmps: Vec<_> = (0..mut_vars.len())
        .map(|i| format_ident!("__px_m{i}"))
        .collect();
    let def_vecs: Vec<_> = (0..defines.len())
        .map(|i| format_ident!("__px_dv{i}"))
        .collect();

    let kept_vars = kept.iter().map(|n| ident(n));
    let run = quote! {
        #[allow(unused_mut, unused_variables)]
        let __px_outcome = (|| -> ::core::result::Result<_, ::rustpx::Error> {
            #prologue
            // Inline, so the closure's parameter types are inferred from `run`'s bounds.
            ::rustpx::px::run(&__px_view, #options, __px_inputs,
                |__px_worker: &::rustpx::Worker, ( #(#input_pats,)* )|
                    -> ::core::result::Result<_, ::rustpx::px::BoxError> {
                #(#stmts)*
                let __px_final = #final_value;
                ::core::result::Result::Ok(((( #(#def_vars,)* ), ( #(#mut_vars,)* )), __px_final))
            })
        })();
        let __px_kept = match __px_outcome {
            ::core::result::Result::Ok(__px_kept) => __px_kept,
            ::core::result::Result::Err(__px_error) => {
                #( ::rustpx::px::keep(#kept, #kept_vars); )*
                // Leave through `?`, not `return`: evcxr wraps a cell in a function that
                // can return an error only after such a `?` failed to compile without it.
                ::core::result::Result::<(), ::rustpx::Error>::Err(__px_error)?;
                ::core::unreachable!()
            }
        };
        let mut __px_ids = ::std::vec::Vec::new();
        #( let mut #def_vecs = ::std::vec::Vec::new(); )*
        for (__px_id, (( #(#def_tmps,)* ), ( #(#mut_tmps,)* ))) in __px_kept.into_pairs() {
            __px_ids.push(__px_id);
            #( #def_vecs.push(#def_tmps); )*
            #( #mut_vars[__px_id] = #mut_tmps; )*
        }
    };
    let collected = def_vecs
        .iter()
        .map(|v| quote!(__px_ids.iter().copied().zip(#v).collect::<::rustpx::PerWorker<_>>()));
    let lhs = defines.iter().map(|(n, m)| {
        let v = ident(n);
        if *m { quote!(mut #v) } else { quote!(#v) }
    });
    match defines.len() {
        0 => quote!({ #run };),
        1 => quote!(let #(#lhs)* = { #run #(#collected)* };),
        _ => quote!(let ( #(#lhs,)* ) = { #run ( #(#collected,)* ) };),
    }
}

/// A `--noblock` run: submitted, its outcome read later by `:pxresult`.
fn generate_noblock(
    stmts: &[syn::Stmt],
    final_value: &TokenStream,
    inputs: &[(&String, bool)],
    options: &TokenStream,
    prologue: &TokenStream,
) -> TokenStream {
    let input_pats = input_patterns(inputs);
    // Same meaning as a blocking run: an immutable per-worker variable is `&T`.
    let noblock_refs: Vec<_> = inputs.iter().map(|(n, _)| ident(n)).collect();
    quote! {
        {
            #prologue
            ::rustpx::px::submit(&__px_view, #options, __px_inputs,
                move |__px_worker: &::rustpx::Worker, ( #(#input_pats,)* )| -> ::core::result::Result<_, ::rustpx::px::BoxError> {
                    #( let #noblock_refs = &#noblock_refs; )*
                    #(#stmts)*
                    ::core::result::Result::Ok(#final_value)
                })?;
        }
    }
}

/// Each worker's input as a closure parameter, `mut` where the variable is.
fn input_patterns(inputs: &[(&String, bool)]) -> Vec<TokenStream> {
    inputs
        .iter()
        .map(|(name, mutable)| {
            let var = ident(name);
            if *mutable {
                quote!(mut #var)
            } else {
                quote!(#var)
            }
        })
        .collect()
}

/// Names bound by the top-level `let` statements, in order, last mutability winning.
fn top_level_bindings(stmts: &[syn::Stmt]) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    for stmt in stmts {
        if let syn::Stmt::Local(local) = stmt {
            pattern_bindings(&local.pat, &mut out);
        }
    }
    out
}

fn pattern_bindings(pat: &syn::Pat, out: &mut Vec<(String, bool)>) {
    match pat {
        syn::Pat::Ident(p) => {
            let name = p.ident.to_string();
            let mutable = p.mutability.is_some();
            out.retain(|(n, _)| *n != name);
            out.push((name, mutable));
        }
        syn::Pat::Type(p) => pattern_bindings(&p.pat, out),
        syn::Pat::Tuple(p) => p.elems.iter().for_each(|e| pattern_bindings(e, out)),
        syn::Pat::TupleStruct(p) => p.elems.iter().for_each(|e| pattern_bindings(e, out)),
        syn::Pat::Struct(p) => p.fields.iter().for_each(|f| pattern_bindings(&f.pat, out)),
        syn::Pat::Slice(p) => p.elems.iter().for_each(|e| pattern_bindings(e, out)),
        syn::Pat::Reference(p) => pattern_bindings(&p.pat, out),
        syn::Pat::Paren(p) => pattern_bindings(&p.pat, out),
        _ => {}
    }
}

/// Every identifier in the code, including those inside macro arguments and the inline
/// arguments of format strings (`println!("{part}")`), so a per-worker variable used only
/// there is still handed to the workers.
fn collect_idents(tokens: TokenStream, out: &mut BTreeSet<String>) {
    for tt in tokens {
        match tt {
            TokenTree::Ident(i) => {
                out.insert(i.to_string());
            }
            TokenTree::Group(g) => collect_idents(g.stream(), out),
            TokenTree::Literal(l) => format_string_idents(&l.to_string(), out),
            TokenTree::Punct(_) => {}
        }
    }
}

fn format_string_idents(literal: &str, out: &mut BTreeSet<String>) {
    if !literal.ends_with('"') {
        return;
    }
    let mut rest = literal;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if let Some(stripped) = rest.strip_prefix('{') {
            rest = stripped;
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
        {
            out.insert(name);
        }
    }
}

/// Routes `print!`, `println!`, `eprint!`, `eprintln!` and `dbg!` to rustpx's per-worker
/// versions.
struct RoutePrints;

impl VisitMut for RoutePrints {
    fn visit_macro_mut(&mut self, mac: &mut syn::Macro) {
        if let Some(name) = mac.path.get_ident() {
            let routed = match name.to_string().as_str() {
                "print" => Some("px_print"),
                "println" => Some("px_println"),
                "eprint" => Some("px_eprint"),
                "eprintln" => Some("px_eprintln"),
                "dbg" => Some("px_dbg"),
                _ => None,
            };
            if let Some(routed) = routed {
                let routed = syn::Ident::new(routed, name.span());
                mac.path = syn::parse_quote!(::rustpx::#routed);
            }
        }
        syn::visit_mut::visit_macro_mut(self, mac);
    }
}

/// Makes the loops of `:px` code stop when the run is cancelled (interrupt, timeout).
/// Closures, async blocks and items are left alone: there `?` would return from them.
struct CancellableLoops;

impl VisitMut for CancellableLoops {
    fn visit_expr_mut(&mut self, expr: &mut syn::Expr) {
        let body = match expr {
            syn::Expr::Closure(_) | syn::Expr::Async(_) | syn::Expr::Const(_) => return,
            syn::Expr::ForLoop(e) => Some(&mut e.body),
            syn::Expr::While(e) => Some(&mut e.body),
            syn::Expr::Loop(e) => Some(&mut e.body),
            _ => None,
        };
        if let Some(body) = body {
            body.stmts
                .insert(0, syn::parse_quote!(::rustpx::check_cancelled()?;));
        }
        syn::visit_mut::visit_expr_mut(self, expr);
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// Names (and whether declared `mut`) that an ordinary (non-`:px`) cell binds with
/// top-level `let`s: the kernel forgets them as `:px` variables, because they now hold
/// ordinary values.
pub fn ordinary_bindings(code: &str) -> Vec<(String, bool)> {
    parse_statements(code)
        .map(|stmts| top_level_bindings(&stmts))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::magics::code::inspect::{calls, count, exprs, has, macros, stmts};
    use syn::parse_quote;

    fn none() -> BTreeSet<String> {
        BTreeSet::new()
    }

    fn known(vars: &[(&str, bool)]) -> PerWorkerVars {
        vars.iter().map(|(n, m)| (n.to_string(), *m)).collect()
    }

    /// The pattern of the `let` that `code` starts with.
    fn first_let(code: &str) -> syn::Pat {
        match stmts(code).into_iter().next() {
            Some(syn::Stmt::Local(local)) => local.pat,
            other => panic!("not a let: {other:?}"),
        }
    }

    #[test]
    fn a_let_becomes_a_per_worker_variable() {
        let r = rewrite(
            "let part = worker_id() * 10;",
            &PxPlan::default(),
            &known(&[]),
            &none(),
        )
        .unwrap();
        assert_eq!(r.defines, [("part".to_string(), false)]);
        let code = &r.code;
        assert_eq!(first_let(code), parse_quote!(part), "{code}");
        assert!(calls(code, parse_quote!(::rustpx::px::run)), "{code}");
        assert!(
            exprs(code).iter().any(|e| matches!(e,
                syn::Expr::MethodCall(m) if m.method == "collect"
                    && m.turbofish == Some(parse_quote!(::<::rustpx::PerWorker<_>>)))),
            "{code}"
        );
    }

    #[test]
    fn several_lets_make_a_tuple_pattern_with_mutability() {
        let r = rewrite(
            "let mut a = 1; let (b, c) = (2, 3);",
            &PxPlan::default(),
            &known(&[]),
            &none(),
        )
        .unwrap();
        assert_eq!(
            r.defines,
            [("a".into(), true), ("b".into(), false), ("c".into(), false)]
        );
        let pat = first_let(&r.code);
        assert!(matches!(pat, syn::Pat::Tuple(_)), "{}", r.code);
        let mut bound = Vec::new();
        pattern_bindings(&pat, &mut bound);
        assert_eq!(bound, r.defines, "{}", r.code);
    }

    #[test]
    fn known_variables_become_inputs_only_when_mentioned() {
        let vars = known(&[("chunks", false), ("acc", true), ("unused", false)]);
        let r = rewrite(
            "acc += chunks.len(); println!(\"{acc}\");",
            &PxPlan::default(),
            &vars,
            &none(),
        )
        .unwrap();
        let code = &r.code;
        assert!(
            has(
                code,
                parse_quote!(::rustpx::px::input(&chunks, "chunks", __px_id)?)
            ),
            "{code}"
        );
        assert!(
            has(
                code,
                parse_quote!(::rustpx::px::input(&acc, "acc", __px_id)?.clone())
            ),
            "{code}"
        );
        assert!(!has(code, parse_quote!(&unused)), "{code}");
        assert!(
            has(code, parse_quote!(acc[__px_id] = __px_m0)),
            "mutable written back: {code}"
        );
        assert!(
            macros(code).contains(&parse_quote!(::rustpx::px_println)),
            "{code}"
        );
        assert!(r.defines.is_empty());
    }

    #[test]
    fn final_expression_is_shown() {
        let r = rewrite("worker_id() + 1", &PxPlan::default(), &known(&[]), &none()).unwrap();
        let run = |show: bool| -> syn::Expr {
            parse_quote!(::rustpx::px::PxRun {
                timeout: ::core::option::Option::None,
                group_outputs: false,
                show: #show
            })
        };
        assert!(has(&r.code, run(true)), "{}", r.code);
        assert!(has(&r.code, parse_quote!(worker_id() + 1)), "{}", r.code);
        let r = rewrite("let x = 1;", &PxPlan::default(), &known(&[]), &none()).unwrap();
        assert!(has(&r.code, run(false)), "{}", r.code);
    }

    #[test]
    fn options_reach_the_runtime() {
        let plan = PxPlan {
            targets: Some("0,2".into()),
            group_outputs: true,
            timeout: Some(Duration::from_millis(1500)),
            ..PxPlan::default()
        };
        let code = &rewrite("1", &plan, &known(&[]), &none()).unwrap().code;
        assert!(
            has(
                code,
                parse_quote!(::rustpx::px::view(::core::option::Option::Some("0,2"))?)
            ),
            "{code}"
        );
        assert!(
            has(
                code,
                parse_quote!(::rustpx::px::PxRun {
                    timeout: ::core::option::Option::Some(::std::time::Duration::new(
                        1u64,
                        500000000u32
                    )),
                    group_outputs: true,
                    show: true
                })
            ),
            "{code}"
        );
    }

    #[test]
    fn noblock_submits_and_refuses_definitions() {
        let plan = PxPlan {
            noblock: true,
            ..PxPlan::default()
        };
        let r = rewrite("part + 1", &plan, &known(&[("part", true)]), &none()).unwrap();
        let code = &r.code;
        assert!(calls(code, parse_quote!(::rustpx::px::submit)), "{code}");
        assert!(
            exprs(code)
                .iter()
                .any(|e| matches!(e, syn::Expr::Closure(c) if c.capture.is_some())),
            "{code}"
        );
        assert!(
            has(
                code,
                parse_quote!(::rustpx::px::input(&part, "part", __px_id)?.clone())
            ),
            "{code}"
        );
        assert_eq!(
            rewrite("let y = 1;", &plan, &known(&[]), &none()),
            Err(PxRewriteError::NoblockDefines("y".into()))
        );
    }

    #[test]
    fn bad_code_is_reported_with_its_position() {
        match rewrite("let x = ;\n", &PxPlan::default(), &known(&[]), &none()) {
            Err(PxRewriteError::Parse(e)) => assert_eq!((e.line, e.column), (1, 9)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            rewrite("  \n", &PxPlan::default(), &known(&[]), &none()),
            Err(PxRewriteError::Empty)
        );
    }

    #[test]
    fn format_string_arguments_count_as_mentions() {
        let mut out = BTreeSet::new();
        format_string_idents(r#""{a} {{b}} {c:?} {0}""#, &mut out);
        assert_eq!(out.into_iter().collect::<Vec<_>>(), ["a", "c"]);
    }

    #[test]
    fn failures_leave_the_cell_through_a_question_mark() {
        let r = rewrite("1", &PxPlan::default(), &known(&[]), &none()).unwrap();
        let code = &r.code;
        assert!(
            has(
                code,
                parse_quote!(::core::result::Result::<(), ::rustpx::Error>::Err(
                    __px_error
                )?)
            ),
            "{code}"
        );
        assert!(
            !exprs(code)
                .iter()
                .any(|e| matches!(e, syn::Expr::Return(_))),
            "{code}"
        );
    }

    #[test]
    fn loops_check_for_cancellation_except_in_closures_and_items() {
        let code = "for i in 0..3 { while true { loop { break; } } }\n\
                    let f = |x: i32| { for _ in 0..x {} };\n\
                    fn g() { loop {} }";
        let r = rewrite(code, &PxPlan::default(), &known(&[]), &none()).unwrap();
        let code = &r.code;
        let check = parse_quote!(::rustpx::check_cancelled()?);
        assert_eq!(count(code, &check), 3, "{code}");
        assert!(has(code, parse_quote!(for _ in 0..x {})), "{code}");
        assert!(has(code, parse_quote!(loop {})), "fn g's loop: {code}");
    }

    #[test]
    fn ordinary_cells_shadow_per_worker_names() {
        assert_eq!(
            ordinary_bindings("let part = 5; let (a, mut b) = (1, 2); part"),
            [
                ("part".to_string(), false),
                ("a".to_string(), false),
                ("b".to_string(), true)
            ]
        );
        assert!(ordinary_bindings("let x = ").is_empty());
    }
}
