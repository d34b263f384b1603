#!/usr/bin/env python3
"""MPI engines against the thread workers and against ipyparallel, in one run.

Prints, for 2 and 4 ranks: the time from `:engines start -n N` to the first `:px --engines`
result (a fresh start, the engines' build directory warm), and the round trip of a trivial
`:px --engines` cell against the same cell on as many worker threads (`:workers N`, then
`:px`). Then, on 2 engines of each: pushing a --mb MB vector of f64 from the notebook to
every engine and pulling every engine's copy back, rustpx (`engines().push`/`pull`, over
the Jupyter protocol) against ipyparallel (`dview.push`/`pull` of the same bytes as a
numpy array, from this process), and ipyparallel's own start to the first result. A
rustpx cell is timed from its execute_request to its execute_reply; round trips and
transfers are the median of --rounds runs after one untimed run. rustpx is the kernel
installed in .venv (`./dev.sh engines` builds and installs it, then runs this).
    .venv/bin/python benches/engines.py [--rounds 10] [--mb 32]
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import jupyter_client

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "kernel"))
from conftest import START_TIMEOUT, run  # noqa: E402


def timed(kc, code, timeout=900):
    started = time.monotonic()
    reply, _ = run(kc, code, timeout=timeout)
    took = time.monotonic() - started
    if reply["content"]["status"] != "ok":
        raise SystemExit(f"{code!r} failed: {reply['content'].get('evalue')}")
    return took


def round_trip(kc, code, rounds):
    timed(kc, code)
    return statistics.median(timed(kc, code) for _ in range(rounds))


def measure(kc, ranks, rounds):
    started = time.monotonic()
    timed(kc, f":engines start -n {ranks}")
    timed(kc, ":px --engines rank()")
    first = time.monotonic() - started
    engines = round_trip(kc, ":px --engines rank()", rounds)
    timed(kc, ":engines stop")
    timed(kc, f":workers {ranks}")
    threads = round_trip(kc, ":px worker_id()", rounds)
    return first, engines, threads


def rustpx_transfers(kc, floats, rounds):
    """Seconds to push `floats` f64s to 2 engines, and to pull both copies back."""
    timed(kc, ":engines start -n 2")
    timed(kc, f"let data: Vec<f64> = (0..{floats}).map(|i| i as f64).collect();")
    push = round_trip(kc, 'engines().push("data", &data)?;', rounds)
    pull = round_trip(kc, 'engines().pull::<Vec<f64>>("data")?.len()', rounds)
    timed(kc, ":engines stop")
    return push, pull


def ipyparallel_figures(floats, rounds):
    """ipyparallel on 2 engines: start to the first result, push and pull seconds."""
    import ipyparallel as ipp
    import numpy as np

    def median_of(action):
        action()
        times = []
        for _ in range(rounds):
            started = time.monotonic()
            action()
            times.append(time.monotonic() - started)
        return statistics.median(times)

    started = time.monotonic()
    with ipp.Cluster(n=2, log_level=40) as rc:
        rc[:].apply_sync(lambda: 1)
        start = time.monotonic() - started
        dview = rc[:]
        data = np.arange(floats, dtype=np.float64)
        push = median_of(lambda: dview.push({"data": data}, block=True))
        pull = median_of(lambda: dview.pull("data", block=True))
    return start, push, pull


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--mb", type=int, default=32, help="MB pushed to each engine")
    args = parser.parse_args()
    floats = args.mb * 1_000_000 // 8
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="rustpx", startup_timeout=120)
    try:
        timed(kc, "1", timeout=START_TIMEOUT)
        # Builds the `mpi` crate in the engines' build directory on a first run; not timed.
        timed(kc, ":engines start -n 2")
        timed(kc, ":engines stop")
        rows = [(n, *measure(kc, n, args.rounds)) for n in (2, 4)]
        push, pull = rustpx_transfers(kc, floats, args.rounds)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    print(f"\n{'ranks':>5}  {'start to first :px --engines':>28}  "
          f"{':px --engines round trip':>24}  {':px on threads':>14}  {'ratio':>6}")
    for n, first, engines, threads in rows:
        print(f"{n:>5}  {first:>26.2f} s  {engines * 1000:>21.0f} ms  "
              f"{threads * 1000:>11.0f} ms  {engines / threads:>5.1f}x")
    ipp_start, ipp_push, ipp_pull = ipyparallel_figures(floats, args.rounds)
    print(f"(round trips: median of {args.rounds})")
    print(f"\nipyparallel 2 engines, start to first result: {ipp_start:.2f} s "
          f"(rustpx {rows[0][1]:.2f} s: {rows[0][1] / ipp_start:.2f}x)")
    moved = 2 * args.mb
    print(f"\n{'2 engines, ' + str(args.mb) + ' MB each':<24}  {'rustpx':>16}  {'ipyparallel':>16}  {'ratio':>6}")
    for what, ours, theirs in [("push", push, ipp_push), ("pull", pull, ipp_pull)]:
        print(f"{what:<24}  {moved / ours:>9.0f} MB/s {ours:>4.2f}s  "
              f"{moved / theirs:>9.0f} MB/s {theirs:>4.2f}s  {ours / theirs:>5.2f}x")
    print(f"(MB/s: the {moved} MB that reach or leave the engines over the median time; "
          "ratio: rustpx's time over ipyparallel's)")


if __name__ == "__main__":
    main()
