//! A load-balanced map on the MPI engines: the notebook's side
//! ([`EngineView::map`](super::EngineView::map)) and the files it shares with the
//! engines' side (`claim.rs`, [`run_tasks`](super::run_tasks)).
//!
//! The notebook writes each item to `map/items/I` in the engines' transfer directory and
//! asks the kernel to run, in one engine cell, `run_tasks` with the user's function on
//! every engine. Each engine takes the next task no engine has taken, by creating
//! `map/claims/I` (`create_new`: exactly one engine succeeds), runs it, and writes
//! `map/results/I` or, if it panicked, `map/failed/I`; so a fast engine takes more tasks
//! than a slow one, as in ipyparallel's load-balanced view. The notebook counts those
//! files for its progress bar while it waits. An interrupt writes `map/abort`: the
//! engines finish the task they run and take no other, and the call returns
//! [`Error::Interrupted`]. Results are written to a temporary name and renamed, so a file
//! the notebook sees is whole. With a timeout, a task still running that long after its
//! claim file was created fails as timed out, and once every other task has ended the
//! call returns as after an interrupt (the engine finishes the late task; the next
//! transfer waits for it).
//!
//! With retries (`map/retries`), an engine whose task panicked and may run again
//! records the attempt in `map/attempts/I` and then removes the task's claim, so the
//! next engine to look takes it again; an engine that released a task looks at every
//! task again, so it is there to take the task if no other engine is.

use super::{EngineError, ask, begin_transfer, decode, file_error};
use crate::progress::{self, Progress};
use crate::protocol::EngineRequest;
use crate::{Error, TaskError, TaskErrorKind, TaskErrors};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::any::type_name;
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why a task failed on an engine, as `map/failed/I` holds it.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Failure {
    pub(super) rank: usize,
    pub(super) kind: FailureKind,
    pub(super) message: String,
    pub(super) location: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) enum FailureKind {
    Panic,
    Item,
}

/// The files of one map in the transfer directory `transfer`.
pub(super) struct MapDir(pub(super) PathBuf);

impl MapDir {
    pub(super) fn new(transfer: &Path) -> MapDir {
        MapDir(transfer.join("map"))
    }

    pub(super) fn file(&self, kind: &str, task: usize) -> PathBuf {
        self.0.join(kind).join(task.to_string())
    }

    /// Empties the directory for a new map whose panicking tasks run up to `retries`
    /// more times.
    pub(super) fn reset(&self, retries: u32) -> Result<(), EngineError> {
        let _ = std::fs::remove_dir_all(&self.0);
        for kind in ["items", "claims", "results", "failed", "attempts"] {
            let dir = self.0.join(kind);
            std::fs::create_dir_all(&dir).map_err(|e| file_error(&dir, &e))?;
        }
        let path = self.0.join("retries");
        std::fs::write(&path, retries.to_string()).map_err(|e| file_error(&path, &e))
    }

    /// A number kept as text in `path` (`retries`, `attempts/I`); 0 if there is none.
    pub(super) fn number(path: &Path) -> u32 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.trim().parse().unwrap_or(0)
    }

    /// The tasks that have a file in `kind`.
    fn tasks(&self, kind: &str) -> HashSet<usize> {
        let names = std::fs::read_dir(self.0.join(kind))
            .into_iter()
            .flatten()
            .flatten();
        names
            .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
            .collect()
    }

    fn abort(&self) {
        let _ = std::fs::write(self.0.join("abort"), b"");
    }

    pub(super) fn aborted(&self) -> bool {
        self.0.join("abort").exists()
    }

    /// Writes `bytes` to `kind/task` whole: the notebook may be reading the directory.
    pub(super) fn write(&self, kind: &str, task: usize, bytes: &[u8]) -> Result<(), EngineError> {
        let path = self.file(kind, task);
        let partial = self.0.join(format!("{kind}-{task}.partial"));
        std::fs::write(&partial, bytes).map_err(|e| file_error(&partial, &e))?;
        std::fs::rename(&partial, &path).map_err(|e| file_error(&path, &e))
    }
}

