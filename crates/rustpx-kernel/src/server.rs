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
use jupyter_zmq_client::{self as zmq_client, Connection, RouterRecvConnection};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
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
    let (outbox, inbound) = bind(&info, &session).await?;
    outbox.publish(iopub_message(
        "status",
        json!({ "execution_state": "starting" }),
        None,
    ));
    let exec = Arc::new(Executor::start(outbox.clone()));
    show_cargo_progress(&exec, &outbox);
    interrupt_on_sigint(exec.clone());
    let kernel = Arc::new(Kernel { exec, outbox });
    tokio::spawn(receive(kernel.clone(), Channel::Stdin, inbound.stdin));
    tokio::spawn(receive(kernel.clone(), Channel::Shell, inbound.shell));
    receive(kernel, Channel::Control, inbound.control).await;
    Ok(())
}

/// The receiving halves of the sockets that carry requests and replies to the kernel.
struct Inbound {
    shell: RouterRecvConnection,
    control: RouterRecvConnection,
    stdin: RouterRecvConnection,
}

/// Binds the five sockets and starts the tasks that send what the [`Outbox`] queues and
/// that answer the heartbeat.
async fn bind(info: &ConnectionInfo, session: &str) -> Result<(Arc<Outbox>, Inbound)> {
    let iopub = zmq_client::create_kernel_iopub_connection(info, session).await?;
    let (shell_tx, shell) = zmq_client::create_kernel_shell_connection(info, session)
        .await?
        .split();
    let (control_tx, control) = zmq_client::create_kernel_control_connection(info, session)
        .await?
        .split();
    let (stdin_tx, stdin) = zmq_client::create_kernel_stdin_connection(info, session)
        .await?
        .split();
    let mut heartbeat = zmq_client::create_kernel_heartbeat_connection(info).await?;
    tokio::spawn(async move {
        // Echo every ping, as the heartbeat protocol asks.
        while let Ok(ping) = heartbeat.socket.recv().await {
            if heartbeat.socket.send(ping).await.is_err() {
                break;
            }
        }
    });
    let outbox = Arc::new(Outbox {
        iopub: forward("iopub", iopub),
        shell: forward("shell", shell_tx),
        control: forward("control", control_tx),
        stdin: forward("stdin", stdin_tx),
        input_waiter: parking_lot::Mutex::new(None),
    });
    Ok((
        outbox,
        Inbound {
            shell,
            control,
            stdin,
        },
    ))
}

/// A queue whose messages a task of its own sends on `socket`, in order.
fn forward<S: SocketSend + Send + 'static>(
    name: &'static str,
    mut socket: Connection<S>,
) -> UnboundedSender<JupyterMessage> {
    let (queue, mut messages) = unbounded_channel::<JupyterMessage>();
    tokio::spawn(async move {
        while let Some(message) = messages.recv().await {
            if let Err(e) = socket.send(message).await {
                tracing::error!("{name} send failed: {e}");
            }
        }
    });
    queue
}

/// jupyter_client may signal the whole process group; a SIGINT interrupts the cell
/// (never the kernel), like an interrupt_request.
fn interrupt_on_sigint(exec: Arc<Executor>) {
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            exec.interrupter.interrupt();
        }
    });
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

/// The socket a request arrived on; its reply goes back on the same one.
#[derive(Clone, Copy)]
enum Channel {
    Shell,
    Control,
    Stdin,
}

impl Channel {
    fn name(self) -> &'static str {
        match self {
            Channel::Shell => "shell",
            Channel::Control => "control",
            Channel::Stdin => "stdin",
        }
    }
}

/// Hands every valid message arriving on `socket` to the kernel, in order, until the
/// socket fails. An invalid message (bad signature, framing or JSON) is logged and
/// dropped.
async fn receive<S: SocketRecv>(kernel: Arc<Kernel>, channel: Channel, mut socket: Connection<S>) {
    loop {
        match wire::recv(&mut socket).await {
            Ok(request) => kernel.dispatch(channel, request).await,
            Err(RecvError::Invalid(e)) => {
                tracing::warn!("dropped {} message: {e}", channel.name());
            }
            Err(RecvError::Socket(e)) => break tracing::error!("{}: {e}", channel.name()),
        }
    }
}

/// What the request handlers share: the cell executor and the outgoing queues.
struct Kernel {
    exec: Arc<Executor>,
    outbox: Arc<Outbox>,
}

