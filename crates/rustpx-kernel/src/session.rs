//! Starting evcxr with the runtime injected (in the build directory `build_dir` claimed).

use anyhow::{Result, anyhow};
use evcxr::{CommandContext, EvalContext, EvalContextOutputs};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

/// The evcxr commands and code run before the first cell.
pub fn prelude(runtime_dir: &std::path::Path) -> String {
    format!(
        ":allow_static_linking 0\n{}\n{RESTART_PRELUDE}",
        runtime_dep(runtime_dir)
    )
}

/// The evcxr command that links the runtime extracted in `runtime_dir`.
pub fn runtime_dep(runtime_dir: &std::path::Path) -> String {
    format!(
        ":dep rustpx = {{ path = {:?}, default-features = false }}",
        runtime_dir.display().to_string()
    )
}

/// What must run again whenever evcxr restarts its child process: the prelude import,
/// the runtime's interrupt handlers, and its report of a panicking cell to the kernel
/// (evcxr catches the panic and returns `Ok`; see `rustpx::panic_hook`). It has no `let`:
/// evcxr then needs no rust-analyzer pass for it, which the start would wait on.
pub const RESTART_PRELUDE: &str = "use rustpx::prelude::*;
rustpx::interrupt::install().ok();
rustpx::panic_hook::report_cell_panics();";

/// A new evcxr context whose child runs in its own process group (so a SIGINT sent to
/// the kernel's group cannot kill it) with the runtime's display channel enabled and,
/// given a transfer socket (see `engines::serve_transfers`), its path.
pub fn new_context(
    transfer_socket: Option<&std::path::Path>,
) -> Result<(CommandContext, EvalContextOutputs)> {
    let mut command = child_command()?;
    if let Some(socket) = transfer_socket {
        command.env(rustpx::protocol::SOCKET_ENV, socket);
    }
    let (eval, outputs) = EvalContext::with_subprocess_command(command)
        .map_err(|e| anyhow!("starting evcxr: {e}"))?;
    Ok((command_context(eval), outputs))
}

/// The command context of `eval`, whose rust-analyzer sees of the runtime's dependencies
/// only [`RUNTIME_PUBLIC_CRATES`].
pub fn command_context(eval: EvalContext) -> CommandContext {
    let mut ctx = CommandContext::with_eval_context(eval);
    ctx.set_analysis_public_crates("rustpx", RUNTIME_PUBLIC_CRATES.iter().copied());
    ctx.set_type_probe_scopes(TYPE_PROBE_SCOPES.iter().copied());
    ctx
}

/// Where evcxr looks for a type's bare name that rustc printed but that does not resolve
/// in a cell (the runtime's own items, and those of the crates it re-exports): while
/// rust-analyzer warms up, rustc names a new variable's type, trimming paths
/// (`ImageSequence<ArrayBase<OwnedRepr<f32>, Dim<[usize; 2]>>>`). Most used first: each
/// miss costs a compile.
const TYPE_PROBE_SCOPES: &[&str] = &[
    "rustpx",
    "rustpx::ndarray",
    "rustpx::image",
    "rustpx::serde_json",
];

/// The crates whose items the runtime's public API exposes, directly (`image`, `ndarray`,
/// `serde_json` are re-exported; `serde`'s traits bound its calls) or through one of them
/// (pixel and element types are bounded by `num-traits`, `num-complex` and `bytemuck`
/// traits). rust-analyzer sees only these of the runtime's dependencies: the others (its
/// locks, channels and signal handling, `libc`, the image codecs, plotting) cannot give a
/// cell's variable its type, and analysing them took a third of a first `let`.
/// `tests/kernel/test_first_touch.py` stores every public return type in a `let`, which
/// fails if this list misses one.
const RUNTIME_PUBLIC_CRATES: &[&str] = &[
    "image",
    "ndarray",
    "serde_json",
    "serde",
    "serde_core",
    "num_traits",
    "num_complex",
    "num_integer",
    "bytemuck",
    "rawpointer",
    "thiserror",
];

/// The command evcxr runs as its child: this binary, in its own process group, with the
/// runtime's display channel enabled and the toolchain's libstd on the library path.
pub fn child_command() -> Result<std::process::Command> {
    let exe: PathBuf = std::env::current_exe()?;
    let mut command = std::process::Command::new(exe);
    command
        .process_group(0)
        .env(rustpx::protocol::KERNEL_ENV, "1");
    if let Some(path) = super::cell_build::path_without_shim() {
        command.env("PATH", path);
    }
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
    Ok(command)
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
