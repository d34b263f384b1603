"""The kernel over the real Jupyter protocol (jupyter_client): one kernel for the module."""
import time

import pytest

from conftest import of_type, run


def shell_reply(kc, msg_id, timeout=30):
    while True:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply


def test_kernel_info(kc):
    content = kc.kernel_info(reply=True, timeout=30)["content"]
    assert content["status"] == "ok"
    assert content["protocol_version"] == "5.3"
    info = content["language_info"]
    assert info["name"] == "rust"
    assert info["mimetype"] == "text/rust"
    assert info["file_extension"] == ".rs"
    assert info["pygments_lexer"] == "rust"
    assert info["codemirror_mode"] == "rust"
    assert info["version"][0].isdigit()


def test_execute_message_sequence(kc):
    reply, outputs = run(kc, "6 * 7")
    content = reply["content"]
    assert content["status"] == "ok"
    count = content["execution_count"]
    types = [m["msg_type"] for _, m in outputs]
    assert types == ["status", "execute_input", "execute_result", "status"], types
    assert outputs[0][1]["content"]["execution_state"] == "busy"
    assert outputs[-1][1]["content"]["execution_state"] == "idle"
    assert of_type(outputs, "execute_input")[0]["content"]["execution_count"] == count
    result = of_type(outputs, "execute_result")[0]["content"]
    assert result["data"]["text/plain"] == "42"
    assert result["execution_count"] == count
    again, _ = run(kc, "1 + 1")
    assert again["content"]["execution_count"] == count + 1


def test_stream_arrives_while_the_cell_runs(kc):
    code = (
        'println!("first");\n'
        "std::thread::sleep(std::time::Duration::from_secs(2));\n"
        'println!("second");'
    )
    reply, outputs = run(kc, code)
    assert reply["content"]["status"] == "ok"
    streams = [(t, m["content"]["text"]) for t, m in outputs if m["msg_type"] == "stream"]
    first = next(t for t, text in streams if "first" in text)
    second = next(t for t, text in streams if "second" in text)
    assert second - first > 1.5, streams


def test_variables_persist_and_stderr_is_a_stream(kc):
    run(kc, "let kept = 41;")
    reply, outputs = run(kc, 'eprintln!("to stderr"); kept + 1')
    assert reply["content"]["status"] == "ok"
    assert any(m["content"]["name"] == "stderr" and "to stderr" in m["content"]["text"]
               for m in of_type(outputs, "stream"))
    assert of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"] == "42"


def test_compile_error_shows_message_and_code(kc):
    reply, outputs = run(kc, 'let n: i32 = "text";')
    content = reply["content"]
    assert content["status"] == "error"
    assert content["ename"].startswith("CompileError")
    assert "mismatched types" in content["evalue"]
    tb = "\n".join(content["traceback"])
    assert 'let n: i32 = "text";' in tb
    error = of_type(outputs, "error")[0]["content"]
    assert error["ename"] == content["ename"]


def test_panic_is_an_error_not_a_dead_kernel(kc):
    reply, outputs = run(kc, 'panic!("boom {}", 7)')
    content = reply["content"]
    assert content["status"] == "error"
    assert content["ename"] == "panic"
    assert content["evalue"] == "boom 7"
    assert of_type(outputs, "error")
    reply, _ = run(kc, "kept")
    assert reply["content"]["status"] == "ok"


def test_question_mark_error(kc):
    reply, _ = run(kc, 'let parsed: i32 = "x1".parse()?;')
    content = reply["content"]
    assert content["status"] == "error"
    assert "invalid digit" in content["evalue"]
    ok, _ = run(kc, 'let parsed: i32 = "12".parse()?; parsed')
    assert ok["content"]["status"] == "ok"


def test_complete_from_evcxr(kc):
    run(kc, "let completion_target_value = 3;")
    code = "completion_target_v"
    reply = kc.complete(code, len(code), reply=True, timeout=60)["content"]
    assert reply["status"] == "ok"
    assert "completion_target_value" in reply["matches"]
    assert reply["cursor_end"] == len(code)


