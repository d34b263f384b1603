//! The cargo stand-in evcxr runs (as `mold -run <cargo> …`): builds a cell with cargo,
//! with the recorded rustc command, or from the cache; see `README.md`.

use super::alias;
use super::cache::{self, CellCache};
use super::record::{self, FileStamp, Invocation, RECORD_ENV, write_atomically};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The name evcxr looks for on the `PATH`; see the module documentation.
pub const SHIM_NAME: &str = "mold";

/// Where the kernel put the path of a real mold, if the `PATH` had one.
pub const REAL_MOLD_ENV: &str = "RUSTPX_REAL_MOLD";

/// The saved invocations, one per build key, beside cargo's own state.
const RECORD_DIR: &str = "target/rustpx-cell-build";
/// How many build keys keep a record (a kernel start alone uses two).
const RECORDS_KEPT: usize = 16;
/// Where the wrapper writes the invocation during a cargo build.
const FRESH_RECORD_FILE: &str = "target/rustpx-cell-invocation.json";
/// One line per build: how it was done.
const LOG_FILE: &str = "target/rustpx-cell-build.log";

/// The invocation saved after a cargo build, and what it depends on.
#[derive(Serialize, Deserialize)]
struct Record {
    key: String,
    invocation: Invocation,
    externs: Vec<FileStamp>,
}

/// cargo's program and arguments, if this process was started as the shim.
pub fn arguments() -> Option<Vec<OsString>> {
    let mut args = std::env::args_os();
    let program = PathBuf::from(args.next()?);
    if program.file_name()? != SHIM_NAME || args.next()? != "-run" {
        return None;
    }
    let rest: Vec<OsString> = args.collect();
    (!rest.is_empty()).then_some(rest)
}

/// Runs cargo's `args` the fastest way that gives cargo's result; returns the exit code.
pub fn run(args: &[OsString]) -> i32 {
    std::sync::LazyLock::force(&STARTED);
    let crate_dir = std::env::current_dir().unwrap_or_default();
    match args.get(1).and_then(|s| s.to_str()) {
        Some("build") => build(args, &crate_dir),
        Some("clean") => {
            let _ = std::fs::remove_dir_all(crate_dir.join(RECORD_DIR));
            CellCache::of_crate(&crate_dir).clear();
            cargo(args, &[])
        }
        _ => cargo(args, &[]),
    }
}

fn build(args: &[OsString], crate_dir: &Path) -> i32 {
    let key = build_key(args, crate_dir);
    let reason = match &key {
        Err(why) => why.clone(),
        Ok(key) => match load_record(crate_dir, key) {
            None => "no build recorded with these dependencies and settings".to_string(),
            Some(r) if !r.externs.iter().all(FileStamp::holds) => {
                "a dependency was rebuilt".to_string()
            }
            Some(record) => return without_cargo(&record, crate_dir),
        },
    };
    with_cargo(args, crate_dir, key.ok(), &reason)
}

/// Builds with cargo, recording the cell crate's rustc command for the next cells.
///
/// The record is kept under the key of the files as they were before cargo ran
/// (`before`) as well as after: cargo rewrites `Cargo.lock` (evcxr's first build, with no
/// dependencies, prunes it; the runtime's `:dep` fills it again), so only the state
/// before a build recurs at the next kernel start.
fn with_cargo(args: &[OsString], crate_dir: &Path, before: Option<String>, reason: &str) -> i32 {
    let fresh = crate_dir.join(FRESH_RECORD_FILE);
    let _ = std::fs::remove_file(&fresh);
    let code = cargo(args, &[(RECORD_ENV, fresh.as_os_str())]);
    let recorded = std::fs::read(&fresh)
        .ok()
        .and_then(|b| serde_json::from_slice::<Invocation>(&b).ok());
    log(
        crate_dir,
        &format!(
            "cargo ({reason}): exit {code}{}",
            if recorded.is_some() {
                ""
            } else {
                ", cell not compiled"
            }
        ),
    );
    // The command holds even when the cell did not compile (an error in the cell), and
    // nothing here makes an older record for these keys stale: the key covers what
    // cargo's command depends on, the stamps what it links.
    if let Some(invocation) = recorded {
        let mut keys: Vec<String> = before.into_iter().collect();
        keys.extend(build_key(args, crate_dir).ok());
        keys.dedup();
        for key in keys {
            save_record(crate_dir, key, invocation.clone());
        }
    }
    alias::clear(&library_dir(args, crate_dir));
    code
}

