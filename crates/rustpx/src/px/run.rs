//! Running `:px` code: blocking ([`run`]) and `--noblock` ([`submit`] then [`result`]).

use super::output::{self, Sink};
use super::{BoxError, PxError, PxRun};
use crate::display::{RichDisplay, bundle, display};
use crate::protocol::StreamName;
use crate::{AsyncResult, DirectView, Error, PerWorker, Worker};
use parking_lot::Mutex;
use std::fmt::Debug;
use std::sync::Arc;

/// Runs `body` once on each worker of `view`, worker `i` getting `inputs[i]`, with its
/// printed output tagged by worker; shows the per-worker values (`Out[w]`) when
/// `options.show`; returns what each worker kept.
///
/// ```
/// use rustpx::px::{PxRun, run};
/// let rc = rustpx::Client::local(2)?;
/// let kept = run(&rc.direct_view(), PxRun::default(), vec![(), ()], |w, ()| {
///     rustpx::px_println!("hello from {}", w.id());
///     Ok((w.id() * 10, ()))
/// })?;
/// assert_eq!(kept.into_values(), vec![0, 10]);
/// # Ok::<(), rustpx::Error>(())
/// ```
///
/// # Errors
/// [`Error::Tasks`] listing every worker whose code panicked, returned `Err` or timed out;
/// [`Error::Interrupted`] on a kernel interrupt. Output printed before a failure is shown.
pub fn run<S, K, F, B>(
    view: &DirectView,
    options: PxRun,
    inputs: Vec<S>,
    body: B,
) -> Result<PerWorker<K>, Error>
where
    S: Send,
    K: Send,
    F: Debug + Send,
    B: Fn(&Worker, S) -> Result<(K, F), BoxError> + Sync,
{
    if inputs.len() != view.len() {
        return Err(Error::InputLength {
            expected: view.len(),
            got: inputs.len(),
        });
    }
    // Only this shim is generic, and so compiled into each `:px` cell; the scheduling
    // behind `run_erased` is compiled once, in the runtime.
    let inputs: Vec<Mutex<Option<S>>> = inputs.into_iter().map(|s| Mutex::new(Some(s))).collect();
    let kept: Vec<Mutex<Option<K>>> = inputs.iter().map(|_| Mutex::new(None)).collect();
    let erased = |w: &Worker| -> Result<String, BoxError> {
        let input = inputs[w.position()]
            .lock()
            .take()
            .ok_or("input already taken")?;
        let (k, f) = body(w, input)?;
        *kept[w.position()].lock() = Some(k);
        Ok(shown(&f))
    };
    let shown_values = run_erased(view, options, &erased)?;
    Ok(shown_values
        .ids()
        .iter()
        .zip(kept)
        .filter_map(|(&id, k)| k.into_inner().map(|k| (id, k)))
        .collect())
}

/// [`run`] without its type parameters: each worker's code keeps its own results and
/// returns how its value is shown.
fn run_erased(
    view: &DirectView,
    options: PxRun,
    body: &(dyn Fn(&Worker) -> Result<String, BoxError> + Sync),
) -> Result<PerWorker<String>, Error> {
    let sink = Sink::new(options.group_outputs);
    let view = with_timeout(view, options);
    let outcome = view.try_apply(|w| {
        let _capture = output::capture(w.id(), Arc::clone(&sink));
        body(w)
    });
    sink.show_grouped();
    let values = outcome?;
    if options.show {
        show_values(&values.clone().into_pairs().collect::<Vec<_>>());
    }
    Ok(values)
}

/// Starts `body` on each worker of `view` and returns at once (`:px --noblock`); the
/// outcome is kept for [`result`]. Output is kept and shown by `:pxresult`, since the run
/// may outlive its cell.
///
/// # Errors
/// [`Error::InputLength`] unless there is one input per worker.
pub fn submit<S, F, B>(
    view: &DirectView,
    options: PxRun,
    inputs: Vec<S>,
    body: B,
) -> Result<(), Error>
where
    S: Send + 'static,
    F: Debug + Send + 'static,
    B: Fn(&Worker, S) -> Result<F, BoxError> + Send + Sync + 'static,
{
    if inputs.len() != view.len() {
        return Err(Error::InputLength {
            expected: view.len(),
            got: inputs.len(),
        });
    }
    let sink = Sink::new(true);
    let targets = view.targets().to_vec();
    // Each worker takes its own input by its position among the targets, exactly once.
    let slots: Vec<Mutex<Option<S>>> = inputs.into_iter().map(|s| Mutex::new(Some(s))).collect();
    let task_sink = Arc::clone(&sink);
    let running = with_timeout(view, options).try_apply_async(move |w: &Worker| {
        let input = slots[w.position()]
            .lock()
            .take()
            .ok_or("input already taken")?;
        let _capture = output::capture(w.id(), Arc::clone(&task_sink));
        body(w, input).map(|f| shown(&f))
    });
    display(&bundle([(
        "text/plain",
        format!("<AsyncResult: :px --noblock on workers {targets:?}; :pxresult shows the outcome>"),
    )]));
    *LAST.lock() = Some(Arc::new(Noblock {
        show: options.show,
        sink,
        running: Mutex::new(Some(running)),
        outcome: Mutex::new(None),
    }));
    Ok(())
}

