//! Engines: cells that run on MPI ranks in processes of their own (`:engines`,
//! `:px --engines`), as ipyparallel's engines do, beside the default worker threads.
//!
//! The kernel keeps a second evcxr context for the engines, with its own build
//! directory, that links the runtime and `rustpx-mpi` (so MPI is needed only here, never
//! by the kernel binary or the thread runtime). Each engine cell is compiled once, by that context.
//! Its child process is the [`hub`], which starts the ranks with `mpiexec` and hands
//! every compiled library to every rank; each rank ([`rank`]) runs evcxr's own cell loop
//! and so keeps its own variables from cell to cell. Cells and output travel over
//! sockets between the hub and the ranks; MPI is left to the ranks' own data exchange.
//!
//! Ending the engine context closes the hub's input: the hub stops the ranks and
//! `mpiexec`. If the kernel dies, the hub sees the same end of input; if the hub dies,
//! `mpiexec` gets SIGTERM and every rank's lifeline sees its connection close.

mod engine_type;
mod hub;
mod launch;
mod mirror;
mod rank;
mod transfer;

pub use transfer::{SharedEngines, serve as serve_transfers};

use super::build_dir;
use super::errors::CellError;
use super::outbox::Outbox;
use super::output::{self, OutputReaders, SharedCell};
use super::session;
use crate::magics::code::render;
use anyhow::{Context, Result, anyhow};
use evcxr::{CommandContext, EvalContext, EvalOutputs};
use hub::{EngineInfo, EngineState};
use quote::quote;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Takes this process over if `mpiexec` or evcxr started it as an engine process (the
/// hub or a rank); returns otherwise. Called by `main` before evcxr's own hook.
pub fn enter_if_engine_process() {
    if hub::is_hub() {
        hub::run();
    }
    if rank::is_rank() {
        rank::run();
    }
}

/// Analysed (not run) once the engines' context is set up; see [`Engines::start`].
const WARM_UP: &str = "let rustpx_warm_up = (rank(), Client::local(1));\nrustpx_warm_up.";

/// Running engines: their evcxr context and its output readers.
pub struct Engines {
    context: CommandContext,
    readers: OutputReaders,
    /// The engine table the hub keeps.
    table: PathBuf,
    ranks: usize,
    /// The hub that ran the set-up cells, and how many it ran: not the user's cells.
    setup: (i32, u64),
    /// Where values pushed to or pulled from the engines pass (see [`transfer`]).
    transfer: PathBuf,
}

impl Engines {
    /// Starts `ranks` engines (on the hosts of `hostfile`, if given) and links the
    /// runtime and `rustpx-mpi` in their context. Output of the start (cargo, `mpiexec`) goes to the
    /// running cell through `cell` and `outbox`.
    pub fn start(
        ranks: usize,
        hostfile: Option<&Path>,
        cell: SharedCell,
        outbox: Arc<Outbox>,
    ) -> Result<Engines> {
        let mpiexec = launch::find()?;
        let (build, config) = build_dir::nested(&mpiexec.flavour.build_dir_name())?;
        use_compiler(&build, mpiexec.compiler().as_deref())?;
        let table = build.join("engines.json");
        let _ = std::fs::remove_file(&table);
        let mut command = session::child_command()?;
        command
            .env(hub::HUB_ENV, &table)
            .env(hub::RANKS_ENV, ranks.to_string());
        if let Some(hostfile) = hostfile {
            let hostfile = std::path::absolute(hostfile)?;
            command.env(hub::HOSTFILE_ENV, hostfile);
        }
        let (eval, outputs) = with_config_dir(&config, || {
            EvalContext::with_subprocess_command(command)
                .map_err(|e| anyhow!("starting the engines failed:\n{e}"))
        })?;
        let readers = output::spawn_readers(outputs.stdout, outputs.stderr, cell, outbox);
        let mut engines = Engines {
            context: session::command_context(eval),
            readers,
            table,
            ranks,
            setup: (0, 0),
            transfer: Engines::transfer_dir(&build)?,
        };
        let runtime = super::runtime_embed::extract()?;
        let mpi = super::runtime_embed::extract_mpi()?;
        let deps = format!(
            "{}\n:dep rustpx-mpi = {{ path = {:?} }}",
            session::runtime_dep(&runtime),
            mpi.display().to_string()
        );
        engines.context.execute(&deps).map_err(|e| {
            anyhow!("building the runtime and rustpx-mpi for the engines failed: {e}")
        })?;
        // The runtime's prelude also gives common values an `evcxr_display`, so evcxr
        // compiles a value cell once, not twice (see `rustpx::display::DebugDisplay`).
        let prelude = render(&quote!(
            use rustpx::prelude::*;
            use rustpx_mpi::prelude::*;
        ));
        engines.run(&prelude).map_err(|e| {
            anyhow!("importing the runtime and rustpx-mpi on the engines failed: {e}")
        })?;
        // rust-analyzer's first inference in this context (the runtime's and MPI's items),
        // in the background: otherwise the first engine cell with a `let` waits for it
        // (11 s here).
        if let Err(e) = engines.context.prime_completions(WARM_UP, WARM_UP.len()) {
            tracing::warn!("warming up rust-analyzer for the engines failed: {e}");
        }
        let runs = hub::read_table(&engines.table)?
            .first()
            .map_or(0, |row| row.cells);
        engines.setup = (engines.hub_pid(), runs);
        Ok(engines)
    }

    /// The hub's process id (it changes when evcxr restarts the hub).
    pub fn hub_pid(&self) -> i32 {
        self.context
            .process_handle()
            .lock()
            .map_or(0, |hub| i32::try_from(hub.id()).unwrap_or(0))
    }

    /// How many engines were started.
    pub fn len(&self) -> usize {
        self.ranks
    }

    /// Compiles `code` once and runs it on every engine; returns when every engine has
    /// finished and its output has been published.
    pub fn run(&mut self, code: &str) -> Result<EvalOutputs, CellError> {
        let mark = self.readers.mark();
        let result = self.context.execute(code).map_err(CellError::from);
        self.readers.settle(mark, super::execute::runs(&result));
        if let Ok(outputs) = &result {
            super::execute::log_phases(outputs);
        }
        result
    }

    /// The engine table as text: rank, host, pid, state, cells run, files.
    pub fn table(&self) -> Result<String> {
        let mut rows = hub::read_table(&self.table)?;
        // A hub evcxr restarted (new engines) ran no set-up cells.
        if self.setup.0 == self.hub_pid() {
            for row in &mut rows {
                row.cells = row.cells.saturating_sub(self.setup.1);
            }
        }
        Ok(format_table(&rows))
    }
}

/// The table `:engines` shows.
fn format_table(rows: &[EngineInfo]) -> String {
    let mut lines = vec![format!(
        "{:>4}  {:<20} {:>8}  {:<7} {:>5}  {}",
        "rank", "host", "pid", "state", "cells", "files"
    )];
    for row in rows {
        let state = match row.state {
            EngineState::Idle => "idle",
            EngineState::Busy => "busy",
            EngineState::Exited => "exited",
        };
        // Whether the engine reads the kernel's build directory, or is sent what it runs.
        let files = if row.sees_files { "shared" } else { "sent" };
        lines.push(format!(
            "{:>4}  {:<20} {:>8}  {:<7} {:>5}  {files}",
            row.rank, row.host, row.pid, state, row.cells
        ));
    }
    lines.join("\n")
}

/// Has cargo build the `mpi` crate in `build` against `compiler`'s MPI (rsmpi reads
/// `MPICC`), not whichever `mpicc` comes first on `PATH`; the cell builds' cache key
/// includes this file.
fn use_compiler(build: &Path, compiler: Option<&Path>) -> Result<()> {
    let path = build.join(".cargo").join("config.toml");
    let Some(compiler) = compiler else {
        let _ = std::fs::remove_file(&path);
        return Ok(());
    };
    let mut env = toml::Table::new();
    env.insert("MPICC".into(), compiler.display().to_string().into());
    let config = toml::Table::from_iter([("env".to_string(), toml::Value::Table(env))]);
    std::fs::create_dir_all(build.join(".cargo"))?;
    std::fs::write(&path, config.to_string()).with_context(|| format!("writing {}", path.display()))
}

/// Runs `f` while evcxr's config directory is `config` (evcxr reads its build directory
/// from there when a context is created), then restores the kernel's.
fn with_config_dir<T>(config: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let previous = std::env::var_os(build_dir::EVCXR_CONFIG_DIR)
        .context("the kernel has not configured evcxr")?;
    // SAFETY: the kernel's threads read the environment only through `std::env` (evcxr,
    // cargo spawns), which serialises every read and write with one lock; no C code of
    // the kernel calls getenv for this variable.
    unsafe { std::env::set_var(build_dir::EVCXR_CONFIG_DIR, config) };
    let result = f();
    // SAFETY: as above.
    unsafe { std::env::set_var(build_dir::EVCXR_CONFIG_DIR, previous) };
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_a_row_per_engine() {
        let rows = [
            EngineInfo {
                rank: 0,
                host: "node1".into(),
                pid: 11,
                state: EngineState::Idle,
                cells: 3,
                sees_files: true,
            },
            EngineInfo {
                rank: 1,
                host: "node2".into(),
                pid: 12,
                state: EngineState::Exited,
                cells: 2,
                sees_files: false,
            },
        ];
        let text = format_table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].contains("rank") && lines[0].contains("cells"));
        assert!(lines[1].contains("node1") && lines[1].contains("idle"));
        assert!(lines[1].ends_with("shared"));
        assert!(lines[2].contains(" 2  sent") && lines[2].contains("exited"));
    }
}
