//! `:px`: run code once on each worker of the active view (ipyparallel's `%px`), and
//! the options it shares with `:pxconfig`.

use super::dispatch::Changes;
use super::flags::{Flag, Given};
use super::px_rewrite::{PxPlan, rewrite};
use super::{Call, Magic, MagicError, Magics, Placement, Rewrite};

/// The `:px` magic.
pub struct Px;

/// The options of `:px` and `:pxconfig`.
pub static PX_FLAGS: &[Flag] = &[
    Flag {
        name: "--targets",
        value: Some("SPEC"),
    },
    Flag {
        name: "--block",
        value: None,
    },
    Flag {
        name: "--noblock",
        value: None,
    },
    Flag {
        name: "--group-outputs",
        value: None,
    },
    Flag {
        name: "--timeout",
        value: Some("SECS"),
    },
];

/// `:px` / `:pxconfig` options as given; absent ones fall back to the `:pxconfig`
/// defaults (see [`PxFlags::over`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PxFlags {
    /// Workers to run on: `all`, `0`, `0,2`, `1:3`, `::2`.
    pub targets: Option<String>,
    /// `--block` (`Some(false)`) or `--noblock` (`Some(true)`).
    pub noblock: Option<bool>,
    /// Show output grouped by worker instead of in arrival order.
    pub group_outputs: bool,
    /// Fail workers still running after this many seconds.
    pub timeout: Option<f64>,
}

impl PxFlags {
    /// Reads the options of `magic` (`:px` or `:pxconfig`), checking every value.
    pub fn parse(magic: &'static str, given: &[Given<'_>]) -> Result<PxFlags, MagicError> {
        let mut flags = PxFlags::default();
        for g in given {
            match g.flag.name {
                "--targets" => flags.targets = Some(g.value.to_string()),
                "--block" | "--noblock" => {
                    if flags.noblock.is_some() {
                        return Err(MagicError::Conflict {
                            magic,
                            first: "--block",
                            second: "--noblock",
                        });
                    }
                    flags.noblock = Some(g.flag.name == "--noblock");
                }
                "--group-outputs" => flags.group_outputs = true,
                "--timeout" => flags.timeout = Some(positive_secs(magic, g.value)?),
                other => unreachable!("{other} is not in PX_FLAGS"),
            }
        }
        Ok(flags)
    }

    /// These options over `defaults` (set by `:pxconfig`).
    pub fn over(&self, defaults: &PxFlags) -> PxFlags {
        PxFlags {
            targets: self.targets.clone().or_else(|| defaults.targets.clone()),
            noblock: self.noblock.or(defaults.noblock),
            group_outputs: self.group_outputs || defaults.group_outputs,
            timeout: self.timeout.or(defaults.timeout),
        }
    }

    /// How a `:px` with these options runs.
    pub fn plan(&self) -> PxPlan {
        PxPlan {
            targets: self.targets.clone(),
            noblock: self.noblock.unwrap_or(false),
            group_outputs: self.group_outputs,
            timeout: self.timeout,
        }
    }
}

fn positive_secs(magic: &'static str, value: &str) -> Result<f64, MagicError> {
    match value.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(MagicError::bad_value(
            magic,
            "--timeout",
            value,
            "a positive number of seconds",
        )),
    }
}

impl Magic for Px {
    fn name(&self) -> &'static str {
        ":px"
    }

    fn usage(&self) -> &'static str {
        "[--targets SPEC] [--block|--noblock] [--group-outputs] [--timeout SECS] CODE"
    }

    fn summary(&self) -> &'static str {
        "Run CODE once on each worker of the active view (a line, or the rest of the cell \
         when :px is alone on the first line); `let` defines PerWorker variables; SPEC is \
         all, 0, 0,2, 1:3 or ::2"
    }

    fn placement(&self) -> Placement {
        Placement::LineOrCell
    }

    fn flags(&self) -> &'static [Flag] {
        PX_FLAGS
    }

    fn rewrite(
        &self,
        call: &Call<'_>,
        magics: &Magics,
        changes: &mut Changes,
    ) -> Result<Rewrite, MagicError> {
        let flags = PxFlags::parse(self.name(), &call.flags)?;
        let plan = flags.over(magics.px_defaults()).plan();
        let rewritten = rewrite(call.code, &plan, &magics.known(), &magics.existing())?;
        changes.define.extend(rewritten.defines);
        changes.kept.extend(rewritten.kept);
        Ok(Rewrite::Code(rewritten.code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::magics::flags::split;

    fn parse(text: &str) -> Result<PxFlags, MagicError> {
        PxFlags::parse(":px", &split(&Px, text)?.0)
    }

    #[test]
    fn flags_parse_and_reject() {
        let f = parse("--targets ::2 --group-outputs --timeout 1.5").unwrap();
        assert_eq!(f.targets.as_deref(), Some("::2"));
        assert!(f.group_outputs && f.noblock.is_none());
        assert_eq!(f.timeout, Some(1.5));
        assert_eq!(
            parse("--timeout -3").unwrap_err().to_string(),
            ":px --timeout: -3 is not a positive number of seconds"
        );
        assert_eq!(
            parse("--block --noblock").unwrap_err().to_string(),
            ":px: --block and --noblock cannot be used together"
        );
    }

    #[test]
    fn given_options_override_the_defaults() {
        let defaults = parse("--targets 0 --noblock --timeout 2").unwrap();
        let plan = parse("--block").unwrap().over(&defaults).plan();
        assert_eq!(plan.targets.as_deref(), Some("0"));
        assert!(!plan.noblock);
        assert_eq!(plan.timeout, Some(2.0));
        assert!(parse("").unwrap().over(&defaults).plan().noblock);
    }
}
