//! Embeds the runtime crate (`crates/rustpx`) into the kernel binary, as it is.
//!
//! Every notebook links the runtime (`use rustpx::prelude::*;`) without a `:dep` from
//! the user, also after `cargo install` moved the binary away from this checkout. So the
//! kernel carries the runtime crate's files (its manifest, `src/`, `benches/`) and the
//! workspace's `Cargo.lock`. At start the kernel extracts them to a per-version cache
//! directory and `:dep`s that path.

use quote::quote;
use std::fs;
use std::path::{Path, PathBuf};

/// What of the runtime crate is embedded: enough for cargo to build it as a dependency.
const EMBEDDED: &[&str] = &["Cargo.toml", "src", "benches"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let runtime = manifest_dir.join("../rustpx");
    let lock = manifest_dir.join("../../Cargo.lock");

    let mut files = Vec::new();
    for entry in EMBEDDED {
        println!("cargo:rerun-if-changed={}", runtime.join(entry).display());
        collect(&runtime.join(entry), &runtime, &mut files);
    }
    files.sort();
    println!("cargo:rerun-if-changed={}", lock.display());

    let mut hash = Fnv::default();
    let mut entries = Vec::new();
    for (rel, abs) in files.iter().chain([&("Cargo.lock".to_string(), lock)]) {
        hash.feed(rel.as_bytes());
        hash.feed(&fs::read(abs).expect("read an embedded file"));
        let abs = abs.to_str().expect("a UTF-8 path");
        entries.push(quote!((#rel, include_bytes!(#abs))));
    }
    let hash = format!("{:016x}", hash.0);
    let table = quote! {
        /// The runtime crate's files (paths relative to its root) and the workspace lock file.
        pub static FILES: &[(&str, &[u8])] = &[#(#entries),*];
        /// Changes whenever any embedded file changes.
        pub const HASH: &str = #hash;
    };
    fs::write(out.join("runtime_files.rs"), table.to_string()).expect("write the table");
}

/// Every file under `path` (or `path` itself), as (path relative to `root`, path).
fn collect(path: &Path, root: &Path, files: &mut Vec<(String, PathBuf)>) {
    if path.is_file() {
        let rel = path.strip_prefix(root).expect("under the runtime crate");
        let rel = rel.to_string_lossy().replace('\\', "/");
        files.push((rel, path.to_path_buf()));
        return;
    }
    let Ok(entries) = fs::read_dir(path) else {
        return;
    };
    for entry in entries.flatten() {
        collect(&entry.path(), root, files);
    }
}

/// FNV-1a: a hash that is the same in every build, so the cache directory follows the
/// runtime's contents and nothing else.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn feed(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
