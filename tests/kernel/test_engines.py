"""MPI engines over the real protocol: `:engines start/stop`, the engine table, and
`:px --engines` cells compiled once and run on every rank, with 2 and 4 ranks. Skipped
when no `mpiexec` is installed (`./dev.sh test` installs Open MPI when it can)."""
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import jupyter_client
import pytest

from conftest import of_type, run, start_kernel

pytestmark = pytest.mark.skipif(
    shutil.which("mpiexec") is None, reason="no mpiexec: install openmpi-bin libopenmpi-dev"
)

# The first start builds the `mpi` crate in the engines' build directory.
ENGINE_START_TIMEOUT = 900


def ok(kc, code, timeout=120):
    """The reply and outputs of a cell that must succeed."""
    reply, outputs = run(kc, code, timeout=timeout)
    assert reply["content"]["status"] == "ok", (reply["content"], outputs)
    return outputs


def text(outputs, msg_type="execute_result"):
    return "".join(
        m["content"]["data"]["text/plain"] if "data" in m["content"] else m["content"]["text"]
        for m in of_type(outputs, msg_type)
    )


def streams(outputs):
    return "".join(m["content"]["text"] for m in of_type(outputs, "stream"))


def fails_with(kc, cases):
    """Each (cell, text) of `cases` fails with an error whose evalue contains the text."""
    for cell, expected in cases:
        reply, _ = run(kc, cell)
        assert reply["content"]["status"] == "error", cell
        assert expected in reply["content"]["evalue"], (cell, reply["content"]["evalue"])


def engine_pids(kc):
    """rank -> pid, from the `:engines` table."""
    rows = text(ok(kc, ":engines")).splitlines()[1:]
    return {int(r.split()[0]): int(r.split()[2]) for r in rows}


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not an engine left behind.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def wait_gone(pids, seconds=20):
    deadline = time.monotonic() + seconds
    while any(alive(p) for p in pids):
        assert time.monotonic() < deadline, [p for p in pids if alive(p)]
        time.sleep(0.2)


def test_engines_before_start_say_how_to_start(kc):
    assert "no engines are running" in text(ok(kc, ":engines"))
    reply, _ = run(kc, ":px --engines 1")
    assert reply["content"]["status"] == "error"
    assert "start them with :engines start -n N" in reply["content"]["evalue"]


def test_bad_options_are_clear_errors(kc):
    fails_with(kc, [
        (":engines start", "-n N is required"),
        (":engines start -n 0", "is not an engine count"),
        (":engines start -n 2 --hostfile /no/such/file", "--hostfile: /no/such/file"),
        (":px --engines --targets 0 1", "--targets is for the worker threads"),
    ])


def test_two_engines_run_one_compiled_cell_each_with_its_own_variables(kc):
    outputs = ok(kc, ":engines start -n 2", timeout=ENGINE_START_TIMEOUT)
    assert "2 engines started" in text(outputs)
    rows = text(ok(kc, ":engines")).splitlines()[1:]
    assert [r.split()[3:] for r in rows] == [["idle", "0", "shared"], ["idle", "0", "shared"]], rows
    pids = engine_pids(kc)
    assert sorted(pids) == [0, 1] and len(set(pids.values())) == 2

    outputs = ok(kc, ':px --engines\nlet mine = rank() * 10 + size();\nprintln!("rank {} of {}", rank(), size());')
    printed = streams(outputs)
    assert "[stdout:0] rank 0 of 2" in printed and "[stdout:1] rank 1 of 2" in printed, printed
    # Each engine kept its own value, and each process ran the cell (its own pid).
    assert text(ok(kc, ":px --engines mine")) == "Out[0]: 2\nOut[1]: 12"
    shown = text(ok(kc, ":px --engines std::process::id()"))
    assert shown == f"Out[0]: {pids[0]}\nOut[1]: {pids[1]}"
    # The notebook's own variables are not the engines'.
    reply, _ = run(kc, "mine")
    assert reply["content"]["status"] == "error"


