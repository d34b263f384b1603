//! Rich display of the runtime's values when they are a cell's value:
//! [`AsyncResult`] and [`AsyncMapResult`] (state, progress, wall and serial time,
//! speedup), [`PerWorker`] (one row per worker) and [`TaskErrors`] (one row per
//! failed task).

use super::format::{format_duration, truncate};
use super::rich::{RichDisplay, TEXT_PLAIN, bundle};
use super::table::Table;
use crate::protocol::MimeBundle;
use crate::result::Tracker;
use crate::{AsyncMapResult, AsyncResult, PerWorker, State, TaskError, TaskErrors};
use std::fmt::Debug;
use std::time::Duration;

/// The longest a value's text may be in a per-worker table.
const MAX_VALUE_CHARS: usize = 1000;

/// How many failures a result summary lists before "… and N more".
const ERRORS_SHOWN: usize = 5;

/// What a result summary shows, read once from the result's public accessors.
struct Summary {
    kind: &'static str,
    state: State,
    done: usize,
    total: usize,
    elapsed: Duration,
    wall: Option<Duration>,
    serial: Duration,
    speedup: Option<f64>,
    workers: usize,
    errors: Vec<TaskError>,
}

impl Summary {
    fn of(kind: &'static str, tracker: &Tracker) -> Summary {
        Summary {
            kind,
            state: tracker.state(),
            done: tracker.progress(),
            total: tracker.len(),
            elapsed: tracker.elapsed(),
            wall: tracker.wall_time(),
            serial: tracker.serial_time(),
            speedup: tracker.speedup(),
            workers: tracker.targets().len(),
            errors: tracker.errors(),
        }
    }

    /// The wall time once done, the time so far while running.
    fn time(&self) -> String {
        match self.wall {
            Some(wall) => format!("wall {}", format_duration(wall)),
            None => format!("{} elapsed", format_duration(self.elapsed)),
        }
    }

    fn text(&self) -> String {
        let time = self.time();
        let mut line = format!(
            "<{}: {:?}, {}/{} tasks on {} worker{}, {time}, serial {}",
            self.kind,
            self.state,
            self.done,
            self.total,
            self.workers,
            if self.workers == 1 { "" } else { "s" },
            format_duration(self.serial)
        );
        if let Some(s) = self.speedup {
            line += &format!(", speedup {s:.2}x");
        }
        if !self.errors.is_empty() {
            line += &format!(", {} failed", self.errors.len());
        }
        line.push('>');
        for e in self.errors.iter().take(ERRORS_SHOWN) {
            line += &format!("\n  {e}");
        }
        if self.errors.len() > ERRORS_SHOWN {
            line += &format!("\n  ... and {} more", self.errors.len() - ERRORS_SHOWN);
        }
        line
    }

    fn html(&self) -> String {
        let color = match self.state {
            State::Done => "#2ca02c",
            State::Failed | State::Aborted => "#d62728",
            _ => "#1f77b4",
        };
        let percent = if self.total == 0 {
            100.0
        } else {
            100.0 * self.done as f64 / self.total as f64
        };
        let time = self.time();
        let mut html = format!(
            "<div class=\"rustpx-result\"><b>{}</b> <span style=\"color:{color}\">{:?}</span> \
             <span style=\"display:inline-block;width:120px;height:0.8em;background:#eee;vertical-align:middle\">\
             <span style=\"display:block;width:{percent:.0}%;height:100%;background:{color}\"></span></span> \
             {}/{} tasks on {} worker{} · {time} · serial {}",
            self.kind,
            self.state,
            self.done,
            self.total,
            self.workers,
            if self.workers == 1 { "" } else { "s" },
            format_duration(self.serial)
        );
        if let Some(s) = self.speedup {
            html += &format!(" · speedup <b>{s:.2}x</b>");
        }
        html += "</div>";
        if !self.errors.is_empty() {
            html += &errors_table(&self.errors, self.total).html();
        }
        html
    }

