//! The cell executor: one thread that owns the evcxr context and runs cells in order.
//!
//! Requests other than execute are answered by the async server while a cell runs; they
//! reach the context only through [`Executor::analysis_context`], which waits while evcxr
//! starts or warms up but gives up instead of waiting for a running cell.

use super::errors::CellError;
use super::history::History;
use super::interrupt::Interrupter;
use super::magics::{self, Magics, Prepared};
use super::outbox::Outbox;
use super::output::{self, CellOutput, SharedCell};
use super::session;
use super::wire::Request;
use crate::engines::{self, SharedEngines};

mod engine_cells;
use evcxr::{CommandContext, EvalCallbacks, EvalOutputs};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long an analysis request waits for evcxr to start and warm up before it settles
/// for the fallback (a start in a new build slot builds the runtime for minutes).
const START_WAIT: Duration = Duration::from_secs(600);

/// Analysed (not run) from the moment the runtime is linked: rust-analyzer's first
/// inference in a session loads the workspace and the items and impls of every crate a
/// cell can see, seconds that would otherwise all fall on the first `let` or the first
/// completion.
const WARM_UP: &str =
    "let rustpx_warm_up = Client::local(1).map(|c| c.direct_view());\nrustpx_warm_up.";

/// Handle to the executor thread.
pub struct Executor {
    jobs: crossbeam_channel::Sender<Request>,
    context: Arc<Mutex<Option<CommandContext>>>,
    /// Interrupts the running cell.
    pub interrupter: Arc<Interrupter>,
    /// The session's cells.
    pub history: Arc<Mutex<History>>,
    /// Where output is attributed; also read by the kernel's cargo-progress tap.
    pub cell: SharedCell,
    /// Set once the runtime is linked and the first cell can run.
    pub ready: Arc<AtomicBool>,
    /// Set while a cell (not the start or the warm-up) holds the context.
    running_cell: Arc<AtomicBool>,
}

impl Executor {
    /// Starts the executor thread, which immediately starts evcxr and the runtime.
    pub fn start(outbox: Arc<Outbox>) -> Executor {
        let (jobs, rx) = crossbeam_channel::unbounded();
        let exec = Executor {
            jobs,
            context: Arc::new(Mutex::new(None)),
            interrupter: Arc::new(Interrupter::default()),
            history: Arc::new(Mutex::new(History::default())),
            cell: Arc::new(Mutex::new(CellOutput::default())),
            ready: Arc::new(AtomicBool::new(false)),
            running_cell: Arc::new(AtomicBool::new(false)),
        };
        let engines = SharedEngines::default();
        let transfer_socket = std::env::var_os("EVCXR_TMPDIR")
            .map(std::path::PathBuf::from)
            .and_then(|dir| {
                engines::serve_transfers(&dir, engines.clone(), exec.cell.clone())
                    .inspect_err(|e| tracing::warn!("no transfers to the engines: {e:#}"))
                    .ok()
            });
        let mut thread = ExecutorThread {
            context: exec.context.clone(),
            interrupter: exec.interrupter.clone(),
            history: exec.history.clone(),
            cell: exec.cell.clone(),
            ready: exec.ready.clone(),
            running_cell: exec.running_cell.clone(),
            outbox,
            count: 0,
            startup_error: None,
            readers: None,
            magics: Magics::default(),
            pending_magics: None,
            engines,
            transfer_socket,
        };
        let _ = std::thread::Builder::new()
            .name("rustpx-executor".into())
            .spawn(move || thread.run(&rx));
        exec
    }

    /// Queues an execute request.
    pub fn submit(&self, request: Request) {
        let _ = self.jobs.send(request);
    }

