//! `proxy.upstream`: `scheme://host[:port]`, parsed once for the proxy and the checks.

/// A parsed `proxy.upstream`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// Host name (also the TLS SNI and the `Host` header).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Whether to use TLS.
    pub tls: bool,
    /// `[proxy] upstream_ca_file`, resolved: CA certificates trusted besides the system's.
    pub ca_file: Option<std::path::PathBuf>,
}

impl Upstream {
    /// Parses `scheme://host[:port]` (no path).
    pub fn parse(url: &str) -> Result<Self, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("{url:?} must start with https:// or http://"));
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains('/') || rest.contains('?') {
            return Err(format!("{url:?} must be scheme://host[:port] with no path"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| format!("{url:?} has an invalid port {p:?}"))?;
                (h.trim_matches(|c| c == '[' || c == ']').to_string(), port)
            }
            _ => (rest.to_string(), if tls { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        Ok(Self {
            host,
            port,
            tls,
            ca_file: None,
        })
    }

    /// The value for the `Host` header.
    pub fn authority(&self) -> String {
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}
