//! The executor's side of the MPI engines: `:engines …` and `:px --engines` cells, run
//! against the engines' own evcxr context (see `crate::engines`) instead of the notebook's.

use super::ExecutorThread;
use crate::engines::Engines;
use crate::errors::CellError;
use crate::magics::EngineAction;
use evcxr::EvalOutputs;

impl ExecutorThread {
    /// Carries out `:engines …` or `:px --engines`.
    pub(super) fn on_engines(&self, action: EngineAction) -> Result<EvalOutputs, CellError> {
        let reply = |text: String| {
            let mut outputs = EvalOutputs::new();
            outputs
                .content_by_mime_type
                .insert("text/plain".into(), text);
            Ok(outputs)
        };
        let not_running = "no engines are running (start them with :engines start -n N)";
        let mut engines = self.engines.lock();
        match (action, &mut *engines) {
            (EngineAction::Start { ranks, hostfile }, None) => {
                let started = Engines::start(
                    ranks,
                    hostfile.as_deref(),
                    self.cell.clone(),
                    self.outbox.clone(),
                )
                .map_err(|e| CellError::message("EngineStartError", format!("{e:#}")))?;
                let table = started.table().unwrap_or_default();
                *engines = Some(started);
                reply(format!("{ranks} engines started\n{table}"))
            }
            (EngineAction::Start { .. }, Some(running)) => Err(CellError::message(
                "EngineError",
                format!(
                    "{} engines are already running; :engines stop first",
                    running.len()
                ),
            )),
            (EngineAction::Show, Some(running)) => running
                .table()
                .map_err(|e| CellError::message("EngineError", format!("{e:#}")))
                .and_then(reply),
            (EngineAction::Stop, Some(_)) => {
                let count = engines.take().map_or(0, |e| e.len());
                reply(format!("{count} engines stopped"))
            }
            (EngineAction::Show | EngineAction::Stop, None) => reply(not_running.into()),
            (EngineAction::Run(code), Some(running)) => self.run_on_engines(running, &code),
            (EngineAction::Run(_), None) => Err(CellError::message("EngineError", not_running)),
        }
    }
}

impl ExecutorThread {
    /// Runs `:px --engines` code, with interrupts sent to the engines' hub. The engines'
    /// output readers are settled by [`Engines::run`]; the notebook's saw no run, so the
    /// phases that count runs are not passed on.
    fn run_on_engines(&self, engines: &mut Engines, code: &str) -> Result<EvalOutputs, CellError> {
        let notebook = self.interrupter.swap_pid(engines.hub_pid());
        let cell = self.interrupter.begin();
        let result = engines.run(code);
        let killed = self.interrupter.end(cell);
        self.interrupter.swap_pid(notebook);
        match result {
            Ok(mut outputs) => {
                outputs.phases.clear();
                Ok(outputs)
            }
            // A hub that lost its engines reports why before it ends; evcxr only sees
            // its child end (and starts a new hub, so new engines).
            Err(error) => Err(self
                .cell
                .lock()
                .take_error()
                .or_else(|| killed.then(CellError::engines_killed_after_interrupt))
                .unwrap_or(error)),
        }
    }
}
