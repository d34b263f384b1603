//! `rustpx bench-evcxr`: the in-process baseline of `benches/kernel_overhead.py`, which
//! compares it with the same cell sent to the kernel over the Jupyter protocol.

use super::{runtime_embed, session};
use anyhow::{Result, anyhow};
use std::time::{Duration, Instant};

/// Sets up evcxr exactly as the kernel does (runtime, prelude), then times `code` run
/// `runs` times with `CommandContext::execute`; prints one JSON line of seconds.
pub fn run(code: &str, runs: usize) -> Result<()> {
    let (mut ctx, outputs) = session::new_context()?;
    // Drain the child's output so it never blocks.
    std::thread::spawn(move || while outputs.stdout.recv().is_ok() {});
    let runtime = runtime_embed::extract()?;
    ctx.execute(&session::prelude(&runtime))
        .map_err(|e| anyhow!("prelude: {e}"))?;
    ctx.execute(code).map_err(|e| anyhow!("warm-up: {e}"))?;
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        ctx.execute(code).map_err(|e| anyhow!("{e}"))?;
        times.push(start.elapsed());
    }
    times.sort();
    let secs: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
    println!(
        "{}",
        serde_json::json!({ "median": secs[secs.len() / 2], "min": secs[0], "times": secs })
    );
    Ok(())
}