def test_an_mpi_collective_across_the_engines(kc):
    code = (
        ":px --engines\n"
        "let mut total = 0usize;\n"
        "world().all_reduce_into(&(rank() + 1), &mut total, SystemOperation::sum());\n"
        "total"
    )
    assert text(ok(kc, code)) == "Out[0]: 3\nOut[1]: 3"
    # Run again, the third time from the build cache (the library exports an earlier
    # run's entry point, which the hub aliases for the ranks).
    assert text(ok(kc, code)) == "Out[0]: 3\nOut[1]: 3"
    assert text(ok(kc, code)) == "Out[0]: 3\nOut[1]: 3"
    shown = ok(kc, ":last_compile_dir")
    compile_dir = (streams(shown) + text(shown)).strip()
    log = os.path.join(compile_dir, "engines-openmpi", "target", "rustpx-cell-build.log")
    assert open(log).read().splitlines()[-1].split()[1] == "reuse"


def test_a_failing_rank_is_named_and_the_others_output_kept(kc):
    reply, outputs = run(
        kc,
        ':px --engines\nprintln!("before {}", rank());\nif rank() == 1 { panic!("boom on one"); }\nrank()',
    )
    content = reply["content"]
    assert content["status"] == "error"
    assert content["ename"] == "EngineError"
    assert re.match(r"rank 1 \(pid \d+ on .+\) failed: panic: boom on one", content["evalue"]), content
    printed = streams(outputs)
    assert "[stdout:0] before 0" in printed and "[stdout:1] before 1" in printed, printed
    # Both engines still serve, with their variables.
    assert text(ok(kc, ":px --engines mine")) == "Out[0]: 2\nOut[1]: 12"
    reply, _ = run(kc, ':px --engines let n: u32 = if rank() == 0 { "7" } else { "x" }.parse()?;')
    assert reply["content"]["status"] == "error"
    assert "rank 1" in reply["content"]["evalue"] and "invalid digit" in reply["content"]["evalue"]


def test_the_table_counts_cells_and_stop_leaves_no_engine(kc):
    rows = text(ok(kc, ":engines")).splitlines()
    assert rows[0].split() == ["rank", "host", "pid", "state", "cells", "files"]
    # Every engine cell of this module so far, failed ones included; both engines read
    # the kernel's build directory.
    expected = [["idle", "9", "shared"], ["idle", "9", "shared"]]
    assert [r.split()[3:] for r in rows[1:]] == expected, rows
    pids = engine_pids(kc)
    assert "2 engines stopped" in text(ok(kc, ":engines stop"))
    wait_gone(pids.values())
    assert "no engines are running" in text(ok(kc, ":engines"))


def test_four_engines(kc):
    ok(kc, ":engines start -n 4", timeout=ENGINE_START_TIMEOUT)
    code = ":px --engines\nlet mut most = 0usize;\nworld().all_reduce_into(&rank(), &mut most, SystemOperation::max());\n(rank(), size(), most)"
    assert text(ok(kc, code)) == "\n".join(f"Out[{r}]: ({r}, 4, 3)" for r in range(4))
    reply, _ = run(kc, ":engines start -n 2")
    assert "already running" in reply["content"]["evalue"]
    pids = engine_pids(kc)
    ok(kc, ":engines stop")
    wait_gone(pids.values())


