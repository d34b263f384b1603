"""The parallel magics and live display over the real Jupyter protocol (jupyter_client).

One kernel for the module, with three workers (`:workers 3`) so target specs have
something to choose from. Each test names its own variables.
"""
import re
import time

import pytest

from conftest import of_type, run, start_kernel


def ok(kc, code, timeout=300):
    reply, outputs = run(kc, code, timeout=timeout)
    assert reply["content"]["status"] == "ok", (code, reply["content"], outputs)
    return outputs


def fails(kc, code, timeout=300):
    reply, outputs = run(kc, code, timeout=timeout)
    content = reply["content"]
    assert content["status"] == "error", (code, outputs)
    errors = of_type(outputs, "error")
    assert errors, outputs
    return content, outputs


def stdout(outputs):
    return "".join(
        m["content"]["text"]
        for _, m in outputs
        if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
    )


def stderr(outputs):
    return "".join(
        m["content"]["text"]
        for _, m in outputs
        if m["msg_type"] == "stream" and m["content"]["name"] == "stderr"
    )


def shown(outputs):
    """Every text/plain the cell displayed or returned."""
    return "\n".join(
        m["content"]["data"].get("text/plain", "")
        for _, m in outputs
        if m["msg_type"] in ("display_data", "execute_result", "update_display_data")
    )


def error_text(content):
    return "\n".join([content["ename"], content["evalue"], *content["traceback"]])


def magic_error(kc, code):
    """The message of a magic used wrongly (nothing ran)."""
    content, outputs = fails(kc, code)
    assert content["ename"] == "MagicError", content
    assert content["traceback"] == [content["evalue"]], content
    return content["evalue"]


def task_errors(content):
    """The runtime's report of failed tasks: the summary line, then one line per task."""
    assert content["ename"] == "Error", content
    return content["traceback"]


def outs(outputs):
    """Each worker's `Out[w]: value` as {w: "value"}."""
    found = {}
    for line in shown(outputs).splitlines():
        m = re.fullmatch(r"Out\[(\d+)\]: (.*)", line)
        if m:
            assert int(m.group(1)) not in found, shown(outputs)
            found[int(m.group(1))] = m.group(2)
    return found


def worker_rows(outputs):
    """The rows of the `:workers` table as (id, tasks done, state)."""
    rows = re.findall(r"^\s*(\d+)\s+(\d+)\s+(idle|busy)$", shown(outputs), re.M)
    return [(int(w), int(done), state) for w, done, state in rows]


@pytest.fixture(scope="module", autouse=True)
def three_workers(kc):
    ok(kc, ":workers 3")
    outputs = ok(kc, ":workers")
    assert [w for w, _, _ in worker_rows(outputs)] == [0, 1, 2], shown(outputs)


def test_px_line_defines_a_per_worker_variable(kc):
    ok(kc, ":px let mw_part = worker_id() * 10;")
    outputs = ok(kc, "mw_part.values().copied().collect::<Vec<usize>>()")
    assert "[0, 10, 20]" in shown(outputs)


def test_px_cell_shows_each_workers_value_and_output(kc):
    outputs = ok(kc, ':px\nprintln!("hello from {}", worker_id());\nworker_id() + 100')
    out = stdout(outputs)
    for w in range(3):
        assert f"[stdout:{w}] hello from {w}" in out, out
        assert f"Out[{w}]: {w + 100}" in shown(outputs), shown(outputs)


def test_per_worker_names_mean_the_workers_own_value(kc):
    ok(kc, ":px let mut mw_acc = worker_id();")
    ok(kc, ":px mw_acc += 5;")
    outputs = ok(kc, ":px mw_acc * 2")
    assert outs(outputs) == {0: "10", 1: "12", 2: "14"}, shown(outputs)


def test_notebook_variables_are_visible_and_scattered_ones_per_worker(kc):
    ok(kc, "let mw_scale = 3;\nlet mw_chunks = active_view()?.scatter((0..9).collect::<Vec<i32>>());")
    ok(kc, ":px let mw_sum: i32 = mw_chunks.iter().sum::<i32>() * mw_scale;")
    outputs = ok(kc, "mw_sum.values().copied().collect::<Vec<i32>>()")
    # 0+1+2, 3+4+5, 6+7+8, times 3
    assert "[9, 36, 63]" in shown(outputs), shown(outputs)


