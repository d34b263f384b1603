//! The engines' half of the load-balanced map: taking the next task no engine has
//! taken, running it, and recording what became of it (the layout is `tasks.rs`'s).
//!
//! An engine that sees the transfer directory takes a task itself, by creating its
//! claim file ([`claim_next`]), and writes its result there ([`record`]). An engine on a
//! host that cannot see it (it runs from its mirror) asks the kernel's hub instead: it
//! writes an [`Event::TaskWanted`] line on its output, the hub claims the task for it
//! with the same [`claim_next`] and sends the [`Claimed`] task into the engine's mirror
//! as `transfer-R/map/offer`; the engine hands back the task's [`Outcome`] as an
//! [`Event::TaskEnded`] line, which the hub [`record`]s. Claims stay files of the one
//! transfer directory either way, so engines of both kinds share one map, and the
//! notebook's progress bar and timeouts read the same files.

use super::tasks::{Failure, FailureKind, MapDir};
use super::transfer::{mirrored_transfer, to_hub};
use super::{EngineError, file_error};
use crate::Error;
use crate::protocol::Event;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A task claimed for an engine: its item's bytes, and how many times it may still run.
#[derive(Debug, Serialize, Deserialize)]
struct Claimed {
    /// The task (its item's position).
    task: usize,
    item: Vec<u8>,
    /// Times it ran and failed before (on any engine).
    attempts: u32,
    /// Times a panicking task of this map runs again.
    retries: u32,
}

/// What became of a task an engine ran.
#[derive(Debug, Serialize, Deserialize)]
enum Outcome {
    /// Its result, serialized.
    Result(Vec<u8>),
    /// Why it failed, for good.
    Failed(Failure),
    /// It panicked and may run again: released for any engine to take, after `runs`
    /// runs.
    Released {
        /// How many times it has run.
        runs: u32,
    },
}

/// Claims, for engine `rank`, the first task from `from` on that no engine has taken;
/// `None` when there is none (or the map was aborted).
fn claim_next(
    transfer: impl AsRef<Path>,
    rank: usize,
    from: usize,
) -> Result<Option<Claimed>, EngineError> {
    let dir = MapDir::new(transfer.as_ref());
    for task in from.. {
        let item = dir.file("items", task);
        if dir.aborted() || !item.exists() {
            return Ok(None);
        }
        if claim(&dir.file("claims", task), rank)? {
            let retries = MapDir::number(&dir.0.join("retries"));
            // Without retries no task has run before.
            let attempts = match retries {
                0 => 0,
                _ => MapDir::number(&dir.file("attempts", task)),
            };
            return Ok(Some(Claimed {
                task,
                item: std::fs::read(&item).map_err(|e| file_error(&item, &e))?,
                attempts,
                retries,
            }));
        }
    }
    unreachable!("tasks are numbered by usize")
}

