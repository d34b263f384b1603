//! Simple plots rendered to SVG with plotters: [`LinePlot`], and the scaling plots a
//! parallel notebook ends with ([`time_plot`], [`speedup_plot`]).

use super::canvas::Rgb;
use super::error::DisplayError;
use super::rich::{RichDisplay, TEXT_PLAIN, bundle, evcxr_display};
use crate::protocol::MimeBundle;
use plotters::prelude::*;
use std::time::Duration;

/// An SVG image (`image/svg+xml`) with a text fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Svg {
    svg: String,
    text: String,
}

impl Svg {
    /// SVG markup with a text description for consoles.
    pub fn new(svg: impl Into<String>, text: impl Into<String>) -> Svg {
        Svg {
            svg: svg.into(),
            text: text.into(),
        }
    }

    /// The SVG markup (write it to a `.svg` file with `std::fs::write`).
    pub fn svg(&self) -> &str {
        &self.svg
    }

    /// The text fallback.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl RichDisplay for Svg {
    fn mime_bundle(&self) -> MimeBundle {
        bundle([
            ("image/svg+xml", self.svg.clone()),
            (TEXT_PLAIN, self.text.clone()),
        ])
    }
}

evcxr_display!(Svg);

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    LineAndPoints,
    Points,
    Dashed,
}

#[derive(Debug, Clone, PartialEq)]
struct Series {
    name: String,
    points: Vec<(f64, f64)>,
    style: Style,
    color: Option<Rgb>,
}

/// Colours for series without an explicit one (matplotlib's first "tab" colours).
const PALETTE: [Rgb; 6] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
];

/// A line or scatter plot of one or more series, rendered to SVG.
///
/// ```
/// use rustpx::display::LinePlot;
/// let svg = LinePlot::new("Compute time")
///     .x_label("workers")
///     .y_label("seconds")
///     .line("find peaks", [(1.0, 59.0), (2.0, 35.7), (3.0, 36.8)])
///     .svg()
///     .unwrap();
/// assert!(svg.svg().starts_with("<svg"));
/// assert!(svg.text().contains("find peaks: (1, 59), (2, 35.7), (3, 36.8)"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LinePlot {
    title: String,
    x_label: String,
    y_label: String,
    series: Vec<Series>,
    size: (u32, u32),
    y_from_zero: bool,
}

impl LinePlot {
    /// An empty plot with a title; 640×400 pixels.
    pub fn new(title: impl Into<String>) -> LinePlot {
        LinePlot {
            title: title.into(),
            x_label: String::new(),
            y_label: String::new(),
            series: Vec::new(),
            size: (640, 400),
            y_from_zero: false,
        }
    }

    /// The x axis label.
    pub fn x_label(mut self, label: impl Into<String>) -> LinePlot {
        self.x_label = label.into();
        self
    }

    /// The y axis label.
    pub fn y_label(mut self, label: impl Into<String>) -> LinePlot {
        self.y_label = label.into();
        self
    }

    /// The image size in pixels.
    pub fn size(mut self, width: u32, height: u32) -> LinePlot {
        self.size = (width.max(1), height.max(1));
        self
    }

    /// Starts the y axis at zero (or below, if there are negative values), so that
    /// ratios read correctly.
    pub fn y_from_zero(mut self) -> LinePlot {
        self.y_from_zero = true;
        self
    }

