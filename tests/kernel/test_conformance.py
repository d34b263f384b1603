"""jupyter_kernel_test's conformance suite, with every sample that applies to Rust."""
import unittest

import jupyter_kernel_test as jkt

from conftest import START_TIMEOUT


class RustpxKernelTests(jkt.KernelTests):
    kernel_name = "rustpx"
    language_name = "rust"
    file_extension = ".rs"

    code_hello_world = 'println!("hello, world");'
    code_stderr = 'eprintln!("oops");'
    completion_samples = [{"text": "let conformance_abc = 1;\nconformance_a", "matches": {"conformance_abc"}}]
    complete_code_samples = ["1 + 1", "let x = 1;", "fn f() {}", ":vars"]
    incomplete_code_samples = ["fn f() {", "let v = vec![1,", "let s = \"open"]
    invalid_code_samples = ["fn f() }", "let = = ;"]
    code_execute_result = [{"code": "6 * 7", "result": "42"}, {"code": '"ab".len()', "result": "2"}]
    code_display_data = [
        {
            "code": (
                "{ let mut d = rustpx::protocol::MimeBundle::new();\n"
                '  d.insert("text/html".into(), "<b>hi</b>".into());\n'
                "  rustpx::protocol::emit(&rustpx::protocol::Event::Display { id: None, data: d }); }"
            ),
            "mime": "text/html",
        }
    ]
    code_history_pattern = "6 *"
    supported_history_operations = ("tail", "range", "search")
    code_generate_error = 'panic!("conformance")'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The first cell waits for evcxr and the runtime; the suite's own timeouts are short.
        cls.kc.execute_interactive("1", timeout=START_TIMEOUT)


if __name__ == "__main__":
    unittest.main()