    /// The evcxr context for analysis (completion, inspection): waits while evcxr starts
    /// or warms up, but gives up once a cell has held it for `patience`.
    pub fn analysis_context(
        &self,
        patience: Duration,
    ) -> Option<parking_lot::MutexGuard<'_, Option<CommandContext>>> {
        let deadline = Instant::now() + START_WAIT;
        loop {
            if let Some(guard) = self.context.try_lock_for(patience) {
                return Some(guard).filter(|c| c.is_some());
            }
            if self.running_cell.load(Ordering::Acquire) || Instant::now() >= deadline {
                return None;
            }
        }
    }
}

/// The state the executor thread owns: it alone runs cells in the evcxr context.
struct ExecutorThread {
    context: Arc<Mutex<Option<CommandContext>>>,
    interrupter: Arc<Interrupter>,
    history: Arc<Mutex<History>>,
    cell: SharedCell,
    ready: Arc<AtomicBool>,
    running_cell: Arc<AtomicBool>,
    outbox: Arc<Outbox>,
    count: usize,
    startup_error: Option<String>,
    /// The context's output readers, settled after each cell.
    readers: Option<output::OutputReaders>,
    /// `:px`, `:autopx`, … state; changed only by cells that succeed.
    magics: Magics,
    /// What the running cell's magics change if it succeeds.
    pending_magics: Option<Prepared>,
    /// The MPI engines, once `:engines start` ran.
    engines: SharedEngines,
    /// The socket the notebook's runtime asks to move values to and from the engines.
    transfer_socket: Option<std::path::PathBuf>,
}

impl ExecutorThread {
    fn run(&mut self, jobs: &crossbeam_channel::Receiver<Request>) {
        self.start_context();
        self.warm_up();
        while let Ok(request) = jobs.recv() {
            self.running_cell.store(true, Ordering::Release);
            self.execute(&request);
            self.running_cell.store(false, Ordering::Release);
        }
    }

    /// Has rust-analyzer analyse [`WARM_UP`] (a completion: nothing is compiled or run)
    /// on threads of its own, and returns at once: cells that define no variable need no
    /// analysis and run meanwhile (the first cell among them); one that does, or a
    /// completion, waits for it to end.
    fn warm_up(&mut self) {
        let started = Instant::now();
        if let Some(ctx) = self.context.lock().as_mut()
            && let Err(e) = ctx.prime_completions(WARM_UP, WARM_UP.len())
        {
            tracing::warn!("warming up rust-analyzer failed: {e}");
        }
        tracing::debug!("rust-analyzer warm-up started in {:?}", started.elapsed());
    }

    fn start_context(&mut self) {
        let mut guard = self.context.lock();
        let started = std::time::Instant::now();
        let result =
            session::new_context(self.transfer_socket.as_deref()).and_then(|(mut ctx, outputs)| {
                self.readers = Some(output::spawn_readers(
                    outputs.stdout,
                    outputs.stderr,
                    self.cell.clone(),
                    self.outbox.clone(),
                ));
                tracing::debug!("evcxr started in {:?}", started.elapsed());
                let runtime = super::runtime_embed::extract()?;
                let outputs = ctx
                    .execute(&session::prelude(&runtime))
                    .map_err(|e| anyhow::anyhow!("linking the rustpx runtime failed: {e}"))?;
                log_phases(&outputs);
                Ok(ctx)
            });
        match result {
            Ok(ctx) => {
                self.interrupter.attach(&ctx);
                *guard = Some(ctx);
                tracing::info!("evcxr and the runtime ready in {:?}", started.elapsed());
            }
            Err(e) => {
                tracing::error!("{e:#}");
                self.startup_error = Some(format!("{e:#}"));
            }
        }
        self.ready.store(true, Ordering::Release);
    }

