//! One build fix for evcxr 0.22 with Rust 1.95, applied when evcxr re-runs this binary
//! as its rustc wrapper.
//!
//! With static linking off (which the kernel needs so the runtime's statics are shared by
//! all cells), evcxr 0.22 forces dylibs and passes `--extern core=<libstd-*.so>` to every
//! rustc call. Since Rust 1.95 that `.so` holds only a metadata stub, and every build
//! fails with "only metadata stub found for `dylib` dependency `core`". Passing the
//! matching `libstd-*.rmeta` as well fixes it (either file alone fails). evcxr's wrapper
//! rewrites every `--extern NAME=PATH` pair to a `.so`, so the extra argument uses the
//! single-argument form `--extern=core=PATH`, which it passes through untouched; it is
//! added by re-executing the wrapper once with that argument appended.

use std::ffi::OsString;
use std::path::Path;

/// Set by evcxr when it runs this binary as rustc's wrapper.
const WRAPPER_ENV: &str = "EVCXR_RUSTC_WRAPPER";
/// Set by evcxr when dependencies must be built as dylibs (static linking off).
const FORCE_DYLIB_ENV: &str = "EVCXR_FORCE_DYLIB";
/// evcxr's `core=<path to libstd .so>` argument.
const CORE_EXTERN_ENV: &str = "EVCXR_CORE_EXTERN";
const FIX_PREFIX: &str = "--extern=core=";

/// If this process is evcxr's dylib-forcing rustc wrapper and the fix is not applied yet,
/// re-executes it with the extra `--extern=core=<…rmeta>` argument. Returns otherwise.
pub fn reexec_if_needed() {
    if std::env::var_os(WRAPPER_ENV).is_none() || std::env::var_os(FORCE_DYLIB_ENV).is_none() {
        return;
    }
    let args: Vec<OsString> = std::env::args_os().collect();
    if args
        .iter()
        .any(|a| a.to_string_lossy().starts_with(FIX_PREFIX))
    {
        return;
    }
    let Some(extra) = std::env::var(CORE_EXTERN_ENV)
        .ok()
        .and_then(|c| rmeta_argument(&c))
    else {
        return;
    };
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    use std::os::unix::process::CommandExt;
    let error = std::process::Command::new(exe)
        .args(&args[1..])
        .arg(extra)
        .exec();
    eprintln!("rustpx: could not re-run the rustc wrapper: {error}");
    std::process::exit(1);
}

/// `--extern=core=<libstd-*.rmeta>` for evcxr's `core=<libstd-*.so>`, if that file exists.
fn rmeta_argument(core_extern: &str) -> Option<String> {
    let so = Path::new(core_extern.strip_prefix("core=")?);
    if so.extension()? != "so" {
        return None;
    }
    let rmeta = so.with_extension("rmeta");
    rmeta
        .is_file()
        .then(|| format!("{FIX_PREFIX}{}", rmeta.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_the_matching_rmeta() {
        let dir = tempfile::tempdir().unwrap();
        let so = dir.path().join("libstd-abc.so");
        std::fs::write(&so, b"").unwrap();
        let core = format!("core={}", so.display());
        assert_eq!(
            rmeta_argument(&core),
            None,
            "no rmeta beside the .so: nothing to add"
        );
        std::fs::write(dir.path().join("libstd-abc.rmeta"), b"").unwrap();
        assert_eq!(
            rmeta_argument(&core),
            Some(format!(
                "--extern=core={}",
                dir.path().join("libstd-abc.rmeta").display()
            ))
        );
        assert_eq!(rmeta_argument("std=/x/libstd-abc.so"), None);
    }

    #[test]
    fn the_real_toolchain_has_the_rmeta() {
        // Guards the premise of the fix: the sysroot ships libstd-*.rmeta beside the .so.
        let out = std::process::Command::new("rustc")
            .args(["--print", "target-libdir"])
            .output()
            .unwrap();
        let libdir = String::from_utf8(out.stdout).unwrap();
        let so = std::fs::read_dir(libdir.trim())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.starts_with("libstd-") && name.ends_with(".so")
            })
            .expect("libstd .so in the sysroot");
        assert!(rmeta_argument(&format!("core={}", so.display())).is_some());
    }
}