    fn bundle(&self) -> MimeBundle {
        bundle([("text/html", self.html()), (TEXT_PLAIN, self.text())])
    }
}

/// One row per failed task (the first [`ERRORS_SHOWN`] × 4, then a count), so a map in
/// which every one of 100,000 tasks failed still renders quickly.
fn errors_table(errors: &[TaskError], total: usize) -> Table {
    const ROWS: usize = ERRORS_SHOWN * 4;
    let mut table = Table::new(["task", "worker", "failure", "message", "location"])
        .caption(format!("{} of {total} tasks failed", errors.len()));
    for e in errors.iter().take(ROWS) {
        table.push_row([
            e.task.to_string(),
            e.worker.map_or_else(|| "-".to_string(), |w| w.to_string()),
            e.kind.to_string(),
            truncate(&e.message, MAX_VALUE_CHARS),
            e.location.clone().unwrap_or_default(),
        ]);
    }
    if errors.len() > ROWS {
        table.push_row([
            "…".to_string(),
            String::new(),
            format!("and {} more", errors.len() - ROWS),
        ]);
    }
    table
}

impl<T> RichDisplay for AsyncResult<T> {
    /// State, done/total, wall (or elapsed) and serial time, speedup, and failures.
    fn mime_bundle(&self) -> MimeBundle {
        Summary::of("AsyncResult", self.tracker()).bundle()
    }
}

impl<T> AsyncResult<T> {
    /// Prints the result's summary in evcxr's format, so that a notebook shows it
    /// (state, progress, times, speedup) when it is a cell's final value.
    pub fn evcxr_display(&self) {
        super::print_evcxr(&self.mime_bundle());
    }
}

impl<R: Send + 'static> RichDisplay for AsyncMapResult<R> {
    /// State, done/total, wall (or elapsed) and serial time, speedup, and failures.
    fn mime_bundle(&self) -> MimeBundle {
        Summary::of("AsyncMapResult", self.tracker()).bundle()
    }
}

impl<R: Send + 'static> AsyncMapResult<R> {
    /// Prints the result's summary in evcxr's format, so that a notebook shows it
    /// (state, progress, times, speedup) when it is a cell's final value.
    pub fn evcxr_display(&self) {
        super::print_evcxr(&self.mime_bundle());
    }
}

impl<T: Debug> RichDisplay for PerWorker<T> {
    /// A table with one row per worker (values as `Debug`, long ones cut), and
    /// ipyparallel's `Out[w]: value` lines as text.
    fn mime_bundle(&self) -> MimeBundle {
        let mut table = Table::new(["worker", "value"]);
        let mut text = Vec::with_capacity(self.len());
        for (id, value) in self.pairs() {
            let shown = truncate(&format!("{value:?}"), MAX_VALUE_CHARS);
            text.push(format!("Out[{id}]: {shown}"));
            table.push_row([id.to_string(), shown]);
        }
        // Values are code-like (Debug), so show them in a monospace font.
        let html = table.html().replace(
            "<td>",
            "<td style=\"font-family:monospace;text-align:left\">",
        );
        bundle([("text/html", html), (TEXT_PLAIN, text.join("\n"))])
    }
}

impl<T: Debug> PerWorker<T> {
    /// Prints the per-worker table in evcxr's format, so that a notebook shows one
    /// row per worker when this is a cell's final value.
    pub fn evcxr_display(&self) {
        super::print_evcxr(&self.mime_bundle());
    }
}

impl RichDisplay for TaskErrors {
    /// One row per failed task: task, worker, kind, message, location.
    fn mime_bundle(&self) -> MimeBundle {
        let html = errors_table(self.errors(), self.total()).html();
        bundle([("text/html", html), (TEXT_PLAIN, self.to_string())])
    }
}

