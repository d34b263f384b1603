//! Cell libraries and pushed values for ranks on hosts that cannot see the kernel's
//! files.
//!
//! A rank loads each cell's library from the engines' build directory, as evcxr's child
//! does, and the library links the dependencies built there and the toolchain's libstd.
//! On a host without that directory (no shared file system, or a different one at the
//! same path) those files are sent: the hub writes each file a library needs on the
//! rank's control connection before the `LOAD_AND_RUN` line that loads it, once per
//! rank, and the rank keeps them in its *mirror*, a directory of its host's own that is
//! first on the library path every rank starts with. What the system provides (libc,
//! MPI itself) is not sent: the host needs it as it needs MPI.
//!
//! Whether a rank sees the kernel's files is a fact about its host, so the rank finds
//! out: the hub leaves a file with a fresh random name in the build directory
//! ([`VISIBLE_ENV`]); a host that sees it sees the rest.
//!
//! Values pushed to the engines (`push/all`, `push/R` in the transfer directory) go the
//! same way, into the rank's own `transfer-R/push/` in the mirror, before the cell that
//! reads them; a rank hands pulled values back on its output (`rustpx::engines::put`).
//!
//! On the wire, a file is a line `RUSTPX_FILE <path> <length>` and its bytes (the path
//! relative to the mirror); every other line is evcxr's, passed on to the cell loop on
//! the rank, with the library's path in `LOAD_AND_RUN` replaced by its copy in the mirror.

use anyhow::{Context, Result, anyhow, bail};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Set for every rank: the file whose presence means the rank sees the kernel's files.
pub const VISIBLE_ENV: &str = "RUSTPX_ENGINE_VISIBLE";
use rustpx::protocol::{ENGINE_MIRROR_ENV, ENGINE_MIRRORED_ENV};

const FILE_LINE: &str = "RUSTPX_FILE ";
/// The start of every mirror's name, in its host's temporary directory.
const MIRROR_PREFIX: &str = "rustpx-engines-";
const LOAD_AND_RUN: &str = "LOAD_AND_RUN ";

/// What tells the ranks of one job whether they see the kernel's files, and where to keep
/// them if not: the visible file lives as long as this does.
pub struct Marks {
    visible: PathBuf,
    mirror: PathBuf,
}

impl Marks {
    /// Leaves a visible file named by `nonce` in `build_dir`; the mirror is named by it too
    /// (one per job, so ranks of earlier jobs never meet these files).
    pub fn create(build_dir: &Path, nonce: &str) -> Result<Marks> {
        let visible = build_dir.join(format!("visible-{nonce}"));
        std::fs::write(&visible, b"").with_context(|| format!("writing {}", visible.display()))?;
        let mirror = std::env::temp_dir().join(format!("{MIRROR_PREFIX}{nonce}"));
        Ok(Marks { visible, mirror })
    }

    /// The environment every rank starts with: both paths, and the mirror first on the
    /// library path, since the loader reads that path once, at the start.
    pub fn env(&self) -> [(&'static str, std::ffi::OsString); 3] {
        let mut library_path = self.mirror.clone().into_os_string();
        if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
            library_path.push(":");
            library_path.push(old);
        }
        [
            (VISIBLE_ENV, self.visible.clone().into_os_string()),
            (ENGINE_MIRROR_ENV, self.mirror.clone().into_os_string()),
            ("LD_LIBRARY_PATH", library_path),
        ]
    }
}

impl Drop for Marks {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.visible);
    }
}

/// Where this rank finds the files it runs: `None` when it sees the kernel's files, else
/// the mirror to keep them in.
pub fn rank_mirror() -> Option<PathBuf> {
    let visible = std::env::var_os(VISIBLE_ENV)?;
    if Path::new(&visible).exists() {
        return None;
    }
    std::env::var_os(ENGINE_MIRROR_ENV).map(PathBuf::from)
}

