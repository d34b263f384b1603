//! `rustpx install`'s build of the runtime and its dependencies, so that the first
//! notebook on a machine starts like a later one instead of compiling them in its first
//! cell.
//!
//! The build is the kernel's own start-up, run once: a build slot is claimed and evcxr
//! links the runtime exactly as a kernel would, so every later kernel finds what it needs
//! already compiled (see `build_dir`). cargo's "Compiling …" lines, which evcxr passes to
//! this process's stderr, become a progress bar.

use super::{build_dir, fdtap, runtime_embed, session};
use anyhow::{Context, Result, anyhow};
use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

/// Builds the runtime in a build slot, showing progress on stderr.
pub fn run() -> Result<()> {
    let started = Instant::now();
    let _slot = build_dir::claim()?;
    let runtime = runtime_embed::extract()?;
    // One line per package, plus the notebook crate evcxr compiles last.
    let packages = runtime_packages(&runtime).unwrap_or(0);
    let total = packages + 1;
    let terminal = std::io::stderr().is_terminal();
    let mut bar = Progress::new(total, terminal);
    fdtap::tap(2, move |line, out| {
        let text = String::from_utf8_lossy(line);
        match text.trim_start().strip_prefix("Compiling ") {
            Some(what) => bar.step(out, what.trim_end()),
            None => {
                let _ = out.write_all(line);
            }
        }
    })
    .context("watching cargo's progress")?;
    let (mut ctx, outputs) = session::new_context(None)?;
    std::thread::spawn(move || while outputs.stdout.recv().is_ok() {});
    std::thread::spawn(move || while outputs.stderr.recv().is_ok() {});
    ctx.execute(&session::prelude(&runtime))
        .map_err(|e| anyhow!("building the rustpx runtime failed: {e}"))?;
    // evcxr explains a cell whose variable types it cannot name with `cargo check`, whose
    // metadata-only build of every dependency would otherwise take the first such cell
    // 20 s longer.
    ctx.check("let rustpx_prebuild = 1;")
        .map_err(|e| anyhow!("checking the rustpx runtime failed: {e}"))?;
    // evcxr checks a new dependency with a cargo run whose lines it does not pass on, so
    // some packages compile unseen and the bar may stop short: this line says it is done.
    if terminal {
        eprintln!();
    }
    println!(
        "rustpx runtime built: {packages} packages in {:.0?} (cache: {})",
        started.elapsed(),
        runtime_embed::version_dir().display()
    );
    Ok(())
}

/// How many packages cargo compiles for the runtime on this machine: the runtime and
/// everything it needs to build (normal and build dependencies, for this platform).
fn runtime_packages(runtime: &Path) -> Result<usize> {
    let out = std::process::Command::new("cargo")
        .args([
            "tree", "--edges", "no-dev", "--prefix", "none", "--format", "{p}",
        ])
        .current_dir(runtime)
        .stderr(std::process::Stdio::null())
        .output()?;
    anyhow::ensure!(out.status.success(), "cargo tree failed");
    let text = String::from_utf8(out.stdout)?;
    let packages: BTreeSet<&str> = text
        .lines()
        .map(|l| l.trim_end_matches(" (*)"))
        .filter(|l| !l.is_empty())
        .collect();
    Ok(packages.len())
}

/// A one-line progress bar on a terminal; one line per package otherwise (logs, CI).
struct Progress {
    total: usize,
    done: usize,
    terminal: bool,
}

impl Progress {
    fn new(total: usize, terminal: bool) -> Progress {
        Progress {
            total,
            done: 0,
            terminal,
        }
    }

    fn step(&mut self, out: &mut impl Write, what: &str) {
        self.done += 1;
        let _ = out.write_all(self.line(what).as_bytes());
        let _ = out.flush();
    }

    fn line(&self, what: &str) -> String {
        const WIDTH: usize = 30;
        let total = self.total.max(self.done);
        let filled = WIDTH * self.done / total.max(1);
        let bar = format!("{}{}", "#".repeat(filled), "-".repeat(WIDTH - filled));
        let text = format!(
            "building the rustpx runtime [{bar}] {}/{total} {what}",
            self.done
        );
        if self.terminal {
            let end = if self.done >= total { "\n" } else { "" };
            format!("\r\x1b[2K{text}{end}")
        } else {
            format!("{text}\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_each_package_and_never_overflows() {
        let mut p = Progress::new(4, false);
        let mut out = Vec::new();
        for name in ["a v1", "b v1", "c v1", "d v1", "e v1"] {
            p.step(&mut out, name);
        }
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            "building the rustpx runtime [###############---------------] 2/4 b v1"
        );
        assert_eq!(
            lines[4],
            "building the rustpx runtime [##############################] 5/5 e v1"
        );
    }

    #[test]
    fn a_terminal_redraws_one_line() {
        let mut p = Progress::new(2, true);
        let mut out = Vec::new();
        p.step(&mut out, "a v1");
        p.step(&mut out, "b v1");
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches('\n').count(), 1, "{text:?}");
        assert!(text.starts_with("\r\x1b[2K"));
    }
}