def test_targets(kc):
    for spec, expected in [
        ("::2", {0: "0", 2: "2"}),
        ("1:3", {1: "1", 2: "2"}),
        ("0,2", {0: "0", 2: "2"}),
        ("1", {1: "1"}),
        ("all", {0: "0", 1: "1", 2: "2"}),
    ]:
        outputs = ok(kc, f":px --targets {spec} worker_id()")
        assert outs(outputs) == expected, (spec, shown(outputs))


def test_bad_targets_and_options_are_clear_errors(kc):
    ok(kc, "let mw_keep = 41;")
    content, _ = fails(kc, ":px --targets 7 1")
    assert content["evalue"] == "unknown worker 7: the client has workers [0, 1, 2]", content
    assert magic_error(kc, ":px --wat 1") == (
        ":px: unknown option `--wat` (usage: :px [--targets SPEC] [--block|--noblock] "
        "[--group-outputs] [--timeout SECS] [--engines] CODE)"
    )
    secs = "is not a duration in seconds (0 < SECS <= 31536000, at most 9 decimals)"
    for bad in ["soon", "1e20", "NaN", "-1", "0"]:
        assert magic_error(kc, f":px --timeout {bad} 1") == f":px --timeout: {bad} {secs}"
    assert magic_error(kc, ":pxconfig --targets x") == (
        ':pxconfig --targets: x is not a target spec (all, 0, 0,2, 1:3 or ::2): "x" is not a '
        "worker id"
    )
    assert magic_error(kc, ":px --block --noblock 1") == (
        ":px: --block and --noblock cannot be used together"
    )
    outputs = ok(kc, "mw_keep + 1")
    assert shown(outputs) == "42"


def test_failing_worker_changes_no_variable(kc):
    ok(kc, ":px let mw_v = 1;")
    content, outputs = fails(
        kc,
        ':px\nif worker_id() == 1 { panic!("worker one broke"); }\nlet mw_v = 2;\nlet mw_new = 3;',
    )
    lines = task_errors(content)
    assert lines[0] == "1 of 3 tasks failed" and len(lines) == 2, lines
    assert re.fullmatch(r"  task 1 on worker 1 panicked at \S+: worker one broke", lines[1]), lines
    outputs = ok(kc, "mw_v.values().copied().collect::<Vec<i32>>()")
    assert "[1, 1, 1]" in shown(outputs)
    _, _ = fails(kc, "mw_new")


def test_output_printed_before_a_failure_is_kept(kc):
    content, outputs = fails(
        kc, ':px\nprintln!("before {}", worker_id());\nif worker_id() == 0 { return Err("nope".into()); }'
    )
    assert sorted(stdout(outputs).splitlines()) == [f"[stdout:{w}] before {w}" for w in range(3)]
    assert task_errors(content) == ["1 of 3 tasks failed", "  task 0 on worker 0 failed: nope"]


def test_output_streams_while_px_runs(kc):
    code = (
        ":px\n"
        'println!("first {}", worker_id());\n'
        "std::thread::sleep(std::time::Duration::from_secs(2));\n"
        'println!("second {}", worker_id());'
    )
    outputs = ok(kc, code)
    streams = [(t, m["content"]["text"]) for t, m in outputs if m["msg_type"] == "stream"]
    first = min(t for t, text in streams if "first" in text)
    second = max(t for t, text in streams if "second" in text)
    assert second - first > 1.5, streams


def test_group_outputs(kc):
    code = (
        ":px --group-outputs\n"
        'println!("a{}", worker_id());\n'
        "std::thread::sleep(std::time::Duration::from_millis(100 * (3 - worker_id() as u64)));\n"
        'println!("b{}", worker_id());'
    )
    out = stdout(ok(kc, code))
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines == [f"[stdout:{w}] {x}{w}" for w in range(3) for x in "ab"], lines


