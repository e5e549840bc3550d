//! How a fetch reaches the network: the shared blocking clients, or a worker thread's own
//! runtime and async client, both built from one configuration, and one response type over
//! the two.

use std::io::{self, Read};
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use reqwest::header::HeaderMap;

use crate::fetch::error::error_chain;
use crate::fetch::options::HttpVersion;
use crate::fetch::proxy::ProxyRules;

/// Installs the TLS crypto provider the build selected (the `rustls-ring` feature: ring)
/// as the process default, once; reqwest uses it for every client built afterwards. A
/// no-op when one is installed already or with another TLS feature.
pub fn install_tls_provider() {
    #[cfg(feature = "rustls-ring")]
    {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
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
        if let Some(tls) = &spec.tls {
            builder = builder.use_preconfigured_tls((**tls).clone());
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
pub(super) fn build_shared(
    spec: &OwnClientSpec,
    count: usize,
) -> Result<std::sync::Arc<[Client]>, String> {
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

/// Numbers fetchers, so a worker thread's own client belongs to one.
pub(super) static NEXT_FETCHER_ID: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

/// What a client is built from: the shared one, and each worker's own (kept when
/// `own_client_per_worker`).
#[derive(Debug)]
pub(super) struct OwnClientSpec {
    pub(super) id: u64,
    pub(super) connect_timeout: Duration,
    pub(super) user_agent: String,
    pub(super) pool_idle_per_host: usize,
    pub(super) insecure: bool,
    pub(super) http_version: HttpVersion,
    /// `--cacert`'s TLS configuration (`crate::fetch::tls`), used instead of reqwest's.
    pub(super) tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    pub(super) proxies: std::sync::Arc<ProxyRules>,
}

impl OwnClientSpec {
    /// This thread's own runtime and client for this fetcher, made on first use; `None`
    /// if they cannot be made (the shared client serves then).
    pub(super) fn for_this_thread(
        self: &std::sync::Arc<Self>,
    ) -> Option<std::sync::Arc<OwnClient>> {
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
pub(super) struct OwnClient {
    pub(super) id: u64,
    pub(super) rt: tokio::runtime::Runtime,
    pub(super) client: reqwest::Client,
}

thread_local! {
    /// This thread's own clients (`own_client_per_worker`).
    static OWN_CLIENTS: std::cell::RefCell<Vec<std::sync::Arc<OwnClient>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// How one fetch reaches the network.
#[derive(Clone, Copy)]
pub(super) enum Transport<'a> {
    /// A shared blocking client (its own I/O thread).
    Shared,
    /// This worker's own runtime and client.
    Own(&'a OwnClient),
}

/// A response from either transport.
pub(super) enum Resp<'a> {
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
    pub(super) fn status(&self) -> reqwest::StatusCode {
        match self {
            Resp::Shared(r) => r.status(),
            Resp::Own { response, .. } => response.status(),
        }
    }

    pub(super) fn headers(&self) -> &HeaderMap {
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
