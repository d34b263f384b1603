//! The `mpiexec` command line that starts the engines, for Open MPI and MPICH.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What `:engines start` needs and why it is missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaunchError {
    /// No `mpiexec` on `PATH`.
    #[error(
        ":engines start needs MPI, and no `mpiexec` was found on PATH. Install Open MPI \
         (Debian/Ubuntu: `apt-get install openmpi-bin libopenmpi-dev`, plus `libclang-dev` to \
         build the `mpi` crate) or MPICH, then run :engines start again"
    )]
    NoMpiexec,
    /// `mpiexec --version` names neither Open MPI nor MPICH.
    #[error("{path}: unknown MPI implementation (`mpiexec --version` said: {said})")]
    Unknown {
        /// The `mpiexec` found.
        path: String,
        /// The first line of its version text.
        said: String,
    },
}

/// The MPI implementations whose launchers differ in the options used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// Open MPI (`mpiexec` is orterun/prterun).
    OpenMpi,
    /// MPICH and its derivatives (`mpiexec` is Hydra).
    Mpich,
}

/// An `mpiexec` found on `PATH`, and which implementation it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mpiexec {
    /// Its path.
    pub path: PathBuf,
    /// Its implementation.
    pub flavour: Flavour,
}

/// Finds `mpiexec` on `PATH` and asks it which MPI it belongs to.
pub fn find() -> Result<Mpiexec, LaunchError> {
    let path = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("mpiexec"))
        .find(|p| p.is_file())
        .ok_or(LaunchError::NoMpiexec)?;
    // Through symlinks (Debian's alternatives, a link in ~/bin) to the installation's own
    // directory: MPICH's launcher starts its proxy from beside the path it was run as.
    let path = path.canonicalize().unwrap_or(path);
    let output = Command::new(&path)
        .arg("--version")
        .output()
        .map_err(|_| LaunchError::NoMpiexec)?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    let flavour = flavour(&text).ok_or_else(|| LaunchError::Unknown {
        path: path.display().to_string(),
        said: text.lines().next().unwrap_or("").to_string(),
    })?;
    Ok(Mpiexec { path, flavour })
}

/// The implementation named by `mpiexec --version`'s text.
fn flavour(version_text: &str) -> Option<Flavour> {
    if version_text.contains("Open MPI") || version_text.contains("OpenRTE") {
        Some(Flavour::OpenMpi)
    } else if version_text.contains("HYDRA") || version_text.contains("MPICH") {
        Some(Flavour::Mpich)
    } else {
        None
    }
}

impl Flavour {
    /// The name of the engines' build directory for this MPI: what the engine cells
    /// link is built once per implementation (the `mpi` crate's build reads the MPI
    /// found, and cargo would not build it again for another).
    pub fn build_dir_name(self) -> String {
        format!("engines-{}", self.suffix())
    }

    /// The suffix Debian's alternatives give this implementation's commands
    /// (`mpicc.openmpi`, `mpicc.mpich`), and what its compiler wrapper's `-show` names.
    fn suffix(self) -> &'static str {
        match self {
            Flavour::OpenMpi => "openmpi",
            Flavour::Mpich => "mpich",
        }
    }
}

impl Mpiexec {
    /// The C compiler wrapper of the same MPI installation, for the `mpi` crate's build
    /// (its `MPICC`): beside `mpiexec`, under the implementation's own name when several
    /// are installed (Debian's `mpicc.mpich`), else `mpicc` if its `-show` line is this
    /// implementation's. `None`: the build looks for MPI itself.
    pub fn compiler(&self) -> Option<PathBuf> {
        let dir = self.path.parent()?;
        let own = dir.join(format!("mpicc.{}", self.flavour.suffix()));
        if own.is_file() {
            return Some(own);
        }
        let plain = dir.join("mpicc");
        let show = Command::new(&plain).arg("-show").output().ok()?;
        let line = String::from_utf8_lossy(&show.stdout).to_lowercase();
        let mpich = line.contains("mpich");
        (mpich == (self.flavour == Flavour::Mpich)).then_some(plain)
    }
}

/// How to start the engines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch<'a> {
    /// How many ranks.
    pub ranks: usize,
    /// Hosts to place them on; `None`: this machine.
    pub hostfile: Option<&'a Path>,
    /// The program every rank runs (this binary).
    pub program: &'a Path,
    /// Environment variables every rank needs, also on other hosts.
    pub export: &'a [&'a str],
    /// Whether this process runs as root (Open MPI refuses root unless told).
    pub as_root: bool,
}

impl Mpiexec {
    /// The arguments after `mpiexec`. Ranks may outnumber cores (`--oversubscribe`): an
    /// engine mostly waits for cells, and a notebook on a laptop asks for 4 on 2 cores.
    pub fn args(&self, launch: &Launch<'_>) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["-n".into(), launch.ranks.to_string().into()];
        match self.flavour {
            Flavour::OpenMpi => {
                args.push("--oversubscribe".into());
                if launch.as_root {
                    args.push("--allow-run-as-root".into());
                }
                if let Some(hostfile) = launch.hostfile {
                    args.extend(["--hostfile".into(), hostfile.into()]);
                }
                for name in launch.export {
                    args.extend(["-x".into(), (*name).into()]);
                }
            }
            Flavour::Mpich => {
                if let Some(hostfile) = launch.hostfile {
                    args.extend(["-f".into(), hostfile.into()]);
                }
                if !launch.export.is_empty() {
                    args.extend(["-genvlist".into(), launch.export.join(",").into()]);
                }
            }
        }
        args.push(launch.program.into());
        args
    }