def test_values_move_between_the_notebook_and_the_engines(kc):
    ok(kc, ":engines start -n 3", timeout=ENGINE_START_TIMEOUT)
    ok(kc, "let kept = 41 + 1;")
    ok(kc, 'engines().push("threshold", &0.25f64)?;\n'
           'engines().push("label", "frames")?;\n'
           'engines().scatter("items", (0..10u32).collect::<Vec<_>>())?;')
    shown = text(ok(kc, ":px --engines (threshold * 4.0, label.len(), items.clone())"))
    assert shown == ("Out[0]: (1.0, 6, [0, 1, 2, 3])\nOut[1]: (1.0, 6, [4, 5, 6])\n"
                     "Out[2]: (1.0, 6, [7, 8, 9])"), shown
    ok(kc, ":px --engines\nlet doubled: Vec<u32> = items.iter().map(|i| i * 2).collect();\n"
           "let n_found = doubled.len();")
    assert text(ok(kc, 'let counts: Vec<usize> = engines().pull("n_found")?;\ncounts')) == "[4, 3, 3]"
    assert text(ok(kc, 'engines().gather::<u32>("doubled")?')) == str(list(range(0, 20, 2)))
    # Arrays split along their rows: 2, 2 and 1 of the 5.
    ok(kc, 'engines().scatter("rows", rustpx::ndarray::Array2::from_shape_fn((5, 2), '
           "|(r, c)| (r * 2 + c) as f64))?;")
    assert text(ok(kc, ":px --engines rows.sum()")) == "Out[0]: 6.0\nOut[1]: 22.0\nOut[2]: 17.0"
    # Pushing again replaces the engines' variable (and its type).
    ok(kc, 'engines().push("threshold", &vec![1u8, 2])?;')
    assert text(ok(kc, ":px --engines threshold.len()")) == "Out[0]: 2\nOut[1]: 2\nOut[2]: 2"

    fails_with(kc, [
        ('engines().pull::<usize>("no_such")?', "pull `no_such` from the engines: "),
        ('engines().pull::<String>("n_found")?',
         "`n_found` on engine 0 cannot be read as a `alloc::string::String`"),
        ('engines().push("two words", &1)?', "`two words` is not a variable name"),
        # A type of a crate the engines do not link.
        ('engines().push("v", &rustpx::serde_json::json!([1]))?',
         "push `v` to the engines as a `serde_json::Value`: "),
    ])
    # Nothing failed on the engines or in the notebook because of those.
    assert text(ok(kc, ":px --engines n_found")) == "Out[0]: 4\nOut[1]: 3\nOut[2]: 3"
    assert text(ok(kc, "kept")) == "42"

    pids = engine_pids(kc)
    ok(kc, ":engines stop")
    wait_gone(pids.values())
    reply, _ = run(kc, 'engines().pull::<usize>("n_found")?')
    assert "no engines are running" in reply["content"]["evalue"]
    assert text(ok(kc, "kept")) == "42"


def test_the_runtime_on_the_engines(kc, tmp_path):
    """An engine opens an image sequence and maps over it with worker threads of its own."""
    ok(kc, ":engines start -n 2", timeout=ENGINE_START_TIMEOUT)
    ok(kc, f'let dir = "{tmp_path}";\n'
           'write_sequence(dir, "f", "png", (0..6u8).map(|i| '
           "rustpx::ndarray::Array2::from_elem((8, 8), i * 40)))?;\n"
           'engines().push("dir", dir)?;')
    code = (":px --engines\n"
            'let frames = ImageSequence::open(format!("{dir}/f*.png"))?.gray();\n'
            "let mine = frames.slice(rank() * 3..rank() * 3 + 3);\n"
            "let view = Client::local(2)?.load_balanced_view();\n"
            "let sums: Vec<f32> = view.map(&mine, |f: rustpx::ndarray::Array2<f32>| f.sum())?;\n"
            "(frames.len(), sums.windows(2).all(|w| w[0] < w[1]))")
    assert text(ok(kc, code)) == "Out[0]: (6, true)\nOut[1]: (6, true)"
    # After `:engines activate`, `:px` runs on the engines (ipyparallel's view.activate()).
    ok(kc, ":engines activate")
    assert text(ok(kc, ":px rank()")) == "Out[0]: 0\nOut[1]: 1"
    ok(kc, ":engines deactivate")
    reply, _ = run(kc, ":px rank()")
    assert reply["content"]["status"] == "error"  # the workers have no rank()
    pids = engine_pids(kc)
    ok(kc, ":engines stop")
    wait_gone(pids.values())


