//! Progress of a running call ([`Progress`]) and `wait_interactive`'s live bar: an
//! in-place notebook display in a kernel, a `\r`-redrawn line on stderr elsewhere, one
//! final line with `RUSTPX_NONINTERACTIVE=1`.

use crate::Error;
use crate::protocol::{self as channel, Event, MimeBundle};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often a live bar is redrawn at most (about ten updates a second).
pub const REFRESH: Duration = Duration::from_millis(100);

const BAR_WIDTH: usize = 30;

/// A snapshot of a call's progress, counted in items.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Items finished (successfully or not).
    pub done: usize,
    /// Items in the call.
    pub total: usize,
    /// Items that failed so far.
    pub failed: usize,
    /// Time since the call was submitted (or its total time once finished).
    pub elapsed: Duration,
}

impl Progress {
    /// The finished fraction, 1.0 for an empty call.
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.done as f64 / self.total as f64
        }
    }

    /// Items per second so far, once something finished.
    pub fn rate(&self) -> Option<f64> {
        let secs = self.elapsed.as_secs_f64();
        (self.done > 0 && secs > 0.0).then(|| self.done as f64 / secs)
    }

    /// The estimated time left at the current rate.
    pub fn remaining(&self) -> Option<Duration> {
        let rate = self.rate()?;
        Some(Duration::from_secs_f64(
            self.total.saturating_sub(self.done) as f64 / rate,
        ))
    }

    /// One line of text: a bar, counts, elapsed time, rate and estimate.
    ///
    /// ```
    /// use rustpx::Progress;
    /// use std::time::Duration;
    /// let p = Progress { done: 5, total: 10, failed: 0, elapsed: Duration::from_secs(1) };
    /// assert_eq!(
    ///     p.text(),
    ///     "[###############...............] 5/10 (50%) 1.0s elapsed, 5.0 tasks/s, ~1.0s left"
    /// );
    /// ```
    pub fn text(&self) -> String {
        let filled = ((self.fraction() * BAR_WIDTH as f64).round() as usize).min(BAR_WIDTH);
        let mut s = format!(
            "[{}{}] {}/{} ({:.0}%) {} elapsed",
            "#".repeat(filled),
            ".".repeat(BAR_WIDTH - filled),
            self.done,
            self.total,
            self.fraction() * 100.0,
            secs(self.elapsed)
        );
        if let Some(rate) = self.rate() {
            s += &format!(", {} tasks/s", human_rate(rate));
        }
        if self.done < self.total
            && let Some(left) = self.remaining()
        {
            s += &format!(", ~{} left", secs(left));
        }
        if self.failed > 0 {
            s += &format!(", {} failed", self.failed);
        }
        s
    }

    /// A small HTML progress bar with the same facts as [`Progress::text`].
    pub fn html(&self) -> String {
        let pct = self.fraction() * 100.0;
        let colour = if self.failed > 0 {
            "#c0392b"
        } else {
            "#2e86de"
        };
        let mut facts = format!(
            "{}/{} ({pct:.0}%) &middot; {} elapsed",
            self.done,
            self.total,
            secs(self.elapsed)
        );
        if let Some(rate) = self.rate() {
            facts += &format!(" &middot; {} tasks/s", human_rate(rate));
        }
        if self.done < self.total
            && let Some(left) = self.remaining()
        {
            facts += &format!(" &middot; ~{} left", secs(left));
        }
        if self.failed > 0 {
            facts += &format!(
                " &middot; <span style=\"color:{colour}\">{} failed</span>",
                self.failed
            );
        }
        format!(
            "<div class=\"rustpx-progress\" style=\"font-family:monospace;font-size:12px\">\
             <div style=\"display:inline-block;width:240px;height:10px;background:#ddd;\
             border-radius:3px;vertical-align:middle;overflow:hidden\">\
             <div style=\"width:{pct:.1}%;height:100%;background:{colour}\"></div></div> \
             <span>{facts}</span></div>"
        )
    }

    /// The MIME bundle shown in a notebook: `text/html` and `text/plain`.
    pub fn bundle(&self) -> MimeBundle {
        let mut data = MimeBundle::new();
        data.insert("text/html".into(), self.html().into());
        data.insert("text/plain".into(), self.text().into());
        data
    }
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1}s")
    } else {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    }
}

