//! The hub: the process the engines' evcxr context takes for its child.
//!
//! evcxr talks to its child in lines: `LOAD_AND_RUN <library> <function>` in, the
//! cell's output and evcxr's own marker lines out. The hub starts the ranks with
//! `mpiexec`, waits until each has connected (see [`super::rank`]), and from then on
//! sends every line evcxr writes to every rank, so each rank loads the one library the
//! kernel compiled and runs it against its own variables. What the ranks write comes back
//! merged into one child's reply: printed lines as per-rank streams (`[stdout:r]`,
//! `[stderr:r]`, as the thread `:px` sends them), the cell's values as `Out[r]` lines,
//! failures as one error that names each failing rank, and one end-of-run line once every
//! rank has finished (or died).
//!
//! The hub also keeps the engine table (rank, host, pid, state, cells run) in a file the
//! kernel reads for `:engines`, and ends the ranks when evcxr closes its input (engines
//! stopped, kernel shut down or killed).

use super::launch::{self, Launch};
use super::mirror::{self, Marks};
use super::rank::hostname;
use crate::child::FENCE;
use anyhow::{Context, Result, anyhow, bail};
use crossbeam_channel::{Receiver, Sender};
use rustpx::protocol::{Event, StreamName};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Set for the hub: the path of the engine table it keeps.
pub const HUB_ENV: &str = "RUSTPX_ENGINE_HUB";
/// How many ranks the hub starts.
pub const RANKS_ENV: &str = "RUSTPX_ENGINE_RANKS";
/// The hostfile for `mpiexec`, if any.
pub const HOSTFILE_ENV: &str = "RUSTPX_ENGINE_HOSTFILE";
/// Set for the ranks: the hub's address.
pub const CONNECT_ENV: &str = "RUSTPX_ENGINE_CONNECT";
/// Set for the ranks: the secret that proves a connection comes from this hub's job.
pub const TOKEN_ENV: &str = "RUSTPX_ENGINE_TOKEN";

/// How long the ranks have to connect after `mpiexec` starts.
const CONNECT_PATIENCE: Duration = Duration::from_secs(120);
/// How long `mpiexec` has to end after the ranks were told to stop, before it is killed.
const STOP_PATIENCE: Duration = Duration::from_secs(5);

/// evcxr's lines between the child and the context.
const EXECUTION_COMPLETE: &str = "EVCXR_EXECUTION_COMPLETE";
const ERROR_OCCURRED: &str = "EVCXR_ERROR_OCCURRED";
const PANIC_NOTIFICATION: &str = "EVCXR_PANIC_NOTIFICATION";
const VARIABLE_CHANGED_TYPE: &str = "EVCXR_VARIABLE_CHANGED_TYPE:";
const BEGIN_CONTENT: &str = "EVCXR_BEGIN_CONTENT ";
const END_CONTENT: &str = "EVCXR_END_CONTENT";

/// Which of its two connections a rank opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Cells in, output and evcxr's markers out (the rank's stdin and stdout).
    Control,
    /// The rank's stderr.
    Stderr,
}

/// The first line a rank sends on each connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The hub's secret.
    pub token: String,
    /// The rank's MPI rank.
    pub rank: usize,
    /// Which connection this is.
    pub stream: Stream,
    /// The rank's process id.
    pub pid: u32,
    /// Whether the rank sees the kernel's files (else they are sent, see [`mirror`]).
    pub sees_files: bool,
    /// The rank's host.
    pub host: String,
}

impl Hello {
    /// The line, without its newline.
    pub fn to_line(&self) -> String {
        let stream = match self.stream {
            Stream::Control => "control",
            Stream::Stderr => "stderr",
        };
        let Hello {
            token,
            rank,
            pid,
            sees_files,
            host,
            ..
        } = self;
        let files = if *sees_files { "sees" } else { "mirror" };
        format!("{token} {rank} {stream} {pid} {files} {host}")
    }

    /// Parses [`Hello::to_line`]'s output.
    fn parse(line: &str) -> Option<Hello> {
        let mut words = line.split_whitespace();
        let token = words.next()?.to_string();
        let rank = words.next()?.parse().ok()?;
        let stream = match words.next()? {
            "control" => Stream::Control,
            "stderr" => Stream::Stderr,
            _ => return None,
        };
        let pid = words.next()?.parse().ok()?;
        let sees_files = match words.next()? {
            "sees" => true,
            "mirror" => false,
            _ => return None,
        };
        let host = words.next()?.to_string();
        Some(Hello {
            token,
            rank,
            stream,
            pid,
            sees_files,
            host,
        })
    }
}

