//! Embeds the runtime library's source into the kernel binary.
//!
//! Every notebook links the runtime (`use rustpx::prelude::*;`) without a `:dep` from
//! the user, also after `cargo install` moved the binary away from this checkout. So the
//! kernel carries the runtime's source: every file under `src/` except the kernel's own
//! (`main.rs`, `kernel/`), `Cargo.lock`, and a `Cargo.toml` generated here that keeps only
//! the non-optional (runtime) dependencies. At start the kernel extracts them to a
//! per-version cache directory and `:dep`s that path.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-changed=Cargo.lock");

    let mut files = Vec::new();
    collect(&root.join("src"), &root, &mut files);
    files.sort();

    let manifest = fs::read_to_string(root.join("Cargo.toml")).expect("read Cargo.toml");
    let runtime_manifest = runtime_manifest(&manifest);
    fs::write(out.join("runtime_Cargo.toml"), &runtime_manifest).expect("write manifest");

    // FNV-1a over paths and contents: the cache directory changes whenever the runtime does.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    let mut table =
        String::from("/// The runtime's files: path relative to the crate root, contents.\n");
    table.push_str("pub static FILES: &[(&str, &[u8])] = &[\n");
    for rel in &files {
        let abs = root.join(rel);
        feed(rel.as_bytes());
        feed(&fs::read(&abs).expect("read source"));
        writeln!(
            table,
            "    ({rel:?}, include_bytes!({:?})),",
            abs.display().to_string()
        )
        .unwrap();
    }
    let lock = root.join("Cargo.lock");
    feed(runtime_manifest.as_bytes());
    feed(&fs::read(&lock).expect("read Cargo.lock"));
    writeln!(
        table,
        "    (\"Cargo.lock\", include_bytes!({:?})),",
        lock.display().to_string()
    )
    .unwrap();
    let generated = out.join("runtime_Cargo.toml");
    writeln!(
        table,
        "    (\"Cargo.toml\", include_bytes!({:?})),",
        generated.display().to_string()
    )
    .unwrap();
    table.push_str("];\n");
    writeln!(
        table,
        "/// Changes whenever any embedded file changes.\npub const HASH: &str = \"{hash:016x}\";"
    )
    .unwrap();
    fs::write(out.join("runtime_files.rs"), table).expect("write table");
}

/// Every file under `dir` that belongs to the runtime library.
fn collect(dir: &Path, root: &Path, files: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .expect("under root")
            .to_string_lossy()
            .replace('\\', "/");
        if rel == "src/main.rs" || rel == "src/kernel" {
            continue;
        }
        if path.is_dir() {
            collect(&path, root, files);
        } else {
            files.push(rel);
        }
    }
}

/// The crate's manifest reduced to the library and its non-optional dependencies.
fn runtime_manifest(manifest: &str) -> String {
    let mut out = String::new();
    let mut section = String::new();
    for line in manifest.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed.to_string();
            if section == "[package]" || section == "[dependencies]" {
                out.push_str(line);
                out.push('\n');
            }
            continue;
        }
        let keep = match section.as_str() {
            "[package]" => [
                "name",
                "version",
                "edition",
                "rust-version",
                "license",
                "description",
            ]
            .iter()
            .any(|k| {
                trimmed.starts_with(&format!("{k} ")) || trimmed.starts_with(&format!("{k}="))
            }),
            "[dependencies]" => !trimmed.is_empty() && !trimmed.contains("optional = true"),
            _ => false,
        };
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str("\n[lib]\npath = \"src/lib.rs\"\n\n[workspace]\n");
    out
}
