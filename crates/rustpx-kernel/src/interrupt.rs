//! Interrupting a cell without losing the notebook's state.
//!
//! The child runs in its own process group and the runtime's prelude handles `SIGUSR1`
//! (interrupt) and `SIGUSR2` (clear). An interrupt sends `SIGUSR1`: a cell waiting in
//! the runtime returns an error and every variable is kept. A cell that has not ended
//! after the grace period (user code that never waits, such as a busy loop) gets its
//! process group killed; evcxr then restarts the child and the cell's error says that
//! the variables were lost. When a cell ends, `SIGUSR2` drops an interrupt that was never
//! consumed so it cannot fail a later cell.

use evcxr::CommandContext;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::time::Duration;

/// Grace period between the interrupt signal and killing the child.
/// `RUSTPX_INTERRUPT_GRACE_MS` overrides the default of 3 s.
fn grace() -> Duration {
    std::env::var("RUSTPX_INTERRUPT_GRACE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(3), Duration::from_millis)
}

/// The running cell and the child process to signal.
#[derive(Default)]
pub struct Interrupter {
    pid: AtomicI32,
    /// Sequence number of the running cell; 0 when none runs.
    running: AtomicU64,
    next: AtomicU64,
    killed: AtomicBool,
}

impl Interrupter {
    /// Records the child of a context whose prelude (signal handlers) has run.
    pub fn attach(&self, ctx: &CommandContext) {
        self.refresh_pid(ctx);
    }

    /// Updates the child's pid; returns whether it changed (evcxr restarted the child).
    pub fn refresh_pid(&self, ctx: &CommandContext) -> bool {
        let Ok(child) = ctx.process_handle().lock().map(|c| c.id() as i32) else {
            return false;
        };
        self.pid.swap(child, Ordering::AcqRel) != child
    }

    /// Points the interrupt at process `pid` (and its group) instead; returns the pid it
    /// was pointed at, to put back. The engines' hub takes interrupts while an engine
    /// cell runs.
    pub fn swap_pid(&self, pid: i32) -> i32 {
        self.pid.swap(pid, Ordering::AcqRel)
    }

    /// Marks a cell as running; returns its sequence number for [`Interrupter::end`].
    pub fn begin(&self) -> u64 {
        let cell = self.next.fetch_add(1, Ordering::AcqRel) + 1;
        self.killed.store(false, Ordering::Release);
        self.running.store(cell, Ordering::Release);
        cell
    }

    /// Marks the cell as ended, clears any unconsumed interrupt in the child, and
    /// returns whether the cell's process had to be killed.
    pub fn end(&self, cell: u64) -> bool {
        let _ = self
            .running
            .compare_exchange(cell, 0, Ordering::AcqRel, Ordering::Acquire);
        self.signal(rustpx::protocol::CLEAR_SIGNAL);
        self.killed.load(Ordering::Acquire)
    }

    /// Interrupts the running cell, if any; see the module documentation.
    pub fn interrupt(self: &Arc<Self>) {
        let cell = self.running.load(Ordering::Acquire);
        if cell == 0 {
            return;
        }
        self.signal(rustpx::protocol::INTERRUPT_SIGNAL);
        let this = self.clone();
        let _ = std::thread::Builder::new()
            .name("rustpx-interrupt".into())
            .spawn(move || {
                std::thread::sleep(grace());
                if this.running.load(Ordering::Acquire) == cell {
                    tracing::warn!("cell still running after the grace period: killing it");
                    this.killed.store(true, Ordering::Release);
                    this.kill_child();
                }
            });
    }

    /// Kills the child's process group (a cell past its grace period, kernel shutdown).
    /// Before a child is known the pid is 0, and `kill(-0)` would kill the kernel's own
    /// group: then nothing is sent.
    pub fn kill_child(&self) {
        if let Some(group) = child_group(self.pid.load(Ordering::Acquire)) {
            // SAFETY: kill(2) on the child's own process group (its pid, see
            // `session::new_context`'s process_group(0)).
            unsafe { libc::kill(group, libc::SIGKILL) };
        }
    }

    fn signal(&self, signal: i32) {
        let pid = self.pid.load(Ordering::Acquire);
        if pid > 0 {
            // SAFETY: kill(2) with a pid this kernel spawned.
            unsafe { libc::kill(pid, signal) };
        }
    }
}

/// The argument of kill(2) that names the process group led by `pid`, if `pid` is a
/// child's (`kill(0)` and `kill(-0)` would name the kernel's own group).
fn child_group(pid: i32) -> Option<i32> {
    (pid > 0).then_some(-pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_known_child_has_a_group_to_kill() {
        assert_eq!(child_group(0), None);
        assert_eq!(child_group(-5), None);
        assert_eq!(child_group(4242), Some(-4242));
    }

    #[test]
    fn an_interrupt_with_no_cell_running_does_nothing() {
        let interrupter = Arc::new(Interrupter::default());
        interrupter.interrupt();
        let cell = interrupter.begin();
        assert!(!interrupter.end(cell), "nothing was killed");
    }
}
