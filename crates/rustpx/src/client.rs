//! [`Client`]: a set of long-lived worker threads, and the process-wide default client
//! and active view that `:px` uses.

use crate::registry::{Registry, WorkerStats};
use crate::targets::IntoTargets;
use crate::{DirectView, Error, LoadBalancedView};
use parking_lot::Mutex;
use std::fmt;
use std::sync::Arc;

/// A handle to a set of worker threads with ids `0..n`, as ipyparallel's `Client`.
///
/// Clones share the workers. Views and pending results hold a handle too; when the last
/// handle is dropped the threads finish their current task, stop, and are joined.
///
/// ```
/// use rustpx::Client;
/// let rc = Client::local(4)?;
/// assert_eq!(rc.ids(), vec![0, 1, 2, 3]);
/// let evens = rc.view((0..).step_by(2))?;
/// assert_eq!(evens.targets(), &[0, 2]);
/// assert!(Client::local(0).is_err());
/// # Ok::<(), rustpx::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    registry: Arc<Registry>,
}

impl Client {
    /// Starts `n` worker threads.
    ///
    /// # Errors
    /// [`Error::NoWorkers`] for `n == 0`; [`Error::Spawn`] for more than 65,536 workers
    /// or if a thread cannot start.
    pub fn local(n: usize) -> Result<Client, Error> {
        Ok(Client {
            registry: Arc::new(Registry::new(n)?),
        })
    }

    /// Starts one worker per logical core.
    ///
    /// # Errors
    /// [`Error::Spawn`] if a thread cannot start.
    pub fn new() -> Result<Client, Error> {
        Client::local(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The worker ids, `0..len()`.
    pub fn ids(&self) -> Vec<usize> {
        (0..self.len()).collect()
    }

    /// How many workers there are (at least one).
    pub fn len(&self) -> usize {
        self.registry.len()
    }

    /// Always `false`: a client has at least one worker.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Each worker's id, tasks run so far, and whether it is busy.
    ///
    /// ```
    /// let rc = rustpx::Client::local(2)?;
    /// rc.direct_view().map(0..10, |x| x)?;
    /// let stats = rc.worker_stats();
    /// assert_eq!(stats.iter().map(|s| s.tasks_done).sum::<u64>(), 10);
    /// # Ok::<(), rustpx::Error>(())
    /// ```
    pub fn worker_stats(&self) -> Vec<WorkerStats> {
        self.registry.stats()
    }

    /// A direct view on `targets` (ipyparallel's `rc[targets]`).
    ///
    /// # Errors
    /// [`Error::UnknownWorker`] for an id that is not a worker, [`Error::NoWorkers`] when
    /// the targets select none.
    pub fn view(&self, targets: impl IntoTargets) -> Result<DirectView, Error> {
        let ids = targets.into_targets()?.resolve(self.len())?;
        Ok(DirectView::new(self.clone(), ids))
    }

    /// A direct view on every worker (ipyparallel's `rc[:]`).
    pub fn direct_view(&self) -> DirectView {
        DirectView::new(self.clone(), self.ids())
    }

    /// A load-balanced view on every worker.
    pub fn load_balanced_view(&self) -> LoadBalancedView {
        LoadBalancedView::new(self.clone(), self.ids())
    }

    /// A load-balanced view on `targets`.
    ///
    /// # Errors
    /// As [`Client::view`].
    pub fn load_balanced_view_on(
        &self,
        targets: impl IntoTargets,
    ) -> Result<LoadBalancedView, Error> {
        let ids = targets.into_targets()?.resolve(self.len())?;
        Ok(LoadBalancedView::new(self.clone(), ids))
    }

    /// Whether two handles share the same workers.
    pub fn same_as(&self, other: &Client) -> bool {
        Arc::ptr_eq(&self.registry, &other.registry)
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Client({} workers)", self.len())
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Client: {} workers, ids {:?}>", self.len(), self.ids())
    }
}

static DEFAULT: Mutex<Option<Client>> = Mutex::new(None);
static ACTIVE: Mutex<Option<DirectView>> = Mutex::new(None);

/// The process-wide default client, started with one worker per core on first use
/// (the client `:px` runs on until a view is activated).
///
/// ```
/// let rc = rustpx::default_client()?;
/// assert!(rc.same_as(&rustpx::default_client()?));
/// # Ok::<(), rustpx::Error>(())
/// ```
pub fn default_client() -> Result<Client, Error> {
    let mut slot = DEFAULT.lock();
    if let Some(c) = &*slot {
        return Ok(c.clone());
    }
    let c = Client::new()?;
    *slot = Some(c.clone());
    Ok(c)
}

/// Replaces the default client with one of `n` workers (`:workers N`). The old workers
/// stop once nothing uses them any more. An activated view on the old default client is
/// deactivated, so `:px` follows the new one.
///
/// # Errors
/// [`Error::NoWorkers`] for `n == 0` (the old client is kept).
pub fn set_default_workers(n: usize) -> Result<Client, Error> {
    let c = Client::local(n)?;
    let old = DEFAULT.lock().replace(c.clone());
    if let Some(old) = old {
        let mut active = ACTIVE.lock();
        if active.as_ref().is_some_and(|v| v.client().same_as(&old)) {
            *active = None;
        }
    }
    Ok(c)
}

/// The view `:px` runs on: the last one [`activate`](DirectView::activate)d, else the
/// default client's direct view.
///
/// ```
/// let rc = rustpx::Client::local(2)?;
/// let v = rc.view(1)?;
/// v.activate();
/// assert_eq!(rustpx::active_view()?.targets(), &[1]);
/// # Ok::<(), rustpx::Error>(())
/// ```
pub fn active_view() -> Result<DirectView, Error> {
    if let Some(v) = &*ACTIVE.lock() {
        return Ok(v.clone());
    }
    Ok(default_client()?.direct_view())
}

pub(crate) fn activate(view: &DirectView) {
    *ACTIVE.lock() = Some(view.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test owns the process-wide default client and active view.
    #[test]
    fn replacing_the_default_client_deactivates_its_views() {
        let first = set_default_workers(2).unwrap();
        assert!(default_client().unwrap().same_as(&first));
        first.view(1).unwrap().activate();
        assert_eq!(active_view().unwrap().targets(), &[1]);
        assert!(matches!(set_default_workers(0), Err(Error::NoWorkers)));
        assert!(default_client().unwrap().same_as(&first), "kept on error");
        let second = set_default_workers(3).unwrap();
        assert!(!second.same_as(&first));
        assert_eq!(active_view().unwrap().targets(), &[0, 1, 2]);
        let other = Client::local(1).unwrap();
        other.direct_view().activate();
        set_default_workers(1).unwrap();
        assert!(
            active_view().unwrap().client().same_as(&other),
            "a view on another client stays active"
        );
    }

    #[test]
    fn clients_describe_themselves() {
        let rc = Client::local(2).unwrap();
        assert_eq!(format!("{rc:?}"), "Client(2 workers)");
        assert_eq!(rc.to_string(), "<Client: 2 workers, ids [0, 1]>");
        assert!(rc.same_as(&rc.clone()) && !rc.is_empty());
        assert_eq!(rc.load_balanced_view_on(1..).unwrap().targets(), &[1]);
        assert!(rc.view(5).is_err());
    }
}
