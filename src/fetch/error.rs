//! Why a URL could not be fetched ([`FetchError`]), and how a transport's error becomes
//! one: by the types in its source chain (rustls's, hyper's, `io::Error` kinds), never by
//! matching message text.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

/// Why a URL could not be fetched. Every variant is one line, lowercase, no trailing
/// period; [`FetchError::kind`] gives a stable machine-readable name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum FetchError {
    /// The text is not a URL at all.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// A URL, but not `http` or `https`: Python's `unknown url type`.
    #[error("unsupported URL scheme '{0}' (only http and https)")]
    UnsupportedScheme(String),
    /// The body is larger than `--max-size` (decoded, with `--compressed`).
    #[error("body larger than {0} bytes (--max-size)")]
    TooLarge(u64),
    /// A compressed body could not be decoded (`--compressed`).
    #[error("cannot decode the body: {0}")]
    Decode(String),
    /// The list line's file name (`URL<TAB>name`) cannot be used under `-d`.
    #[error("invalid file name: {0}")]
    BadName(String),
    /// The body could not be saved under `-d` (a full disk, a folder that cannot be made).
    #[error("cannot save {0}")]
    Save(String),
    /// A redirect to a URL that is not `http` or `https` (`file:`, `data:`, `ftp:`); the
    /// target, with any password masked.
    #[error("redirected to an unsupported URL scheme (only http and https): {0}")]
    UnsupportedRedirect(String),
    /// The proxy (from the environment) could not be used: it refused the connection, did
    /// not answer in time, or did not resolve.
    #[error("proxy {proxy} failed: {reason}")]
    Proxy {
        /// The proxy's URL, with any password masked.
        proxy: String,
        /// What went wrong.
        reason: String,
    },
    /// The host name did not resolve.
    #[error("DNS lookup failed: {0}")]
    Dns(String),
    /// Nothing listens on that port.
    #[error("connection refused")]
    ConnectionRefused,
    /// No connection within the connect timeout.
    #[error("connect timed out after {}", fmt_duration(*.0))]
    ConnectTimeout(Duration),
    /// The whole fetch, from connect to the last body byte, took longer than the timeout.
    #[error("timed out after {}", fmt_duration(*.0))]
    Timeout(Duration),
    /// The run's overall deadline (`--deadline`) passed while this fetch was running.
    #[error("run deadline exceeded")]
    Deadline,
    /// The peer reset or closed the connection before the response was complete.
    #[error("connection reset: {0}")]
    Reset(String),
    /// The body ended before its announced length.
    #[error("truncated body: {0}")]
    TruncatedBody(String),
    /// The server answered with an error status: Python's `HTTPError`.
    #[error("HTTP Error {code}: {reason}")]
    HttpStatus {
        /// The status code.
        code: u16,
        /// Its canonical reason phrase.
        reason: String,
        /// The `Retry-After` of a 429 or 503, if the server sent a valid one.
        retry_after: Option<Duration>,
    },
    /// More redirects than allowed (or a loop).
    #[error("too many redirects (more than {0})")]
    TooManyRedirects(usize),
    /// TLS handshake or certificate failure.
    #[error("TLS error: {0}")]
    Tls(String),
    /// Any other transport or protocol failure (garbage response, I/O error).
    #[error("{0}")]
    Io(String),
    /// `--executor process`: the worker process fetching the URL died (killed from
    /// outside, out of memory, a crash); the text names the exit code or signal.
    #[error("{0}")]
    Worker(String),
    /// A failure after the response's status arrived (a truncated body, a timeout or a
    /// reset mid-body, `too_large`, `decode`, `save`): that failure, with the status. Its
    /// kind, message and retry rules are the inner error's.
    #[error("{error}")]
    AfterResponse {
        /// The status the response had.
        status: u16,
        /// What went wrong then.
        error: Box<FetchError>,
    },
}