impl TaskErrors {
    /// Prints the failures as a table in evcxr's format, so that a notebook shows one
    /// row per failed task when this is a cell's final value.
    pub fn evcxr_display(&self) {
        super::print_evcxr(&self.mime_bundle());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Client;

    #[test]
    fn map_results_show_state_times_and_speedup() {
        let rc = Client::local(2).unwrap();
        let amr = rc.load_balanced_view().map_async(0..10u32, |i| i * 2);
        amr.wait().unwrap();
        let b = amr.mime_bundle();
        let text = b["text/plain"].as_str().unwrap();
        assert!(
            text.starts_with("<AsyncMapResult: Done, 10/10 tasks on 2 workers, wall "),
            "{text}"
        );
        assert!(text.contains("speedup"), "{text}");
        let html = b["text/html"].as_str().unwrap();
        assert!(
            html.contains("<b>AsyncMapResult</b>") && html.contains("10/10 tasks"),
            "{html}"
        );
        assert!(
            !html.contains("<table"),
            "no failure table when nothing failed"
        );
    }

    #[test]
    fn failed_results_list_their_errors() {
        let rc = Client::local(2).unwrap();
        let amr = rc.load_balanced_view().map_async(0..30u32, |i| {
            assert!(i % 3 != 0, "item <{i}> rejected");
            i
        });
        amr.wait().unwrap();
        let b = amr.mime_bundle();
        let text = b["text/plain"].as_str().unwrap();
        assert!(
            text.contains("Failed, 30/30 tasks") && text.contains(", 10 failed>"),
            "{text}"
        );
        assert!(
            text.contains("\n  task 0 on worker") && text.ends_with("... and 5 more"),
            "{text}"
        );
        let html = b["text/html"].as_str().unwrap();
        assert!(
            html.contains("<caption>10 of 30 tasks failed</caption>"),
            "{html}"
        );
        assert!(
            html.contains("item &lt;3&gt; rejected"),
            "messages are escaped: {html}"
        );
        assert!(
            html.contains("runtime_values.rs:"),
            "panic location shown: {html}"
        );

        let ar = rc.load_balanced_view().apply_async(|| 5);
        ar.wait().unwrap();
        assert!(
            ar.mime_bundle()["text/plain"]
                .as_str()
                .unwrap()
                .starts_with("<AsyncResult: Done, 1/1 tasks on")
        );
    }

    #[test]
    fn per_worker_values_are_one_row_each() {
        let rc = Client::local(3).unwrap();
        let parts = rc
            .view((0..).step_by(2))
            .unwrap()
            .apply(|w| format!("w{}", w.id()))
            .unwrap();
        let b = parts.mime_bundle();
        assert_eq!(b["text/plain"], "Out[0]: \"w0\"\nOut[2]: \"w2\"");
        let html = b["text/html"].as_str().unwrap();
        assert_eq!(
            html.matches("<tr>").count(),
            3,
            "header + one row per worker: {html}"
        );
        assert!(html.contains("&quot;w2&quot;"));
        let big = rc.direct_view().push(vec![0u8; 10_000]);
        let text = big.mime_bundle()["text/plain"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            text.len() < 4000 && text.contains("chars)"),
            "long values are cut"
        );
    }

    #[test]
    fn task_errors_table_has_one_row_per_failure_and_a_count_beyond() {
        let errors: Vec<TaskError> = (0..25)
            .map(|t| {
                let mut e = TaskError::new(
                    Some(t % 2),
                    t,
                    crate::TaskErrorKind::Panic,
                    format!("boom {t}"),
                );
                e.location = Some(format!("src/lib.rs:{t}:1"));
                e
            })
            .collect();
        let b = TaskErrors::new(errors, 100).mime_bundle();
        let html = b["text/html"].as_str().unwrap();
        assert_eq!(html.matches("<tr>").count(), 1 + 20 + 1, "{html}");
        assert!(html.contains("and 5 more") && html.contains("src/lib.rs:19:1"));
        assert!(
            b["text/plain"]
                .as_str()
                .unwrap()
                .starts_with("25 of 100 tasks failed")
        );
    }
}
