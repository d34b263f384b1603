"""Kernels for the protocol tests: started through jupyter_client like a real frontend."""
import os
import sys
import time
from pathlib import Path

import jupyter_client
import pytest

sys.path.insert(0, str(Path(__file__).parent))

# The first kernel on a machine builds the runtime's dependencies (minutes on 2 cores);
# later kernels reuse the build.
START_TIMEOUT = int(os.environ.get("RUSTPX_TEST_START_TIMEOUT", "1800"))


def run(kc, code, timeout=300, **kwargs):
    """Executes `code`; returns (reply, [(arrival time, iopub message)])."""
    outputs = []
    reply = kc.execute_interactive(
        code,
        timeout=timeout,
        output_hook=lambda m: outputs.append((time.monotonic(), m)),
        **kwargs,
    )
    return reply, outputs


def of_type(outputs, msg_type):
    return [m for _, m in outputs if m["msg_type"] == msg_type]


def start_kernel(**env):
    """A kernel with `env` added to its environment, ready once its first cell has run."""
    km, kc = jupyter_client.manager.start_new_kernel(
        kernel_name="rustpx", startup_timeout=120, env={**os.environ, **env}
    )
    reply, _ = run(kc, "1", timeout=START_TIMEOUT)
    assert reply["content"]["status"] == "ok", reply["content"]
    return km, kc


@pytest.fixture(scope="module")
def kernel():
    km, kc = start_kernel()
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def kc(kernel):
    return kernel[1]