    fn execute(&mut self, request: &Request) {
        let code = request.str("code").to_string();
        let silent = request.bool("silent", false);
        let store = request.bool("store_history", true) && !silent;
        if store {
            self.count += 1;
        }
        let count = self.count;
        if !request.announced {
            self.outbox
                .publish(request.iopub("status", json!({ "execution_state": "busy" })));
        }
        if !silent {
            self.outbox.publish(request.iopub(
                "execute_input",
                json!({ "code": code, "execution_count": count }),
            ));
        }
        *self.cell.lock() = CellOutput::for_request(request, silent);

        let outcome = self.run_cell(request, &code);
        let (reply, text_result) = self.publish_outcome(request, outcome, count, silent);
        if store {
            self.history.lock().push(count, &code, &text_result);
        }
        self.outbox.shell(request.reply("execute_reply", reply));
        self.outbox
            .publish(request.iopub("status", json!({ "execution_state": "idle" })));
    }

    /// Evaluates a cell, waits for its output, and commits or undoes what its magics
    /// change. A cell evcxr ran fine still failed if the child reported a failure.
    fn run_cell(&mut self, request: &Request, code: &str) -> Result<EvalOutputs, CellError> {
        let result = self.evaluate_settled(|this| this.evaluate(request, code));
        let ran = runs(&result) > 0;
        let reported = self.cell.lock().take_error();
        let outcome = match (result, reported) {
            (Ok(_), Some(error)) => Err(error),
            (result, _) => result,
        };

        if let Some(prepared) = self.pending_magics.take() {
            if outcome.is_ok() {
                self.magics.commit(prepared);
            } else if let (true, Some(code)) = (ran, &prepared.restore) {
                self.restore(code);
            }
        }
        outcome
    }

    /// Publishes the cell's value or error; returns the reply's content and the value's
    /// text (for the history).
    fn publish_outcome(
        &self,
        request: &Request,
        outcome: Result<EvalOutputs, CellError>,
        count: usize,
        silent: bool,
    ) -> (Value, String) {
        match outcome {
            Ok(outputs) => {
                let mut text_result = String::new();
                if !outputs.content_by_mime_type.is_empty() && !silent {
                    let data: Map<String, Value> = outputs
                        .content_by_mime_type
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                        .collect();
                    text_result = outputs.get("text/plain").unwrap_or("").to_string();
                    self.outbox.publish(request.iopub(
                        "execute_result",
                        json!({ "execution_count": count, "data": data, "metadata": {} }),
                    ));
                }
                let reply = json!({ "status": "ok", "execution_count": count,
                                    "payload": [], "user_expressions": {} });
                (reply, text_result)
            }
            Err(error) => {
                if !silent {
                    self.outbox.publish(request.iopub("error", error.fields()));
                }
                let mut reply = error.fields();
                reply["status"] = json!("error");
                reply["execution_count"] = json!(count);
                reply["payload"] = json!([]);
                reply["user_expressions"] = json!({});
                (reply, String::new())
            }
        }
    }

    /// Runs `evaluate`, then waits until the output readers have handled everything the
    /// runs it made wrote.
    fn evaluate_settled(
        &mut self,
        evaluate: impl FnOnce(&mut Self) -> Result<EvalOutputs, CellError>,
    ) -> Result<EvalOutputs, CellError> {
        let mark = self.readers.as_ref().map(output::OutputReaders::mark);
        let result = evaluate(self);
        if let (Some(readers), Some(mark)) = (&self.readers, mark) {
            readers.settle(mark, runs(&result));
        }
        result
    }

    /// Puts back the variables a failed `:px` cell redefined (see `rustpx::px::keep`).
    fn restore(&mut self, code: &str) {
        let context = self.context.clone();
        let result = self.evaluate_settled(|_| {
            let mut guard = context.lock();
            let ctx = guard
                .as_mut()
                .ok_or_else(|| CellError::not_started("evcxr is not running"))?;
            ctx.execute(code).map_err(CellError::from)
        });
        let failed = self.cell.lock().take_error();
        if let Some(error) = result.err().or(failed) {
            tracing::error!("restoring variables after a failed :px cell: {error}");
        }
    }

