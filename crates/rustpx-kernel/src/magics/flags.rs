//! The options of a magic: the words between its name and its code.
//!
//! A magic line is `:NAME [options] [code]`. The options are the leading words that
//! start with `--` or with `-` and a letter, each looked up in the magic's
//! [`Magic::flags`] table; one that takes a value takes the next word (or the text after
//! `=`). Everything after them is code, so Rust code such as `-1 + x` after the options is
//! left alone. What a value means is checked by the magic that owns the option.

use super::{Magic, MagicError};

/// An option a magic accepts, as its [`Magic::flags`] table lists it.
#[derive(Debug, PartialEq, Eq)]
pub struct Flag {
    /// As written, with its dashes: `--targets`, `-n`.
    pub name: &'static str,
    /// The name of its value in the usage text (`SPEC`); `None` for a switch.
    pub value: Option<&'static str>,
}

/// An option as written in a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Given<'a> {
    /// The option.
    pub flag: &'static Flag,
    /// Its value; empty for a switch.
    pub value: &'a str,
}

/// Whether `word` is written as an option rather than as the start of code.
fn is_option(word: &str) -> bool {
    let mut chars = word.chars();
    match (chars.next(), chars.next(), chars.next()) {
        (Some('-'), Some('-'), Some(c)) => c.is_ascii_alphabetic(),
        (Some('-'), Some(c), _) => c.is_ascii_alphabetic(),
        _ => false,
    }
}

/// The first whitespace-separated word of `text` (which starts with no whitespace) and
/// the text after it, from its next word on.
fn next_word(text: &str) -> (&str, &str) {
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    (&text[..end], text[end..].trim_start())
}

/// Splits `text` (what follows the magic's name) into `magic`'s options and the code
/// after them, keeping the code's original spacing.
pub fn split<'a>(
    magic: &dyn Magic,
    text: &'a str,
) -> Result<(Vec<Given<'a>>, &'a str), MagicError> {
    let mut given: Vec<Given<'a>> = Vec::new();
    let mut rest = text.trim_start();
    loop {
        let (word, after) = next_word(rest);
        if !is_option(word) {
            return Ok((given, rest));
        }
        rest = after;
        let (name, inline) = match word.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value)),
            _ => (word, None),
        };
        let flag = magic
            .flags()
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| MagicError::UnknownFlag {
                magic: magic.name(),
                flag: word.to_string(),
                usage: magic.usage(),
            })?;
        if given.iter().any(|g| std::ptr::eq(g.flag, flag)) {
            return Err(MagicError::Repeated {
                magic: magic.name(),
                flag: flag.name,
            });
        }
        let value = match (flag.value, inline) {
            (Some(_), Some(value)) => value,
            (Some(value_name), None) => {
                let (value, after) = next_word(rest);
                if value.is_empty() {
                    return Err(MagicError::MissingValue {
                        magic: magic.name(),
                        flag: flag.name,
                        value_name,
                    });
                }
                rest = after;
                value
            }
            (None, Some(value)) => {
                return Err(MagicError::UnexpectedValue {
                    magic: magic.name(),
                    flag: flag.name,
                    value: value.to_string(),
                });
            }
            (None, None) => "",
        };
        given.push(Given { flag, value });
    }
}

/// Fails unless `call` has no code: for magics that take only options.
pub fn no_code(magic: &dyn Magic, code: &str) -> Result<(), MagicError> {
    match code.trim() {
        "" => Ok(()),
        extra => {
            let usage = format!("{} {}", magic.name(), magic.usage());
            Err(MagicError::Usage(format!(
                "{} takes no code, got `{extra}` (usage: {})",
                magic.name(),
                usage.trim_end()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::magics::px::Px;
    use crate::magics::timeit::Timeit;

    fn words<'a>(magic: &dyn Magic, text: &'a str) -> (Vec<(&'static str, &'a str)>, &'a str) {
        let (given, code) = split(magic, text).unwrap();
        (given.iter().map(|g| (g.flag.name, g.value)).collect(), code)
    }

    #[test]
    fn options_end_where_code_starts() {
        assert_eq!(
            words(&Px, "--targets 0,2 --noblock let x = -1;"),
            (vec![("--targets", "0,2"), ("--noblock", "")], "let x = -1;")
        );
        assert_eq!(
            words(&Timeit, "  -n 10 -r 3\nv.sort();"),
            (vec![("-n", "10"), ("-r", "3")], "v.sort();")
        );
        assert_eq!(words(&Px, "let y = 2;"), (vec![], "let y = 2;"));
        assert_eq!(words(&Px, "-1 + 2"), (vec![], "-1 + 2"));
        assert_eq!(words(&Px, "--timeout=2 x"), (vec![("--timeout", "2")], "x"));
    }

    #[test]
    fn malformed_options_name_the_magic_and_the_option() {
        let err = |text| split(&Px, text).unwrap_err().to_string();
        assert_eq!(
            err("--frobnicate 1"),
            ":px: unknown option `--frobnicate` (usage: :px [--targets SPEC] \
             [--block|--noblock] [--group-outputs] [--timeout SECS] [--engines] CODE)"
        );
        assert_eq!(err("--timeout"), ":px --timeout: needs a value (SECS)");
        assert_eq!(
            err("--noblock=yes 1"),
            ":px --noblock: takes no value, got `yes`"
        );
        assert_eq!(
            err("--noblock --noblock 1"),
            ":px --noblock: given more than once"
        );
    }
}