/// Records what became of task `task` in the transfer directory: its result, its
/// failure, or its release for another engine to take.
fn record(transfer: impl AsRef<Path>, task: usize, outcome: &Outcome) -> Result<(), EngineError> {
    let dir = MapDir::new(transfer.as_ref());
    match outcome {
        Outcome::Result(bytes) => dir.write("results", task, bytes),
        Outcome::Failed(failure) => {
            let bytes = postcard::to_stdvec(failure).expect("a failure serializes");
            dir.write("failed", task, &bytes)
        }
        Outcome::Released { runs } => {
            // The count first: whoever takes the task next reads it.
            let attempts = dir.file("attempts", task);
            std::fs::write(&attempts, runs.to_string()).map_err(|e| file_error(&attempts, &e))?;
            let claim = dir.file("claims", task);
            std::fs::remove_file(&claim).map_err(|e| file_error(&claim, &e))
        }
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
    let source = Source::for_engine(transfer.as_ref(), rank);
    // Another look only after this engine released a task for a retry (without
    // retries, one look): the task is then there for it to take if no other engine does.
    let mut released = true;
    while released {
        released = false;
        let mut from = 0;
        while let Some(claimed) = source.next(from)? {
            from = claimed.task + 1;
            let outcome = run(&claimed, rank, &function);
            released |= matches!(outcome, Outcome::Released { .. });
            source.record(claimed.task, &outcome)?;
        }
    }
    Ok(())
}

/// What `function` made of `claimed`'s item.
fn run<T, R>(claimed: &Claimed, rank: usize, function: &impl Fn(T) -> R) -> Outcome
where
    T: DeserializeOwned,
    R: Serialize,
{
    let outcome = postcard::from_bytes::<T>(&claimed.item)
        .map_err(|e| (FailureKind::Item, e.to_string(), None))
        .and_then(|value| {
            crate::panic_hook::catch(|| function(value))
                .map_err(|(message, location)| (FailureKind::Panic, message, location))
        })
        .and_then(|result| {
            postcard::to_stdvec(&result).map_err(|e| (FailureKind::Panic, e.to_string(), None))
        });
    let (kind, mut message, location) = match outcome {
        Ok(bytes) => return Outcome::Result(bytes),
        Err(failure) => failure,
    };
    let runs = claimed.attempts + 1;
    if matches!(kind, FailureKind::Panic) && runs <= claimed.retries {
        return Outcome::Released { runs };
    }
    if runs > 1 {
        message = format!("{message} (it failed all {runs} times it ran)");
    }
    Outcome::Failed(Failure {
        rank,
        kind,
        message,
        location,
    })
}

/// Where this engine takes tasks from.
enum Source {
    /// The transfer directory itself.
    Shared { transfer: PathBuf, rank: usize },
    /// The hub, which answers into this engine's transfer directory in its mirror.
    Hub { own: PathBuf },
}

/// How long an engine waits for the hub's answer between looks, at most.
const OFFER_POLL: Duration = Duration::from_millis(2);

impl Source {
    fn for_engine(transfer: &Path, rank: usize) -> Source {
        match mirrored_transfer(rank) {
            Some(own) => Source::Hub { own },
            None => Source::Shared {
                transfer: transfer.to_owned(),
                rank,
            },
        }
    }

    fn next(&self, from: usize) -> Result<Option<Claimed>, EngineError> {
        let own = match self {
            Source::Shared { transfer, rank } => return claim_next(transfer, *rank, from),
            Source::Hub { own } => own,
        };
        let offer = own.join("map").join("offer");
        let _ = std::fs::remove_file(&offer);
        to_hub(&Event::TaskWanted { from }).map_err(|e| hub_gone(&e))?;
        let mut pause = Duration::from_micros(20);
        let bytes = loop {
            match std::fs::read(&offer) {
                Ok(bytes) => break bytes,
                // The mirror goes when the hub's connection ends.
                Err(_) if !own.parent().is_some_and(Path::exists) => {
                    return Err(EngineError::Connection(
                        "the kernel's hub went away while this engine waited for a task".into(),
                    ));
                }
                Err(_) => std::thread::sleep(pause),
            }
            pause = (pause * 2).min(OFFER_POLL);
        };
        let _ = std::fs::remove_file(&offer);
        let claimed: Result<Option<Claimed>, String> = postcard::from_bytes(&bytes)
            .map_err(|e| EngineError::Connection(format!("the hub's task offer: {e}")))?;
        claimed.map_err(EngineError::Connection)
    }

    fn record(&self, task: usize, outcome: &Outcome) -> Result<(), EngineError> {
        match self {
            Source::Shared { transfer, .. } => record(transfer, task, outcome),
            Source::Hub { .. } => {
                let bytes = postcard::to_stdvec(&(task, outcome)).expect("an outcome serializes");
                let data = base64::engine::general_purpose::STANDARD.encode(bytes);
                to_hub(&Event::TaskEnded { data }).map_err(|e| hub_gone(&e))
            }
        }
    }
}

fn hub_gone(error: &std::io::Error) -> EngineError {
    EngineError::Connection(format!("writing to the kernel's hub: {error}"))
}

/// The hub's answer to an [`Event::TaskWanted`] from engine `rank`: the bytes of the
/// offer to send into its mirror (`transfer-R/map/offer`), which are the task claimed
/// for it, none, or why claiming failed (the engine's cell fails with it, as it would
/// had the engine claimed itself).
///
/// ```no_run
/// let offer = rustpx::engines::offer("/tmp/transfer", 1, 0);
/// ```
pub fn offer(transfer: impl AsRef<Path>, rank: usize, from: usize) -> Vec<u8> {
    let claimed = claim_next(transfer, rank, from).map_err(|e| e.to_string());
    postcard::to_stdvec(&claimed).expect("a claimed task serializes")
}

/// Records the outcome an [`Event::TaskEnded`] carries (its `data`), for the hub.
///
/// ```no_run
/// rustpx::engines::record_ended("/tmp/transfer", "AA==")?;
/// # Ok::<(), rustpx::engines::EngineError>(())
/// ```
pub fn record_ended(transfer: impl AsRef<Path>, data: &str) -> Result<(), EngineError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| EngineError::Connection(format!("a task's outcome: {e}")))?;
    let (task, outcome): (usize, Outcome) = postcard::from_bytes(&bytes)
        .map_err(|e| EngineError::Connection(format!("a task's outcome: {e}")))?;
    record(transfer, task, &outcome)
}

