//! What the `api` binary reads from the gateway's TOML: `[storage] path` and `[api] listen`,
//! `token`. Every other section and key is ignored here (the gateway validates the whole file).

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Default `[api] listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";
/// Default `[storage] path`.
pub const DEFAULT_DB_PATH: &str = "gateway.db";

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or a key has the wrong type or value.
    #[error("invalid config {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    storage: Storage,
    #[serde(default)]
    api: Api,
}

#[derive(Debug, Default, Deserialize)]
struct Storage {
    path: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
struct Api {
    listen: Option<String>,
    token: Option<String>,
}

/// The settings of the standalone API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFileConfig {
    /// `[storage] path`, default `gateway.db` (relative to the working directory, as for the
    /// gateway).
    pub db_path: PathBuf,
    /// `[api] listen`, default `127.0.0.1:8081`.
    pub listen: SocketAddr,
    /// `[api] token`; `None` when absent or empty (no auth).
    pub token: Option<String>,
}

impl ApiFileConfig {
    /// Parses the TOML text of a gateway config; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let file: File = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let listen = file.api.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = listen
            .parse()
            .map_err(|e| invalid(format!("api.listen {listen:?}: {e}")))?;
        let db_path = file
            .storage
            .path
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DB_PATH));
        if db_path.as_os_str().is_empty() {
            return Err(invalid("storage.path must not be empty".into()));
        }
        Ok(Self {
            db_path,
            listen,
            token: file.api.token.filter(|t| !t.is_empty()),
        })
    }

    /// Reads and parses a gateway config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_storage_and_api() {
        let text = "[proxy]\nlisten = \"x\"\nanything = 1\n[storage]\npath = \"/tmp/g.db\"\n\
                    [api]\nlisten = \"127.0.0.1:0\"\ntoken = \"s3cret\"\ndashboard = true\n";
        let c = ApiFileConfig::parse(text, Path::new("g.toml")).expect("parse");
        assert_eq!(c.db_path, PathBuf::from("/tmp/g.db"));
        assert_eq!(c.listen.port(), 0);
        assert_eq!(c.token.as_deref(), Some("s3cret"));
        let d = ApiFileConfig::parse("", Path::new("g.toml")).expect("defaults");
        assert_eq!(d.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(d.token, None);
        assert!(ApiFileConfig::parse("[api]\nlisten = \"nope\"", Path::new("g.toml")).is_err());
    }

    #[test]
    fn the_repository_example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../gateway.toml");
        ApiFileConfig::load(&path).expect("gateway.toml");
    }
}
