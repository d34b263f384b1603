//! The kernel's side of `rustpx::engines` (push, scatter, pull, gather, map): a unix
//! socket that the notebook's runtime asks while its cell runs.
//!
//! A value crosses as a `postcard` file in the engines' transfer directory (its layout is
//! `rustpx::protocol::EngineRequest`'s), never through the kernel. To push, the runtime
//! writes the file and the kernel runs, on the engines' context, one cell that declares
//! the variable with the notebook value's type (see [`super::engine_type`]) and reads it
//! (`rustpx::engines::take`); to pull, a cell that writes every engine's value
//! (`rustpx::engines::put`) for the runtime to read; to map, a cell that runs
//! `rustpx::engines::run_tasks` with the user's function on every engine. The cells
//! are the same for the same name and type, so evcxr's cache of unchanged cells runs a
//! repeated push or pull without compiling it again.

use super::Engines;
use super::engine_type::engine_type;
use crate::magics::code::render;
use crate::output::SharedCell;
use anyhow::{Context, Result};
use parking_lot::Mutex;
use quote::quote;
use rustpx::protocol::{EngineReply, EngineRequest, read_message, write_message};
use std::io::BufReader;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The engines, shared by the executor (which starts, runs and stops them) and the
/// transfer socket (which answers the notebook's requests while a cell runs).
pub type SharedEngines = Arc<Mutex<Option<Engines>>>;

/// Longest path a unix socket address holds (`sun_path` less its terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Binds the transfer socket in `dir` (the kernel's build directory) and answers
/// requests on a thread of its own; returns the socket's path, for the notebook's
/// environment.
pub fn serve(dir: &Path, engines: SharedEngines, cell: SharedCell) -> Result<PathBuf> {
    let mut path = dir.join("kernel.sock");
    if path.as_os_str().len() > MAX_SOCKET_PATH {
        path = std::env::temp_dir().join(format!("rustpx-{}.sock", std::process::id()));
    }
    // A socket left by a kernel that died in this (exclusively claimed) directory.
    let _ = std::fs::remove_file(&path);
    let listener =
        UnixListener::bind(&path).with_context(|| format!("binding {}", path.display()))?;
    std::thread::Builder::new()
        .name("rustpx-transfer".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Err(e) = answer(&stream, &engines, &cell) {
                    tracing::warn!("an engines request from the notebook failed: {e}");
                }
            }
        })?;
    Ok(path)
}

/// Reads one request, carries it out and writes the reply.
fn answer(stream: &UnixStream, engines: &SharedEngines, cell: &SharedCell) -> Result<()> {
    let started = std::time::Instant::now();
    let request = read_message::<EngineRequest>(&mut BufReader::new(stream))?;
    let outcome = match engines.lock().as_mut() {
        Some(engines) => engines.answer(&request, cell).map(|()| EngineReply::Ok {
            engines: engines.ranks,
            transfer: engines.transfer.clone(),
        }),
        None => Err("no engines are running (start them with :engines start -n N)".into()),
    };
    let reply = outcome.unwrap_or_else(|message| EngineReply::Error { message });
    tracing::debug!("transfer {request:?} took {:?}", started.elapsed());
    write_message(&mut &*stream, &reply)?;
    Ok(())
}