/// What an engine is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineState {
    /// Waiting for a cell.
    Idle,
    /// Running a cell.
    Busy,
    /// Its process ended (it crashed or was killed); its variables are gone.
    Exited,
}

/// One row of the engine table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineInfo {
    /// MPI rank (the engine id).
    pub rank: usize,
    /// Host it runs on.
    pub host: String,
    /// Its process id there.
    pub pid: u32,
    /// What it is doing.
    pub state: EngineState,
    /// Cells it has finished.
    pub cells: u64,
    /// Whether it sees the kernel's files (else they are sent to it, see [`mirror`]).
    pub sees_files: bool,
}

/// Whether this process is the hub (then [`run`] takes it over).
pub fn is_hub() -> bool {
    std::env::var_os(HUB_ENV).is_some()
}

/// Reads the engine table the hub keeps at `path`.
pub fn read_table(path: &Path) -> Result<Vec<EngineInfo>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Runs the hub until evcxr closes its input; never returns.
pub fn run() -> ! {
    match serve() {
        Ok(()) => std::process::exit(0),
        Err(error) => {
            eprintln!("rustpx engines: {error:#}");
            std::process::exit(1);
        }
    }
}

fn serve() -> Result<()> {
    let table = PathBuf::from(std::env::var_os(HUB_ENV).unwrap_or_default());
    let ranks: usize = std::env::var(RANKS_ENV)
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| anyhow!("{RANKS_ENV} is not a rank count"))?;
    let hostfile = std::env::var_os(HOSTFILE_ENV).map(PathBuf::from);
    // Ranks on other hosts need an address they can reach.
    let (bind, advertised) = match hostfile {
        Some(_) => ("0.0.0.0:0", hostname()),
        None => ("127.0.0.1:0", "127.0.0.1".to_string()),
    };
    let listener = TcpListener::bind(bind).with_context(|| format!("listening on {bind}"))?;
    let address = format!("{advertised}:{}", listener.local_addr()?.port());
    let token = token()?;
    let interrupted = watch_signals()?;
    let build_dir = table.parent().context("the engine table's directory")?;
    let marks = Marks::create(build_dir, &self::token()?)?;
    let mut mpiexec = spawn_mpiexec(ranks, hostfile.as_deref(), &address, &token, &marks)?;
    let launcher = Launcher::watch(&mut mpiexec)?;
    let links = match accept_ranks(&listener, ranks, &token, &mut mpiexec) {
        Ok(links) => links,
        Err(error) => {
            stop_mpiexec(&mut mpiexec, Duration::ZERO);
            return Err(error);
        }
    };
    let transfer = super::transfer::transfer_path(build_dir);
    let mut hub = Hub::new(links, table, transfer, mpiexec, launcher, interrupted)?;
    // `marks` lives until the engines stop: the ranks' visible file with it.
    hub.serve()
}

/// The kernel's interrupt signal sets the returned flag (the running cell is then
/// abandoned, see [`Lost::Interrupted`]); its end-of-cell signal is ignored.
fn watch_signals() -> Result<Arc<AtomicBool>> {
    let interrupted = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(rustpx::protocol::INTERRUPT_SIGNAL, interrupted.clone())?;
    signal_hook::flag::register(
        rustpx::protocol::CLEAR_SIGNAL,
        Arc::new(AtomicBool::new(false)),
    )?;
    Ok(interrupted)
}

