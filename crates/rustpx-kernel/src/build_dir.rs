//! The build directory evcxr compiles cells in, reused across kernels, and the evcxr
//! configuration that keeps it reusable.
//!
//! A kernel claims a *slot* under the runtime's cache directory and holds it, by a file
//! lock, for its lifetime. A slot keeps its cargo target directory, so the second kernel
//! start on a machine does not rebuild the runtime's dependencies.
//!
//! That only works if evcxr never runs `cargo clean` there, and evcxr 0.22 does so at the
//! first compile after `allow_static_linking` changes. Its context compiles `42` while
//! starting, with the setting from its config file (default: on); the runtime needs it off
//! (statics shared across cells, see `session::prelude`). So the kernel points evcxr at a
//! config file of its own (`EVCXR_CONFIG_DIR`) with static linking already off: the
//! startup compile and every later one agree, and nothing is cleaned. The user's own
//! `evcxr.toml`, if any, is carried over except for the two settings the kernel owns
//! (`tmpdir`, `allow_static_linking`).

use super::runtime_embed;
use anyhow::{Context, Result};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How many kernels may run at once on one machine before extra ones build in a fresh
/// temporary directory (and so rebuild the runtime's dependencies).
const SLOTS: usize = 8;

/// How many other runtime versions keep their build directories (the most recently
/// used): two kernels of different versions, in two environments, each start warm.
const KEPT_VERSIONS: usize = 2;

/// The environment variable evcxr reads its config directory from.
pub const EVCXR_CONFIG_DIR: &str = "EVCXR_CONFIG_DIR";

/// A claimed build directory; the claim lasts as long as this value.
pub struct BuildDir {
    _lock: Option<File>,
    _temporary: Option<tempfile::TempDir>,
}

/// Claims a build directory for this kernel and configures evcxr to use it (through
/// environment variables, so call it before any thread starts).
///
/// Prefers a slot that has built before (a kernel being restarted releases its slot a
/// moment after the new one starts), then any free slot, then a temporary directory.
pub fn claim() -> Result<BuildDir> {
    let claimed = claim_slot()?;
    let (root, current) = (runtime_embed::cache_root(), runtime_embed::version_dir());
    let pruning = std::thread::Builder::new()
        .name("rustpx-prune".into())
        .spawn(move || prune_versions(&root, &current, KEPT_VERSIONS));
    if let Err(e) = pruning {
        tracing::warn!("old runtime versions' build directories are kept: {e}");
    }
    Ok(claimed)
}