def test_timeout_fails_slow_workers_only(kc):
    start = time.monotonic()
    content, outputs = fails(
        kc,
        ":px --timeout 0.5\n"
        "if worker_id() == 2 { std::thread::sleep(std::time::Duration::from_secs(3)); }\n"
        'println!("done {}", worker_id());',
    )
    assert time.monotonic() - start < 30
    # Workers 0 and 1 finished within the limit; only worker 2 failed. (Worker 2's sleep
    # cannot be cut short, so it may still print once it wakes.)
    lines = stdout(outputs).splitlines()
    assert "[stdout:0] done 0" in lines and "[stdout:1] done 1" in lines, lines
    assert task_errors(content) == [
        "1 of 3 tasks failed",
        "  task 2 on worker 2 timed out: still running after the 500ms time limit",
    ]


def test_noblock_and_pxresult(kc):
    outputs = ok(
        kc,
        ":px --noblock\nstd::thread::sleep(std::time::Duration::from_millis(300));\n"
        'println!("late {}", worker_id());\nworker_id() * 7',
    )
    assert "pxresult" in shown(outputs)
    outputs = ok(kc, ":pxresult")
    assert outs(outputs) == {0: "0", 1: "7", 2: "14"}, shown(outputs)
    assert sorted(stdout(outputs).splitlines()) == [f"[stdout:{w}] late {w}" for w in range(3)]
    assert magic_error(kc, ":px --noblock let mw_nb = 1;") == (
        ":px --noblock cannot define variables (`mw_nb`): the run finishes after the cell, so "
        "there is nowhere to keep them; run it without --noblock"
    )


def test_pxconfig_sets_defaults(kc):
    outputs = ok(kc, ":pxconfig --targets 0")
    assert stdout(outputs) == ":px defaults: targets 0, block\n"
    outputs = ok(kc, ":px worker_id()")
    assert outs(outputs) == {0: "0"}, shown(outputs)
    ok(kc, ":pxconfig --targets all")
    outputs = ok(kc, ":px worker_id()")
    assert outs(outputs) == {0: "0", 1: "1", 2: "2"}, shown(outputs)


def test_autopx(kc):
    outputs = ok(kc, ":autopx")
    assert "enabled" in stdout(outputs)
    ok(kc, "let mw_auto = worker_id() + 1;")
    outputs = ok(kc, "mw_auto")
    assert outs(outputs) == {0: "1", 1: "2", 2: "3"}, shown(outputs)
    outputs = ok(kc, ":autopx")
    assert "disabled" in stdout(outputs)
    outputs = ok(kc, "mw_auto.values().copied().sum::<usize>()")
    assert shown(outputs) == "6"


@pytest.fixture(scope="module")
def quiet_kc():
    """A second kernel started with RUSTPX_NONINTERACTIVE=1 (as CI and docs builds do)."""
    km, kc = start_kernel(RUSTPX_NONINTERACTIVE="1")
    yield kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def test_px_as_the_first_cell_that_can_fail(quiet_kc):
    # No earlier cell has used `?`, so evcxr has not yet wrapped cells in a function that
    # can return an error: :px must get it to do so.
    outputs = ok(quiet_kc, ":px worker_id() + 1")
    workers = [w for w, _, _ in worker_rows(ok(quiet_kc, ":workers"))]
    assert workers, "the default client has at least one worker"
    assert outs(outputs) == {w: str(w + 1) for w in workers}, outputs


def test_pxresult_with_nothing_pending_is_an_error(quiet_kc):
    content, _ = fails(quiet_kc, ":pxresult")
    assert content["evalue"] == "no `:px --noblock` run to show: :pxresult shows the last one"


def test_noninteractive_progress_is_one_final_display(quiet_kc):
    code = (
        "let q = default_client()?.load_balanced_view()\n"
        "    .map_async((0..10).collect::<Vec<u64>>(), |x| { std::thread::sleep(std::time::Duration::from_millis(50)); x });\n"
        "q.wait_interactive()?;"
    )
    outputs = ok(quiet_kc, code)
    assert not of_type(outputs, "update_display_data")
    finals = [m for m in of_type(outputs, "display_data") if "10/10" in m["content"]["data"].get("text/plain", "")]
    assert len(finals) == 1, outputs


