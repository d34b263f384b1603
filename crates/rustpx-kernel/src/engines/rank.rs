//! An engine: one MPI rank, started by `mpiexec`, that runs evcxr's own cell loop.
//!
//! The rank connects twice to the hub (see [`super::hub`]) and puts those connections
//! where evcxr's child expects its pipes: the first on stdin and stdout (the hub's
//! `LOAD_AND_RUN` lines in, the cell's output and evcxr's markers out), the second on
//! stderr (on a host that cannot see the kernel's files, stdin is fed by [`mirror`]
//! instead, which keeps the files the hub sends). Then it is evcxr's child like any
//! other, with its own variable store, set up as the kernel's child is
//! (`child::prepare`: the output fence and the `?`-error marker).
//!
//! A rank must not outlive the hub: a lifeline thread waits for the hub's end of the
//! connection to close and ends the process at once, even while a cell is busy.

use super::hub::{CONNECT_ENV, Hello, Stream, TOKEN_ENV};
use super::mirror;
use std::io::Write;
use std::net::TcpStream;
use std::os::fd::AsRawFd;

/// How long a rank whose hub is gone may take to end by itself.
const LIFELINE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Environment variables that hold this process's rank, per MPI implementation.
const RANK_ENVS: &[&str] = &["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"];

/// Whether this process was started by the hub's `mpiexec` as an engine.
pub fn is_rank() -> bool {
    std::env::var_os(CONNECT_ENV).is_some()
}

/// Connects to the hub and runs evcxr's cell loop; never returns.
pub fn run() -> ! {
    let mirror = mirror::rank_mirror();
    if let Some(dir) = &mirror
        && let Err(error) = mirror::restart_with(dir).and_then(|()| mirror::hold(dir))
    {
        eprintln!("rustpx engine on {}: {error:#}", hostname());
        std::process::exit(2);
    }
    match connect(mirror) {
        Ok(()) => {
            super::super::child::prepare();
            spawn_lifeline();
            evcxr::runtime_hook();
            eprintln!("rustpx engine: evcxr's cell loop did not start (EVCXR_IS_RUNTIME unset)");
            std::process::exit(2);
        }
        Err(error) => {
            eprintln!("rustpx engine: {error}");
            std::process::exit(2);
        }
    }
}

/// Opens both connections and moves them onto fds 0, 1 and 2.
/// `mirror`: where this rank keeps the files it is sent, if it cannot see the kernel's.
fn connect(mirror: Option<std::path::PathBuf>) -> Result<(), String> {
    let address = std::env::var(CONNECT_ENV).map_err(|_| format!("{CONNECT_ENV} is not set"))?;
    let token = std::env::var(TOKEN_ENV).map_err(|_| format!("{TOKEN_ENV} is not set"))?;
    let rank = RANK_ENVS
        .iter()
        .find_map(|name| std::env::var(name).ok()?.parse::<usize>().ok())
        .ok_or_else(|| format!("no MPI rank in the environment (looked at {RANK_ENVS:?})"))?;
    let host = hostname();
    let open = |stream: Stream| -> Result<TcpStream, String> {
        let mut socket = TcpStream::connect(&address).map_err(|e| {
            format!("rank {rank} on {host}: cannot reach the hub at {address}: {e}")
        })?;
        let hello = Hello {
            token: token.clone(),
            rank,
            stream,
            pid: std::process::id(),
            sees_files: mirror.is_none(),
            host: host.clone(),
        };
        writeln!(socket, "{}", hello.to_line())
            .map_err(|e| format!("rank {rank}: greeting the hub: {e}"))?;
        Ok(socket)
    };
    let control = open(Stream::Control)?;
    let errors = open(Stream::Stderr)?;
    let control_input = control
        .try_clone()
        .map_err(|e| format!("rank {rank}: {e}"))?;
    let input: std::os::fd::OwnedFd = match mirror {
        None => control_input.into(),
        Some(dir) => mirror::receive(control_input, dir)
            .map_err(|e| format!("rank {rank} on {host}: {e:#}"))?,
    };
    let moves = [
        (input.as_raw_fd(), 0),
        (control.as_raw_fd(), 1),
        (errors.as_raw_fd(), 2),
    ];
    for (from, fd) in moves {
        // SAFETY: dup2 of a descriptor this process owns onto a standard one; no other
        // thread reads or writes the standard streams yet (the mirror's thread writes to
        // stderr only on an error, and a line there is whole on either side of the swap).
        if unsafe { libc::dup2(from, fd) } < 0 {
            return Err(format!(
                "rank {rank}: dup2 onto fd {fd}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    // The duplicates on fds 0-2 keep the connections open.
    drop((input, control, errors));
    Ok(())
}

/// The host name, as the engine table shows it.
pub fn hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is writable for its whole length, which is passed.
    let ok = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) } == 0;
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    if ok {
        String::from_utf8_lossy(&buffer[..end]).into_owned()
    } else {
        "localhost".into()
    }
}

/// Ends the process when the hub closes the control connection (the kernel stopped the
/// engines, shut down or died), whatever the rank is doing.
fn spawn_lifeline() {
    let spawned = std::thread::Builder::new()
        .name("rustpx-lifeline".into())
        .spawn(|| {
            loop {
                let mut poll = libc::pollfd {
                    fd: 0,
                    events: libc::POLLRDHUP,
                    revents: 0,
                };
                // SAFETY: one valid pollfd, its count, no timeout; only reads fd 0's state
                // (POLLIN is not asked for, so the cell loop's input is left alone).
                let ready = unsafe { libc::poll(&mut poll, 1, -1) };
                let gone = libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL;
                if ready > 0 && poll.revents & gone != 0 {
                    // An idle rank ends by itself when its cell loop reads the end of
                    // input, finalising MPI; the grace period leaves it the time to.
                    std::thread::sleep(LIFELINE_GRACE);
                    // SAFETY: ends the process without running exit handlers, which could
                    // block on the busy cell's locks or on MPI.
                    unsafe { libc::_exit(0) };
                }
            }
        });
    if let Err(e) = spawned {
        eprintln!("rustpx engine: no lifeline thread ({e}); a busy rank may outlive the hub");
    }
}
