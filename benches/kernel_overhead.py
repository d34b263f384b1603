#!/usr/bin/env python3
"""Per-cell overhead of the rustpx kernel over plain evcxr, measured in the same run.

Baseline: `rustpx bench-evcxr` runs the cell with `CommandContext::execute` in-process
(same runtime and prelude as the kernel). Kernel: the same cell sent over the Jupyter
protocol with jupyter_client, timed from execute_request to the reply. Target: the
kernel adds under 50 ms. Run with the venv's python after `./dev.sh test` or `demo`:
    .venv/bin/python benches/kernel_overhead.py [--runs 20] [--code '1 + 1']
"""
import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

import jupyter_client

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 50.0


def kernel_times(code, runs):
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="rustpx", startup_timeout=120)
    try:
        kc.execute_interactive(code, timeout=1800)  # waits for evcxr and the runtime
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            reply = kc.execute_interactive(code, timeout=300, output_hook=lambda m: None)
            times.append(time.perf_counter() - start)
            assert reply["content"]["status"] == "ok", reply["content"]
        return sorted(times)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--code", default="1 + 1")
    args = parser.parse_args()
    binary = ROOT / "target" / "debug" / "rustpx"
    out = subprocess.run(
        [str(binary), "bench-evcxr", "--code", args.code, "--runs", str(args.runs)],
        check=True, capture_output=True, text=True,
    ).stdout.strip().splitlines()[-1]
    evcxr = json.loads(out)["median"]
    kernel = statistics.median(kernel_times(args.code, args.runs))
    added_ms = (kernel - evcxr) * 1000
    print(f"cell {args.code!r}, median of {args.runs}:")
    print(f"  evcxr in-process (CommandContext::execute): {evcxr * 1000:8.1f} ms")
    print(f"  rustpx kernel over the Jupyter protocol:   {kernel * 1000:8.1f} ms")
    print(f"  added by the kernel: {added_ms:.1f} ms (target < {TARGET_MS:.0f} ms: "
          f"{added_ms / TARGET_MS:.2f} of the budget)")


if __name__ == "__main__":
    main()
