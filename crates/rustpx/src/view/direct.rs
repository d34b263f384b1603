//! [`DirectView`]: run on every target worker, or split items into one contiguous block
//! per worker (ipyparallel's `DirectView`).

use super::{failure, map_async_on, map_scoped, source_body};
use crate::job::{self, Job, collect, run_scoped};
use crate::scatter::{Gather, Scatter};
use crate::schedule::Plan;
use crate::source::{IntoSource, Source};
use crate::{AsyncMapResult, AsyncResult, Client, Error, PerWorker, Worker, client};
use std::fmt::{self, Display};
use std::time::Duration;

/// A set of target workers addressed directly (ipyparallel's `rc[targets]`).
///
/// Blocking calls (`apply`, `map`, …) may borrow local variables: they return only when
/// no task can still use the borrow, also on an interrupt or a time limit (they then
/// cancel and wait, so a task that never checks [`cancelled()`](crate::cancelled) delays
/// the return). `_async` calls need `'static` closures.
///
/// ```
/// let rc = rustpx::Client::local(2)?;
/// let dview = rc.direct_view();
/// let offset = 100;                       // borrowed by the blocking calls
/// let per = dview.apply(|w| w.id() + offset)?;
/// assert_eq!(per.into_values(), vec![100, 101]);
/// let squares = dview.map(0..6usize, |x| x * x + offset)?;
/// assert_eq!(squares, vec![100, 101, 104, 109, 116, 125]);
/// # Ok::<(), rustpx::Error>(())
/// ```
#[derive(Clone)]
pub struct DirectView {
    client: Client,
    targets: Vec<usize>,
    timeout: Option<Duration>,
}

impl DirectView {
    pub(crate) fn new(client: Client, targets: Vec<usize>) -> DirectView {
        DirectView {
            client,
            targets,
            timeout: None,
        }
    }

    /// The client the view belongs to.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The target worker ids, in order.
    pub fn targets(&self) -> &[usize] {
        &self.targets
    }

    /// How many targets the view has (at least one).
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Always `false`: a view has at least one target.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// A copy of the view whose tasks fail with
    /// [`Timeout`](crate::TaskErrorKind::Timeout) when still running `limit` after they
    /// started (their [`cancelled()`](crate::cancelled) turns true). Other tasks are
    /// unaffected.
    pub fn timeout(&self, limit: Duration) -> DirectView {
        DirectView {
            timeout: Some(limit),
            ..self.clone()
        }
    }

    /// Makes this the view `:px` runs on (see [`active_view`](crate::active_view)).
    pub fn activate(&self) {
        client::activate(self);
    }

    /// Runs `f` once on each target worker and waits; `f` may borrow.
    ///
    /// # Errors
    /// [`Error::Tasks`] with every worker's failure (panics included; the workers
    /// survive), [`Error::Interrupted`], [`Error::WouldDeadlock`] when called from a task
    /// on one of the targets.
    pub fn apply<R: Send, F: Fn(&Worker) -> R + Sync>(&self, f: F) -> Result<PerWorker<R>, Error> {
        let f = &f;
        self.run_per_worker(Box::new(move |w: &Worker, _| Ok(f(w))))
    }

    /// [`apply`](Self::apply) with a fallible closure: an `Err` fails that worker's task.
    ///
    /// ```
    /// let rc = rustpx::Client::local(2)?;
    /// let r = rc.direct_view().try_apply(|w| if w.id() == 1 { Err("no") } else { Ok(1) });
    /// assert!(r.unwrap_err().to_string().contains("task 1 on worker 1 failed: no"));
    /// # Ok::<(), rustpx::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`apply`](Self::apply).
    pub fn try_apply<R, E, F>(&self, f: F) -> Result<PerWorker<R>, Error>
    where
        R: Send,
        E: Display,
        F: Fn(&Worker) -> Result<R, E> + Sync,
    {
        let f = &f;
        self.run_per_worker(Box::new(move |w: &Worker, _| f(w).map_err(failure)))
    }

    fn run_per_worker<'a, R: Send + 'a>(
        &self,
        body: job::Body<'a, R>,
    ) -> Result<PerWorker<R>, Error> {
        let n = self.targets.len();
        let outcomes = run_scoped(
            &self.client,
            &self.targets,
            n,
            Plan::Static,
            self.timeout,
            body,
        )?;
        Ok(PerWorker::from_parts(
            self.targets.clone(),
            collect(outcomes)?,
        ))
    }

