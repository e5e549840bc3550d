//! Fetching one URL: `load_url`, with a total deadline, streamed byte counting and
//! classified errors.

pub mod names;
pub mod netrc;
pub mod proxy;
pub mod save;

use std::cell::Cell;
use std::error::Error as StdError;
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::crawl::links::LinkExtractor;
use crate::fetch::netrc::Netrc;
use crate::fetch::proxy::ProxyRules;
use crate::fetch::save::{BodySink, Saved, Target};

/// How long to wait for a connection at most, whatever `--timeout` says.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The chunk in which bodies are read and counted (and then forgotten).
const CHUNK: usize = 64 * 1024;

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
    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::HttpStatus { code, .. } => Some(*code),
            FetchError::AfterResponse { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The error without the status an `AfterResponse` adds.
    pub fn inner(&self) -> &FetchError {
        match self {
            FetchError::AfterResponse { error, .. } => error.inner(),
            other => other,
        }
    }

    /// This error as raised after a response with `status` arrived.
    fn after_response(self, status: u16) -> Self {
        match self {
            already @ FetchError::AfterResponse { .. } => already,
            error => FetchError::AfterResponse {
                status,
                error: Box::new(error),
            },
        }
    }

    /// The same error with every occurrence of `secrets` in its text masked.
    pub fn scrubbed(self, secrets: &[String]) -> Self {
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
    pub fn retry_after(&self) -> Option<Duration> {
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

/// Checks that `text` is an absolute `http`/`https` URL with a host.
///
/// # Errors
/// [`FetchError::InvalidUrl`] or [`FetchError::UnsupportedScheme`].
pub fn parse_url(text: &str) -> Result<Url, FetchError> {
    let url = Url::parse(text).map_err(|e| {
        let hint = if e == url::ParseError::RelativeUrlWithoutBase {
            " (add http:// or https://)"
        } else {
            ""
        };
        FetchError::InvalidUrl(format!("{e}{hint}"))
    })?;
    match url.scheme() {
        "http" | "https" => {}
        other => return Err(FetchError::UnsupportedScheme(other.to_string())),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(FetchError::InvalidUrl("empty host".to_string()));
    }
    Ok(url)
}

/// Statuses of 400 and above that count as success anyway (`--accept`), as inclusive ranges.
pub type AcceptedStatuses = Vec<(u16, u16)>;

/// How to fetch: the HTTP client flags of the command line. Serialisable, so that
/// `--executor process` can hand them to each worker process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FetchOptions {
    /// Total deadline for one URL, from connect to the last body byte (Python's
    /// `urlopen(url, timeout=60)`, but total rather than per socket operation).
    pub timeout: Duration,
    /// Connect timeout; `None` means `min(timeout, 10s)`.
    pub connect_timeout: Option<Duration>,
    /// Redirects followed before [`FetchError::TooManyRedirects`] (default 10).
    pub max_redirects: usize,
    /// Extra request headers.
    #[serde(with = "headers")]
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The `User-Agent` header.
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
    pub pool_idle_per_host: usize,
    /// Each worker thread drives its own requests (its own runtime and client) instead of
    /// handing them to the shared clients' I/O threads: faster with a few workers, costlier
    /// with many (BENCHMARKS.md, section h).
    pub own_client_per_worker: bool,
    /// Without `own_client_per_worker`: how many shared clients (each its own I/O thread
    /// and connection pool) the worker threads are spread over, at least 1. One per core
    /// keeps one I/O thread from being the bottleneck of many workers (BENCHMARKS.md,
    /// section h).
    pub shared_clients: usize,
    /// `--crawl`: find the links of every HTML page fetched (in [`Page::links`]).
    pub links: Option<crate::crawl::links::LinkKinds>,
    /// Follow redirects (the default). `--crawl` does not: a 3xx is the page's record, its
    /// target in [`Page::location`], and the crawl decides whether to fetch it.
    pub follow_redirects: bool,
}

impl FetchOptions {
    /// The defaults of the command line with the given timeout.
    pub fn with_timeout(timeout: Duration) -> Self {
        FetchOptions {
            timeout,
            connect_timeout: None,
            max_redirects: 10,
            headers: Vec::new(),
            user_agent: concat!("fetchpool/", env!("CARGO_PKG_VERSION")).to_string(),
            insecure: false,
            no_proxy: false,
            location_trusted: false,
            head: false,
            checksum: false,
            continue_partial: false,
            compressed: false,
            max_size: None,
            user: None,
            netrc: None,
            proxy: None,
            cacert: None,
            http_version: HttpVersion::Auto,
            cookie_store: false,
            cookie: None,
            accept: Vec::new(),
            pool_idle_per_host: 64,
            own_client_per_worker: false,
            shared_clients: 1,
            links: None,
            follow_redirects: true,
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

/// What a successful fetch measured.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Page {
    /// The final HTTP status (after redirects).
    pub status: u16,
    /// Body bytes as received on the wire (no decompression); 0 for HEAD.
    pub bytes: u64,
    /// The URL the body came from, after redirects, with any password masked.
    pub final_url: String,
    /// The response's `Content-Type`, if it sent one (as text).
    pub content_type: Option<String>,
    /// The response's `Content-Length`, if it sent one (what a HEAD reports).
    pub content_length: Option<u64>,
    /// The request was HEAD: there is no body, `bytes` is 0.
    pub head: bool,
    /// Where the body was saved (`-d`).
    pub path: Option<PathBuf>,
    /// The body's SHA-256 in lowercase hex (`--checksum sha256`).
    pub sha256: Option<String>,
    /// With `--continue`: the bytes a previous run had saved, which this one continued.
    pub resumed_from: Option<u64>,
    /// With `--compressed` and an encoded body: its size on the wire (`bytes` is decoded).
    pub wire_bytes: Option<u64>,
    /// With [`FetchOptions::links`] and an HTML page: its links, absolute and normalised.
    pub links: crate::crawl::links::PageLinks,
    /// From a fetcher made by [`Fetcher::capturing`]: the body's first bytes.
    #[serde(skip)]
    pub body: Option<Vec<u8>>,
    /// Without [`FetchOptions::follow_redirects`]: where a redirect pointed (not followed).
    pub location: Option<String>,
}

/// One fetch: the URL, until when, where its body goes, and whether it may carry the
/// run's credentials.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The URL.
    pub url: &'a Url,
    /// The run's deadline (`--deadline`): a fetch cut by it fails with
    /// [`FetchError::Deadline`].
    pub deadline: Option<Instant>,
    /// Where the body is saved, atomically (`-d`).
    pub target: Option<&'a Target>,
    /// `-u`, `-H` and `-b` may go to the URL's origin (a crawl gives them to the seeds'
    /// origins only).
    pub credentials: bool,
}

impl<'a> Request<'a> {
    /// A request for `url`, with no deadline, not saved, credentials allowed.
    pub fn new(url: &'a Url) -> Self {
        Request {
            url,
            deadline: None,
            target: None,
            credentials: true,
        }
    }
}

/// The HTTP client and the per-request settings: Python's `load_url(url, timeout)`.
///
/// Two transports, the same requests and outcomes: by default shared blocking clients
/// (`shared_clients` of them, each one connection pool driven by reqwest's I/O thread; a
/// thread always uses the same one); with `own_client_per_worker`,
/// each thread that fetches builds its own current-thread runtime and async client on
/// first use and drives its requests itself, with no hand-off between threads (faster
/// with a few workers; see BENCHMARKS.md, section h). Cheap to clone: clones share the
/// clients.
#[derive(Debug, Clone)]
pub struct Fetcher {
    /// The shared blocking clients (each its own I/O thread and pool), built at once
    /// without `own_client_per_worker`, else on first use (often never: a blocking client
    /// starts a thread and reads the system's certificates).
    clients: std::sync::Arc<std::sync::OnceLock<Result<std::sync::Arc<[Client]>, String>>>,
    /// How many shared clients.
    shared_count: usize,
    /// What every client is built from.
    spec: std::sync::Arc<OwnClientSpec>,
    /// `own_client_per_worker`: each worker thread builds its own client from `spec` (a
    /// thread keeps the client of the fetcher it last served).
    own: bool,
    /// The total per-URL deadline.
    timeout: Duration,
    /// The connect timeout actually configured, for error messages.
    connect_timeout: Duration,
    /// Redirects followed at most.
    max_redirects: usize,
    /// The `-H` headers, sent to the URL's own origin (and to others if
    /// `location_trusted`).
    headers: HeaderMap,
    /// Keep `headers` across origins.
    location_trusted: bool,
    /// Send HEAD, read no body.
    head: bool,
    /// Hash bodies.
    checksum: bool,
    /// `--continue` partial bodies (and keep them when a fetch fails).
    continue_partial: bool,
    /// Ask for compressed bodies and decode them.
    compressed: bool,
    /// The largest body accepted.
    max_size: Option<u64>,
    /// `-u`'s login and password.
    user: Option<(String, String)>,
    /// `--netrc`'s logins.
    netrc: Option<std::sync::Arc<Netrc>>,
    /// `-b`'s Cookie header.
    cookie: Option<HeaderValue>,
    /// `--cookies`: the run's cookie jar, shared by every clone of the fetcher. Kept here
    /// rather than by reqwest, whose cookie layer re-parses every request's URL even
    /// without a jar.
    jar: Option<std::sync::Arc<std::sync::Mutex<cookie_store::CookieStore>>>,
    /// Which proxy each URL goes through (to name it when it fails).
    proxies: std::sync::Arc<ProxyRules>,
    /// Error statuses accepted as success.
    accept: AcceptedStatuses,
    /// Find the links of HTML pages.
    links: Option<crate::crawl::links::LinkKinds>,
    /// Keep the first bytes of bodies, up to this many ([`Page::body`]).
    capture: Option<usize>,
    /// Follow redirects (else a 3xx is the answer, its target in [`Page::location`]).
    follow_redirects: bool,
}

impl Fetcher {
    /// Builds the client.
    ///
    /// # Errors
    /// A message if the TLS backend or the client cannot be set up.
    pub fn new(options: &FetchOptions) -> Result<Self, String> {
        install_tls_provider();
        let connect_timeout = options
            .connect_timeout
            .unwrap_or(MAX_CONNECT_TIMEOUT)
            .min(options.timeout);
        let mut headers = HeaderMap::new();
        for (name, value) in &options.headers {
            headers.append(name.clone(), value.clone());
        }
        let proxies = match (&options.proxy, options.no_proxy) {
            (Some(proxy), _) => ProxyRules::fixed(proxy.clone()),
            (None, true) => ProxyRules::default(),
            (None, false) => ProxyRules::from_env(),
        };
        let certs = match &options.cacert {
            None => Vec::new(),
            Some(pem) => {
                let certs = reqwest::Certificate::from_pem_bundle(pem)
                    .map_err(|e| format!("--cacert: {}", error_chain(&e)))?;
                if certs.is_empty() {
                    return Err("--cacert: no PEM certificate in the file".to_string());
                }
                certs
            }
        };
        let proxies = std::sync::Arc::new(proxies);
        let spec = OwnClientSpec {
            id: NEXT_FETCHER_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            connect_timeout,
            user_agent: options.user_agent.clone(),
            pool_idle_per_host: options.pool_idle_per_host,
            insecure: options.insecure,
            http_version: options.http_version,
            certs,
            proxies: std::sync::Arc::clone(&proxies),
        };
        let spec = std::sync::Arc::new(spec);
        let shared_count = options.shared_clients.max(1);
        let clients = std::sync::OnceLock::new();
        if !options.own_client_per_worker {
            // Built now, so that a client that cannot be made is an error before the run.
            let built = build_shared(&spec, shared_count)?;
            let _ = clients.set(Ok(built));
        }
        Ok(Fetcher {
            clients: std::sync::Arc::new(clients),
            shared_count,
            spec,
            own: options.own_client_per_worker,
            timeout: options.timeout,
            connect_timeout,
            max_redirects: options.max_redirects,
            headers,
            location_trusted: options.location_trusted,
            head: options.head,
            checksum: options.checksum,
            continue_partial: options.continue_partial,
            compressed: options.compressed,
            max_size: options.max_size,
            user: options.user.clone(),
            netrc: options.netrc.clone().map(std::sync::Arc::new),
            cookie: options.cookie.clone(),
            jar: options.cookie_store.then(Default::default),
            proxies,
            accept: options.accept.clone(),
            links: options.links,
            capture: None,
            follow_redirects: options.follow_redirects,
        })
    }

    /// A fetcher like this one (the same clients and settings) that also keeps the first
    /// `max` bytes of each body in [`Page::body`], finds no links and follows redirects:
    /// for robots.txt.
    pub fn capturing(&self, max: usize) -> Fetcher {
        Fetcher {
            capture: Some(max),
            links: None,
            follow_redirects: true,
            ..self.clone()
        }
    }

    /// Parses and fetches `url`: the document's `load_url(url, timeout)`.
    ///
    /// # Errors
    /// Any [`FetchError`].
    pub fn load_url(&self, url: &str) -> Result<Page, FetchError> {
        self.fetch(Request::new(&parse_url(url)?))
    }

    /// Fetches `request.url`, streaming and counting the body (and saving it, if a target
    /// is given, atomically), within the timeout and before the request's deadline.
    ///
    /// # Errors
    /// Any [`FetchError`] but the URL ones.
    pub fn fetch(&self, request: Request<'_>) -> Result<Page, FetchError> {
        match self.own.then(|| self.spec.for_this_thread()).flatten() {
            Some(own) => self.fetch_on(Transport::Own(&own), request),
            None => self.fetch_on(Transport::Shared, request),
        }
    }

    /// The shared client this thread uses (the shared clients are built on first use if
    /// they were not): threads are spread over them in the order they first fetch, and
    /// keep theirs.
    fn shared_client(&self) -> Result<&Client, FetchError> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        thread_local! {
            static THIS_THREAD: usize =
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let clients = self
            .clients
            .get_or_init(|| build_shared(&self.spec, self.shared_count))
            .as_ref()
            .map_err(|e| FetchError::Io(format!("cannot set up the HTTP client: {e}")))?;
        Ok(&clients[THIS_THREAD.with(|i| *i) % clients.len()])
    }

    /// [`fetch`](Self::fetch) through `transport`.
    fn fetch_on(&self, transport: Transport<'_>, request: Request<'_>) -> Result<Page, FetchError> {
        let Request {
            url,
            deadline,
            target,
            credentials,
        } = request;
        let (limit, by_deadline) = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(FetchError::Deadline);
                }
                (left.min(self.timeout), left < self.timeout)
            }
            None => (self.timeout, false),
        };
        let until = Instant::now().checked_add(limit);
        // `--continue`: ask for the rest of a partial body a previous run left, if its
        // validator was kept; a server that cannot continue it sends it whole.
        let mut resume = target
            .filter(|_| self.continue_partial)
            .and_then(crate::fetch::save::resumable);
        let budget = Budget {
            limit,
            until,
            by_deadline,
        };
        let (response, last_url, location) = loop {
            let answer = self.follow(transport, url, credentials, budget, resume.as_ref())?;
            if resume.is_some() && answer.0.status().as_u16() == 416 {
                resume = None; // not satisfiable: the partial is not a prefix any more
                continue;
            }
            break answer;
        };
        let status = response.status();
        if status.as_u16() >= 400 && !self.accepts(status.as_u16()) {
            let retry_after = match status.as_u16() {
                429 | 503 => response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after),
                _ => None,
            };
            return Err(FetchError::HttpStatus {
                code: status.as_u16(),
                reason: status.canonical_reason().unwrap_or("Unknown").to_string(),
                retry_after,
            });
        }
        // A redirect not followed (`--crawl`): its body is read, not saved, no links.
        let (target, resume) = match &location {
            Some(_) => (None, None),
            None => (target, resume),
        };
        let mut page = self
            .read_response(response, &last_url, target, budget, resume)
            .map_err(|e| e.after_response(status.as_u16()))?;
        if let Some(location) = location {
            page.links = crate::crawl::links::PageLinks::default();
            page.location = Some(location.into());
        }
        Ok(page)
    }

    /// Reads (and saves, and decodes) the body of a response that arrived with a success
    /// status (or an accepted one), within `limit`.
    fn read_response(
        &self,
        mut response: Resp<'_>,
        last_url: &Url,
        target: Option<&Target>,
        budget: Budget,
        resume: Option<(u64, String)>,
    ) -> Result<Page, FetchError> {
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // Read from the header: reqwest's `content_length()` is the body's, 0 for HEAD.
        let content_length = response
            .headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let Body {
            saved,
            links,
            captured,
        } = if self.head {
            Body {
                saved: Saved::default(),
                links: None,
                captured: None,
            }
        } else {
            let (from, expected) = match (&resume, status.as_u16()) {
                (Some((len, _)), 206) => {
                    let total = content_range_from(&response, *len).ok_or_else(|| {
                        FetchError::Io(format!(
                            "the server did not continue the body at byte {len}"
                        ))
                    })?;
                    (*len, total.or(content_length.map(|n| n + len)))
                }
                _ => (0, content_length),
            };
            let classify =
                |e: &reqwest::Error| self.classify(e, last_url, budget.limit, budget.by_deadline);
            let html = content_type.as_deref().is_some_and(is_html);
            let links = self.links.filter(|_| html).map(LinkExtractor::new);
            self.read_body_of(&mut response, target, from, expected, links, &classify)?
        };
        Ok(Page {
            status: status.as_u16(),
            bytes: saved.bytes,
            path: saved.path,
            sha256: saved.sha256,
            resumed_from: saved.resumed_from,
            wire_bytes: saved.wire_bytes,
            links: links.map(|x| x.finish(last_url)).unwrap_or_default(),
            body: captured,
            location: None,
            final_url: crate::redact::redact_url(last_url.as_str()).into_owned(),
            content_type,
            content_length,
            head: self.head,
        })
    }

    /// Streams the body into its sink (counted, hashed, saved as `target`), decoding it
    /// with `--compressed`, from byte `from` of `expected` (when known), checking the size
    /// limit and, at the end, the length.
    fn read_body_of(
        &self,
        response: &mut Resp<'_>,
        target: Option<&Target>,
        from: u64,
        expected: Option<u64>,
        links: Option<LinkExtractor>,
        classify: &dyn Fn(&reqwest::Error) -> FetchError,
    ) -> Result<Body, FetchError> {
        let shown =
            |t: &Target| crate::redact::redact_url(&t.path().display().to_string()).into_owned();
        let save_error = |e: io::Error| {
            FetchError::Save(format!("{}: {e}", target.map(shown).unwrap_or_default()))
        };
        if let (Some(max), Some(total), false) = (self.max_size, expected, self.compressed)
            && total > max
        {
            return Err(FetchError::TooLarge(max));
        }
        let encodings = if self.compressed {
            content_encodings(response)
        } else {
            Vec::new()
        };
        // Each encoding is a reader inside the last: a chain of thousands would overflow
        // the stack (curl allows 5: CVE-2022-32206).
        if encodings.len() > MAX_ENCODINGS {
            return Err(FetchError::Decode(format!(
                "{} content encodings (at most {MAX_ENCODINGS} are decoded)",
                encodings.len()
            )));
        }
        // Only a saved body can be continued later.
        let validator = target.and_then(|_| validator_of(response));
        let mut sink = BodySink::open(
            target,
            self.checksum,
            Some((from, validator.as_deref())),
            self.continue_partial,
        )
        .map_err(save_error)?;
        if let Some(links) = links {
            sink.find_links(links);
        }
        if let Some(max) = self.capture {
            sink.capture(max);
        }
        let wire = Cell::new(from);
        // The network's own failure under a decoder (a timeout, a reset), which a decoder
        // would otherwise report as its own.
        let failed = std::cell::RefCell::new(None);
        let result = match response {
            // A worker's own client, body not encoded: every chunk goes to the sink as it
            // arrives, inside one trip into the runtime, with no copy in between.
            Resp::Own { rt, response, .. } if encodings.is_empty() => rt.block_on(async {
                loop {
                    match response.chunk().await {
                        Ok(Some(chunk)) => {
                            let n = chunk.len() as u64;
                            if self.max_size.is_some_and(|max| sink.bytes() + n > max) {
                                return Err(BodyError::TooLarge(self.max_size.unwrap_or(0)));
                            }
                            wire.set(wire.get() + n);
                            sink.write(&chunk).map_err(BodyError::Write)?;
                        }
                        Ok(None) => return Ok(()),
                        Err(e) => return Err(BodyError::Read(io::Error::other(e))),
                    }
                }
            }),
            response => {
                let mut reader: Box<dyn Read + '_> = Box::new(Counting {
                    inner: response,
                    count: &wire,
                    failed: &failed,
                });
                let mut decoded = Ok(());
                for encoding in encodings.iter().rev() {
                    match decoder(encoding, reader) {
                        Ok(next) => reader = next,
                        Err(e) => {
                            decoded = Err(BodyError::Read(e));
                            reader = Box::new(io::empty());
                            break;
                        }
                    }
                }
                decoded.and_then(|()| read_body(&mut reader, &mut sink, self.max_size))
            }
        };
        result.map_err(|e| match e {
            BodyError::Read(e) => match failed.take().as_ref().and_then(reqwest_error) {
                Some(re) => classify(re),
                None => match reqwest_error(&e) {
                    Some(re) => classify(re),
                    None if !encodings.is_empty() && e.kind() != io::ErrorKind::UnexpectedEof => {
                        FetchError::Decode(e.to_string())
                    }
                    None => classify_io(&e),
                },
            },
            BodyError::Write(e) => save_error(e),
            BodyError::TooLarge(max) => FetchError::TooLarge(max),
        })?;
        let bytes = wire.get();
        if let Some(expected) = expected
            && bytes < expected
        {
            // Dropping the sink removes the partial file (or, with --continue, keeps
            // it for the next run).
            return Err(FetchError::TruncatedBody(format!(
                "got {bytes} of {expected} bytes"
            )));
        }
        let links = sink.take_links();
        let captured = sink.take_captured();
        let mut saved = sink.finish().map_err(save_error)?;
        saved.resumed_from = (from > 0).then_some(from);
        saved.wire_bytes = (!encodings.is_empty()).then_some(bytes);
        Ok(Body {
            saved,
            links,
            captured,
        })
    }

    /// Sends the request and follows redirects (at most `max_redirects`), all within the
    /// budget. Only `http` and `https` targets are followed; the `-H` headers, `-u` and
    /// `-b` go to the first URL's origin only (and only with `credentials`), unless
    /// `location_trusted` (reqwest itself drops `Authorization` and `Cookie` across
    /// origins, not custom headers). Returns the final response and its URL, and, without
    /// `follow_redirects`, where a redirect pointed.
    fn follow<'t>(
        &self,
        transport: Transport<'t>,
        url: &Url,
        credentials: bool,
        budget: Budget,
        resume: Option<&(u64, String)>,
    ) -> Result<(Resp<'t>, Url, Option<Url>), FetchError> {
        let Budget {
            limit,
            until,
            by_deadline,
        } = budget;
        let mut current = url.clone();
        let mut redirects = 0;
        loop {
            let left = until.map_or(limit, |u| u.saturating_duration_since(Instant::now()));
            if left.is_zero() {
                return Err(if by_deadline {
                    FetchError::Deadline
                } else {
                    FetchError::Timeout(limit)
                });
            }
            let method = if self.head {
                reqwest::Method::HEAD
            } else {
                reqwest::Method::GET
            };
            // The same request for either transport (two builder types, one set of calls).
            macro_rules! decorated {
                ($builder:expr) => {{
                    let mut request = $builder.timeout(left);
                    let trusted =
                        credentials && (self.location_trusted || same_origin(&current, url));
                    // One Cookie header (RFC 6265): -b's cookies, then the jar's.
                    let given = self.cookie.as_ref().filter(|_| trusted);
                    if let Some(cookies) = self.cookie_header(given, &current) {
                        request = request.header(reqwest::header::COOKIE, cookies);
                    }
                    if trusted {
                        request = request.headers(self.headers.clone());
                        // A login in the URL itself wins; then -u, then --netrc.
                        if current.username().is_empty() {
                            let netrc = || {
                                let host = current.host_str()?;
                                self.netrc.as_ref()?.for_host(host)
                            };
                            match (&self.user, netrc()) {
                                (Some((user, pass)), _) => {
                                    request = request.basic_auth(user, Some(pass));
                                }
                                (None, Some((user, pass))) => {
                                    request = request.basic_auth(user, Some(pass));
                                }
                                (None, None) => {}
                            }
                        }
                    }
                    if self.compressed {
                        request = request
                            .header(reqwest::header::ACCEPT_ENCODING, "gzip, br, zstd, deflate");
                    }
                    if let Some((from, validator)) = resume {
                        request = request
                            .header(reqwest::header::RANGE, format!("bytes={from}-"))
                            .header(reqwest::header::IF_RANGE, validator.as_str());
                    }
                    request
                }};
            }
            let classify = |e: reqwest::Error| self.classify(&e, &current, limit, by_deadline);
            let response = match transport {
                Transport::Shared => {
                    let request =
                        decorated!(self.shared_client()?.request(method, current.clone()));
                    Resp::Shared(request.send().map_err(classify)?)
                }
                Transport::Own(own) => {
                    let request = decorated!(own.client.request(method, current.clone()));
                    // `send` arms the timeout's timer, so it runs inside the runtime.
                    let response = own
                        .rt
                        .block_on(async { request.send().await })
                        .map_err(classify)?;
                    Resp::Own {
                        rt: &own.rt,
                        response,
                        chunk: bytes::Bytes::new(),
                        failed: None,
                    }
                }
            };
            self.keep_cookies(&response, &current);
            let Some(next) = redirect_target(&response, &current)? else {
                return Ok((response, current, None));
            };
            if !matches!(next.scheme(), "http" | "https") {
                return Err(FetchError::UnsupportedRedirect(
                    crate::redact::redact_url(next.as_str()).into_owned(),
                ));
            }
            if !self.follow_redirects {
                return Ok((response, current, Some(next)));
            }
            redirects += 1;
            if redirects > self.max_redirects {
                return Err(FetchError::TooManyRedirects(self.max_redirects));
            }
            current = next;
        }
    }

    /// The one `Cookie` header for a request to `url`: the `-b` cookies `given` (when they
    /// go to this origin), then those the jar holds for `url` (`--cookies`); `None` if
    /// there are none.
    fn cookie_header(&self, given: Option<&HeaderValue>, url: &Url) -> Option<HeaderValue> {
        let mut pairs: Vec<String> = given
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .into_iter()
            .collect();
        if let Some(jar) = &self.jar {
            let jar = jar.lock().unwrap_or_else(|p| p.into_inner());
            pairs.extend(
                jar.get_request_values(url)
                    .map(|(name, value)| format!("{name}={value}")),
            );
        }
        if pairs.is_empty() {
            return None;
        }
        HeaderValue::from_str(&pairs.join("; ")).ok()
    }

    /// Puts the cookies `response` sets into the jar (`--cookies`).
    fn keep_cookies(&self, response: &Resp<'_>, url: &Url) {
        let Some(jar) = &self.jar else { return };
        let mut jar = jar.lock().unwrap_or_else(|p| p.into_inner());
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            if let Ok(text) = value.to_str() {
                // A cookie the store refuses (wrong domain, malformed) is just not kept.
                let _ = jar.parse(text, url);
            }
        }
    }

    /// Whether an error status is accepted as success.
    fn accepts(&self, code: u16) -> bool {
        self.accept
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&code))
    }

    /// Maps a reqwest error for a request to `url` onto our kinds. `limit` is the timeout
    /// that applied to this request and `by_deadline` says whether it came from the run's
    /// deadline. A connection that failed while `url` goes through a proxy is the proxy's
    /// failure, and says so.
    fn classify(
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
    fn classify_direct(
        &self,
        e: &reqwest::Error,
        limit: Duration,
        by_deadline: bool,
    ) -> FetchError {
        if e.is_redirect() {
            return FetchError::TooManyRedirects(self.max_redirects);
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

/// Installs the TLS crypto provider the build selected (the `rustls-ring` feature: ring)
/// as the process default, once; reqwest uses it for every client built afterwards. A
/// no-op when one is installed already or with another TLS feature.
pub fn install_tls_provider() {
    #[cfg(feature = "rustls-ring")]
    {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The total length a `206` answer's `Content-Range: bytes FROM-END/TOTAL` gives, if it
/// starts at `from` (`Some(None)` when the total is `*`); `None` if it does not.
fn content_range_from(response: &Resp<'_>, from: u64) -> Option<Option<u64>> {
    let value = response
        .headers()
        .get(reqwest::header::CONTENT_RANGE)?
        .to_str()
        .ok()?;
    let (range, total) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
    let start = range.split_once('-')?.0.trim().parse::<u64>().ok()?;
    (start == from).then(|| total.trim().parse::<u64>().ok())
}

/// What validates a partial body later (`If-Range`): a strong ETag, else Last-Modified.
fn validator_of(response: &Resp<'_>) -> Option<String> {
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    header(reqwest::header::ETAG)
        .filter(|e| !e.starts_with("W/"))
        .or_else(|| header(reqwest::header::LAST_MODIFIED))
}

/// Whether two URLs share scheme, host and port (their origin), without building it.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Where a redirect response points, resolved against `current`; `None` if the response
/// is not a redirect (or a 3xx without `Location`, which is then the final response).
fn redirect_target(response: &Resp<'_>, current: &Url) -> Result<Option<Url>, FetchError> {
    if !matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
        return Ok(None);
    }
    let Some(location) = response.headers().get(reqwest::header::LOCATION) else {
        return Ok(None);
    };
    let location = location
        .to_str()
        .map_err(|_| FetchError::Io("redirect with a Location that is not text".to_string()))?;
    current.join(location).map(Some).map_err(|e| {
        FetchError::Io(format!(
            "redirect to an invalid URL ({e}): {}",
            crate::redact::redact_url(location)
        ))
    })
}

/// Parses a `Retry-After` value: whole seconds, or an HTTP date (a date in the past
/// means no wait).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Applies the run's client settings to a reqwest client builder: the blocking one (the
/// shared client) or the async one (a worker's own); both have these methods.
macro_rules! configure {
    ($builder:expr, $spec:expr) => {{
        let spec = &$spec;
        let mut builder = $builder
            .connect_timeout(spec.connect_timeout)
            // Redirects are followed in `fetch`, which checks each target's scheme and
            // keeps the -H headers with their origin.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(spec.user_agent.clone())
            .pool_max_idle_per_host(spec.pool_idle_per_host)
            .danger_accept_invalid_certs(spec.insecure)
            .danger_accept_invalid_hostnames(spec.insecure)
            .referer(false)
            .no_proxy();
        builder = match spec.http_version {
            HttpVersion::Auto => builder,
            HttpVersion::Http1 => builder.http1_only(),
            HttpVersion::Http2 => builder.http2_prior_knowledge(),
        };
        for cert in &spec.certs {
            builder = builder.add_root_certificate(cert.clone());
        }
        if !spec.proxies.is_empty() {
            let rules = std::sync::Arc::clone(&spec.proxies);
            builder = builder.proxy(reqwest::Proxy::custom(move |url| {
                rules.for_url(url).cloned()
            }));
        }
        builder
    }};
}

/// `count` shared blocking clients from `spec`.
fn build_shared(spec: &OwnClientSpec, count: usize) -> Result<std::sync::Arc<[Client]>, String> {
    // The blocking client's own timeout (30 s by default) bounds each wait separately, not
    // the whole body read; the real deadline is set per request in `follow`.
    (0..count)
        .map(|_| {
            configure!(Client::builder().timeout(None), *spec)
                .build()
                .map_err(|e| error_chain(&e))
        })
        .collect()
}

/// How long one fetch may take: `limit` from its start, so until `until`; `by_deadline`
/// when the run's deadline, not `--timeout`, set it.
#[derive(Debug, Clone, Copy)]
struct Budget {
    limit: Duration,
    until: Option<Instant>,
    by_deadline: bool,
}

/// A body read whole: what the sink kept, and its link finder (an HTML page, `--crawl`).
struct Body {
    saved: Saved,
    links: Option<LinkExtractor>,
    captured: Option<Vec<u8>>,
}

/// Whether a `Content-Type` is HTML (or XHTML): a page whose links a crawl follows.
fn is_html(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("text/html")
        || essence.eq_ignore_ascii_case("application/xhtml+xml")
}

/// Numbers fetchers, so a worker thread's own client belongs to one.
static NEXT_FETCHER_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// What a client is built from: the shared one, and each worker's own (kept when
/// `own_client_per_worker`).
#[derive(Debug)]
struct OwnClientSpec {
    id: u64,
    connect_timeout: Duration,
    user_agent: String,
    pool_idle_per_host: usize,
    insecure: bool,
    http_version: HttpVersion,
    certs: Vec<reqwest::Certificate>,
    proxies: std::sync::Arc<ProxyRules>,
}

impl OwnClientSpec {
    /// This thread's own runtime and client for this fetcher, made on first use; `None`
    /// if they cannot be made (the shared client serves then).
    fn for_this_thread(self: &std::sync::Arc<Self>) -> Option<std::sync::Arc<OwnClient>> {
        OWN_CLIENTS.with(|clients| {
            let mut clients = clients.try_borrow_mut().ok()?;
            if let Some(own) = clients.iter().find(|c| c.id == self.id) {
                return Some(std::sync::Arc::clone(own));
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            let client =
                rt.block_on(async { configure!(reqwest::Client::builder(), **self).build() });
            let own = std::sync::Arc::new(OwnClient {
                id: self.id,
                rt,
                client: client.ok()?,
            });
            // One fetcher at a time per thread in practice; a thread that served another
            // drops that one's client.
            clients.clear();
            clients.push(std::sync::Arc::clone(&own));
            Some(own)
        })
    }
}

/// A worker thread's own runtime and async client: it drives its requests itself, with
/// no hand-off to another thread.
struct OwnClient {
    id: u64,
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

thread_local! {
    /// This thread's own clients (`own_client_per_worker`).
    static OWN_CLIENTS: std::cell::RefCell<Vec<std::sync::Arc<OwnClient>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// How one fetch reaches the network.
#[derive(Clone, Copy)]
enum Transport<'a> {
    /// A shared blocking client (its own I/O thread).
    Shared,
    /// This worker's own runtime and client.
    Own(&'a OwnClient),
}

/// A response from either transport.
enum Resp<'a> {
    /// From a shared blocking client.
    Shared(Response),
    /// From a worker's own client; the body is read chunk by chunk with `block_on`.
    Own {
        rt: &'a tokio::runtime::Runtime,
        response: reqwest::Response,
        /// What is left of the last chunk.
        chunk: bytes::Bytes,
        /// An error that came after bytes this read already returned.
        failed: Option<reqwest::Error>,
    },
}

impl Resp<'_> {
    fn status(&self) -> reqwest::StatusCode {
        match self {
            Resp::Shared(r) => r.status(),
            Resp::Own { response, .. } => response.status(),
        }
    }

    fn headers(&self) -> &HeaderMap {
        match self {
            Resp::Shared(r) => r.headers(),
            Resp::Own { response, .. } => response.headers(),
        }
    }
}

impl Read for Resp<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Resp::Shared(r) => r.read(buf),
            Resp::Own {
                rt,
                response,
                chunk,
                failed,
            } => {
                if let Some(e) = failed.take() {
                    return Err(io::Error::other(e));
                }
                // One trip into the runtime fills as much of `buf` as the chunks already
                // received allow (waiting only while nothing is there yet), so a large
                // body costs one `block_on` per buffer, not one per network chunk.
                let mut n = take_from(chunk, buf);
                if n == buf.len() {
                    return Ok(n);
                }
                rt.block_on(async {
                    loop {
                        let next = if n == 0 {
                            response.chunk().await
                        } else {
                            // Only what is ready now: never wait with bytes in hand.
                            let mut pending = std::pin::pin!(response.chunk());
                            let polled = std::future::poll_fn(|cx| {
                                std::task::Poll::Ready(pending.as_mut().poll(cx))
                            })
                            .await;
                            match polled {
                                std::task::Poll::Ready(next) => next,
                                std::task::Poll::Pending => return Ok(n),
                            }
                        };
                        match next {
                            Ok(Some(next)) => {
                                *chunk = next;
                                n += take_from(chunk, &mut buf[n..]);
                                if n == buf.len() {
                                    return Ok(n);
                                }
                            }
                            Ok(None) => return Ok(n),
                            // As the blocking client's reader does: the reqwest error
                            // inside an `io::Error`, for `classify`.
                            Err(e) if n == 0 => return Err(io::Error::other(e)),
                            // The bytes already copied go first; the error on the next read.
                            Err(e) => {
                                *failed = Some(e);
                                return Ok(n);
                            }
                        }
                    }
                })
            }
        }
    }
}

/// Copies the start of `chunk` into `buf` and consumes it; how many bytes.
fn take_from(chunk: &mut bytes::Bytes, buf: &mut [u8]) -> usize {
    let n = buf.len().min(chunk.len());
    buf[..n].copy_from_slice(&chunk[..n]);
    bytes::Buf::advance(chunk, n);
    n
}

/// Why reading a body stopped: the network's side, the disk's, or the size limit.
enum BodyError {
    /// Reading (or decoding) the response failed.
    Read(io::Error),
    /// Writing the saved file failed.
    Write(io::Error),
    /// The body went past `--max-size`.
    TooLarge(u64),
}

/// Reads the body to its end in fixed chunks into `sink`, so memory does not grow with
/// the body; stops as soon as it passes `max` bytes (a decompression bomb costs no more).
fn read_body(
    reader: &mut dyn Read,
    sink: &mut BodySink,
    max: Option<u64>,
) -> Result<(), BodyError> {
    thread_local! {
        /// Each worker's read buffer, made (and zeroed) once rather than per fetch: the
        /// zeroing alone was a third of the instructions spent per small page. It starts
        /// small and grows only when a body fills it, so a thousand workers fetching small
        /// pages do not each hold (and touch) 64 KiB.
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with(|buf| match buf.try_borrow_mut() {
        Ok(mut buf) => read_into(reader, sink, max, &mut buf),
        // Not reachable (nothing reads two bodies at once on one thread); stay correct.
        Err(_) => read_into(reader, sink, max, &mut Vec::new()),
    })
}

/// The first size of a worker's read buffer: a typical small page in one read.
const FIRST_CHUNK: usize = 8 * 1024;

/// [`read_body`] with the buffer given; grows it (up to [`CHUNK`]) while reads fill it.
fn read_into(
    reader: &mut dyn Read,
    sink: &mut BodySink,
    max: Option<u64>,
    buf: &mut Vec<u8>,
) -> Result<(), BodyError> {
    if buf.is_empty() {
        buf.resize(FIRST_CHUNK, 0);
    }
    loop {
        match reader.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                if max.is_some_and(|max| sink.bytes() + n as u64 > max) {
                    return Err(BodyError::TooLarge(max.unwrap_or(0)));
                }
                sink.write(&buf[..n]).map_err(BodyError::Write)?;
                if n == buf.len() && buf.len() < CHUNK {
                    buf.resize((buf.len() * 4).min(CHUNK), 0);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(BodyError::Read(e)),
        }
    }
}

/// Counts the bytes read through it: the body's size on the wire, before decoding. A
/// read that fails is kept in `failed` (the decoders above wrap errors in their own), and
/// the decoder gets an error of the same kind.
struct Counting<'a, R> {
    inner: R,
    count: &'a Cell<u64>,
    failed: &'a std::cell::RefCell<Option<io::Error>>,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.count.set(self.count.get() + n as u64);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let kind = e.kind();
                let message = e.to_string();
                *self.failed.borrow_mut() = Some(e);
                Err(io::Error::new(kind, message))
            }
        }
    }
}