impl Kernel {
    async fn dispatch(&self, channel: Channel, request: Request) {
        match (channel, request.msg_type.as_str()) {
            (Channel::Stdin, "input_reply") => {
                if let Some(waiter) = self.outbox.input_waiter.lock().take() {
                    let _ = waiter.send(request.str("value").to_string());
                }
            }
            (Channel::Stdin, other) => tracing::warn!("ignoring {other} on stdin"),
            (_, "execute_request") => self.queue_execute(request),
            (_, "interrupt_request") => {
                self.exec.interrupter.interrupt();
                self.send(
                    channel,
                    request.reply("interrupt_reply", json!({ "status": "ok" })),
                );
            }
            (_, "shutdown_request") => self.shutdown(channel, &request).await,
            _ => self.answer(channel, &request).await,
        }
    }

    fn send(&self, channel: Channel, message: JupyterMessage) {
        let _ = match channel {
            Channel::Control => self.outbox.control.send(message),
            Channel::Shell | Channel::Stdin => self.outbox.shell.send(message),
        };
    }

    fn status(&self, request: &Request, state: &str) {
        self.outbox
            .publish(request.iopub("status", json!({ "execution_state": state })));
    }

    /// Queues a cell for the executor; before evcxr is ready, the first one says why it
    /// waits.
    fn queue_execute(&self, mut request: Request) {
        if !self.exec.ready.load(Ordering::Acquire) {
            let mut cell = self.exec.cell.lock();
            if cell.parent.is_none() {
                // Jupyter wants a request's `busy` before anything published under it,
                // and the start-up note and cargo's progress come before the executor
                // takes the request.
                self.status(&request, "busy");
                request.announced = true;
                self.outbox.publish(request.iopub("stream", json!({ "name": "stderr",
                    "text": "rustpx: starting evcxr and linking the runtime (cached after the first start)…\n" })));
                cell.parent = Some(request.clone());
            }
        }
        self.exec.submit(request);
    }

    async fn shutdown(&self, channel: Channel, request: &Request) -> ! {
        let restart = request.bool("restart", false);
        let content = json!({ "status": "ok", "restart": restart });
        self.status(request, "busy");
        self.send(channel, request.reply("shutdown_reply", content.clone()));
        self.outbox
            .publish(request.iopub("shutdown_reply", content));
        self.status(request, "idle");
        // A restart is done by the client starting a new kernel process, as with
        // ipykernel; give the replies a moment to leave, then stop the child and exit.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        self.exec.interrupter.kill_child();
        std::process::exit(0);
    }

    /// Answers a request that does not involve the running cell, between busy and idle.
    async fn answer(&self, channel: Channel, request: &Request) {
        self.status(request, "busy");
        if let Some((msg_type, content)) = self.reply_to(request).await {
            self.send(channel, request.reply(msg_type, content));
        }
        self.status(request, "idle");
    }

    async fn reply_to(&self, request: &Request) -> Option<(&'static str, Value)> {
        match request.msg_type.as_str() {
            "kernel_info_request" => Some(("kernel_info_reply", kernel_info())),
            "is_complete_request" => {
                let (state, indent) = is_complete(request.str("code"));
                let content = json!({ "status": state, "indent": indent });
                Some(("is_complete_reply", content))
            }
            "history_request" => {
                let history = self.exec.history.lock().reply(&request.content);
                let content = json!({ "status": "ok", "history": history });
                Some(("history_reply", content))
            }
            "comm_info_request" => {
                Some(("comm_info_reply", json!({ "status": "ok", "comms": {} })))
            }
            "complete_request" | "inspect_request" => self.complete_or_inspect(request).await,
            "comm_open" | "comm_msg" | "comm_close" => None,
            other => {
                tracing::warn!("ignoring unknown message type {other}");
                None
            }
        }
    }

    /// Completion and inspection ask evcxr, which may wait for the running cell, so they
    /// run off the async threads.
    async fn complete_or_inspect(&self, request: &Request) -> Option<(&'static str, Value)> {
        let (exec, request) = (self.exec.clone(), request.clone());
        tokio::task::spawn_blocking(move || {
            let code = request.str("code");
            let cursor = request.usize("cursor_pos", code.chars().count());
            if request.msg_type == "complete_request" {
                ("complete_reply", complete::complete(&exec, code, cursor))
            } else {
                ("inspect_reply", complete::inspect(&exec, code, cursor))
            }
        })
        .await
        .ok()
    }
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
