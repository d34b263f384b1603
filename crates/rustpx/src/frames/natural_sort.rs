//! Natural ("human") ordering of file names: `frame2.png` before `frame10.png`.
//!
//! Microscopes and cameras often number frames without zero padding, and a plain
//! lexicographic sort would then put frame 10 between frames 1 and 2, silently
//! scrambling the time axis of every analysis.

use std::cmp::Ordering;

/// Compares two strings so that runs of ASCII digits compare by their numeric value.
///
/// Non-digit text compares character by character. Numbers of any length are
/// compared without overflow (by digit count after leading zeros, then digit by
/// digit); when two numbers are equal, the one with fewer leading zeros comes first, so
/// the order stays total and deterministic (`a1` < `a01`).
///
/// ```
/// use rustpx::frames::natural_cmp;
/// use std::cmp::Ordering;
/// assert_eq!(natural_cmp("frame2.png", "frame10.png"), Ordering::Less);
/// let mut names = vec!["img10", "img9", "img100", "img1"];
/// names.sort_by(|a, b| natural_cmp(a, b));
/// assert_eq!(names, ["img1", "img9", "img10", "img100"]);
/// ```
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    // Decides ties between numerically equal runs once everything else is equal.
    let mut zeros_tiebreak = Ordering::Equal;
    loop {
        match (a.chars().next(), b.chars().next()) {
            (None, None) => return zeros_tiebreak,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (na, rest_a) = split_digits(a);
                let (nb, rest_b) = split_digits(b);
                let (ta, tb) = (na.trim_start_matches('0'), nb.trim_start_matches('0'));
                let by_value = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
                if by_value != Ordering::Equal {
                    return by_value;
                }
                if zeros_tiebreak == Ordering::Equal {
                    zeros_tiebreak = na.len().cmp(&nb.len());
                }
                (a, b) = (rest_a, rest_b);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(&y);
                }
                (a, b) = (&a[x.len_utf8()..], &b[y.len_utf8()..]);
            }
        }
    }
}

/// Splits a string into its leading run of ASCII digits and the rest.
fn split_digits(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(names: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        v.sort_by(|a, b| natural_cmp(a, b));
        v
    }

    #[test]
    fn numbers_sort_by_value() {
        assert_eq!(
            sorted(&["f10.png", "f2.png", "f1.png", "f20.png", "f3.png"]),
            ["f1.png", "f2.png", "f3.png", "f10.png", "f20.png"]
        );
    }

    #[test]
    fn several_numbers_and_directories() {
        assert_eq!(
            sorted(&["run10/f1", "run2/f10", "run2/f9", "run1/f100"]),
            ["run1/f100", "run2/f9", "run2/f10", "run10/f1"]
        );
    }

    #[test]
    fn zero_padding_and_huge_numbers() {
        assert_eq!(sorted(&["a010", "a9", "a0011"]), ["a9", "a010", "a0011"]);
        assert_eq!(natural_cmp("a1", "a01"), Ordering::Less);
        assert_eq!(natural_cmp("a01", "a1"), Ordering::Greater);
        assert_eq!(natural_cmp("a01", "a01"), Ordering::Equal);
        // Longer than u128: must not overflow.
        let big = "x123456789012345678901234567890123456789012";
        let bigger = "x123456789012345678901234567890123456789013";
        assert_eq!(natural_cmp(big, bigger), Ordering::Less);
    }

    #[test]
    fn text_and_prefixes() {
        assert_eq!(natural_cmp("abc", "abd"), Ordering::Less);
        assert_eq!(natural_cmp("ab", "abc"), Ordering::Less);
        assert_eq!(natural_cmp("b1", "a2"), Ordering::Greater);
        assert_eq!(natural_cmp("é2", "é10"), Ordering::Less);
    }
}
