//! An example span plugin: a PII tagger.
//!
//! Before the upstream call it scans the prompt's text parts for e-mail addresses and phone
//! numbers, adds `pii.emails` and `pii.phones` to the prompt-construction span, records its own
//! `pii_scan` child span with real start and end times, and emits the metric `pii_matches` with
//! the configured threshold (default 0: any match breaches).
//!
//! Build: `cargo build -p pii-tagger` (gives `target/debug/libpii_tagger.so`). Load it with:
//!
//! ```toml
//! [[plugins]]
//! path = "target/debug/libpii_tagger.so"
//! [plugins.config]
//! threshold = 0
//! ```

use gateway_plugin_sdk::prelude::*;
use serde::Deserialize;
use std::time::SystemTime;

/// `[plugins.config]` of this plugin.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiiConfig {
    /// `pii_matches` above this breaches. Default 0.
    #[serde(default)]
    pub threshold: f64,
    /// Panic in every hook (to demonstrate and test isolation). Default false.
    #[serde(default)]
    pub panic: bool,
    /// Sleep this long in `on_complete` (to demonstrate that slow completion work never
    /// delays a response). Default 0.
    #[serde(default)]
    pub complete_sleep_ms: u64,
}

/// The plugin.
#[derive(Debug)]
pub struct PiiTagger {
    config: PiiConfig,
}

impl PiiTagger {
    /// Builds the plugin from its JSON config (`{}` for defaults).
    pub fn from_config(config_json: &str) -> Result<Self, String> {
        let config: PiiConfig = gateway_plugin_sdk::serde_json::from_str(config_json)
            .map_err(|e| format!("invalid pii-tagger config: {e}"))?;
        Ok(Self { config })
    }
}

/// Counts e-mail addresses in `text`.
pub fn count_emails(text: &str) -> usize {
    text.split(|c: char| c.is_whitespace() || "<>()[]{},;:\"'".contains(c))
        .filter(|tok| {
            let tok = tok.trim_end_matches('.');
            let Some((local, domain)) = tok.split_once('@') else {
                return false;
            };
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && domain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        })
        .count()
}

/// Counts phone numbers in `text`: runs of 9 to 15 digits, allowing `+`, spaces, dots, dashes
/// and parentheses (at most two in a row) between them.
pub fn count_phones(text: &str) -> usize {
    let mut count = 0;
    let mut digits = 0;
    let mut gap = 0;
    let flush = |digits: &mut usize, count: &mut usize| {
        if (9..=15).contains(digits) {
            *count += 1;
        }
        *digits = 0;
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits += 1;
            gap = 0;
        } else if digits > 0 && " -.()".contains(c) && gap < 2 {
            gap += 1;
        } else if c == '+' && digits == 0 {
            continue;
        } else {
            flush(&mut digits, &mut count);
            gap = 0;
        }
    }
    flush(&mut digits, &mut count);
    count
}

impl SpanPlugin for PiiTagger {
    fn name(&self) -> &str {
        "pii_tagger"
    }

    fn on_request(&self, request: &RequestView<'_>, out: &mut PluginOutput) {
        if self.config.panic {
            panic!("pii_tagger configured to panic");
        }
        let start = SystemTime::now();
        let texts = request.prompt_texts();
        let emails: usize = texts.iter().map(|t| count_emails(t)).sum();
        let phones: usize = texts.iter().map(|t| count_phones(t)).sum();
        out.attr(Step::PromptConstruction, "pii.emails", emails as i64);
        out.attr(Step::PromptConstruction, "pii.phones", phones as i64);
        out.metric(
            "pii_matches",
            (emails + phones) as f64,
            Some(self.config.threshold),
        );
        out.span(PluginSpan {
            name: "pii_scan".into(),
            start,
            end: SystemTime::now(),
            attributes: vec![
                (
                    "pii.texts_scanned".into(),
                    AttrValue::I64(texts.len() as i64),
                ),
                (
                    "pii.matches".into(),
                    AttrValue::I64((emails + phones) as i64),
                ),
            ],
        });
    }

    fn on_complete(&self, _call: &CompletedCall<'_>, _out: &mut PluginOutput) {
        if self.config.panic {
            panic!("pii_tagger configured to panic");
        }
        if self.config.complete_sleep_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(
                self.config.complete_sleep_ms,
            ));
        }
    }
}

gateway_plugin_sdk::export_plugin!(PiiTagger::from_config);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use gateway_plugin_sdk::testing;

    #[test]
    fn finds_emails_and_phones() {
        assert_eq!(
            count_emails("write to ana@example.com, or <bob.s@mail.co.uk>."),
            2
        );
        assert_eq!(count_emails("not@mail or @x.com or a@.com"), 0);
        assert_eq!(count_phones("call +1 555-010-9999 or (030) 1234 5678"), 2);
        assert_eq!(count_phones("order 12345 shipped in 2024"), 0);
    }

    #[test]
    fn tags_the_prompt_and_emits_a_metric() {
        let p = PiiTagger::from_config(r#"{"threshold": 1}"#).unwrap();
        let req = testing::request(
            r#"{"contents":[{"parts":[{"text":"mail a@b.com and c@d.org, call 555 010 9999"}]}]}"#,
        );
        let mut out = PluginOutput::default();
        p.on_request(&req.view(), &mut out);
        assert_eq!(
            out.get(Step::PromptConstruction, "pii.emails"),
            Some(&AttrValue::I64(2))
        );
        assert_eq!(
            out.get(Step::PromptConstruction, "pii.phones"),
            Some(&AttrValue::I64(1))
        );
        assert_eq!(out.metrics[0].value, 3.0);
        assert_eq!(out.metrics[0].threshold, Some(1.0));
        assert_eq!(out.spans.len(), 1);
    }

    #[test]
    fn completion_reports_nothing_and_panics_are_contained() {
        let req = testing::request("{}");
        let mut out = PluginOutput::default();
        let quiet = PiiTagger::from_config("{}").unwrap();
        quiet.on_complete(&testing::completed(req.view()), &mut out);
        assert_eq!(out, PluginOutput::default());

        // As exported: wrapped in the guard that `export_plugin!` adds.
        let loud =
            gateway_plugin_sdk::Guarded(PiiTagger::from_config(r#"{"panic":true}"#).unwrap());
        loud.on_complete(&testing::completed(req.view()), &mut out);
        assert!(
            out.errors[0].contains("configured to panic"),
            "{:?}",
            out.errors
        );
    }

    #[test]
    fn bad_config_is_refused() {
        assert!(PiiTagger::from_config(r#"{"threshhold": 1}"#).is_err());
    }
}
