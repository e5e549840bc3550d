//! `fetchpool demo`: a first run that works on any machine, online or not. A small HTTP
//! server on 127.0.0.1 (an ephemeral port) serves a generated site whose pages show every
//! outcome; the demo runs the ordinary fetch on its pages (as URL arguments: no list file
//! is written) with the flags given, and stops the server.
//!
//! The site: pages of a few sizes, a large one (generated as it is sent: counted, never
//! held), a slow one, a 404, a 500 with `Retry-After`, a redirect, a connection reset, a
//! truncated body, and one that outlives the demo's `--timeout` (3 s unless given). The
//! index links to them all, so `--crawl` finds them from it.
//!
//! [`main`] is `fetchpool demo OPTIONS`: the server, the list, then the ordinary run.
//!
//! The tests' mock server (`tests/common/server.rs`) stays separate: it scripts dozens of
//! faults for the tests and counts requests; this one serves a fixed, documented site and
//! ships in the binary.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The demo's pages: path, and what it shows.
pub const PAGES: &[(&str, &str)] = &[
    ("/", "the index, linking to every page (a seed for --crawl)"),
    ("/page/small.html", "a small page (2 KB)"),
    ("/page/medium.html", "a medium page (64 KB)"),
    (
        "/files/large.bin",
        "a large file (50 MB, generated as it is sent)",
    ),
    ("/slow", "a page that answers after 1.5 s"),
    ("/missing", "a 404"),
    (
        "/busy",
        "a 500 with Retry-After: 1 (--retries 2 gets it on the third try)",
    ),
    ("/moved", "a redirect to the small page"),
    ("/reset", "a connection reset in the middle of the body"),
    ("/truncated", "a body shorter than its Content-Length"),
    ("/stall", "a page that never ends: it outlives --timeout"),
];

/// How long the stalling page stalls at most (the demo's timeout ends the fetch long
/// before).
const STALL: Duration = Duration::from_secs(120);

/// The demo's HTTP server; stopped when dropped.
pub(crate) struct DemoServer {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl DemoServer {
    /// Starts the server on 127.0.0.1, on a port the system picks.
    ///
    /// # Errors
    /// The socket cannot be bound or the thread started.
    pub(crate) fn start() -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        thread::Builder::new()
            .name("fetchpool-demo".to_string())
            .spawn(move || {
                for stream in listener.incoming() {
                    if flag.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let flag = Arc::clone(&flag);
                    let _ = thread::Builder::new()
                        .name("fetchpool-demo-conn".to_string())
                        .spawn(move || serve(stream, &flag));
                }
            })?;
        Ok(DemoServer { port, stop })
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(
            &([127, 0, 0, 1], self.port).into(),
            Duration::from_millis(200),
        );
    }
}

