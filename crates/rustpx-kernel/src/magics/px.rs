//! `:px`: run code once on each worker of the active view (ipyparallel's `%px`), and
//! the options it shares with `:pxconfig`.

use super::dispatch::Changes;
use super::flags::{Flag, Given};
use super::px_rewrite::{PxPlan, rewrite};
use super::{Call, EngineAction, Magic, MagicError, Magics, Placement, Rewrite};
use std::time::Duration;

/// The longest `--timeout`: a year; more is a typo, and the runtime's clock arithmetic
/// stays far from overflow.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The `:px` magic.
pub struct Px;

const TARGETS: Flag = Flag {
    name: "--targets",
    value: Some("SPEC"),
};
const BLOCK: Flag = Flag {
    name: "--block",
    value: None,
};
const NOBLOCK: Flag = Flag {
    name: "--noblock",
    value: None,
};
const GROUP_OUTPUTS: Flag = Flag {
    name: "--group-outputs",
    value: None,
};
const TIMEOUT: Flag = Flag {
    name: "--timeout",
    value: Some("SECS"),
};

/// The options of `:pxconfig`, which `:px` shares.
pub static PX_FLAGS: &[Flag] = &[TARGETS, BLOCK, NOBLOCK, GROUP_OUTPUTS, TIMEOUT];

/// The options of `:px`: [`PX_FLAGS`] and `--engines`, which picks the MPI engines for
/// one cell instead of the active view's workers.
static PX_CELL_FLAGS: &[Flag] = &[
    TARGETS,
    BLOCK,
    NOBLOCK,
    GROUP_OUTPUTS,
    TIMEOUT,
    Flag {
        name: "--engines",
        value: None,
    },
];

/// `:px` / `:pxconfig` options as given; absent ones fall back to the `:pxconfig`
/// defaults (see [`PxFlags::over`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PxFlags {
    /// Workers to run on, as written: `all`, `0`, `0,2`, `1:3`, `::2` (checked with
    /// [`rustpx::Targets::parse`]; the ids are checked against the workers when it runs).
    pub targets: Option<String>,
    /// `--block` (`Some(false)`) or `--noblock` (`Some(true)`).
    pub noblock: Option<bool>,
    /// Show output grouped by worker instead of in arrival order.
    pub group_outputs: bool,
    /// Fail workers still running after this long.
    pub timeout: Option<Duration>,
    /// Run on the MPI engines (`:px` only).
    pub engines: bool,
}

impl PxFlags {
    /// Reads the options of `magic` (`:px` or `:pxconfig`), checking every value.
    pub fn parse(magic: &'static str, given: &[Given<'_>]) -> Result<PxFlags, MagicError> {
        let mut flags = PxFlags::default();
        for g in given {
            match g.flag.name {
                "--targets" => flags.targets = Some(target_spec(magic, g.value)?),
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
                "--timeout" => flags.timeout = Some(timeout(magic, g.value)?),
                "--engines" => flags.engines = true,
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
            engines: self.engines,
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

/// A `--targets` value that parses as ipyparallel's target syntax.
fn target_spec(magic: &'static str, value: &str) -> Result<String, MagicError> {
    match rustpx::Targets::parse(value) {
        Ok(_) => Ok(value.to_string()),
        Err(rustpx::Error::BadTargets { reason, .. }) => Err(MagicError::bad_value(
            magic,
            "--targets",
            value,
            format!("a target spec (all, 0, 0,2, 1:3 or ::2): {reason}"),
        )),
        Err(other) => Err(MagicError::bad_value(
            magic,
            "--targets",
            value,
            other.to_string(),
        )),
    }
}

/// A `--timeout` value: decimal seconds, read exactly (so no float rounds to zero or
/// overflows a `Duration`), within `0 < SECS <= MAX_TIMEOUT`.
fn timeout(magic: &'static str, value: &str) -> Result<Duration, MagicError> {
    decimal_secs(value)
        .filter(|d| !d.is_zero() && *d <= MAX_TIMEOUT)
        .ok_or_else(|| {
            MagicError::bad_value(
                magic,
                "--timeout",
                value,
                format!(
                    "a duration in seconds (0 < SECS <= {}, at most 9 decimals)",
                    MAX_TIMEOUT.as_secs()
                ),
            )
        })
}

/// `12`, `0.5`, `.25`, `3.` as a duration; `None` for anything else (signs, exponents,
/// NaN, more than nanosecond precision, or more seconds than a `u64` holds).
fn decimal_secs(text: &str) -> Option<Duration> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || frac.len() > 9 || !digits(whole) || !digits(frac) {
        return None;
    }
    let secs = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let nanos = format!("{frac:0<9}").parse().ok()?;
    Some(Duration::new(secs, nanos))
}

impl Magic for Px {
    fn name(&self) -> &'static str {
        ":px"
    }

    fn usage(&self) -> &'static str {
        "[--targets SPEC] [--block|--noblock] [--group-outputs] [--timeout SECS] \
         [--engines] CODE"
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
        PX_CELL_FLAGS
    }

    fn rewrite(
        &self,
        call: &Call<'_>,
        magics: &Magics,
        changes: &mut Changes,
    ) -> Result<Rewrite, MagicError> {
        let flags = PxFlags::parse(self.name(), &call.flags)?;
        if flags.engines || magics.engines_active() {
            return engine_cell(call);
        }
        let plan = flags.over(magics.px_defaults()).plan();
        let rewritten = rewrite(call.code, &plan, &magics.known(), &magics.existing())?;
        changes.define.extend(rewritten.defines);
        changes.kept.extend(rewritten.kept);
        Ok(Rewrite::Code(rewritten.code))
    }
}