/// Takes task `claim` for this engine (`rank`, written in the file for a timeout to
/// name); `false` if another engine took it first.
pub(super) fn claim(claim: &Path, rank: usize) -> Result<bool, EngineError> {
    use std::io::Write;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(claim)
    {
        Ok(mut file) => {
            file.write_all(rank.to_string().as_bytes())
                .map_err(|e| file_error(claim, &e))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(file_error(claim, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an engine without the transfer directory does with the hub's offers, in
    /// place of the event lines and mirror files that carry them between processes.
    fn run_through_hub(transfer: &Path, rank: usize, function: impl Fn(u64) -> u64) -> usize {
        let mut ran = 0;
        let mut from = 0;
        loop {
            let bytes = offer(transfer, rank, from);
            let claimed: Result<Option<Claimed>, String> = postcard::from_bytes(&bytes).unwrap();
            let Some(claimed) = claimed.unwrap() else {
                return ran;
            };
            from = claimed.task + 1;
            ran += 1;
            let outcome = run(&claimed, rank, &function);
            let bytes = postcard::to_stdvec(&(claimed.task, &outcome)).unwrap();
            let data = base64::engine::general_purpose::STANDARD.encode(bytes);
            record_ended(transfer, &data).unwrap();
        }
    }

    /// An engine that claims in the transfer directory and one the hub claims for share
    /// one map: every task runs once, and a failure is recorded as the notebook reads it.
    #[test]
    fn engines_claiming_themselves_and_through_the_hub_share_a_map() {
        let transfer = tempfile::tempdir().unwrap();
        let dir = MapDir::new(transfer.path());
        dir.reset(0).unwrap();
        for task in 0..30u64 {
            let bytes = postcard::to_stdvec(&task).unwrap();
            dir.write("items", task as usize, &bytes).unwrap();
        }
        let slow_square = |x: u64| {
            std::thread::sleep(Duration::from_millis(2));
            assert!(x != 7, "seven");
            x * x
        };
        let through_hub = std::thread::scope(|s| {
            let path = transfer.path();
            s.spawn(move || run_tasks(path, 0, slow_square).unwrap());
            s.spawn(move || run_through_hub(path, 1, slow_square))
                .join()
                .unwrap()
        });
        assert!(through_hub > 0 && through_hub < 30, "{through_hub}");
        for task in 0..30 {
            let claim = std::fs::read_to_string(dir.file("claims", task)).unwrap();
            let kind = if task == 7 { "failed" } else { "results" };
            let bytes = std::fs::read(dir.file(kind, task)).unwrap();
            if task == 7 {
                let failure: Failure = postcard::from_bytes(&bytes).unwrap();
                assert_eq!(failure.message, "seven");
                assert_eq!(failure.rank.to_string(), claim);
            } else {
                let square: u64 = postcard::from_bytes(&bytes).unwrap();
                assert_eq!(square, (task * task) as u64);
            }
        }
    }

    /// A claim that cannot be made reaches the engine as the reason, not as "no task".
    #[test]
    fn a_failed_claim_is_offered_as_its_reason() {
        let transfer = tempfile::tempdir().unwrap();
        let dir = MapDir::new(transfer.path());
        dir.reset(0).unwrap();
        dir.write("items", 0, &[1]).unwrap();
        std::fs::remove_dir(dir.0.join("claims")).unwrap();
        let bytes = offer(transfer.path(), 1, 0);
        let claimed: Result<Option<Claimed>, String> = postcard::from_bytes(&bytes).unwrap();
        let reason = claimed.unwrap_err();
        assert!(reason.contains("claims"), "{reason}");
    }
}