/// The notebook's side of [`EngineView::map`](super::EngineView::map).
pub(super) fn map<T, R>(
    function: &str,
    items: impl IntoIterator<Item = T>,
    timeout: Option<Duration>,
    retries: u32,
) -> Result<Vec<R>, Error>
where
    T: Serialize,
    R: DeserializeOwned,
{
    let _one_at_a_time = begin_transfer()?;
    let (_, transfer) = ask(&EngineRequest::Size)?;
    let dir = MapDir::new(&transfer);
    dir.reset(retries)?;
    let mut total = 0;
    for (task, item) in items.into_iter().enumerate() {
        let bytes = postcard::to_stdvec(&item).map_err(|e| EngineError::Encode {
            name: format!("item {task}"),
            message: e.to_string(),
        })?;
        dir.write("items", task, &bytes)?;
        total = task + 1;
    }
    let request = EngineRequest::Map {
        function: function.into(),
        type_name: type_name::<T>().into(),
    };
    let asked = std::thread::spawn(move || ask(&request));
    let mut watch = Watch::new(&dir, total, timeout);
    let ending = watch.wait(&asked)?;
    let timed_out = watch.timed_out;
    if ending == Ending::Answered {
        finished(asked)?;
    } else {
        // The engines finish the tasks they run before their cell ends; the notebook's
        // cell must not wait for that (the kernel kills a cell that ignores an
        // interrupt), so the next transfer does.
        dir.abort();
        *UNFINISHED.lock() = Some(asked);
    }
    if ending == Ending::Interrupted {
        return Err(Error::Interrupted);
    }
    collect(&dir, total, &timed_out)
}

/// The kernel's answer to a map, once it has come.
type Asked = std::thread::JoinHandle<Result<(usize, PathBuf), EngineError>>;

/// A map that returned before its engine cell ended (interrupted, or waiting only for
/// tasks that timed out).
static UNFINISHED: parking_lot::Mutex<Option<Asked>> = parking_lot::Mutex::new(None);

/// Waits for the engines to end such a map (see `begin_transfer`). An interrupt ends
/// the wait (the next transfer waits again).
pub(super) fn settle() -> Result<(), Error> {
    let mut unfinished = UNFINISHED.lock();
    while let Some(asked) = unfinished.take() {
        if asked.is_finished() {
            // Its error (the engines' cell failed after the call returned) is no one's now.
            let _ = finished(asked);
        } else if crate::interrupt::take() {
            *unfinished = Some(asked);
            return Err(Error::Interrupted);
        } else {
            *unfinished = Some(asked);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}

fn finished(asked: Asked) -> Result<(), EngineError> {
    let answer = asked.join();
    answer.map_err(|_| EngineError::Connection("the map's request panicked".into()))??;
    Ok(())
}

/// How the wait for a map ended.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    /// The kernel answered: the engines ran every task.
    Answered,
    /// The user interrupted the cell.
    Interrupted,
    /// Every task ended except those that ran past the timeout.
    TimedOut,
}

/// What the notebook sees of a running map, from one look at its directory per step.
struct Watch<'d> {
    dir: &'d MapDir,
    total: usize,
    timeout: Option<Duration>,
    /// Tasks still running `timeout` after an engine took them.
    timed_out: BTreeSet<usize>,
    /// Tasks ended (with a result, a failure, or timed out) and failed, at the last look.
    ended: usize,
    failed: usize,
}

