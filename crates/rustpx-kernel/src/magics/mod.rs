//! Kernel commands (magics), rewritten before evcxr sees the cell.
//!
//! Every magic is one type implementing [`Magic`], listed once in [`MAGICS`]: the type
//! owns its name, usage text and summary (which `:help` prints from the table), the
//! options it accepts ([`Magic::flags`], read by the options parser in [`flags`]), the
//! checks of their values, and its rewrite of the cell into ordinary Rust, a note or a
//! direct reply ([`Rewrite`]). [`Magics`] (in [`dispatch`]) finds a magic by looking a
//! line's first word up in [`MAGICS`], so adding a magic is adding a type and a row.
//!
//! Generated Rust is built as tokens (`quote!`, with the user's code and evcxr's type
//! names parsed by `syn`) and printed for evcxr by [`code::render`], which keeps it
//! clear of evcxr's command syntax.
//!
//! Anything that is not a registered magic goes to evcxr unchanged, so every evcxr
//! command (`:dep`, `:vars`, `:opt`, …) keeps working; `:help` is evcxr's, with the
//! table's section appended ([`help_text`]).

mod autopx;
pub mod code;
mod dispatch;
mod engines;
mod error;
mod flags;
mod info;
mod output_format;
#[cfg(test)]
mod props;
mod px;
mod px_rewrite;
mod pxconfig;
mod pxresult;
mod timeit;
mod variable_types;
mod workers;

pub use dispatch::{Magics, Prepared};
pub use engines::EngineAction;
pub use error::MagicError;

use dispatch::Changes;
use flags::{Flag, Given};

/// Where in a cell a magic may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// At the start of any line, taking the rest of that line; when it is alone with its
    /// options on the cell's first line, it takes the rest of the cell as its code.
    LineOrCell,
    /// At the start of any line, taking the rest of that line.
    Line,
    /// Alone in its cell: it changes how the session runs, not what one cell computes.
    Cell,
}

/// One use of a magic: its options and the code (or argument) that follows them.
#[derive(Debug, Clone, PartialEq)]
pub struct Call<'a> {
    /// The options, in the order written.
    pub flags: Vec<Given<'a>>,
    /// What follows the options: the rest of the line, or of the cell in cell form.
    pub code: &'a str,
}

/// What a magic turns its line (or cell) into.
#[derive(Debug, Clone, PartialEq)]
pub enum Rewrite {
    /// Rust for evcxr, in place of the magic's line (or cell).
    Code(String),
    /// A line for the user; nothing runs for the magic itself.
    Note(String),
    /// Text shown as the cell's result; evcxr is not involved.
    Reply(String),
    /// Something for the engines (`:engines`, `:px --engines`); the whole cell.
    Engines(EngineAction),
}

/// A kernel command.
pub trait Magic: Sync {
    /// The command, with its leading colon (`:px`).
    fn name(&self) -> &'static str;
    /// Its arguments as `:help` shows them (`[--targets SPEC] CODE`).
    fn usage(&self) -> &'static str;
    /// One line of description for `:help`.
    fn summary(&self) -> &'static str;
    /// Where it may be written.
    fn placement(&self) -> Placement;
    /// The options it accepts.
    fn flags(&self) -> &'static [Flag] {
        &[]
    }
    /// Checks the call and rewrites it, recording in `changes` what the session keeps
    /// if the cell succeeds. `magics` is the session's state before the cell.
    fn rewrite(
        &self,
        call: &Call<'_>,
        magics: &Magics,
        changes: &mut Changes,
    ) -> Result<Rewrite, MagicError>;
}

/// Every kernel command, in the order `:help` lists them.
pub static MAGICS: &[&dyn Magic] = &[
    &px::Px,
    &autopx::Autopx,
    &pxresult::Pxresult,
    &pxconfig::Pxconfig,
    &workers::Workers,
    &engines::Engines,
    &timeit::Timeit,
    &output_format::Fmt,
    &output_format::Types,
    &info::RustpxInfo,
];

/// The registered magic that `line` starts with, and the text after its name.
fn lookup(line: &str) -> Option<(&'static dyn Magic, &str)> {
    let line = line.trim_start();
    let end = line.find(char::is_whitespace).unwrap_or(line.len());
    let (word, rest) = line.split_at(end);
    MAGICS.iter().find(|m| m.name() == word).map(|m| (*m, rest))
}

/// The `:help` section for the kernel's commands.
pub fn help_text() -> String {
    let mut text = String::from("\nrustpx kernel commands:\n");
    for magic in MAGICS {
        let head = format!("{} {}", magic.name(), magic.usage());
        text.push_str(&format!("{:<24} {}\n", head.trim_end(), magic.summary()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_each_magic_once_and_help_lists_it() {
        let help = help_text();
        for (i, magic) in MAGICS.iter().enumerate() {
            assert!(magic.name().starts_with(':'), "{}", magic.name());
            assert!(
                MAGICS[..i].iter().all(|m| m.name() != magic.name()),
                "{} registered twice",
                magic.name()
            );
            assert!(help.contains(magic.name()), "{help}");
            assert!(help.contains(magic.summary()), "{help}");
            for flag in magic.flags() {
                assert!(magic.usage().contains(flag.name), "{}", magic.name());
            }
        }
    }

    #[test]
    fn lookup_matches_whole_names_only() {
        assert_eq!(
            lookup("  :px 1").map(|(m, r)| (m.name(), r)),
            Some((":px", " 1"))
        );
        assert_eq!(
            lookup(":pxresult").map(|(m, _)| m.name()),
            Some(":pxresult")
        );
        assert!(lookup(":pxe").is_none());
        assert!(lookup(":dep foo").is_none());
        assert!(lookup("px 1").is_none());
    }
}