/// Builds with the recorded rustc command, or reuses the library built from the same
/// source before.
fn without_cargo(record: &Record, crate_dir: &Path) -> i32 {
    let invocation = &record.invocation;
    let source_path = crate_dir.join("src/lib.rs");
    let Some((entry, normalized)) = std::fs::read_to_string(&source_path)
        .ok()
        .as_deref()
        .and_then(cache::entry_point)
    else {
        return rustc(invocation, crate_dir);
    };
    let cells = CellCache::of_crate(crate_dir);
    let key = CellCache::key(&record.key, invocation, &normalized);
    if let Some(hit) = cells.lookup(&key) {
        match reuse(invocation, &hit, &entry) {
            Ok(()) => {
                log(crate_dir, "reuse");
                return 0;
            }
            Err(e) => log(crate_dir, &format!("reuse failed ({e}), compiling")),
        }
    }
    let code = rustc(invocation, crate_dir);
    if code == 0
        && let Err(e) = keep(&cells, &key, invocation, &entry, &source_path)
    {
        log(crate_dir, &format!("not cached: {e}"));
    }
    code
}

/// Runs the recorded rustc command (through the wrapper, this binary).
fn rustc(invocation: &Invocation, crate_dir: &Path) -> i32 {
    if let Some(dir) = out_dir(invocation) {
        alias::clear(&dir);
    }
    let status = std::env::current_exe().and_then(|exe| invocation.run(&exe));
    log(crate_dir, "rustc");
    match status {
        Ok(status) => status.code().unwrap_or(101),
        Err(e) => {
            eprintln!("rustpx: could not run rustc for the cell: {e}");
            101
        }
    }
}

/// Puts the cached library where the build would have, tells evcxr where it is (as its
/// wrapper does), and aliases the entry point this run asks for to the one it exports.
fn reuse(invocation: &Invocation, hit: &cache::Hit, entry: &str) -> std::io::Result<()> {
    let dir = out_dir(invocation).ok_or_else(|| std::io::Error::other("no --out-dir"))?;
    let so_path_file = invocation.so_path_file()?;
    let library = dir.join(format!("lib{}.so", record::CELL_CRATE));
    std::fs::copy(&hit.library, &library)?;
    alias::set(&dir, entry, &hit.entry)?;
    std::fs::write(so_path_file, library.to_string_lossy().as_bytes())
}

fn keep(
    cells: &CellCache,
    key: &str,
    invocation: &Invocation,
    entry: &str,
    source: &Path,
) -> std::io::Result<()> {
    let so_path_file = invocation.so_path_file()?;
    let library = PathBuf::from(std::fs::read_to_string(so_path_file)?);
    let dep_info = invocation
        .dep_info()
        .ok_or_else(|| std::io::Error::other("no dep-info"))?;
    let inputs = cache::inputs(&dep_info, &invocation.cwd, source)?;
    cells.store(key, &library, entry, inputs)
}

fn out_dir(invocation: &Invocation) -> Option<PathBuf> {
    invocation.arg("--out-dir").map(PathBuf::from)
}

/// The directory cargo builds the cell library in (evcxr builds with `--target` and the
/// dev profile).
fn library_dir(args: &[OsString], crate_dir: &Path) -> PathBuf {
    let target = args
        .windows(2)
        .find(|w| w[0] == "--target")
        .map(|w| w[1].clone())
        .unwrap_or_default();
    crate_dir.join("target").join(target).join("debug/deps")
}

