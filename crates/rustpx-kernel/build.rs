//! Embeds the runtime crate (`crates/rustpx`) into the kernel binary, as it is.
//!
//! Every notebook links the runtime (`use rustpx::prelude::*;`) without a `:dep` from
//! the user, also after `cargo install` moved the binary away from this checkout. So the
//! kernel carries the runtime crate's files (its manifest, `src/`, `benches/`) and the
//! workspace's `Cargo.lock`. At start the kernel extracts them to a per-version cache
//! directory and `:dep`s that path.
//!
//! It also carries `crates/rustpx-mpi`, which only engine cells link (`:engines`).

use quote::quote;
use std::fs;
use std::path::{Path, PathBuf};

/// What of the runtime crate is embedded: enough for cargo to build it as a dependency.
const EMBEDDED: &[&str] = &["Cargo.toml", "src", "benches"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let lock = manifest_dir.join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());

    let mut hash = Fnv::default();
    let mut files = embed(&manifest_dir.join("../rustpx"), &mut hash);
    files.push(entry("Cargo.lock", &lock, &mut hash));
    let mut mpi_hash = Fnv::default();
    let mpi_files = embed(&manifest_dir.join("../rustpx-mpi"), &mut mpi_hash);
    let (hash, mpi_hash) = (format!("{:016x}", hash.0), format!("{:016x}", mpi_hash.0));
    let table = quote! {
        /// The runtime crate's files (paths relative to its root) and the workspace lock file.
        pub static FILES: &[(&str, &[u8])] = &[#(#files),*];
        /// The files of `rustpx-mpi`, the crate engine cells link.
        pub static MPI_FILES: &[(&str, &[u8])] = &[#(#mpi_files),*];
        /// Changes whenever any embedded file of the runtime (or the lock file) changes.
        pub const HASH: &str = #hash;
        /// Changes whenever any embedded file of `rustpx-mpi` changes.
        pub const MPI_HASH: &str = #mpi_hash;
    };
    fs::write(out.join("runtime_files.rs"), table.to_string()).expect("write the table");
}

/// The table entries for the [`EMBEDDED`] files of the crate at `root`, fed to `hash`.
fn embed(root: &Path, hash: &mut Fnv) -> Vec<proc_macro2::TokenStream> {
    let mut files = Vec::new();
    for entry in EMBEDDED {
        println!("cargo:rerun-if-changed={}", root.join(entry).display());
        collect(&root.join(entry), root, &mut files);
    }
    files.sort();
    files
        .iter()
        .map(|(rel, abs)| entry(rel, abs, hash))
        .collect()
}

/// One `(relative path, bytes)` entry, fed to `hash`.
fn entry(rel: &str, abs: &Path, hash: &mut Fnv) -> proc_macro2::TokenStream {
    hash.feed(rel.as_bytes());
    hash.feed(&fs::read(abs).expect("read an embedded file"));
    let abs = abs.to_str().expect("a UTF-8 path");
    quote!((#rel, include_bytes!(#abs)))
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
