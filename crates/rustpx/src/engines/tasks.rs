//! A load-balanced map on the MPI engines: the notebook's side
//! ([`EngineView::map`](super::EngineView::map)) and the engines' ([`run_tasks`]).
//!
//! The notebook writes each item to `map/items/I` in the engines' transfer directory and
//! asks the kernel to run, in one engine cell, [`run_tasks`] with the user's function on
//! every engine. Each engine takes the next task no engine has taken, by creating
//! `map/claims/I` (`create_new`: exactly one engine succeeds), runs it, and writes
//! `map/results/I` or, if it panicked, `map/failed/I`; so a fast engine takes more tasks
//! than a slow one, as in ipyparallel's load-balanced view. The notebook counts those
//! files for its progress bar while it waits. An interrupt writes `map/abort`: the
//! engines finish the task they run and take no other, and the call returns
//! [`Error::Interrupted`]. Results are written to a temporary name and renamed, so a file
//! the notebook sees is whole.

use super::{EngineError, TRANSFER, ask, decode, file_error};
use crate::progress::{self, Progress};
use crate::protocol::EngineRequest;
use crate::{Error, TaskError, TaskErrorKind, TaskErrors};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::any::type_name;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why a task failed on an engine, as `map/failed/I` holds it.
#[derive(Debug, Serialize, Deserialize)]
struct Failure {
    rank: usize,
    kind: FailureKind,
    message: String,
    location: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
enum FailureKind {
    Panic,
    Item,
}

/// The files of one map in the transfer directory `transfer`.
struct MapDir(PathBuf);

impl MapDir {
    fn new(transfer: &Path) -> MapDir {
        MapDir(transfer.join("map"))
    }

    fn file(&self, kind: &str, task: usize) -> PathBuf {
        self.0.join(kind).join(task.to_string())
    }

    /// Empties the directory for a new map.
    fn reset(&self) -> Result<(), EngineError> {
        let _ = std::fs::remove_dir_all(&self.0);
        for kind in ["items", "claims", "results", "failed"] {
            let dir = self.0.join(kind);
            std::fs::create_dir_all(&dir).map_err(|e| file_error(&dir, &e))?;
        }
        Ok(())
    }

    fn count(&self, kind: &str) -> usize {
        std::fs::read_dir(self.0.join(kind)).map_or(0, Iterator::count)
    }

    fn abort(&self) {
        let _ = std::fs::write(self.0.join("abort"), b"");
    }

    fn aborted(&self) -> bool {
        self.0.join("abort").exists()
    }

