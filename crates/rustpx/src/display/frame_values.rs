//! Rich display of [`Frame`] and [`ImageSequence`] as a cell's value.

use super::png::Png;
use super::rich::{RichDisplay, TEXT_PLAIN, bundle, escape_html, evcxr_display};
use crate::frames::{Frame, ImageSequence};
use crate::protocol::MimeBundle;

/// `Frame 512×480, 16-bit gray`.
fn describe(frame: &Frame) -> String {
    let kind = match frame.channels() {
        1 => "gray",
        2 => "gray + alpha",
        3 => "RGB",
        4 => "RGBA",
        _ => "multi-channel",
    };
    format!(
        "Frame {}×{}, {}-bit {kind}",
        frame.width(),
        frame.height(),
        frame.bit_depth()
    )
}

impl RichDisplay for Frame {
    /// The frame as a PNG (16-bit gray scaled to its range), or only the description
    /// if it has no pixels.
    fn mime_bundle(&self) -> MimeBundle {
        let text = describe(self);
        match Png::frame(self) {
            Ok(png) => bundle([("image/png", png.base64()), (TEXT_PLAIN, text)]),
            Err(_) => bundle([(TEXT_PLAIN, text)]),
        }
    }
}

impl<T> RichDisplay for ImageSequence<T> {
    /// A one-line summary (count, first and last file, pattern); nothing is decoded.
    fn mime_bundle(&self) -> MimeBundle {
        let text = self.to_string();
        let name = |i: usize| {
            self.path(i)
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        let mut html = format!("<b>ImageSequence</b>: {} frames", self.len());
        if let Some(pattern) = self.pattern() {
            html += &format!(" from <code>{}</code>", escape_html(pattern));
        }
        if !self.is_empty() {
            html += &format!(
                "<br/>first <code>{}</code>, last <code>{}</code>",
                escape_html(&name(0)),
                escape_html(&name(self.len() - 1))
            );
        }
        bundle([("text/html", html), (TEXT_PLAIN, text)])
    }
}

evcxr_display!(Frame);

impl<T> ImageSequence<T> {
    /// Prints this sequence's summary in evcxr's format, so that a notebook shows it
    /// when it is a cell's final value.
    pub fn evcxr_display(&self) {
        super::print_evcxr(&self.mime_bundle());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3};

    #[test]
    fn frames_show_as_png_with_a_description() {
        let f = Frame::from(Array2::<u16>::from_elem((4, 6), 9));
        let b = f.mime_bundle();
        assert_eq!(b["text/plain"], "Frame 6×4, 16-bit gray");
        assert!(b["image/png"].as_str().unwrap().starts_with("iVBOR"));
        let empty = Frame::try_from(Array3::<u8>::zeros((0, 0, 3))).unwrap();
        assert_eq!(empty.mime_bundle().len(), 1, "no PNG for an empty frame");
    }

    #[test]
    fn sequences_summarise_without_decoding() {
        let seq = ImageSequence::from_paths(["a/<1>.png", "a/2.png"]);
        let b = seq.mime_bundle();
        assert_eq!(b["text/plain"], "ImageSequence: 2 frames (<1>.png … 2.png)");
        assert!(b["text/html"].as_str().unwrap().contains("a/&lt;1&gt;.png"));
    }
}