    /// Adds a series drawn as a line with point markers. Non-finite points are skipped.
    pub fn line(
        self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64)>,
    ) -> LinePlot {
        self.with(name.into(), points, Style::LineAndPoints, None)
    }

    /// Adds a series drawn as points only (a scatter plot).
    pub fn points(
        self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64)>,
    ) -> LinePlot {
        self.with(name.into(), points, Style::Points, None)
    }

    /// Adds a dashed reference line (e.g. ideal scaling) in gray.
    pub fn reference(
        self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64)>,
    ) -> LinePlot {
        self.with(name.into(), points, Style::Dashed, Some([150, 150, 150]))
    }

    fn with(
        mut self,
        name: String,
        points: impl IntoIterator<Item = (f64, f64)>,
        style: Style,
        color: Option<Rgb>,
    ) -> LinePlot {
        let points = points
            .into_iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        self.series.push(Series {
            name,
            points,
            style,
            color,
        });
        self
    }

    /// The plot's data as text: the title, then each series as `name: (x, y), …`.
    pub fn text(&self) -> String {
        let mut lines = vec![self.title.clone()];
        for s in &self.series {
            let points: Vec<String> = s
                .points
                .iter()
                .map(|(x, y)| format!("({x}, {y})"))
                .collect();
            lines.push(format!("{}: {}", s.name, points.join(", ")));
        }
        lines.join("\n")
    }

    /// Renders the plot. Fails if no series has a point.
    pub fn svg(&self) -> Result<Svg, DisplayError> {
        let all = self.series.iter().flat_map(|s| s.points.iter());
        let Some((x0, x1, y0, y1)) =
            all.fold(None, |acc: Option<(f64, f64, f64, f64)>, &(x, y)| {
                Some(match acc {
                    None => (x, x, y, y),
                    Some((a, b, c, d)) => (a.min(x), b.max(x), c.min(y), d.max(y)),
                })
            })
        else {
            return Err(DisplayError::Plot("the plot has no points".into()));
        };
        let y0 = if self.y_from_zero { y0.min(0.0) } else { y0 };
        let (x0, x1) = padded(x0, x1);
        let (y0, y1) = padded(y0, y1);
        let mut svg = String::new();
        self.draw(&mut svg, x0..x1, y0..y1)
            .map_err(|e| DisplayError::Plot(e.to_string()))?;
        Ok(Svg::new(svg, self.text()))
    }

    fn draw(
        &self,
        out: &mut String,
        xs: std::ops::Range<f64>,
        ys: std::ops::Range<f64>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::with_string(out, self.size).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(xs, ys)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .light_line_style(WHITE)
            .draw()?;
        let mut palette = PALETTE.iter().cycle();
        for s in &self.series {
            let [r, g, b] = s
                .color
                .unwrap_or_else(|| *palette.next().unwrap_or(&PALETTE[0]));
            let color = RGBColor(r, g, b);
            let points = s.points.clone();
            let drawn = match s.style {
                Style::Dashed => {
                    chart.draw_series(DashedLineSeries::new(points, 6, 4, color.stroke_width(2)))?
                }
                Style::LineAndPoints => {
                    chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
                    chart.draw_series(LineSeries::new(points, color.stroke_width(2)))?
                }
                Style::Points => {
                    chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))?
                }
            };
            if !s.name.is_empty() {
                drawn.label(&s.name).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            }
        }
        if self.series.iter().any(|s| !s.name.is_empty()) {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .position(SeriesLabelPosition::UpperRight)
                .draw()?;
        }
        root.present()?;
        Ok(())
    }
}

/// A range with 5% room on each side (or ±1 around a single value).
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo {
        let pad = (hi - lo) * 0.05;
        (lo - pad, hi + pad)
    } else {
        (lo - 1.0, hi + 1.0)
    }
}

impl RichDisplay for LinePlot {
    /// The SVG, or only the text if the plot cannot be drawn (no points).
    fn mime_bundle(&self) -> MimeBundle {
        match self.svg() {
            Ok(svg) => svg.mime_bundle(),
            Err(e) => bundle([(TEXT_PLAIN, format!("{}\n({e})", self.text()))]),
        }
    }
}

evcxr_display!(LinePlot);

/// The time of a run with `n` workers, and the serial time it is compared with: the
/// 1-worker measurement if there is one, else the fewest workers' time scaled up.
fn baseline(measurements: &[(usize, Duration)]) -> Option<f64> {
    measurements
        .iter()
        .filter(|(n, _)| *n > 0)
        .min_by_key(|(n, _)| *n)
        .map(|&(n, t)| t.as_secs_f64() * n as f64)
}

