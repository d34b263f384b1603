//! `:pxresult`: show the outcome of the last `:px --noblock` (ipyparallel's `%pxresult`).

use super::code::render;
use super::dispatch::Changes;
use super::flags::no_code;
use super::{Call, Magic, MagicError, Magics, Placement, Rewrite};
use quote::quote;

/// The `:pxresult` magic.
pub struct Pxresult;

impl Magic for Pxresult {
    fn name(&self) -> &'static str {
        ":pxresult"
    }

    fn usage(&self) -> &'static str {
        ""
    }

    fn summary(&self) -> &'static str {
        "Show the outcome of the last :px --noblock"
    }

    fn placement(&self) -> Placement {
        Placement::Line
    }

    fn rewrite(&self, call: &Call<'_>, _: &Magics, _: &mut Changes) -> Result<Rewrite, MagicError> {
        no_code(self, call.code)?;
        Ok(Rewrite::Code(render(&quote!(rustpx::px::result()?))))
    }
}
