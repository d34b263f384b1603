#!/usr/bin/env python3
"""Interactive latency of rustpx against evcxr_jupyter 0.22, side by side in one run.

Both kernels get the same cells over the Jupyter protocol, each round in freshly started
kernels (evcxr_jupyter first in odd rounds, rustpx first in even ones, so machine noise
hits both alike). A cell is timed from its execute_request to its execute_reply; the start
is timed from launching the kernel's process to the reply of the first cell (`1`). The
anchor is built once with `cargo install evcxr_jupyter@0.22.0 --locked` into
target/anchor (about 12 minutes on 2 cores) unless --evcxr names a binary. rustpx is the
kernel installed in .venv (`./dev.sh latency` builds and installs it, then runs this).
    .venv/bin/python benches/latency.py [--rounds 2] [--evcxr PATH]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANCHOR_VERSION = "0.22.0"
ANCHOR_ROOT = ROOT / "target" / "anchor" / f"evcxr_jupyter-{ANCHOR_VERSION}"

# (row label, cell, runs in a row, runs not timed first); a row shows the timed runs' median
ROWS = [
    ("first `let x = 5;` of a session", "let x = 5;", 1, 0),
    ("trivial cell (`2 + 1`), median of 6", "2 + 1", 6, 0),
    ("later `let`", "let y = x + 2;", 3, 0),
    ("showing a variable (`y`)", "y", 3, 0),
    ("`fn` definition", "fn double(v: i32) -> i32 { v * 2 }", 3, 0),
    ("closure map cell",
     "let squares: Vec<i64> = (0..1000i64).map(|v| v * v).collect(); squares.len()", 3, 0),
    ("re-running an unchanged cell", "let z = double(21); z", 4, 1),
]
RUN_ALL = "launch to the first `let`'s result (Run All after a restart)"
# A user reads the first output and types the first `let`; rustpx warms rust-analyzer then.
PAUSE = 10
PAUSED_LET = (f"first `let` after {PAUSE} s at the prompt", "let x = 5;")
COMPLETION = ("start to the first completion (`v.is_em` → `is_empty`)",
              "let v: Vec<u8> = Vec::new();\nv.is_em")
PARALLEL = ("start to the first parallel result",
            "let client = Client::local(2)?;\n"
            "let view = client.load_balanced_view();\n"
            "view.map(0..100u64, |x: u64| x * x)?.iter().sum::<u64>()")


def find_or_build_anchor(explicit):
    if explicit:
        return Path(explicit)
    binary = ANCHOR_ROOT / "bin" / "evcxr_jupyter"
    if not binary.exists():
        print(f"building evcxr_jupyter {ANCHOR_VERSION} into {ANCHOR_ROOT} (once)", flush=True)
        subprocess.run(
            ["cargo", "install", "evcxr_jupyter", "--version", ANCHOR_VERSION, "--locked",
             "--root", str(ANCHOR_ROOT), "--target-dir", str(ROOT / "target" / "anchor" / "build")],
            check=True,
        )
    return binary


def anchor_kernelspec(binary, tmp):
    spec = Path(tmp) / "kernels" / "evcxr-anchor"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(binary), "--control_file", "{connection_file}"],
        "display_name": f"evcxr_jupyter {ANCHOR_VERSION}",
        "language": "rust",
    }))
    return tmp


def run_cell(kc, code):
    outputs = []

    def hook(msg):
        if msg["msg_type"] in ("execute_result", "stream", "error", "display_data"):
            outputs.append(msg["content"])

    start = time.perf_counter()
    reply = kc.execute_interactive(code, timeout=1800, output_hook=hook)
    elapsed = time.perf_counter() - start
    if reply["content"]["status"] != "ok":
        raise SystemExit(f"cell {code!r} failed: {reply['content']} {outputs}")
    return elapsed


def fresh_kernel(kernel_name, first_cell, then):
    """Starts a kernel, runs `first_cell`, then `then(kc)`; returns (seconds from the
    process launch to the first cell's reply, what `then` returned)."""
    import jupyter_client

    start = time.perf_counter()
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name=kernel_name,
                                                     startup_timeout=600)
    try:
        run_cell(kc, first_cell)
        first = time.perf_counter() - start
        return first, then(kc)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def rows(kc):
    times = {}
    for label, code, runs, untimed in ROWS:
        times[label] = [run_cell(kc, code) for _ in range(runs)][untimed:]
    return times


