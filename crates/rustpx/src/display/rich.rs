//! The [`RichDisplay`] trait, [`display`], and evcxr's rich-output protocol.

use crate::protocol::{self as channel, Event, MimeBundle};
use std::io::Write;

/// A value that can show itself as a MIME bundle (HTML, PNG, SVG, …) with a
/// `text/plain` fallback for consoles.
///
/// Every display type of rustpx implements it, and also has an inherent
/// `evcxr_display(&self)` method, which is what makes evcxr render it richly when it
/// is a cell's final value.
pub trait RichDisplay {
    /// The value's representations, keyed by MIME type. Always holds `text/plain`;
    /// binary formats (`image/png`) are base64 text, as Jupyter expects.
    fn mime_bundle(&self) -> MimeBundle;
}

/// A ready-made bundle shows as itself.
impl RichDisplay for MimeBundle {
    fn mime_bundle(&self) -> MimeBundle {
        self.clone()
    }
}

/// Shows `value` now, in the middle of a cell (IPython's `display()`).
///
/// In a rustpx kernel it goes out as a Jupyter `display_data` message; elsewhere (a
/// plain program, `cargo test`) its `text/plain` form is printed to stdout.
///
/// ```
/// use rustpx::display::{display, Html};
/// display(&Html::new("<b>done</b>")); // prints "done" outside a kernel
/// ```
pub fn display(value: &(impl RichDisplay + ?Sized)) {
    let data = value.mime_bundle();
    if !channel::emit(&Event::Display {
        id: None,
        data: data.clone(),
    }) {
        let text = plain_text(&data);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}").and_then(|()| out.flush());
    }
}

/// The `text/plain` entry of a bundle (empty if it has none).
pub fn plain_text(bundle: &MimeBundle) -> &str {
    bundle
        .get(TEXT_PLAIN)
        .and_then(|v| v.as_str())
        .unwrap_or("")
}

/// The MIME type of the text fallback.
pub const TEXT_PLAIN: &str = "text/plain";

/// A bundle from `(mime type, content)` pairs.
pub fn bundle<'a>(entries: impl IntoIterator<Item = (&'a str, String)>) -> MimeBundle {
    entries
        .into_iter()
        .map(|(mime, content)| (mime.to_string(), content.into()))
        .collect()
}

/// Writes `bundle` in evcxr's rich-output format: for each MIME type a block
/// `EVCXR_BEGIN_CONTENT <mime>\n<content>\nEVCXR_END_CONTENT\n`. This is what the
/// `evcxr_display` methods print; evcxr collects the blocks when a cell's final value
/// has such a method.
pub fn write_evcxr_blocks(out: &mut impl Write, bundle: &MimeBundle) -> std::io::Result<()> {
    for (mime, content) in bundle {
        let text = match content {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        // A content line equal to the end marker would end the block early.
        let text = text.replace("\nEVCXR_END_CONTENT", "\n EVCXR_END_CONTENT");
        writeln!(out, "EVCXR_BEGIN_CONTENT {mime}\n{text}\nEVCXR_END_CONTENT")?;
    }
    out.flush()
}

/// Prints `bundle` to stdout in evcxr's format (see [`write_evcxr_blocks`]).
pub fn print_evcxr(bundle: &MimeBundle) {
    let mut out = std::io::stdout().lock();
    let _ = write_evcxr_blocks(&mut out, bundle);
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Gives a type that implements [`RichDisplay`] the inherent `evcxr_display` method
/// evcxr looks for (evcxr checks for an inherent method, not a trait).
macro_rules! evcxr_display {
    ($($ty:ty),* $(,)?) => {$(
        impl $ty {
            /// Prints this value's MIME bundle in evcxr's format, so that a notebook
            /// shows it richly when it is a cell's final value.
            pub fn evcxr_display(&self) {
                $crate::display::print_evcxr(&$crate::display::RichDisplay::mime_bundle(self));
            }
        }
    )*};
}
pub(crate) use evcxr_display;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evcxr_blocks_have_one_block_per_type() {
        let b = bundle([
            ("text/plain", "a\nb".to_string()),
            ("text/html", "<i>x</i>".into()),
        ]);
        let mut out = Vec::new();
        write_evcxr_blocks(&mut out, &b).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("EVCXR_BEGIN_CONTENT text/plain\na\nb\nEVCXR_END_CONTENT\n"));
        assert!(text.contains("EVCXR_BEGIN_CONTENT text/html\n<i>x</i>\nEVCXR_END_CONTENT\n"));
        assert_eq!(text.matches("EVCXR_BEGIN_CONTENT").count(), 2);
    }

    #[test]
    fn an_end_marker_inside_content_cannot_close_the_block() {
        let b = bundle([("text/plain", "x\nEVCXR_END_CONTENT\ny".to_string())]);
        let mut out = Vec::new();
        write_evcxr_blocks(&mut out, &b).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text.lines().filter(|l| *l == "EVCXR_END_CONTENT").count(),
            1
        );
    }

    #[test]
    fn html_escaping() {
        assert_eq!(
            escape_html(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
