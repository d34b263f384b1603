//! `history_request`: the cells of this session.

use serde_json::{Value, json};

/// The inputs (and text outputs) of the cells run in this kernel, by execution count.
#[derive(Default)]
pub struct History {
    entries: Vec<(usize, String, String)>,
}

impl History {
    /// Records a cell's input and its text/plain result.
    pub fn push(&mut self, count: usize, input: &str, output: &str) {
        self.entries
            .push((count, input.to_string(), output.to_string()));
    }

    /// The `history` list for a request's content (`tail`, `range` and `search`).
    pub fn reply(&self, request: &Value) -> Vec<Value> {
        let output = request
            .get("output")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let n = request.get("n").and_then(Value::as_u64).unwrap_or(10) as usize;
        let selected: Vec<&(usize, String, String)> = match request
            .get("hist_access_type")
            .and_then(Value::as_str)
            .unwrap_or("tail")
        {
            "range" => {
                let start = request.get("start").and_then(Value::as_i64).unwrap_or(0);
                let stop = request.get("stop").and_then(Value::as_i64);
                self.entries
                    .iter()
                    .filter(|(c, ..)| {
                        (*c as i64) >= start && stop.is_none_or(|s| s <= 0 || (*c as i64) < s)
                    })
                    .collect()
            }
            "search" => {
                let pattern = request
                    .get("pattern")
                    .and_then(Value::as_str)
                    .unwrap_or("*");
                let pattern = glob::Pattern::new(pattern).ok();
                let mut found: Vec<_> = self
                    .entries
                    .iter()
                    .filter(|(_, input, _)| pattern.as_ref().is_none_or(|p| p.matches(input)))
                    .collect();
                if request
                    .get("unique")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                {
                    // Keep the latest occurrence of each input.
                    let mut seen = std::collections::HashSet::new();
                    found.reverse();
                    found.retain(|(_, input, _)| seen.insert(input.clone()));
                    found.reverse();
                }
                let skip = found.len().saturating_sub(n);
                found.drain(..skip);
                found
            }
            _ => self
                .entries
                .iter()
                .skip(self.entries.len().saturating_sub(n))
                .collect(),
        };
        selected
            .into_iter()
            .map(|(count, input, out)| {
                if output {
                    json!([1, count, [input, out]])
                } else {
                    json!([1, count, input])
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_range_and_search() {
        let mut h = History::default();
        h.push(1, "let a = 1;", "");
        h.push(2, "a + 1", "2");
        h.push(3, "println!(\"x\")", "");
        assert_eq!(
            h.reply(&json!({"hist_access_type": "tail", "n": 2})).len(),
            2
        );
        assert_eq!(
            h.reply(&json!({"hist_access_type": "tail", "n": 1, "output": true})),
            vec![json!([1, 3, ["println!(\"x\")", ""]])]
        );
        assert_eq!(
            h.reply(&json!({"hist_access_type": "range", "start": 2, "stop": 3}))
                .len(),
            1
        );
        assert_eq!(
            h.reply(&json!({"hist_access_type": "search", "pattern": "a*"}))
                .len(),
            1
        );
        assert_eq!(
            h.reply(&json!({"hist_access_type": "search", "pattern": "*a*"}))
                .len(),
            2
        );
        h.push(4, "a + 1", "2");
        let unique = json!({"hist_access_type": "search", "pattern": "a *", "unique": true});
        assert_eq!(h.reply(&unique), vec![json!([1, 4, "a + 1"])]);
    }
}
