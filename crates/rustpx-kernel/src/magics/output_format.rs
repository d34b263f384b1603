//! `:fmt` and `:types`: evcxr's settings for showing a cell's value, kept in step with
//! the runtime's `DebugDisplay`, which shows standard values in the cell's one compile
//! (see `rustpx::display::DebugDisplay`). Each passes its line on to evcxr, for the
//! values evcxr still shows itself, and sets the runtime's style to match.

use super::code::render;
use super::dispatch::Changes;
use super::flags::no_code;
use super::{Call, Magic, MagicError, Magics, Placement, Rewrite};
use quote::quote;

/// How a cell's value is shown: `{:#?}` rather than `{:?}`, and with its type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DebugStyle {
    /// `:fmt {:#?}`.
    pub pretty: bool,
    /// `:types` on.
    pub types: bool,
}

impl DebugStyle {
    /// The runtime call that sets this style (also for a new evcxr child process, whose
    /// runtime starts with the default style).
    pub fn runtime_call(self) -> String {
        let DebugStyle { pretty, types } = self;
        render(&quote!(rustpx::display::set_debug_style(#pretty, #types);))
    }
}

/// evcxr's command line followed by the runtime call that matches it.
fn pass_on(command: String, style: DebugStyle, changes: &mut Changes) -> Rewrite {
    changes.debug_style = Some(style);
    Rewrite::Code(format!("{command}\n{}", style.runtime_call()))
}

/// The `:fmt` magic.
pub struct Fmt;

impl Magic for Fmt {
    fn name(&self) -> &'static str {
        ":fmt"
    }

    fn usage(&self) -> &'static str {
        "FORMAT"
    }

    fn summary(&self) -> &'static str {
        "Show cell values with {:?} (the default) or {:#?}"
    }

    fn placement(&self) -> Placement {
        Placement::Line
    }

    fn rewrite(
        &self,
        call: &Call<'_>,
        magics: &Magics,
        changes: &mut Changes,
    ) -> Result<Rewrite, MagicError> {
        let format = call.code.trim();
        let pretty = match format {
            "{:?}" => false,
            "{:#?}" => true,
            other => {
                return Err(MagicError::bad_value(
                    self.name(),
                    "FORMAT",
                    other,
                    "{:?} or {:#?} (to show a value another way, format it: format!(\"{}\", x))",
                ));
            }
        };
        let style = DebugStyle {
            pretty,
            ..magics.debug_style()
        };
        Ok(pass_on(format!(":fmt {format}"), style, changes))
    }
}

/// The `:types` magic.
pub struct Types;

impl Magic for Types {
    fn name(&self) -> &'static str {
        ":types"
    }

    fn usage(&self) -> &'static str {
        ""
    }

    fn summary(&self) -> &'static str {
        "Toggle showing each cell value's type"
    }

    fn placement(&self) -> Placement {
        Placement::Line
    }

    fn rewrite(
        &self,
        call: &Call<'_>,
        magics: &Magics,
        changes: &mut Changes,
    ) -> Result<Rewrite, MagicError> {
        no_code(self, call.code)?;
        let old = magics.debug_style();
        let style = DebugStyle {
            types: !old.types,
            ..old
        };
        Ok(pass_on(":types".to_string(), style, changes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_reaches_evcxr_and_the_runtime() {
        let mut m = Magics::default();
        let p = m.prepare(":fmt {:#?}").unwrap();
        assert!(p.code.starts_with(":fmt {:#?}\n"), "{}", p.code);
        assert!(
            p.code.contains("set_debug_style (true , false)"),
            "{}",
            p.code
        );
        m.commit(p);
        let p = m.prepare(":types").unwrap();
        assert!(p.code.starts_with(":types\n"), "{}", p.code);
        assert!(
            p.code.contains("set_debug_style (true , true)"),
            "{}",
            p.code
        );
        m.commit(p);
        let p = m.prepare(":types").unwrap();
        assert!(
            p.code.contains("set_debug_style (true , false)"),
            "{}",
            p.code
        );
    }

    #[test]
    fn a_failed_cell_changes_no_style() {
        let m = Magics::default();
        let _ = m.prepare(":types").unwrap();
        let p = m.prepare(":types").unwrap();
        assert!(
            p.code.contains("set_debug_style (false , true)"),
            "{}",
            p.code
        );
    }

    #[test]
    fn other_formats_are_refused_by_name() {
        let err = Magics::default()
            .prepare(":fmt {}")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            ":fmt FORMAT: {} is not {:?} or {:#?} (to show a value another way, format it: format!(\"{}\", x))"
        );
    }
}
