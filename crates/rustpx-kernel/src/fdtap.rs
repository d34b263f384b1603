//! Reading what a process writes to one of its own file descriptors, line by line.
//!
//! Used twice: in evcxr's child process, to notice evcxr's `?`-error line on stdout
//! (see [`super::child`]), and in the kernel, to show cargo's "Compiling …" progress,
//! which evcxr writes to the kernel's stderr, in the notebook.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, RawFd};

/// Replaces `fd` by a pipe whose lines are handed to `on_line` on a background thread,
/// together with a writer to the original destination (which `on_line` normally writes
/// the line to). Lines keep their order; a final unterminated line is passed on at EOF.
pub fn tap<F>(fd: RawFd, mut on_line: F) -> std::io::Result<()>
where
    F: FnMut(&[u8], &mut File) + Send + 'static,
{
    // SAFETY: plain fd syscalls on descriptors this function owns; every return value is
    // checked before the descriptor is used.
    let (original, read_end) = unsafe {
        let original = libc::dup(fd);
        if original < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut ends = [0; 2];
        if libc::pipe(ends.as_mut_ptr()) != 0 {
            libc::close(original);
            return Err(std::io::Error::last_os_error());
        }
        if libc::dup2(ends[1], fd) < 0 {
            let error = std::io::Error::last_os_error();
            libc::close(original);
            libc::close(ends[0]);
            libc::close(ends[1]);
            return Err(error);
        }
        libc::close(ends[1]);
        (File::from_raw_fd(original), File::from_raw_fd(ends[0]))
    };
    std::thread::Builder::new()
        .name(format!("rustpx-fdtap-{fd}"))
        .spawn(move || {
            let mut original = original;
            let mut reader = BufReader::new(read_end);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        on_line(&line, &mut original);
                        let _ = original.flush();
                    }
                }
            }
        })?;
    Ok(())
}
