//! The worker threads of a client: their queues, sleeping and waking, and statistics.

use crate::job::{Task, wait};
use crate::{Error, panic_hook, worker};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

/// How long an idle worker spins before parking: long enough that back-to-back calls
/// (one `apply` after another) find it awake, short enough not to burn a core.
const SPIN: Duration = Duration::from_micros(100);

/// One entry of a worker's queue: a job and the worker's position among its targets.
pub(crate) struct JobRef {
    pub(crate) task: Arc<dyn Task>,
    pub(crate) position: usize,
}

/// A worker's public statistics, as `:workers` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerStats {
    /// The worker's id.
    pub id: usize,
    /// Tasks (items) it has run.
    pub tasks_done: u64,
    /// Whether it is running a call right now.
    pub busy: bool,
}

struct WorkerSlot {
    queue: Mutex<VecDeque<JobRef>>,
    queued: AtomicUsize,
    thread: Mutex<Option<Thread>>,
    tasks_done: AtomicU64,
    busy: AtomicBool,
}

/// What the workers share with the registry (no back-reference to the registry, so
/// dropping the last client handle drops it).
pub(crate) struct Shared {
    id: usize,
    workers: Box<[WorkerSlot]>,
    terminate: AtomicBool,
}

impl Shared {
    /// The queues and counters of `n` workers, no thread started yet.
    pub(crate) fn new(n: usize) -> Shared {
        Shared {
            id: NEXT_REGISTRY.fetch_add(1, Ordering::Relaxed),
            workers: (0..n)
                .map(|_| WorkerSlot {
                    queue: Mutex::new(VecDeque::new()),
                    queued: AtomicUsize::new(0),
                    thread: Mutex::new(None),
                    tasks_done: AtomicU64::new(0),
                    busy: AtomicBool::new(false),
                })
                .collect(),
            terminate: AtomicBool::new(false),
        }
    }

    /// Pushes a job to one worker and wakes it.
    pub(crate) fn push(&self, worker: usize, job: JobRef) {
        let slot = &self.workers[worker];
        slot.queue.lock().push_back(job);
        slot.queued.fetch_add(1, Ordering::Release);
        if let Some(t) = &*slot.thread.lock() {
            // Cheap when the worker is not parked.
            t.unpark();
        }
    }

    /// Whether the last client handle is gone: running jobs should stop claiming.
    pub(crate) fn terminating(&self) -> bool {
        self.terminate.load(Ordering::Relaxed)
    }

    pub(crate) fn count_done(&self, worker: usize, n: u64) {
        self.workers[worker]
            .tasks_done
            .fetch_add(n, Ordering::Relaxed);
    }

    fn pop(&self, worker: usize) -> Option<JobRef> {
        let slot = &self.workers[worker];
        if slot.queued.load(Ordering::Acquire) == 0 {
            return None;
        }
        let job = slot.queue.lock().pop_front();
        if job.is_some() {
            slot.queued.fetch_sub(1, Ordering::Release);
        }
        job
    }

    fn main_loop(&self, me: usize) {
        worker::set_current(self.id, me);
        let slot = &self.workers[me];
        loop {
            if let Some(job) = self.pop(me) {
                slot.busy.store(true, Ordering::Relaxed);
                job.task.run(self, me, job.position);
                slot.busy.store(false, Ordering::Relaxed);
                continue;
            }
            if self.terminate.load(Ordering::Acquire) {
                break;
            }
            let woke = wait::spin_until(SPIN, || {
                slot.queued.load(Ordering::Acquire) > 0 || self.terminate.load(Ordering::Acquire)
            });
            if !woke {
                // An unpark between our check and park() leaves a token: no lost wake-up.
                std::thread::park();
            }
        }
        // Nobody can observe the queued jobs any more; abort them so their waiters
        // (none should exist) and slots are settled.
        while let Some(job) = self.pop(me) {
            job.task.discard();
        }
    }
}

static NEXT_REGISTRY: AtomicUsize = AtomicUsize::new(1);

/// The most workers one client may have: far beyond any core count, and low enough that
/// the per-worker bookkeeping is allocated before the OS refuses a thread.
const MAX_WORKERS: usize = 1 << 16;

