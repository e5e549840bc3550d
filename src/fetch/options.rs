//! How to fetch: [`FetchOptions`], the HTTP client flags of the command line, in one
//! place. Serialisable, so that `--executor process` hands them to each worker process;
//! the serde helpers for its header fields are beside it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
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
    /// `--warc-file`: each exchange is captured for the WARC file (by
    /// [`Fetcher::fetch_capturing`](crate::fetch::Fetcher::fetch_capturing)).
    pub capture: Option<crate::warc::CaptureOptions>,
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

/// The HTTP flags of the command line, flattened into the command's arguments
/// (`cli::Cli`): a new fetch option is a flag here, its field in
/// [`FetchOptions`], the line of [`FetchOptions::from_args`] between them, and the code
/// where it acts.
#[derive(Debug, clap::Args)]
pub(crate) struct HttpArgs {
    /// Extra request header, "Name: value" (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER", value_parser = parse_header, help_heading = "HTTP")]
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,

    /// User-Agent header [default: fetchpool/VERSION].
    #[arg(short = 'A', long, value_name = "TEXT", value_parser = parse_user_agent, help_heading = "HTTP")]
    pub(crate) user_agent: Option<String>,

    /// Redirects to follow before failing (at most 1000).
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u16).range(0..=1000), help_heading = "HTTP")]
    pub(crate) max_redirects: u16,

    /// Send the -H headers after a redirect to another host too (by default they go to
    /// the URL's own scheme, host and port only, as curl does).
    #[arg(long, help_heading = "HTTP")]
    pub(crate) location_trusted: bool,

    /// Error statuses to count as success, e.g. "404" or "400-499,503" (repeatable).
    #[arg(long, value_name = "CODES", value_delimiter = ',', value_parser = parse_status_range, help_heading = "HTTP")]
    pub(crate) accept: Vec<(u16, u16)>,

    /// Basic authentication for each URL's own host: USER:PASS, or USER with the password
    /// in FETCHPOOL_PASSWORD (nothing is prompted).
    #[arg(short = 'u', long, value_name = "USER[:PASS]", help_heading = "HTTP")]
    pub(crate) user: Option<String>,

    /// Logins from ~/.netrc (or the file NETRC names) for the hosts it lists.
    #[arg(long, help_heading = "HTTP")]
    pub(crate) netrc: bool,

    /// The proxy for every URL, instead of http_proxy/https_proxy/all_proxy (no_proxy
    /// still applies).
    #[arg(long, value_name = "URL", value_parser = parse_proxy, help_heading = "HTTP")]
    pub(crate) proxy: Option<url::Url>,

    /// Also trust the certificates of this PEM file.
    #[arg(long, value_name = "FILE", help_heading = "HTTP")]
    pub(crate) cacert: Option<PathBuf>,

    /// Speak HTTP/1.1 only.
    #[arg(long = "http1.1", conflicts_with = "http2", help_heading = "HTTP")]
    pub(crate) http1_1: bool,

    /// Speak HTTP/2 only, without negotiating (also on http://).
    #[arg(long, help_heading = "HTTP")]
    pub(crate) http2: bool,

    /// Keep the cookies servers set and send them back, for the whole run.
    #[arg(long, help_heading = "HTTP")]
    pub(crate) cookies: bool,

    /// Send this cookie to each URL's own host (repeatable).
    #[arg(short = 'b', long = "cookie", value_name = "NAME=VALUE",
          value_parser = parse_cookie, help_heading = "HTTP")]
    pub(crate) cookie: Vec<String>,

    /// Do not verify TLS certificates (off by default).
    #[arg(short = 'k', long, help_heading = "HTTP")]
    pub(crate) insecure: bool,

    /// Ignore http_proxy, https_proxy and all_proxy from the environment.
    #[arg(long, help_heading = "HTTP")]
    pub(crate) no_proxy: bool,

    /// Ask for gzip, br, zstd or deflate and decode: the record has the decoded size and
    /// the size on the wire.
    #[arg(long, conflicts_with = "continue_partial", help_heading = "HTTP")]
    pub(crate) compressed: bool,

    /// Fail a body larger than SIZE bytes (decoded, with --compressed): "10M", "512k",
    /// "1G" or a number.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, help_heading = "HTTP")]
    pub(crate) max_size: Option<u64>,

    /// The request method.
    #[arg(
        short = 'X',
        long = "request",
        value_name = "METHOD",
        value_enum,
        help_heading = "HTTP"
    )]
    pub(crate) method: Option<Method>,
}

