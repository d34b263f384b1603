"""Cells are compiled without cargo while only the cell changed, and not at all when the
same cell runs again (crates/rustpx-kernel/src/cell_build): each build leaves a line in
the build log saying how it was done, and the results must stay those of a real build."""
import re
import textwrap
import uuid
from pathlib import Path

from conftest import of_type, run


def ok(kc, code):
    reply, outputs = run(kc, code)
    assert reply["content"]["status"] == "ok", reply["content"]
    results = of_type(outputs, "execute_result")
    return results[-1]["content"]["data"]["text/plain"] if results else None


def fresh(code):
    """`code` made new to the build cache, which outlives kernels (a restarted kernel
    reuses what it built before)."""
    return f"/* {uuid.uuid4()} */ {code}"


def last_builds(kc, n):
    """How the last `n` builds were done: 'cargo (why): exit N', 'rustc' or 'reuse'."""
    reply, outputs = run(kc, ":last_compile_dir")
    text = "".join(m["content"].get("text", "") for m in of_type(outputs, "stream"))
    text += "".join(m["content"]["data"]["text/plain"] for m in of_type(outputs, "execute_result"))
    log = Path(text.strip()) / "target" / "rustpx-cell-build.log"
    lines = log.read_text().splitlines()[-n:]
    # "<time> <how> <ms> ms": keep <how>
    return [re.sub(r"^\S+ (.*) \d+ ms$", r"\1", line) for line in lines]


def test_a_cell_run_again_reuses_its_library_and_really_runs(kc):
    ok(kc, "let mut counter = 0u64;")
    cell = fresh("counter += 1; counter")
    assert ok(kc, cell) == "1"
    assert last_builds(kc, 1) == ["rustc"]
    assert ok(kc, cell) == "2"
    assert last_builds(kc, 1) == ["reuse"]
    # The reused library runs again: the value moves on, it is not a replayed output.
    assert ok(kc, cell) == "3"
    assert last_builds(kc, 1) == ["reuse"]


def test_a_changed_cell_is_compiled_by_rustc_not_cargo(kc):
    ok(kc, "let base = 10i32;")
    assert ok(kc, fresh("base * 4")) == "40"
    assert last_builds(kc, 1) == ["rustc"]
    assert ok(kc, fresh("base * 5")) == "50"
    assert last_builds(kc, 1) == ["rustc"]


def test_a_compile_error_is_reported_from_the_rustc_path(kc):
    reply, outputs = run(kc, 'let s: u8 = "text";')
    assert reply["content"]["status"] == "error"
    assert "mismatched types" in reply["content"]["evalue"] + "".join(reply["content"]["traceback"])
    assert ok(kc, "1 + 1") == "2", "the next cell compiles and runs"


def test_a_file_read_at_compile_time_invalidates_the_reuse(kc, tmp_path):
    data = tmp_path / "greeting.txt"
    data.write_text("one")
    cell = 'include_str!("' + str(data) + '").to_string()'
    assert ok(kc, cell) == '"one"'
    assert last_builds(kc, 1) == ["rustc"]
    assert ok(kc, cell) == '"one"'
    assert last_builds(kc, 1) == ["reuse"]
    data.write_text("two, longer")
    assert ok(kc, cell) == '"two, longer"'
    assert last_builds(kc, 1) == ["rustc"]


def test_a_new_dependency_goes_to_cargo_then_back_to_rustc(kc):
    # glob is in the runtime's lock file and build cache: no download, no new compile. The
    # requirement's random bound makes the manifest one no earlier run recorded (records
    # outlive kernels). evcxr builds an empty cell to check the new dependency.
    bound = uuid.uuid4().int % 10**6 + 4
    ok(kc, f':dep glob = ">=0.3, <0.3.{bound}"')
    assert last_builds(kc, 1) == ["cargo (no build recorded with these dependencies and settings): exit 0"]
    assert ok(kc, 'glob::Pattern::new("*.png").unwrap().matches("a.png")') == "true"
    assert last_builds(kc, 1) == ["rustc"]


def test_a_path_dependency_is_always_built_by_cargo(kc, tmp_path):
    crate = tmp_path / "mine"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text(textwrap.dedent("""\
        [package]
        name = "mine"
        version = "0.1.0"
        edition = "2021"
        """))
    # A constant is compiled into the cell, so the value shows which `mine` the cell was
    # compiled against (a function would run from the library the process loaded first).
    (crate / "src" / "lib.rs").write_text("pub const VERSION: u32 = 1;\n")
    ok(kc, f':dep mine = {{ path = "{crate}" }}')
    assert ok(kc, "mine::VERSION") == "1"
    # cargo sees the edit; a shortcut keyed on the notebook's own files would not.
    (crate / "src" / "lib.rs").write_text("pub const VERSION: u32 = 2;\n")
    assert ok(kc, "mine::VERSION") == "2"
    assert last_builds(kc, 1) == ["cargo (path dependency `mine`): exit 0"]
