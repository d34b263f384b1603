//! Human-readable numbers for the renderers.

use std::time::Duration;

/// A duration with three significant figures in a fitting unit: `850 µs`,
/// `12.3 ms`, `1.23 s`, `2 min 03 s`.
///
/// ```
/// use rustpx::display::format_duration;
/// use std::time::Duration;
/// assert_eq!(format_duration(Duration::from_micros(850)), "850 µs");
/// assert_eq!(format_duration(Duration::from_micros(12_345)), "12.3 ms");
/// assert_eq!(format_duration(Duration::from_millis(1_234)), "1.23 s");
/// assert_eq!(format_duration(Duration::from_secs(123)), "2 min 03 s");
/// ```
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 60.0 {
        let total = d.as_secs();
        return format!("{} min {:02} s", total / 60, total % 60);
    }
    let (value, unit) = if s >= 1.0 {
        (s, "s")
    } else if s >= 1e-3 {
        (s * 1e3, "ms")
    } else if s >= 1e-6 {
        (s * 1e6, "µs")
    } else {
        (s * 1e9, "ns")
    };
    let decimals = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    // Rounding can carry into the next digit (99.96 → "100.0"); that is still right.
    format!("{value:.decimals$} {unit}")
}

/// At most `max` characters of `text`, with `…` and the full length when cut, so a
/// huge value (a scattered million-element vector) cannot flood a notebook.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}… ({} chars)", &text[..cut], text.chars().count()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_truncation() {
        assert_eq!(format_duration(Duration::ZERO), "0.00 ns");
        assert_eq!(format_duration(Duration::from_nanos(5)), "5.00 ns");
        assert_eq!(format_duration(Duration::from_secs(59)), "59.0 s");
        assert_eq!(truncate("héllo", 10), "héllo");
        assert_eq!(truncate("héllo", 2), "hé… (5 chars)");
    }
}
