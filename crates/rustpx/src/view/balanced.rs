//! [`LoadBalancedView`]: items go to whichever target worker is idle, `chunksize` at a
//! time (ipyparallel's `LoadBalancedView`, multiprocessing's `Pool.map`).

use super::{failure, map_async_on, map_scoped, source_body};
use crate::job::{self, Job, collect, run_scoped};
use crate::result::start_imap;
use crate::schedule::Plan;
use crate::source::{IntoSource, Source};
use crate::{AsyncMapResult, AsyncResult, Client, Error, Imap, Worker};
use parking_lot::Mutex;
use std::fmt::{self, Display};
use std::sync::Arc;
use std::time::Duration;

/// A set of workers fed dynamically: an idle worker claims the next chunk of items.
///
/// Options are builder methods returning a configured copy, like ipyparallel's
/// `set_flags`: [`chunksize`](Self::chunksize), [`ordered`](Self::ordered),
/// [`timeout`](Self::timeout).
///
/// ```
/// let rc = rustpx::Client::local(2)?;
/// let lview = rc.load_balanced_view();
/// let threshold = 3;                                 // blocking calls may borrow
/// let big = lview.chunksize(1).map(vec![1, 5, 2, 7], |x| x > threshold)?;
/// assert_eq!(big, vec![false, true, false, true]);
/// # Ok::<(), rustpx::Error>(())
/// ```
#[derive(Clone)]
pub struct LoadBalancedView {
    client: Client,
    targets: Vec<usize>,
    chunksize: Option<usize>,
    ordered: bool,
    timeout: Option<Duration>,
}

impl LoadBalancedView {
    pub(crate) fn new(client: Client, targets: Vec<usize>) -> LoadBalancedView {
        LoadBalancedView {
            client,
            targets,
            chunksize: None,
            ordered: true,
            timeout: None,
        }
    }

    /// The client the view belongs to.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The target worker ids.
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

    /// A copy that hands out `n` items per claim (at least 1). The default is
    /// multiprocessing's: about four chunks per worker
    /// ([`auto_chunksize`](crate::schedule::auto_chunksize)).
    pub fn chunksize(&self, n: usize) -> LoadBalancedView {
        LoadBalancedView {
            chunksize: Some(n.max(1)),
            ..self.clone()
        }
    }

    /// A copy whose [`imap`](Self::imap) yields in item order (`true`, the default) or as
    /// tasks complete (`false`). `map` always returns item order.
    pub fn ordered(&self, ordered: bool) -> LoadBalancedView {
        LoadBalancedView {
            ordered,
            ..self.clone()
        }
    }

    /// A copy whose tasks fail with [`Timeout`](crate::TaskErrorKind::Timeout) when still
    /// running `limit` after they started; the rest of the map is unaffected. (Not applied
    /// to [`imap`](Self::imap).)
    pub fn timeout(&self, limit: Duration) -> LoadBalancedView {
        LoadBalancedView {
            timeout: Some(limit),
            ..self.clone()
        }
    }

    /// The current options: (chunksize if set, ordered, timeout).
    pub fn options(&self) -> (Option<usize>, bool, Option<Duration>) {
        (self.chunksize, self.ordered, self.timeout)
    }

    fn plan(&self, len: usize) -> Plan {
        Plan::balanced(len, self.targets.len(), self.chunksize)
    }

    /// Maps `f` over `items` on whichever workers are idle and waits; results in item
    /// order. `f` may borrow.
    ///
    /// # Errors
    /// [`Error::Tasks`] with every failed item (the others still ran),
    /// [`Error::Interrupted`], [`Error::WouldDeadlock`] when called from a task on one of
    /// the targets; before any task runs, [`Error::TooManyItems`] for more items than a
    /// `usize` counts and [`Error::OutOfMemory`] when their results cannot be held.
    pub fn map<I, R, F>(&self, items: I, f: F) -> Result<Vec<R>, Error>
    where
        I: IntoSource,
        R: Send,
        F: Fn(<I::Source as Source>::Item) -> R + Sync,
    {
        let f = &f;
        self.run_map(items.into_source(), move |_, x| Ok(f(x)))
    }