    /// Writes `bytes` to `kind/task` whole: the notebook may be reading the directory.
    fn write(&self, kind: &str, task: usize, bytes: &[u8]) -> Result<(), EngineError> {
        let path = self.file(kind, task);
        let partial = self.0.join(format!("{kind}-{task}.partial"));
        std::fs::write(&partial, bytes).map_err(|e| file_error(&partial, &e))?;
        std::fs::rename(&partial, &path).map_err(|e| file_error(&path, &e))
    }
}

/// The notebook's side of [`EngineView::map`](super::EngineView::map).
pub(super) fn map<T, R>(function: &str, items: impl IntoIterator<Item = T>) -> Result<Vec<R>, Error>
where
    T: Serialize,
    R: DeserializeOwned,
{
    let _one_at_a_time = TRANSFER.lock();
    settle();
    let (_, transfer) = ask(&EngineRequest::Size)?;
    let dir = MapDir::new(&transfer);
    dir.reset()?;
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
    if wait(&dir, total, &asked)? {
        // The engines finish the tasks they run before their cell ends; the notebook's
        // cell must not wait for that (the kernel kills a cell that ignores an
        // interrupt), so the next transfer does.
        *UNFINISHED.lock() = Some(asked);
        return Err(Error::Interrupted);
    }
    finished(asked)?;
    collect(&dir, total)
}

/// The kernel's answer to a map, once it has come.
type Asked = std::thread::JoinHandle<Result<(usize, PathBuf), EngineError>>;

/// A map the user interrupted, whose engine cell may still be running.
static UNFINISHED: parking_lot::Mutex<Option<Asked>> = parking_lot::Mutex::new(None);

/// Waits for the engines to end an interrupted map: every transfer starts with it, as
/// the files of the next one must not be taken for the last one's.
pub(super) fn settle() {
    if let Some(asked) = UNFINISHED.lock().take() {
        let _ = finished(asked);
    }
}

fn finished(asked: Asked) -> Result<(), EngineError> {
    let answer = asked.join();
    answer.map_err(|_| EngineError::Connection("the map's request panicked".into()))??;
    Ok(())
}

/// Shows the map's progress until the kernel has answered or the user interrupts the
/// cell (the engines are then told to stop); whether the user did.
fn wait(dir: &MapDir, total: usize, asked: &Asked) -> Result<bool, Error> {
    let started = Instant::now();
    let snapshot = || {
        let failed = dir.count("failed");
        Progress {
            done: dir.count("results") + failed,
            total,
            failed,
            elapsed: started.elapsed(),
        }
    };
    let mut interrupted = false;
    progress::show_while(&snapshot, &mut |step: Duration| {
        if crate::interrupt::take() {
            interrupted = true;
            dir.abort();
        }
        if interrupted || asked.is_finished() {
            return Ok(true);
        }
        std::thread::sleep(step.min(Duration::from_millis(50)));
        Ok(false)
    })?;
    Ok(interrupted)
}

/// Every task's result in item order, or every failure.
fn collect<R: DeserializeOwned>(dir: &MapDir, total: usize) -> Result<Vec<R>, Error> {
    let mut results = Vec::with_capacity(total);
    let mut errors = Vec::new();
    for task in 0..total {
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

/// Runs tasks of the notebook's [`EngineView::map`](super::EngineView::map) on this
/// engine (MPI rank `rank`) until none is left: each time the next one no engine has
/// taken, `function` applied to its item. The kernel calls it in the engine cell it
/// generates for a map; a task's panic is that task's failure, not the engine's.
///
/// ```no_run
/// // On every engine, in the cell the kernel generates for
/// // `engines().map("square", 0..10u64)`:
/// fn square(x: u64) -> u64 { x * x }
/// rustpx::engines::run_tasks("/tmp/transfer", 0, |item: u64| square(item))?;
/// # Ok::<(), rustpx::Error>(())
/// ```
pub fn run_tasks<T, R>(
    transfer: impl AsRef<Path>,
    rank: usize,
    function: impl Fn(T) -> R,
) -> Result<(), Error>
where
    T: DeserializeOwned,
    R: Serialize,
{
    crate::panic_hook::install();
    let dir = MapDir::new(transfer.as_ref());
    for task in 0.. {
        let item = dir.file("items", task);
        if dir.aborted() || !item.exists() {
            break;
        }
        if !claim(&dir.file("claims", task))? {
            continue;
        }
        let outcome = std::fs::read(&item)
            .map_err(|e| (FailureKind::Item, e.to_string(), None))
            .and_then(|bytes| {
                postcard::from_bytes::<T>(&bytes)
                    .map_err(|e| (FailureKind::Item, e.to_string(), None))
            })
            .and_then(|value| {
                crate::panic_hook::catch(|| function(value))
                    .map_err(|(message, location)| (FailureKind::Panic, message, location))
            })
            .and_then(|result| {
                postcard::to_stdvec(&result).map_err(|e| (FailureKind::Panic, e.to_string(), None))
            });
        match outcome {
            Ok(bytes) => dir.write("results", task, &bytes)?,
            Err((kind, message, location)) => {
                let failure = Failure {
                    rank,
                    kind,
                    message,
                    location,
                };
                let bytes = postcard::to_stdvec(&failure).expect("a failure serializes");
                dir.write("failed", task, &bytes)?;
            }
        }
    }
    Ok(())
}

/// Takes task `claim` for this engine; `false` if another engine took it first.
fn claim(claim: &Path) -> Result<bool, EngineError> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(claim)
    {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(file_error(claim, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two engines (threads) share the tasks: each runs once, failures keep their rank,
    /// task and message, and the notebook reads results in item order.
    #[test]
    fn every_task_runs_once_on_some_engine() {
        let transfer = tempfile::tempdir().unwrap();
        let dir = MapDir::new(transfer.path());
        dir.reset().unwrap();
        for task in 0..40u64 {
            dir.write("items", task as usize, &postcard::to_stdvec(&task).unwrap())
                .unwrap();
        }
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
        assert_eq!(dir.count("claims"), 40);
        let Err(Error::Tasks(errors)) = collect::<u64>(&dir, 40) else {
            panic!("task 13 failed")
        };
        let error = &errors.errors()[0];
        assert_eq!((error.task, error.kind), (13, TaskErrorKind::Panic));
        assert_eq!(error.message, "unlucky");
        assert!(error.worker.is_some_and(|rank| rank < 2));
        std::fs::remove_file(dir.file("failed", 13)).unwrap();
        dir.write("results", 13, &postcard::to_stdvec(&169u64).unwrap())
            .unwrap();
        let squares: Vec<u64> = collect(&dir, 40).unwrap();
        assert_eq!(squares, (0..40u64).map(|x| x * x).collect::<Vec<_>>());
    }

    #[test]
    fn an_abort_leaves_the_rest_untaken() {
        let transfer = tempfile::tempdir().unwrap();
        let dir = MapDir::new(transfer.path());
        dir.reset().unwrap();
        for task in 0..5u32 {
            dir.write("items", task as usize, &postcard::to_stdvec(&task).unwrap())
                .unwrap();
        }
        run_tasks(transfer.path(), 0, |x: u32| {
            if x == 1 {
                dir.abort();
            }
            x
        })
        .unwrap();
        let Err(Error::Tasks(errors)) = collect::<u32>(&dir, 5) else {
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