    /// Runs `f` once on each target worker in the background.
    pub fn apply_async<R, F>(&self, f: F) -> AsyncResult<PerWorker<R>>
    where
        R: Send + 'static,
        F: Fn(&Worker) -> R + Send + Sync + 'static,
    {
        self.per_worker_async(Box::new(move |w, _| Ok(f(w))))
    }

    fn per_worker_async<R: Send + 'static>(
        &self,
        body: job::Body<'static, R>,
    ) -> AsyncResult<PerWorker<R>> {
        let n = self.targets.len();
        let job = Job::new(n, Plan::Static, &self.targets, self.timeout, body);
        job.submit(&self.client);
        let ids = self.targets.clone();
        let taker = job.clone();
        AsyncResult::new(
            job,
            self.client.clone(),
            Box::new(move || Ok(PerWorker::from_parts(ids, collect(taker.take_all())?))),
        )
    }

    /// Runs `f(worker, input)` on each target, input `i` going to target `i`; the inputs
    /// may be `&mut` borrows (how `:px` hands each worker its own variable).
    ///
    /// ```
    /// let rc = rustpx::Client::local(2)?;
    /// let dview = rc.direct_view();
    /// let mut totals = dview.push(0u64);
    /// dview.apply_with(totals.as_mut().into_values(), |w, t| *t += w.id() as u64 + 1)?;
    /// assert_eq!(totals.into_values(), vec![1, 2]);
    /// # Ok::<(), rustpx::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InputLength`] unless there is one input per target; else as
    /// [`apply`](Self::apply).
    pub fn apply_with<S, R, F>(&self, inputs: Vec<S>, f: F) -> Result<PerWorker<R>, Error>
    where
        S: Send,
        R: Send,
        F: Fn(&Worker, S) -> R + Sync,
    {
        if inputs.len() != self.targets.len() {
            return Err(Error::InputLength {
                expected: self.targets.len(),
                got: inputs.len(),
            });
        }
        let f = &f;
        self.run_per_worker(source_body(inputs.into_source(), move |w, s| Ok(f(w, s))))
    }

    /// [`apply_with`](Self::apply_with) for a closure that can fail: an `Err` becomes a
    /// [`TaskError`](crate::TaskError) of that worker (how `:px` code's `?` fails a worker).
    ///
    /// ```
    /// let rc = rustpx::Client::local(2)?;
    /// let r = rc.direct_view().try_apply_with(vec![1, 0], |_, d| {
    ///     if d == 0 { Err("division by zero") } else { Ok(10 / d) }
    /// });
    /// assert!(r.unwrap_err().to_string().contains("division by zero"));
    /// # Ok::<(), rustpx::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`apply_with`](Self::apply_with), plus every `Err` returned.
    pub fn try_apply_with<S, R, E, F>(&self, inputs: Vec<S>, f: F) -> Result<PerWorker<R>, Error>
    where
        S: Send,
        R: Send,
        E: Display,
        F: Fn(&Worker, S) -> Result<R, E> + Sync,
    {
        if inputs.len() != self.targets.len() {
            return Err(Error::InputLength {
                expected: self.targets.len(),
                got: inputs.len(),
            });
        }
        let f = &f;
        self.run_per_worker(source_body(inputs.into_source(), move |w, s| {
            f(w, s).map_err(failure)
        }))
    }

    /// [`apply_async`](Self::apply_async) for a closure that can fail: an `Err` becomes a
    /// [`TaskError`](crate::TaskError) of that worker.
    pub fn try_apply_async<R, E, F>(&self, f: F) -> AsyncResult<PerWorker<R>>
    where
        R: Send + 'static,
        E: Display,
        F: Fn(&Worker) -> Result<R, E> + Send + Sync + 'static,
    {
        self.per_worker_async(Box::new(move |w, _| f(w).map_err(failure)))
    }

    /// Maps `f` over `items`, one contiguous block per target worker (ipyparallel's
    /// `DirectView.map`), and waits. Results are in item order; `f` may borrow.
    ///
    /// # Errors
    /// As [`apply`](Self::apply); every failed item is listed. Before any task runs,
    /// [`Error::TooManyItems`] for more items than a `usize` counts and
    /// [`Error::OutOfMemory`] when their results cannot be held.
    pub fn map<I, R, F>(&self, items: I, f: F) -> Result<Vec<R>, Error>
    where
        I: IntoSource,
        R: Send,
        F: Fn(<I::Source as Source>::Item) -> R + Sync,
    {
        let f = &f;
        self.run_map(items.into_source(), move |_, x| Ok(f(x)))
    }

    /// [`map`](Self::map) with a fallible closure.
    ///
    /// # Errors
    /// As [`map`](Self::map).
    pub fn try_map<I, R, E, F>(&self, items: I, f: F) -> Result<Vec<R>, Error>
    where
        I: IntoSource,
        R: Send,
        E: Display,
        F: Fn(<I::Source as Source>::Item) -> Result<R, E> + Sync,
    {
        let f = &f;
        self.run_map(items.into_source(), move |_, x| f(x).map_err(failure))
    }

    fn run_map<'a, S, R, G>(&self, source: S, g: G) -> Result<Vec<R>, Error>
    where
        S: Source + 'a,
        R: Send + 'a,
        G: Fn(&Worker, S::Item) -> Result<R, job::Failure> + Send + Sync + 'a,
    {
        map_scoped(
            &self.client,
            &self.targets,
            |_| Plan::Static,
            self.timeout,
            source,
            g,
        )
    }

    /// [`map`](Self::map) in the background; needs a `'static` closure and items (see
    /// [`AsyncMapResult`] for the compiler error otherwise). Items too many to count or
    /// to hold results for ([`Error::TooManyItems`], [`Error::OutOfMemory`]) start no
    /// task: the result is ready at once and its `wait` and `get` return that error.
    pub fn map_async<I, R, F>(&self, items: I, f: F) -> AsyncMapResult<R>
    where
        I: IntoSource,
        I::Source: 'static,
        R: Send + 'static,
        F: Fn(<I::Source as Source>::Item) -> R + Send + Sync + 'static,
    {
        map_async_on(
            &self.client,
            &self.targets,
            |_| Plan::Static,
            self.timeout,
            items.into_source(),
            move |_, x| Ok(f(x)),
        )
    }

    /// Splits `data` into one contiguous part per target, the first `len % n` parts one
    /// element longer (ipyparallel's scatter). `Vec`s, slices and ndarray arrays (along
    /// axis 0) scatter.
    ///
    /// ```
    /// let rc = rustpx::Client::local(3)?;
    /// let dview = rc.direct_view();
    /// let parts = dview.scatter((0..8).collect::<Vec<i32>>());
    /// assert_eq!(parts[0], vec![0, 1, 2]);
    /// assert_eq!(parts[2], vec![6, 7]);
    /// let sums = dview.apply_with(parts.as_ref().into_values(), |_, p| p.iter().sum::<i32>())?;
    /// assert_eq!(sums.iter().sum::<i32>(), 28);
    /// assert_eq!(dview.gather(&parts), (0..8).collect::<Vec<i32>>());
    /// # Ok::<(), rustpx::Error>(())
    /// ```
    pub fn scatter<D: Scatter>(&self, data: D) -> PerWorker<D::Part> {
        PerWorker::from_parts(self.targets.clone(), data.split_into(self.targets.len()))
    }

    /// Gives each target exactly one element (ipyparallel's `scatter(..., flatten=True)`).
    ///
    /// # Errors
    /// [`Error::InputLength`] unless there is one element per target.
    pub fn scatter_flatten<T>(&self, data: Vec<T>) -> Result<PerWorker<T>, Error> {
        PerWorker::new(self.targets.clone(), data)
    }

    /// Joins per-worker parts in target order: `Vec`s concatenated, arrays concatenated
    /// along axis 0 (a `Result`, as shapes may not fit).
    pub fn gather<T: Gather>(&self, parts: &PerWorker<T>) -> T::Output {
        T::gather(parts)
    }

    /// One clone of `value` per target.
    pub fn push<T: Clone>(&self, value: T) -> PerWorker<T> {
        PerWorker::from_parts(self.targets.clone(), vec![value; self.targets.len()])
    }
}

impl fmt::Debug for DirectView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<DirectView {:?}>", self.targets)
    }
}

impl fmt::Display for DirectView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