def paused_let(kc):
    time.sleep(PAUSE)
    return run_cell(kc, PAUSED_LET[1])


def first_completion(kernel_name):
    """Seconds from the process launch to a completion reply that has rust-analyzer's
    answer, asked as soon as the kernel answers kernel_info (a fallback list is a failure:
    the row then says so)."""
    import jupyter_client

    start = time.perf_counter()
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name=kernel_name,
                                                     startup_timeout=600)
    try:
        code = COMPLETION[1]
        reply = kc.complete(code, len(code), reply=True, timeout=600)["content"]
        elapsed = time.perf_counter() - start
        if not any(m.startswith("is_empty") for m in reply["matches"]):
            raise SystemExit(f"{kernel_name}: no rust-analyzer completion: {reply['matches'][:10]}")
        return elapsed
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def session(kernel_name, with_parallel):
    """Fresh kernels: seconds per row (lists), keyed by label."""
    first, times = fresh_kernel(kernel_name, "1", rows)
    first_let = times[ROWS[0][0]][0]
    times = {"start to first result (`1`)": [first], **times}
    # "Run All" after a restart: the start and the first `let` back to back.
    times[RUN_ALL] = [first + first_let]
    times[PAUSED_LET[0]] = [fresh_kernel(kernel_name, "1", paused_let)[1]]
    times[COMPLETION[0]] = [first_completion(kernel_name)]
    if with_parallel:
        label, code = PARALLEL
        times[label] = [fresh_kernel(kernel_name, code, lambda kc: None)[0]]
    return times


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def fmt_range(values):
    lo, hi = min(values), max(values)
    return f"{lo:.2f} s" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}–{hi:.2f} s"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--evcxr", help="an evcxr_jupyter 0.22 binary (else built once)")
    args = parser.parse_args()
    binary = find_or_build_anchor(args.evcxr)
    tmp = tempfile.mkdtemp(prefix="rustpx-latency-")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        [anchor_kernelspec(binary, tmp), os.environ.get("JUPYTER_PATH", "")])
    # Untimed: a first start builds what later starts reuse (rustpx's runtime dependencies).
    for kernel in ("evcxr-anchor", "rustpx"):
        fresh_kernel(kernel, "1", lambda kc: None)
    results = {"evcxr": [], "rustpx": []}
    for round_no in range(args.rounds):
        order = ["evcxr", "rustpx"] if round_no % 2 == 0 else ["rustpx", "evcxr"]
        for name in order:
            kernel = "evcxr-anchor" if name == "evcxr" else "rustpx"
            results[name].append(session(kernel, name == "rustpx"))
            print(f"round {round_no + 1}: {name} done", flush=True)
    print_table(results, args.rounds)


def print_table(results, rounds):
    print(f"\n{date.today()}, {cpu_model()}, {os.cpu_count()} cores; {rounds} rounds, fresh "
          "kernels, cells over the Jupyter protocol; per round the median of the row's runs")
    print(f"\n| cell | evcxr_jupyter {ANCHOR_VERSION} | rustpx | ratio |")
    print("|---|---:|---:|---:|")
    labels = list(results["rustpx"][0])
    for label in labels:
        r = [statistics.median(t[label]) for t in results["rustpx"]]
        if label in results["evcxr"][0]:
            e = [statistics.median(t[label]) for t in results["evcxr"]]
            ratio = f"{statistics.median(r) / statistics.median(e):.2f}x"
            print(f"| {label} | {fmt_range(e)} | {fmt_range(r)} | {ratio} |")
        else:
            print(f"| {label} | – | {fmt_range(r)} | – |")


if __name__ == "__main__":
    main()