impl Watch<'_> {
    fn new(dir: &MapDir, total: usize, timeout: Option<Duration>) -> Watch<'_> {
        Watch {
            dir,
            total,
            timeout,
            timed_out: BTreeSet::new(),
            ended: 0,
            failed: 0,
        }
    }

    /// Shows the map's progress until the kernel has answered, the user interrupts the
    /// cell, or only timed-out tasks are left.
    fn wait(&mut self, asked: &Asked) -> Result<Ending, Error> {
        let started = Instant::now();
        let mut ending = None;
        let watch = std::cell::RefCell::new(self);
        progress::show_while(
            &|| watch.borrow().progress(started.elapsed()),
            &mut |step: Duration| {
                let mut watch = watch.borrow_mut();
                watch.look();
                ending = if asked.is_finished() {
                    Some(Ending::Answered)
                } else if crate::interrupt::take() {
                    Some(Ending::Interrupted)
                } else if !watch.timed_out.is_empty() && watch.ended == watch.total {
                    Some(Ending::TimedOut)
                } else {
                    None
                };
                if ending.is_none() {
                    std::thread::sleep(step.min(Duration::from_millis(50)));
                }
                Ok(ending.is_some())
            },
        )?;
        Ok(ending.unwrap_or(Ending::Answered))
    }

    fn progress(&self, elapsed: Duration) -> Progress {
        Progress {
            done: self.ended,
            total: self.total,
            failed: self.failed,
            elapsed,
        }
    }

    /// Reads which tasks have ended, and marks those running longer than the timeout
    /// since an engine took them (only running tasks' claims are looked at).
    fn look(&mut self) {
        let results = self.dir.tasks("results");
        let failed = self.dir.tasks("failed");
        let running = |task: &usize| !results.contains(task) && !failed.contains(task);
        if let Some(limit) = self.timeout {
            for task in self.dir.tasks("claims") {
                if !running(&task) || self.timed_out.contains(&task) {
                    continue;
                }
                let claim = std::fs::metadata(self.dir.file("claims", task));
                let taken = claim.and_then(|m| m.modified());
                if taken.is_ok_and(|t| t.elapsed().is_ok_and(|e| e > limit)) {
                    self.timed_out.insert(task);
                }
            }
        }
        let late = self.timed_out.iter().filter(|task| running(task)).count();
        self.ended = results.len() + failed.len() + late;
        // A timed-out task fails even if its result came later.
        let late_failures = self.timed_out.iter().filter(|task| !failed.contains(task));
        self.failed = failed.len() + late_failures.count();
    }
}

/// Every task's result in item order, or every failure.
fn collect<R: DeserializeOwned>(
    dir: &MapDir,
    total: usize,
    timed_out: &BTreeSet<usize>,
) -> Result<Vec<R>, Error> {
    let mut results = Vec::with_capacity(total);
    let mut errors = Vec::new();
    for task in 0..total {
        if timed_out.contains(&task) {
            let rank = std::fs::read_to_string(dir.file("claims", task));
            let rank = rank.ok().and_then(|r| r.parse().ok());
            errors.push(TaskError::new(
                rank,
                task,
                TaskErrorKind::Timeout,
                "still running when its time limit ran out",
            ));
            continue;
        }
        match std::fs::read(dir.file("results", task)) {
            Ok(bytes) => match decode(&bytes) {
                Ok(value) => results.push(value),
                Err(message) => Err(EngineError::Result {
                    task,
                    type_name: type_name::<R>(),
                    message,
                })?,
            },
            Err(_) => errors.push(failure(dir, task)),
        }
    }
    if errors.is_empty() {
        Ok(results)
    } else {
        Err(Error::Tasks(TaskErrors::new(errors, total)))
    }
}

