//! What a create request's `input` holds (a string, a content, a list of
//! contents, steps such as `user_input` / `model_output` /
//! `function_result`, or `{role, content}` turns), read for its words and its
//! last user text; and the fake arguments of a function call.

use serde_json::{Map, Value, json};

use crate::tokens;

/// Text found in an `input`.
#[derive(Debug, Default)]
pub(super) struct InputText {
    /// Words of every text.
    pub words: u64,
    /// The last non-empty user text (or function result).
    pub last_user: String,
    /// A `function_result` answers an earlier call.
    pub function_result: bool,
}

impl InputText {
    fn add(&mut self, text: &str, from_user: bool) {
        self.words += tokens::words(text);
        if from_user && !text.trim().is_empty() {
            self.last_user = text.to_string();
        }
    }

    /// Walk a string, a content, a step, a turn or a list of them.
    pub fn walk(&mut self, v: &Value, from_user: bool) {
        match v {
            Value::String(s) => self.add(s, from_user),
            Value::Array(items) => items.iter().for_each(|i| self.walk(i, from_user)),
            Value::Object(o) => {
                if let Some(role) = o.get("role").and_then(Value::as_str) {
                    if let Some(c) = o.get("content") {
                        self.walk(c, role == "user");
                    }
                    return;
                }
                let content = o.get("content");
                match o.get("type").and_then(Value::as_str).unwrap_or("") {
                    "text" => {
                        let text = o.get("text").and_then(Value::as_str).unwrap_or("");
                        self.add(text, from_user);
                    }
                    "user_input" => content.into_iter().for_each(|c| self.walk(c, true)),
                    "model_output" => content.into_iter().for_each(|c| self.walk(c, false)),
                    "function_result" => {
                        self.function_result = true;
                        match o.get("result") {
                            Some(Value::String(s)) => self.add(s, true),
                            Some(r @ (Value::Array(_) | Value::Object(_))) => self.walk(r, true),
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

/// Deterministic arguments for a function tool: one per property of its
/// `parameters` schema (numbers 1, booleans true, strings `snippet`).
pub(super) fn fake_arguments(tool: &Value, snippet: &str) -> Value {
    let mut out = Map::new();
    let props = tool
        .get("parameters")
        .and_then(|p| p.get("properties"))
        .and_then(Value::as_object);
    for (name, schema) in props.into_iter().flatten() {
        let ty = schema
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("string");
        let v = match ty.to_ascii_lowercase().as_str() {
            "integer" | "number" => json!(1),
            "boolean" => json!(true),
            "array" => json!([]),
            "object" => json!({}),
            _ => json!(snippet),
        };
        out.insert(name.clone(), v);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_input_shape() {
        let mut t = InputText::default();
        t.walk(&json!("plain words here"), true);
        assert_eq!((t.words, t.last_user.as_str()), (3, "plain words here"));
        let mut t = InputText::default();
        t.walk(
            &json!([
                {"role": "user", "content": "a b"},
                {"role": "model", "content": [{"type": "text", "text": "c"}]},
                {"type": "function_result", "call_id": "x", "result": "d e f"}
            ]),
            true,
        );
        assert_eq!(t.words, 6);
        assert_eq!(t.last_user, "d e f");
        assert!(t.function_result);
        let tool = json!({"parameters": {"properties": {"n": {"type": "NUMBER"}, "s": {}}}});
        assert_eq!(fake_arguments(&tool, "hi"), json!({"n": 1, "s": "hi"}));
    }
}
