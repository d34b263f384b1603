#!/usr/bin/env python3
"""Side-by-side comparison of rustpx with the Python tools on the same data (issue 5).

Runs two workloads with 2 workers each:
  * convolution: 8 calls of scipy.signal.convolve2d(image, filter)[::5, ::5] on a 3000x3000
    image (seed 002), and
  * feature location: trackpy.locate(frame, 11, minmass=500) over 32 frames of 512x512 with
    200 particles (seed 000), with the position error against the known truth.

The rustpx side is the tutorial notebooks themselves (01 and 03), executed headless with the
"rustpx" kernel; each prints a `RESULT {...}` line. The Python side rebuilds the identical
convolution data (same splitmix64 generator, in NumPy) and reads the very PNG frames and
truth.csv that notebook 01 wrote. Every time is the best of 3 runs.

Run from the project venv (`./dev.sh compare` does it all); missing Python packages are
installed from requirements-compare.txt into that venv first.
"""
import argparse
import csv
import json
import multiprocessing as mp
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# ipyparallel engines and Dask workers unpickle this module's functions by name: let the
# processes they start import it.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH")]))
WORKERS = 2
REPEATS = 3


def ensure_packages():
    try:
        import dask.distributed, ipyparallel, scipy.signal, trackpy, imageio  # noqa: F401
    except ImportError:
        if sys.prefix == sys.base_prefix:
            sys.exit("compare.py: run it from the project venv (./dev.sh compare)")
        print("installing requirements-compare.txt into", sys.prefix, flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "-r", str(ROOT / "requirements-compare.txt")],
            check=True,
        )


def best_of(fn, repeats=REPEATS):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


# ---------------------------------------------------------------- the rustpx side
def run_notebook(name, frames_dir, reuse=False):
    """Executes a tutorial notebook and returns its RESULT line. With `reuse`, reads the
    copy a previous run left in notebooks/executed/ instead (same frames directory)."""
    import nbformat
    from nbclient import NotebookClient

    executed = ROOT / "notebooks" / "executed"
    if reuse:
        nb = nbformat.read(executed / name, as_version=4)
    else:
        os.environ["RUSTPX_FRAMES_DIR"] = str(frames_dir)
        os.environ["RUSTPX_NONINTERACTIVE"] = "1"
        nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        NotebookClient(nb, timeout=1800, kernel_name="rustpx").execute()
        executed.mkdir(exist_ok=True)
        nbformat.write(nb, executed / name)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            for line in out.get("text", "").splitlines():
                if line.startswith("RESULT "):
                    return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{name} printed no RESULT line")


# ---------------------------------------------------------------- convolution data
def splitmix_uniform(seed, index):
    import numpy as np

    with np.errstate(over="ignore"):
        z = (np.uint64(seed) << np.uint64(32)) + index.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def conv_data():
    import numpy as np

    n = 3000
    image = splitmix_uniform(1, np.arange(n * n, dtype=np.uint64)).reshape(n, n)
    filters = [2.0 * splitmix_uniform(100 + f, np.arange(16, dtype=np.uint64)).reshape(4, 4) - 1.0 for f in range(8)]
    return image, filters


IMAGE = None  # set before the fork-based pool starts, so children inherit it


def fconv(image, f):
    import scipy.signal

    return scipy.signal.convolve2d(image, f)[::5, ::5]


def fconv_inherited(f):
    return fconv(IMAGE, f)


def fconv_args(args):
    return fconv(*args)


def python_convolution():
    global IMAGE
    import numpy as np

    image, filters = conv_data()
    IMAGE = image
    rows = {}
    t, serial = best_of(lambda: [fconv(image, f) for f in filters])
    checksum = float(sum(r.sum() for r in serial))
    rows["SciPy, serial loop"] = t
    ctx = mp.get_context("fork")
    with ctx.Pool(WORKERS) as pool:
        pool.map(fconv_inherited, filters[:WORKERS])
        rows["multiprocessing, image inherited by fork"] = best_of(lambda: pool.map(fconv_inherited, filters))[0]
        rows["multiprocessing, image sent with each task"] = best_of(
            lambda: pool.map(fconv_args, [(image, f) for f in filters])
        )[0]
    rows.update(ipyparallel_convolution(image, filters))
    rows.update(dask_convolution(image, filters))
    return rows, checksum


