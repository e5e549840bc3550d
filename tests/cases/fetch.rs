//! `load_url` against the mock server: byte counts, the total deadline and every fault,
//! each classified into its own error kind.

use std::time::{Duration, Instant};

use crate::common::{MockServer, full_backlog, refused_url};
use fetchpool::fetch::{FetchError, FetchOptions, Fetcher, Page, Request};

fn fetcher(timeout: Duration) -> Fetcher {
    let mut options = FetchOptions::with_timeout(timeout);
    options.no_proxy = true;
    Fetcher::new(&options).unwrap()
}

fn load(url: &str) -> Result<Page, FetchError> {
    fetcher(Duration::from_secs(10)).load_url(url)
}

/// The status and size of a fetch, or its error.
fn sized(page: Result<Page, FetchError>) -> Result<(u16, u64), FetchError> {
    page.map(|p| (p.status, p.bytes))
}

#[test]
fn an_empty_body_is_zero_bytes() {
    let server = MockServer::start();
    assert_eq!(sized(load(&server.url("/bytes/0"))), Ok((200, 0)));
}

#[test]
fn a_small_body_is_counted_exactly() {
    let server = MockServer::start();
    assert_eq!(load(&server.url("/bytes/4321")).unwrap().bytes, 4321);
}

#[test]
fn a_chunked_body_is_counted_without_the_framing() {
    let server = MockServer::start();
    assert_eq!(load(&server.url("/chunked/12345")).unwrap().bytes, 12345);
}

#[test]
fn a_fifty_megabyte_body_is_streamed_and_counted() {
    let server = MockServer::start();
    let page = load(&server.url("/bytes/52428800")).unwrap();
    assert_eq!(page.bytes, 50 * 1024 * 1024);
}

#[test]
fn headers_later_than_the_timeout_fail_as_a_timeout() {
    let server = MockServer::start();
    let err = fetcher(Duration::from_millis(300))
        .load_url(&server.url("/delay/3000"))
        .unwrap_err();
    assert_eq!(err, FetchError::Timeout(Duration::from_millis(300)));
    assert_eq!(err.to_string(), "timed out after 300ms");
}

#[test]
fn a_body_dripping_past_the_timeout_fails_at_the_timeout_not_later() {
    // 1000 bytes at one per 10 ms would take 10 s; the total deadline is 0.5 s. A
    // per-read timeout would never fire here.
    let server = MockServer::start();
    let start = Instant::now();
    let err = fetcher(Duration::from_millis(500))
        .load_url(&server.url("/drip/10"))
        .unwrap_err();
    assert_eq!(err.kind(), "timeout");
    // The body would take 10 s: 5 s is ten times the timeout and still far from it.
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn a_body_shorter_than_its_content_length_is_a_truncated_body() {
    let server = MockServer::start();
    let err = load(&server.url("/truncate")).unwrap_err();
    assert_eq!(err.kind(), "truncated_body", "{err}");
}

#[test]
fn a_reset_mid_body_is_a_reset() {
    let server = MockServer::start();
    let err = load(&server.url("/reset")).unwrap_err();
    assert_eq!(err.kind(), "reset", "{err}");
}

#[test]
fn a_closed_port_is_connection_refused() {
    let err = load(&refused_url()).unwrap_err();
    assert_eq!(err, FetchError::ConnectionRefused);
}

#[test]
fn a_full_accept_queue_is_a_connect_timeout() {
    let backlog = full_backlog();
    let mut options = FetchOptions::with_timeout(Duration::from_secs(10));
    options.no_proxy = true;
    options.connect_timeout = Some(Duration::from_millis(300));
    let err = Fetcher::new(&options)
        .unwrap()
        .load_url(&backlog.url)
        .unwrap_err();
    assert_eq!(err, FetchError::ConnectTimeout(Duration::from_millis(300)));
}

#[test]
fn an_error_status_is_an_http_error_like_urllib() {
    let server = MockServer::start();
    let err = load(&server.url("/status/404")).unwrap_err();
    assert_eq!(err.to_string(), "HTTP Error 404: Not Found");
    let err = load(&server.url("/status/500")).unwrap_err();
    assert_eq!(err.to_string(), "HTTP Error 500: Internal Server Error");
}

#[test]
fn an_accepted_error_status_counts_as_fetched() {
    let server = MockServer::start();
    let mut options = FetchOptions::with_timeout(Duration::from_secs(10));
    options.no_proxy = true;
    options.accept = vec![(400, 499)];
    let page = Fetcher::new(&options)
        .unwrap()
        .load_url(&server.url("/status/404"))
        .unwrap();
    assert_eq!((page.status, page.bytes), (404, 11));
}

#[test]
fn a_redirect_chain_is_followed() {
    let server = MockServer::start();
    let page = load(&server.url("/redirect/3")).unwrap();
    assert_eq!((page.status, page.bytes), (200, 10));
    assert_eq!(
        page.final_url,
        server.url("/redirect/0"),
        "the URL after redirects"
    );
}

#[test]
fn a_redirect_loop_is_too_many_redirects() {
    let server = MockServer::start();
    let err = load(&server.url("/loop")).unwrap_err();
    assert_eq!(err, FetchError::TooManyRedirects(10));
}

#[test]
fn a_garbage_response_is_an_io_error() {
    let server = MockServer::start();
    let err = load(&server.url("/garbage")).unwrap_err();
    assert_eq!(err.kind(), "io", "{err}");
}

#[test]
fn text_that_is_not_a_url_is_an_invalid_url() {
    let err = load("www.example.com").unwrap_err();
    assert_eq!(err.kind(), "invalid_url");
    assert!(err.to_string().contains("add http://"), "{err}");
}

#[test]
fn a_non_http_scheme_is_unsupported() {
    assert_eq!(
        load("ftp://example.com/").unwrap_err(),
        FetchError::UnsupportedScheme("ftp".to_string())
    );
}

#[test]
fn a_deadline_already_passed_fails_without_connecting() {
    let mut server = MockServer::start();
    server.expect_no_hits();
    let url = url::Url::parse(&server.url("/bytes/1")).unwrap();
    let err = fetcher(Duration::from_secs(10))
        .fetch(Request {
            deadline: Some(Instant::now()),
            ..Request::new(&url)
        })
        .unwrap_err();
    assert_eq!(err, FetchError::Deadline);
}

#[test]
fn a_fetch_cut_by_the_run_deadline_fails_as_past_the_deadline() {
    let server = MockServer::start();
    let url = url::Url::parse(&server.url("/delay/3000")).unwrap();
    let err = fetcher(Duration::from_secs(10))
        .fetch(Request {
            deadline: Some(Instant::now() + Duration::from_millis(200)),
            ..Request::new(&url)
        })
        .unwrap_err();
    assert_eq!(err, FetchError::Deadline);
}

#[test]
fn one_client_serves_many_threads() {
    let server = MockServer::start();
    let f = fetcher(Duration::from_secs(10));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let (f, url) = (f.clone(), server.url(&format!("/bytes/{i}")));
            std::thread::spawn(move || f.load_url(&url))
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap().unwrap().bytes, i as u64);
    }
}