/// A secret for this job's connections, from the kernel's random source.
fn token() -> Result<String> {
    let mut bytes = [0u8; 16];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)
        .context("reading /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Starts `mpiexec` with this binary as every rank. Its stdin is closed (Open MPI would
/// otherwise forward evcxr's commands to rank 0) and its output is piped (see
/// [`Launcher`]), since the hub's stdout is evcxr's. It gets SIGTERM if the hub dies.
fn spawn_mpiexec(
    ranks: usize,
    hostfile: Option<&Path>,
    address: &str,
    token: &str,
    marks: &Marks,
) -> Result<Child> {
    let mpiexec = launch::find()?;
    let program = std::env::current_exe().context("finding this program")?;
    // SAFETY: geteuid has no preconditions.
    let as_root = unsafe { libc::geteuid() } == 0;
    let export = [
        CONNECT_ENV,
        TOKEN_ENV,
        "EVCXR_IS_RUNTIME",
        "LD_LIBRARY_PATH",
        mirror::VISIBLE_ENV,
        rustpx::protocol::ENGINE_MIRROR_ENV,
        rustpx::protocol::KERNEL_ENV,
    ];
    let args = mpiexec.args(&Launch {
        ranks,
        hostfile,
        program: &program,
        export: &export,
        as_root,
    });
    let mut command = Command::new(&mpiexec.path);
    command
        .args(&args)
        .envs(mpiexec.env(as_root))
        .envs(marks.env())
        .env(CONNECT_ENV, address)
        .env(TOKEN_ENV, token)
        .env_remove(HUB_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: prctl is async-signal-safe and touches only the new process.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
        .spawn()
        .with_context(|| format!("starting {}", mpiexec.path.display()))
}

/// What `mpiexec` says: passed on to the hub's stderr (so to the running cell), and
/// searched for the signal that ended a rank, which only the launcher knows.
struct Launcher {
    /// How ranks ended (`exited on signal 9 (Killed)`), as `mpiexec` reported it.
    endings: Arc<Mutex<BTreeMap<launch::Who, String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Launcher {
    fn watch(mpiexec: &mut Child) -> Result<Launcher> {
        let endings = Arc::new(Mutex::new(BTreeMap::new()));
        let mut readers = Vec::new();
        let pipes: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(mpiexec.stdout.take().context("mpiexec's stdout")?),
            Box::new(mpiexec.stderr.take().context("mpiexec's stderr")?),
        ];
        for pipe in pipes {
            let endings = endings.clone();
            readers.push(
                std::thread::Builder::new()
                    .name("rustpx-mpiexec".into())
                    .spawn(move || {
                        let mut reader = launch::EndingReader::default();
                        for line in BufReader::new(pipe).lines() {
                            let Ok(line) = line else { break };
                            eprintln!("{line}");
                            if let Some((who, how)) = reader.line(&line) {
                                endings
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .insert(who, how);
                            }
                        }
                    })?,
            );
        }
        Ok(Launcher { endings, readers })
    }

    /// rank -> how it ended, once `mpiexec` has ended (or after a short wait); `ranks`
    /// name the rank of a pid.
    fn endings(self, ranks: &[RankState]) -> BTreeMap<usize, String> {
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let said = std::mem::take(&mut *self.endings.lock().unwrap_or_else(|p| p.into_inner()));
        let rank_of = |who| match who {
            launch::Who::Rank(rank) => Some(rank),
            launch::Who::Pid(pid) => ranks
                .iter()
                .find(|r| r.info.pid == pid)
                .map(|r| r.info.rank),
        };
        said.into_iter()
            .filter_map(|(who, how)| Some((rank_of(who)?, how)))
            .collect()
    }
}

/// A rank's two connections and its row in the table.
struct Link {
    info: EngineInfo,
    control: TcpStream,
    stderr: TcpStream,
}

/// Accepts both connections of every rank, or says why not (`mpiexec` ended first, a
/// rank never came).
fn accept_ranks(
    listener: &TcpListener,
    ranks: usize,
    token: &str,
    mpiexec: &mut Child,
) -> Result<Vec<Link>> {
    listener.set_nonblocking(true)?;
    let mut slots: Vec<[Option<(Hello, TcpStream)>; 2]> =
        (0..ranks).map(|_| [None, None]).collect();
    let deadline = Instant::now() + CONNECT_PATIENCE;
    while slots.iter().flatten().any(Option::is_none) {
        if let Some(status) = mpiexec.try_wait()? {
            bail!(
                "mpiexec ended ({status}) before all {ranks} engines connected; its messages are above"
            );
        }
        if Instant::now() > deadline {
            bail!(
                "only {} of {ranks} engines connected within {CONNECT_PATIENCE:?}",
                slots
                    .iter()
                    .filter(|s| s.iter().all(Option::is_some))
                    .count()
            );
        }
        let socket = match listener.accept() {
            Ok((socket, _)) => socket,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        socket.set_nonblocking(false)?;
        socket.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut line = String::new();
        BufReader::new(&socket).read_line(&mut line)?;
        socket.set_read_timeout(None)?;
        let Some(hello) = Hello::parse(&line).filter(|h| h.token == token && h.rank < ranks) else {
            continue;
        };
        let slot = &mut slots[hello.rank][hello.stream as usize];
        *slot = Some((hello, socket));
    }
    Ok(slots
        .into_iter()
        .map(|[control, stderr]| {
            let ((hello, control), (_, stderr)) = (control.unwrap(), stderr.unwrap());
            let info = EngineInfo {
                rank: hello.rank,
                host: hello.host,
                pid: hello.pid,
                state: EngineState::Idle,
                cells: 0,
                sees_files: hello.sees_files,
            };
            Link {
                info,
                control,
                stderr,
            }
        })
        .collect())
}

/// Waits up to `patience` for `mpiexec` to end (the ranks were told to), then asks it to
/// (it ends the ranks), then insists.
fn stop_mpiexec(mpiexec: &mut Child, patience: Duration) {
    let deadline = Instant::now() + patience;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = mpiexec.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Ok(pid) = i32::try_from(mpiexec.id()) {
        // SAFETY: signals our own child, which has not been reaped (try_wait saw it run).
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    std::thread::sleep(Duration::from_secs(1));
    let _ = mpiexec.kill();
    let _ = mpiexec.wait();
}

/// A line from a rank, or the end of one of its connections.
enum FromRank {
    Control(String),
    Stderr(String),
    ControlClosed,
    StderrClosed,
}

/// Forwards the lines of `socket` to `tx`, tagged with `rank`.
fn spawn_reader(
    rank: usize,
    socket: TcpStream,
    tx: Sender<(usize, FromRank)>,
    stream: Stream,
) -> Result<()> {
    std::thread::Builder::new()
        .name(format!("rustpx-rank-{rank}"))
        .spawn(move || {
            crate::fdtap::for_each_line(socket, |line| {
                let text = String::from_utf8_lossy(line)
                    .trim_end_matches(['\r', '\n'])
                    .to_string();
                let message = match stream {
                    Stream::Control => FromRank::Control(text),
                    Stream::Stderr => FromRank::Stderr(text),
                };
                tx.send((rank, message)).is_ok()
            });
            let end = match stream {
                Stream::Control => FromRank::ControlClosed,
                Stream::Stderr => FromRank::StderrClosed,
            };
            let _ = tx.send((rank, end));
        })?;
    Ok(())
}

/// The hub's state once every rank has connected.
struct Hub {
    ranks: Vec<RankState>,
    lines: Receiver<(usize, FromRank)>,
    table: PathBuf,
    mpiexec: Child,
    launcher: Option<Launcher>,
    /// Set by the kernel's interrupt signal.
    interrupted: Arc<AtomicBool>,
    /// Carries files to and from the ranks that do not see the kernel's files.
    courier: mirror::Courier,
}

/// One rank: its row, its connection for cells, and what it did in the running cell.
struct RankState {
    info: EngineInfo,
    control: TcpStream,
    run: Run,
    /// For a rank that does not see the kernel's files: the files it has been sent.
    mirrored: Option<HashSet<PathBuf>>,
}

/// What one rank did in the running cell.
#[derive(Default)]
struct Run {
    ended: bool,
    fenced: bool,
    content: Vec<(String, String)>,
    open_content: Option<(String, String)>,
    panicked: bool,
    question_mark: bool,
    changed_types: Vec<String>,
    stderr: String,
    /// An error the rank's runtime reported (a marker line).
    raised: Option<String>,
    /// The rank's process ended while it ran the cell.
    died: bool,
}

/// How a cell on the engines ended.
enum CellEnd {
    /// Every rank finished it (some may have failed).
    Finished,
    /// evcxr closed the hub's input: the engines are being stopped.
    InputClosed,
    /// The engines' state cannot be trusted any more; they must be restarted.
    Lost(Lost),
}

/// Why the running cell took the engines down with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lost {
    /// The kernel interrupted it: a busy rank can only be stopped by ending it.
    Interrupted,
    /// A rank's process ended (crash, kill); `mpiexec` then ends the job.
    RankDied,
}

/// How often a running cell checks for the kernel's interrupt.
const INTERRUPT_POLL: Duration = Duration::from_millis(50);

impl Hub {
    fn new(
        links: Vec<Link>,
        table: PathBuf,
        transfer: PathBuf,
        mpiexec: Child,
        launcher: Launcher,
        interrupted: Arc<AtomicBool>,
    ) -> Result<Hub> {
        let (tx, lines) = crossbeam_channel::unbounded();
        let mut ranks = Vec::new();
        for link in links {
            let rank = link.info.rank;
            spawn_reader(rank, link.control.try_clone()?, tx.clone(), Stream::Control)?;
            spawn_reader(rank, link.stderr, tx.clone(), Stream::Stderr)?;
            ranks.push(RankState {
                mirrored: (!link.info.sees_files).then(HashSet::new),
                info: link.info,
                control: link.control,
                run: Run::default(),
            });
        }
        let hub = Hub {
            ranks,
            lines,
            table,
            mpiexec,
            launcher: Some(launcher),
            interrupted,
            courier: mirror::Courier::new(transfer),
        };
        hub.write_table()?;
        Ok(hub)
    }

    /// Serves evcxr until its input ends, then stops the ranks; or, when a cell lost
    /// the engines, reports it and ends so that evcxr starts a new hub (new engines).
    fn serve(&mut self) -> Result<()> {
        let commands = spawn_stdin_reader()?;
        let end = self.serve_commands(&commands);
        for rank in &self.ranks {
            let _ = rank.control.shutdown(Shutdown::Both);
        }
        match end? {
            Some(lost) => {
                // After a rank died, mpiexec ends the job itself and only then says how
                // the rank ended; an interrupted job is ended at once.
                let patience = match lost {
                    Lost::RankDied => STOP_PATIENCE,
                    Lost::Interrupted => Duration::ZERO,
                };
                stop_mpiexec(&mut self.mpiexec, patience);
                self.report_lost(lost)
            }
            None => {
                stop_mpiexec(&mut self.mpiexec, STOP_PATIENCE);
                let _ = std::fs::remove_file(&self.table);
                Ok(())
            }
        }
    }

    /// Runs cells until evcxr's input ends (`None`) or a cell loses the engines.
    fn serve_commands(&mut self, commands: &Receiver<String>) -> Result<Option<Lost>> {
        loop {
            crossbeam_channel::select! {
                recv(commands) -> command => match command {
                    Ok(command) => match self.run_cell(&command, commands)? {
                        CellEnd::Finished => {}
                        CellEnd::InputClosed => return Ok(None),
                        CellEnd::Lost(lost) => return Ok(Some(lost)),
                    },
                    Err(_) => return Ok(None),
                },
                // Output between cells (a rank's background thread): shown at once.
                recv(self.lines) -> line => {
                    if let Ok((rank, line)) = line {
                        self.on_line(rank, line);
                    }
                }
            }
        }
    }

    /// Sends `command` to every live rank and merges their replies.
    fn run_cell(&mut self, command: &str, commands: &Receiver<String>) -> Result<CellEnd> {
        self.interrupted.store(false, Ordering::Release);
        for rank in &mut self.ranks {
            rank.run = Run::default();
            if rank.info.state == EngineState::Exited {
                continue;
            }
            rank.info.state = EngineState::Busy;
            let sent = match &mut rank.mirrored {
                None => writeln!(rank.control, "{command}").map_err(Into::into),
                Some(sent) => self
                    .courier
                    .send(command, rank.info.rank, sent, &mut rank.control),
            };
            if let Err(error) = sent {
                rank.not_sent(error);
            }
        }
        self.write_table()?;
        let poll = crossbeam_channel::tick(INTERRUPT_POLL);
        while self.ranks.iter().any(|r| !(r.run.ended && r.run.fenced)) {
            crossbeam_channel::select! {
                recv(self.lines) -> line => {
                    let (rank, line) = line.context("every rank connection is gone")?;
                    self.on_line(rank, line);
                }
                recv(commands) -> command => {
                    if command.is_err() {
                        return Ok(CellEnd::InputClosed);
                    }
                }
                recv(poll) -> _ => {
                    if self.interrupted.load(Ordering::Acquire) {
                        return Ok(CellEnd::Lost(Lost::Interrupted));
                    }
                }
            }
        }
        if self.ranks.iter().any(|r| r.run.died) {
            return Ok(CellEnd::Lost(Lost::RankDied));
        }
        self.finish_cell()?;
        Ok(CellEnd::Finished)
    }

    /// Tells the kernel why the engines are gone, without ending the run: evcxr then
    /// sees its child end, restarts it (new engines) and fails the cell, which the
    /// kernel reports with this error.
    fn report_lost(&mut self, lost: Lost) -> Result<()> {
        let endings = self
            .launcher
            .take()
            .map(|launcher| launcher.endings(&self.ranks))
            .unwrap_or_default();
        for rank in &mut self.ranks {
            rank.info.state = EngineState::Exited;
        }
        self.write_table()?;
        let event = lost_error(lost, &self.ranks, &endings);
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", event.to_line())?;
        out.flush()?;
        eprintln!("{FENCE}hub");
        Ok(())
    }

    fn on_line(&mut self, rank: usize, line: FromRank) {
        let state = &mut self.ranks[rank];
        match line {
            FromRank::Control(line) => state.on_control(&line, &self.courier),
            FromRank::Stderr(line) => state.on_stderr(&line),
            FromRank::ControlClosed => state.exited(),
            FromRank::StderrClosed => state.run.fenced = true,
        }
    }

    /// Tells evcxr how the cell went on the ranks, as one child would.
    fn finish_cell(&mut self) -> Result<()> {
        let mut out = std::io::stdout().lock();
        let values: Vec<String> = self
            .ranks
            .iter()
            .flat_map(|r| {
                r.run
                    .content
                    .iter()
                    .filter(|(mime, _)| mime == "text/plain")
                    .map(move |(_, text)| format!("Out[{}]: {text}", r.info.rank))
            })
            .collect();
        if !values.is_empty() {
            writeln!(
                out,
                "{BEGIN_CONTENT}text/plain\n{}\n{END_CONTENT}",
                values.join("\n")
            )?;
        }
        let failures: Vec<(usize, String, String)> = self
            .ranks
            .iter()
            .filter_map(|r| Some((r.info.rank, r.failure()?, r.describe())))
            .collect();
        if !failures.is_empty() {
            writeln!(out, "{}", engine_error(&failures).to_line())?;
        }
        let runs = || self.ranks.iter().map(|r| &r.run);
        if runs().any(|r| r.panicked) {
            writeln!(out, "{PANIC_NOTIFICATION}")?;
        }
        if runs().any(|r| r.question_mark) {
            writeln!(out, "{ERROR_OCCURRED}")?;
        }
        let changed: BTreeSet<&String> = runs().flat_map(|r| &r.changed_types).collect();
        for line in changed {
            writeln!(out, "{line}")?;
        }
        for rank in &mut self.ranks {
            if rank.info.state == EngineState::Busy {
                rank.info.state = EngineState::Idle;
                rank.info.cells += 1;
            }
        }
        self.write_table()?;
        // Behind everything the hub wrote to stderr for this cell (see `child::FENCE`).
        eprintln!("{FENCE}hub");
        writeln!(out, "{EXECUTION_COMPLETE}")?;
        out.flush()?;
        Ok(())
    }

    /// Replaces the table file in one rename, so the kernel never reads half of it.
    fn write_table(&self) -> Result<()> {
        let rows: Vec<&EngineInfo> = self.ranks.iter().map(|r| &r.info).collect();
        let partial = self.table.with_extension("partial");
        std::fs::write(&partial, serde_json::to_vec(&rows)?)
            .with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, &self.table)
            .with_context(|| format!("writing {}", self.table.display()))
    }
}

impl RankState {
    fn on_control(&mut self, line: &str, courier: &mirror::Courier) {
        let run = &mut self.run;
        if run.open_content.is_some() {
            match line {
                END_CONTENT => run.content.extend(run.open_content.take()),
                PANIC_NOTIFICATION => {
                    run.panicked = true;
                    run.open_content = None;
                }
                _ => {
                    if let Some((_, text)) = &mut run.open_content {
                        if !text.is_empty() {
                            text.push('\n');
                        }
                        text.push_str(line);
                    }
                }
            }
            return;
        }
        match line {
            EXECUTION_COMPLETE => run.ended = true,
            PANIC_NOTIFICATION => run.panicked = true,
            ERROR_OCCURRED => run.question_mark = true,
            _ if line.starts_with(VARIABLE_CHANGED_TYPE) => run.changed_types.push(line.into()),
            _ if line.starts_with(BEGIN_CONTENT) => {
                run.open_content = Some((line[BEGIN_CONTENT.len()..].to_string(), String::new()));
            }
            _ => self.on_output(line, courier),
        }
    }

    /// A printed line or a runtime event from the rank.
    fn on_output(&mut self, line: &str, courier: &mirror::Courier) {
        let rank = self.info.rank;
        match Event::parse_line(line) {
            Some((before, event)) => {
                if !before.is_empty() {
                    stream(rank, StreamName::Stdout, format!("{before}\n"));
                }
                match event {
                    // The same failure as evcxr's own `?` line, which is handled.
                    Event::QuestionMarkError => {}
                    Event::Error { evalue, .. } => {
                        self.run.raised.get_or_insert(evalue);
                    }
                    Event::Pulled { data } => {
                        if let Err(error) = courier.receive_pulled(self.info.rank, &data) {
                            let evalue = format!("its pulled value did not arrive: {error:#}");
                            self.run.raised.get_or_insert(evalue);
                        }
                    }
                    Event::TaskWanted { from } => {
                        if let Err(error) = courier.offer_task(rank, from, &mut self.control) {
                            let evalue = format!("a task could not be sent to it: {error:#}");
                            self.run.raised.get_or_insert(evalue);
                        }
                    }
                    Event::TaskEnded { data } => {
                        if let Err(error) = courier.record_task(&data) {
                            let evalue = format!("a task's outcome was lost: {error:#}");
                            self.run.raised.get_or_insert(evalue);
                        }
                    }
                    other => emit(&other),
                }
            }
            None => stream(rank, StreamName::Stdout, format!("{line}\n")),
        }
    }

    fn on_stderr(&mut self, line: &str) {
        if line.starts_with(FENCE) {
            self.run.fenced = true;
            return;
        }
        self.run.stderr.push_str(line);
        self.run.stderr.push('\n');
        stream(self.info.rank, StreamName::Stderr, format!("{line}\n"));
    }

    /// The cell could not be sent to this rank: it fails there, with why. A rank whose
    /// connection is gone is also reported gone by its reader.
    fn not_sent(&mut self, error: anyhow::Error) {
        self.info.state = EngineState::Idle;
        self.run.raised = Some(format!(
            "the cell could not be sent to this engine: {error:#}"
        ));
        self.run.ended = true;
        self.run.fenced = true;
    }

    fn exited(&mut self) {
        let was_busy = self.info.state == EngineState::Busy;
        self.info.state = EngineState::Exited;
        self.run.ended = true;
        self.run.fenced = true;
        self.run.died = was_busy;
    }

    /// Why this rank's run failed, if it did.
    fn failure(&self) -> Option<String> {
        let run = &self.run;
        if let Some(raised) = &run.raised {
            return Some(raised.clone());
        }
        let lines: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        if run.panicked {
            let message = lines
                .iter()
                .position(|l| l.contains("panicked at"))
                .and_then(|at| lines.get(at + 1))
                .map_or("(no message)", |m| m);
            return Some(format!("panic: {message}"));
        }
        if run.question_mark {
            return Some(
                lines
                    .last()
                    .map_or("the cell returned an error", |l| l)
                    .to_string(),
            );
        }
        None
    }

    /// `rank 1 (pid 4242 on node7)`.
    fn describe(&self) -> String {
        format!(
            "rank {} (pid {} on {})",
            self.info.rank, self.info.pid, self.info.host
        )
    }
}

/// The cell's error: every failing rank, each with why.
fn engine_error(failures: &[(usize, String, String)]) -> Event {
    let traceback: Vec<String> = failures
        .iter()
        .map(|(_, why, who)| format!("{who}: {why}"))
        .collect();
    let evalue = match failures {
        [(_, why, who)] => format!("{who} failed: {why}"),
        _ => format!(
            "{} engines failed; first {}: {}",
            failures.len(),
            failures[0].2,
            failures[0].1
        ),
    };
    Event::Error {
        ename: "EngineError".into(),
        evalue,
        traceback,
    }
}

/// The error of a cell that lost the engines: why, which ranks ended and how (as
/// `mpiexec` said), and what is lost and kept.
fn lost_error(lost: Lost, ranks: &[RankState], endings: &BTreeMap<usize, String>) -> Event {
    let restart = "the engines are restarting: every engine's variables are lost (the \
                   notebook's are kept)";
    // Ranks mpiexec reports first: it names the one that ended on its own, and ends
    // the job's other ranks after it.
    let mut ended: Vec<&RankState> = ranks
        .iter()
        .filter(|r| r.run.died || endings.contains_key(&r.info.rank))
        .collect();
    ended.sort_by_key(|r| !endings.contains_key(&r.info.rank));
    let mut traceback: Vec<String> = ended
        .iter()
        .map(|r| match endings.get(&r.info.rank) {
            Some(how) => format!("{} {how}", r.describe()),
            None => format!("{}: its process ended", r.describe()),
        })
        .collect();
    let (ename, evalue) = match lost {
        Lost::Interrupted => (
            "KeyboardInterrupt",
            format!("interrupted: the engines were stopped to end the cell; {restart}"),
        ),
        Lost::RankDied => {
            // The rank mpiexec names first is the one that ended on its own; the job's
            // other ranks are ended by mpiexec after it.
            let first = traceback
                .first()
                .cloned()
                .unwrap_or_else(|| "an engine's process ended".into());
            (
                "EngineDied",
                format!("{first} while running the cell; {restart}"),
            )
        }
    };
    traceback.insert(0, evalue.clone());
    Event::Error {
        ename: ename.into(),
        evalue,
        traceback,
    }
}

/// Shows a rank's printed text as `[stdout:r]`/`[stderr:r]`.
fn stream(rank: usize, name: StreamName, text: String) {
    emit(&Event::Stream {
        worker: rank,
        name,
        text,
    });
}

/// Writes an event line to evcxr (the hub's stdout).
fn emit(event: &Event) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", event.to_line()).and_then(|()| out.flush());
}

/// evcxr's commands, line by line; the channel closes at the end of input.
fn spawn_stdin_reader() -> Result<Receiver<String>> {
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::Builder::new()
        .name("rustpx-hub-stdin".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                // A cell library reused from the build cache exports another run's entry
                // point; the ranks run evcxr's loop as it is, so the hub applies the alias.
                let line = match crate::cell_build::alias::resolve(line.as_bytes()) {
                    Some(aliased) => String::from_utf8_lossy(&aliased).trim_end().to_string(),
                    None => line,
                };
                if tx.send(line).is_err() {
                    break;
                }
            }
        })?;
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_round_trips() {
        let hello = Hello {
            token: "ab12".into(),
            rank: 3,
            stream: Stream::Stderr,
            pid: 42,
            sees_files: false,
            host: "node7".into(),
        };
        assert_eq!(Hello::parse(&hello.to_line()), Some(hello));
        assert_eq!(Hello::parse("ab12 x control 1 sees h"), None);
        assert_eq!(Hello::parse("ab12 1 sideways 1 sees h"), None);
        assert_eq!(Hello::parse("ab12 1 control 1 maybe h"), None);
    }

    fn rank_state() -> RankState {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let control = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        RankState {
            info: EngineInfo {
                rank: 1,
                host: "h".into(),
                pid: 7,
                state: EngineState::Busy,
                cells: 0,
                sees_files: true,
            },
            control,
            run: Run::default(),
            mirrored: None,
        }
    }

    #[test]
    fn a_rank_run_is_parsed_into_values_and_failures() {
        let mut state = rank_state();
        for line in [
            "EVCXR_BEGIN_CONTENT text/plain",
            "42",
            "EVCXR_END_CONTENT",
            "EVCXR_EXECUTION_COMPLETE",
        ] {
            state.on_control(line, &mirror::Courier::new(PathBuf::new()));
        }
        assert!(state.run.ended);
        assert_eq!(state.run.content, [("text/plain".into(), "42".into())]);
        assert_eq!(state.failure(), None);

        let mut state = rank_state();
        state.on_stderr("thread 'main' panicked at src/lib.rs:3:5:");
        state.on_stderr("boom");
        state.on_control(PANIC_NOTIFICATION, &mirror::Courier::new(PathBuf::new()));
        assert_eq!(state.failure().as_deref(), Some("panic: boom"));
        assert_eq!(state.describe(), "rank 1 (pid 7 on h)");

        let mut state = rank_state();
        state.exited();
        assert!(state.run.ended && state.run.fenced && state.run.died);
    }

    #[test]
    fn a_lost_cell_names_the_rank_that_ended_first() {
        let mut died = rank_state();
        died.run.died = true;
        let endings = BTreeMap::from([(1, "exited on signal 9 (Killed)".to_string())]);
        let Event::Error { ename, evalue, .. } = lost_error(Lost::RankDied, &[died], &endings)
        else {
            panic!("not an error")
        };
        assert_eq!(ename, "EngineDied");
        assert!(
            evalue.starts_with("rank 1 (pid 7 on h) exited on signal 9 (Killed) while running"),
            "{evalue}"
        );
        assert!(evalue.ends_with("(the notebook's are kept)"), "{evalue}");
    }

    #[test]
    fn the_error_names_every_failing_rank() {
        let failures = [
            (0, "panic: a".to_string(), "rank 0 (pid 1 on h)".to_string()),
            (2, "oops".to_string(), "rank 2 (pid 3 on h)".to_string()),
        ];
        let Event::Error {
            ename,
            evalue,
            traceback,
        } = engine_error(&failures)
        else {
            panic!("not an error")
        };
        assert_eq!(ename, "EngineError");
        assert_eq!(
            evalue,
            "2 engines failed; first rank 0 (pid 1 on h): panic: a"
        );
        assert_eq!(traceback[1], "rank 2 (pid 3 on h): oops");
    }
}