impl Engines {
    /// Creates the empty transfer directory of engines that start in `build`.
    pub(super) fn transfer_dir(build: &Path) -> Result<PathBuf> {
        let dir = transfer_path(build);
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["push", "pull"] {
            std::fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("creating {}", dir.join(sub).display()))?;
        }
        Ok(dir)
    }

    /// Carries out one request.
    fn answer(&mut self, request: &EngineRequest, cell: &SharedCell) -> Result<(), String> {
        match request {
            EngineRequest::Size => Ok(()),
            EngineRequest::Push {
                name,
                type_name,
                parts,
            } => self.push(name, type_name, *parts, cell),
            EngineRequest::Pull { name } => self.pull(name, cell),
            EngineRequest::Map {
                function,
                type_name,
            } => self.map(function, type_name, cell),
        }
    }

    /// Runs `function` on the items in `map/items/` on every engine, each engine taking
    /// the next task no engine has taken (`rustpx::engines::run_tasks`).
    fn map(&mut self, function: &str, type_name: &str, cell: &SharedCell) -> Result<(), String> {
        let what = format!("map `{function}` on the engines");
        let path = syn::parse_str::<syn::Path>(function)
            .map_err(|_| format!("{what}: `{function}` is not a function's name"))?;
        let ty = engine_type(type_name).map_err(|e| format!("{what}: {e}"))?;
        let transfer = self.transfer.display().to_string();
        let code = quote!(
            rustpx::engines::run_tasks(#transfer, rustpx_mpi::rank(), |item: #ty| #path(item))?;
        );
        self.run_quietly(&render(&code), cell)
            .map_err(|e| format!("{what}: {e}"))
    }

    /// Defines `name` on every engine from the runtime's `parts` files: one for all, or
    /// one per engine.
    fn push(
        &mut self,
        name: &str,
        type_name: &str,
        parts: usize,
        cell: &SharedCell,
    ) -> Result<(), String> {
        let dir = self.transfer.join("push");
        let files: Vec<PathBuf> = match parts {
            1 => vec![dir.join("all")],
            n => (0..n).map(|r| dir.join(r.to_string())).collect(),
        };
        let ran = self.define(name, type_name, parts, cell);
        for file in &files {
            let _ = std::fs::remove_file(file);
        }
        ran.map_err(|e| format!("push `{name}` to the engines{e}"))
    }

    /// Runs the cell that reads a pushed `name` on every engine; the error continues
    /// "push `name` to the engines".
    fn define(
        &mut self,
        name: &str,
        type_name: &str,
        parts: usize,
        cell: &SharedCell,
    ) -> Result<(), String> {
        if parts != 1 && parts != self.ranks {
            return Err(format!(": {parts} parts for {} engines", self.ranks));
        }
        let ident = variable(name).map_err(|e| format!(": {e}"))?;
        let ty = engine_type(type_name).map_err(|e| format!(": {e}"))?;
        let transfer = self.transfer.display().to_string();
        let code = quote!(
            let #ident: #ty = rustpx::engines::take(#transfer, rustpx_mpi::rank(), #name)?;
        );
        let shown = quote!(#ty).to_string().replace(' ', "");
        self.run_quietly(&render(&code), cell)
            .map_err(|e| format!(" as a `{shown}`: {e}"))
    }

    /// Has every engine write its `name` for the runtime to read.
    fn pull(&mut self, name: &str, cell: &SharedCell) -> Result<(), String> {
        let what = format!("pull `{name}` from the engines");
        let ident = variable(name).map_err(|e| format!("{what}: {e}"))?;
        // What an earlier pull that failed part-way left must not pass for this one's.
        for rank in 0..self.ranks {
            let _ = std::fs::remove_file(self.transfer.join("pull").join(rank.to_string()));
        }
        let transfer = self.transfer.display().to_string();
        let code = quote!(rustpx::engines::put(#transfer, rustpx_mpi::rank(), #name, &#ident)?;);
        self.run_quietly(&render(&code), cell)
            .map_err(|e| format!("{what}: {e}"))
    }

    /// Runs generated code on every engine; its failure (a compile error, a failing
    /// rank) is returned, not shown as the running cell's.
    fn run_quietly(&mut self, code: &str, cell: &SharedCell) -> Result<(), String> {
        let result = self.run(code);
        let reported = cell.lock().take_error();
        match (result, reported) {
            (Ok(_), None) => Ok(()),
            (_, Some(error)) | (Err(error), None) => Err(error.evalue),
        }
    }
}

/// The transfer directory of engines that start in `build`.
pub(super) fn transfer_path(build: &Path) -> PathBuf {
    build.join("transfer")
}

/// `name` as the identifier of a variable, or why it cannot be one.
fn variable(name: &str) -> Result<syn::Ident, String> {
    syn::parse_str::<syn::Ident>(name).map_err(|_| format!("`{name}` is not a variable name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_identifiers_name_variables() {
        assert!(variable("n_found").is_ok());
        for bad in ["", "two words", "1x", "a.b", "fn"] {
            let error = variable(bad).unwrap_err();
            assert_eq!(error, format!("`{bad}` is not a variable name"));
        }
    }
}