    /// Runs the code (after magic dispatch) and returns its outputs or error.
    fn evaluate(&mut self, request: &Request, code: &str) -> Result<EvalOutputs, CellError> {
        if let Some(error) = &self.startup_error {
            return Err(CellError::not_started(error.clone()));
        }
        if let Some(ctx) = self.context.lock().as_ref() {
            self.magics
                .observe_variable_types(ctx.variables_and_types());
        }
        let prepared = self
            .magics
            .prepare(code)
            .map_err(|e| CellError::message("MagicError", e.to_string()))?;
        for note in &prepared.notes {
            self.outbox.publish(request.iopub(
                "stream",
                json!({ "name": "stdout", "text": format!("{note}\n") }),
            ));
        }
        let code = prepared.code.clone();
        let (reply, append_help) = (prepared.reply.clone(), prepared.append_help);
        let engine_action = prepared.engines.clone();
        self.pending_magics = Some(prepared);
        if let Some(action) = engine_action {
            return self.on_engines(action);
        }
        if let Some(text) = reply {
            let mut outputs = EvalOutputs::new();
            outputs
                .content_by_mime_type
                .insert("text/plain".into(), text);
            return Ok(outputs);
        }
        if code.trim().is_empty() {
            return Ok(EvalOutputs::new());
        }
        let mut outputs = self.run_code(request, &code)?;
        if append_help {
            let text = outputs
                .content_by_mime_type
                .entry("text/plain".into())
                .or_default();
            text.push_str(&magics::help_text());
        }
        Ok(outputs)
    }

    /// Runs Rust code (and evcxr commands) in the context; the error says when an
    /// interrupt had to kill the child.
    fn run_code(&mut self, request: &Request, code: &str) -> Result<EvalOutputs, CellError> {
        let mut guard = self.context.lock();
        let Some(ctx) = guard.as_mut() else {
            return Err(CellError::not_started("evcxr is not running"));
        };
        let allow_stdin = request.bool("allow_stdin", false);
        let outbox = self.outbox.clone();
        let callbacks_request = request.clone();
        let mut callbacks = EvalCallbacks {
            input_reader: &move |input| {
                if !allow_stdin {
                    return String::new();
                }
                let (tx, rx) = std::sync::mpsc::channel();
                *outbox.input_waiter.lock() = Some(tx);
                let _ = outbox.stdin.send(callbacks_request.reply(
                    "input_request",
                    json!({ "prompt": input.prompt, "password": input.is_password }),
                ));
                rx.recv().unwrap_or_default()
            },
        };
        let cell = self.interrupter.begin();
        let result = ctx.execute_with_callbacks(code, &mut callbacks);
        let killed = self.interrupter.end(cell);
        if self.interrupter.refresh_pid(ctx) {
            // Per-worker variables died with the old process.
            self.magics.reset_variables();
            // A new child process: its interrupt handlers and the runtime's state are gone
            // (evcxr keeps its own `:fmt`/`:types` settings; the runtime's must match).
            let style = self.magics.debug_style().runtime_call();
            if let Err(e) = ctx.execute(&format!("{}\n{style}", session::RESTART_PRELUDE)) {
                tracing::error!("re-running the prelude after a restart failed: {e}");
            }
        }
        if killed {
            return Err(CellError::killed_after_interrupt());
        }
        if let Ok(outputs) = &result {
            log_phases(outputs);
        }
        result.map_err(CellError::from)
    }
}

/// Logs how long evcxr's steps took (`RUSTPX_LOG=rustpx=debug`).
pub fn log_phases(outputs: &EvalOutputs) {
    for phase in &outputs.phases {
        tracing::debug!("evcxr phase {}: {:?}", phase.name, phase.duration);
    }
}

/// How many times the child ran code for a cell: evcxr records an "Execution" phase for
/// each run that completed.
pub fn runs(result: &Result<EvalOutputs, CellError>) -> usize {
    result.as_ref().map_or(0, |outputs| {
        outputs
            .phases
            .iter()
            .filter(|p| p.name == "Execution")
            .count()
    })
}