impl FetchError {
    /// A stable snake_case name for the kind of failure (the JSONL `error_kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::AfterResponse { error, .. } => error.kind(),
            FetchError::InvalidUrl(_) => "invalid_url",
            FetchError::UnsupportedScheme(_) | FetchError::UnsupportedRedirect(_) => {
                "unsupported_scheme"
            }
            FetchError::Proxy { .. } => "proxy",
            FetchError::Save(_) => "save",
            FetchError::BadName(_) => "invalid_name",
            FetchError::TooLarge(_) => "too_large",
            FetchError::Decode(_) => "decode",
            FetchError::Dns(_) => "dns",
            FetchError::ConnectionRefused => "connection_refused",
            FetchError::ConnectTimeout(_) => "connect_timeout",
            FetchError::Timeout(_) => "timeout",
            FetchError::Deadline => "deadline",
            FetchError::Reset(_) => "reset",
            FetchError::TruncatedBody(_) => "truncated_body",
            FetchError::HttpStatus { .. } => "http_status",
            FetchError::TooManyRedirects(_) => "too_many_redirects",
            FetchError::Tls(_) => "tls",
            FetchError::Io(_) => "io",
            FetchError::Worker(_) => "worker",
        }
    }

    /// The HTTP status carried by the error, if any: the error status itself, or the
    /// status of a response that failed later.
    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            FetchError::HttpStatus { code, .. } => Some(*code),
            FetchError::AfterResponse { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The error without the status an `AfterResponse` adds.
    pub(crate) fn inner(&self) -> &FetchError {
        match self {
            FetchError::AfterResponse { error, .. } => error.inner(),
            other => other,
        }
    }

    /// This error as raised after a response with `status` arrived.
    pub(super) fn after_response(self, status: u16) -> Self {
        match self {
            already @ FetchError::AfterResponse { .. } => already,
            error => FetchError::AfterResponse {
                status,
                error: Box::new(error),
            },
        }
    }

    /// The same error with every occurrence of `secrets` in its text masked.
    pub(crate) fn scrubbed(self, secrets: &[String]) -> Self {
        if secrets.is_empty() {
            return self;
        }
        let s = |t: String| crate::redact::scrub(&t, secrets);
        match self {
            FetchError::InvalidUrl(t) => FetchError::InvalidUrl(s(t)),
            FetchError::UnsupportedScheme(t) => FetchError::UnsupportedScheme(s(t)),
            FetchError::UnsupportedRedirect(t) => FetchError::UnsupportedRedirect(s(t)),
            FetchError::Proxy { proxy, reason } => FetchError::Proxy {
                proxy: s(proxy),
                reason: s(reason),
            },
            FetchError::Dns(t) => FetchError::Dns(s(t)),
            FetchError::Save(t) => FetchError::Save(s(t)),
            FetchError::BadName(t) => FetchError::BadName(s(t)),
            FetchError::Decode(t) => FetchError::Decode(s(t)),
            FetchError::AfterResponse { status, error } => FetchError::AfterResponse {
                status,
                error: Box::new(error.scrubbed(secrets)),
            },
            FetchError::Reset(t) => FetchError::Reset(s(t)),
            FetchError::TruncatedBody(t) => FetchError::TruncatedBody(s(t)),
            FetchError::Tls(t) => FetchError::Tls(s(t)),
            FetchError::Io(t) => FetchError::Io(s(t)),
            other => other,
        }
    }

    /// How long the server asked to wait before retrying, if it did.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::HttpStatus { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Formats a duration the way a user typed it: `60s`, `1.5s`, `250ms`.
pub fn fmt_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        let secs = format!("{:.3}", d.as_secs_f64());
        format!("{}s", secs.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// The reqwest error inside an `io::Error` returned by `Response::read`.
pub(super) fn reqwest_error(e: &io::Error) -> Option<&reqwest::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
}

/// An `io::Error` from reading that carries no reqwest error.
pub(super) fn classify_io(e: &io::Error) -> FetchError {
    match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
            FetchError::Reset(e.to_string())
        }
        io::ErrorKind::UnexpectedEof => FetchError::TruncatedBody(e.to_string()),
        _ => FetchError::Io(e.to_string()),
    }
}

/// Every error in `e`'s source chain, `e` first. An `io::Error` wrapping another error is
/// followed into it (its `source()` skips the wrapped error itself).
pub(super) fn causes<'a>(e: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut chain = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next.take() {
        chain.push(err);
        if chain.len() > 32 {
            break;
        }
        next = match err.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => err.source(),
        };
    }
    chain
}