def test_complete_while_a_cell_runs(kc):
    msg_id = kc.execute("std::thread::sleep(std::time::Duration::from_secs(4));")
    time.sleep(0.5)
    start = time.monotonic()
    reply = kc.complete("completion_tar", 14, reply=True, timeout=10)["content"]
    assert time.monotonic() - start < 2
    assert "completion_target_value" in reply["matches"]
    done = kc.get_shell_msg(timeout=60)
    while done["parent_header"].get("msg_id") != msg_id:
        done = kc.get_shell_msg(timeout=60)
    assert done["content"]["status"] == "ok"


@pytest.mark.parametrize(
    "code,status",
    [
        ("let x = 1;", "complete"),
        ("fn f() {}", "complete"),
        ("fn f() {", "incomplete"),
        ("let v = vec![1,", "incomplete"),
        ("fn f() }", "invalid"),
        ("let = = ;", "invalid"),
    ],
)
def test_is_complete(kc, code, status):
    msg_id = kc.is_complete(code)
    reply = shell_reply(kc, msg_id)["content"]
    assert reply["status"] == status


def test_history_tail(kc):
    run(kc, "let history_marker = 5;")
    reply = kc.history(hist_access_type="tail", n=3, output=False, raw=True, reply=True, timeout=30)
    history = reply["content"]["history"]
    assert history and history[-1][2] == "let history_marker = 5;"


def test_comm_info(kc):
    reply = kc.comm_info(reply=True, timeout=30)["content"]
    assert reply == {"status": "ok", "comms": {}}


def test_evcxr_commands_and_help(kc):
    reply, outputs = run(kc, ":vars")
    assert reply["content"]["status"] == "ok"
    text = of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"]
    assert "kept" in text
    reply, outputs = run(kc, ":help")
    text = of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"]
    assert ":dep" in text and ":rustpx" in text


def test_unknown_message_type_gets_no_reply(kc):
    unknown = kc.session.msg("no_such_request", {})
    kc.shell_channel.send(unknown)
    # Shell requests are handled in order: a reply to the unknown request would come first.
    info_id = kc.kernel_info()
    answered = []
    while info_id not in answered:
        answered.append(kc.get_shell_msg(timeout=30)["parent_header"].get("msg_id"))
    assert unknown["header"]["msg_id"] not in answered


def test_display_event_becomes_display_data(kc):
    code = (
        "{ let mut data = rustpx::protocol::MimeBundle::new();\n"
        '  data.insert("text/plain".into(), "shown now".into());\n'
        "  rustpx::protocol::emit(&rustpx::protocol::Event::Display {\n"
        '      id: Some("d1".into()), data: data.clone() });\n'
        '  data.insert("text/plain".into(), "updated".into());\n'
        "  rustpx::protocol::emit(&rustpx::protocol::Event::Update {\n"
        '      id: "d1".into(), data }); }'
    )
    reply, outputs = run(kc, code)
    assert reply["content"]["status"] == "ok"
    shown = of_type(outputs, "display_data")[0]["content"]
    assert shown["data"]["text/plain"] == "shown now"
    assert shown["transient"]["display_id"] == "d1"
    update = of_type(outputs, "update_display_data")[0]["content"]
    assert update["data"]["text/plain"] == "updated"
    assert update["transient"]["display_id"] == "d1"


def test_input_request(kc):
    msg_id = kc.execute(
        ':dep evcxr_input\nlet answer = evcxr_input::get_string("name? "); answer.len()',
        allow_stdin=True,
    )
    request = kc.get_stdin_msg(timeout=120)
    assert request["msg_type"] == "input_request"
    assert request["content"]["prompt"] == "name? "
    kc.input("rustpx")
    reply = kc.get_shell_msg(timeout=120)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=120)
    assert reply["content"]["status"] == "ok"
    out, outputs = run(kc, "answer")
    assert of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"] == '"rustpx"'
