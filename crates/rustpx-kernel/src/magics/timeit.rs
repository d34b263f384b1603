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

/// The most repeats: each keeps one measurement, and no statistic needs more.
pub const MAX_REPEAT: u64 = 100_000;

/// The most loops per repeat: the runtime divides a repeat's time by the loop count as a
/// `u32`.
pub const MAX_NUMBER: u64 = u32::MAX as u64;

impl TimeitFlags {
    /// Reads the options of `:timeit`, checking every value.
    pub fn parse(given: &[Given<'_>]) -> Result<TimeitFlags, MagicError> {
        let mut flags = TimeitFlags::default();
        for g in given {
            let (slot, what, max) = match g.flag.name {
                "-n" => (&mut flags.number, "a loop count", MAX_NUMBER),
                "-r" => (&mut flags.repeat, "a repeat count", MAX_REPEAT),
                other => unreachable!("{other} is not in TIMEIT_FLAGS"),
            };
            let count = g
                .value
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=max).contains(n));
            *slot = Some(count.ok_or_else(|| {
                MagicError::bad_value(
                    Timeit.name(),
                    g.flag.name,
                    g.value,
                    format!("{what} (1 <= {} <= {max})", g.flag.value.unwrap_or("N")),
                )
            })?);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::magics::flags::split;

    fn parse(text: &str) -> Result<TimeitFlags, MagicError> {
        TimeitFlags::parse(&split(&Timeit, text)?.0)
    }

    #[test]
    fn counts_are_bounded() {
        assert_eq!(
            parse("-n 4294967295 -r 100000"),
            Ok(TimeitFlags {
                number: Some(MAX_NUMBER),
                repeat: Some(MAX_REPEAT)
            })
        );
        assert_eq!(
            parse("-n 4294967296").unwrap_err().to_string(),
            ":timeit -n: 4294967296 is not a loop count (1 <= N <= 4294967295)"
        );
        assert_eq!(
            parse("-r 18446744073709551616").unwrap_err().to_string(),
            ":timeit -r: 18446744073709551616 is not a repeat count (1 <= R <= 100000)"
        );
        for bad in ["-n 0", "-r 0", "-n -1", "-n 1.5", "-n x", "-r=", "-r 1e3"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
