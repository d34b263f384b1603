//! Cell libraries kept by the source they were built from, so a cell run again unchanged
//! (same code, same variable types, same dependencies) does not invoke rustc.

use super::record::{FileStamp, Invocation, write_atomically};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// How many libraries the cache keeps; the least recently used go first.
const KEEP: usize = 200;

/// The prefix of evcxr's per-run entry-point name.
const ENTRY_PREFIX: &str = "run_user_code_";

/// The cache directory of one evcxr crate.
pub struct CellCache {
    dir: PathBuf,
}

/// A cached library and the entry point it exports.
#[derive(Debug, PartialEq)]
pub struct Hit {
    pub library: PathBuf,
    pub entry: String,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    entry: String,
    /// Every other file rustc read (from its dep-info), as it was at build time.
    inputs: Vec<FileStamp>,
}

/// The entry point `source` defines, and the source with that name made run-independent.
pub fn entry_point(source: &str) -> Option<(String, String)> {
    let start = source.find(&format!("fn {ENTRY_PREFIX}"))? + "fn ".len();
    let digits = source[start + ENTRY_PREFIX.len()..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    let name = &source[start..start + ENTRY_PREFIX.len() + digits];
    Some((name.to_string(), source.replace(name, ENTRY_PREFIX)))
}

impl CellCache {
    /// The cache of the crate in `crate_dir`.
    pub fn of_crate(crate_dir: &Path) -> CellCache {
        CellCache {
            dir: crate_dir.join("target/rustpx-cells"),
        }
    }

    /// The key of a cell: the build key, the exact rustc command and the normalized source.
    pub fn key(build_key: &str, invocation: &Invocation, normalized: &str) -> String {
        let mut hash = Sha256::new();
        for part in [build_key, &invocation.args.join("\0"), normalized] {
            hash.update(part.len().to_le_bytes());
            hash.update(part.as_bytes());
        }
        hex(&hash.finalize())
    }

    /// The library cached under `key`, if every file it was built from is unchanged.
    pub fn lookup(&self, key: &str) -> Option<Hit> {
        let meta: Meta =
            serde_json::from_slice(&std::fs::read(self.dir.join(format!("{key}.json"))).ok()?)
                .ok()?;
        let library = self.dir.join(format!("{key}.so"));
        if !library.is_file() || !meta.inputs.iter().all(FileStamp::holds) {
            return None;
        }
        // Touched so that eviction drops the least recently used first.
        let _ = std::fs::File::open(&library)
            .and_then(|f| f.set_modified(std::time::SystemTime::now()));
        Some(Hit {
            library,
            entry: meta.entry,
        })
    }

    /// Keeps a copy of `library` (exporting `entry`) under `key`, valid while `inputs`
    /// hold.
    pub fn store(
        &self,
        key: &str,
        library: &Path,
        entry: &str,
        inputs: Vec<FileStamp>,
    ) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!("{key}.so.tmp{}", std::process::id()));
        std::fs::copy(library, &tmp)?;
        std::fs::rename(&tmp, self.dir.join(format!("{key}.so")))?;
        let meta = Meta {
            entry: entry.to_string(),
            inputs,
        };
        write_atomically(
            &self.dir.join(format!("{key}.json")),
            &serde_json::to_vec(&meta).map_err(std::io::Error::other)?,
        )?;
        self.evict();
        Ok(())
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    fn evict(&self) {
        for removed in keep_newest(&self.dir, "so", KEEP) {
            let _ = std::fs::remove_file(removed.with_extension("json"));
        }
    }
}

/// Removes all but the `keep` most recently modified files with extension `extension`
/// in `dir`; returns the removed paths.
pub fn keep_newest(dir: &Path, extension: &str, keep: usize) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .collect();
    if files.len() <= keep {
        return Vec::new();
    }
    files.sort();
    let excess = files.len() - keep;
    files
        .drain(..excess)
        .map(|(_, path)| {
            let _ = std::fs::remove_file(&path);
            path
        })
        .collect()
}

/// The stamps of the files rustc read for a cell (its dep-info file at `dep_info`, paths
/// relative to `cwd`), except the cell's own `source`, which the key already covers.
pub fn inputs(dep_info: &Path, cwd: &Path, source: &Path) -> std::io::Result<Vec<FileStamp>> {
    read_dep_info(dep_info)?
        .into_iter()
        .map(|p| cwd.join(p))
        .filter(|p| p != source)
        .map(|p| FileStamp::of(&p).ok_or_else(|| missing(&p)))
        .collect()
}

/// The files a dep-info (`.d`) file lists as inputs of its first target.
fn read_dep_info(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(path)?;
    let first = text
        .lines()
        .find(|l| !l.starts_with('#') && l.contains(':'))
        .ok_or_else(|| missing(path))?;
    let (_, inputs) = first.split_once(": ").unwrap_or((first, ""));
    Ok(split_escaped(inputs)
        .into_iter()
        .map(PathBuf::from)
        .collect())
}

/// Splits make-style dependency lists on unescaped spaces (`\ ` is a space in a path).
fn split_escaped(list: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = list.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ' ' if !current.is_empty() => out.push(std::mem::take(&mut current)),
            ' ' => {}
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn missing(path: &Path) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("{} is missing or unreadable", path.display()),
    )
}

/// Lower-case hexadecimal of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
