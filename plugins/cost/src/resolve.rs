//! Model names as users write them → price-table keys.

use std::collections::HashMap;

fn version_like(segment: &str) -> bool {
    !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit())
        || matches!(segment, "preview" | "exp" | "experimental" | "latest")
}

/// Finds the table key for `model`: exact, then without `models/`, then dropping trailing
/// version-like segments (`-001`, `-latest`, `-preview-05-20`, `-exp-0827`) one at a time.
/// `aliases` maps names (e.g. `tunedModels/my-tune`) to a base model first.
pub fn resolve<'a, V>(
    model: &str,
    table: &'a HashMap<String, V>,
    aliases: &HashMap<String, String>,
) -> Option<(&'a str, &'a V)> {
    let model = aliases.get(model).map_or(model, String::as_str);
    let name = model.strip_prefix("models/").unwrap_or(model);
    let name = aliases.get(name).map_or(name, String::as_str);
    let mut candidate = name;
    loop {
        if let Some((k, v)) = table.get_key_value(candidate) {
            return Some((k.as_str(), v));
        }
        let (head, last) = candidate.rsplit_once('-')?;
        if !version_like(last) {
            return None;
        }
        candidate = head;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::shipped_rows;

    #[test]
    fn names_resolve_the_way_users_write_them() {
        let rows = shipped_rows().expect("shipped table");
        let t: HashMap<String, ()> = rows.iter().map(|r| (r.model.clone(), ())).collect();
        let none = HashMap::new();
        let r = |m: &str| resolve(m, &t, &none).map(|(k, _)| k.to_owned());
        assert_eq!(r("gemini-2.0-flash").as_deref(), Some("gemini-2.0-flash"));
        assert_eq!(
            r("models/gemini-2.0-flash-001").as_deref(),
            Some("gemini-2.0-flash")
        );
        assert_eq!(
            r("gemini-2.5-flash-preview-05-20").as_deref(),
            Some("gemini-2.5-flash")
        );
        assert_eq!(
            r("gemini-2.5-flash-lite-preview-06-17").as_deref(),
            Some("gemini-2.5-flash-lite")
        );
        assert_eq!(
            r("gemini-1.5-flash-8b-001").as_deref(),
            Some("gemini-1.5-flash-8b")
        );
        assert_eq!(
            r("gemini-2.5-pro-latest").as_deref(),
            Some("gemini-2.5-pro")
        );
        assert_eq!(
            r("gemini-embedding-001").as_deref(),
            Some("gemini-embedding-001")
        );
        assert_eq!(
            r("models/gemini-3.1-flash-lite-preview").as_deref(),
            Some("gemini-3.1-flash-lite")
        );
        assert_eq!(
            r("gemini-3.1-pro-preview-05-20").as_deref(),
            Some("gemini-3.1-pro-preview")
        );
        assert_eq!(r("gemini-3-pro-preview"), None);
        assert_eq!(r("gemini-flash-lite-latest"), None);
        assert_eq!(r("tunedModels/my-tune"), None);
        let aliases = HashMap::from([(
            "tunedModels/my-tune".to_owned(),
            "gemini-2.0-flash-001".to_owned(),
        )]);
        assert_eq!(
            resolve("tunedModels/my-tune", &t, &aliases).map(|(k, _)| k),
            Some("gemini-2.0-flash")
        );
    }
}