def test_a_load_balanced_map_of_an_engine_function(kernel):
    """ipyparallel's `lview.map(f, items)` with `f` defined on the engines: each task runs
    once, on the engine free first; a panicking task is that task's error; an interrupt
    stops the engines taking tasks and keeps both the notebook's and the engines' state."""
    km, kc = kernel
    ok(kc, ":engines start -n 2", timeout=ENGINE_START_TIMEOUT)
    ok(kc, "let kept = 42;")
    # Rank 0 is slow: the other takes most tasks (load balancing, not a fixed split).
    ok(kc, ":px --engines\nfn slow_square(x: u64) -> (u64, usize) {\n"
           "    if rank() == 0 { std::thread::sleep(std::time::Duration::from_millis(200)); }\n"
           "    if x == 13 { panic!(\"unlucky {x}\"); }\n"
           "    (x * x, rank())\n}")
    reply, outputs = run(kc, 'let squares: Vec<(u64, usize)> = engines().map("slow_square", 0..12u64)?;\n'
                             "squares.iter().filter(|(_, rank)| *rank == 1).count()")
    assert reply["content"]["status"] == "ok", reply["content"]
    assert int(text(outputs)) >= 8, text(outputs)
    bars = [m for _, m in outputs if m["msg_type"] in ("display_data", "update_display_data")]
    assert bars and "12/12" in bars[-1]["content"]["data"]["text/plain"], bars
    assert text(ok(kc, "squares.iter().map(|(s, _)| *s).sum::<u64>()")) == str(sum(x * x for x in range(12)))
    # Items cross as serde values of the owned type (`&str` arrives as `String`).
    ok(kc, ":px --engines fn shout(s: String) -> String { s.to_uppercase() }")
    assert text(ok(kc, 'engines().map::<_, String>("shout", ["a", "bc"])?')) == '["A", "BC"]'

    reply, _ = run(kc, 'engines().map::<_, (u64, usize)>("slow_square", 10..16u64)?')
    content = reply["content"]
    assert content["status"] == "error", content
    assert "task 3" in content["evalue"] and "unlucky 13" in content["evalue"], content
    fails_with(kc, [
        ('engines().map::<_, u64>("no_such_fn", 0..2u64)?', "map `no_such_fn` on the engines: "),
        ('engines().map::<_, u64>("not a path", 0..2u64)?', "`not a path` is not a function's name"),
        ('engines().map::<_, String>("slow_square", 0..2u64)?', "cannot be read as a"),
    ])

    # With retries a panicking task runs again on whichever engine takes it next: each
    # engine fails task 4 the first time it runs it, so the third run succeeds.
    ok(kc, ":px --engines\nstatic FLAKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);\n"
           "fn flaky(x: u64) -> u64 {\n"
           "    if x == 4 && !FLAKED.swap(true, std::sync::atomic::Ordering::SeqCst) { panic!(\"flaked\"); }\n"
           "    x + 1\n}")
    shown = text(ok(kc, 'engines().retries(2).map::<_, u64>("flaky", 0..6u64)?'))
    assert shown == "[1, 2, 3, 4, 5, 6]", shown
    reply, _ = run(kc, 'engines().retries(1).map::<_, (u64, usize)>("slow_square", 12..14u64)?')
    content = reply["content"]
    assert content["status"] == "error", content
    assert "unlucky 13 (it failed all 2 times it ran)" in content["evalue"], content

    # A task past its time limit fails as timed out; the call returns without waiting for it.
    ok(kc, ":px --engines\nfn stuck(x: u64) -> u64 {\n"
           "    if x == 2 { std::thread::sleep(std::time::Duration::from_secs(4)); }\n    x\n}")
    began = time.monotonic()
    reply, _ = run(kc, "engines().timeout(std::time::Duration::from_millis(500))"
                       '.map::<_, u64>("stuck", 0..6u64)?')
    assert time.monotonic() - began < 3.5, "the call waited for the timed-out task"
    content = reply["content"]
    assert content["status"] == "error" and "task 2" in content["evalue"], content
    assert "time limit" in content["evalue"], content

    ok(kc, ":px --engines\nlet still_here = rank() + 100;\n"
           "fn slow(x: u64) -> u64 { std::thread::sleep(std::time::Duration::from_millis(100)); x }")
    msg_id = kc.execute('let long: Vec<u64> = engines().map("slow", 0..400u64)?;')
    time.sleep(3)
    km.interrupt_kernel()
    interrupted = time.monotonic()
    while True:
        reply = kc.get_shell_msg(timeout=60)
        if reply["parent_header"]["msg_id"] == msg_id:
            break
    assert reply["content"]["status"] == "error", reply["content"]
    assert reply["content"]["ename"] == "KeyboardInterrupt" or "nterrupt" in reply["content"]["evalue"], reply["content"]
    assert time.monotonic() - interrupted < 2, "the cell waited for the engines' tasks"
    assert text(ok(kc, "kept")) == "42"
    assert text(ok(kc, ":px --engines still_here")) == "Out[0]: 100\nOut[1]: 101"
    assert text(ok(kc, 'engines().map::<_, (u64, usize)>("slow_square", 0..2u64)?.len()')) == "2"
    pids = engine_pids(kc)
    ok(kc, ":engines stop")
    wait_gone(pids.values())


