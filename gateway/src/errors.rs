//! Errors the gateway itself answers, shaped like Gemini's (`{"error":{"code","message","status"}}`)
//! so that every SDK parses them.

use pingora::{ErrorSource, ErrorType};

/// Why the gateway could not get an answer from Gemini.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyFailure {
    /// The upstream could not be reached (refused, no route, TLS, DNS).
    Unreachable,
    /// The upstream did not connect or answer in time.
    Timeout,
    /// The upstream broke the connection after it started answering.
    Reset,
    /// The client went away.
    ClientGone,
    /// Anything else on our side.
    Internal,
}

impl ProxyFailure {
    /// Classifies a pingora error.
    pub fn classify(e: &pingora::Error, response_started: bool) -> Self {
        use ErrorType::*;
        match (e.esource(), e.etype()) {
            (ErrorSource::Downstream, _) => Self::ClientGone,
            // Never connected: the upstream could not be reached (502, as documented); a
            // timeout once connected is the upstream being slow (504).
            (_, ConnectTimedout | TLSHandshakeTimedout) => Self::Unreachable,
            (_, ReadTimedout | WriteTimedout) => Self::Timeout,
            (ErrorSource::Upstream, _) if response_started => Self::Reset,
            (
                ErrorSource::Upstream,
                ConnectRefused | ConnectNoRoute | ConnectError | TLSHandshakeFailure | InvalidCert
                | HandshakeError | SocketError | ConnectionClosed | ReadError | WriteError
                | H1Error | H2Error | InvalidHTTPHeader | InvalidH2,
            ) => Self::Unreachable,
            (ErrorSource::Upstream, _) => Self::Unreachable,
            _ => Self::Internal,
        }
    }

    /// HTTP status for the client (0: nobody to answer).
    pub fn status(self) -> u16 {
        match self {
            Self::Unreachable | Self::Reset => 502,
            Self::Timeout => 504,
            Self::ClientGone => 0,
            Self::Internal => 500,
        }
    }

    /// `error.type` value.
    pub fn error_type(self) -> &'static str {
        match self {
            Self::Unreachable => "upstream_unreachable",
            Self::Timeout => "timeout",
            Self::Reset => "stream_reset",
            Self::ClientGone => "cancelled",
            Self::Internal => "_OTHER",
        }
    }
}

/// A Gemini-shaped error body.
pub fn gemini_error_body(code: u16, message: &str) -> Vec<u8> {
    let status = match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        502 | 503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    };
    serde_json::json!({"error": {"code": code, "message": message, "status": status}})
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_timeout_is_unreachable_and_a_read_timeout_a_timeout() {
        let connect = pingora::Error::new(ErrorType::ConnectTimedout);
        assert_eq!(ProxyFailure::classify(&connect, false).status(), 502);
        let read = pingora::Error::new(ErrorType::ReadTimedout);
        assert_eq!(ProxyFailure::classify(&read, false).status(), 504);
    }

    #[test]
    fn error_body_is_gemini_shaped() {
        let v: serde_json::Value =
            serde_json::from_slice(&gemini_error_body(504, "slow")).expect("json");
        assert_eq!(v["error"]["code"], 504);
        assert_eq!(v["error"]["status"], "DEADLINE_EXCEEDED");
        assert_eq!(v["error"]["message"], "slow");
    }
}