/// Makes sure the dynamic loader searches `mirror`: it looks at each directory of the
/// library path once, while the process starts, and skips one that was missing then for
/// good. So a rank whose mirror may not have existed then creates it and starts again,
/// once (the same process, before MPI is set up). Returns only when the mirror is usable.
pub fn restart_with(mirror: &Path) -> Result<()> {
    if std::env::var_os(ENGINE_MIRRORED_ENV).is_some() {
        return Ok(());
    }
    std::fs::create_dir_all(mirror)
        .with_context(|| format!("creating the engine's library mirror {}", mirror.display()))?;
    let program = std::env::current_exe().context("finding this program")?;
    let error = std::os::unix::process::CommandExt::exec(
        std::process::Command::new(&program)
            .args(std::env::args_os().skip(1))
            .env(ENGINE_MIRRORED_ENV, "1"),
    );
    Err(anyhow!("starting {} again: {error}", program.display()))
}

/// How old a mirror no rank holds must be before another job's rank removes it: its
/// ranks may be starting (a rank takes its hold right after it creates the mirror).
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// Holds `mirror` for as long as this rank lives (a shared lock on the directory, which
/// the kernel drops with the process, however it ends), then removes, in the background,
/// the mirrors of earlier jobs on this host that no rank holds any more: a rank killed
/// before its hub's connection ended could not remove its own.
pub fn hold(mirror: &Path) -> Result<()> {
    let dir = std::fs::File::open(mirror)
        .with_context(|| format!("opening the engine's mirror {}", mirror.display()))?;
    dir.lock_shared()
        .with_context(|| format!("locking the engine's mirror {}", mirror.display()))?;
    // The lock lives as long as the descriptor: the whole process.
    std::mem::forget(dir);
    let mirror = mirror.to_owned();
    std::thread::Builder::new()
        .name("rustpx-mirror-sweep".into())
        .spawn(move || remove_abandoned(&mirror))?;
    Ok(())
}