/// Content encodings decoded at most, one inside the other (curl's limit).
const MAX_ENCODINGS: usize = 5;

/// The largest zstd window accepted (a frame that needs more is a `decode` failure): RFC
/// 9659 has HTTP encoders keep to 8 MB and decoders accept that much, and the decoder holds
/// up to a window of output, so this bounds its memory per body.
const ZSTD_MAX_WINDOW: u64 = 8 << 20;

/// The response's `Content-Encoding`s, lower case, in the order applied (`identity`
/// left out).
fn content_encodings(response: &Resp<'_>) -> Vec<String> {
    response
        .headers()
        .get_all(reqwest::header::CONTENT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e != "identity")
        .collect()
}

/// A reader that undoes `encoding` on `inner`.
///
/// # Errors
/// An encoding not supported, or a zstd frame header that cannot be read or asks for too
/// large a window.
fn decoder<'a>(encoding: &str, inner: Box<dyn Read + 'a>) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match encoding {
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(inner)),
        "deflate" => Box::new(flate2::read::ZlibDecoder::new(inner)),
        "br" => {
            // RFC 7932 windows only (16 MiB at most): brotli-decompressor accepts the
            // non-standard 1 GiB "large window" by default.
            let mut brotli = brotli_decompressor::Decompressor::new(inner, 4096);
            brotli.set_parameter(
                brotli_decompressor::BrotliDecoderParameter::BROTLI_DECODER_PARAM_LARGE_WINDOW,
                0,
            );
            Box::new(brotli)
        }
        "zstd" => Box::new(
            ruzstd::decoding::StreamingDecoder::new_with_max_window_size(inner, ZSTD_MAX_WINDOW)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}")))?,
        ),
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unsupported Content-Encoding '{other}'"),
            ));
        }
    })
}

