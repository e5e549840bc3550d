//! The mock HTTP server: synchronous, on 127.0.0.1, a thread per connection, every loop
//! bounded in count and time; it checks on drop that it was hit (xh's habit).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// One scripted HTTP server on 127.0.0.1, a thread per connection, always
/// `Connection: close`. Routes (by path):
///
/// - `/bytes/N`: 200 with a body of N `x` bytes, its Content-Length, `text/plain`
/// - `/chunked/N`: 200, chunked, N bytes in chunks of 1000
/// - `/status/CODE`: that status with a short body
/// - `/delay/MS`: waits MS before the headers, then 200 "ok"
/// - `/drip/MS`: announces 1000 bytes, sends one every MS
/// - `/truncate`: announces 100 bytes, sends 50, closes
/// - `/reset`: announces 100000 bytes, sends 1000, resets the connection (RST)
/// - `/redirect/N`: 302 to `/redirect/N-1`, ending at `/bytes/10`
/// - `/loop`: 302 to itself
/// - `/goto?TARGET`: 302 to TARGET, taken as written (any scheme, any host)
/// - `/ranged/N`: N bytes of [`pattern`] with `ETag: "v1"`, sent in 4 KiB pieces 20 ms
///   apart; honours `Range: bytes=S-` (206) when `If-Range` is absent or `"v1"`, and
///   answers `416` with `Content-Range: bytes */N` when S is N or more
/// - `/norange/N`: the same body and ETag, but always whole (200), whatever `Range` says
/// - `/encoded/EXT`: `fixtures/compressed/body.txt.EXT` with its `Content-Encoding`
///   (`gz` gzip, `br` br, `zst` zstd, `zz` deflate), whatever the request accepts
/// - `/bomb`: `fixtures/compressed/bomb.gz`, 64 MiB of zeros, as gzip
/// - `/setcookie`: 200 with `Set-Cookie: session=abc`
/// - `/garbage`: a response that is not HTTP
/// - `/flaky/K/ID`: 503 for the first K requests of ID, then 200 "ok"
/// - `/ratelimited/SECS/ID`: 429 with `Retry-After: SECS` for the first request of ID,
///   then 200 "ok"
/// - a path given to [`MockServer::script`]: the answer scripted for it
/// - anything else: 404
///
/// A query string is ignored for routing (use it to make URLs distinct). The server
/// records every request (time and path) and the most connections it served at once.
pub struct MockServer {
    /// Whether `Drop` checks that the server was hit (see `expect_no_hits`).
    check_hits: bool,
    /// `Drop` checks nothing ([`MockServer::hits_or_not`]).
    any_hits: bool,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    hits: Arc<AtomicUsize>,
    state: Arc<ServerState>,
    accept_thread: Option<JoinHandle<()>>,
}

/// What the connection threads share.
#[derive(Default)]
struct ServerState {
    /// Request heads, in arrival order.
    requests: Mutex<Vec<String>>,
    /// (arrival time, path) of every request.
    log: Mutex<Vec<(Instant, String)>>,
    /// Requests seen per `flaky`/`ratelimited` ID.
    counters: Mutex<HashMap<String, usize>>,
    /// Connections being served now, and the most at once.
    active: AtomicUsize,
    max_active: AtomicUsize,
    /// What `/robots.txt` answers ([`super::site::ROBOTS`] unless set).
    robots: Mutex<Option<String>>,
    /// How long each `/site/` page takes, in ms.
    site_delay: std::sync::atomic::AtomicU64,
    /// Answers scripted by path (see [`Scripted`]).
    scripts: Mutex<HashMap<String, Scripted>>,
}

/// An answer a test scripts for one path ([`MockServer::script`]).
#[derive(Clone, Debug, Default)]
pub struct Scripted {
    /// The status code.
    pub status: u16,
    /// Extra header lines, each ending in `\r\n`.
    pub headers: String,
    /// The body, sent after a `Content-Length` of its length unless `length` says another.
    pub body: Vec<u8>,
    /// The `Content-Length` to announce instead of the body's (a lie: a truncated body).
    pub length: Option<u64>,
    /// Sends no `Content-Length` (the body ends when the connection closes).
    pub no_length: bool,
    /// After the body, keeps the connection open this long (a stalled body).
    pub stall_ms: u64,
}

