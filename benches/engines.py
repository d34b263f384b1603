#!/usr/bin/env python3
"""MPI engines against the thread workers, in one run over the Jupyter protocol.

Prints, for 2 and 4 ranks: the time from `:engines start -n N` to the first `:px --engines`
result (a fresh start, the engines' build directory warm), and the round trip of a trivial
`:px --engines` cell against the same cell on as many worker threads (`:workers N`, then
`:px`). A cell is timed from its execute_request to its execute_reply; round trips are
the median of --rounds runs after one untimed run. rustpx is the kernel installed in
.venv (`./dev.sh engines` builds and installs it, then runs this).
    .venv/bin/python benches/engines.py [--rounds 10]
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="rustpx", startup_timeout=120)
    try:
        timed(kc, "1", timeout=START_TIMEOUT)
        # Builds the `mpi` crate in the engines' build directory on a first run; not timed.
        timed(kc, ":engines start -n 2")
        timed(kc, ":engines stop")
        rows = [(n, *measure(kc, n, args.rounds)) for n in (2, 4)]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    print(f"\n{'ranks':>5}  {'start to first :px --engines':>28}  "
          f"{':px --engines round trip':>24}  {':px on threads':>14}  {'ratio':>6}")
    for n, first, engines, threads in rows:
        print(f"{n:>5}  {first:>26.2f} s  {engines * 1000:>21.0f} ms  "
              f"{threads * 1000:>11.0f} ms  {engines / threads:>5.1f}x")
    print(f"(round trips: median of {args.rounds}; ipyparallel's `ipcluster start -n 2` took "
          "6.8 s on this machine)")


if __name__ == "__main__":
    main()