/// A TLS failure in words, with what to do about it, if `cause` is one.
pub(super) fn tls_error(cause: &(dyn StdError + 'static)) -> Option<String> {
    cause
        .downcast_ref::<rustls::Error>()
        .map(crate::fetch::tls::explain)
}

/// The innermost cause's message: reqwest's own top-level text only repeats the URL.
pub(super) fn last_cause(e: &(dyn StdError + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// Every message in the chain, joined with `: `, skipping reqwest's URL-only wrapper text.
pub(super) fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = source {
        let text = err.to_string();
        let redundant = text.starts_with("error sending request")
            || text.starts_with("error decoding response body")
            || text.starts_with("request or response body error")
            || parts.last().is_some_and(|p| p.contains(&text));
        if !redundant && !text.is_empty() {
            parts.push(text);
        }
        source = err.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

impl super::Fetcher {
    /// Maps a reqwest error for a request to `url` onto our kinds. `limit` is the timeout
    /// that applied to this request and `by_deadline` says whether it came from the run's
    /// deadline. A connection that failed while `url` goes through a proxy is the proxy's
    /// failure, and says so.
    pub(super) fn classify(
        &self,
        e: &reqwest::Error,
        url: &Url,
        limit: Duration,
        by_deadline: bool,
    ) -> FetchError {
        let error = self.classify_direct(e, limit, by_deadline);
        let proxy_failed = e.is_connect()
            && matches!(
                error,
                FetchError::ConnectionRefused
                    | FetchError::ConnectTimeout(_)
                    | FetchError::Dns(_)
                    | FetchError::Reset(_)
                    | FetchError::Io(_)
            );
        match self.proxies.for_url(url) {
            Some(proxy) if proxy_failed => FetchError::Proxy {
                proxy: crate::redact::redact_url(proxy.as_str()).into_owned(),
                reason: error.to_string(),
            },
            _ => error,
        }
    }

    /// [`classify`](Self::classify), proxies aside: by the types in the error's source
    /// chain (rustls's and hyper's errors, `io::Error` kinds), not by message text.
    pub(super) fn classify_direct(
        &self,
        e: &reqwest::Error,
        limit: Duration,
        by_deadline: bool,
    ) -> FetchError {
        if e.is_redirect() {
            return FetchError::TooManyRedirects(self.options.max_redirects);
        }
        if e.is_timeout() {
            if by_deadline {
                return FetchError::Deadline;
            }
            if e.is_connect() && self.connect_timeout < limit {
                return FetchError::ConnectTimeout(self.connect_timeout);
            }
            return FetchError::Timeout(limit);
        }
        if e.is_dns() {
            return FetchError::Dns(last_cause(e));
        }
        for cause in causes(e) {
            if let Some(tls) = tls_error(cause) {
                return FetchError::Tls(tls);
            }
            if let Some(h) = cause.downcast_ref::<hyper::Error>()
                && h.is_incomplete_message()
            {
                return FetchError::Reset(
                    "the server closed the connection before the response was complete".to_string(),
                );
            }
            if let Some(io) = cause.downcast_ref::<io::Error>() {
                match io.kind() {
                    io::ErrorKind::ConnectionRefused => return FetchError::ConnectionRefused,
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
                        return FetchError::Reset(last_cause(e));
                    }
                    // While connecting, an early end can only be the TLS handshake's.
                    io::ErrorKind::UnexpectedEof if e.is_connect() => {
                        return FetchError::Tls(
                            "the server closed the connection during the TLS handshake \
                             (a plain-HTTP port?)"
                                .to_string(),
                        );
                    }
                    io::ErrorKind::UnexpectedEof => {
                        return FetchError::TruncatedBody(last_cause(e));
                    }
                    _ => {}
                }
            }
        }
        FetchError::Io(error_chain(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_formatted_as_a_user_would_type_them() {
        assert_eq!(fmt_duration(Duration::from_secs(60)), "60s");
        assert_eq!(fmt_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(fmt_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(fmt_duration(Duration::from_millis(2001)), "2.001s");
    }
}