/// Removes the other mirrors beside `mirror` that no rank holds.
fn remove_abandoned(mirror: &Path) {
    let Some(parent) = mirror.parent() else {
        return;
    };
    let entries = std::fs::read_dir(parent).into_iter().flatten().flatten();
    for entry in entries {
        let path = entry.path();
        let ours = entry
            .file_name()
            .to_string_lossy()
            .starts_with(MIRROR_PREFIX);
        if !ours || path == mirror {
            continue;
        }
        let age = entry.metadata().and_then(|m| m.modified()).ok();
        let old = age
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|a| a > ABANDONED_AFTER);
        if !old {
            continue;
        }
        // Locked while it goes, so no rank takes it meanwhile.
        let lock = std::fs::File::open(&path)
            .ok()
            .filter(|dir| dir.try_lock().is_ok());
        if lock.is_some() {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// The hub's half: which files each library needs, and which a rank already has.
pub struct Courier {
    /// The engines' transfer directory, whose push files go with the cell that reads them.
    transfer: PathBuf,
    /// Directories searched for a library's dependencies before its own run path, as the
    /// dynamic loader searches `LD_LIBRARY_PATH` (the toolchain's libstd is found there).
    search: Vec<PathBuf>,
    /// A library -> itself and the libraries of the build it links, dependencies first.
    closures: HashMap<PathBuf, Vec<PathBuf>>,
}

impl Courier {
    /// Searches the hub's own library path for what libraries link, and sends push
    /// files from `transfer`.
    pub fn new(transfer: PathBuf) -> Courier {
        let search = std::env::var_os("LD_LIBRARY_PATH")
            .map(|path| std::env::split_paths(&path).collect())
            .unwrap_or_default();
        Courier {
            transfer,
            search,
            closures: HashMap::new(),
        }
    }

    /// Writes to engine `rank` (through `out`) every file `command` loads that `sent`
    /// does not hold yet and the push files waiting for it, then `command` itself;
    /// `sent` gains the libraries written.
    pub fn send(
        &mut self,
        command: &str,
        rank: usize,
        sent: &mut HashSet<PathBuf>,
        out: &mut impl Write,
    ) -> Result<()> {
        if let Some(library) = loaded_library(command) {
            let library = PathBuf::from(library);
            if !self.closures.contains_key(&library) {
                let closure = closure(&library, &self.search)?;
                self.closures.insert(library.clone(), closure);
            }
            for file in &self.closures[&library] {
                if !sent.contains(file) {
                    send_file(file, &file_name(file)?, out)?;
                    sent.insert(file.clone());
                }
            }
            let own = rustpx::engines::mirrored_transfer_name(rank);
            for part in ["all".to_string(), rank.to_string()] {
                let file = self.transfer.join("push").join(&part);
                if file.exists() {
                    send_file(&file, &format!("{own}/push/{part}"), out)?;
                }
            }
        }
        writeln!(out, "{command}")?;
        Ok(())
    }

    /// Answers engine `rank`'s [`Event::TaskWanted`](rustpx::protocol::Event): claims
    /// for it the next task of the running map from `from` on, and sends the offer into
    /// its mirror.
    pub fn offer_task(&self, rank: usize, from: usize, out: &mut impl Write) -> Result<()> {
        let offer = rustpx::engines::offer(&self.transfer, rank, from);
        let own = rustpx::engines::mirrored_transfer_name(rank);
        send_bytes(&offer, &format!("{own}/map/offer"), out)
    }

    /// Records what became of a task, as a rank handed it over (base64 `data`, see
    /// [`Event::TaskEnded`](rustpx::protocol::Event)).
    pub fn record_task(&self, data: &str) -> Result<()> {
        Ok(rustpx::engines::record_ended(&self.transfer, data)?)
    }

    /// Writes the value a rank handed over for a pull (base64 `data`, see
    /// `rustpx::engines::put`) where the notebook reads it.
    pub fn receive_pulled(&self, rank: usize, data: &str) -> Result<()> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .context("decoding it")?;
        let path = self.transfer.join("pull").join(rank.to_string());
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
    }
}

fn file_name(file: &Path) -> Result<String> {
    file.file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.contains(' '))
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("{}: not a name a rank can mirror", file.display()))
}

/// The library a `LOAD_AND_RUN <library> <function>` line loads.
fn loaded_library(command: &str) -> Option<&str> {
    command.strip_prefix(LOAD_AND_RUN)?.split(' ').next()
}

/// Writes `file` to the rank, to be kept as `name` in its mirror.
fn send_file(file: &Path, name: &str, out: &mut impl Write) -> Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    send_bytes(&bytes, name, out)
}

