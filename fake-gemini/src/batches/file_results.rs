//! A batch job whose input is a JSONL file (`inputConfig.fileName`, uploaded through the Files
//! API): one result line per input line, in order, written to the job's results file
//! (`output.responsesFile`, downloaded with `files/{id}:download?alt=media`). An input line is
//! `{"key": …, "request": {GenerateContentRequest}}`; a result line is `{"key": …, "response":
//! {GenerateContentResponse with usageMetadata}}` or `{"key": …, "error": {…}}` (also for an input
//! line that is not JSON). An input file the fake did not keep gives an empty results file.

use serde_json::{Value, json};

use super::job::{Kind, embed_one, generate_one};

/// The results file's bytes, the number of lines and how many of them failed.
pub(super) fn run(served: &str, kind: Kind, input: &str) -> (Vec<u8>, usize, usize) {
    let bytes = crate::file_contents::get(input).unwrap_or_default();
    let mut out = Vec::new();
    let (mut n, mut failed) = (0, 0);
    for (i, line) in String::from_utf8_lossy(&bytes).lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        n += 1;
        let mut one = match serde_json::from_str::<Value>(line) {
            Ok(item) => {
                let request = item.get("request").unwrap_or(&item);
                let mut r = match kind {
                    Kind::Generate => generate_one(served, request, i as u64),
                    Kind::Embed => embed_one(request),
                };
                if let Some(k) = item.get("key") {
                    r["key"] = k.clone();
                }
                r
            }
            Err(e) => {
                json!({"error": {"code": 400, "message": format!("Invalid JSON in line {}: {e}", i + 1)}})
            }
        };
        if one.get("error").is_some() {
            failed += 1;
        }
        if let Some(o) = one.as_object_mut() {
            // `key` first, as the service writes it.
            if let Some(k) = o.remove("key") {
                let mut m = serde_json::Map::new();
                m.insert("key".into(), k);
                m.extend(std::mem::take(o));
                *o = m;
            }
        }
        out.extend_from_slice(one.to_string().as_bytes());
        out.push(b'\n');
    }
    (out, n, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_result_line_per_input_line() {
        let input = "{\"key\":\"a\",\"request\":{\"contents\":[{\"parts\":[{\"text\":\"one two\"}]}]}}\nnot json\n\n";
        crate::file_contents::put("files/in-test", input.as_bytes().to_vec());
        let (bytes, n, failed) = run("gemini-3.8-flash", Kind::Generate, "files/in-test");
        let text = String::from_utf8(bytes).expect("utf8");
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!((n, failed, lines.len()), (2, 1, 2));
        assert_eq!(lines[0]["key"], "a");
        assert_eq!(lines[0]["response"]["usageMetadata"]["promptTokenCount"], 2);
        assert!(lines[1]["error"].is_object());
        assert!(text.starts_with("{\"key\""));
    }
}