/// Waits for the last `:px --noblock` run and shows its outcome: each worker's output and
/// (when its code ended in an expression) value. It can be asked again.
///
/// # Errors
/// [`PxError::NothingPending`] if there was no `--noblock` run; [`Error::Tasks`] with each
/// failing worker; [`Error::Interrupted`] if the wait is interrupted (ask again later).
pub fn result() -> Result<PxResult, Error> {
    let last = LAST
        .lock()
        .clone()
        .ok_or(Error::Px(PxError::NothingPending))?;
    let mut outcome = last.outcome.lock();
    if outcome.is_none() {
        let mut running = last.running.lock();
        if let Some(r) = running.as_ref() {
            r.wait()?;
        }
        let finished = running.take().map(AsyncResult::get);
        let output = last.sink.grouped();
        *outcome = finished.map(|r| r.map(|values| (output, values.into_pairs().collect())));
    }
    match outcome.as_ref() {
        Some(Ok((output, values))) => {
            for (worker, name, text) in output {
                output::show(*worker, *name, text.clone());
            }
            Ok(PxResult {
                values: if last.show {
                    values.clone()
                } else {
                    Vec::new()
                },
            })
        }
        Some(Err(e)) => Err(e.clone()),
        None => Err(Error::Px(PxError::NothingPending)),
    }
}

static LAST: Mutex<Option<Arc<Noblock>>> = Mutex::new(None);

type Outcome = Result<(Vec<(usize, StreamName, String)>, Vec<(usize, String)>), Error>;

struct Noblock {
    show: bool,
    sink: Arc<Sink>,
    running: Mutex<Option<AsyncResult<PerWorker<String>>>>,
    outcome: Mutex<Option<Outcome>>,
}

/// The per-worker values of a `:px --noblock` run, as `:pxresult` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PxResult {
    /// `(worker, value shown with {:?})`; empty when the code ended in a statement.
    pub values: Vec<(usize, String)>,
}

impl RichDisplay for PxResult {
    fn mime_bundle(&self) -> crate::protocol::MimeBundle {
        bundle([("text/plain", out_lines(&self.values))])
    }
}

impl PxResult {
    /// Shows the values as a cell's result in evcxr.
    pub fn evcxr_display(&self) {
        crate::display::print_evcxr(&self.mime_bundle());
    }
}

fn with_timeout(view: &DirectView, options: PxRun) -> DirectView {
    match options.timeout {
        Some(limit) => view.timeout(limit),
        None => view.clone(),
    }
}

/// How a worker's value is shown; `()` (code ending in a statement) shows nothing.
fn shown<F: Debug>(value: &F) -> String {
    if std::any::type_name::<F>() == "()" {
        String::new()
    } else {
        format!("{value:?}")
    }
}

fn out_lines(values: &[(usize, String)]) -> String {
    values
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(w, v)| format!("Out[{w}]: {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn show_values(values: &[(usize, String)]) {
    let text = out_lines(values);
    if !text.is_empty() {
        display(&bundle([("text/plain", text)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Client;

    #[test]
    fn failing_worker_fails_the_run_with_its_message() {
        let rc = Client::local(2).unwrap();
        let err = run(
            &rc.direct_view(),
            PxRun::default(),
            vec![1, 0],
            |_, d: i32| {
                if d == 0 {
                    return Err("worker got zero".into());
                }
                Ok(((), ()))
            },
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("worker got zero") && text.contains("worker 1"),
            "{text}"
        );
    }

    #[test]
    fn panics_are_worker_failures_too() {
        let rc = Client::local(2).unwrap();
        let err = run(
            &rc.direct_view(),
            PxRun::default(),
            vec![(), ()],
            |w, ()| {
                assert!(w.id() != 0, "boom on zero");
                Ok(((), ()))
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("boom on zero"), "{err}");
    }

    #[test]
    fn noblock_outcome_is_kept_for_pxresult() {
        let rc = Client::local(2).unwrap();
        let view = rc.direct_view();
        submit(
            &view,
            PxRun {
                show: true,
                ..PxRun::default()
            },
            vec![5, 6],
            |w, x: i32| {
                rustpx_test_print(w.id());
                Ok(x * 2)
            },
        )
        .unwrap();
        let r = result().unwrap();
        assert_eq!(r.values, [(0, "10".to_string()), (1, "12".to_string())]);
        assert_eq!(result().unwrap(), r, "asking again shows the same");
        assert!(submit(&view, PxRun::default(), vec![1], |_, x: i32| Ok(x)).is_err());
    }

    fn rustpx_test_print(id: usize) {
        crate::px_println!("worker {id} says hi");
    }

    #[test]
    fn unit_values_are_not_shown() {
        assert_eq!(shown(&()), "");
        assert_eq!(shown(&Some(1)), "Some(1)");
        assert_eq!(
            out_lines(&[(0, String::new()), (1, "2".into())]),
            "Out[1]: 2"
        );
    }
}
