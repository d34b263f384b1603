//! Why a magic cannot run: shown to the user as the cell's error; nothing has run and
//! nothing changed.

use super::code::CodeError;
use super::px_rewrite::PxRewriteError;
use super::variable_types::TypeError;

/// A magic used wrongly. Each message starts with the magic's name (and the option, when
/// one is at fault), so the user sees which part of the cell to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MagicError {
    /// An option the magic does not have.
    #[error("{magic}: unknown option `{flag}` (usage: {magic} {usage})")]
    UnknownFlag {
        /// The magic (`:px`).
        magic: &'static str,
        /// The option as written.
        flag: String,
        /// The magic's usage text.
        usage: &'static str,
    },
    /// An option that takes a value was given none.
    #[error("{magic} {flag}: needs a value ({value_name})")]
    MissingValue {
        /// The magic.
        magic: &'static str,
        /// The option.
        flag: &'static str,
        /// The name of its value in the usage text.
        value_name: &'static str,
    },
    /// A switch was given a value (`--noblock=1`).
    #[error("{magic} {flag}: takes no value, got `{value}`")]
    UnexpectedValue {
        /// The magic.
        magic: &'static str,
        /// The option.
        flag: &'static str,
        /// The value given.
        value: String,
    },
    /// The same option twice: which one counts would be a guess.
    #[error("{magic} {flag}: given more than once")]
    Repeated {
        /// The magic.
        magic: &'static str,
        /// The option.
        flag: &'static str,
    },
    /// Options that contradict each other.
    #[error("{magic}: {first} and {second} cannot be used together")]
    Conflict {
        /// The magic.
        magic: &'static str,
        /// One option.
        first: &'static str,
        /// The other.
        second: &'static str,
    },
    /// A value out of the option's range or of the wrong form.
    #[error("{magic} {flag}: {value} is not {expected}")]
    BadValue {
        /// The magic.
        magic: &'static str,
        /// The option, or the argument's name in the usage text (`N`).
        flag: &'static str,
        /// The value as written (quoted when it is empty).
        value: String,
        /// What the value must be, with its range.
        expected: String,
    },
    /// The magic's code does not parse.
    #[error("{magic}: {source}")]
    Code {
        /// The magic.
        magic: &'static str,
        /// Where and why.
        source: CodeError,
    },
    /// The type evcxr reports for a variable the generated code must name.
    #[error(transparent)]
    VariableType(#[from] TypeError),
    /// The `:px` code cannot be rewritten.
    #[error(transparent)]
    PxRewrite(#[from] PxRewriteError),
    /// Something else wrong with how a magic was written.
    #[error("{0}")]
    Usage(String),
}

impl MagicError {
    /// A [`MagicError::BadValue`], quoting an empty or blank value so it is visible.
    pub fn bad_value(
        magic: &'static str,
        flag: &'static str,
        value: &str,
        expected: impl Into<String>,
    ) -> MagicError {
        let value = if value.trim().is_empty() {
            format!("{value:?}")
        } else {
            value.to_string()
        };
        MagicError::BadValue {
            magic,
            flag,
            value,
            expected: expected.into(),
        }
    }
}