    /// Environment for `mpiexec` itself: Open MPI also needs its run-as-root consent in
    /// the environment of the daemons it starts.
    pub fn env(&self, as_root: bool) -> Vec<(&'static str, &'static str)> {
        match (self.flavour, as_root) {
            (Flavour::OpenMpi, true) => vec![
                ("OMPI_ALLOW_RUN_AS_ROOT", "1"),
                ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"),
            ],
            _ => Vec::new(),
        }
    }
}

/// Which rank `mpiexec` says ended: Open MPI names its rank, MPICH's Hydra its pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Who {
    /// The MPI rank.
    Rank(usize),
    /// The process id.
    Pid(u32),
}

/// Reads `mpiexec`'s output, line by line, for how ranks ended (`exited on signal 9
/// (Killed)`), in Open MPI's words or MPICH's.
#[derive(Debug, Default)]
pub struct EndingReader {
    /// The pid of Hydra's report being read.
    pid: Option<u32>,
}

impl EndingReader {
    /// How a rank ended, if `line` says so. A later line may say more of the same rank
    /// (Hydra gives the exit code, then the signal).
    pub fn line(&mut self, line: &str) -> Option<(Who, String)> {
        // Open MPI: "… process rank 1 with PID 42 on node vm exited on signal 9 (Killed)."
        if let Some(after) = line.split_once("process rank ").map(|(_, a)| a) {
            let rank = after.split_whitespace().next()?.parse().ok()?;
            let how = after[after.find("exited on ")?..].trim_end_matches('.');
            return Some((Who::Rank(rank), how.to_string()));
        }
        // Hydra: "=   PID 42 RUNNING AT vm", "=   EXIT CODE: 9", and after its box
        // "YOUR APPLICATION TERMINATED WITH THE EXIT STRING: Killed (signal 9)".
        let text = line.trim_start_matches(['=', ' ']);
        if let Some(after) = text.strip_prefix("PID ") {
            self.pid = after.split_whitespace().next()?.parse().ok();
            return None;
        }
        let pid = Who::Pid(self.pid?);
        if let Some(code) = text.strip_prefix("EXIT CODE: ") {
            return Some((pid, format!("exited with code {}", code.trim())));
        }
        let exit = line.split_once("EXIT STRING: ")?.1.trim();
        let (name, signal) = exit.strip_suffix(')')?.rsplit_once(" (signal ")?;
        Some((pid, format!("exited on signal {signal} ({name})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn the_implementation_is_read_from_the_version_text() {
        assert_eq!(flavour("mpiexec (OpenRTE) 4.1.4\n"), Some(Flavour::OpenMpi));
        assert_eq!(flavour("mpiexec (Open MPI) 5.0.3"), Some(Flavour::OpenMpi));
        assert_eq!(
            flavour("HYDRA build details:\n    Version: 4.0.2"),
            Some(Flavour::Mpich)
        );
        assert_eq!(flavour("something else"), None);
    }

    #[test]
    fn open_mpi_oversubscribes_exports_and_accepts_root_when_root() {
        let mpiexec = Mpiexec {
            path: "/usr/bin/mpiexec".into(),
            flavour: Flavour::OpenMpi,
        };
        let launch = Launch {
            ranks: 4,
            hostfile: Some(Path::new("hosts")),
            program: Path::new("/bin/rustpx"),
            export: &["A", "B"],
            as_root: true,
        };
        assert_eq!(
            strings(mpiexec.args(&launch)),
            [
                "-n",
                "4",
                "--oversubscribe",
                "--allow-run-as-root",
                "--hostfile",
                "hosts",
                "-x",
                "A",
                "-x",
                "B",
                "/bin/rustpx"
            ]
        );
        assert_eq!(mpiexec.env(true).len(), 2);
        assert!(mpiexec.env(false).is_empty());
    }

    #[test]
    fn mpich_uses_its_own_options() {
        let mpiexec = Mpiexec {
            path: "/usr/bin/mpiexec".into(),
            flavour: Flavour::Mpich,
        };
        let launch = Launch {
            ranks: 2,
            hostfile: None,
            program: Path::new("/bin/rustpx"),
            export: &["A", "B"],
            as_root: true,
        };
        assert_eq!(
            strings(mpiexec.args(&launch)),
            ["-n", "2", "-genvlist", "A,B", "/bin/rustpx"]
        );
        assert!(mpiexec.env(true).is_empty());
    }

    #[test]
    fn how_a_rank_ended_is_read_in_either_implementations_words() {
        let mut reader = EndingReader::default();
        let open_mpi = "mpiexec noticed that process rank 1 with PID 0 on node vm exited on \
                        signal 9 (Killed).";
        let killed = "exited on signal 9 (Killed)".to_string();
        assert_eq!(reader.line(open_mpi), Some((Who::Rank(1), killed.clone())));
        assert_eq!(reader.line("Primary job  terminated normally"), None);
        let hydra = [
            "===================================================================================",
            "=   BAD TERMINATION OF ONE OF YOUR APPLICATION PROCESSES",
            "=   PID 28574 RUNNING AT vm",
            "=   EXIT CODE: 9",
            "=   CLEANING UP REMAINING PROCESSES",
            "YOUR APPLICATION TERMINATED WITH THE EXIT STRING: Killed (signal 9)",
        ];
        let said: Vec<_> = hydra.iter().filter_map(|l| reader.line(l)).collect();
        let code = "exited with code 9".to_string();
        assert_eq!(said, [(Who::Pid(28574), code), (Who::Pid(28574), killed)]);
    }
}
