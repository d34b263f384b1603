#!/usr/bin/env python3
"""What `:px` adds over running the same code as an ordinary cell, measured in one kernel.

Both cells go through the kernel over the Jupyter protocol and are compiled by evcxr; the
`:px` cell is rewritten (syn), runs once per worker and shows `Out[w]` per worker. Runs
alternate so machine noise hits both alike. Target: under 100 ms added. Run with the venv's
python after `./dev.sh test` or `./dev.sh demo`:
    .venv/bin/python benches/px_overhead.py [--runs 15] [--code '(0..1000u64).sum::<u64>()']
"""
import argparse
import statistics
import time

import jupyter_client

TARGET_MS = 100.0


def timed(kc, code):
    start = time.perf_counter()
    reply = kc.execute_interactive(code, timeout=600, output_hook=lambda m: None)
    elapsed = time.perf_counter() - start
    assert reply["content"]["status"] == "ok", (code, reply["content"])
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--code", default="(0..1000u64).sum::<u64>()")
    args = parser.parse_args()
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="rustpx", startup_timeout=120)
    try:
        kc.execute_interactive("1", timeout=1800, output_hook=lambda m: None)  # waits for evcxr
        timed(kc, f":px {args.code}")  # first use of the workers and of px::run
        plain, px = [], []
        for _ in range(args.runs):
            plain.append(timed(kc, args.code))
            px.append(timed(kc, f":px {args.code}"))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    p, x = statistics.median(plain), statistics.median(px)
    added = (x - p) * 1000
    print(f"cell {args.code!r}, median of {args.runs} alternating runs in one kernel:")
    print(f"  ordinary cell:           {p * 1000:8.1f} ms")
    print(f"  :px on every worker:     {x * 1000:8.1f} ms  ({x / p:.2f}x the ordinary cell)")
    print(f"  added by :px: {added:.1f} ms (target < {TARGET_MS:.0f} ms: "
          f"{added / TARGET_MS:.2f} of the budget)")


if __name__ == "__main__":
    main()
