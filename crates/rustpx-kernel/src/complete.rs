//! `complete_request` and `inspect_request`.
//!
//! When no cell is running, evcxr's own analysis (rust-analyzer over the session's
//! code) answers; a request made while the kernel starts waits for it. While a cell
//! runs the evcxr context is busy, and waiting for it would block completion for the
//! whole cell, so a quick fallback answers instead: Rust keywords, the runtime prelude's
//! names, evcxr's commands and the identifiers of the session's earlier cells that match
//! the word at the cursor.

use super::execute::Executor;
use super::magics::MAGICS;
use serde_json::{Value, json};
use std::time::Duration;

/// How long a completion waits for the context before using the fallback.
const PATIENCE: Duration = Duration::from_millis(100);

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "Vec", "String", "Option", "Result", "Some", "None", "Ok",
    "Err", "println", "format", "vec",
];

const PRELUDE_NAMES: &[&str] = &[
    "Client",
    "DirectView",
    "LoadBalancedView",
    "PerWorker",
    "AsyncResult",
    "AsyncMapResult",
    "ImageSequence",
    "Frame",
    "worker_id",
    "current_worker",
    "cancelled",
    "check_cancelled",
    "parallel_compute",
    "default_client",
];

/// evcxr's commands; the kernel's own are listed in [`MAGICS`].
const EVCXR_COMMANDS: &[&str] = &[
    ":dep",
    ":vars",
    ":opt",
    ":help",
    ":clear",
    ":timing",
    ":explain",
    ":last_error_json",
    ":efmt",
    ":sccache",
    ":linker",
    ":cache",
    ":toolchain",
    ":offline",
];

/// Byte offset of the `cursor` (counted in Unicode code points, protocol 5.2+).
fn byte_offset(code: &str, cursor: usize) -> usize {
    code.char_indices()
        .nth(cursor)
        .map_or(code.len(), |(i, _)| i)
}

/// Code-point offset of a byte offset.
fn char_offset(code: &str, byte: usize) -> usize {
    code[..byte.min(code.len())].chars().count()
}

/// The `complete_reply` content.
pub fn complete(exec: &Executor, code: &str, cursor: usize) -> Value {
    let pos = byte_offset(code, cursor);
    if let Some(mut guard) = exec.analysis_context(PATIENCE)
        && let Some(ctx) = guard.as_mut()
        && let Ok(found) = ctx.completions(code, pos)
        && !found.completions.is_empty()
    {
        let matches: Vec<String> = found.completions.into_iter().map(|c| c.code).collect();
        return json!({
            "status": "ok", "matches": matches, "metadata": {},
            "cursor_start": char_offset(code, found.start_offset),
            "cursor_end": char_offset(code, found.end_offset),
        });
    }
    let history: Vec<String> = exec
        .history
        .lock()
        .reply(&json!({"hist_access_type": "tail", "n": 1000}))
        .into_iter()
        .filter_map(|e| e.get(2).and_then(Value::as_str).map(str::to_string))
        .collect();
    let (start, matches) = fallback(code, pos, &history);
    json!({
        "status": "ok", "matches": matches, "metadata": {},
        "cursor_start": char_offset(code, start), "cursor_end": char_offset(code, pos),
    })
}

/// Candidates for the word ending at byte `pos`: (start of the word, matches).
fn fallback(code: &str, pos: usize, history: &[String]) -> (usize, Vec<String>) {
    let before = &code[..pos];
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == ':'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let word = &before[start..];
    let mut candidates: Vec<String> = Vec::new();
    let mut add = |s: &str| {
        if s.starts_with(word) && s != word && !candidates.iter().any(|c| c == s) {
            candidates.push(s.to_string());
        }
    };
    if word.starts_with(':') {
        EVCXR_COMMANDS.iter().for_each(|c| add(c));
        MAGICS.iter().for_each(|m| add(m.name()));
    } else {
        for source in history
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(code))
        {
            for ident in source.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
                if ident.len() > 1 && !ident.starts_with(|c: char| c.is_ascii_digit()) {
                    add(ident);
                }
            }
        }
        KEYWORDS.iter().chain(PRELUDE_NAMES).for_each(|c| add(c));
    }
    candidates.sort();
    (start, candidates)
}

/// The `inspect_reply` content: evcxr's hover text at the cursor, when the context is
/// free; `found: false` otherwise.
pub fn inspect(exec: &Executor, code: &str, cursor: usize) -> Value {
    let pos = byte_offset(code, cursor);
    if let Some(mut guard) = exec.analysis_context(PATIENCE)
        && let Some(ctx) = guard.as_mut()
        && let Ok((text, _)) = ctx.hover_at(code, pos)
        && !text.trim().is_empty()
    {
        return json!({ "status": "ok", "found": true, "data": { "text/plain": text }, "metadata": {} });
    }
    json!({ "status": "ok", "found": false, "data": {}, "metadata": {} })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_uses_history_keywords_and_commands() {
        let history = vec!["let frames_total = 3;".to_string()];
        let (start, m) = fallback("let y = frames_", 15, &history);
        assert_eq!((start, m), (8, vec!["frames_total".to_string()]));
        let (_, m) = fallback(":de", 3, &[]);
        assert_eq!(m, vec![":dep".to_string()]);
        let (_, m) = fallback("Cli", 3, &[]);
        assert_eq!(m, vec!["Client".to_string()]);
    }

    #[test]
    fn cursor_offsets_count_code_points() {
        let code = "é + x";
        assert_eq!(byte_offset(code, 1), 2);
        assert_eq!(char_offset(code, 2), 1);
        assert_eq!(byte_offset(code, 99), code.len());
    }
}
