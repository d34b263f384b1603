//! Reading what a process writes to one of its own file descriptors, line by line.
//!
//! Used in evcxr's child process, to notice evcxr's `?`-error line on stdout and to apply
//! a reused cell library's entry-point alias to evcxr's commands on stdin (see
//! [`super::child`]), and in the kernel, to show cargo's "Compiling …" progress, which
//! evcxr writes to the kernel's stderr, in the notebook.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{FromRawFd, RawFd};

/// Replaces `fd` by a pipe whose lines are handed to `on_line` on a background thread,
/// together with a writer to the original destination (which `on_line` normally writes
/// the line to). Lines keep their order; a final unterminated line is passed on at EOF.
pub fn tap<F>(fd: RawFd, on_line: F) -> std::io::Result<()>
where
    F: FnMut(&[u8], &mut File) + Send + 'static,
{
    interpose(fd, Direction::Written, on_line)
}

/// Replaces input `fd` by a pipe fed by a background thread: each line read from the
/// original source is handed to `on_line` with a writer to what the process now reads
/// (which `on_line` normally writes the line to). At EOF of the source the process sees
/// EOF too.
pub fn tap_input<F>(fd: RawFd, on_line: F) -> std::io::Result<()>
where
    F: FnMut(&[u8], &mut File) + Send + 'static,
{
    interpose(fd, Direction::Read, on_line)
}

/// Whether the process writes or reads the tapped descriptor.
#[derive(Clone, Copy)]
enum Direction {
    Written,
    Read,
}

fn interpose<F>(fd: RawFd, direction: Direction, mut on_line: F) -> std::io::Result<()>
where
    F: FnMut(&[u8], &mut File) + Send + 'static,
{
    // SAFETY: plain fd syscalls on descriptors this function owns; every return value is
    // checked before the descriptor is used.
    let (original, ours) = unsafe {
        let original = libc::dup(fd);
        if original < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut ends = [0; 2];
        if libc::pipe(ends.as_mut_ptr()) != 0 {
            libc::close(original);
            return Err(std::io::Error::last_os_error());
        }
        // The process keeps using `fd`, now the pipe's end in its direction.
        let (ours, theirs) = match direction {
            Direction::Written => (ends[0], ends[1]),
            Direction::Read => (ends[1], ends[0]),
        };
        if libc::dup2(theirs, fd) < 0 {
            let error = std::io::Error::last_os_error();
            libc::close(original);
            libc::close(ends[0]);
            libc::close(ends[1]);
            return Err(error);
        }
        libc::close(theirs);
        (File::from_raw_fd(original), File::from_raw_fd(ours))
    };
    let (source, mut sink) = match direction {
        Direction::Written => (ours, original),
        Direction::Read => (original, ours),
    };
    std::thread::Builder::new()
        .name(format!("rustpx-fdtap-{fd}"))
        .spawn(move || {
            for_each_line(source, |line| {
                on_line(line, &mut sink);
                let _ = sink.flush();
                true
            })
        })?;
    Ok(())
}

/// Hands each line read from `source` (with its terminator; a final unterminated line at
/// EOF) to `on_line`, until EOF, a read error, or `on_line` returns `false`.
pub fn for_each_line(source: impl Read, mut on_line: impl FnMut(&[u8]) -> bool) {
    let mut reader = BufReader::new(source);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if !on_line(&line) => break,
            Ok(_) => {}
        }
    }
}