impl FetchOptions {
    /// The options the HTTP flags describe, over the defaults (the files they name, the
    /// netrc and a CA bundle, are read here); the command sets the others (timeouts, the
    /// method, what the run needs).
    ///
    /// # Errors
    /// A file a flag names cannot be read, or a value is not usable.
    pub(crate) fn from_args(args: &HttpArgs) -> anyhow::Result<Self> {
        let mut o = FetchOptions {
            max_redirects: usize::from(args.max_redirects),
            location_trusted: args.location_trusted,
            headers: args.headers.clone(),
            insecure: args.insecure,
            no_proxy: args.no_proxy,
            accept: args.accept.clone(),
            compressed: args.compressed,
            max_size: args.max_size,
            proxy: args.proxy.clone(),
            cookie_store: args.cookies,
            head: args.method == Some(Method::Head),
            ..FetchOptions::default()
        };
        if let Some(ua) = &args.user_agent {
            o.user_agent = ua.clone();
        }
        o.user = args.user.as_ref().map(|u| match u.split_once(':') {
            Some((user, pass)) => (user.to_string(), pass.to_string()),
            None => (
                u.clone(),
                std::env::var("FETCHPOOL_PASSWORD").unwrap_or_default(),
            ),
        });
        if args.netrc {
            o.netrc = Some(Netrc::load().map_err(anyhow::Error::msg)?);
        }
        if let Some(path) = &args.cacert {
            // A PEM bundle is small; /dev/zero is not one.
            let mut pem = Vec::new();
            std::fs::File::open(path)
                .and_then(|f| {
                    std::io::Read::read_to_end(&mut std::io::Read::take(f, 16 << 20), &mut pem)
                })
                .with_context(|| format!("cannot read --cacert {}", path.display()))?;
            o.cacert = Some(pem);
        }
        o.http_version = match (args.http1_1, args.http2) {
            (true, _) => HttpVersion::Http1,
            (_, true) => HttpVersion::Http2,
            _ => HttpVersion::Auto,
        };
        if !args.cookie.is_empty() {
            o.cookie = Some(HeaderValue::from_str(&args.cookie.join("; "))?);
        }
        Ok(o)
    }
}

/// The request method (`-X`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Method {
    /// GET: the page (the default).
    #[value(name = "GET", alias = "get")]
    Get,
    /// HEAD: the status and headers only.
    #[value(name = "HEAD", alias = "head")]
    Head,
}

/// Parses a size (the `parse-size` crate): a number of bytes, or one with a suffix `k`,
/// `M`, `G`, `T` (powers of 1024; `KiB`, `MB` and the like are read the same way), whole or
/// not (`1.5G`), at most 2^60.
///
/// # Errors
/// A message for clap.
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    use parse_size::{Config, Error};
    let size = Config::new()
        .with_binary()
        .parse_size(s.trim())
        .map_err(|e| match e {
            Error::Empty | Error::InvalidDigit => {
                "expected a number of bytes, such as 1000, 512k, 10M or 1.5G".to_string()
            }
            Error::PosOverflow => "must be at most 1024 P (2^60 bytes)".to_string(),
            other => format!("not a size ({other}); try 1000, 512k, 10M or 1.5G"),
        })?;
    if size > 1 << 60 {
        return Err("must be at most 1024 P (2^60 bytes)".to_string());
    }
    Ok(size)
}

/// Parses a proxy URL (`http://` or `https://`; `host:port` means `http://host:port`).
///
/// # Errors
/// A message for clap.
pub(crate) fn parse_proxy(s: &str) -> Result<url::Url, String> {
    let text = if s.contains("://") {
        s.to_string()
    } else {
        format!("http://{s}")
    };
    let url = url::Url::parse(&text).map_err(|e| format!("not a URL: {e}"))?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some() => Ok(url),
        _ => Err("a proxy is http://HOST:PORT or https://HOST:PORT".to_string()),
    }
}

/// Parses `NAME=VALUE` for `-b`.
///
/// # Errors
/// A message for clap.
pub(crate) fn parse_cookie(s: &str) -> Result<String, String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| "expected NAME=VALUE".to_string())?;
    let token = |c: char| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(format!("'{}' is not a cookie name", name.escape_debug()));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_graphic() && c != ';' && c != ',' && c != '\\')
    {
        return Err("a cookie value is printable ASCII without ; , \\ or spaces".to_string());
    }
    Ok(format!("{name}={value}"))
}

/// Parses `Name: value`.
///
/// # Errors
/// A message for clap.
pub(crate) fn parse_header(s: &str) -> Result<(HeaderName, HeaderValue), String> {
    // The value may be a secret (Authorization): no message shows it.
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| "not a header: expected \"Name: value\"".to_string())?;
    let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
        format!(
            "'{}' is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)",
            name.trim().escape_debug()
        )
    })?;
    let value = parse_header_value(value.trim())
        .map_err(|why| format!("the value of header '{name}' {why}"))?;
    Ok((name, value))
}

/// A header value, or why it cannot be one.
fn parse_header_value(s: &str) -> Result<HeaderValue, &'static str> {
    if s.chars().any(|c| c.is_control() && c != '\t') {
        return Err("contains a control character (such as a newline), which HTTP forbids");
    }
    HeaderValue::from_str(s).map_err(|_| "is not a valid HTTP header value")
}

/// Parses `--user-agent`: any text that is a valid header value.
///
/// # Errors
/// A message for clap.
pub(crate) fn parse_user_agent(s: &str) -> Result<String, String> {
    parse_header_value(s)
        .map(|_| s.to_string())
        .map_err(|why| format!("the User-Agent {why}"))
}

/// Parses `404` or `400-499`.
///
/// # Errors
/// A message for clap.
pub(crate) fn parse_status_range(s: &str) -> Result<(u16, u16), String> {
    let code = |t: &str| {
        t.trim()
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=999).contains(c))
            .ok_or_else(|| format!("'{t}' is not an HTTP status code"))
    };
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (code(a)?, code(b)?),
        None => (code(s)?, code(s)?),
    };
    if lo > hi {
        return Err(format!("'{s}' is an empty range"));
    }
    Ok((lo, hi))
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

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("10M"), Ok(10 << 20));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("2 GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1MB"), Ok(1 << 20), "powers of 1024, as before");
        assert_eq!(parse_size("1P"), Ok(1 << 50));
        assert!(parse_size("2E").unwrap_err().contains("at most"));
        assert!(parse_size("1X").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("-1").is_err());
    }
}
