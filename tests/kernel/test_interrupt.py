"""Interrupts keep the notebook's state when the cell waits in the runtime; a busy loop
falls back to restarting the child, and the error says so. Its own kernel, with a short
grace period (4 s) so the fallback test is quick."""
import threading
import time

import pytest

from conftest import START_TIMEOUT, of_type, run, start_kernel


@pytest.fixture(scope="module")
def kernel():
    km, kc = start_kernel(RUSTPX_INTERRUPT_GRACE_MS="4000")
    reply, _ = run(kc, "let before = 7;")
    assert reply["content"]["status"] == "ok", reply["content"]
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def interrupt_after(km, seconds):
    timer = threading.Timer(seconds, km.interrupt_kernel)
    timer.start()
    return timer


def test_interrupt_during_a_runtime_wait_keeps_variables(kernel):
    km, kc = kernel
    code = (
        "let rc = Client::local(2)?;\n"
        "let slow = rc.load_balanced_view().map_async((0..600u64).collect::<Vec<_>>(), |i| {\n"
        "    std::thread::sleep(std::time::Duration::from_millis(100)); i });\n"
        "slow.get()?.len()"
    )
    # Compile first (the interrupt must land while the cell waits, not while it builds).
    run(kc, "let warm = Client::local(1)?.load_balanced_view().map_async(vec![1u64], |i| i).get()?;")
    start = time.monotonic()
    # The cell compiles before it waits; an interrupt during compilation counts against
    # the grace period, so it is sent once the cell has been running for a while.
    timer = interrupt_after(km, 8.0)
    reply, outputs = run(kc, code, timeout=120)
    timer.join()
    content = reply["content"]
    assert content["status"] == "error", content
    assert "nterrupt" in content["ename"] + content["evalue"]
    assert "variables were lost" not in content["evalue"]
    assert time.monotonic() - start < 30
    reply, outputs = run(kc, "before")
    assert of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"] == "7"


def test_interrupt_of_a_busy_loop_restarts_and_says_so(kernel):
    km, kc = kernel
    run(kc, "let busy_counter = 0u64;")
    timer = interrupt_after(km, 3.0)
    reply, _ = run(kc, "let mut n = 0u64; loop { n = std::hint::black_box(n + 1); }", timeout=120)
    timer.join()
    content = reply["content"]
    assert content["status"] == "error"
    assert "variables were lost" in content["evalue"]
    reply, _ = run(kc, "busy_counter")
    assert reply["content"]["status"] == "error"
    reply, outputs = run(kc, "let again = 3; again * 2")
    assert of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"] == "6"


def test_restart_gives_a_fresh_kernel(kernel):
    km, kc = kernel
    run(kc, "let before_restart = 1;")
    km.restart_kernel(now=False)
    kc.wait_for_ready(timeout=120)
    reply, _ = run(kc, "before_restart", timeout=START_TIMEOUT)
    assert reply["content"]["status"] == "error"
    reply, outputs = run(kc, "2 + 2")
    assert of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"] == "4"
