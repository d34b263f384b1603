"""What a new user does first, in a fresh kernel with no `:dep`: every type the runtime
returns can be stored in a `let` (evcxr must be able to name it from the notebook), and the
kernel's first messages follow Jupyter's order (busy before any output)."""
import os

import jupyter_client
import pytest

from conftest import of_type, run, start_kernel

# Each cell stores values of the runtime's public return types; evcxr fails a `let` whose
# type it cannot name ("Couldn't automatically determine type of variable").
CELLS = [
    "let dir = std::env::temp_dir().join(format!(\"rustpx-first-touch-{}\", std::process::id()));\n"
    "std::fs::create_dir_all(&dir).unwrap();\n"
    "let written = write_sequence(&dir, \"f\", \"png\", (0..3u8).map(|i| "
    "rustpx::ndarray::Array2::<u8>::from_elem((6, 8), i * 40))).unwrap();",
    'let frames = ImageSequence::open(format!("{}/*.png", dir.display()))?;',
    "let gray = frames.gray();\nlet rgb = frames.rgb8();\nlet first = frames.get(0)?;",
    "let pixels = first.clone().into_gray();\nlet image = first.clone().into_image();\n"
    "let color = first.clone().into_rgb8();",
    "let rc = Client::local(2)?;\nlet dview = rc.direct_view();\nlet lview = rc.load_balanced_view();\n"
    "let stats = rc.worker_stats();",
    "let amr = lview.map_async(&gray, |img| img.sum());\namr.wait()?;\nlet progress = amr.progress_snapshot();",
    "let sums = amr.get()?;",
    "let ar = lview.apply_async(|| 6 * 7);\nlet per_worker = dview.apply(|w| w.id() * 10)?;",
    "let parts = dview.scatter((0..10).collect::<Vec<i32>>());\nlet whole = dview.gather(&parts);",
    "let failed = lview.map(0..3, |i: i32| if i == 1 { panic!(\"no\") } else { i }).unwrap_err();",
    "let imap = lview.imap(0..4u64, |i| i * 2);",
    # A closure's type has no name, so evcxr keeps none across cells; a fn pointer it can.
    "fn inc(x: u64) -> u64 { x + 1 }\nlet pf = lview.parallel(inc as fn(u64) -> u64);",
    "let png = Png::gray(&pixels).unwrap();\nlet canvas = Canvas::gray(&pixels).circle(2.0, 2.0, 1.0, rustpx::display::RED);\n"
    "let table = Table::new([\"a\"]).row([1]);\nlet html = Html::new(\"<b>x</b>\");",
    "let plot = speedup_plot(&[(1, std::time::Duration::from_secs(2)), (2, std::time::Duration::from_secs(1))]).unwrap();",
    "let (peaks, report) = parallel_compute(0..100u32, |x| x * 2)?;",
    "let timing = rustpx::timeit::timeit(rustpx::timeit::TimeitOptions { number: Some(3), repeat: Some(2) }, || 1 + 1)?;",
    "let targets = Targets::parse(\"::2\")?;",
    "let stack = rustpx::ndarray::Array3::<f32>::zeros((2, 3, 3));\nlet rows = lview.map(&stack, |f| f.sum())?;",
]


def test_a_completion_asked_at_start_gets_rust_analyzers_answer():
    """Asked as soon as the kernel answers kernel_info (evcxr still starting): the reply
    waits for evcxr rather than falling back to the identifiers in the code. First in the
    module, so no other kernel holds the warm build slot."""
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="rustpx", startup_timeout=120)
    try:
        code = "let v: Vec<u8> = Vec::new();\nv.is_em"
        reply = kc.complete(code, len(code), reply=True, timeout=600)["content"]
        assert reply["status"] == "ok"
        assert "is_empty()" in reply["matches"], reply["matches"][:20]
        assert code[reply["cursor_start"]:reply["cursor_end"]] == "is_em"
        # The warm-up takes no cell of the user's: the first cell still counts as 1.
        outcome, _ = run(kc, "let w = 2; w")
        assert outcome["content"]["status"] == "ok"
        assert outcome["content"]["execution_count"] == 1
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