impl Scripted {
    /// A plain answer: `status`, these header lines, this body.
    pub fn new(status: u16, headers: &str, body: impl Into<Vec<u8>>) -> Self {
        Scripted {
            status,
            headers: headers.to_string(),
            body: body.into(),
            ..Scripted::default()
        }
    }

    /// An HTML page.
    pub fn html(body: &str) -> Self {
        Self::new(200, "Content-Type: text/html\r\n", body)
    }
}

impl MockServer {
    pub fn start() -> Self {
        Self::start_on("127.0.0.1")
    }

    pub fn start_on(ip: &str) -> Self {
        Self::start_at(ip, 0).expect("bind loopback")
    }

    /// A server on `ip` and `port` (0: any free one); `Err` if that port is taken there.
    pub fn start_at(ip: &str, port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind((ip, port))?;
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(AtomicUsize::new(0));
        let state = Arc::new(ServerState::default());
        let accept_thread = {
            let (stop, hits, state) = (stop.clone(), hits.clone(), state.clone());
            thread::Builder::new()
                .name("mock-accept".into())
                .spawn(move || {
                    // Bounded: stops on the flag (Drop connects once to wake it), and
                    // serves at most 100k connections.
                    for stream in listener.incoming().take(100_000) {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        // When the request began: taken here, not in the connection's
                        // thread, which a busy machine may start late.
                        let accepted = Instant::now();
                        hits.fetch_add(1, Ordering::SeqCst);
                        let state = state.clone();
                        let _ = thread::Builder::new()
                            .name("mock-conn".into())
                            .spawn(move || {
                                serve(stream, &state, accepted);
                            });
                    }
                })
                .unwrap()
        };
        Ok(MockServer {
            check_hits: true,
            any_hits: false,
            addr,
            stop,
            hits,
            state,
            accept_thread: Some(accept_thread),
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// For a test whose point is that nothing reaches the server: `Drop` then checks that
    /// it was *not* hit.
    pub fn expect_no_hits(&mut self) {
        self.check_hits = false;
    }

    /// For a server a test may or may not reach: `Drop` checks nothing.
    pub fn hits_or_not(&mut self) {
        self.any_hits = true;
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The request heads received so far.
    pub fn requests(&self) -> Vec<String> {
        self.state.requests.lock().unwrap().clone()
    }

    /// (arrival time, path with query) of every request so far, in the order their heads
    /// were read; the time is when the connection was accepted.
    pub fn log(&self) -> Vec<(Instant, String)> {
        self.state.log.lock().unwrap().clone()
    }

    /// The most connections served at once so far.
    /// Makes every `/site/` page take `ms` milliseconds.
    pub fn set_site_delay(&self, ms: u64) {
        self.state.site_delay.store(ms, Ordering::SeqCst);
    }

    /// Makes `path` (without its query) answer `answer`.
    pub fn script(&self, path: &str, answer: Scripted) {
        self.state
            .scripts
            .lock()
            .unwrap()
            .insert(path.to_string(), answer);
    }

    /// Makes `/robots.txt` answer `text`.
    pub fn set_robots(&self, text: &str) {
        *self.state.robots.lock().unwrap() = Some(text.to_string());
    }

    pub fn max_concurrent(&self) -> usize {
        self.state.max_active.load(Ordering::SeqCst)
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        let hits = self.hits();
        if !thread::panicking() && !self.any_hits {
            if self.check_hits {
                assert!(hits > 0, "the mock server was never hit");
            } else {
                assert_eq!(hits, 0, "the mock server was hit");
            }
        }
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads the request head (bounded in size and time) and answers by path; `accepted` is
/// when its connection was accepted (each request has a connection of its own).
fn serve(mut stream: TcpStream, state: &ServerState, accepted: Instant) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    let mut head = String::new();
    {
        let mut reader = BufReader::new((&stream).take(16 * 1024));
        for _ in 0..100 {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let end = line == "\r\n";
            head.push_str(&line);
            if end {
                break;
            }
        }
    }
    state.requests.lock().unwrap().push(head.clone());
    let full_path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    state
        .log
        .lock()
        .unwrap()
        .push((accepted, full_path.clone()));
    let path = full_path.split('?').next().unwrap_or("/");
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let route = parts.next().unwrap_or("");
    let arg = parts.next().unwrap_or("");
    let num = arg
        .split('/')
        .next()
        .unwrap_or("")
        .parse::<u64>()
        .unwrap_or(0);
    let count_request = || {
        let mut counters = state.counters.lock().unwrap();
        let n = counters.entry(arg.to_string()).or_default();
        *n += 1;
        *n
    };
    // A request is in progress from its head to the start of its answer (not until its
    // connection closes: the client may already be sending the next one by then), so
    // `max_concurrent` is what the client had in flight.
    let now = state.active.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_active.fetch_max(now, Ordering::SeqCst);
    if route == "delay" {
        thread::sleep(Duration::from_millis(num.min(60_000)));
    }
    if route == "site" {
        thread::sleep(Duration::from_millis(
            state.site_delay.load(Ordering::SeqCst),
        ));
    }
    state.active.fetch_sub(1, Ordering::SeqCst);
    let scripted = state.scripts.lock().unwrap().get(path).cloned();
    if let Some(answer) = scripted {
        let _ = send_scripted(&mut stream, &answer);
        return;
    }
    if route == "mesh" {
        let (code, extra, body) = super::mesh::answer(path, stream.local_addr().unwrap());
        let _ = respond(&mut stream, code, &extra, &body);
        return;
    }
    if route == "site" || path == "/robots.txt" {
        let base = format!("http://{}", stream.local_addr().unwrap());
        let robots = state.robots.lock().unwrap().clone();
        let (code, extra, body) = super::site::answer(
            path,
            &base,
            robots.as_deref().unwrap_or(super::site::ROBOTS),
        );
        let _ = respond(&mut stream, code, &extra, &body);
        return;
    }
    let _ = match route {
        "bytes" => send_body(&mut stream, 200, num),
        "chunked" => send_chunked(&mut stream, num),
        "status" => respond(&mut stream, num as u16, "", b"status body"),
        "delay" => respond(&mut stream, 200, "", b"ok"),
        "drip" => drip(&mut stream, Duration::from_millis(num.clamp(1, 10_000))),
        "truncate" => stream.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n\
              01234567890123456789012345678901234567890123456789",
        ),
        "reset" => reset_mid_body(stream),
        "redirect" if num > 0 => redirect(&mut stream, &format!("/redirect/{}", num - 1)),
        "redirect" => send_body(&mut stream, 200, 10),
        "loop" => redirect(&mut stream, "/loop"),
        "ranged" | "norange" => {
            let range = header(&head, "range")
                .and_then(|r| {
                    r.strip_prefix("bytes=")?
                        .strip_suffix('-')?
                        .parse::<u64>()
                        .ok()
                })
                .filter(|_| header(&head, "if-range").is_none_or(|v| v == "\"v1\""))
                .filter(|_| route == "ranged");
            match range {
                Some(from) if from >= num => respond(
                    &mut stream,
                    416,
                    &format!("Content-Range: bytes */{num}\r\n"),
                    b"",
                ),
                range => send_pattern(&mut stream, num, range),
            }
        }
        "setcookie" => respond(
            &mut stream,
            200,
            "Set-Cookie: session=abc; Path=/\r\n",
            b"ok",
        ),
        "encoded" | "bomb" => {
            let (file, encoding) = match (route, arg) {
                ("bomb", _) => ("bomb.gz", "gzip"),
                (_, "gz") => ("body.txt.gz", "gzip"),
                (_, "br") => ("body.txt.br", "br"),
                (_, "zst") => ("body.txt.zst", "zstd"),
                _ => ("body.txt.zz", "deflate"),
            };
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/compressed")
                .join(file);
            let body = std::fs::read(path).expect("the fixture");
            respond(
                &mut stream,
                200,
                &format!("Content-Encoding: {encoding}\r\n"),
                &body,
            )
        }
        "goto" => redirect(
            &mut stream,
            full_path.split_once('?').map_or("/", |(_, target)| target),
        ),
        "garbage" => stream.write_all(b"THIS IS NOT HTTP AT ALL\r\n\r\n"),
        "flaky" if count_request() as u64 <= num => respond(&mut stream, 503, "", b"try again"),
        "ratelimited" if count_request() == 1 => respond(
            &mut stream,
            429,
            &format!("Retry-After: {num}\r\n"),
            b"slow down",
        ),
        "flaky" | "ratelimited" => respond(&mut stream, 200, "", b"ok"),
        _ => respond(&mut stream, 404, "", b"not found"),
    };
}

fn send_scripted(stream: &mut TcpStream, answer: &Scripted) -> std::io::Result<()> {
    let length = match (answer.no_length, answer.length) {
        (true, _) => String::new(),
        (false, Some(n)) => format!("Content-Length: {n}\r\n"),
        (false, None) => format!("Content-Length: {}\r\n", answer.body.len()),
    };
    write!(
        stream,
        "HTTP/1.1 {} {}\r\n{length}Connection: close\r\n{}\r\n",
        answer.status,
        reason(answer.status),
        answer.headers
    )?;
    stream.write_all(&answer.body)?;
    stream.flush()?;
    if answer.stall_ms > 0 {
        thread::sleep(Duration::from_millis(answer.stall_ms.min(60_000)));
    }
    Ok(())
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        302 => "Found",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

fn respond(stream: &mut TcpStream, code: u16, extra: &str, body: &[u8]) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {code} {}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        reason(code),
        body.len()
    )?;
    stream.write_all(body)
}

/// The value of header `name` (lower case) in a request head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Byte `i` of the `/ranged` and `/norange` bodies.
pub fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

/// `len` bytes of [`pattern`], from `from` on with a 206 if given, in pieces 20 ms apart.
fn send_pattern(stream: &mut TcpStream, len: u64, from: Option<u64>) -> std::io::Result<()> {
    let start = from.unwrap_or(0);
    let status = match from {
        Some(s) => format!(
            "206 Partial Content\r\nContent-Range: bytes {s}-{}/{len}",
            len - 1
        ),
        None => "200 OK".to_string(),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n",
        len - start
    )?;
    let mut i = start;
    while i < len {
        let end = (i + 4096).min(len);
        let piece: Vec<u8> = (i..end).map(pattern).collect();
        stream.write_all(&piece)?;
        i = end;
        thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn redirect(stream: &mut TcpStream, to: &str) -> std::io::Result<()> {
    respond(stream, 302, &format!("Location: {to}\r\n"), b"")
}

fn send_body(stream: &mut TcpStream, code: u16, len: u64) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {code} {}\r\nContent-Length: {len}\r\nContent-Type: text/plain\r\n\
         Connection: close\r\n\r\n",
        reason(code)
    )?;
    let chunk = [b'x'; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        stream.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    stream.flush()
}

fn send_chunked(stream: &mut TcpStream, len: u64) -> std::io::Result<()> {
    stream
        .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")?;
    let mut left = len;
    while left > 0 {
        let n = left.min(1000);
        write!(stream, "{n:x}\r\n")?;
        stream.write_all(&vec![b'y'; n as usize])?;
        stream.write_all(b"\r\n")?;
        left -= n;
    }
    stream.write_all(b"0\r\n\r\n")
}

fn drip(stream: &mut TcpStream, every: Duration) -> std::io::Result<()> {
    stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n")?;
    for _ in 0..1000 {
        stream.write_all(b"d")?;
        stream.flush()?;
        thread::sleep(every);
    }
    Ok(())
}

fn reset_mid_body(stream: TcpStream) -> std::io::Result<()> {
    let mut s = &stream;
    s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n")?;
    s.write_all(&[b'r'; 1000])?;
    s.flush()?;
    thread::sleep(Duration::from_millis(50));
    socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO))?;
    drop(stream);
    Ok(())
}

/// A URL on which nothing listens (connection refused).
pub fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/")
}

/// A listener whose accept queue is full, so further connects hang (connect timeout).
/// Keep it alive for the test's duration.
pub struct FullBacklog {
    _listener: socket2::Socket,
    _fillers: Vec<socket2::Socket>,
    pub url: String,
}

pub fn full_backlog() -> FullBacklog {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&addr.into());
        fillers.push(s);
    }
    thread::sleep(Duration::from_millis(50));
    FullBacklog {
        _listener: listener,
        _fillers: fillers,
        url: format!("http://{addr}/"),
    }
}