/// The reqwest error inside an `io::Error` returned by `Response::read`.
fn reqwest_error(e: &io::Error) -> Option<&reqwest::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
}

/// An `io::Error` from reading that carries no reqwest error.
fn classify_io(e: &io::Error) -> FetchError {
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
fn causes<'a>(e: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
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

/// A TLS failure in words, if `cause` is one.
fn tls_error(cause: &(dyn StdError + 'static)) -> Option<String> {
    use rustls::{CertificateError as C, Error as R, InvalidMessage};
    let e = cause.downcast_ref::<R>()?;
    let words = match e {
        R::InvalidMessage(InvalidMessage::InvalidContentType) => {
            "the server did not answer in TLS (a plain-HTTP port?)".to_string()
        }
        R::InvalidMessage(m) => format!("the server sent a malformed TLS message ({m:?})"),
        R::InvalidCertificate(c) => match c {
            C::UnknownIssuer => "the certificate is not signed by a trusted authority".into(),
            C::Expired | C::ExpiredContext { .. } => "the certificate has expired".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "the certificate is not valid yet".into()
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "the certificate is not valid for this host name".into()
            }
            C::Revoked => "the certificate has been revoked".into(),
            C::BadSignature => "the certificate's signature is invalid".into(),
            C::BadEncoding => "the certificate is malformed".into(),
            C::Other(other) if format!("{other:?}").contains("CaUsedAsEndEntity") => {
                "the server presented a CA certificate as its own".into()
            }
            other => format!("the certificate was rejected ({other:?})"),
        },
        R::AlertReceived(alert) => format!("the server ended the TLS handshake ({alert:?})"),
        R::PeerIncompatible(p) => format!("the server's TLS is incompatible ({p:?})"),
        other => other.to_string(),
    };
    Some(words)
}

/// The innermost cause's message: reqwest's own top-level text only repeats the URL.
fn last_cause(e: &(dyn StdError + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// Every message in the chain, joined with `: `, skipping reqwest's URL-only wrapper text.
fn error_chain(e: &(dyn StdError + 'static)) -> String {
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

    #[test]
    fn retry_after_takes_seconds_or_a_date_and_a_past_date_means_now() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("18446744073709551615"),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later =
            httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3600));
        let wait = parse_retry_after(&later).unwrap();
        assert!(wait > Duration::from_secs(3500) && wait <= Duration::from_secs(3600));
        for bad in ["", "-1", "soon", "1.5"] {
            assert_eq!(parse_retry_after(bad), None, "{bad:?}");
        }
    }
}