def busy_cell_then(kc, action, ranks=2):
    """Starts a busy engine cell, does `action` once every rank runs it, returns (reply,
    outputs)."""
    code = ':px --engines\nprintln!("spinning");\nloop { std::hint::spin_loop(); }'
    outputs = []
    msg_id = kc.execute(code)
    deadline = time.monotonic() + 60
    while streams(outputs).count("spinning") < ranks:
        assert time.monotonic() < deadline, outputs
        message = kc.get_iopub_msg(timeout=60)
        if message["parent_header"].get("msg_id") == msg_id:
            outputs.append((time.monotonic(), message))
    action()
    reply = kc.get_shell_msg(timeout=60)
    assert reply["parent_header"]["msg_id"] == msg_id
    return reply, outputs


def engine_processes():
    """Pids of hubs, ranks and launchers started by a kernel (they carry its variables)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and alive_quietly(int(entry)):
            try:
                with open(f"/proc/{entry}/environ", "rb") as env:
                    names = env.read()
            except OSError:
                continue
            if b"RUSTPX_ENGINE_HUB=" in names or b"RUSTPX_ENGINE_CONNECT=" in names:
                found.append(int(entry))
    return found


def alive_quietly(pid):
    try:
        return alive(pid)
    except OSError:
        return False


def test_an_interrupt_restarts_busy_engines_and_keeps_the_notebook(kernel):
    km, kc = kernel
    ok(kc, "let kept = 41;")
    ok(kc, ":engines start -n 2", timeout=ENGINE_START_TIMEOUT)
    ok(kc, ":px --engines let lost = 1;")
    pids = engine_pids(kc)
    started = time.monotonic()
    reply, _ = busy_cell_then(kc, km.interrupt_kernel)
    took = time.monotonic() - started
    content = reply["content"]
    assert content["status"] == "error" and content["ename"] == "KeyboardInterrupt", content
    assert "every engine's variables are lost" in content["evalue"], content
    wait_gone(pids.values())
    # The notebook kept its variables; the engines are new and have none of theirs.
    assert text(ok(kc, "kept + 1")) == "42"
    new = text(ok(kc, ":px --engines (rank(), std::process::id())", timeout=300))
    assert new.startswith("Out[0]: (0, ") and "Out[1]: (1, " in new, new
    assert all(str(p) not in new for p in pids.values())
    reply, _ = run(kc, ":px --engines lost")
    assert reply["content"]["status"] == "error"
    print(f"interrupt to reply: {took:.2f} s")


def kill_a_rank_then_stop(kc):
    """Kills rank 1 mid-cell: the error names it by pid and signal, the other rank's
    output and the notebook's variables stay, new engines answer; then stops them."""
    ok(kc, "let kept = 41;")
    pids = engine_pids(kc)
    reply, outputs = busy_cell_then(kc, lambda: os.kill(pids[1], signal.SIGKILL))
    content = reply["content"]
    assert content["status"] == "error" and content["ename"] == "EngineDied", content
    assert re.match(
        rf"rank 1 \(pid {pids[1]} on .+\) exited on signal 9 \(Killed\) while running the cell",
        content["evalue"],
    ), content["evalue"]
    assert "[stdout:0] spinning" in streams(outputs)
    wait_gone(pids.values())
    assert text(ok(kc, "kept")) == "41"
    assert text(ok(kc, ":px --engines rank()", timeout=300)) == "Out[0]: 0\nOut[1]: 1"
    pids = engine_pids(kc)
    ok(kc, ":engines stop")
    wait_gone(pids.values())


def test_a_killed_rank_is_reported_by_rank_and_signal(kernel):
    kill_a_rank_then_stop(kernel[1])


