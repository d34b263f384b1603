//! Options of the parallel magics, parsed with clap from the words before the code.
//!
//! A magic line is `:NAME [options] [code]`. The options are the leading words that
//! start with `-` (with the value of those that take one); everything after them is code,
//! so Rust code that happens to start with `-` after the options is left alone.

use clap::Parser;

/// `:px` / `:pxconfig` options (ipyparallel's `%px` flags).
#[derive(Debug, Clone, Default, PartialEq, Parser)]
#[command(name = ":px", no_binary_name = true, disable_help_flag = true)]
pub struct PxFlags {
    /// Workers to run on: `all`, `0`, `0,2`, `1:3`, `::2`.
    #[arg(long, value_name = "SPEC")]
    pub targets: Option<String>,
    /// Return at once; `:pxresult` shows the outcome.
    #[arg(long, conflicts_with = "block")]
    pub noblock: bool,
    /// Wait for every worker (the default).
    #[arg(long)]
    pub block: bool,
    /// Show output grouped by worker instead of in arrival order.
    #[arg(long)]
    pub group_outputs: bool,
    /// Fail workers still running after this many seconds.
    #[arg(long, value_name = "SECS", value_parser = positive_secs)]
    pub timeout: Option<f64>,
}

/// `:timeit` options (IPython's `%%timeit -n N -r R`).
#[derive(Debug, Clone, Default, PartialEq, Parser)]
#[command(name = ":timeit", no_binary_name = true, disable_help_flag = true)]
pub struct TimeitFlags {
    /// Loops per repeat (chosen automatically when absent).
    #[arg(short = 'n', value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub number: Option<u64>,
    /// Repeats (7 when absent).
    #[arg(short = 'r', value_name = "R", value_parser = clap::value_parser!(u64).range(1..))]
    pub repeat: Option<u64>,
}

fn positive_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("`{s}` is not a positive number of seconds")),
    }
}

/// Options that take a value, so the splitter knows the next word is not code.
const TAKES_VALUE: &[&str] = &["--targets", "--timeout", "-n", "-r"];

/// Splits `words` (the text after the magic's name) into option words and the code
/// that follows them, keeping the code's original spacing.
pub fn split_options(text: &str) -> (Vec<String>, &str) {
    let mut words = Vec::new();
    let mut rest = text.trim_start();
    loop {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        if !word.starts_with('-') || word == "-" {
            break;
        }
        words.push(word.to_string());
        rest = rest[end..].trim_start();
        let takes_value = TAKES_VALUE.contains(&word) && !word.contains('=');
        if takes_value && !rest.is_empty() {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            words.push(rest[..end].to_string());
            rest = rest[end..].trim_start();
        }
    }
    (words, rest)
}

/// Parses option words for the magic `name`, turning clap's message into one line that
/// names the magic.
pub fn parse_flags<P: Parser>(name: &str, words: &[String]) -> Result<P, String> {
    P::try_parse_from(words).map_err(|e| {
        let msg = e.kind().as_str().map(str::to_string).unwrap_or_default();
        let detail = e
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ")
            .to_string();
        if detail.is_empty() {
            format!(":{name}: {msg}")
        } else {
            format!(":{name}: {detail}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_end_where_code_starts() {
        let (w, code) = split_options("--targets 0,2 --noblock let x = -1;");
        assert_eq!(w, ["--targets", "0,2", "--noblock"]);
        assert_eq!(code, "let x = -1;");
        let (w, code) = split_options("  -n 10 -r 3\nv.sort();");
        assert_eq!(w, ["-n", "10", "-r", "3"]);
        assert_eq!(code, "v.sort();");
        assert_eq!(split_options("let y = 2;"), (vec![], "let y = 2;"));
    }

    #[test]
    fn px_flags_parse_and_reject() {
        let w = |s: &str| split_options(s).0;
        let f: PxFlags =
            parse_flags("px", &w("--targets ::2 --group-outputs --timeout 1.5")).unwrap();
        assert_eq!(f.targets.as_deref(), Some("::2"));
        assert!(f.group_outputs && !f.noblock);
        assert_eq!(f.timeout, Some(1.5));
        let e = parse_flags::<PxFlags>("px", &w("--frobnicate")).unwrap_err();
        assert!(e.contains("--frobnicate"), "{e}");
        let e = parse_flags::<PxFlags>("px", &w("--timeout -3")).unwrap_err();
        assert!(e.contains("timeout") || e.contains("-3"), "{e}");
        let e = parse_flags::<PxFlags>("px", &w("--block --noblock")).unwrap_err();
        assert!(e.contains("--noblock") || e.contains("--block"), "{e}");
    }

    #[test]
    fn timeit_flags() {
        let f: TimeitFlags = parse_flags("timeit", &split_options("-n 5 -r 2 x").0).unwrap();
        assert_eq!((f.number, f.repeat), (Some(5), Some(2)));
        assert!(parse_flags::<TimeitFlags>("timeit", &split_options("-n 0 x").0).is_err());
    }
}