/// Why task `task` has no result.
fn failure(dir: &MapDir, task: usize) -> TaskError {
    let recorded = std::fs::read(dir.file("failed", task))
        .ok()
        .and_then(|bytes| postcard::from_bytes::<Failure>(&bytes).ok());
    match recorded {
        Some(failure) => {
            let kind = match failure.kind {
                FailureKind::Panic => TaskErrorKind::Panic,
                FailureKind::Item => TaskErrorKind::Item,
            };
            let mut error = TaskError::new(Some(failure.rank), task, kind, failure.message);
            error.location = failure.location;
            error
        }
        None => TaskError::new(None, task, TaskErrorKind::Cancelled, "no engine ran it"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engines::claim::claim;
    use crate::engines::run_tasks;

    /// A transfer directory whose map has `items`, one task each.
    fn map_of<T: Serialize>(items: impl IntoIterator<Item = T>) -> (tempfile::TempDir, MapDir) {
        let transfer = tempfile::tempdir().unwrap();
        let dir = MapDir::new(transfer.path());
        dir.reset(0).unwrap();
        for (task, item) in items.into_iter().enumerate() {
            dir.write("items", task, &postcard::to_stdvec(&item).unwrap())
                .unwrap();
        }
        (transfer, dir)
    }

    /// Two engines (threads) share the tasks: each runs once, failures keep their rank,
    /// task and message, and the notebook reads results in item order.
    #[test]
    fn every_task_runs_once_on_some_engine() {
        let (transfer, dir) = map_of(0..40u64);
        std::thread::scope(|s| {
            for rank in 0..2 {
                let path = transfer.path();
                s.spawn(move || {
                    run_tasks(path, rank, |x: u64| {
                        if x == 13 {
                            panic!("unlucky");
                        }
                        x * x
                    })
                    .unwrap()
                });
            }
        });
        assert_eq!(dir.tasks("claims").len(), 40);
        let Err(Error::Tasks(errors)) = collect::<u64>(&dir, 40, &BTreeSet::new()) else {
            panic!("task 13 failed")
        };
        let error = &errors.errors()[0];
        assert_eq!((error.task, error.kind), (13, TaskErrorKind::Panic));
        assert_eq!(error.message, "unlucky");
        assert!(error.worker.is_some_and(|rank| rank < 2));
        std::fs::remove_file(dir.file("failed", 13)).unwrap();
        dir.write("results", 13, &postcard::to_stdvec(&169u64).unwrap())
            .unwrap();
        let squares: Vec<u64> = collect(&dir, 40, &BTreeSet::new()).unwrap();
        assert_eq!(squares, (0..40u64).map(|x| x * x).collect::<Vec<_>>());
    }

    /// A task that panics is taken again, by either engine, until it succeeds or has
    /// run `retries + 1` times.
    #[test]
    fn a_panicking_task_runs_again_up_to_its_retries() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (transfer, dir) = map_of(0..20u64);
        dir.reset(2).unwrap();
        for task in 0..20u64 {
            dir.write("items", task as usize, &postcard::to_stdvec(&task).unwrap())
                .unwrap();
        }
        let (flaky, doomed) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            for rank in 0..2 {
                let (path, flaky, doomed) = (transfer.path(), &flaky, &doomed);
                s.spawn(move || {
                    run_tasks(path, rank, |x: u64| {
                        // Task 5 fails twice, then works; task 9 always fails.
                        if x == 5 && flaky.fetch_add(1, Ordering::SeqCst) < 2 {
                            panic!("not yet");
                        }
                        if x == 9 {
                            doomed.fetch_add(1, Ordering::SeqCst);
                            panic!("never");
                        }
                        x + 1
                    })
                    .unwrap()
                });
            }
        });
        assert_eq!(flaky.load(Ordering::SeqCst), 3);
        assert_eq!(doomed.load(Ordering::SeqCst), 3);
        let Err(Error::Tasks(errors)) = collect::<u64>(&dir, 20, &BTreeSet::new()) else {
            panic!("task 9 failed")
        };
        let failed: Vec<_> = errors
            .iter()
            .map(|e| (e.task, e.message.as_str()))
            .collect();
        assert_eq!(failed, [(9, "never (it failed all 3 times it ran)")]);
        let result = std::fs::read(dir.file("results", 5)).unwrap();
        assert_eq!(postcard::from_bytes::<u64>(&result).unwrap(), 6);
    }

    #[test]
    fn a_task_past_its_time_limit_is_a_timeout_naming_its_engine() {
        let (_transfer, dir) = map_of([0u8, 1]);
        assert!(claim(&dir.file("claims", 0), 1).unwrap());
        assert!(!claim(&dir.file("claims", 0), 0).unwrap());
        assert!(claim(&dir.file("claims", 1), 0).unwrap());
        dir.write("results", 1, &postcard::to_stdvec(&7u8).unwrap())
            .unwrap();
        let mut watch = Watch::new(&dir, 2, Some(Duration::from_millis(1)));
        std::thread::sleep(Duration::from_millis(20));
        watch.look();
        assert_eq!(watch.timed_out, BTreeSet::from([0]));
        assert_eq!(watch.ended, 2);
        let Err(Error::Tasks(errors)) = collect::<u8>(&dir, 2, &watch.timed_out) else {
            panic!("task 0 timed out")
        };
        let error = &errors.errors()[0];
        assert_eq!(
            (error.task, error.kind, error.worker),
            (0, TaskErrorKind::Timeout, Some(1))
        );
    }

    #[test]
    fn an_abort_leaves_the_rest_untaken() {
        let (transfer, dir) = map_of(0..5u32);
        run_tasks(transfer.path(), 0, |x: u32| {
            if x == 1 {
                dir.abort();
            }
            x
        })
        .unwrap();
        let Err(Error::Tasks(errors)) = collect::<u32>(&dir, 5, &BTreeSet::new()) else {
            panic!("tasks 2..5 never ran")
        };
        let untaken: Vec<_> = errors.iter().map(|e| (e.task, e.kind)).collect();
        assert_eq!(
            untaken,
            (2..5)
                .map(|t| (t, TaskErrorKind::Cancelled))
                .collect::<Vec<_>>()
        );
    }
}