/// Compute time against number of workers (pyUSID's closing plot), with the ideal
/// `T₁ / n` curve as a dashed reference. Measurements with 0 workers are ignored.
///
/// ```
/// use rustpx::display::time_plot;
/// use std::time::Duration;
/// let runs = [(1, Duration::from_secs_f64(2.0)), (2, Duration::from_secs_f64(1.05))];
/// let plot = time_plot(&runs).unwrap();
/// assert!(plot.text().contains("measured: (1, 2), (2, 1.05)"));
/// assert!(plot.text().contains("ideal: (1, 2), (2, 1)"));
/// ```
pub fn time_plot(measurements: &[(usize, Duration)]) -> Result<Svg, DisplayError> {
    let t1 = baseline(measurements).ok_or_else(|| DisplayError::Plot("no measurements".into()))?;
    let mut sorted: Vec<(usize, Duration)> = measurements
        .iter()
        .copied()
        .filter(|(n, _)| *n > 0)
        .collect();
    sorted.sort_by_key(|(n, _)| *n);
    LinePlot::new("Compute time against workers")
        .x_label("workers")
        .y_label("time (s)")
        .y_from_zero()
        .line(
            "measured",
            sorted.iter().map(|&(n, t)| (n as f64, t.as_secs_f64())),
        )
        .reference(
            "ideal",
            sorted.iter().map(|&(n, _)| (n as f64, t1 / n as f64)),
        )
        .svg()
}

/// Speedup (serial time ÷ time) against number of workers, with the ideal speedup
/// `n` as a dashed reference. The serial time is the 1-worker measurement, or the
/// fewest workers' time × their count.
///
/// ```
/// use rustpx::display::speedup_plot;
/// use std::time::Duration;
/// let runs = [(1, Duration::from_secs(4)), (2, Duration::from_secs(2)), (4, Duration::from_secs(2))];
/// let plot = speedup_plot(&runs).unwrap();
/// assert!(plot.text().contains("measured: (1, 1), (2, 2), (4, 2)"));
/// ```
pub fn speedup_plot(measurements: &[(usize, Duration)]) -> Result<Svg, DisplayError> {
    let t1 = baseline(measurements).ok_or_else(|| DisplayError::Plot("no measurements".into()))?;
    let mut sorted: Vec<(usize, Duration)> = measurements
        .iter()
        .copied()
        .filter(|(n, _)| *n > 0)
        .collect();
    sorted.sort_by_key(|(n, _)| *n);
    LinePlot::new("Speedup against workers")
        .x_label("workers")
        .y_label("speedup")
        .y_from_zero()
        .line(
            "measured",
            sorted
                .iter()
                .map(|&(n, t)| (n as f64, t1 / t.as_secs_f64().max(f64::MIN_POSITIVE))),
        )
        .reference("ideal", sorted.iter().map(|&(n, _)| (n as f64, n as f64)))
        .svg()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_is_well_formed_and_labelled() {
        let svg = LinePlot::new("T & <x>")
            .x_label("workers")
            .line("a", [(1.0, 1.0), (2.0, 3.0)])
            .points("b", [(1.5, 2.0), (f64::NAN, 1.0)])
            .svg()
            .unwrap();
        let s = svg.svg();
        assert!(
            s.starts_with("<svg") && s.trim_end().ends_with("</svg>"),
            "{s}"
        );
        assert!(s.contains("workers"));
        assert!(
            s.contains("&lt;x&gt;") || s.contains("&#60;x&#62;"),
            "title escaped"
        );
        assert_eq!(s.matches("<circle").count(), 3, "NaN point skipped");
        assert!(svg.text().contains("b: (1.5, 2)"));
    }

    #[test]
    fn single_point_and_empty_plots() {
        assert!(LinePlot::new("one").line("p", [(3.0, 3.0)]).svg().is_ok());
        let err = LinePlot::new("none").line("p", []).svg().unwrap_err();
        assert!(matches!(err, DisplayError::Plot(_)));
        let bundle = LinePlot::new("none").mime_bundle();
        assert!(bundle["text/plain"].as_str().unwrap().contains("no points"));
        assert!(!bundle.contains_key("image/svg+xml"));
        assert!(time_plot(&[]).is_err());
        assert!(speedup_plot(&[(0, Duration::from_secs(1))]).is_err());
    }

    #[test]
    fn baseline_scales_up_from_the_fewest_workers() {
        let runs = [(4, Duration::from_secs(1)), (2, Duration::from_secs(2))];
        assert_eq!(baseline(&runs), Some(4.0));
        let text = speedup_plot(&runs).unwrap().text().to_string();
        assert!(text.contains("measured: (2, 2), (4, 4)"), "{text}");
    }
}