def test_workers_table(kc):
    ok(kc, ":px std::thread::sleep(std::time::Duration::from_millis(10));")
    reply, outputs = run(kc, ":workers")
    assert reply["content"]["status"] == "ok"
    html = [
        m["content"]["data"].get("text/html", "")
        for _, m in outputs
        if m["msg_type"] in ("display_data", "execute_result")
    ]
    assert any("<table" in h for h in html), outputs
    rows = worker_rows(outputs)
    assert [(w, state) for w, _, state in rows] == [(0, "idle"), (1, "idle"), (2, "idle")], rows
    # Each worker ran the sleep once since :workers 3 (and other tests' tasks).
    assert all(done >= 1 for _, done, _ in rows), rows
    for bad in ["zero", "0", "1025", "-1"]:
        assert magic_error(kc, f":workers {bad}") == (
            f":workers N: {bad} is not a worker count (1 <= N <= 1024)"
        )


def test_timeit(kc):
    outputs = ok(kc, ":timeit -n 5 -r 3\n(0..1000u64).sum::<u64>()")
    text = stdout(outputs) + shown(outputs)
    assert re.search(r"per loop \(mean ± std\. dev\. of 3 runs, 5 loops each\)", text), text
    assert magic_error(kc, ":timeit -n x 1") == (
        ":timeit -n: x is not a loop count (1 <= N <= 4294967295)"
    )
    assert magic_error(kc, ":timeit -n 4294967296 1") == (
        ":timeit -n: 4294967296 is not a loop count (1 <= N <= 4294967295)"
    )
    assert magic_error(kc, ":timeit -r 100001 1") == (
        ":timeit -r: 100001 is not a repeat count (1 <= R <= 100000)"
    )


def test_wait_interactive_updates_one_display_in_place(kc):
    code = (
        "let mw_r = default_client()?.load_balanced_view()\n"
        "    .map_async((0..20).collect::<Vec<u64>>(), |x| { std::thread::sleep(std::time::Duration::from_millis(100)); x * 2 });\n"
        "mw_r.wait_interactive()?;\n"
    )
    outputs = ok(kc, code)
    displays = of_type(outputs, "display_data")
    with_id = [m for m in displays if m["content"].get("transient", {}).get("display_id")]
    assert len(with_id) == 1, displays
    display_id = with_id[0]["content"]["transient"]["display_id"]
    updates = of_type(outputs, "update_display_data")
    assert updates, outputs
    assert all(u["content"]["transient"]["display_id"] == display_id for u in updates)
    # at most about ten a second over a ~1 s map
    assert len(updates) <= 30, len(updates)
    last = updates[-1]["content"]["data"]
    assert "20/20" in last["text/plain"], last
    assert "rustpx-progress" in last["text/html"] and "20/20" in last["text/html"], last


def test_rich_display_of_runtime_values(kc):
    outputs = ok(kc, "let mw_done = default_client()?.load_balanced_view().map_async(vec![1, 2, 3], |x| x + 1);\nmw_done.wait()?;\nmw_done")
    data = of_type(outputs, "execute_result")[0]["content"]["data"]
    assert "text/html" in data and "3/3" in data["text/plain"], data
    outputs = ok(kc, "active_view()?.apply(|w| w.id() * 2)?")
    data = of_type(outputs, "execute_result")[0]["content"]["data"]
    assert "text/html" in data and "<table" in data["text/html"], data


def test_interrupt_during_blocking_px_keeps_variables(kc, kernel):
    km = kernel[0]
    ok(kc, "let mw_survivor = 1234;")
    msg_id = kc.execute(
        ':px\nprintln!("started");\n'
        "for _ in 0..600 { std::thread::sleep(std::time::Duration::from_millis(100)); }"
    )
    # Interrupt once the workers run (compilation is over and the cell waits on them).
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=deadline - time.monotonic())
        if (
            msg["parent_header"].get("msg_id") == msg_id
            and msg["msg_type"] == "stream"
            and "started" in msg["content"]["text"]
        ):
            break
    start = time.monotonic()
    km.interrupt_kernel()
    while True:
        reply = kc.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    assert time.monotonic() - start < 5, "control returns within a second or so"
    content = reply["content"]
    assert content["status"] == "error"
    assert "variables were lost" not in content["evalue"], content
    outputs = ok(kc, "mw_survivor + 1")
    assert shown(outputs) == "1235"
