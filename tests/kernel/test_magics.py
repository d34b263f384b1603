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


@pytest.fixture(scope="module", autouse=True)
def three_workers(kc):
    outputs = ok(kc, ":workers 3")
    assert re.search(r"\b2\b", shown(outputs)), shown(outputs)


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
    assert "Out[0]: 10" in shown(outputs) and "Out[2]: 14" in shown(outputs)


def test_notebook_variables_are_visible_and_scattered_ones_per_worker(kc):
    ok(kc, "let mw_scale = 3;\nlet mw_chunks = active_view()?.scatter((0..9).collect::<Vec<i32>>());")
    ok(kc, ":px let mw_sum: i32 = mw_chunks.iter().sum::<i32>() * mw_scale;")
    outputs = ok(kc, "mw_sum.values().copied().collect::<Vec<i32>>()")
    # 0+1+2, 3+4+5, 6+7+8, times 3
    assert "[9, 36, 63]" in shown(outputs), shown(outputs)


def test_targets(kc):
    outputs = ok(kc, ":px --targets ::2 worker_id()")
    assert "Out[0]: 0" in shown(outputs) and "Out[2]: 2" in shown(outputs)
    assert "Out[1]" not in shown(outputs)
    outputs = ok(kc, ":px --targets 1:3 worker_id()")
    assert "Out[0]" not in shown(outputs) and "Out[2]: 2" in shown(outputs)
    outputs = ok(kc, ":px --targets 0,2 worker_id()")
    assert "Out[1]" not in shown(outputs) and "Out[2]: 2" in shown(outputs)
    outputs = ok(kc, ":px --targets 1 worker_id()")
    assert "Out[1]: 1" in shown(outputs) and "Out[0]" not in shown(outputs)


def test_bad_targets_and_options_are_clear_errors(kc):
    ok(kc, "let mw_keep = 41;")
    content, _ = fails(kc, ":px --targets 7 1")
    assert "7" in error_text(content) and "worker" in error_text(content).lower()
    content, _ = fails(kc, ":px --wat 1")
    assert "--wat" in error_text(content)
    content, _ = fails(kc, ":px --timeout soon 1")
    assert "soon" in error_text(content)
    content, _ = fails(kc, ":pxconfig --targets x")
    assert "x" in error_text(content)
    outputs = ok(kc, "mw_keep + 1")
    assert shown(outputs) == "42"


def test_failing_worker_changes_no_variable(kc):
    ok(kc, ":px let mw_v = 1;")
    content, outputs = fails(
        kc,
        ':px\nif worker_id() == 1 { panic!("worker one broke"); }\nlet mw_v = 2;\nlet mw_new = 3;',
    )
    text = error_text(content)
    assert "worker one broke" in text and "1" in text, text
    outputs = ok(kc, "mw_v.values().copied().collect::<Vec<i32>>()")
    assert "[1, 1, 1]" in shown(outputs)
    _, _ = fails(kc, "mw_new")


def test_output_printed_before_a_failure_is_kept(kc):
    content, outputs = fails(
        kc, ':px\nprintln!("before {}", worker_id());\nif worker_id() == 0 { return Err("nope".into()); }'
    )
    assert "[stdout:0] before 0" in stdout(outputs)
    assert "nope" in error_text(content)


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
    workers = [int(re.match(r"\[stdout:(\d)\]", line).group(1)) for line in lines]
    assert workers == sorted(workers), lines
    assert len(lines) == 6, lines


def test_timeout_fails_slow_workers_only(kc):
    start = time.monotonic()
    content, _ = fails(
        kc,
        ":px --timeout 0.5\nif worker_id() == 2 { std::thread::sleep(std::time::Duration::from_secs(3)); }\nworker_id()",
    )
    assert time.monotonic() - start < 30
    text = error_text(content)
    assert "2" in text and ("timed out" in text.lower() or "timeout" in text.lower()), text


def test_noblock_and_pxresult(kc):
    outputs = ok(
        kc,
        ":px --noblock\nstd::thread::sleep(std::time::Duration::from_millis(300));\n"
        'println!("late {}", worker_id());\nworker_id() * 7',
    )
    assert "pxresult" in shown(outputs)
    outputs = ok(kc, ":pxresult")
    assert "Out[2]: 14" in shown(outputs), shown(outputs)
    assert "[stdout:1] late 1" in stdout(outputs)
    content, _ = fails(kc, ":px --noblock let mw_nb = 1;")
    assert "--noblock" in error_text(content)


def test_pxconfig_sets_defaults(kc):
    outputs = ok(kc, ":pxconfig --targets 0")
    outputs = ok(kc, ":px worker_id()")
    assert "Out[0]: 0" in shown(outputs) and "Out[1]" not in shown(outputs)
    ok(kc, ":pxconfig --targets all")
    outputs = ok(kc, ":px worker_id()")
    assert "Out[2]: 2" in shown(outputs)


def test_autopx(kc):
    outputs = ok(kc, ":autopx")
    assert "enabled" in stdout(outputs)
    ok(kc, "let mw_auto = worker_id() + 1;")
    outputs = ok(kc, "mw_auto")
    assert "Out[2]: 3" in shown(outputs)
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
    assert "Out[0]: 1" in shown(outputs), outputs


def test_pxresult_with_nothing_pending_is_an_error(quiet_kc):
    content, _ = fails(quiet_kc, ":pxresult")
    text = error_text(content)
    assert "--noblock" in text, text


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
    text = shown(outputs)
    assert "idle" in text and re.search(r"^\s*2\b", text, re.M), text
    content, _ = fails(kc, ":workers zero")
    assert "zero" in error_text(content)


def test_timeit(kc):
    outputs = ok(kc, ":timeit -n 5 -r 3\n(0..1000u64).sum::<u64>()")
    text = stdout(outputs) + shown(outputs)
    assert re.search(r"per loop .*3 runs, 5 loops each", text), text
    content, _ = fails(kc, ":timeit -n x 1")
    assert "x" in error_text(content)


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
