//! The Jupyter server: the five sockets from a connection file and request dispatch.
//!
//! Each socket has one task; replies and IOPub messages go through the [`Outbox`] queues,
//! so the cell executor (a plain thread) and the request handlers never share a socket.
//! Shell requests other than execute are answered at once, also while a cell runs.

use super::complete;
use super::execute::Executor;
use super::is_complete::is_complete;
use super::outbox::Outbox;
use super::wire::{self, RecvError, Request, iopub_message};
use anyhow::{Context, Result};
use jupyter_protocol::{ConnectionInfo, JupyterMessage};
use jupyter_zmq_client as zmq_client;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use zeromq::{SocketRecv, SocketSend};

/// Reads a connection file.
pub fn read_connection_file(path: &Path) -> Result<ConnectionInfo> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading connection file {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Serves the kernel until a shutdown request.
pub async fn serve(info: ConnectionInfo) -> Result<()> {
    if info.signature_scheme != "hmac-sha256" && !info.key.is_empty() {
        anyhow::bail!("unsupported signature scheme {}", info.signature_scheme);
    }
    let session = format!("rustpx-{}-{}", std::process::id(), jupyter_protocol_time());
    let mut iopub = zmq_client::create_kernel_iopub_connection(&info, &session).await?;
    let (mut shell_tx, mut shell_rx) = zmq_client::create_kernel_shell_connection(&info, &session)
        .await?
        .split();
    let (mut control_tx, mut control_rx) =
        zmq_client::create_kernel_control_connection(&info, &session)
            .await?
            .split();
    let (mut stdin_tx, mut stdin_rx) = zmq_client::create_kernel_stdin_connection(&info, &session)
        .await?
        .split();
    let mut heartbeat = zmq_client::create_kernel_heartbeat_connection(&info).await?;

    let (iopub_q, mut iopub_r) = unbounded_channel::<JupyterMessage>();
    let (shell_q, shell_r) = unbounded_channel();
    let (control_q, control_r) = unbounded_channel();
    let (stdin_q, stdin_r) = unbounded_channel();
    tokio::spawn(async move {
        while let Some(message) = iopub_r.recv().await {
            if let Err(e) = iopub.send(message).await {
                tracing::error!("iopub send failed: {e}");
            }
        }
    });
    tokio::spawn(async move {
        let mut r: UnboundedReceiver<JupyterMessage> = shell_r;
        while let Some(m) = r.recv().await {
            if let Err(e) = shell_tx.send(m).await {
                tracing::error!("shell send failed: {e}");
            }
        }
    });
    tokio::spawn(async move {
        let mut r: UnboundedReceiver<JupyterMessage> = control_r;
        while let Some(m) = r.recv().await {
            if let Err(e) = control_tx.send(m).await {
                tracing::error!("control send failed: {e}");
            }
        }
    });
    tokio::spawn(async move {
        let mut r: UnboundedReceiver<JupyterMessage> = stdin_r;
        while let Some(m) = r.recv().await {
            if let Err(e) = stdin_tx.send(m).await {
                tracing::error!("stdin send failed: {e}");
            }
        }
    });
    tokio::spawn(async move {
        // Echo every ping, as the heartbeat protocol asks.
        while let Ok(ping) = heartbeat.socket.recv().await {
            if heartbeat.socket.send(ping).await.is_err() {
                break;
            }
        }
    });

    let outbox = Arc::new(Outbox {
        iopub: iopub_q,
        shell: shell_q,
        control: control_q,
        stdin: stdin_q,
        input_waiter: parking_lot::Mutex::new(None),
    });
    outbox.publish(iopub_message(
        "status",
        json!({ "execution_state": "starting" }),
        None,
    ));
    let exec = Arc::new(Executor::start(outbox.clone()));
    show_cargo_progress(&exec, &outbox);

    {
        let outbox = outbox.clone();
        tokio::spawn(async move {
            loop {
                match wire::recv(&mut stdin_rx).await {
                    Ok(reply) if reply.msg_type == "input_reply" => {
                        if let Some(waiter) = outbox.input_waiter.lock().take() {
                            let _ = waiter.send(reply.str("value").to_string());
                        }
                    }
                    Ok(other) => tracing::warn!("ignoring {} on stdin", other.msg_type),
                    Err(RecvError::Invalid(e)) => tracing::warn!("dropped stdin message: {e}"),
                    Err(RecvError::Socket(e)) => break tracing::error!("stdin: {e}"),
                }
            }
        });
    }
    {
        let exec = exec.clone();
        tokio::spawn(async move {
            // jupyter_client may signal the whole process group; a SIGINT interrupts the
            // cell (never the kernel), like an interrupt_request.
            while tokio::signal::ctrl_c().await.is_ok() {
                exec.interrupter.interrupt();
            }
        });
    }
    {
        let (exec, outbox) = (exec.clone(), outbox.clone());
        tokio::spawn(async move {
            loop {
                match wire::recv(&mut shell_rx).await {
                    Ok(request) => handle(&exec, &outbox, request, false).await,
                    Err(RecvError::Invalid(e)) => tracing::warn!("dropped shell message: {e}"),
                    Err(RecvError::Socket(e)) => break tracing::error!("shell: {e}"),
                }
            }
        });
    }
    loop {
        match wire::recv(&mut control_rx).await {
            Ok(request) => handle(&exec, &outbox, request, true).await,
            Err(RecvError::Invalid(e)) => tracing::warn!("dropped control message: {e}"),
            Err(RecvError::Socket(e)) => break tracing::error!("control: {e}"),
        }
    }
    Ok(())
}

fn jupyter_protocol_time() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Shows cargo's "Compiling …" lines (which evcxr writes to the kernel's stderr) in the
/// notebook, under the running (or first waiting) cell.
fn show_cargo_progress(exec: &Executor, outbox: &Arc<Outbox>) {
    let (cell, outbox) = (exec.cell.clone(), outbox.clone());
    let tapped = super::fdtap::tap(2, move |line, out| {
        use std::io::Write;
        let _ = out.write_all(line);
        let text = String::from_utf8_lossy(line);
        if text.trim_start().starts_with("Compiling ")
            && let Some(parent) = &cell.lock().parent
        {
            outbox.publish(parent.iopub("stream", json!({ "name": "stderr", "text": text })));
        }
    });
    if let Err(e) = tapped {
        tracing::warn!("cargo progress will not reach notebooks: {e}");
    }
}

