//! Property tests of the magics' option and target parsers: no input makes them panic,
//! and every value they accept prints back to options that parse to the same value.

use super::dispatch::Magics;
use super::flags::split;
use super::px::{Px, PxFlags};
use super::timeit::{Timeit, TimeitFlags};
use super::{MAGICS, Magic};
use proptest::prelude::*;
use rustpx::Targets;
use std::time::Duration;

/// Words that reach every branch of the parsers: option names, and values at and beyond
/// the edges of their ranges.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "--targets",
            "--block",
            "--noblock",
            "--group-outputs",
            "--timeout",
            "-n",
            "-r",
            "--timeout=",
            "--targets=",
            "--noblock=1",
            "-",
            "--",
            "-1",
            "0",
            "1",
            "all",
            "::",
            ":",
            "1:3",
            "::2",
            "0,2",
            "1,,2",
            "1:2:0",
            "1e20",
            "NaN",
            "inf",
            "-inf",
            "-0.5",
            "0.0000000001",
            "31536000",
            "31536000.000000001",
            "4294967295",
            "4294967296",
            "18446744073709551616",
            "1024",
            "1025",
            "\"\"",
            "let",
            "x",
            "=",
            ";",
        ])
        .prop_map(str::to_string),
        "[-:,.0-9a-z=]{0,12}",
        any::<String>(),
    ]
}

fn args() -> impl Strategy<Value = String> {
    prop::collection::vec(word(), 0..6).prop_map(|w| w.join(" "))
}

/// Target specs in each of ipyparallel's forms, with ids up to `usize::MAX`.
fn target_spec() -> impl Strategy<Value = String> {
    let id = || any::<usize>().prop_map(|i| i.to_string());
    let part = || prop::option::of(id()).prop_map(Option::unwrap_or_default);
    prop_oneof![
        Just("all".to_string()),
        prop::collection::vec(id(), 1..5).prop_map(|ids| ids.join(",")),
        (part(), part()).prop_map(|(start, stop)| format!("{start}:{stop}")),
        (part(), part(), 1..usize::MAX)
            .prop_map(|(start, stop, step)| format!("{start}:{stop}:{step}")),
    ]
}

fn px_flags() -> impl Strategy<Value = PxFlags> {
    let timeout = (1..=super::px::MAX_TIMEOUT.as_nanos() as u64).prop_map(Duration::from_nanos);
    (
        prop::option::of(target_spec()),
        prop::option::of(any::<bool>()),
        any::<bool>(),
        prop::option::of(timeout),
    )
        .prop_map(|(targets, noblock, group_outputs, timeout)| PxFlags {
            targets,
            noblock,
            group_outputs,
            timeout,
            engines: false,
        })
}

/// `flags` written back as `:px` options.
fn px_args(flags: &PxFlags) -> String {
    let mut args = Vec::new();
    if let Some(t) = &flags.targets {
        args.push(format!("--targets {t}"));
    }
    match flags.noblock {
        Some(true) => args.push("--noblock".into()),
        Some(false) => args.push("--block".into()),
        None => {}
    }
    if flags.group_outputs {
        args.push("--group-outputs".into());
    }
    if let Some(d) = flags.timeout {
        args.push(format!("--timeout={}.{:09}", d.as_secs(), d.subsec_nanos()));
    }
    args.join(" ")
}

fn parse_px(args: &str) -> Result<PxFlags, super::MagicError> {
    PxFlags::parse(Px.name(), &split(&Px, args)?.0)
}

fn parse_timeit(args: &str) -> Result<TimeitFlags, super::MagicError> {
    TimeitFlags::parse(&split(&Timeit, args)?.0)
}

fn timeit_args(flags: &TimeitFlags) -> String {
    let n = flags.number.map(|n| format!("-n {n} "));
    let r = flags.repeat.map(|r| format!("-r {r}"));
    format!("{}{}", n.unwrap_or_default(), r.unwrap_or_default())
}

proptest! {
    #[test]
    fn no_magic_line_panics(args in args(), on_first_line in any::<bool>()) {
        let m = Magics::default();
        for magic in MAGICS {
            let cell = if on_first_line {
                format!("{} {args}\n1", magic.name())
            } else {
                format!("let a = 1;\n{} {args}", magic.name())
            };
            let _ = m.prepare(&cell);
        }
    }

    #[test]
    fn target_specs_never_panic(spec in "[0-9:, a-z]{0,16}|.*") {
        let _ = Targets::parse(&spec);
        let _ = parse_px(&format!("--targets={spec}"));
    }

    #[test]
    fn accepted_px_options_round_trip(args in args()) {
        if let Ok(flags) = parse_px(&args) {
            prop_assert_eq!(parse_px(&px_args(&flags)), Ok(flags));
        }
    }

    #[test]
    fn every_px_option_value_is_accepted(flags in px_flags()) {
        prop_assert_eq!(parse_px(&px_args(&flags)), Ok(flags));
    }

    #[test]
    fn timeit_options_round_trip(
        args in args(),
        number in prop::option::of(1..=u64::from(u32::MAX)),
        repeat in prop::option::of(1..=super::timeit::MAX_REPEAT),
    ) {
        if let Ok(flags) = parse_timeit(&args) {
            prop_assert_eq!(parse_timeit(&timeit_args(&flags)), Ok(flags));
        }
        let flags = TimeitFlags { number, repeat };
        prop_assert_eq!(parse_timeit(&timeit_args(&flags)), Ok(flags));
    }
}
