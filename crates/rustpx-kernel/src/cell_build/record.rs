//! The command cargo ran to compile the cell crate, recorded by the rustc wrapper so the
//! shim can run it again without cargo.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::UNIX_EPOCH;

/// Set by the shim, to a file path, on a cargo run whose cell-crate command to record.
pub const RECORD_ENV: &str = "RUSTPX_RECORD_CELL_COMPILE";

/// evcxr's name for the crate it compiles each cell as.
pub const CELL_CRATE: &str = "ctx";

/// Variables that hand cargo's jobserver to rustc; its descriptors close with cargo.
const JOBSERVER_ENV: [&str; 3] = ["CARGO_MAKEFLAGS", "MAKEFLAGS", "MFLAGS"];

/// One run of the rustc wrapper: what follows the program name (rustc's path, then
/// rustc's arguments), the environment and the working directory.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
pub struct Invocation {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
}

impl Invocation {
    /// This process's invocation, if it compiles the cell crate and every argument and
    /// variable is UTF-8 (otherwise it is not recorded, and cells keep going to cargo).
    pub fn of_this_process() -> Option<Invocation> {
        let args = std::env::args_os()
            .skip(1)
            .map(|a| a.into_string().ok())
            .collect::<Option<Vec<_>>>()?;
        if !args
            .windows(2)
            .any(|w| w[0] == "--crate-name" && w[1] == CELL_CRATE)
        {
            return None;
        }
        let env = std::env::vars_os()
            .map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .filter(|(k, _)| k != RECORD_ENV && !JOBSERVER_ENV.contains(&k.as_str()))
            .collect();
        Some(Invocation {
            args,
            env,
            cwd: std::env::current_dir().ok()?,
        })
    }

    /// The value after `flag` (`--out-dir DIR`), or of `flag=VALUE`.
    pub fn arg(&self, flag: &str) -> Option<&str> {
        let mut args = self.args.iter();
        while let Some(a) = args.next() {
            if a == flag {
                return args.next().map(String::as_str);
            }
            if let Some(v) = a.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
                return Some(v);
            }
        }
        None
    }

    /// The files given to rustc as `--extern NAME=PATH` (either spelling).
    pub fn externs(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut args = self.args.iter();
        while let Some(a) = args.next() {
            let spec = match a.strip_prefix("--extern") {
                Some("") => args.next().map(String::as_str),
                Some(rest) => rest.strip_prefix('='),
                None => None,
            };
            if let Some((_, path)) = spec.and_then(|s| s.split_once('=')) {
                out.push(PathBuf::from(path));
            }
        }
        out
    }

    /// The value of an environment variable of the invocation.
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The file evcxr's wrapper writes the built library's path to (evcxr reads the
    /// library from there).
    pub fn so_path_file(&self) -> std::io::Result<&str> {
        self.env_var("EVCXR_EXECUTION_SO_PATH")
            .ok_or_else(|| std::io::Error::other("evcxr's library path variable is not set"))
    }

    /// The dep-info file rustc writes: every file it read, for the cache's validity check.
    pub fn dep_info(&self) -> Option<PathBuf> {
        let out_dir = self.arg("--out-dir")?;
        let extra = self
            .args
            .iter()
            .find_map(|a| {
                let a = a.strip_prefix("-C").unwrap_or(a);
                a.strip_prefix("extra-filename=")
            })
            .unwrap_or("");
        Some(Path::new(out_dir).join(format!("{CELL_CRATE}{extra}.d")))
    }

    /// Runs the invocation again, through `wrapper` (this binary), with its own
    /// environment and directory; rustc's output goes where this process's goes.
    pub fn run(&self, wrapper: &Path) -> std::io::Result<ExitStatus> {
        Command::new(wrapper)
            .args(&self.args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.cwd)
            .status()
    }
}

/// Writes this process's invocation to the file the shim named, if it asked and this is
/// the cell crate's compile. Called first thing in `main`; failures only cost speed.
pub fn record_if_requested() {
    let Some(path) = std::env::var_os(RECORD_ENV) else {
        return;
    };
    let Some(invocation) = Invocation::of_this_process() else {
        return;
    };
    if let Ok(json) = serde_json::to_vec(&invocation) {
        let _ = write_atomically(Path::new(&path), &json);
    }
}

/// Writes `bytes` to `path` through a temporary file, so a reader sees all or nothing.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// A file's size and modification time, to tell whether it changed.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct FileStamp {
    pub path: PathBuf,
    pub len: u64,
    pub modified_ns: u128,
}

impl FileStamp {
    /// The stamp of `path` as it is now, if it exists.
    pub fn of(path: &Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        let modified_ns = meta
            .modified()
            .ok()?
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_nanos();
        Some(FileStamp {
            path: path.to_path_buf(),
            len: meta.len(),
            modified_ns,
        })
    }

    /// Whether the file is still as stamped.
    pub fn holds(&self) -> bool {
        FileStamp::of(&self.path).as_ref() == Some(self)
    }
}
