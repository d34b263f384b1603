//! `is_complete_request`: whether a cell can run as typed (the console's Enter key).

/// The answer: `("complete" | "incomplete" | "invalid", indent)`.
pub fn is_complete(code: &str) -> (&'static str, String) {
    // evcxr commands (`:dep …`) are one line each; only the Rust part is checked.
    let rust: String = code
        .lines()
        .filter(|l| !l.trim_start().starts_with(':'))
        .collect::<Vec<_>>()
        .join("\n");
    match balance(&rust) {
        Balance::Unclosed(depth) => ("incomplete", "    ".repeat(depth)),
        Balance::Unterminated => ("incomplete", String::new()),
        Balance::Mismatched => ("invalid", String::new()),
        Balance::Balanced => match syn::parse_str::<syn::Block>(&format!("{{\n{rust}\n}}")) {
            Ok(_) => ("complete", String::new()),
            // A trailing expression cut short (`1 +`) is still being typed.
            Err(e) if e.to_string().contains("end of input") => ("incomplete", String::new()),
            Err(_) => ("invalid", String::new()),
        },
    }
}

enum Balance {
    Balanced,
    Unclosed(usize),
    Unterminated,
    Mismatched,
}

/// Bracket balance, skipping strings, chars and comments.
fn balance(code: &str) -> Balance {
    let chars: Vec<char> = code.chars().collect();
    let mut stack = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                if i >= chars.len() {
                    return Balance::Unterminated;
                }
                i += 1;
            }
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= chars.len() {
                    return Balance::Unterminated;
                }
            }
            // A char literal ('a', '\n'); a lifetime ('a) has no closing quote nearby.
            '\'' => {
                if next == Some('\\') {
                    if let Some(end) = chars[i + 2..].iter().take(10).position(|&c| c == '\'') {
                        i += end + 2;
                    }
                } else if chars.get(i + 2) == Some(&'\'') {
                    i += 2;
                }
            }
            '(' | '[' | '{' => stack.push(c),
            ')' | ']' | '}' => {
                let open = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if stack.pop() != Some(open) {
                    return Balance::Mismatched;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if stack.is_empty() {
        Balance::Balanced
    } else {
        Balance::Unclosed(stack.len())
    }
}

#[cfg(test)]
mod tests {
    use super::is_complete;

    #[test]
    fn classifies_cells() {
        for code in [
            "1 + 1",
            "let x = 1;",
            "fn f() {}",
            "let s = \"}\";",
            ":dep foo\nlet x = 'a';",
            "x",
        ] {
            assert_eq!(is_complete(code).0, "complete", "{code}");
        }
        assert_eq!(is_complete("fn f() {"), ("incomplete", "    ".to_string()));
        for code in ["let v = vec![1,", "let s = \"abc", "1 +", "/* open"] {
            assert_eq!(is_complete(code).0, "incomplete", "{code}");
        }
        for code in ["fn f() }", "let = = ;", "(]"] {
            assert_eq!(is_complete(code).0, "invalid", "{code}");
        }
    }
}
