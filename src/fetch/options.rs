//! How to fetch: [`FetchOptions`], the HTTP client flags of the command line, in one
//! place. Serialisable, so that `--executor process` hands them to each worker process;
//! the serde helpers for its header fields are beside it.

use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::fetch::netrc::Netrc;

/// Statuses of 400 and above that count as success anyway (`--accept`), as inclusive ranges.
pub type AcceptedStatuses = Vec<(u16, u16)>;

/// How to fetch: the HTTP client flags of the command line. Serialisable, so that
/// `--executor process` can hand them to each worker process. A new option is one field
/// here (with its default, if it is not the type's) and the code where it acts.
#[derive(Debug, Clone, Serialize, Deserialize, smart_default::SmartDefault)]
pub struct FetchOptions {
    /// Total deadline for one URL, from connect to the last body byte (Python's
    /// `urlopen(url, timeout=60)`, but total rather than per socket operation).
    #[default(Duration::from_secs(60))]
    pub timeout: Duration,
    /// Connect timeout; `None` means `min(timeout, 10s)`.
    pub connect_timeout: Option<Duration>,
    /// Redirects followed before [`FetchError::TooManyRedirects`](crate::fetch::FetchError::TooManyRedirects) (default 10).
    #[default(10)]
    pub max_redirects: usize,
    /// Extra request headers.
    #[serde(with = "headers")]
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The `User-Agent` header.
    #[default(concat!("fetchpool/", env!("CARGO_PKG_VERSION")).to_string())]
    pub user_agent: String,
    /// Accept invalid TLS certificates and host names.
    pub insecure: bool,
    /// Ignore `http_proxy`/`https_proxy`/`all_proxy` from the environment.
    pub no_proxy: bool,
    /// Send HEAD instead of GET (no body is read).
    pub head: bool,
    /// Compute each body's SHA-256 (`--checksum sha256`).
    pub checksum: bool,
    /// Continue a partial body a killed run left (`--continue`).
    pub continue_partial: bool,
    /// Ask for gzip, br, zstd or deflate and decode (`--compressed`).
    pub compressed: bool,
    /// Fail a body larger than this (decoded, with `compressed`): `--max-size`.
    pub max_size: Option<u64>,
    /// Basic-auth login and password (`-u`), for the URL's own origin.
    pub user: Option<(String, String)>,
    /// Logins by host (`--netrc`).
    pub netrc: Option<Netrc>,
    /// The proxy for every URL (`--proxy`), instead of the environment's.
    pub proxy: Option<Url>,
    /// Extra trusted certificates, PEM (`--cacert`).
    pub cacert: Option<Vec<u8>>,
    /// Which HTTP version to speak.
    pub http_version: HttpVersion,
    /// Keep the cookies servers set, for the whole run (`--cookies`).
    pub cookie_store: bool,
    /// A `Cookie` header for the URL's own origin (`-b`).
    #[serde(with = "header_value")]
    pub cookie: Option<HeaderValue>,
    /// Send `headers` after a redirect to another origin too (curl's
    /// `--location-trusted`); by default they go to the URL's own origin only.
    pub location_trusted: bool,
    /// Error statuses (>= 400) accepted as success.
    pub accept: AcceptedStatuses,
    /// How many idle keep-alive connections to keep per host.
    #[default(64)]
    pub pool_idle_per_host: usize,
    /// Each worker thread drives its own requests (its own runtime and client) instead of
    /// handing them to the shared clients' I/O threads: faster with a few workers, costlier
    /// with many (BENCHMARKS.md, section h).
    pub own_client_per_worker: bool,
    /// Without `own_client_per_worker`: how many shared clients (each its own I/O thread
    /// and connection pool) the worker threads are spread over, at least 1. One per core
    /// keeps one I/O thread from being the bottleneck of many workers (BENCHMARKS.md,
    /// section h).
    #[default(1)]
    pub shared_clients: usize,
    /// `--crawl`: find the links of every HTML page fetched (in [`Page::links`](crate::fetch::Page::links)).
    pub links: Option<crate::crawl::links::LinkKinds>,
    /// Follow redirects (the default). `--crawl` does not: a 3xx is the page's record, its
    /// target in [`Page::location`](crate::fetch::Page::location), and the crawl decides whether to fetch it.
    #[default(true)]
    pub follow_redirects: bool,
}

impl FetchOptions {
    /// The defaults of the command line with the given timeout.
    pub fn with_timeout(timeout: Duration) -> Self {
        FetchOptions {
            timeout,
            ..FetchOptions::default()
        }
    }
}

/// Serde for `-H` headers: (name, value bytes) pairs, checked again when read.
mod headers {
    use reqwest::header::{HeaderName, HeaderValue};
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        headers: &[(HeaderName, HeaderValue)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, D::Error> {
        let raw: Vec<(String, Vec<u8>)> = Vec::deserialize(d)?;
        raw.into_iter()
            .map(|(name, value)| {
                let name = HeaderName::from_bytes(name.as_bytes()).map_err(D::Error::custom)?;
                let value = HeaderValue::from_bytes(&value).map_err(D::Error::custom)?;
                Ok((name, value))
            })
            .collect()
    }
}

/// Serde for an optional header value (`-b`).
mod header_value {
    use reqwest::header::HeaderValue;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<HeaderValue>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.serialize_some(v.as_bytes()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<HeaderValue>, D::Error> {
        Option::<Vec<u8>>::deserialize(d)?
            .map(|v| HeaderValue::from_bytes(&v).map_err(D::Error::custom))
            .transpose()
    }
}

/// The HTTP version spoken (`--http1.1`, `--http2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum HttpVersion {
    /// HTTP/1.1, or HTTP/2 where TLS negotiates it.
    #[default]
    Auto,
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2 only, without negotiation (prior knowledge), also on `http://`.
    Http2,
}
