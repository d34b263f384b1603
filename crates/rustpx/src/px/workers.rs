//! `:workers [N]`: the table of workers, and restarting the default client.

use crate::display::{RichDisplay, Table, print_evcxr};
use crate::protocol::MimeBundle;
use crate::{Error, WorkerStats};

/// The workers of the active view's client, as `:workers` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkersTable {
    /// One entry per worker.
    pub workers: Vec<WorkerStats>,
    /// A line about what was done (a restart).
    pub note: Option<String>,
}

/// The workers `:px` runs on (the active view's client): id, tasks done, busy or idle.
///
/// # Errors
/// If the default client cannot be started.
pub fn workers() -> Result<WorkersTable, Error> {
    let client = crate::active_view()?.client().clone();
    Ok(WorkersTable {
        workers: client.worker_stats(),
        note: None,
    })
}

/// Restarts the default client with `n` workers (`:workers N`) and shows them.
///
/// # Errors
/// [`Error::NoWorkers`] for `n == 0`, or if threads cannot be started.
pub fn set_workers(n: usize) -> Result<WorkersTable, Error> {
    let client = crate::set_default_workers(n)?;
    let active = crate::active_view()?;
    let note = if active.client().same_as(&client) {
        format!("restarted the default client with {n} workers")
    } else {
        format!(
            "restarted the default client with {n} workers; :px still runs on the activated \
             view's {} workers",
            active.len()
        )
    };
    Ok(WorkersTable {
        workers: client.worker_stats(),
        note: Some(note),
    })
}

impl WorkersTable {
    fn table(&self) -> Table {
        let mut table = Table::new(["worker", "tasks done", "state"]);
        for w in &self.workers {
            table.push_row([
                w.id.to_string(),
                w.tasks_done.to_string(),
                if w.busy { "busy" } else { "idle" }.to_string(),
            ]);
        }
        match &self.note {
            Some(note) => table.caption(note.clone()),
            None => table,
        }
    }

    /// Shows the table as a cell's result in evcxr.
    pub fn evcxr_display(&self) {
        print_evcxr(&self.mime_bundle());
    }
}

impl RichDisplay for WorkersTable {
    fn mime_bundle(&self) -> MimeBundle {
        self.table().mime_bundle()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_a_row_per_worker() {
        let t = WorkersTable {
            workers: vec![
                WorkerStats {
                    id: 0,
                    tasks_done: 3,
                    busy: false,
                },
                WorkerStats {
                    id: 1,
                    tasks_done: 0,
                    busy: true,
                },
            ],
            note: Some("restarted".into()),
        };
        let text = t.table().text();
        assert!(
            text.contains("busy") && text.contains("idle") && text.contains("restarted"),
            "{text}"
        );
        assert_eq!(t.table().len(), 2);
    }
}
