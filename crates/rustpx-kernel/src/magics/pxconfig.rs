//! `:pxconfig`: set the defaults of `:px` (ipyparallel's `%pxconfig`).

use super::code::render;
use super::dispatch::Changes;
use super::flags::{Flag, no_code};
use super::px::{PX_FLAGS, PxFlags};
use super::{Call, Magic, MagicError, Magics, Placement, Rewrite};
use quote::quote;

/// The `:pxconfig` magic.
pub struct Pxconfig;

impl Magic for Pxconfig {
    fn name(&self) -> &'static str {
        ":pxconfig"
    }

    fn usage(&self) -> &'static str {
        "[--targets SPEC] [--block|--noblock] [--group-outputs] [--timeout SECS]"
    }

    fn summary(&self) -> &'static str {
        "Set the defaults of :px"
    }

    fn placement(&self) -> Placement {
        Placement::Line
    }

    fn flags(&self) -> &'static [Flag] {
        PX_FLAGS
    }

    /// Checks the new targets against the workers before the defaults change: the code
    /// fails for a target that is not a worker, and then the cell changes nothing.
    fn rewrite(
        &self,
        call: &Call<'_>,
        magics: &Magics,
        changes: &mut Changes,
    ) -> Result<Rewrite, MagicError> {
        no_code(self, call.code)?;
        let defaults = PxFlags::parse(self.name(), &call.flags)?.over(magics.px_defaults());
        let targets = match &defaults.targets {
            Some(spec) => quote!(::core::option::Option::Some(#spec)),
            None => quote!(::core::option::Option::None),
        };
        let summary = format!(
            ":px defaults: targets {}, {}",
            defaults.targets.as_deref().unwrap_or("all"),
            if defaults.noblock == Some(true) {
                "noblock"
            } else {
                "block"
            }
        );
        changes.px_defaults = Some(defaults);
        Ok(Rewrite::Code(render(&quote! {
            rustpx::px::view(#targets)?;
            ::std::println!("{}", #summary);
        })))
    }
}
