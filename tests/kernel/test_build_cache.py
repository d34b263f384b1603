"""Compiled dependencies are cached across kernels: a first kernel on an empty cache
compiles the runtime's dependencies (and shows cargo's progress in the notebook); a second
kernel compiles none of them."""
import os
import re

import jupyter_client

from conftest import START_TIMEOUT, of_type, run


def compiled_crates(kc):
    """Runs a first cell and returns the crates cargo said it compiled for it."""
    reply, outputs = run(kc, "1", timeout=START_TIMEOUT)
    assert reply["content"]["status"] == "ok", reply["content"]
    text = "".join(m["content"]["text"] for m in of_type(outputs, "stream"))
    return set(re.findall(r"^\s*Compiling (\S+) v", text, re.M))


def start_and_compile(cache_dir):
    km, kc = jupyter_client.manager.start_new_kernel(
        kernel_name="rustpx",
        startup_timeout=120,
        env={**os.environ, "RUSTPX_CACHE_DIR": str(cache_dir)},
    )
    try:
        return compiled_crates(kc)
    finally:
        kc.stop_channels()
        km.shutdown_kernel()


def test_a_second_kernel_reuses_the_compiled_dependencies(tmp_path):
    first = start_and_compile(tmp_path)
    # The runtime's own dependencies, built for the first time in this empty cache.
    assert {"glob", "serde_json", "ndarray"} <= first, first
    # "ctx" is evcxr's crate for the cell itself.
    assert start_and_compile(tmp_path) - {"ctx"} == set()
