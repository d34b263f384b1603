#!/usr/bin/env bash
# rustpx set-up and tests. Needs only Rust (cargo) and Python 3.
#   ./dev.sh demo [--lab]   build, install the kernel into .venv, run notebooks/demo.ipynb
#                           headless (or open JupyterLab with --lab)
#   ./dev.sh test           every test: cargo test (incl. doctests), the loom models, then
#                           pytest over tests/ (installs Open MPI, MPICH and Slurm for
#                           the engine tests when missing and apt-get can run as root)
#   ./dev.sh latency [--rounds N]
#                           rustpx against evcxr_jupyter 0.22, the same cells side by side
#                           (benches/latency.py; builds evcxr_jupyter once; README table)
#   ./dev.sh engines [--rounds N]
#                           MPI engines against worker threads: start to the first
#                           `:px --engines` result, `:px` round trips on 2 and 4 ranks;
#                           push/pull MB/s and start against ipyparallel
#                           (benches/engines.py; installs Open MPI like `test`)
#   ./dev.sh compare        rustpx against SciPy, multiprocessing, ipyparallel, Dask and
#                           trackpy on the same data (benches/compare.py; README table)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
VENV=$ROOT/.venv
PY=$VENV/bin/python

say() { printf '==> %s\n' "$*" >&2; }

build() {
    say "building the rustpx kernel (cargo build)"
    cargo build --quiet --bin rustpx
}

# The kernel together with every test target: cargo unifies the dev-dependencies'
# features into what it builds here, so `cargo test` reuses this build (the kernel alone
# and then the tests would compile evcxr and rust-analyzer's crates twice).
build_for_tests() {
    say "building the rustpx kernel and the tests (cargo build --all-targets)"
    local skip=()
    # rustpx-mpi (what engine cells link) needs MPI; the rest builds without it.
    command -v mpicc >/dev/null || skip=(--exclude rustpx-mpi)
    cargo build --quiet --workspace "${skip[@]}" --all-targets
}

# The engines (`:engines`, tests/kernel/test_engines.py) need an MPI launcher, MPI's
# headers and libclang (the `mpi` crate generates its bindings with bindgen); the tests
# run them on Open MPI (the default `mpiexec`), on MPICH, and inside an allocation of a
# one-node Slurm cluster they start. Installed with apt-get when missing and running as
# root; otherwise the tests of what is missing are skipped.
mpi_env() {
    if command -v mpiexec >/dev/null && command -v mpicc >/dev/null &&
        command -v mpiexec.mpich >/dev/null && command -v slurmctld >/dev/null; then
        return
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing Open MPI, MPICH and Slurm for the engines (apt-get install" \
            "openmpi-bin libopenmpi-dev mpich libmpich-dev libclang-dev slurm-wlm)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            openmpi-bin libopenmpi-dev mpich libmpich-dev libclang-dev slurm-wlm >/dev/null
    elif ! command -v mpiexec >/dev/null || ! command -v mpicc >/dev/null; then
        say "no MPI (mpiexec, mpicc): the engine tests will be skipped; install" \
            "openmpi-bin libopenmpi-dev libclang-dev (or MPICH) to run them"
    else
        say "the engine tests on MPICH (mpich libmpich-dev) and Slurm (slurm-wlm, as root)" \
            "are skipped where those are missing"
    fi
}

python_env() {
    if [ ! -x "$PY" ]; then
        say "creating .venv"
        python3 -m venv "$VENV"
    fi
    local want have
    want=$(cat requirements.txt "$@" | sha256sum | cut -d' ' -f1)
    have=$(cat "$VENV/.rustpx-requirements" 2>/dev/null || true)
    if [ "$want" != "$have" ]; then
        say "installing pinned Python packages into .venv"
        "$PY" -m pip install --quiet --disable-pip-version-check -r requirements.txt "${@/#/-r}"
        echo "$want" >"$VENV/.rustpx-requirements"
    fi
}

install_kernel() {
    "$ROOT/target/debug/rustpx" install --prefix "$VENV" >/dev/null
    say "kernel \"Rust (parallel)\" installed in .venv"
}

demo() {
    local lab=0
    for arg in "$@"; do
        case $arg in
            --lab) lab=1 ;;
            *) echo "unknown option: $arg" >&2; exit 2 ;;
        esac
    done
    build
    if [ $lab = 1 ]; then
        python_env requirements-lab.txt
        install_kernel
        local root_flag=()
        # Containers run as root, and JupyterLab refuses root without this flag.
        [ "$(id -u)" = 0 ] && root_flag=(--allow-root)
        exec "$VENV/bin/jupyter" lab "${root_flag[@]}" notebooks/demo.ipynb
    fi
    python_env
    install_kernel
    say "executing notebooks/demo.ipynb headless (the first run also builds the runtime)"
    "$PY" - <<'PY'
import nbformat
from nbclient import NotebookClient
from pathlib import Path
src = Path("notebooks/demo.ipynb")
out = Path("notebooks/executed/demo.ipynb")
nb = nbformat.read(src, as_version=4)
NotebookClient(nb, timeout=1800, kernel_name="rustpx",
               resources={"metadata": {"path": "notebooks"}}).execute()
out.parent.mkdir(exist_ok=True)
nbformat.write(nb, out)
for cell in nb.cells:
    for o in cell.get("outputs", []):
        text = o.get("text") or o.get("data", {}).get("text/plain", "")
        if text:
            print(text.rstrip())
print(f"\nExecuted notebook: {out.resolve()}")
PY
}

run_tests() {
    mpi_env
    build_for_tests
    python_env
    install_kernel
    say "cargo test (library, kernel, integration tests, doctests)"
    cargo test --quiet
    if command -v mpicc >/dev/null; then
        cargo test --quiet -p rustpx-mpi
    fi
    say "loom: the claim, slot and abort protocols model-checked (crates/rustpx/src/job/loom.rs)"
    RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --quiet -p rustpx --lib loom
    say "pytest tests/ (kernel over the Jupyter protocol, notebooks)"
    set +e
    "$PY" -m pytest -q tests
    local status=$?
    set -e
    # 5 = no tests collected: not a failure of the suite.
    if [ $status -ne 0 ] && [ $status -ne 5 ]; then
        exit $status
    fi
    say "all tests passed"
}

compare() {
    build
    python_env requirements-compare.txt
    install_kernel
    say "running notebooks 03 and 01 with the kernel, then the Python tools (2 workers each)"
    "$PY" benches/compare.py "$@"
}

engines() {
    mpi_env
    build
    python_env requirements-compare.txt
    install_kernel
    say "timing engines against worker threads (2 and 4 of each)"
    "$PY" benches/engines.py "$@"
}

latency() {
    build
    python_env
    install_kernel
    say "timing the same cells in evcxr_jupyter 0.22 and rustpx, fresh kernels each round"
    "$PY" benches/latency.py "$@"
}

case ${1:-} in
    demo) shift; demo "$@" ;;
    test) shift; run_tests "$@" ;;
    compare) shift; compare "$@" ;;
    latency) shift; latency "$@" ;;
    engines) shift; engines "$@" ;;
    *) echo "usage: ./dev.sh demo [--lab] | ./dev.sh test | ./dev.sh compare | ./dev.sh latency | ./dev.sh engines" >&2
       exit 2 ;;
esac