fn claim_slot() -> Result<BuildDir> {
    let base = runtime_embed::version_dir().join("sessions");
    let user_config = user_evcxr_config();
    if Path::new("evcxr.toml").exists() {
        // evcxr reads ./evcxr.toml before its config directory.
        tracing::warn!(
            "evcxr.toml in the kernel's directory overrides rustpx's evcxr settings: \
             the runtime's dependencies may be rebuilt at every start"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let built: Vec<usize> = (0..SLOTS)
            .filter(|s| base.join(format!("slot-{s}/target")).is_dir())
            .collect();
        if built.is_empty() {
            break;
        }
        for slot in built {
            if let Some(claimed) = try_slot(&base, slot, &user_config)? {
                return Ok(claimed);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for slot in 0..SLOTS {
        if let Some(claimed) = try_slot(&base, slot, &user_config)? {
            return Ok(claimed);
        }
    }
    let temporary = tempfile::Builder::new()
        .prefix("rustpx-build-")
        .tempdir()
        .context("creating a temporary build directory")?;
    use_dir(temporary.path(), &user_config)?;
    Ok(BuildDir {
        _lock: None,
        _temporary: Some(temporary),
    })
}

/// Locks slot `slot` if free, and points evcxr at it.
fn try_slot(base: &Path, slot: usize, user_config: &toml::Table) -> Result<Option<BuildDir>> {
    let dir = base.join(format!("slot-{slot}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let lock = File::create(dir.join(".lock"))?;
    if lock.try_lock().is_err() {
        return Ok(None);
    }
    // Pin the notebook crate's dependency versions to the runtime's lock file.
    let cargo_lock = dir.join("Cargo.lock");
    if !cargo_lock.exists() {
        std::fs::write(&cargo_lock, runtime_embed::cargo_lock())?;
    }
    use_dir(&dir, user_config)?;
    Ok(Some(BuildDir {
        _lock: Some(lock),
        _temporary: None,
    }))
}

/// Removes the build directories of runtime versions under `root` other than `current`
/// that no kernel holds, all but the `kept` most recently used. Each keeps about 1.5 GB
/// of compiled dependencies, and a kernel that was upgraded (or rebuilt, in
/// development) never goes back to most of them: left alone they fill the disk.
/// A version's slots are locked while it is moved aside (one rename, so a kernel of that
/// version starting meanwhile builds in a new directory), then it is removed; a removal
/// cut short (the kernel ended) is finished by the next prune.
fn prune_versions(root: &Path, current: &Path, kept: usize) {
    const ASIDE: &str = ".removing-";
    let entries: Vec<PathBuf> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .collect();
    let is_aside = |dir: &Path| {
        dir.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(ASIDE))
    };
    for dir in entries.iter().filter(|dir| is_aside(dir)) {
        let _ = std::fs::remove_dir_all(dir);
    }
    let mut others: Vec<(std::time::SystemTime, PathBuf)> = entries
        .into_iter()
        .filter(|dir| dir.as_path() != current && dir.join("sessions").is_dir())
        .map(|dir| (last_used(&dir), dir))
        .collect();
    others.sort_by_key(|(used, _)| std::cmp::Reverse(*used));
    for (_, dir) in others.into_iter().skip(kept) {
        let Some(held) = lock_every_slot(&dir) else {
            continue;
        };
        let name = dir.file_name().unwrap_or_default().to_string_lossy();
        let aside = root.join(format!("{ASIDE}{name}"));
        let moved = std::fs::rename(&dir, &aside);
        drop(held);
        match moved.and_then(|()| std::fs::remove_dir_all(&aside)) {
            Ok(()) => tracing::info!("removed an old runtime's build directory {}", dir.display()),
            Err(e) => tracing::warn!("removing {}: {e}", dir.display()),
        }
    }
}

/// When a kernel last claimed one of the version directory `dir`'s slots.
fn last_used(dir: &Path) -> std::time::SystemTime {
    let locks = (0..SLOTS).map(|s| dir.join(format!("sessions/slot-{s}/.lock")));
    locks
        .filter_map(|lock| std::fs::metadata(lock).and_then(|m| m.modified()).ok())
        .max()
        .unwrap_or(std::time::UNIX_EPOCH)
}

/// The locks of every slot of the version directory `dir`, or `None` if a kernel holds
/// one of them.
fn lock_every_slot(dir: &Path) -> Option<Vec<File>> {
    let mut held = Vec::new();
    for slot in 0..SLOTS {
        let path = dir.join(format!("sessions/slot-{slot}/.lock"));
        let Ok(lock) = std::fs::OpenOptions::new().write(true).open(&path) else {
            continue;
        };
        lock.try_lock().ok()?;
        held.push(lock);
    }
    Some(held)
}

/// Writes the kernel's evcxr config for build directory `dir` and points evcxr at both.
fn use_dir(dir: &Path, user_config: &toml::Table) -> Result<()> {
    let config_dir = write_config(dir, user_config)?;
    // SAFETY: called from `main` before the kernel starts any thread.
    unsafe {
        std::env::set_var("EVCXR_TMPDIR", dir);
        std::env::set_var(EVCXR_CONFIG_DIR, &config_dir);
        if let Err(e) = super::cell_build::install(dir) {
            tracing::warn!("every cell will be built by cargo: {e}");
        }
    }
    Ok(())
}

/// Writes the kernel's evcxr config for build directory `dir`; returns its directory.
fn write_config(dir: &Path, user_config: &toml::Table) -> Result<PathBuf> {
    let config_dir = dir.join("evcxr-config");
    std::fs::create_dir_all(&config_dir)
        .with_context(|| format!("creating {}", config_dir.display()))?;
    let path = config_dir.join("evcxr.toml");
    std::fs::write(&path, kernel_config(user_config, dir))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(config_dir)
}

/// A second build directory inside this kernel's (for the engines' evcxr context), set
/// up as [`claim`] sets up the first: the runtime's lock file and the kernel's evcxr
/// config. Returns the build directory and the config directory to give evcxr.
pub fn nested(name: &str) -> Result<(PathBuf, PathBuf)> {
    let parent = std::env::var_os("EVCXR_TMPDIR")
        .map(PathBuf::from)
        .context("the kernel has not claimed a build directory")?;
    let dir = parent.join(name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let cargo_lock = dir.join("Cargo.lock");
    if !cargo_lock.exists() {
        std::fs::write(&cargo_lock, runtime_embed::cargo_lock())?;
    }
    let config_dir = write_config(&dir, &user_evcxr_config())?;
    Ok((dir, config_dir))
}

/// The user's `evcxr.toml` from evcxr's usual config directory, or an empty table. A file
/// that does not parse is reported and ignored, as evcxr itself would refuse to start.
fn user_evcxr_config() -> toml::Table {
    let Some(path) = evcxr::config_dir().map(|d| d.join("evcxr.toml")) else {
        return toml::Table::new();
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return toml::Table::new();
    };
    text.parse().unwrap_or_else(|e| {
        tracing::warn!("ignoring {}: {e}", path.display());
        toml::Table::new()
    })
}

/// The config file the kernel gives evcxr: the user's, with the build directory and
/// static linking set by the kernel.
fn kernel_config(user: &toml::Table, build_dir: &Path) -> String {
    let mut config = user.clone();
    let mut evcxr = match config.remove("evcxr") {
        Some(toml::Value::Table(table)) => table,
        _ => toml::Table::new(),
    };
    evcxr.insert(
        "tmpdir".into(),
        toml::Value::String(build_dir.to_string_lossy().into_owned()),
    );
    evcxr.insert("allow_static_linking".into(), toml::Value::Boolean(false));
    config.insert("evcxr".into(), toml::Value::Table(evcxr));
    format!(
        "# Written by the rustpx kernel for the kernel that holds this build directory.\n{}",
        toml::to_string(&config).expect("a toml table serializes")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version directory under `root` whose slot 0 was last claimed `age` ago.
    fn version(root: &Path, name: &str, age: u64) -> PathBuf {
        let dir = root.join(name);
        let slot = dir.join("sessions/slot-0");
        std::fs::create_dir_all(&slot).unwrap();
        let lock = File::create(slot.join(".lock")).unwrap();
        let when = std::time::SystemTime::now() - Duration::from_secs(age);
        lock.set_modified(when).unwrap();
        dir
    }

    #[test]
    fn old_versions_go_unless_recent_current_or_in_use() {
        let root = tempfile::tempdir().unwrap();
        let current = version(root.path(), "0.1.0-current", 5000);
        let recent = version(root.path(), "0.1.0-recent", 10);
        let older = version(root.path(), "0.1.0-older", 100);
        let oldest = version(root.path(), "0.1.0-oldest", 1000);
        let in_use = version(root.path(), "0.1.0-in-use", 2000);
        let holder = File::open(in_use.join("sessions/slot-0/.lock")).unwrap();
        holder.lock().unwrap();
        let not_a_version = root.path().join("rustpx-mpi-abc");
        std::fs::create_dir_all(&not_a_version).unwrap();
        let cut_short = root.path().join(".removing-0.1.0-gone/sessions");
        std::fs::create_dir_all(&cut_short).unwrap();
        prune_versions(root.path(), &current, 1);
        for (dir, stays) in [
            (&current, true),
            (&recent, true),
            (&older, false),
            (&oldest, false),
            (&in_use, true),
            (&not_a_version, true),
            (&cut_short, false),
        ] {
            assert_eq!(dir.exists(), stays, "{}", dir.display());
        }
    }

    #[test]
    fn the_kernel_config_turns_static_linking_off_and_keeps_the_users_settings() {
        let user: toml::Table = "[evcxr]\nopt_level = \"1\"\nallow_static_linking = true\n\
                                 tmpdir = \"/elsewhere\"\n[dependencies]\nrand = \"0.9\"\n"
            .parse()
            .unwrap();
        let written: toml::Table = kernel_config(&user, Path::new("/cache/slot-3"))
            .parse()
            .unwrap();
        let evcxr = written["evcxr"].as_table().unwrap();
        assert_eq!(evcxr["allow_static_linking"].as_bool(), Some(false));
        assert_eq!(evcxr["tmpdir"].as_str(), Some("/cache/slot-3"));
        assert_eq!(evcxr["opt_level"].as_str(), Some("1"));
        assert_eq!(written["dependencies"]["rand"].as_str(), Some("0.9"));
    }

    #[test]
    fn without_a_user_config_only_the_kernels_settings_are_written() {
        let written: toml::Table = kernel_config(&toml::Table::new(), Path::new("/b"))
            .parse()
            .unwrap();
        assert_eq!(written.keys().collect::<Vec<_>>(), ["evcxr"]);
        assert_eq!(written["evcxr"].as_table().unwrap().len(), 2);
    }

    #[test]
    fn a_misshapen_evcxr_entry_is_replaced() {
        let user: toml::Table = "evcxr = 3\n".parse().unwrap();
        let written: toml::Table = kernel_config(&user, Path::new("/b")).parse().unwrap();
        assert_eq!(
            written["evcxr"]["allow_static_linking"].as_bool(),
            Some(false)
        );
    }
}