/// `:px --engines CODE` (or `:px CODE` after `:engines activate`): the code as it is,
/// for every engine (each keeps its own variables, so nothing is rewritten). The thread
/// options and `:pxconfig`'s defaults are for the workers' views, not the engines.
fn engine_cell(call: &Call<'_>) -> Result<Rewrite, MagicError> {
    if let Some(other) = call.flags.iter().find(|g| g.flag.name != "--engines") {
        return Err(MagicError::Usage(format!(
            ":px --engines: {} is for the worker threads; on the engines (--engines, or \
             after :engines activate until :engines deactivate) the code runs on every \
             engine",
            other.flag.name
        )));
    }
    if call.code.trim().is_empty() {
        return Err(MagicError::Usage(
            ":px --engines: no code to run (put it after the options or on the next lines)".into(),
        ));
    }
    Ok(Rewrite::Engines(EngineAction::Run(call.code.to_string())))
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
        assert_eq!(f.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(
            parse("--timeout -3").unwrap_err().to_string(),
            ":px --timeout: -3 is not a duration in seconds (0 < SECS <= 31536000, at most 9 \
             decimals)"
        );
        assert_eq!(
            parse("--block --noblock").unwrap_err().to_string(),
            ":px: --block and --noblock cannot be used together"
        );
    }

    #[test]
    fn timeouts_are_exact_and_bounded() {
        let secs = |v: &str| parse(&format!("--timeout {v}")).map(|f| f.timeout.unwrap());
        assert_eq!(secs("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(secs(".25"), Ok(Duration::from_millis(250)));
        assert_eq!(secs("3."), Ok(Duration::from_secs(3)));
        assert_eq!(secs("0.000000001"), Ok(Duration::from_nanos(1)));
        assert_eq!(secs("31536000"), Ok(MAX_TIMEOUT));
        for bad in [
            "1e20",
            "NaN",
            "inf",
            "-1",
            "+1",
            "0",
            "0.0",
            "0.0000000001",
            "31536000.000000001",
            "99999999999999999999",
            ".",
            "1.2.3",
            "",
            "1_000",
        ] {
            let err = parse(&format!("--timeout={bad}")).unwrap_err();
            assert!(matches!(err, MagicError::BadValue { .. }), "{bad}: {err}");
        }
        assert_eq!(
            parse("--timeout 1e20").unwrap_err().to_string(),
            ":px --timeout: 1e20 is not a duration in seconds (0 < SECS <= 31536000, at most \
             9 decimals)"
        );
    }

    #[test]
    fn targets_are_checked_as_they_are_written() {
        assert_eq!(
            parse("--targets 1:3").unwrap().targets.as_deref(),
            Some("1:3")
        );
        assert_eq!(
            parse("--targets x").unwrap_err().to_string(),
            ":px --targets: x is not a target spec (all, 0, 0,2, 1:3 or ::2): \"x\" is not a \
             worker id"
        );
        assert_eq!(
            parse("--targets=").unwrap_err().to_string(),
            ":px --targets: \"\" is not a target spec (all, 0, 0,2, 1:3 or ::2): empty"
        );
        for bad in ["1:2:0", "99999999999999999999", "-1", "1,,2", "0:1:2:3"] {
            assert!(parse(&format!("--targets={bad}")).is_err(), "{bad}");
        }
    }

    #[test]
    fn given_options_override_the_defaults() {
        let defaults = parse("--targets 0 --noblock --timeout 2").unwrap();
        let plan = parse("--block").unwrap().over(&defaults).plan();
        assert_eq!(plan.targets.as_deref(), Some("0"));
        assert!(!plan.noblock);
        assert_eq!(plan.timeout, Some(Duration::from_secs(2)));
        assert!(parse("").unwrap().over(&defaults).plan().noblock);
    }
}
