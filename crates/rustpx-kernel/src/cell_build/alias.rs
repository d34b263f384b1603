//! The entry-point alias of a reused cell library.
//!
//! evcxr names each run's entry point `run_user_code_N` and tells its child to load the
//! library and call that name. A library reused from the cache exports the name of the
//! run that built it, so the shim writes `REQUESTED ACTUAL` to a file beside the library,
//! and the child's stdin filter ([`resolve`]) rewrites evcxr's command to call `ACTUAL`.
//! Every build that is not a reuse removes the file, so an alias never outlives its run.

use std::path::Path;

/// The alias file, in the directory of the cell's library.
const FILE: &str = "rustpx-entry-alias";

/// evcxr's command to its child: `LOAD_AND_RUN <library> <entry point>`.
const LOAD_AND_RUN: &str = "LOAD_AND_RUN ";

/// Makes the next `LOAD_AND_RUN` of a library in `dir` that asks for `requested` call
/// `actual` instead.
pub fn set(dir: &Path, requested: &str, actual: &str) -> std::io::Result<()> {
    super::record::write_atomically(&dir.join(FILE), format!("{requested} {actual}").as_bytes())
}

/// Removes the alias in `dir`, if any.
pub fn clear(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(FILE));
}

/// evcxr's `line` with the entry point replaced if an alias for it lies beside the
/// library; `None` when the line is to be passed on unchanged.
pub fn resolve(line: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(line).ok()?;
    let (library, requested) = text
        .trim_end()
        .strip_prefix(LOAD_AND_RUN)?
        .rsplit_once(' ')?;
    let alias = std::fs::read_to_string(Path::new(library).parent()?.join(FILE)).ok()?;
    let (from, to) = alias.split_once(' ')?;
    (from == requested).then(|| format!("{LOAD_AND_RUN}{library} {to}\n").into_bytes())
}