def ipyparallel_convolution(image, filters):
    import ipyparallel as ipp

    rows = {}
    with ipp.Cluster(n=WORKERS, log_level=40) as rc:
        dview, lview = rc[:], rc.load_balanced_view()
        dview.push({"IMAGE": image}, block=True)
        # the engines import this module; fconv_inherited reads its IMAGE global
        dview.execute("import compare; compare.IMAGE = IMAGE", block=True)
        lview.map_sync(fconv_inherited, filters[:WORKERS])
        rows["ipyparallel, image pushed once"] = best_of(lambda: lview.map_sync(fconv_inherited, filters))[0]
        rows["ipyparallel, image sent with each task"] = best_of(
            lambda: lview.map_sync(fconv, [image] * len(filters), filters)
        )[0]
    return rows


def dask_convolution(image, filters):
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        big = client.scatter(image, broadcast=True)
        client.gather([client.submit(fconv, big, f, pure=False) for f in filters[:WORKERS]])
        t = best_of(lambda: client.gather([client.submit(fconv, big, f, pure=False) for f in filters]))[0]
    return {"Dask distributed, image scattered once": t}


# ---------------------------------------------------------------- feature location
FRAMES = None


def locate(frame):
    import trackpy

    return trackpy.locate(frame, 11, minmass=500)[["x", "y"]].to_numpy()


def locate_index(i):
    return locate(FRAMES[i])


def score(found, truth):
    import numpy as np

    n, err, located = 0, 0.0, 0
    for xy, t in zip(found, truth):
        located += len(xy)
        for x, y in t:
            d = np.hypot(xy[:, 0] - x, xy[:, 1] - y).min() if len(xy) else np.inf
            if d < 3.0:
                n, err = n + 1, err + d
    return n, err / max(n, 1), located - n


def python_locate(frames_dir):
    global FRAMES
    import imageio.v3 as iio
    import trackpy

    trackpy.quiet()
    warnings.filterwarnings("ignore")
    paths = sorted(Path(frames_dir).glob("frame*.png"), key=lambda p: int(re.findall(r"\d+", p.name)[0]))
    frames = [iio.imread(p) for p in paths]
    FRAMES = frames
    truth = [[] for _ in frames]
    with open(Path(frames_dir) / "truth.csv") as f:
        for row in csv.DictReader(f):
            truth[int(row["frame"])].append((float(row["x"]), float(row["y"])))
    rows = {}
    t, found = best_of(lambda: [locate(f) for f in frames])
    rows["trackpy, serial loop"] = t
    ctx = mp.get_context("fork")
    with ctx.Pool(WORKERS) as pool:
        pool.map(locate_index, range(WORKERS))
        rows["trackpy + multiprocessing"] = best_of(lambda: pool.map(locate_index, range(len(frames))))[0]
    import ipyparallel as ipp

    with ipp.Cluster(n=WORKERS, log_level=40) as rc:
        lview = rc.load_balanced_view()
        rc[:].execute("import trackpy, warnings; trackpy.quiet(); warnings.filterwarnings('ignore')", block=True)
        lview.map_sync(locate, frames[:WORKERS])
        rows["trackpy + ipyparallel"] = best_of(lambda: lview.map_sync(locate, frames))[0]
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        client.gather(client.map(locate, frames[:WORKERS], pure=False))
        rows["trackpy + Dask distributed"] = best_of(lambda: client.gather(client.map(locate, frames, pure=False)))[0]
    n, err, spurious = score(found, truth)
    return rows, {"found": n, "truth": sum(map(len, truth)), "mean_error_px": err, "spurious": spurious}