#[test]
fn https_to_a_plain_http_server_is_a_tls_error() {
    let server = MockServer::start();
    let url = server.url("/bytes/1").replace("http://", "https://");
    let err = load(&url).unwrap_err();
    assert_eq!(err.kind(), "tls", "{err}");
    // In words, whether the server answered in plain HTTP or closed the connection.
    assert!(err.to_string().ends_with("(a plain-HTTP port?)"), "{err}");
}

#[test]
fn a_name_that_cannot_resolve_is_a_dns_error() {
    // `.invalid` is reserved (RFC 6761): it never resolves.
    let err = load("http://fetchpool-test.invalid/").unwrap_err();
    assert_eq!(err.kind(), "dns", "{err}");
}

#[test]
fn a_server_answering_the_tls_handshake_in_plain_http_is_a_tls_error_in_words() {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        // One connection: answer at once, in plain HTTP, whatever the client sent.
        if let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let err = load(&format!("https://127.0.0.1:{port}/")).unwrap_err();
    server.join().unwrap();
    assert_eq!(err.kind(), "tls", "{err}");
    assert_eq!(
        err.to_string(),
        "TLS error: the server did not answer in TLS (is it a plain-HTTP port? try http://)"
    );
}

#[test]
fn a_workers_own_client_and_the_shared_clients_give_the_same_outcome_for_every_fault() {
    let server = MockServer::start();
    let urls: Vec<String> = [
        "/bytes/0",
        "/bytes/70000",
        "/chunked/5000",
        "/status/404",
        "/status/503",
        "/redirect/3",
        "/loop",
        "/truncate",
        "/reset",
        "/garbage",
        "/delay/5000",
    ]
    .iter()
    .map(|p| server.url(p))
    .chain([refused_url()])
    .collect();
    let fetcher = |own: bool, shared_clients: usize| {
        let mut options = FetchOptions::with_timeout(Duration::from_secs(1));
        options.no_proxy = true;
        options.own_client_per_worker = own;
        options.shared_clients = shared_clients;
        Fetcher::new(&options).unwrap()
    };
    let outcome = |fetcher: &Fetcher| {
        urls.iter()
            .map(|u| {
                fetcher
                    .load_url(u)
                    .map(|p| (p.status, p.bytes, p.final_url))
            })
            .collect::<Vec<_>>()
    };
    let shared = outcome(&fetcher(false, 1));
    let own = outcome(&fetcher(true, 1));
    assert!(
        matches!(shared[10], Err(FetchError::Timeout(_))),
        "{shared:?}"
    );
    assert_eq!(shared, own);
    // Three threads over two shared clients: each thread keeps one, two share one.
    let spread = fetcher(false, 2);
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..3).map(|_| s.spawn(|| outcome(&spread))).collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), shared);
        }
    });
}
