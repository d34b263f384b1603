//! `timeit` with extreme options: an error or a result, never a panic. A test binary of
//! its own, since it raises the process-wide interrupt.

use rustpx::Error;
use rustpx::timeit::{TimeitOptions, timeit};

#[test]
fn a_huge_repeat_count_runs_until_interrupted_instead_of_allocating() {
    rustpx::interrupt::raise();
    let outcome = timeit(
        TimeitOptions {
            number: Some(u64::MAX),
            repeat: Some(u64::MAX),
        },
        || 1 + 1,
    );
    assert!(matches!(outcome, Err(Error::Interrupted)), "{outcome:?}");
}
