#!/usr/bin/env python3
"""MPI engines against the thread workers and against ipyparallel, in one run.

Prints, for 2 and 4 ranks: the time from `:engines start -n N` to the first `:px --engines`
result (a fresh start, the engines' build directory warm), and the round trip of a trivial
`:px --engines` cell against the same cell on as many worker threads (`:workers N`, then
`:px`). Then, on 2 engines of each: pushing a --mb MB vector of f64 from the notebook to
every engine and pulling every engine's copy back, rustpx (`engines().push`/`pull`, over
the Jupyter protocol) against ipyparallel (`dview.push`/`pull` of the same bytes as a
numpy array, from this process), and ipyparallel's own start to the first result. Last,
seed 000's feature location over notebook 01's 32 frames (its own `locate`, frames decoded
where they are located): on 2 engines (one thread each, half the frames each), on 2
engines as a load-balanced map over the frames' paths (`engines().map`), on 2 worker
threads of the notebook, and with trackpy on 2 ipyparallel engines, best of 3 each. A
rustpx cell is timed from its execute_request to its execute_reply; round trips and
transfers are the median of --rounds runs after one untimed run. rustpx is the kernel
installed in .venv (`./dev.sh engines` builds and installs it, then runs this).
    .venv/bin/python benches/engines.py [--rounds 10] [--mb 32]
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jupyter_client

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "kernel"))
sys.path.insert(0, str(ROOT / "notebooks"))
sys.path.insert(0, str(ROOT / "benches"))
from conftest import START_TIMEOUT, run  # noqa: E402
from build import parse  # noqa: E402
from compare import best_of  # noqa: E402


def timed(kc, code, timeout=900):
    started = time.monotonic()
    reply, _ = run(kc, code, timeout=timeout)
    took = time.monotonic() - started
    if reply["content"]["status"] != "ok":
        raise SystemExit(f"{code!r} failed: {reply['content'].get('evalue')}")
    return took


def median_time(action, rounds):
    """Median seconds of `rounds` calls of `action`, after one untimed call."""
    action()
    times = []
    for _ in range(rounds):
        started = time.monotonic()
        action()
        times.append(time.monotonic() - started)
    return statistics.median(times)


def round_trip(kc, code, rounds):
    return median_time(lambda: timed(kc, code), rounds)


def shown(kc, code):
    """The text/plain value a cell shows."""
    _, outputs = run(kc, code)
    return next(m["content"]["data"]["text/plain"] for _, m in outputs
                if m["msg_type"] == "execute_result")


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

    started = time.monotonic()
    with ipp.Cluster(n=2, log_level=40) as rc:
        rc[:].apply_sync(lambda: 1)
        start = time.monotonic() - started
        dview = rc[:]
        data = np.arange(floats, dtype=np.float64)
        push = median_time(lambda: dview.push({"data": data}, block=True), rounds)
        pull = median_time(lambda: dview.pull("data", block=True), rounds)
    return start, push, pull


def notebook_01_cells():
    """Notebook 01's code cells up to its `curried_locate` (frames written, `locate`
    defined), and of those the ones that define `locate` (from `struct Feature` on)."""
    cells = [c for kind, c in parse((ROOT / "notebooks/src/01_feature_location.rs").read_text())
             if kind == "code"]
    last = next(i for i, c in enumerate(cells) if "fn curried_locate" in c)
    first = next(i for i, c in enumerate(cells) if "struct Feature" in c)
    return cells[:last + 1], cells[first:last]


def best_of_3(kc, code):
    return best_of(lambda: timed(kc, code))[0]


def rustpx_location(kc):
    """Seconds to locate notebook 01's frames on 2 threads and on 2 engines, the frames
    directory, and the features each found."""
    setup, definitions = notebook_01_cells()
    for cell in setup:
        timed(kc, cell)
    count = "let n: usize = view.map(&frames, curried_locate)?.iter().map(Vec::len).sum();\nn"
    threads = best_of_3(kc, count)
    found_threads = shown(kc, "n")
    timed(kc, ":engines start -n 2")
    timed(kc, ":px --engines\nuse rustpx::ndarray::{Array2, s};")
    for cell in definitions:
        timed(kc, f":px --engines\n{cell}")
    timed(kc, ":px --engines\nfn curried_locate(image: Array2<f32>) -> Vec<Feature> { locate(&image, 11, 500.0) }")
    timed(kc, 'engines().push("frames_dir", &frames_dir.display().to_string())?;')
    timed(kc, ":px --engines\n"
              'let frames = ImageSequence::open(format!("{frames_dir}/frame*.png"))?.gray();\n'
              "let mine = frames.slice(frames.len() * rank() / size()..frames.len() * (rank() + 1) / size());\n"
              "let view = Client::local(1)?.load_balanced_view();")
    engines = best_of_3(kc, ":px --engines\nlet n: usize = view.map(&mine, curried_locate)?.iter().map(Vec::len).sum();")
    on_engines = shown(kc, 'engines().pull::<usize>("n")?.iter().sum::<usize>()')
    # ipyparallel's way: a load-balanced map of an engine function, here over the paths.
    timed(kc, ":px --engines\nfn locate_path(path: String) -> usize {\n"
              "    curried_locate(ImageSequence::open(&path).unwrap().gray().get(0).unwrap()).len()\n}")
    timed(kc, "let paths: Vec<String> = frames.paths().iter().map(|p| p.display().to_string()).collect();")
    mapped = best_of_3(kc, 'let counts: Vec<usize> = engines().map("locate_path", paths.clone())?;')
    by_map = shown(kc, "counts.iter().sum::<usize>()")
    timed(kc, ":engines stop")
    frames_dir = shown(kc, "frames_dir.display().to_string()").strip('"')
    return threads, engines, mapped, frames_dir, found_threads, on_engines, by_map


def trackpy_ipyparallel(frames_dir):
    """trackpy.locate over the same frames on 2 ipyparallel engines, best of 3."""
    import compare
    import imageio.v3 as iio
    import ipyparallel as ipp

    paths = sorted(Path(frames_dir).glob("frame*.png"))
    frames = [iio.imread(p) for p in paths]
    with ipp.Cluster(n=2, log_level=40) as rc:
        lview = rc.load_balanced_view()
        rc[:].execute("import trackpy, warnings; trackpy.quiet(); warnings.filterwarnings('ignore')",
                      block=True)
        lview.map_sync(compare.locate, frames[:2])
        best, found = best_of(lambda: lview.map_sync(compare.locate, frames))
    return best, sum(len(f) for f in found), len(frames)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--mb", type=int, default=32, help="MB pushed to each engine")
    args = parser.parse_args()
    floats = args.mb * 1_000_000 // 8
    frames_env = tempfile.mkdtemp(prefix="rustpx-engines-bench-")
    km, kc = jupyter_client.manager.start_new_kernel(
        kernel_name="rustpx", startup_timeout=120,
        env={**os.environ, "RUSTPX_FRAMES_DIR": frames_env})
    try:
        timed(kc, "1", timeout=START_TIMEOUT)
        # Builds the `mpi` crate in the engines' build directory on a first run; not timed.
        timed(kc, ":engines start -n 2")
        timed(kc, ":engines stop")
        rows = [(n, *measure(kc, n, args.rounds)) for n in (2, 4)]
        push, pull = rustpx_transfers(kc, floats, args.rounds)
        location = rustpx_location(kc)
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
    threads, engines, mapped, frames_dir, n_threads, n_engines, n_mapped = location
    tp_time, tp_found, n_frames = trackpy_ipyparallel(frames_dir)
    print(f"\nfeature location, {n_frames} frames of notebook 01, 2 of each (best of 3)")
    for what, took, found in [("rustpx, 2 engines", engines, n_engines),
                              ("rustpx, 2 engines, map over paths", mapped, n_mapped),
                              ("rustpx, 2 worker threads", threads, n_threads),
                              ("trackpy + ipyparallel, 2 engines", tp_time, tp_found)]:
        print(f"{what:<34} {took:>6.2f} s  {tp_time / took:>5.1f}x trackpy+ipyparallel  "
              f"{found} features")


if __name__ == "__main__":
    main()