    /// [`map`](Self::map) with a fallible closure; each `Err` fails its item.
    ///
    /// ```
    /// let rc = rustpx::Client::local(2)?;
    /// let r = rc.load_balanced_view().try_map(["1", "x", "3"], |s| s.parse::<i32>());
    /// let err = r.unwrap_err().to_string();
    /// assert!(err.starts_with("1 of 3 tasks failed") && err.contains("task 1"), "{err}");
    /// # Ok::<(), rustpx::Error>(())
    /// ```
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
        let plan = |len| self.plan(len);
        map_scoped(&self.client, &self.targets, plan, self.timeout, source, g)
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
            |len| self.plan(len),
            self.timeout,
            items.into_source(),
            move |_, x| Ok(f(x)),
        )
    }

    /// Maps in the background and yields results as they arrive (in item order unless
    /// [`ordered(false)`](Self::ordered)), never holding more than a bounded number of
    /// them. The chunk size defaults to the automatic one capped at 64, to keep the
    /// buffers small. Items too many to count ([`Error::TooManyItems`]) start no task;
    /// the iterator yields one `Cancelled` error naming the count.
    ///
    /// ```
    /// let rc = rustpx::Client::local(2)?;
    /// let lview = rc.load_balanced_view();
    /// let total: u64 = lview.imap(0..10_000u64, |x| x * 2).map(|r| r.unwrap()).sum();
    /// assert_eq!(total, 99_990_000);
    /// let mut any_order: Vec<u64> =
    ///     lview.ordered(false).imap(0..5u64, |x| x).map(Result::unwrap).collect();
    /// any_order.sort();
    /// assert_eq!(any_order, vec![0, 1, 2, 3, 4]);
    /// # Ok::<(), rustpx::Error>(())
    /// ```
    pub fn imap<I, R, F>(&self, items: I, f: F) -> Imap<R>
    where
        I: IntoSource,
        I::Source: 'static,
        R: Send + 'static,
        F: Fn(<I::Source as Source>::Item) -> R + Send + Sync + 'static,
    {
        let source = items.into_source();
        // Too many items to count: an imap holds no slot per item, so only the count
        // can fail, and it is reported by the first `next`.
        let (len, refused) = match source.try_len() {
            Ok(len) => (len, None),
            Err(e) => (0, Some(e)),
        };
        let plan = Plan::streamed(len, self.targets.len(), self.chunksize);
        let body = source_body(source, move |_, x| Ok(f(x)));
        let imap = start_imap(&self.client, &self.targets, len, plan, self.ordered, body);
        imap.refusing(refused)
    }

    /// Runs `f` once on the first idle target worker and waits; `f` may borrow.
    ///
    /// ```
    /// let rc = rustpx::Client::local(2)?;
    /// let data = vec![1, 2, 3];
    /// assert_eq!(rc.load_balanced_view().apply(|| data.iter().sum::<i32>())?, 6);
    /// # Ok::<(), rustpx::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`map`](Self::map).
    pub fn apply<R: Send, F: FnOnce() -> R + Send>(&self, f: F) -> Result<R, Error> {
        let once = Mutex::new(Some(f));
        let body: job::Body<'_, R> = Box::new(move |_, _| run_once(&once));
        let mut out = collect(run_scoped(
            &self.client,
            &self.targets,
            1,
            Plan::Dynamic { chunk: 1 },
            self.timeout,
            body,
        )?)?;
        out.pop().ok_or(Error::NoWorkers)
    }

    /// Runs `f` once on the first idle target worker, in the background.
    pub fn apply_async<R, F>(&self, f: F) -> AsyncResult<R>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let once = Mutex::new(Some(f));
        let body: job::Body<'static, R> = Box::new(move |_, _| run_once(&once));
        let job = Job::new(
            1,
            Plan::Dynamic { chunk: 1 },
            &self.targets,
            self.timeout,
            body,
        );
        job.submit(&self.client);
        let taker = job.clone();
        AsyncResult::new(
            job,
            self.client.clone(),
            Box::new(move || collect(taker.take_all())?.pop().ok_or(Error::NoWorkers)),
        )
    }

    /// A reusable load-balanced function (the `@lview.parallel()` idiom).
    ///
    /// ```
    /// let rc = rustpx::Client::local(2)?;
    /// let square = rc.load_balanced_view().parallel(|x: i64| x * x);
    /// assert_eq!(square.map(vec![1, 2, 3])?, vec![1, 4, 9]);
    /// assert_eq!(square.map_async(0..4i64).get()?, vec![0, 1, 4, 9]);
    /// # Ok::<(), rustpx::Error>(())
    /// ```
    pub fn parallel<F>(&self, f: F) -> ParallelFunction<F> {
        ParallelFunction {
            view: self.clone(),
            f: Arc::new(f),
        }
    }
}

fn run_once<R, F: FnOnce() -> R>(once: &Mutex<Option<F>>) -> Result<R, job::Failure> {
    let f = once.lock().take();
    f.map(|f| f())
        .ok_or_else(|| job::Failure::Error("the task already ran".into()))
}

impl fmt::Debug for LoadBalancedView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<LoadBalancedView {:?}>", self.targets)
    }
}

/// A function bound to a [`LoadBalancedView`]; see [`LoadBalancedView::parallel`].
pub struct ParallelFunction<F> {
    view: LoadBalancedView,
    f: Arc<F>,
}

impl<F> Clone for ParallelFunction<F> {
    fn clone(&self) -> Self {
        ParallelFunction {
            view: self.view.clone(),
            f: self.f.clone(),
        }
    }
}

impl<F> ParallelFunction<F> {
    /// The view it runs on.
    pub fn view(&self) -> &LoadBalancedView {
        &self.view
    }

    /// Maps the function over `items` and waits.
    ///
    /// # Errors
    /// As [`LoadBalancedView::map`].
    pub fn map<I, R>(&self, items: I) -> Result<Vec<R>, Error>
    where
        I: IntoSource,
        R: Send,
        F: Fn(<I::Source as Source>::Item) -> R + Sync,
    {
        self.view.map(items, &*self.f)
    }

    /// Maps the function over `items` in the background.
    pub fn map_async<I, R>(&self, items: I) -> AsyncMapResult<R>
    where
        I: IntoSource,
        I::Source: 'static,
        R: Send + 'static,
        F: Fn(<I::Source as Source>::Item) -> R + Send + Sync + 'static,
    {
        let f = self.f.clone();
        self.view.map_async(items, move |x| f(x))
    }
}