/// Writes `bytes` to the rank, to be kept as the file `name` in its mirror.
fn send_bytes(bytes: &[u8], name: &str, out: &mut impl Write) -> Result<()> {
    writeln!(out, "{FILE_LINE}{name} {}", bytes.len())?;
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

/// `library` and every library of the build it links, directly or not, dependencies
/// before what needs them. A dependency belongs to the build when the loader would find
/// it in `search` or on the library's run path, outside the system's own directories:
/// what the system provides (libc, libmpi) is the host's, even when a library path set
/// by `module load` or `mpiexec` names those directories.
pub fn closure(library: &Path, search: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    visit(library, search, &mut seen, &mut order)?;
    Ok(order)
}

fn visit(
    library: &Path,
    search: &[PathBuf],
    seen: &mut HashSet<PathBuf>,
    order: &mut Vec<PathBuf>,
) -> Result<()> {
    if !seen.insert(library.to_path_buf()) {
        return Ok(());
    }
    let linked = Linked::read(library)?;
    let origin = library.parent().unwrap_or(Path::new("/"));
    let dirs: Vec<PathBuf> = search
        .iter()
        .cloned()
        .chain(linked.run_path.iter().map(|dir| expand_origin(dir, origin)))
        .collect();
    for needed in &linked.needed {
        let found = dirs
            .iter()
            .map(|dir| dir.join(needed))
            .find(|p| p.is_file());
        if let Some(found) = found.filter(|p| !is_system(p)) {
            visit(&found, search, seen, order)?;
        }
    }
    order.push(library.to_path_buf());
    Ok(())
}

/// Whether `library` lies in one of the dynamic loader's own directories (`/usr/lib`,
/// `/lib/x86_64-linux-gnu`, …), not in one below them (a toolchain installed under
/// `/usr/lib/rustlib` is not the host's).
fn is_system(library: &Path) -> bool {
    let library = library
        .canonicalize()
        .unwrap_or_else(|_| library.to_path_buf());
    let roots = ["/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib"];
    let Some(dir) = library.parent() else {
        return false;
    };
    let multiarch = dir
        .file_name()
        .is_some_and(|name| name.to_string_lossy().contains("-linux-gnu"));
    roots
        .iter()
        .any(|root| dir == Path::new(root) || (multiarch && dir.parent() == Some(Path::new(root))))
}

fn expand_origin(dir: &str, origin: &Path) -> PathBuf {
    let origin = origin.to_string_lossy();
    PathBuf::from(
        dir.replace("${ORIGIN}", &origin)
            .replace("$ORIGIN", &origin),
    )
}

/// What a shared library's dynamic section asks of the loader.
#[derive(Debug, Default, PartialEq, Eq)]
struct Linked {
    /// `DT_NEEDED`: the libraries it links, by name.
    needed: Vec<String>,
    /// `DT_RUNPATH` or `DT_RPATH`, split at `:`.
    run_path: Vec<String>,
}

impl Linked {
    fn read(library: &Path) -> Result<Linked> {
        use object::elf::{DT_NEEDED, DT_RPATH, DT_RUNPATH, FileHeader64};
        use object::read::elf::FileHeader;
        let data = std::fs::read(library)
            .with_context(|| format!("reading the library {}", library.display()))?;
        let parse = || -> object::read::Result<Linked> {
            let header = FileHeader64::<object::Endianness>::parse(&*data)?;
            let endian = header.endian()?;
            let table = header
                .sections(endian, &*data)?
                .dynamic_table(endian, &*data)?;
            let mut linked = Linked::default();
            for entry in &table {
                let text = || -> object::read::Result<String> {
                    Ok(String::from_utf8_lossy(table.string(entry)?).into_owned())
                };
                match entry.tag {
                    DT_NEEDED => linked.needed.push(text()?),
                    DT_RUNPATH | DT_RPATH => linked
                        .run_path
                        .extend(text()?.split(':').map(str::to_owned)),
                    _ => {}
                }
            }
            Ok(linked)
        };
        parse().map_err(|e| anyhow!("{}: not a 64-bit ELF library: {e}", library.display()))
    }
}

/// The rank's half: takes the hub's connection and returns what the cell loop reads in
/// its place (evcxr's lines, with libraries loaded from `mirror`); files the hub sends
/// are written to `mirror` on the way. The mirror is removed when the hub's connection
/// ends, which also ends what the loop reads.
pub fn receive(control: TcpStream, mirror: PathBuf) -> Result<OwnedFd> {
    let (reader, writer) = std::io::pipe().context("a pipe for the cell loop's input")?;
    std::thread::Builder::new()
        .name("rustpx-mirror".into())
        .spawn(move || {
            let mut writer = writer;
            if let Err(error) = pass_on(BufReader::new(control), &mirror, &mut writer) {
                eprintln!("rustpx engine: {error:#}");
            }
            // Before the loop sees its input end and the process exits; the libraries
            // it loaded stay mapped.
            let _ = std::fs::remove_dir_all(&mirror);
            drop(writer);
        })?;
    Ok(reader.into())
}

/// Copies evcxr's lines from `hub` to `cells`, storing files in `mirror`, until the hub's
/// connection ends.
fn pass_on(mut hub: impl BufRead, mirror: &Path, cells: &mut impl Write) -> Result<()> {
    let mut line = String::new();
    loop {
        line.clear();
        if hub.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let text = line.trim_end_matches('\n');
        if let Some(header) = text.strip_prefix(FILE_LINE) {
            store_file(header, &mut hub, mirror)?;
            continue;
        }
        cells.write_all(mirrored(text, mirror).as_bytes())?;
        cells.write_all(b"\n")?;
        cells.flush()?;
    }
}

/// Reads the file announced by `header` (`<path> <length>`) into `mirror`. Ranks on one
/// host share the mirror, so the file appears in one rename, complete.
fn store_file(header: &str, hub: &mut impl Read, mirror: &Path) -> Result<()> {
    let inside = |name: &str| {
        name.split('/')
            .all(|part| !part.is_empty() && !part.starts_with('.'))
    };
    let (name, length) = header
        .split_once(' ')
        .and_then(|(name, length)| Some((name, length.parse::<u64>().ok()?)))
        .filter(|(name, _)| inside(name))
        .ok_or_else(|| anyhow!("a file from the hub with a bad header: {header:?}"))?;
    let target = mirror.join(name);
    let dir = target.parent().unwrap_or(mirror);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let base = target.file_name().unwrap_or_default().to_string_lossy();
    let partial = dir.join(format!(".{base}.{}", std::process::id()));
    let mut file = std::fs::File::create(&partial)
        .with_context(|| format!("writing {}", partial.display()))?;
    let copied = std::io::copy(&mut hub.take(length), &mut file)?;
    if copied != length {
        bail!("the hub's connection ended inside {name} ({copied} of {length} bytes)");
    }
    drop(file);
    std::fs::rename(&partial, &target)
        .with_context(|| format!("storing {name} in {}", mirror.display()))
}

/// `command`, loading its library from `mirror` when it is a `LOAD_AND_RUN` line.
fn mirrored(command: &str, mirror: &Path) -> String {
    let Some(library) = loaded_library(command) else {
        return command.to_owned();
    };
    let name = Path::new(library).file_name().unwrap_or_default();
    let rest = &command[LOAD_AND_RUN.len() + library.len()..];
    format!("{LOAD_AND_RUN}{}{rest}", mirror.join(name).display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_reach_the_mirror_and_lines_load_from_it() {
        let source = tempfile::tempdir().unwrap();
        let mirror = tempfile::tempdir().unwrap();
        let library = source.path().join("libcode_3.so");
        std::fs::write(&library, b"\x7fELF not really").unwrap();
        let mut wire = Vec::new();
        let mut sent = HashSet::from([library.clone()]);
        // Already sent: only the line goes.
        let command = format!("LOAD_AND_RUN {} run_user_code_2", library.display());
        let transfer = source.path().join("transfer");
        std::fs::create_dir_all(transfer.join("push")).unwrap();
        std::fs::write(transfer.join("push/all"), b"pushed").unwrap();
        let mut sender = Courier {
            transfer,
            search: Vec::new(),
            closures: HashMap::from([(library.clone(), vec![library.clone()])]),
        };
        sender.send("OTHER LINE", 2, &mut sent, &mut wire).unwrap();
        assert_eq!(wire, b"OTHER LINE\n");
        wire.clear();
        sender.send(&command, 2, &mut sent, &mut wire).unwrap();
        let push = "RUSTPX_FILE transfer-2/push/all 6\npushed";
        assert_eq!(wire, format!("{push}{command}\n").as_bytes());
        sent.clear();
        wire.clear();
        sender.send(&command, 2, &mut sent, &mut wire).unwrap();
        sender.send("OTHER LINE", 2, &mut sent, &mut wire).unwrap();
        let mut cells = Vec::new();
        pass_on(&wire[..], mirror.path(), &mut cells).unwrap();
        let expected = format!(
            "LOAD_AND_RUN {} run_user_code_2\nOTHER LINE\n",
            mirror.path().join("libcode_3.so").display()
        );
        assert_eq!(String::from_utf8(cells).unwrap(), expected);
        let copy = std::fs::read(mirror.path().join("libcode_3.so")).unwrap();
        assert_eq!(copy, b"\x7fELF not really");
        let pushed = std::fs::read(mirror.path().join("transfer-2/push/all")).unwrap();
        assert_eq!(pushed, b"pushed");
    }

    #[test]
    fn a_cut_file_or_bad_header_is_an_error() {
        let mirror = tempfile::tempdir().unwrap();
        let cut = b"RUSTPX_FILE libx.so 10\nabc".as_slice();
        let error = pass_on(cut, mirror.path(), &mut Vec::new()).unwrap_err();
        assert!(error.to_string().contains("3 of 10 bytes"), "{error}");
        for escape in ["../evil", "a/../../evil", "/etc/evil", "a//b"] {
            let wire = format!("RUSTPX_FILE {escape} 1\nx");
            let error = pass_on(wire.as_bytes(), mirror.path(), &mut Vec::new()).unwrap_err();
            assert!(
                error.to_string().contains("bad header"),
                "{escape}: {error}"
            );
        }
    }

    #[test]
    fn the_closure_of_a_library_is_what_the_build_links() {
        // This test binary links libc and friends from the system only: nothing of the
        // build (its closure is itself), while a search path holding a libc copy adds it.
        let exe = std::env::current_exe().unwrap();
        assert_eq!(closure(&exe, &[]).unwrap(), std::slice::from_ref(&exe));
        let linked = Linked::read(&exe).unwrap();
        assert!(
            linked.needed.iter().any(|n| n.starts_with("libc.so")),
            "{linked:?}"
        );
        let fake = tempfile::tempdir().unwrap();
        let libc = linked
            .needed
            .iter()
            .find(|n| n.starts_with("libc.so"))
            .unwrap();
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let loaded = maps
            .lines()
            .filter_map(|line| line.split_whitespace().nth(5))
            .find(|path| path.ends_with(&format!("/{libc}")))
            .unwrap();
        std::fs::copy(loaded, fake.path().join(libc)).unwrap();
        let found = closure(&exe, &[fake.path().to_path_buf()]).unwrap();
        assert_eq!(found, [fake.path().join(libc), exe.clone()]);
        // The system's own copy is never sent, even on the library path.
        let system = Path::new(loaded).parent().unwrap().to_path_buf();
        assert_eq!(
            closure(&exe, &[system]).unwrap(),
            std::slice::from_ref(&exe)
        );
    }

    #[test]
    fn only_old_mirrors_no_rank_holds_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = |name: &str, age_secs: u64| {
            let path = tmp.path().join(name);
            std::fs::create_dir(&path).unwrap();
            let then = std::time::SystemTime::now() - std::time::Duration::from_secs(age_secs);
            std::fs::File::open(&path)
                .unwrap()
                .set_modified(then)
                .unwrap();
            path
        };
        let own = dir(&format!("{MIRROR_PREFIX}own"), 600);
        let abandoned = dir(&format!("{MIRROR_PREFIX}killed"), 600);
        let held = dir(&format!("{MIRROR_PREFIX}running"), 600);
        let starting = dir(&format!("{MIRROR_PREFIX}starting"), 0);
        let other = dir("something-else", 600);
        let holder = std::fs::File::open(&held).unwrap();
        holder.lock_shared().unwrap();
        remove_abandoned(&own);
        assert!(!abandoned.exists());
        for kept in [&own, &held, &starting, &other] {
            assert!(kept.exists(), "{}", kept.display());
        }
    }
}