/// Serves one connection: one request, one answer, then close.
fn serve(mut stream: TcpStream, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new((&stream).take(16 * 1024));
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    // The rest of the head.
    let mut line = String::new();
    for _ in 0..100 {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let path = path.split('?').next().unwrap_or("/");
    let _ = answer(&mut stream, path, stop);
}

fn head(stream: &mut TcpStream, status: &str, extra: &str, len: Option<u64>) -> io::Result<()> {
    let length = len.map_or(String::new(), |n| format!("Content-Length: {n}\r\n"));
    write!(
        stream,
        "HTTP/1.1 {status}\r\n{length}Connection: close\r\n{extra}\r\n"
    )
}

fn html(stream: &mut TcpStream, status: &str, body: &str) -> io::Result<()> {
    head(
        stream,
        status,
        "Content-Type: text/html; charset=utf-8\r\n",
        Some(body.len() as u64),
    )?;
    stream.write_all(body.as_bytes())
}

/// A page of about `size` bytes of text.
fn filler(title: &str, size: usize) -> String {
    let mut body = format!("<!doctype html><html><head><title>{title}</title></head><body>\n");
    let line = "<p>fetchpool demo: the quick brown fox jumps over the lazy dog.</p>\n";
    while body.len() + line.len() < size {
        body.push_str(line);
    }
    body.push_str("</body></html>\n");
    body
}

fn answer(stream: &mut TcpStream, path: &str, stop: &AtomicBool) -> io::Result<()> {
    match path {
        "/" | "/index.html" => {
            let mut body = String::from(
                "<!doctype html><html><head><title>fetchpool demo</title></head><body><ul>\n",
            );
            for (page, what) in PAGES.iter().skip(1) {
                body.push_str(&format!("<li><a href=\"{page}\">{what}</a></li>\n"));
            }
            body.push_str("</ul></body></html>\n");
            html(stream, "200 OK", &body)
        }
        "/page/small.html" => html(stream, "200 OK", &filler("small", 2 * 1024)),
        "/page/medium.html" => html(stream, "200 OK", &filler("medium", 64 * 1024)),
        "/files/large.bin" => {
            const LEN: u64 = 50 * 1024 * 1024;
            head(
                stream,
                "200 OK",
                "Content-Type: application/octet-stream\r\n",
                Some(LEN),
            )?;
            let chunk = [b'x'; 64 * 1024];
            let mut sent = 0;
            while sent < LEN && !stop.load(Ordering::SeqCst) {
                stream.write_all(&chunk)?;
                sent += chunk.len() as u64;
            }
            Ok(())
        }
        "/slow" => {
            sleep_unless(stop, Duration::from_millis(1500));
            html(stream, "200 OK", &filler("slow", 1024))
        }
        "/busy" => {
            // Fails twice in every three requests, so --retries 2 gets it.
            static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            if COUNT.fetch_add(1, Ordering::SeqCst) % 3 < 2 {
                head(
                    stream,
                    "500 Internal Server Error",
                    "Retry-After: 1\r\n",
                    Some(4),
                )?;
                stream.write_all(b"busy")
            } else {
                html(stream, "200 OK", &filler("busy, then fine", 1024))
            }
        }
        "/moved" => head(
            stream,
            "302 Found",
            "Location: /page/small.html\r\n",
            Some(0),
        ),
        "/reset" => {
            head(stream, "200 OK", "", Some(100_000))?;
            stream.write_all(&[b'r'; 10_000])?;
            stream.flush()?;
            thread::sleep(Duration::from_millis(50));
            // Closing with SO_LINGER 0 sends a TCP reset, not an orderly end.
            socket2::SockRef::from(&*stream).set_linger(Some(Duration::ZERO))?;
            stream.shutdown(Shutdown::Read)
        }
        "/truncated" => {
            head(stream, "200 OK", "", Some(1000))?;
            stream.write_all(&[b't'; 100])
        }
        "/stall" => {
            head(stream, "200 OK", "", Some(1000))?;
            stream.write_all(b"a first few bytes, and then nothing")?;
            stream.flush()?;
            sleep_unless(stop, STALL);
            Ok(())
        }
        _ => html(stream, "404 Not Found", "<p>not found</p>"),
    }
}

/// Sleeps `d`, waking early once the server stops.
fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let end = Instant::now() + d;
    while !stop.load(Ordering::SeqCst) && Instant::now() < end {
        thread::sleep(Duration::from_millis(20));
    }
}

/// `fetchpool demo OPTIONS`: starts the demo's server and runs OPTIONS on its pages as an
/// ordinary run (Ctrl-C and SIGTERM through `signals`); the server stops with the demo,
/// and nothing is written anywhere but where OPTIONS say.
///
/// # Errors
/// The server cannot start; as [`crate::run::main`].
pub fn main(
    options: &[std::ffi::OsString],
    signals: &crossbeam_channel::Receiver<()>,
) -> anyhow::Result<crate::cli::Exit> {
    let server =
        DemoServer::start().map_err(|e| anyhow::anyhow!("cannot start the demo's server: {e}"))?;
    // The pages are the run's URL arguments: no list file, nothing left behind.
    let urls: Vec<String> = PAGES
        .iter()
        .map(|(path, _)| format!("{}{path}", server.base()))
        .collect();
    let cli = match crate::cli::demo_cli(options, &urls) {
        Ok(cli) => cli,
        Err(exit) => return Ok(exit),
    };
    eprintln!(
        "fetchpool demo: serving {} pages on {} while the demo runs (fetchpool demo --help says \
         what each one shows)",
        PAGES.len(),
        server.base(),
    );
    let exit = crate::run::main(&cli, signals);
    drop(server);
    exit
}
