//! `display()` inside a kernel sends a Display event over the marker-line channel.
//!
//! Whether a kernel is attached is read once per process from the environment, so the
//! test re-runs this test binary as a child with `RUSTPX_KERNEL` set and reads the
//! child's stdout, as the kernel does.

use rustpx::display::{Table, display};
use rustpx::protocol::{Event, KERNEL_ENV};
use std::process::Command;

const CHILD: &str = "display_channel_child";

#[test]
fn display_channel_child() {
    // Only does something in the child run below.
    if std::env::var_os(KERNEL_ENV).is_none() {
        return;
    }
    display(&Table::new(["worker", "frames"]).row([0, 16]).row([1, 16]));
}

#[test]
fn display_in_a_kernel_emits_one_display_event_with_html_and_text() {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args([CHILD, "--exact", "--nocapture", "--test-threads=1"])
        .env(KERNEL_ENV, "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let events: Vec<Event> = stdout
        .lines()
        .filter_map(|l| Event::parse_line(l).map(|(_, e)| e))
        .collect();
    assert_eq!(events.len(), 1, "{stdout}");
    let Event::Display { id: None, data } = &events[0] else {
        panic!("{:?}", events[0])
    };
    assert!(
        data["text/html"]
            .as_str()
            .unwrap()
            .contains("<th>frames</th>")
    );
    assert_eq!(
        data["text/plain"],
        "worker  frames\n------  ------\n     0      16\n     1      16"
    );
}
