//! `rustpx install` / `rustpx uninstall`: the kernelspec from `kernelspec/`.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

const KERNEL_JSON: &str = include_str!("../kernelspec/kernel.json");
const LOGO_32: &[u8] = include_bytes!("../kernelspec/logo-32x32.png");
const LOGO_64: &[u8] = include_bytes!("../kernelspec/logo-64x64.png");

/// The kernelspec's directory name (`jupyter kernelspec list` shows it).
pub const KERNEL_NAME: &str = "rustpx";

/// Where a kernelspec goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The user's Jupyter data directory.
    User,
    /// The active Python environment (`$VIRTUAL_ENV`, `$CONDA_PREFIX`, else python3's
    /// `sys.prefix`).
    SysPrefix,
    /// `DIR/share/jupyter/kernels`.
    Prefix(PathBuf),
}

impl Location {
    /// The `kernels/rustpx` directory for this location.
    pub fn kernel_dir(&self) -> Result<PathBuf> {
        let kernels = match self {
            Location::User => user_data_dir()?.join("kernels"),
            Location::SysPrefix => sys_prefix()?.join("share/jupyter/kernels"),
            Location::Prefix(dir) => dir.join("share/jupyter/kernels"),
        };
        Ok(kernels.join(KERNEL_NAME))
    }
}

fn user_data_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("JUPYTER_DATA_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let home = PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?);
    if cfg!(target_os = "macos") {
        return Ok(home.join("Library/Jupyter"));
    }
    Ok(std::env::var_os("XDG_DATA_HOME")
        .map_or_else(|| home.join(".local/share"), PathBuf::from)
        .join("jupyter"))
}

fn sys_prefix() -> Result<PathBuf> {
    for var in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
        if let Some(dir) = std::env::var_os(var) {
            return Ok(PathBuf::from(dir));
        }
    }
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.prefix)"])
        .output()
        .context("running python3 to find sys.prefix")?;
    if !out.status.success() {
        bail!("python3 could not report sys.prefix");
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// kernel.json with the binary's absolute path filled in.
pub fn kernel_json(binary: &Path) -> String {
    let escaped = serde_json::to_string(&binary.display().to_string()).unwrap_or_default();
    KERNEL_JSON.replace("\"{binary}\"", &escaped)
}

/// Writes the kernelspec; returns its directory.
pub fn install(location: &Location) -> Result<PathBuf> {
    let dir = location.kernel_dir()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let binary = std::env::current_exe()?.canonicalize()?;
    std::fs::write(dir.join("kernel.json"), kernel_json(&binary))?;
    std::fs::write(dir.join("logo-32x32.png"), LOGO_32)?;
    std::fs::write(dir.join("logo-64x64.png"), LOGO_64)?;
    Ok(dir)
}

/// Removes the kernelspec; returns its directory.
pub fn uninstall(location: &Location) -> Result<PathBuf> {
    let dir = location.kernel_dir()?;
    if !dir.exists() {
        bail!("no rustpx kernelspec at {}", dir.display());
    }
    std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_json_names_the_binary_and_the_language() {
        let json: serde_json::Value =
            serde_json::from_str(&kernel_json(Path::new("/opt/bin/rustpx"))).unwrap();
        assert_eq!(json["argv"][0], "/opt/bin/rustpx");
        assert_eq!(json["display_name"], "Rust (parallel)");
        assert_eq!(json["language"], "rust");
        assert_eq!(json["interrupt_mode"], "message");
    }

    #[test]
    fn install_and_uninstall_under_a_prefix() {
        let tmp = tempfile::tempdir().unwrap();
        let location = Location::Prefix(tmp.path().to_path_buf());
        let dir = install(&location).unwrap();
        assert_eq!(dir, tmp.path().join("share/jupyter/kernels/rustpx"));
        assert!(dir.join("logo-64x64.png").is_file());
        uninstall(&location).unwrap();
        assert!(!dir.exists());
        assert!(uninstall(&location).is_err());
    }
}
