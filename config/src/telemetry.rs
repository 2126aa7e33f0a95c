//! `[telemetry]`: which generation of the OpenTelemetry GenAI names the gateway emits, and the
//! bounds of the OTLP receiver on the API port (`POST /v1/traces`).

use serde::Deserialize;

/// Which GenAI semantic-convention names are emitted on spans and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum Semconv {
    /// The last release, v1.41 (`gen_ai.client.operation.*` metrics, `gen_ai.client.token.usage`,
    /// `gen_ai.usage.cache_creation.input_tokens`).
    #[serde(rename = "v1.41")]
    V141,
    /// The GenAI repository's `main` (`gen_ai.client.inference.*` metrics, usage counters by
    /// `gen_ai.token.modality`, `gen_ai.usage.cache_write.input_tokens`).
    #[serde(rename = "latest")]
    Latest,
    /// Both: where a name differs, both are emitted. The default.
    #[default]
    #[serde(rename = "both")]
    Both,
}

impl Semconv {
    /// Emits the v1.41 names.
    pub fn v141(self) -> bool {
        matches!(self, Self::V141 | Self::Both)
    }

    /// Emits the `main` names.
    pub fn latest(self) -> bool {
        matches!(self, Self::Latest | Self::Both)
    }

    /// As written in `gateway.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V141 => "v1.41",
            Self::Latest => "latest",
            Self::Both => "both",
        }
    }
}

/// `[telemetry]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `"v1.41"`, `"latest"` or `"both"` (default). Restart to change.
    #[serde(default)]
    pub semconv: Semconv,
    /// Accept application spans on the API port (`POST /v1/traces`). Default true.
    #[serde(default = "yes")]
    pub receiver: bool,
    /// Largest request body accepted by the receiver, compressed or not, in bytes; past it 413.
    /// Default 4 MiB.
    #[serde(default = "default_max_body")]
    pub receiver_max_body_bytes: usize,
    /// Most spans in one export request; past it 413. Default 10000.
    #[serde(default = "default_max_spans")]
    pub receiver_max_spans: usize,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            semconv: Semconv::default(),
            receiver: true,
            receiver_max_body_bytes: default_max_body(),
            receiver_max_spans: default_max_spans(),
        }
    }
}

const fn yes() -> bool {
    true
}
const fn default_max_body() -> usize {
    4 << 20
}
const fn default_max_spans() -> usize {
    10_000
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn semconv_values_parse_and_others_are_refused() {
        for (text, want) in [
            ("v1.41", Semconv::V141),
            ("latest", Semconv::Latest),
            ("both", Semconv::Both),
        ] {
            let c: TelemetryConfig = toml::from_str(&format!("semconv = \"{text}\"")).unwrap();
            assert_eq!(c.semconv, want);
            assert_eq!(c.semconv.as_str(), text);
        }
        let c: TelemetryConfig = toml::from_str("").unwrap();
        assert_eq!(c.semconv, Semconv::Both);
        assert!(c.receiver);
        let err = toml::from_str::<TelemetryConfig>("semconv = \"v1.40\"").unwrap_err();
        assert!(err.to_string().contains("v1.41"), "{err}");
        assert!(toml::from_str::<TelemetryConfig>("semconvv = \"both\"").is_err());
    }
}
