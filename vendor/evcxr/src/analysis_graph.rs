// Licensed under the Apache License, Version 2.0 <LICENSE or
// https://www.apache.org/licenses/LICENSE-2.0> or the MIT license <LICENSE
// or https://opensource.org/licenses/MIT>, at your option. This file may not be
// copied, modified, or distributed except according to those terms.

//! The crate graph rust-analyzer analyses cells against: cargo's graph without the
//! crates that cannot give a cell's variable its type.
//!
//! rust-analyzer's first analysis in a session builds the name resolution and trait impls
//! of every crate in its graph. Two kinds of crate cost that time for nothing:
//! - proc-macro crates, and what only they depend on (`syn`, `quote`, ...): evcxr runs no
//!   proc-macro server, so their macros are never expanded and nothing they define can
//!   appear in a cell's types;
//! - a dependency's private dependencies, when the embedder says which of them its
//!   public API exposes ([`Scope`]): `libc` under a runtime's locks, an image library's
//!   codecs. A crate the cell also reaches another way (a `:dep`, or a dependency of
//!   one) is kept.

use ra_ap_base_db::{CrateBuilderId, CrateGraphBuilder, CrateWorkspaceData};
use std::collections::{HashMap, HashSet};
use triomphe::Arc;

/// A dependency of the cell whose public API exposes only some of its dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scope {
    /// The dependency, by crate name.
    pub(crate) root: String,
    /// The crates (by crate name) below `root` that its public API exposes, directly or
    /// through another of them.
    pub(crate) public: HashSet<String>,
}

/// `graph` without proc-macro crates and, when `scope` is given, without the crates
/// only its root's private dependencies lead to.
pub(crate) fn prune(
    graph: CrateGraphBuilder,
    ws_data: Arc<CrateWorkspaceData>,
    scope: Option<&Scope>,
) -> CrateGraphBuilder {
    let kept = kept(&graph, scope);
    let mut pruned = CrateGraphBuilder::default();
    let mut new_ids = HashMap::new();
    for id in graph.iter().filter(|id| kept.contains(id)) {
        new_ids.insert(id, add_root(&mut pruned, &graph, id, ws_data.clone()));
    }
    for id in graph.iter().filter(|id| kept.contains(id)) {
        for dep in &graph[id].basic.dependencies {
            if let Some(&to) = new_ids.get(&dep.crate_id) {
                let mut dep = dep.clone();
                dep.crate_id = to;
                // The pruned graph is a subgraph of an acyclic one.
                let _ = pruned.add_dep(new_ids[&id], dep);
            }
        }
    }
    pruned
}

/// What the local crates reach without entering `scope`'s root, the root, and what the
/// root reaches through its public crates alone; never a proc-macro crate. (A path
/// dependency such as the root is local to rust-analyzer too: it does not count as one.)
fn kept(graph: &CrateGraphBuilder, scope: Option<&Scope>) -> HashSet<CrateBuilderId> {
    let name = |id: CrateBuilderId| {
        let name = graph[id].extra.display_name.as_ref();
        name.map(|n| n.crate_name().symbol().as_str())
    };
    let is_root = |id| scope.is_some_and(|s| name(id) == Some(s.root.as_str()));
    let is_public = |id| scope.is_some_and(|s| name(id).is_some_and(|n| s.public.contains(n)));
    let locals: Vec<_> = graph
        .iter()
        .filter(|&id| graph[id].basic.origin.is_local() && !is_root(id))
        .collect();
    let mut kept = HashSet::new();
    let roots: Vec<_> = graph.iter().filter(|&id| is_root(id)).collect();
    walk(graph, locals, &mut kept, &|id| !is_root(id));
    kept.extend(roots.iter().copied());
    walk(graph, roots, &mut kept, &|id| is_public(id));
    kept
}

/// Adds to `kept` what `from` reaches through crates `enter` allows (never proc-macro
/// crates), `from` included.
fn walk(
    graph: &CrateGraphBuilder,
    from: Vec<CrateBuilderId>,
    kept: &mut HashSet<CrateBuilderId>,
    enter: &dyn Fn(CrateBuilderId) -> bool,
) {
    let mut todo = from;
    kept.extend(todo.iter().copied());
    while let Some(id) = todo.pop() {
        for dep in &graph[id].basic.dependencies {
            let to = dep.crate_id;
            if !graph[to].basic.is_proc_macro && enter(to) && kept.insert(to) {
                todo.push(to);
            }
        }
    }
}

/// Adds a copy of `graph[id]`, without its dependencies, to `pruned`.
fn add_root(
    pruned: &mut CrateGraphBuilder,
    graph: &CrateGraphBuilder,
    id: CrateBuilderId,
    ws_data: Arc<CrateWorkspaceData>,
) -> CrateBuilderId {
    let krate = &graph[id];
    // Stored wrapped as `#![...]`; `add_crate_root` wraps them again.
    let attrs = krate
        .basic
        .crate_attrs
        .iter()
        .map(|attr| {
            let raw = attr.strip_prefix("#![").and_then(|a| a.strip_suffix(']'));
            raw.unwrap_or(attr).to_owned()
        })
        .collect();
    pruned.add_crate_root(
        krate.basic.root_file_id,
        krate.basic.edition,
        krate.extra.display_name.clone(),
        krate.extra.version.clone(),
        krate.cfg_options.clone(),
        krate.extra.potential_cfg_options.clone(),
        krate.env.clone(),
        krate.basic.origin.clone(),
        attrs,
        krate.basic.is_proc_macro,
        krate.basic.proc_macro_cwd.clone(),
        ws_data,
    )
}