/// The worker threads of one client. Dropping it stops and joins them.
pub(crate) struct Registry {
    pub(crate) shared: Arc<Shared>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl Registry {
    pub(crate) fn new(n: usize) -> Result<Registry, Error> {
        if n == 0 {
            return Err(Error::NoWorkers);
        }
        if n > MAX_WORKERS {
            return Err(Error::Spawn(format!(
                "{n} workers asked for; a client has at most {MAX_WORKERS}"
            )));
        }
        panic_hook::install();
        let shared = Arc::new(Shared::new(n));
        let registry = Registry {
            shared: shared.clone(),
            handles: Mutex::new(Vec::new()),
        };
        for id in 0..n {
            let s = shared.clone();
            let handle = std::thread::Builder::new()
                .name(format!("rustpx-worker-{id}"))
                .spawn(move || s.main_loop(id))
                .map_err(|e| Error::Spawn(e.to_string()))?;
            *shared.workers[id].thread.lock() = Some(handle.thread().clone());
            registry.handles.lock().push(handle);
        }
        Ok(registry)
    }

    pub(crate) fn id(&self) -> usize {
        self.shared.id
    }

    pub(crate) fn len(&self) -> usize {
        self.shared.workers.len()
    }

    pub(crate) fn stats(&self) -> Vec<WorkerStats> {
        self.shared
            .workers
            .iter()
            .enumerate()
            .map(|(id, w)| WorkerStats {
                id,
                tasks_done: w.tasks_done.load(Ordering::Relaxed),
                busy: w.busy.load(Ordering::Relaxed) || w.queued.load(Ordering::Relaxed) > 0,
            })
            .collect()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.shared.terminate.store(true, Ordering::Release);
        for w in self.shared.workers.iter() {
            if let Some(t) = &*w.thread.lock() {
                t.unpark();
            }
        }
        let me = worker::current();
        for (id, handle) in self.handles.get_mut().drain(..).enumerate() {
            // The last handle may be dropped by a task on one of these workers; that
            // thread exits by itself once the task returns.
            if me != Some((self.shared.id, id)) {
                let _ = handle.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Client;
    use crate::job::Job;
    use crate::schedule::Plan;

    fn job_ref(len: usize, position: usize) -> JobRef {
        let task: Arc<dyn Task> = Job::new(len, Plan::Static, &[0], None, Box::new(|_, i| Ok(i)));
        JobRef { task, position }
    }

    #[test]
    fn queues_are_fifo_and_show_as_busy() {
        let shared = Shared::new(2);
        assert!(shared.pop(0).is_none());
        shared.push(1, job_ref(1, 7));
        shared.push(1, job_ref(1, 8));
        assert!(shared.pop(0).is_none(), "each worker has its own queue");
        assert_eq!(shared.pop(1).map(|j| j.position), Some(7));
        assert_eq!(shared.pop(1).map(|j| j.position), Some(8));
        assert!(shared.pop(1).is_none());
        shared.count_done(0, 3);
        assert_eq!(shared.workers[0].tasks_done.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn registries_have_distinct_ids_and_count_tasks() {
        assert!(matches!(Registry::new(0), Err(Error::NoWorkers)));
        let (a, b) = (Client::local(1).unwrap(), Client::local(2).unwrap());
        assert_ne!(a.registry().id(), b.registry().id());
        assert_eq!(b.registry().len(), 2);
        b.load_balanced_view().map(0..10, |x| x).unwrap();
        let stats = b.registry().stats();
        assert_eq!(stats.iter().map(|s| s.tasks_done).sum::<u64>(), 10);
    }

    #[test]
    fn terminating_discards_queued_jobs() {
        let shared = Arc::new(Shared::new(1));
        let job = Job::new(3, Plan::Static, &[0], None, Box::new(|_, i| Ok(i)));
        shared.push(
            0,
            JobRef {
                task: job.clone(),
                position: 0,
            },
        );
        shared.terminate.store(true, Ordering::Release);
        shared.main_loop(0);
        assert!(job.core().ready(), "the queued job was aborted");
        assert_eq!(job.core().state(), crate::State::Aborted);
    }
}