def test_engines_placed_by_a_hostfile(kc, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("localhost slots=4\n")
    ok(kc, f":engines start -n 2 --hostfile {hosts}", timeout=ENGINE_START_TIMEOUT)
    assert text(ok(kc, ":px --engines (rank(), size())")) == "Out[0]: (0, 2)\nOut[1]: (1, 2)"
    pids = engine_pids(kc)
    ok(kc, ":engines stop")
    wait_gone(pids.values())


def test_engines_on_mpich(tmp_path):
    """The same engines on MPICH: its launcher (Hydra) starts the ranks, the `mpi` crate
    is built against MPICH's library in a build directory of its own, and the ranks run
    MPICH's library, not Open MPI's, though both are installed."""
    launcher, compiler = shutil.which("mpiexec.mpich"), shutil.which("mpicc.mpich")
    if not (launcher and compiler):
        if os.environ.get("CI"):
            pytest.fail("MPICH is not installed (./dev.sh test installs it as root)")
        pytest.skip("no MPICH: install mpich libmpich-dev")
    # As on a machine with MPICH alone: its commands under the usual names, first on PATH.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mpiexec").symlink_to(launcher)
    (bin_dir / "mpicc").symlink_to(compiler)
    km, kc = start_kernel(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    try:
        ok(kc, ":engines start -n 2", timeout=ENGINE_START_TIMEOUT)
        which = (
            ":px --engines\n"
            "let maps = std::fs::read_to_string(\"/proc/self/maps\").unwrap();\n"
            "let mut total = 0usize;\n"
            "world().all_reduce_into(&(rank() + 1), &mut total, SystemOperation::sum());\n"
            "(maps.contains(\"libmpich\"), maps.contains(\"libmpi.so\"), size(), total)"
        )
        assert text(ok(kc, which)) == "Out[0]: (true, false, 2, 3)\nOut[1]: (true, false, 2, 3)"
        ok(kc, "engines().scatter(\"part\", vec![1u64, 2, 3])?;")
        ok(kc, ":px --engines\nlet n = part.len();\nfn triple(x: u32) -> u32 { x * 3 }")
        assert text(ok(kc, "engines().pull::<usize>(\"n\")?")) == "[2, 1]"
        assert text(ok(kc, "engines().map::<u32, u32>(\"triple\", 0..4u32)?")) == "[0, 3, 6, 9]"
        # Hydra names the killed rank by pid; the error names the rank all the same.
        kill_a_rank_then_stop(kc)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def slurm_allocation(tmp_path):
    """The environment of a shell inside `salloc -n 2` on a one-node Slurm cluster started
    for the test (tests/kernel/slurm_cluster.sh), as a user's kernel started there has."""
    if shutil.which("slurmctld") is None or os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("Slurm is not installed (./dev.sh test installs slurm-wlm as root)")
        pytest.skip("needs Slurm (slurm-wlm) and root to start its daemons")
    script = os.path.join(os.path.dirname(__file__), "slurm_cluster.sh")
    cluster = tmp_path / "slurm"
    up = subprocess.run([script, "up", str(cluster), str(free_port()), str(free_port())],
                        capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    conf = up.stdout.strip()
    dumped = tmp_path / "allocation.env"
    salloc = subprocess.Popen(
        ["salloc", "-n", "2", "sh", "-c", f"env -0 > {dumped}.part && mv {dumped}.part {dumped} && read -r _"],
        env={**os.environ, "SLURM_CONF": conf}, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not dumped.exists():
            assert salloc.poll() is None, salloc.stderr.read()
            assert time.monotonic() < deadline, "no allocation within 60 s"
            time.sleep(0.1)
        pairs = (item.split("=", 1) for item in dumped.read_text().split("\0") if "=" in item)
        yield {k: v for k, v in pairs if k.startswith("SLURM_")}
    finally:
        # The shell inside the allocation reads its input until this end closes.
        salloc.stdin.close()
        try:
            salloc.wait(timeout=30)
        finally:
            if salloc.poll() is None:
                os.killpg(salloc.pid, signal.SIGKILL)
            subprocess.run([script, "down", str(cluster)], timeout=60)


def test_engines_in_a_slurm_allocation(slurm_allocation):
    """A kernel started inside an allocation: `:engines start` with no hostfile, and
    mpiexec places the ranks on the allocated node as a step of that job (Open MPI starts
    its daemon there through srun: the node's name is not this machine's)."""
    job = slurm_allocation["SLURM_JOB_ID"]
    km, kc = start_kernel(**slurm_allocation)
    try:
        ok(kc, ":engines start -n 2", timeout=ENGINE_START_TIMEOUT)
        where = (
            ":px --engines\n"
            "let job = std::env::var(\"SLURM_JOB_ID\").unwrap_or_default();\n"
            "let step = std::env::var(\"SLURM_STEP_ID\").is_ok();\n"
            "let mut total = 0usize;\n"
            "world().all_reduce_into(&(rank() + 1), &mut total, SystemOperation::sum());\n"
            "(job, step, total)"
        )
        assert text(ok(kc, where)) == f'Out[0]: ("{job}", true, 3)\nOut[1]: ("{job}", true, 3)'
        pids = engine_pids(kc)
        ok(kc, ":engines stop")
        wait_gone(pids.values())
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


# A second host, simulated: Open MPI starts its daemon there through this launch agent,
# which runs it here in a mount namespace where the kernel's build directory (the
# engines' cell libraries and their dependencies) and the toolchain's libstd are empty
# directories, and the kernel's temporary directory ($TMPDIR, where the hub names the
# ranks' mirror) is the host's own (the scratch directory's tmp/). The rank binary
# itself stays visible, as an installed rustpx would be.
OTHER_HOST_AGENT = """#!/bin/sh
shift
exec unshare --mount --propagation private sh -c '
for hidden in "$EVCXR_TMPDIR" $RUSTPX_TEST_HIDE; do mount -t tmpfs hidden "$hidden" || exit 1; done
mkdir -p "$RUSTPX_TEST_SCRATCH/tmp" && cd "$RUSTPX_TEST_SCRATCH" || exit 1
mount --bind "$RUSTPX_TEST_SCRATCH/tmp" "$TMPDIR" && exec sh -c "$0"' "$*"
"""


def can_hide_directories():
    if shutil.which("unshare") is None:
        return False
    probe = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             "mount -t tmpfs hidden /mnt"]
    return subprocess.run(probe, capture_output=True).returncode == 0


def test_a_host_without_the_kernels_files_is_sent_the_cell_libraries(tmp_path):
    if not can_hide_directories():
        pytest.skip("needs mount namespaces (root, or unprivileged user namespaces)")
    agent = tmp_path / "agent"
    agent.write_text(OTHER_HOST_AGENT)
    agent.chmod(0o755)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    hosts = tmp_path / "hosts"
    # 127.0.0.2 is not one of this machine's interface addresses: Open MPI launches there
    # through the agent.
    hosts.write_text("localhost slots=1\n127.0.0.2 slots=1\n")
    libdir = subprocess.run(["rustc", "--print", "target-libdir"], capture_output=True,
                            text=True, check=True).stdout.strip()
    kernel_tmp = tmp_path / "kernel-tmp"
    kernel_tmp.mkdir()
    # What a rank killed with SIGKILL leaves on its host: a mirror no rank holds.
    abandoned = scratch / "tmp" / "rustpx-engines-0123456789abcdef"
    abandoned.mkdir(parents=True)
    (abandoned / "libold.so").write_bytes(b"x" * 1000)
    os.utime(abandoned, (time.time() - 3600, time.time() - 3600))
    km, kc = start_kernel(OMPI_MCA_plm_rsh_agent=str(agent), RUSTPX_TEST_HIDE=libdir,
                          RUSTPX_TEST_SCRATCH=str(scratch), TMPDIR=str(kernel_tmp))
    try:
        ok(kc, f":engines start -n 2 --hostfile {hosts}", timeout=ENGINE_START_TIMEOUT)
        deadline = time.monotonic() + 10
        while abandoned.exists():
            assert time.monotonic() < deadline, "an abandoned mirror was left"
            time.sleep(0.1)
        where = (
            ":px --engines\n"
            "let mirror = std::env::var(\"RUSTPX_ENGINE_MIRROR\").unwrap();\n"
            "let maps = std::fs::read_to_string(\"/proc/self/maps\").unwrap();\n"
            "let build = std::path::Path::new(&std::env::var(\"EVCXR_TMPDIR\").unwrap()).join(\"engines-openmpi\");\n"
            "(build.exists(), maps.contains(&mirror), rank())"
        )
        assert text(ok(kc, where)) == "Out[0]: (true, false, 0)\nOut[1]: (false, true, 1)"
        # Variables stay on each rank; a collective spans both hosts.
        collective = (
            ":px --engines\n"
            "let mut total = 0usize;\n"
            "world().all_reduce_into(&(rank() + 1), &mut total, SystemOperation::sum());\n"
            "(total, build.exists())"
        )
        assert text(ok(kc, collective)) == "Out[0]: (3, true)\nOut[1]: (3, false)"
        rows = text(ok(kc, ":engines")).splitlines()[1:]
        assert [r.split()[-1] for r in rows] == ["shared", "sent"], rows
        # Values move to and from the engine that cannot see the transfer directory too.
        ok(kc, "engines().push(\"offset\", &100u64)?;\n"
               "engines().scatter(\"part\", vec![1u64, 2, 3, 4, 5])?;")
        shown = text(ok(kc, ":px --engines let sum: u64 = part.iter().sum::<u64>() + offset; sum"))
        assert shown == "Out[0]: 106\nOut[1]: 109"
        sums = text(ok(kc, "let sums: Vec<u64> = engines().pull(\"sum\")?; sums"))
        assert sums == "[106, 109]"
        assert text(ok(kc, "engines().gather::<u64>(\"part\")?")) == "[1, 2, 3, 4, 5]"
        # A second push of the same name replaces the value there as here.
        ok(kc, "engines().push(\"offset\", &7u64)?;")
        assert text(ok(kc, ":px --engines offset")) == "Out[0]: 7\nOut[1]: 7"
        # The load-balanced map: the hub claims tasks for the engine that cannot see the
        # transfer directory, so both engines share one map; a task's panic and its
        # retries are recorded the same way from both.
        ok(kc, ":px --engines\n"
               "fn double(x: u64) -> (usize, u64) {\n"
               "    std::thread::sleep(std::time::Duration::from_millis(100));\n"
               "    assert!(x != 5, \"no fives\");\n"
               "    (rank(), x * 2)\n"
               "}")
        done = text(ok(kc, "let done: Vec<(usize, u64)> = engines().map(\"double\", 0..5u64)?; done"))
        pairs = [tuple(int(v) for v in p.split(", ")) for p in re.findall(r"\((\d+, \d+)\)", done)]
        assert [x for _, x in pairs] == [0, 2, 4, 6, 8], done
        assert {r for r, _ in pairs} == {0, 1}, f"one engine took every task: {done}"
        reply, _ = run(kc, "engines().retries(1).map::<u64, (usize, u64)>(\"double\", 4..8u64)?")
        evalue = reply["content"]["evalue"]
        assert reply["content"]["status"] == "error", reply["content"]
        assert "task 1" in evalue and "no fives (it failed all 2 times it ran)" in evalue, evalue
        mirror = text(ok(kc, ":px --engines mirror.clone()")).splitlines()[1].split(": ", 1)[1]
        # The other host's temporary directory is the scratch directory's tmp/ here.
        mirror = scratch / "tmp" / os.path.basename(mirror.strip('"'))
        assert any(mirror.glob("libstd-*.so")), "libstd was not sent"
        assert not (kernel_tmp / mirror.name).exists(), "a mirror on the kernel's host"
        pids = engine_pids(kc)
        ok(kc, ":engines stop")
        wait_gone(pids.values())
        assert not os.path.exists(mirror), "the rank's mirror was left behind"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_without_mpi_engines_start_says_what_to_install(tmp_path):
    # PATH as it is, minus every MPI launcher: the compiler and linker stay reachable.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launchers = {"mpiexec", "mpirun", "orterun"}
    for directory in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for name in os.listdir(directory):
            link = bin_dir / name
            if name.split(".")[0] not in launchers and not link.exists():
                link.symlink_to(os.path.join(directory, name))
    km, kc = start_kernel(PATH=str(bin_dir))
    try:
        reply, _ = run(kc, ":engines start -n 2")
        content = reply["content"]
        assert content["status"] == "error" and content["ename"] == "EngineStartError"
        assert "no `mpiexec` was found on PATH" in content["evalue"], content
        assert "apt-get install openmpi-bin libopenmpi-dev" in content["evalue"], content
        # Everything else works.
        assert text(ok(kc, "6 * 7")) == "42"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_killing_the_kernel_leaves_no_engine():
    km, kc = start_kernel()
    try:
        ok(kc, ":engines start -n 2", timeout=ENGINE_START_TIMEOUT)
        pids = list(engine_pids(kc).values())
        # Ranks busy in a loop that never reads their input must go too.
        kc.execute(":px --engines loop { std::hint::spin_loop(); }")
        time.sleep(2)
        assert all(alive(p) for p in pids)
        os.kill(km.provisioner.process.pid, signal.SIGKILL)
        wait_gone(pids)
        # The hub and mpiexec go too (mpiexec may take a few seconds to end the job).
        deadline = time.monotonic() + 20
        while engine_processes():
            assert time.monotonic() < deadline, engine_processes()
            time.sleep(0.2)
    finally:
        kc.stop_channels()
        km.cleanup_resources()
