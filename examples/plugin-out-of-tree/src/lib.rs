//! The example plugin of `docs/plugins.md`: counts prompt texts that mention a configured word.

use gateway_plugin_sdk::prelude::*;

/// Flags requests whose prompt mentions `word` (from the config; default `secret`).
pub struct Keyword {
    word: String,
}

impl Keyword {
    /// Builds the plugin from its `[plugins.config]` table, as JSON.
    pub fn from_config(config_json: &str) -> Result<Self, String> {
        let v: serde_json::Value = serde_json::from_str(config_json).map_err(|e| e.to_string())?;
        let word = v["word"].as_str().unwrap_or("secret").to_owned();
        Ok(Self { word })
    }
}

impl SpanPlugin for Keyword {
    fn name(&self) -> &str {
        "keyword"
    }

    fn on_request(&self, req: &RequestView<'_>, out: &mut PluginOutput) {
        let hits = req
            .prompt_texts()
            .iter()
            .filter(|t| t.contains(&self.word))
            .count();
        out.attr(Step::PromptConstruction, "keyword.hits", hits as i64);
        out.metric("keyword_hits", hits as f64, Some(0.0));
    }
}

gateway_plugin_sdk::export_plugin!(Keyword::from_config);

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_plugin_sdk::testing;

    #[test]
    fn counts_texts_with_the_word() {
        let plugin = Keyword::from_config(r#"{"word": "password"}"#).unwrap();
        let req = testing::request(r#"{"contents":[{"parts":[{"text":"my password"}]}]}"#);
        let mut out = PluginOutput::default();
        plugin.on_request(&req.view(), &mut out);
        assert_eq!(
            out.get(Step::PromptConstruction, "keyword.hits"),
            Some(&AttrValue::I64(1))
        );
        assert_eq!(out.metrics[0].value, 1.0);
    }
}
