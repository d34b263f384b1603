//! `:workers [N]`: show the workers, or restart the default client with N of them.

use super::code::render;
use super::dispatch::Changes;
use super::{Call, Magic, MagicError, Magics, Placement, Rewrite};
use quote::quote;

/// The `:workers` magic.
pub struct Workers;

impl Magic for Workers {
    fn name(&self) -> &'static str {
        ":workers"
    }

    fn usage(&self) -> &'static str {
        "[N]"
    }

    fn summary(&self) -> &'static str {
        "Show the workers (id, tasks done, busy); with N, restart the default client"
    }

    fn placement(&self) -> Placement {
        Placement::Line
    }

    fn rewrite(&self, call: &Call<'_>, _: &Magics, _: &mut Changes) -> Result<Rewrite, MagicError> {
        match call.code.trim() {
            "" => Ok(Rewrite::Code(render(&quote!(rustpx::px::workers()?)))),
            n => match n.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Rewrite::Code(render(&quote!(rustpx::px::set_workers(#n)?)))),
                _ => Err(MagicError::bad_value(
                    self.name(),
                    "N",
                    n,
                    "a worker count (N >= 1)",
                )),
            },
        }
    }
}
