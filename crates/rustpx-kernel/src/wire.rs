//! Messages on the wire: receiving with signature checks, building replies as JSON.
//!
//! `jupyter-zmq-client` provides the sockets, the framing and HMAC signing/verification;
//! its typed message contents are not used for requests because a request whose content
//! does not match its typed struct would be dropped before we could reply. Incoming
//! content stays JSON, and outgoing content is built as JSON (sent through the library's
//! `UnknownMessage`), so every field the protocol asks for is under our control.

use jupyter_protocol::{Header, JupyterMessage, JupyterMessageContent, UnknownMessage};
use jupyter_zmq_client::{Connection, RawMessage};
use serde_json::Value;
use zeromq::SocketRecv;

/// A request as received: its header, content and the routing identities of its sender.
#[derive(Clone)]
pub struct Request {
    /// The request as a library message (content kept as JSON), used as reply parent.
    pub message: JupyterMessage,
    /// The request's `msg_type`.
    pub msg_type: String,
    /// The request's content.
    pub content: Value,
    /// Whether its `busy` status is already published: the first execute request of a
    /// starting kernel goes busy when it arrives, before the start-up output under it.
    pub announced: bool,
}

impl Request {
    /// A string field of the content, or `""`.
    pub fn str(&self, key: &str) -> &str {
        self.content.get(key).and_then(Value::as_str).unwrap_or("")
    }

    /// A boolean field of the content, or `default`.
    pub fn bool(&self, key: &str, default: bool) -> bool {
        self.content
            .get(key)
            .and_then(Value::as_bool)
            .unwrap_or(default)
    }

    /// A `cursor_pos`-like field of the content, or `default`.
    pub fn usize(&self, key: &str, default: usize) -> usize {
        self.content
            .get(key)
            .and_then(Value::as_u64)
            .map_or(default, |v| v as usize)
    }

    /// A message of `msg_type` with `content`, child of this request (same routing ids).
    pub fn reply(&self, msg_type: &str, content: Value) -> JupyterMessage {
        message(msg_type, content, Some(&self.message))
    }

    /// An IOPub message of `msg_type` with `content`, child of this request.
    pub fn iopub(&self, msg_type: &str, content: Value) -> JupyterMessage {
        iopub_message(msg_type, content, Some(&self.message))
    }
}

/// A message with JSON `content`.
pub fn message(msg_type: &str, content: Value, parent: Option<&JupyterMessage>) -> JupyterMessage {
    let content = JupyterMessageContent::UnknownMessage(UnknownMessage {
        msg_type: msg_type.to_string(),
        content,
    });
    let mut message = JupyterMessage::new(content, parent);
    message.header.username = "rustpx".into();
    message
}

/// An IOPub message: routed by a topic rather than the parent's socket identities.
pub fn iopub_message(
    msg_type: &str,
    content: Value,
    parent: Option<&JupyterMessage>,
) -> JupyterMessage {
    let topic = format!("kernel.rustpx.{msg_type}").into_bytes();
    message(msg_type, content, parent).with_zmq_identities(vec![topic.into()])
}

/// Why a message could not be received.
#[derive(Debug)]
pub enum RecvError {
    /// The socket failed; the channel cannot continue.
    Socket(String),
    /// This one message was invalid (bad signature, bad framing, bad JSON): drop it.
    Invalid(String),
}

/// Receives the next message, verifying its signature with the connection's key.
pub async fn recv<S: SocketRecv>(conn: &mut Connection<S>) -> Result<Request, RecvError> {
    let multipart = conn
        .socket
        .recv()
        .await
        .map_err(|e| RecvError::Socket(e.to_string()))?;
    let raw = RawMessage::from_multipart(multipart, &conn.mac)
        .map_err(|e| RecvError::Invalid(e.to_string()))?;
    let part = |i: usize| -> Result<Value, RecvError> {
        serde_json::from_slice(&raw.jparts[i]).map_err(|e| RecvError::Invalid(e.to_string()))
    };
    let header: Header = serde_json::from_value(part(0)?)
        .map_err(|e| RecvError::Invalid(format!("bad header: {e}")))?;
    let parent_header = serde_json::from_value(part(1)?).ok();
    let metadata = part(2)?;
    let content = part(3)?;
    let msg_type = header.msg_type.clone();
    let message = JupyterMessage {
        zmq_identities: raw.zmq_identities,
        header,
        parent_header,
        metadata,
        content: JupyterMessageContent::UnknownMessage(UnknownMessage {
            msg_type: msg_type.clone(),
            content: content.clone(),
        }),
        buffers: Vec::new(),
        channel: None,
    };
    Ok(Request {
        message,
        msg_type,
        content,
        announced: false,
    })
}
