//! [`Table`]: rows of results as an HTML table, with an aligned text table fallback.

use super::rich::{RichDisplay, TEXT_PLAIN, bundle, escape_html, evcxr_display};
use crate::protocol::MimeBundle;
use std::fmt::{self, Display};

/// A table of results. Cells are anything `Display`; numbers are right-aligned.
///
/// ```
/// use rustpx::display::Table;
/// let t = Table::new(["method", "time (s)", "speedup"])
///     .row(["serial", "2.10", "1.00"])
///     .row(["direct map", "1.07", "1.96"]);
/// assert_eq!(t.to_string(), "\
/// method      time (s)  speedup
/// ----------  --------  -------
/// serial          2.10     1.00
/// direct map      1.07     1.96");
/// assert!(t.html().contains("<td>direct map</td>"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    caption: Option<String>,
}

impl Table {
    /// A table with these column headers and no rows.
    pub fn new<H: Display>(headers: impl IntoIterator<Item = H>) -> Table {
        Table {
            headers: headers.into_iter().map(|h| h.to_string()).collect(),
            ..Table::default()
        }
    }

    /// Adds a row (builder style).
    pub fn row<C: Display>(mut self, cells: impl IntoIterator<Item = C>) -> Table {
        self.push_row(cells);
        self
    }

    /// Adds a row. Rows may be shorter or longer than the headers; missing cells are
    /// blank.
    pub fn push_row<C: Display>(&mut self, cells: impl IntoIterator<Item = C>) {
        self.rows
            .push(cells.into_iter().map(|c| c.to_string()).collect());
    }

    /// Sets a caption, shown above the table.
    pub fn caption(mut self, caption: impl Into<String>) -> Table {
        self.caption = Some(caption.into());
        self
    }

    /// The column headers.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The rows, as the text of their cells.
    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn columns(&self) -> usize {
        self.rows
            .iter()
            .map(Vec::len)
            .chain([self.headers.len()])
            .max()
            .unwrap_or(0)
    }

    /// The table as HTML (`<table>` with a header row; cell text is escaped).
    pub fn html(&self) -> String {
        let columns = self.columns();
        let cell =
            |row: &[String], i: usize| row.get(i).map(String::as_str).unwrap_or("").to_string();
        let mut html = String::from("<table class=\"rustpx-table\">");
        if let Some(caption) = &self.caption {
            html += &format!("<caption>{}</caption>", escape_html(caption));
        }
        if !self.headers.is_empty() {
            html += "<thead><tr>";
            for i in 0..columns {
                html += &format!("<th>{}</th>", escape_html(&cell(&self.headers, i)));
            }
            html += "</tr></thead>";
        }
        html += "<tbody>";
        for row in &self.rows {
            html += "<tr>";
            for i in 0..columns {
                let text = cell(row, i);
                if is_number(&text) {
                    html += &format!("<td style=\"text-align:right\">{}</td>", escape_html(&text));
                } else {
                    html += &format!("<td>{}</td>", escape_html(&text));
                }
            }
            html += "</tr>";
        }
        html + "</tbody></table>"
    }

    /// The table as aligned text, columns separated by two spaces.
    pub fn text(&self) -> String {
        let columns = self.columns();
        let cell =
            |row: &[String], i: usize| row.get(i).map(String::as_str).unwrap_or("").to_string();
        let width = |i: usize| {
            self.rows
                .iter()
                .chain([&self.headers])
                .map(|r| cell(r, i).chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..columns).map(width).collect();
        let mut lines = Vec::new();
        if let Some(caption) = &self.caption {
            lines.push(caption.clone());
        }
        let render = |row: &[String], header: bool| {
            let cells: Vec<String> = (0..columns)
                .map(|i| {
                    let text = cell(row, i);
                    if !header && is_number(&text) {
                        format!("{text:>w$}", w = widths[i])
                    } else {
                        format!("{text:<w$}", w = widths[i])
                    }
                })
                .collect();
            cells.join("  ").trim_end().to_string()
        };
        if !self.headers.is_empty() {
            lines.push(render(&self.headers, true));
            lines.push(
                widths
                    .iter()
                    .map(|&w| "-".repeat(w))
                    .collect::<Vec<_>>()
                    .join("  "),
            );
        }
        lines.extend(self.rows.iter().map(|r| render(r, false)));
        lines.join("\n")
    }
}

/// Whether a cell reads as a number (then it is right-aligned).
fn is_number(text: &str) -> bool {
    let t = text.trim().trim_end_matches(['x', '%']);
    !t.is_empty() && t.parse::<f64>().is_ok()
}

impl Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl RichDisplay for Table {
    fn mime_bundle(&self) -> MimeBundle {
        bundle([("text/html", self.html()), (TEXT_PLAIN, self.text())])
    }
}

evcxr_display!(Table);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ragged_rows_escaping_and_caption() {
        let t = Table::new(["a", "b"])
            .row(["<x>", "1", "extra"])
            .row(["y"])
            .caption("Results & times");
        let html = t.html();
        assert!(html.contains("<caption>Results &amp; times</caption>"));
        assert!(
            html.contains("<td>&lt;x&gt;</td><td style=\"text-align:right\">1</td><td>extra</td>")
        );
        assert!(html.contains("<tr><td>y</td><td></td><td></td></tr>"));
        assert_eq!(html.matches("<th>").count(), 3);
        assert_eq!(
            t.text(),
            "Results & times\na    b\n---  -  -----\n<x>  1  extra\ny"
        );
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn numbers_align_right_including_speedups() {
        let t = Table::new(["workers", "speedup"])
            .row([1.to_string(), "1.00x".into()])
            .row(["12".to_string(), "1.95x".into()]);
        assert_eq!(t.text().lines().nth(2).unwrap(), "      1    1.00x");
        assert!(is_number("-3.5e2") && !is_number("n/a") && !is_number(""));
    }

    #[test]
    fn empty_table() {
        let t = Table::new(Vec::<String>::new());
        assert!(t.is_empty());
        assert_eq!(t.text(), "");
        assert_eq!(
            t.html(),
            "<table class=\"rustpx-table\"><tbody></tbody></table>"
        );
    }
}
