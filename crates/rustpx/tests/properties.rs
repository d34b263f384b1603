//! Property tests over the public API: targets in every accepted form, scatter/gather
//! round trips, partitions, and maps that run each item exactly once (also ranges at
//! the ends of `i64`).

use proptest::prelude::*;
use rustpx::schedule::partition;
use rustpx::{Client, Error, IntoTargets, Targets};
use std::sync::atomic::{AtomicUsize, Ordering};

/// ipyparallel's text for `targets`, as `:px --targets` takes it.
fn spec(targets: &Targets) -> String {
    let part = |v: Option<usize>| v.map_or(String::new(), |v| v.to_string());
    match targets {
        Targets::All => "all".into(),
        Targets::Ids(ids) => ids
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(","),
        Targets::Slice { start, stop, step } => {
            format!("{start}:{}:{step}", part(*stop))
        }
        Targets::Span { .. } => unreachable!("spans have no text form"),
    }
}

fn texts() -> impl Strategy<Value = Targets> {
    prop_oneof![
        Just(Targets::All),
        prop::collection::vec(0usize..64, 1..6).prop_map(Targets::Ids),
        (0usize..64, prop::option::of(0usize..64), 1usize..8)
            .prop_map(|(start, stop, step)| Targets::Slice { start, stop, step }),
    ]
}

/// What `ids` should resolve to on `workers` workers when every id must exist.
fn explicit(ids: Vec<usize>, workers: usize) -> Result<Vec<usize>, Error> {
    if let Some(&id) = ids.iter().find(|&&id| id >= workers) {
        return Err(Error::UnknownWorker {
            id,
            workers: (0..workers).collect(),
        });
    }
    if ids.is_empty() {
        return Err(Error::NoWorkers);
    }
    Ok(ids)
}

proptest! {
    #[test]
    fn any_text_parses_or_is_a_bad_targets_error(s in ".{0,12}") {
        match Targets::parse(&s) {
            Ok(t) => match t.resolve(4) {
                Ok(ids) => prop_assert!(!ids.is_empty() && ids.iter().all(|&id| id < 4), "{ids:?}"),
                Err(e) => prop_assert!(
                    matches!(e, Error::UnknownWorker { .. } | Error::NoWorkers),
                    "{e:?}"
                ),
            },
            Err(e) => prop_assert!(matches!(e, Error::BadTargets { .. }), "{e:?}"),
        }
    }

    #[test]
    fn text_forms_round_trip(t in texts()) {
        prop_assert_eq!(Targets::parse(&spec(&t)).unwrap(), t);
    }

    #[test]
    fn ranges_resolve_like_their_ids(
        start in 0usize..12, len in 0usize..12, step in 1usize..5, workers in 1usize..10,
    ) {
        let end = start + len;
        let ids = |t: Result<Targets, Error>| t.and_then(|t| t.resolve(workers));
        prop_assert_eq!(ids((start..end).into_targets()), explicit((start..end).collect(), workers));
        prop_assert_eq!(
            ids((start..=end).into_targets()),
            explicit((start..=end).collect(), workers)
        );
        prop_assert_eq!(
            ids((start..end).step_by(step).into_targets()),
            explicit((start..end).step_by(step).collect(), workers)
        );
        prop_assert_eq!(
            ids((start..=end).step_by(step).into_targets()),
            explicit((start..=end).step_by(step).collect(), workers)
        );
        let open: Vec<usize> = (start..workers).step_by(step).collect();
        let expected = if open.is_empty() { Err(Error::NoWorkers) } else { Ok(open) };
        prop_assert_eq!(ids((start..).step_by(step).into_targets()), expected);
    }

    #[test]
    fn partitions_cover_every_index_once(len in 0usize..10_000, parts in 0usize..64) {
        let blocks = partition(len, parts);
        prop_assert_eq!(blocks.len(), parts.max(1));
        let mut next = 0;
        for block in &blocks {
            prop_assert_eq!(block.start, next);
            next = block.end;
        }
        prop_assert_eq!(next, len);
        let sizes: Vec<usize> = blocks.iter().map(|b| b.len()).collect();
        prop_assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn scatter_then_gather_gives_the_data_back(workers in 1usize..6, data in prop::collection::vec(any::<i32>(), 0..300)) {
        let rc = Client::local(workers).unwrap();
        let view = rc.direct_view();
        let parts = view.scatter(data.clone());
        prop_assert_eq!(parts.len(), workers);
        prop_assert_eq!(view.gather(&parts), data);
    }

    #[test]
    fn maps_run_each_item_exactly_once(
        workers in 1usize..5, len in 0usize..2_000, chunk in prop_oneof![1usize..64, Just(usize::MAX)],
    ) {
        let rc = Client::local(workers).unwrap();
        let calls: Vec<AtomicUsize> = (0..len).map(|_| AtomicUsize::new(0)).collect();
        let f = |i: usize| {
            calls[i].fetch_add(1, Ordering::Relaxed);
            i * 2
        };
        let expected: Vec<usize> = (0..len).map(|i| i * 2).collect();
        prop_assert_eq!(rc.load_balanced_view().chunksize(chunk).map(0..len, f).unwrap(), expected.clone());
        prop_assert_eq!(rc.direct_view().map(0..len, f).unwrap(), expected);
        prop_assert!(calls.iter().all(|c| c.load(Ordering::Relaxed) == 2));
    }

    #[test]
    fn narrow_ranges_anywhere_in_i64_map_every_item(
        workers in 1usize..4,
        start in prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX - 20)],
        width in 0u64..20,
    ) {
        // Clamped at the top so every range is one the type can express.
        let end = start.saturating_add_unsigned(width);
        let rc = Client::local(workers).unwrap();
        let expected: Vec<i64> = (start..=end).collect();
        prop_assert_eq!(rc.load_balanced_view().map(start..=end, |x| x).unwrap(), expected.clone());
        prop_assert_eq!(rc.direct_view().map_async(start..=end, |x| x).get().unwrap(), expected);
        let open: Vec<i64> = (start..end).collect();
        prop_assert_eq!(rc.direct_view().map(start..end, |x| x).unwrap(), open);
    }
}
