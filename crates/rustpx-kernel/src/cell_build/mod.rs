//! Compiling a cell without cargo, and not at all when it was compiled before: a cargo
//! stand-in that evcxr runs in cargo's place. See `README.md` beside this file.

pub mod alias;
mod cache;
mod record;
mod shim;
#[cfg(test)]
mod test;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Takes over the process if this binary was started as the cargo stand-in, and records
/// the cell crate's rustc command if it is the rustc wrapper of a build that asked for
/// it. Called first in `main`.
pub fn intercept() {
    if let Some(args) = shim::arguments() {
        std::process::exit(shim::run(&args));
    }
    record::record_if_requested();
}

/// Puts the stand-in (a link to this binary) first on this process's `PATH`, so evcxr
/// runs cargo through it; a real mold on the `PATH` is remembered for the stand-in.
///
/// # Safety
/// Changes the process environment: call it before any other thread starts.
pub unsafe fn install(build_dir: &Path) -> std::io::Result<()> {
    let bin = shim_dir(build_dir);
    std::fs::create_dir_all(&bin)?;
    let link = bin.join(shim::SHIM_NAME);
    let exe = std::env::current_exe()?;
    if std::fs::read_link(&link).ok().as_deref() != Some(exe.as_path()) {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&exe, &link)?;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let real_mold = std::env::split_paths(&path)
        .map(|dir| dir.join(shim::SHIM_NAME))
        .find(|candidate| candidate.is_file() && !candidate.starts_with(&bin));
    let with_shim = std::env::join_paths(
        std::iter::once(bin)
            .chain(std::env::split_paths(&path).filter(|d| *d != shim_dir(build_dir))),
    )
    .map_err(std::io::Error::other)?;
    // SAFETY: the caller guarantees no other thread is running.
    unsafe {
        if let Some(mold) = real_mold {
            std::env::set_var(shim::REAL_MOLD_ENV, mold);
        }
        std::env::set_var(SHIM_DIR_ENV, shim_dir(build_dir));
        std::env::set_var("PATH", with_shim);
    }
    Ok(())
}

/// The `PATH` for processes that must not see the stand-in (evcxr's child, which runs
/// user code), if it was installed.
pub fn path_without_shim() -> Option<OsString> {
    let shim = PathBuf::from(std::env::var_os(SHIM_DIR_ENV)?);
    let path = std::env::var_os("PATH")?;
    std::env::join_paths(std::env::split_paths(&path).filter(|d| *d != shim)).ok()
}

/// Names the stand-in's directory for [`path_without_shim`].
const SHIM_DIR_ENV: &str = "RUSTPX_SHIM_DIR";

fn shim_dir(build_dir: &Path) -> PathBuf {
    build_dir.join("rustpx-bin")
}