fn human_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.1}M", r / 1e6)
    } else if r >= 1e4 {
        format!("{:.1}k", r / 1e3)
    } else {
        format!("{r:.1}")
    }
}

fn display_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "rustpx-progress-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Where a bar is drawn.
enum Sink {
    Notebook { id: String, shown: bool },
    NotebookFinalOnly,
    Terminal { live: bool },
}

/// Shows progress until `wait_step(REFRESH)` reports completion (`Ok(true)`), then the
/// final state. An error from `wait_step` (an interrupt) is returned after the bar shows
/// where the call stopped.
pub(crate) fn show_while(
    snapshot: &dyn Fn() -> Progress,
    wait_step: &mut dyn FnMut(Duration) -> Result<bool, Error>,
) -> Result<(), Error> {
    let mut sink = match (channel::attached(), channel::noninteractive()) {
        (true, false) => Sink::Notebook {
            id: display_id(),
            shown: false,
        },
        (true, true) => Sink::NotebookFinalOnly,
        (false, quiet) => Sink::Terminal { live: !quiet },
    };
    let mut last = None;
    let mut last_draw = Instant::now() - REFRESH;
    let outcome = loop {
        let p = snapshot();
        if last != Some(p) && last_draw.elapsed() >= REFRESH {
            draw(&mut sink, &p, false);
            last = Some(p);
            last_draw = Instant::now();
        }
        match wait_step(REFRESH) {
            Ok(true) => break Ok(()),
            Ok(false) => {}
            Err(e) => break Err(e),
        }
    };
    draw(&mut sink, &snapshot(), true);
    outcome
}

fn draw(sink: &mut Sink, p: &Progress, last: bool) {
    match sink {
        Sink::Notebook { id, shown } => {
            let data = p.bundle();
            let event = if *shown {
                Event::Update {
                    id: id.clone(),
                    data,
                }
            } else {
                Event::Display {
                    id: Some(id.clone()),
                    data,
                }
            };
            *shown = true;
            channel::emit(&event);
        }
        Sink::NotebookFinalOnly => {
            if last {
                channel::emit(&Event::Display {
                    id: None,
                    data: p.bundle(),
                });
            }
        }
        Sink::Terminal { live } => {
            let mut err = std::io::stderr().lock();
            if *live {
                let _ = write!(err, "\r{}", p.text());
                if last {
                    let _ = writeln!(err);
                }
            } else if last {
                let _ = writeln!(err, "{}", p.text());
            }
            let _ = err.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_renderings() {
        let p = Progress {
            done: 0,
            total: 0,
            failed: 0,
            elapsed: Duration::ZERO,
        };
        assert_eq!(p.fraction(), 1.0);
        assert_eq!(p.rate(), None);
        let p = Progress {
            done: 30,
            total: 40,
            failed: 2,
            elapsed: Duration::from_secs(3),
        };
        assert_eq!(p.rate(), Some(10.0));
        assert_eq!(p.remaining(), Some(Duration::from_secs(1)));
        assert!(p.text().contains("30/40 (75%)") && p.text().ends_with("2 failed"));
        assert!(p.html().contains("width:75.0%") && p.html().contains("~1.0s left"));
        let b = p.bundle();
        assert_eq!(b["text/plain"], p.text());
    }

    #[test]
    fn terminal_bar_waits_until_done() {
        let mut steps = 0;
        let r = show_while(
            &|| Progress {
                done: 1,
                total: 1,
                failed: 0,
                elapsed: Duration::ZERO,
            },
            &mut |_| {
                steps += 1;
                Ok(steps == 3)
            },
        );
        assert_eq!((r, steps), (Ok(()), 3));
        let r = show_while(
            &|| Progress {
                done: 0,
                total: 1,
                failed: 0,
                elapsed: Duration::ZERO,
            },
            &mut |_| Err(Error::Interrupted),
        );
        assert_eq!(r, Err(Error::Interrupted));
    }
}
