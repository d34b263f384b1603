//! Starting evcxr with the runtime injected, in a build directory reused across kernels.

use super::runtime_embed;
use anyhow::{Context, Result, anyhow};
use evcxr::{CommandContext, EvalContext, EvalContextOutputs};
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

/// How many kernels may run at once on one machine before extra ones build in a fresh
/// temporary directory (and so rebuild the runtime's dependencies).
const SLOTS: usize = 8;

/// Picks evcxr's build directory: the first free slot under the runtime's cache
/// directory, held by a file lock for the kernel's lifetime. A slot keeps its cargo target
/// directory, so the second kernel start on a machine does not rebuild the runtime's
/// dependencies. Sets `EVCXR_TMPDIR`, so call it before any thread starts.
pub fn claim_build_dir() -> Result<Option<File>> {
    let base = runtime_embed::version_dir().join("sessions");
    for slot in 0..SLOTS {
        let dir = base.join(format!("slot-{slot}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let lock = File::create(dir.join(".lock"))?;
        if lock.try_lock().is_ok() {
            // Pin the notebook crate's dependency versions to the runtime's lock file.
            let cargo_lock = dir.join("Cargo.lock");
            if !cargo_lock.exists() {
                std::fs::write(&cargo_lock, runtime_embed::cargo_lock())?;
            }
            // SAFETY: called from `main` before the kernel starts any thread.
            unsafe { std::env::set_var("EVCXR_TMPDIR", &dir) };
            return Ok(Some(lock));
        }
    }
    Ok(None)
}

/// The evcxr commands and code run before the first cell.
pub fn prelude(runtime_dir: &std::path::Path) -> String {
    format!(
        ":allow_static_linking 0\n:dep rustpx = {{ path = {:?}, default-features = false }}\n{}",
        runtime_dir.display().to_string(),
        RESTART_PRELUDE
    )
}

/// What must run again whenever evcxr restarts its child process.
pub const RESTART_PRELUDE: &str = "use rustpx::prelude::*;\nlet _ = rustpx::interrupt::install();";

/// A new evcxr context whose child runs in its own process group (so a SIGINT sent to
/// the kernel's group cannot kill it) with the runtime's display channel enabled.
pub fn new_context() -> Result<(CommandContext, EvalContextOutputs)> {
    let exe: PathBuf = std::env::current_exe()?;
    let mut command = std::process::Command::new(exe);
    command
        .process_group(0)
        .env(rustpx::display::channel::KERNEL_ENV, "1");
    // Cells are linked with `-C prefer-dynamic`: the child must find the toolchain's
    // libstd-*.so, which only `cargo run` would otherwise put on the library path.
    if let Some(libdir) = toolchain_libdir() {
        let mut path = std::ffi::OsString::from(&libdir);
        if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
            path.push(":");
            path.push(old);
        }
        command.env("LD_LIBRARY_PATH", path);
    }
    let (eval, outputs) = EvalContext::with_subprocess_command(command)
        .map_err(|e| anyhow!("starting evcxr: {e}"))?;
    Ok((CommandContext::with_eval_context(eval), outputs))
}

/// The active toolchain's target library directory (where libstd-*.so lives).
fn toolchain_libdir() -> Option<PathBuf> {
    let out = std::process::Command::new("rustc")
        .args(["--print", "target-libdir"])
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    dir.is_dir().then_some(dir)
}