# Cells sent the moment the kernel has started, while rust-analyzer's first inference (every
# crate the runtime exposes: seconds) runs in the background. None of them waits for it: cells
# without a `let` need no analysis, and a `let`'s types come from rustc (vendor/evcxr's
# type_probe.rs). Each variable must then be usable with its true type in a later cell.
EARLY_CELLS = [
    "2 + 1",
    "fn twice(v: i32) -> i32 { v * 2 }",
    "let x = 5;",
    "let v = vec![1.5, 2.0];\nlet s = String::from(\"hi\");",
    # rustc prints `Arc<std::sync::Mutex<…>>` without importing `Arc`: its suggestion mends it.
    "let shared = std::sync::Arc::new(std::sync::Mutex::new(vec![(1u8, 'c')]));",
    "let (p, mut q) = (1u8, vec![String::from(\"a\")]);",
    # `?` outside a function returning Result: evcxr's own mending, during the probe.
    "let client = Client::local(2)?;\nlet stats = client.worker_stats();",
    "let w = twice(2);",
]
EARLY_CHECK = (
    "q.push(\"b\".into());\n"
    "(x + 1, v.len() as f64 + v[0], s, shared.lock().unwrap()[0].1, p, q, stats.len(), w)"
)


def test_cells_sent_at_start_do_not_wait_for_rust_analyzer(tmp_path):
    log_path = tmp_path / "kernel.log"
    with open(log_path, "w") as log:
        km, kc = jupyter_client.manager.start_new_kernel(
            kernel_name="rustpx", startup_timeout=120, stderr=log,
            env={**os.environ, "RUSTPX_LOG": "rustpx=debug", "NO_COLOR": "1"})
    try:
        reply, _ = run(kc, "1", timeout=1800)
        assert reply["content"]["status"] == "ok", reply["content"]
        # Running a `let` again redefines its variable; the types learned the first time
        # still hold (the cell never reads the old one), so no probe compile is paid.
        for _ in range(2):
            assert run(kc, "let again = 40 + 2;")[0]["content"]["status"] == "ok"
        assert log_path.read_text().count("evcxr phase Type probe:") == 1
        for code in EARLY_CELLS:
            reply, outputs = run(kc, code)
            errors = [m["content"] for m in of_type(outputs, "error")]
            assert reply["content"]["status"] == "ok", (code, reply["content"].get("evalue"), errors)
        phases = log_path.read_text()
        assert "evcxr phase Type probe:" in phases, "no `let` was typed by rustc"
        assert "left to rust-analyzer" not in phases, "a `let` waited for rust-analyzer"
        reply, outputs = run(kc, EARLY_CHECK)
        assert reply["content"]["status"] == "ok", reply["content"]
        shown = of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"]
        assert shown == '(6, 3.5, "hi", \'c\', 1, ["a", "b"], 2, 4)'
        # What the probe cannot write goes the usual way, with evcxr's own message.
        reply, _ = run(kc, "let f = |y: i32| y + 1;")
        assert "is a closure, which cannot be persisted" in reply["content"]["evalue"]
        reply, _ = run(kc, "let e = undefined_name + 1;")
        assert reply["content"]["status"] == "error"
        assert "undefined_name" in reply["content"]["evalue"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def fresh():
    km, kc = start_kernel()
    yield kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def test_every_public_return_type_can_be_stored_without_a_dep(fresh):
    for code in CELLS:
        reply, outputs = run(fresh, code)
        errors = [m["content"] for m in of_type(outputs, "error")]
        assert reply["content"]["status"] == "ok", (code, reply["content"].get("evalue"), errors)
    reply, outputs = run(fresh, "(sums.len(), whole.len(), per_worker[1], peaks.len(), rows.len())")
    assert reply["content"]["status"] == "ok", reply["content"]
    shown = of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"]
    assert shown == "(3, 10, 10, 100, 2)"


def test_busy_precedes_everything_the_first_request_shows():
    km = jupyter_client.manager.KernelManager(kernel_name="rustpx")
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        msg_id = kc.execute("1")
        seen = []
        while True:
            msg = kc.get_iopub_msg(timeout=1800)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            seen.append(msg["msg_type"] if msg["msg_type"] != "status" else msg["content"]["execution_state"])
            if seen[-1] == "idle":
                break
        assert seen[0] == "busy", seen
        assert "execute_result" in seen, seen
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_a_dep_on_a_crate_the_runtime_uses_privately_is_analysed(fresh):
    """rust-analyzer sees only the runtime's public dependencies; one the user adds with
    `:dep` (here `glob`, which the runtime also uses, privately) is seen like any other."""
    reply, outputs = run(fresh, ':dep glob = "0.3"\nlet pattern = glob::Pattern::new("*.png")?;')
    errors = [m["content"] for m in of_type(outputs, "error")]
    assert reply["content"]["status"] == "ok", (reply["content"].get("evalue"), errors)
    reply, outputs = run(fresh, 'pattern.matches("a.png")')
    assert of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"] == "true"