async fn handle(exec: &Arc<Executor>, outbox: &Arc<Outbox>, request: Request, control: bool) {
    let send = |m: JupyterMessage| {
        let _ = if control {
            outbox.control.send(m)
        } else {
            outbox.shell.send(m)
        };
    };
    let status = |state: &str| {
        outbox.publish(request.iopub("status", json!({ "execution_state": state })));
    };
    match request.msg_type.as_str() {
        "execute_request" => {
            if !exec.ready.load(Ordering::Acquire) {
                let mut cell = exec.cell.lock();
                if cell.parent.is_none() {
                    outbox.publish(request.iopub("stream", json!({ "name": "stderr",
                        "text": "rustpx: starting evcxr and linking the runtime (cached after the first start)…\n" })));
                    cell.parent = Some(request.clone());
                }
            }
            exec.submit(request);
            return;
        }
        "interrupt_request" => {
            exec.interrupter.interrupt();
            send(request.reply("interrupt_reply", json!({ "status": "ok" })));
            return;
        }
        "shutdown_request" => {
            let restart = request.bool("restart", false);
            status("busy");
            send(request.reply(
                "shutdown_reply",
                json!({ "status": "ok", "restart": restart }),
            ));
            outbox.publish(request.iopub(
                "shutdown_reply",
                json!({ "status": "ok", "restart": restart }),
            ));
            status("idle");
            // A restart is done by the client starting a new kernel process, as with
            // ipykernel; give the replies a moment to leave, then stop the child and exit.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            exec.interrupter.kill_child();
            std::process::exit(0);
        }
        _ => {}
    }
    status("busy");
    let reply = match request.msg_type.as_str() {
        "kernel_info_request" => Some(("kernel_info_reply", kernel_info())),
        "is_complete_request" => {
            let (state, indent) = is_complete(request.str("code"));
            Some((
                "is_complete_reply",
                json!({ "status": state, "indent": indent }),
            ))
        }
        "history_request" => {
            let history = exec.history.lock().reply(&request.content);
            Some((
                "history_reply",
                json!({ "status": "ok", "history": history }),
            ))
        }
        "comm_info_request" => Some(("comm_info_reply", json!({ "status": "ok", "comms": {} }))),
        "complete_request" | "inspect_request" => {
            let (exec2, req) = (exec.clone(), request.clone());
            let answer = tokio::task::spawn_blocking(move || {
                let code = req.str("code");
                let cursor = req.usize("cursor_pos", code.chars().count());
                if req.msg_type == "complete_request" {
                    ("complete_reply", complete::complete(&exec2, code, cursor))
                } else {
                    ("inspect_reply", complete::inspect(&exec2, code, cursor))
                }
            })
            .await;
            answer.ok()
        }
        "comm_open" | "comm_msg" | "comm_close" => None,
        other => {
            tracing::warn!("ignoring unknown message type {other}");
            None
        }
    };
    if let Some((msg_type, content)) = reply {
        send(request.reply(msg_type, content));
    }
    status("idle");
}

/// The `kernel_info_reply` content.
pub fn kernel_info() -> Value {
    static RUSTC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let version = RUSTC.get_or_init(|| {
        std::process::Command::new("rustc")
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.split_whitespace().nth(1).map(str::to_string))
            .unwrap_or_default()
    });
    json!({
        "status": "ok",
        "protocol_version": "5.3",
        "implementation": "rustpx",
        "implementation_version": env!("CARGO_PKG_VERSION"),
        "language_info": {
            "name": "rust",
            "version": version,
            "mimetype": "text/rust",
            "file_extension": ".rs",
            "pygments_lexer": "rust",
            "codemirror_mode": "rust",
            "nbconvert_exporter": "rust",
        },
        "banner": format!("rustpx {} — parallel Rust notebooks on evcxr 0.22", env!("CARGO_PKG_VERSION")),
        "help_links": [{ "text": "evcxr", "url": "https://github.com/evcxr/evcxr" }],
        "debugger": false,
    })
}
