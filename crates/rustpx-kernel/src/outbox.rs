//! Where the kernel's outgoing messages go: one queue per socket, drained by the socket
//! tasks in [`super::server`], so any thread (the cell executor, the output readers, the
//! async request handlers) can send without owning a socket.

use jupyter_protocol::JupyterMessage;
use parking_lot::Mutex;
use std::sync::mpsc;
use tokio::sync::mpsc::UnboundedSender;

/// Senders to the kernel's sockets.
pub struct Outbox {
    /// IOPub (broadcast).
    pub iopub: UnboundedSender<JupyterMessage>,
    /// Shell replies.
    pub shell: UnboundedSender<JupyterMessage>,
    /// Control replies.
    pub control: UnboundedSender<JupyterMessage>,
    /// stdin requests (`input_request`).
    pub stdin: UnboundedSender<JupyterMessage>,
    /// Who waits for the next `input_reply`.
    pub input_waiter: Mutex<Option<mpsc::Sender<String>>>,
}

impl Outbox {
    /// Publishes on IOPub. A closed queue means the kernel is shutting down.
    pub fn publish(&self, message: JupyterMessage) {
        let _ = self.iopub.send(message);
    }

    /// Sends on shell.
    pub fn shell(&self, message: JupyterMessage) {
        let _ = self.shell.send(message);
    }
}
