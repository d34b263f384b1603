//! `:timeit [-n N] [-r R] CODE`: time code like IPython's `%%timeit`.

use super::code::{parse_statements, render};
use super::dispatch::Changes;
use super::flags::{Flag, Given};
use super::{Call, Magic, MagicError, Magics, Placement, Rewrite};
use quote::quote;

/// The `:timeit` magic.
pub struct Timeit;

static TIMEIT_FLAGS: &[Flag] = &[
    Flag {
        name: "-n",
        value: Some("N"),
    },
    Flag {
        name: "-r",
        value: Some("R"),
    },
];

/// `:timeit` options (IPython's `-n N -r R`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeitFlags {
    /// Loops per repeat (chosen by the runtime when absent).
    pub number: Option<u64>,
    /// Repeats (the runtime's default when absent).
    pub repeat: Option<u64>,
}

impl TimeitFlags {
    /// Reads the options of `:timeit`, checking every value.
    pub fn parse(given: &[Given<'_>]) -> Result<TimeitFlags, MagicError> {
        let mut flags = TimeitFlags::default();
        for g in given {
            let count = g
                .value
                .parse::<u64>()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| {
                    MagicError::bad_value(Timeit.name(), g.flag.name, g.value, "a count >= 1")
                })?;
            match g.flag.name {
                "-n" => flags.number = Some(count),
                "-r" => flags.repeat = Some(count),
                other => unreachable!("{other} is not in TIMEIT_FLAGS"),
            }
        }
        Ok(flags)
    }
}

impl Magic for Timeit {
    fn name(&self) -> &'static str {
        ":timeit"
    }

    fn usage(&self) -> &'static str {
        "[-n N] [-r R] CODE"
    }

    fn summary(&self) -> &'static str {
        "Time CODE like IPython's %%timeit (mean, std. dev. and best per loop)"
    }

    fn placement(&self) -> Placement {
        Placement::LineOrCell
    }

    fn flags(&self) -> &'static [Flag] {
        TIMEIT_FLAGS
    }

    fn rewrite(&self, call: &Call<'_>, _: &Magics, _: &mut Changes) -> Result<Rewrite, MagicError> {
        let flags = TimeitFlags::parse(&call.flags)?;
        if call.code.trim().is_empty() {
            return Err(MagicError::Usage(
                ":timeit needs code to time, on its line or the lines below".into(),
            ));
        }
        let stmts = parse_statements(call.code).map_err(|source| MagicError::Code {
            magic: self.name(),
            source,
        })?;
        let option = |v: Option<u64>| match v {
            Some(n) => quote!(::core::option::Option::Some(#n)),
            None => quote!(::core::option::Option::None),
        };
        let (number, repeat) = (option(flags.number), option(flags.repeat));
        Ok(Rewrite::Code(render(&quote! {
            rustpx::timeit::timeit(
                rustpx::timeit::TimeitOptions { number: #number, repeat: #repeat },
                || { #(#stmts)* },
            );
        })))
    }
}
