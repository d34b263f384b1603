//! Spin-then-park, shared by the callers waiting for a job and the idle workers waiting
//! for one: a short pure spin (a result that is microseconds away), then yielding the
//! core (on a loaded machine the thread we wait for may need it), then the caller parks.

use std::time::{Duration, Instant};

/// The first part of a spin, before it starts yielding the core.
const PURE_SPIN: Duration = Duration::from_micros(3);

/// Spins, then yields, until `ready()` or `limit` has passed; returns whether `ready()`.
pub(crate) fn spin_until(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if ready() {
            return true;
        }
        let spun = start.elapsed();
        if spun >= limit {
            return false;
        }
        if spun < PURE_SPIN {
            for _ in 0..32 {
                std::hint::spin_loop();
            }
        } else {
            std::thread::yield_now();
        }
    }
}