# ---------------------------------------------------------------- report
def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def table(title, rows, extra=None):
    fastest_python = min(t for name, t in rows.items() if not name.startswith("rustpx") and "serial" not in name)
    serial = next(t for name, t in rows.items() if "serial" in name and not name.startswith("rustpx"))
    lines = [f"### {title}", "", "| tool | time (s) | speedup vs Python serial | time / rustpx best parallel |",
             "| --- | ---: | ---: | ---: |"]
    rust_parallel = min(t for name, t in rows.items() if name.startswith("rustpx") and "serial" not in name)
    for name, t in rows.items():
        lines.append(f"| {name} | {t:.3f} | {serial / t:.2f}x | {t / rust_parallel:.1f}x |")
    lines.append("")
    lines.append(f"rustpx's best parallel time is {fastest_python / rust_parallel:.1f}x faster than the fastest parallel Python tool.")
    if extra:
        lines.append(extra)
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--frames", type=Path, help="frames directory (default: a new temporary one)")
    parser.add_argument("--reuse-executed", action="store_true",
                        help="take the rustpx figures from notebooks/executed/ (a previous run with the same --frames)")
    args = parser.parse_args()
    ensure_packages()
    frames_dir = args.frames or Path(tempfile.mkdtemp(prefix="rustpx-compare-")) / "frames"
    print("running notebook 03 (convolution) with the rustpx kernel ...", flush=True)
    rust_conv = run_notebook("03_convolution.ipynb", frames_dir, args.reuse_executed)
    print("running notebook 01 (feature location) with the rustpx kernel ...", flush=True)
    rust_loc = run_notebook("01_feature_location.ipynb", frames_dir, args.reuse_executed)
    print("running the Python tools (convolution) ...", flush=True)
    py_conv, checksum = python_convolution()
    print("running the Python tools (feature location) ...", flush=True)
    py_loc, py_acc = python_locate(frames_dir)

    assert abs(checksum - rust_conv["checksum"]) < 1e-6 * abs(checksum), (checksum, rust_conv["checksum"])
    conv_rows = {"rustpx, serial loop": rust_conv["serial_s"],
                 "rustpx DirectView.map": rust_conv["direct_s"],
                 "rustpx LoadBalancedView.map": rust_conv["balanced_s"], **py_conv}
    loc_rows = {"rustpx, serial loop": rust_loc["serial_s"],
                "rustpx LoadBalancedView.map_async": rust_loc["parallel_s"], **py_loc}
    accuracy = (
        "\n| locate | particles found | spurious | mean position error (px) |\n| --- | ---: | ---: | ---: |\n"
        f"| rustpx (notebook 01) | {rust_loc['found']} / {rust_loc['truth']} | {rust_loc['spurious']} | {rust_loc['mean_error_px']:.4f} |\n"
        f"| trackpy 0.7 | {py_acc['found']} / {py_acc['truth']} | {py_acc['spurious']} | {py_acc['mean_error_px']:.4f} |\n"
    )
    machine = f"Machine: {os.cpu_count()} logical cores, {cpu_model()}, {WORKERS} workers for every parallel tool; best of {REPEATS} runs."
    report = "\n".join([
        machine, "",
        table("Convolution: 8 x convolve2d(3000x3000, 4x4)[::5, ::5]", conv_rows,
              f"Results identical: checksum {checksum:.6f} in both."),
        table("Feature location: 32 frames of 512x512, 200 particles, diameter 11, minmass 500", loc_rows, accuracy),
    ])
    print()
    print(report)
    if args.json:
        args.json.write_text(json.dumps({"convolution": conv_rows, "locate": loc_rows, "rustpx_locate": rust_loc,
                                         "trackpy_accuracy": py_acc, "machine": machine}, indent=1))


if __name__ == "__main__":
    # Run as the importable module `compare`, so that ipyparallel engines and Dask workers
    # unpickle its functions by name instead of looking for them in their own __main__.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import compare

    compare.main()