/// Runs cargo itself (through a real mold if there is one), with extra variables.
fn cargo(args: &[OsString], extra_env: &[(&str, &std::ffi::OsStr)]) -> i32 {
    let mut command = match std::env::var_os(REAL_MOLD_ENV) {
        Some(mold) => {
            let mut c = Command::new(mold);
            c.arg("-run").args(args);
            c
        }
        None => {
            let mut c = Command::new(&args[0]);
            c.args(&args[1..]);
            c
        }
    };
    command.envs(extra_env.iter().copied());
    match command.status() {
        Ok(status) => status.code().unwrap_or(101),
        Err(e) => {
            eprintln!("rustpx: could not run cargo ({:?}): {e}", args[0]);
            101
        }
    }
}

/// A hash of everything cargo's work depends on apart from `src/lib.rs`, or why the cell
/// must go to cargo anyway.
pub fn build_key(args: &[OsString], crate_dir: &Path) -> Result<String, String> {
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml"))
        .map_err(|e| format!("Cargo.toml unreadable: {e}"))?;
    if let Some(dep) = unversioned_path_dependency(&manifest) {
        return Err(format!("path dependency `{dep}`"));
    }
    let mut hash = Sha256::new();
    let mut part = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    for arg in args {
        part(arg.as_encoded_bytes());
    }
    // The client's variables (`JPY_PARENT_PID`, …) change with every kernel, and no build
    // reads them: leaving them out lets a restarted kernel keep its records and cache.
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| !k.as_encoded_bytes().starts_with(b"JPY_"))
        .collect();
    env.sort();
    for (k, v) in &env {
        part(k.as_encoded_bytes());
        part(v.as_encoded_bytes());
    }
    part(manifest.as_bytes());
    for file in ["Cargo.lock", ".cargo/config.toml"] {
        part(&std::fs::read(crate_dir.join(file)).unwrap_or_default());
    }
    Ok(cache::hex(&hash.finalize()))
}

/// The first `[dependencies]` entry given by `path` outside the directories of the
/// crates the kernel embeds (whose contents never change): cargo would rebuild it when
/// its files change, which no key here can see.
pub fn unversioned_path_dependency(manifest: &str) -> Option<String> {
    let table: toml::Table = manifest.parse().ok()?;
    table
        .get("dependencies")?
        .as_table()?
        .iter()
        .find(|(_, spec)| {
            spec.get("path")
                .and_then(|p| p.as_str())
                .is_some_and(|p| !super::super::runtime_embed::is_embedded(Path::new(p)))
        })
        .map(|(name, _)| name.clone())
}

fn record_path(crate_dir: &Path, key: &str) -> PathBuf {
    crate_dir.join(RECORD_DIR).join(format!("{key}.json"))
}

fn load_record(crate_dir: &Path, key: &str) -> Option<Record> {
    serde_json::from_slice(&std::fs::read(record_path(crate_dir, key)).ok()?).ok()
}

fn save_record(crate_dir: &Path, key: String, invocation: Invocation) {
    let externs = invocation
        .externs()
        .iter()
        .filter_map(|p| FileStamp::of(p))
        .collect();
    let record = Record {
        key,
        invocation,
        externs,
    };
    let path = record_path(crate_dir, &record.key);
    let saved = serde_json::to_vec(&record)
        .map_err(std::io::Error::other)
        .and_then(|json| {
            std::fs::create_dir_all(crate_dir.join(RECORD_DIR))?;
            write_atomically(&path, &json)
        });
    if saved.is_ok() {
        cache::keep_newest(&crate_dir.join(RECORD_DIR), "json", RECORDS_KEPT);
    }
}

/// When this process started, for the build log.
static STARTED: std::sync::LazyLock<std::time::Instant> =
    std::sync::LazyLock::new(std::time::Instant::now);

/// Appends a line to the build log (kept under a megabyte), with the milliseconds since
/// the shim started.
fn log(crate_dir: &Path, what: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let what = format!(
        "{}.{:03} {what} {} ms",
        now.as_secs(),
        now.subsec_millis(),
        STARTED.elapsed().as_millis()
    );
    let path = crate_dir.join(LOG_FILE);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > 1 << 20) {
        let _ = std::fs::remove_file(&path);
    }
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        let _ = writeln!(file, "{what}");
    }
}
