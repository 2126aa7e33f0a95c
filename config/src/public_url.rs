//! `[proxy] public_url`: the URL clients reach the gateway at, checked once at load so the
//! gateway can put it verbatim into the upload URLs it hands out.

/// Checks `url` and returns it without a trailing `/`: `http://` or `https://`, a host (name,
/// IPv4 or `[IPv6]`) with an optional port, then an optional path prefix; no user info, query,
/// fragment, whitespace or control characters.
pub(crate) fn check(url: &str) -> Result<String, String> {
    let bad = |why: &str| {
        Err(format!(
            "{url:?} {why}: write scheme://host[:port][/prefix] (http or https), e.g. \
             \"https://gemini-gateway.example.com\""
        ))
    };
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return bad("is not an http:// or https:// URL");
    };
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '\\'))
    {
        return bad("contains whitespace, a control character, '?', '#' or '\\'");
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains('@') {
        return bad("has user info");
    }
    if !crate::sections::is_host_port(authority) {
        return bad("has no valid host[:port]");
    }
    if path.contains("//") || path.split('/').any(|s| s == "." || s == "..") {
        return bad("has an empty, '.' or '..' path segment");
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_origins_and_prefixes_and_trims_the_slash() {
        for (url, checked) in [
            ("https://gw.example.com/", "https://gw.example.com"),
            ("http://10.0.0.5:8080", "http://10.0.0.5:8080"),
            ("https://[::1]:8443/gemini/", "https://[::1]:8443/gemini"),
        ] {
            assert_eq!(check(url).as_deref(), Ok(checked));
        }
    }

    #[test]
    fn refuses_what_could_redirect_or_inject() {
        for url in [
            "gw.example.com",
            "ftp://gw.example.com",
            "https://user@gw.example.com",
            "https://gw.example.com:99999",
            "https://gw example.com",
            "https://gw.example.com\r\nx-evil: 1",
            "https://gw.example.com/?a=b",
            "https://gw.example.com/#x",
            "https://gw.example.com/a/../b",
            "https://",
        ] {
            assert!(check(url).is_err(), "{url} was accepted");
        }
    }
}
