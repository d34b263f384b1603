//! [`Html`]: a fragment of HTML with a plain-text fallback.

use super::rich::{RichDisplay, TEXT_PLAIN, bundle, evcxr_display};
use crate::protocol::MimeBundle;

/// HTML to show inline, with a `text/plain` fallback for consoles.
///
/// ```
/// use rustpx::display::{Html, RichDisplay};
/// let h = Html::new("<p>Found <b>200</b> particles</p>");
/// assert_eq!(h.text(), "Found 200 particles");
/// let b = h.mime_bundle();
/// assert_eq!(b["text/html"], "<p>Found <b>200</b> particles</p>");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Html {
    html: String,
    text: String,
}

impl Html {
    /// HTML whose text fallback is the HTML with its tags removed and the common
    /// entities decoded.
    pub fn new(html: impl Into<String>) -> Html {
        let html = html.into();
        let text = strip_tags(&html);
        Html { html, text }
    }

    /// HTML with an explicit text fallback.
    pub fn with_text(html: impl Into<String>, text: impl Into<String>) -> Html {
        Html {
            html: html.into(),
            text: text.into(),
        }
    }

    /// The HTML.
    pub fn html(&self) -> &str {
        &self.html
    }

    /// The text fallback.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl RichDisplay for Html {
    fn mime_bundle(&self) -> MimeBundle {
        bundle([
            ("text/html", self.html.clone()),
            (TEXT_PLAIN, self.text.clone()),
        ])
    }
}

evcxr_display!(Html);

/// Removes tags and decodes `&lt; &gt; &quot; &#39; &amp;`; a crude but safe fallback
/// (it is shown as text, never interpreted).
fn strip_tags(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_text_drops_tags_and_decodes_entities() {
        assert_eq!(
            Html::new("<td>a &lt; b &amp;&amp; c</td>").text(),
            "a < b && c"
        );
        assert_eq!(Html::with_text("<hr>", "----").text(), "----");
        let b = Html::new("<i>x</i>").mime_bundle();
        assert_eq!(b.len(), 2);
        assert_eq!(b["text/plain"], "x");
    }
}
