//! Fetching one URL: `load_url`, with a total deadline, streamed byte counting and
//! classified errors. The client is [`Fetcher`]; its options are [`options`], its errors
//! [`error`], the network under it `transport`, the body `body`, and where a body is
//! saved [`save`] and [`names`].

mod body;
pub(crate) mod error;
pub(crate) mod names;
pub(crate) mod netrc;
pub(crate) mod options;
pub(crate) mod proxy;
pub(crate) mod save;
mod tls;
mod transport;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use url::Url;

pub use error::{FetchError, fmt_duration};
pub use options::{AcceptedStatuses, FetchOptions, HttpVersion};
pub use transport::install_tls_provider;

use crate::fetch::proxy::ProxyRules;
use crate::fetch::save::{Resume, ResumeKind, Target};
use crate::warc::capture::Capture;

/// The most of a body the fetch does not read (a redirect's, an error page's) that the
/// WARC keeps; the rest is cut (`WARC-Truncated: length`).
const DRAINED: u64 = 10 * 1024 * 1024;
use crate::sync::Recover;
use transport::{NEXT_FETCHER_ID, OwnClientSpec, Resp, Transport, build_shared};

/// How long to wait for a connection at most, whatever `--timeout` says.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Checks that `text` is an absolute `http`/`https` URL with a host.
///
/// # Errors
/// [`FetchError::InvalidUrl`] or [`FetchError::UnsupportedScheme`].
pub(crate) fn parse_url(text: &str) -> Result<Url, FetchError> {
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
    /// Every option, as the command line gave them (shared by every clone).
    options: std::sync::Arc<FetchOptions>,
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
    /// The connect timeout actually configured, for error messages.
    connect_timeout: Duration,
    /// The `-H` headers, sent to the URL's own origin (and to others if
    /// `location_trusted`).
    headers: HeaderMap,
    /// `--cookies`: the run's cookie jar, shared by every clone of the fetcher. Kept here
    /// rather than by reqwest, whose cookie layer re-parses every request's URL even
    /// without a jar.
    jar: Option<std::sync::Arc<std::sync::Mutex<cookie_store::CookieStore>>>,
    /// Which proxy each URL goes through (to name it when it fails).
    proxies: std::sync::Arc<ProxyRules>,
    /// Keep the first bytes of bodies, up to this many ([`Page::body`]).
    capture: Option<usize>,
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
        // --cacert: its own TLS configuration (the file's certificates as roots, and as
        // servers' own certificates); -k needs none.
        let tls = match (&options.cacert, options.insecure) {
            (Some(pem), false) => Some(std::sync::Arc::new(tls::client_config(
                tls::certificates(pem)?,
                options.http_version,
            )?)),
            _ => None,
        };
        let proxies = std::sync::Arc::new(proxies);
        let spec = OwnClientSpec {
            id: NEXT_FETCHER_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            connect_timeout,
            user_agent: options.user_agent.clone(),
            pool_idle_per_host: options.pool_idle_per_host,
            insecure: options.insecure,
            http_version: options.http_version,
            tls,
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
            options: std::sync::Arc::new(options.clone()),
            clients: std::sync::Arc::new(clients),
            shared_count,
            spec,
            own: options.own_client_per_worker,
            connect_timeout,
            headers,
            jar: options.cookie_store.then(Default::default),
            proxies,
            capture: None,
        })
    }

    /// A fetcher like this one (the same clients and settings) that also keeps the first
    /// `max` bytes of each body in [`Page::body`], finds no links and follows redirects:
    /// for robots.txt.
    pub(crate) fn capturing(&self, max: usize) -> Fetcher {
        Fetcher {
            capture: Some(max),
            options: std::sync::Arc::new(FetchOptions {
                links: None,
                follow_redirects: true,
                capture: None,
                ..(*self.options).clone()
            }),
            ..self.clone()
        }
    }

    /// A fetcher like [`capturing`](Self::capturing) that keeps whole bodies of at most
    /// `max` bytes (decoded, with `--compressed`) and fails a longer one as too large: for
    /// sitemaps.
    pub(crate) fn reading_whole(&self, max: u64) -> Fetcher {
        let mut fetcher = self.capturing(usize::try_from(max).unwrap_or(usize::MAX));
        fetcher.options = std::sync::Arc::new(FetchOptions {
            max_size: Some(max),
            ..(*fetcher.options).clone()
        });
        fetcher
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
        self.fetch_with(request, None)
    }

    /// [`fetch`](Self::fetch), and with `--warc-file` ([`FetchOptions::capture`]) each
    /// HTTP exchange it made (redirect hops included) captured for the WARC file. A
    /// spool that could not be written is the second value's error.
    pub(crate) fn fetch_capturing(
        &self,
        request: Request<'_>,
    ) -> (
        Result<Page, FetchError>,
        Vec<crate::warc::capture::Exchange>,
        Option<String>,
    ) {
        let Some(options) = &self.options.capture else {
            return (self.fetch_with(request, None), Vec::new(), None);
        };
        let capture = crate::warc::capture::Capture::new(options);
        let result = self.fetch_with(request, Some(&capture));
        let (exchanges, failed) = capture.finish();
        let failed = failed.map(|e| format!("cannot spool a body for the WARC file: {e}"));
        (result, exchanges, failed)
    }

    fn fetch_with(
        &self,
        request: Request<'_>,
        cap: Option<&Capture<'_>>,
    ) -> Result<Page, FetchError> {
        match self.own.then(|| self.spec.for_this_thread()).flatten() {
            Some(own) => self.fetch_on(Transport::Own(&own), request, cap),
            None => self.fetch_on(Transport::Shared, request, cap),
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
    fn fetch_on(
        &self,
        transport: Transport<'_>,
        request: Request<'_>,
        cap: Option<&Capture<'_>>,
    ) -> Result<Page, FetchError> {
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
                (left.min(self.options.timeout), left < self.options.timeout)
            }
            None => (self.options.timeout, false),
        };
        let until = Instant::now().checked_add(limit);
        // `--continue`: ask for the rest of a partial body a previous run left, if its
        // validator was kept (a server that cannot continue it sends it whole), or of a
        // file another tool left under the final name (not with --crawl, whose pages keep
        // what the folder held).
        let mut resume = target
            .filter(|_| self.options.continue_partial)
            .and_then(|t| save::resumable(t, self.options.links.is_none()));
        let budget = Budget {
            limit,
            until,
            by_deadline,
        };
        let (response, last_url, location) = loop {
            let mut answer =
                self.follow(transport, url, credentials, budget, resume.as_ref(), cap)?;
            let own = resume
                .as_ref()
                .is_some_and(|r| matches!(r.kind, ResumeKind::Own(_)));
            if own && answer.0.status().as_u16() == 416 {
                if let Some(cap) = cap {
                    cap.drain(&mut answer.0, DRAINED);
                }
                resume = None; // not satisfiable: the partial is not a prefix any more
                continue;
            }
            break answer;
        };
        let mut response = response;
        let status = response.status();
        // Whatever is decided below without reading the body, the archive keeps it.
        let drain = |response: &mut Resp<'_>| {
            if let Some(cap) = cap {
                cap.drain(response, self.options.max_size.unwrap_or(DRAINED));
            }
        };
        if let (
            Some(Resume {
                from,
                kind: ResumeKind::Visible,
            }),
            Some(target),
        ) = (&resume, target)
        {
            let header = |name| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v: &HeaderValue| v.to_str().ok())
                    .map(|v| v.trim().to_string())
            };
            match status.as_u16() {
                206 => {}
                // Nothing left to send: the file may be the whole body.
                416 => {
                    let total = header(reqwest::header::CONTENT_RANGE)
                        .and_then(|v| v.strip_prefix("bytes */")?.parse::<u64>().ok());
                    drain(&mut response);
                    return self.already_whole(status.as_u16(), total, &last_url, target, *from);
                }
                // The whole body instead of its rest: if it is as long as the file, the
                // file is taken for it (as wget -c does); otherwise the file is kept.
                code if code < 300 => {
                    let total = header(reqwest::header::CONTENT_LENGTH)
                        .and_then(|v| v.parse::<u64>().ok())
                        .filter(|&n| n == *from);
                    drain(&mut response);
                    if total.is_some() {
                        return self.already_whole(code, total, &last_url, target, *from);
                    }
                    return Err(FetchError::Save(format!(
                        "{}: the server sent the whole body, not the rest from byte {from} (it \
                         does not continue bodies): the file is kept as it is; remove it to \
                         fetch it again",
                        target.path().display()
                    )));
                }
                _ => {}
            }
        }
        if status.as_u16() >= 400 && !self.accepts(status.as_u16()) {
            let retry_after = match status.as_u16() {
                429 | 503 => response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after),
                _ => None,
            };
            drain(&mut response);
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
            .read_response(response, &last_url, target, budget, resume, cap)
            .map_err(|e| e.after_response(status.as_u16()))?;
        if let Some(location) = location {
            page.links = crate::crawl::links::PageLinks::default();
            page.location = Some(location.into());
        }
        Ok(page)
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
        resume: Option<&Resume>,
        cap: Option<&Capture<'_>>,
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
            let hop = self.hop(&current, url, credentials, resume);
            let classify = |e: reqwest::Error| self.classify(&e, &current, limit, by_deadline);
            let mut response = self.send(transport, &current, left, hop, classify, cap)?;
            self.keep_cookies(&response, &current);
            let Some(next) = redirect_target(&response, &current)? else {
                return Ok((response, current, None));
            };
            // A hop the client leaves: its body is archived, not read otherwise.
            if let (Some(cap), true) = (cap, self.options.follow_redirects) {
                cap.drain(&mut response, DRAINED);
            }
            if !matches!(next.scheme(), "http" | "https") {
                return Err(FetchError::UnsupportedRedirect(
                    crate::redact::redact_url(next.as_str()).into_owned(),
                ));
            }
            if !self.options.follow_redirects {
                return Ok((response, current, Some(next)));
            }
            redirects += 1;
            if redirects > self.options.max_redirects {
                return Err(FetchError::TooManyRedirects(self.options.max_redirects));
            }
            current = next;
        }
    }

    /// What a request to `current` carries besides the client's own headers: the Cookie
    /// header, the `-H` headers and a login (where `credentials` allow and the origin is
    /// `url`'s, or `--location-trusted`), `Accept-Encoding` and `Range`.
    fn hop<'a>(
        &'a self,
        current: &Url,
        url: &Url,
        credentials: bool,
        resume: Option<&Resume>,
    ) -> Hop<'a> {
        let mut headers = HeaderMap::new();
        let trusted = credentials && (self.options.location_trusted || same_origin(current, url));
        // One Cookie header (RFC 6265): -b's cookies, then the jar's.
        let given = self.options.cookie.as_ref().filter(|_| trusted);
        if let Some(cookies) = self.cookie_header(given, current) {
            headers.insert(reqwest::header::COOKIE, cookies);
        }
        let mut login = None;
        if trusted {
            headers.extend(self.headers.clone());
            // A login in the URL itself wins; then -u, then --netrc.
            if current.username().is_empty() {
                let netrc = || {
                    let host = current.host_str()?;
                    self.options.netrc.as_ref()?.for_host(host)
                };
                login = match (&self.options.user, netrc()) {
                    (Some((user, pass)), _) => Some((user.as_str(), pass.as_str())),
                    (None, netrc) => netrc,
                };
            }
        }
        if self.options.compressed {
            headers.insert(
                reqwest::header::ACCEPT_ENCODING,
                HeaderValue::from_static("gzip, br, zstd, deflate"),
            );
        }
        if let Some(Resume { from, kind }) = resume
            && let Ok(range) = HeaderValue::from_str(&format!("bytes={from}-"))
        {
            match kind {
                ResumeKind::Own(validator) => {
                    if let Ok(if_range) = HeaderValue::from_str(validator) {
                        headers.insert(reqwest::header::RANGE, range);
                        headers.insert(reqwest::header::IF_RANGE, if_range);
                    }
                }
                ResumeKind::Visible => {
                    headers.insert(reqwest::header::RANGE, range);
                }
            }
        }
        Hop { headers, login }
    }

    /// Sends one request to `current` through `transport`, within `left`; a transport
    /// error becomes a [`FetchError`] by `classify`.
    fn send<'t>(
        &self,
        transport: Transport<'t>,
        current: &Url,
        left: Duration,
        hop: Hop<'_>,
        classify: impl Fn(reqwest::Error) -> FetchError,
        cap: Option<&Capture<'_>>,
    ) -> Result<Resp<'t>, FetchError> {
        let method = if self.options.head {
            reqwest::Method::HEAD
        } else {
            reqwest::Method::GET
        };
        // The same calls on either transport's builder (two types, one set of methods).
        macro_rules! decorated {
            ($builder:expr) => {{
                let mut request = $builder.timeout(left).headers(hop.headers);
                if let Some((user, pass)) = hop.login {
                    request = request.basic_auth(user, Some(pass));
                }
                request
            }};
        }
        let method_name = method.as_str().to_string();
        let announce = |headers: &HeaderMap| {
            if let Some(cap) = cap {
                cap.request(&method_name, current, &self.sent_fields(headers));
            }
        };
        let answered = |status: reqwest::StatusCode, headers: &HeaderMap, ip| {
            if let Some(cap) = cap {
                let fields: Vec<(String, Vec<u8>)> = headers
                    .iter()
                    .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
                    .collect();
                let reason = status.canonical_reason().unwrap_or("");
                cap.response(status.as_u16(), reason, &fields, ip);
            }
        };
        Ok(match transport {
            Transport::Shared => {
                let client = self.shared_client()?;
                let request = decorated!(client.request(method, current.clone()))
                    .build()
                    .map_err(&classify)?;
                announce(request.headers());
                let response = client.execute(request).map_err(classify)?;
                answered(
                    response.status(),
                    response.headers(),
                    response.remote_addr().map(|a| a.ip()),
                );
                Resp::Shared(response)
            }
            Transport::Own(own) => {
                let request = decorated!(own.client.request(method, current.clone()))
                    .build()
                    .map_err(&classify)?;
                announce(request.headers());
                // `execute` arms the timeout's timer, so it runs inside the runtime.
                let response = own
                    .rt
                    .block_on(async { own.client.execute(request).await })
                    .map_err(classify)?;
                answered(
                    response.status(),
                    response.headers(),
                    response.remote_addr().map(|a| a.ip()),
                );
                Resp::Own {
                    rt: &own.rt,
                    response,
                    chunk: bytes::Bytes::new(),
                    failed: None,
                }
            }
        })
    }

    /// The fields a request carries besides `Host`, in the order sent: the client's own
    /// (`User-Agent`, `Accept`), then `headers`.
    fn sent_fields(&self, headers: &HeaderMap) -> Vec<(String, Vec<u8>)> {
        let mut fields = vec![
            (
                "user-agent".to_string(),
                self.options.user_agent.as_bytes().to_vec(),
            ),
            ("accept".to_string(), b"*/*".to_vec()),
        ];
        fields.extend(
            headers
                .iter()
                .filter(|(n, _)| *n != reqwest::header::USER_AGENT && *n != reqwest::header::ACCEPT)
                .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec())),
        );
        fields
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
            let jar = jar.lock().recover();
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
        let mut jar = jar.lock().recover();
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            if let Ok(text) = value.to_str() {
                // A cookie the store refuses (wrong domain, malformed) is just not kept.
                let _ = jar.parse(text, url);
            }
        }
    }

    /// Whether an error status is accepted as success.
    fn accepts(&self, code: u16) -> bool {
        self.options
            .accept
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&code))
    }
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
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
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

/// What one request of a fetch carries (a hop: the first request, or one after a
/// redirect) besides the client's own headers.
struct Hop<'a> {
    headers: HeaderMap,
    /// Basic-auth login and password.
    login: Option<(&'a str, &'a str)>,
}

/// How long one fetch may take: `limit` from its start, so until `until`; `by_deadline`
/// when the run's deadline, not `--timeout`, set it.
#[derive(Debug, Clone, Copy)]
struct Budget {
    limit: Duration,
    until: Option<Instant>,
    by_deadline: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

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
