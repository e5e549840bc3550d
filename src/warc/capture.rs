//! What a fetch keeps of each HTTP exchange for the WARC file: the request as sent, the
//! response's head as it came, and its body as it came (transfer coding removed, content
//! coding kept), with their SHA-1 digests. A body is held in memory up to
//! [`IN_MEMORY`] bytes, then spooled to a file beside the WARC; the exchange crosses to
//! the one writer (from a worker thread, or from a worker process, serialized) and the
//! writer copies the spool into the WARC and removes it.

use std::io::{self, Write as _};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

/// Body bytes kept in memory before the rest is spooled to a file.
pub(crate) const IN_MEMORY: usize = 256 * 1024;

/// The prefix of a spool file's name (in the WARC's folder); names of this run also carry
/// its process id, so that the run removes what a killed worker left.
pub(crate) const SPOOL_PREFIX: &str = ".fetchpool-warc-";

/// Where a fetch's exchanges are spooled, and what they keep.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CaptureOptions {
    /// The folder of the WARC file: spool files go there (the same file system, so the
    /// copy into the WARC never crosses devices).
    pub spool_dir: PathBuf,
    /// This run's spool names start with this (the prefix, the parent's process id).
    pub spool_tag: String,
    /// Keep `Authorization`, `Proxy-Authorization` and `Cookie` values in request records
    /// (`--warc-keep-credentials`); by default each is replaced by [`HIDDEN`].
    pub keep_credentials: bool,
}

/// What replaces a credential's value in a request record.
pub(crate) const HIDDEN: &str = "(hidden by fetchpool; --warc-keep-credentials keeps it)";

/// Why a response record is shorter than the response (`WARC-Truncated`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Truncated {
    /// A size limit (`--max-size`, or a redirect's body past its bound).
    Length,
    /// The timeout or the deadline.
    Time,
    /// The connection ended early (a reset, a truncated body).
    Disconnect,
}

impl Truncated {
    /// The `WARC-Truncated` value.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Truncated::Length => "length",
            Truncated::Time => "time",
            Truncated::Disconnect => "disconnect",
        }
    }
}

/// A body as captured: in memory, or in a spool file the writer removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Spool {
    /// The bytes themselves.
    Memory(Vec<u8>),
    /// A spool file and its length.
    File(PathBuf, u64),
}

impl Spool {
    /// The body's length.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Spool::Memory(bytes) => bytes.len() as u64,
            Spool::File(_, len) => *len,
        }
    }
}

/// One response as captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CapturedResponse {
    /// The status line, the header fields and the blank line, in HTTP/1.1 form.
    pub(crate) head: Vec<u8>,
    /// The body as received.
    pub(crate) body: Spool,
    /// `sha1:BASE32` of the head and body (`WARC-Block-Digest`).
    pub(crate) block_digest: String,
    /// `sha1:BASE32` of the body (`WARC-Payload-Digest`).
    pub(crate) payload_digest: String,
    /// Why the body is incomplete, if it is.
    pub(crate) truncated: Option<Truncated>,
    /// The status code and the `Content-Type` (for the index).
    pub(crate) status: u16,
    pub(crate) mime: Option<String>,
}

/// One HTTP exchange: a request, and its response if one arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Exchange {
    /// The request's URL (`WARC-Target-URI`), its password masked.
    pub(crate) uri: String,
    /// When the request was sent (`WARC-Date`), RFC 3339 in UTC to the microsecond.
    pub(crate) date: String,
    /// The server's address, when known.
    pub(crate) ip: Option<IpAddr>,
    /// The request line, the header fields and the blank line.
    pub(crate) request: Vec<u8>,
    /// The response, if one arrived.
    pub(crate) response: Option<CapturedResponse>,
}

/// `sha1:` and the digest in base32, as wget and Heritrix write WARC digests.
pub(crate) fn sha1_label(digest: &[u8]) -> String {
    format!("sha1:{}", data_encoding::BASE32.encode(digest))
}

/// The request head as sent: the request line in origin form, `Host`, then the fields
/// in order. Credentials are hidden unless `keep`.
pub(crate) fn request_head(
    method: &str,
    url: &url::Url,
    fields: &[(String, Vec<u8>)],
    keep: bool,
) -> Vec<u8> {
    let mut head = Vec::with_capacity(256);
    let target = &url[url::Position::BeforePath..url::Position::AfterQuery];
    let target = if target.is_empty() { "/" } else { target };
    let _ = write!(head, "{method} {target} HTTP/1.1\r\n");
    let host = &url[url::Position::BeforeHost..url::Position::AfterPort];
    let _ = write!(head, "Host: {host}\r\n");
    for (name, value) in fields {
        let secret = matches!(
            name.to_ascii_lowercase().as_str(),
            "authorization" | "proxy-authorization" | "cookie"
        );
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        if secret && !keep {
            head.extend_from_slice(HIDDEN.as_bytes());
        } else {
            head.extend_from_slice(value);
        }
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// The response head in HTTP/1.1 form: the status line with the server's reason phrase
/// (or the standard one), then the fields in the order the client keeps them. A
/// `Transfer-Encoding: chunked` field is left out, as the body is recorded without its
/// chunks; it is noted as `X-Fetchpool-Transfer-Encoding` so nothing is hidden.
pub(crate) fn response_head(status: u16, reason: &str, fields: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut head = Vec::with_capacity(512);
    let _ = write!(head, "HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in fields {
        let name = if name.eq_ignore_ascii_case("transfer-encoding") {
            "X-Fetchpool-Transfer-Encoding"
        } else {
            name.as_str()
        };
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// A response body on its way into a [`Spool`], hashed as it goes.
pub(crate) struct BodySpool {
    head: Vec<u8>,
    block: Sha1,
    payload: Sha1,
    memory: Vec<u8>,
    file: Option<(tempfile::NamedTempFile, u64)>,
    dir: PathBuf,
    tag: String,
}

impl BodySpool {
    /// A spool for the body that follows `head`, spilling past [`IN_MEMORY`] into `dir`.
    pub(crate) fn new(head: Vec<u8>, options: &CaptureOptions) -> Self {
        let mut block = Sha1::new();
        block.update(&head);
        BodySpool {
            head,
            block,
            payload: Sha1::new(),
            memory: Vec::new(),
            file: None,
            dir: options.spool_dir.clone(),
            tag: options.spool_tag.clone(),
        }
    }

    /// Appends body bytes.
    ///
    /// # Errors
    /// The spool file cannot be created or written.
    pub(crate) fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.block.update(chunk);
        self.payload.update(chunk);
        if let Some((file, len)) = self.file.as_mut() {
            file.write_all(chunk)?;
            *len += chunk.len() as u64;
            return Ok(());
        }
        if self.memory.len() + chunk.len() <= IN_MEMORY {
            self.memory.extend_from_slice(chunk);
            return Ok(());
        }
        let mut file = tempfile::Builder::new()
            .prefix(&self.tag)
            .suffix(".spool")
            .tempfile_in(&self.dir)?;
        file.write_all(&self.memory)?;
        file.write_all(chunk)?;
        let len = (self.memory.len() + chunk.len()) as u64;
        self.memory = Vec::new();
        self.file = Some((file, len));
        Ok(())
    }

    /// The captured response.
    ///
    /// # Errors
    /// The spool file cannot be flushed or kept.
    pub(crate) fn finish(
        self,
        status: u16,
        mime: Option<String>,
        truncated: Option<Truncated>,
    ) -> io::Result<CapturedResponse> {
        let body = match self.file {
            None => Spool::Memory(self.memory),
            Some((mut file, len)) => {
                file.flush()?;
                let path = file.into_temp_path().keep().map_err(|e| e.error)?;
                Spool::File(path, len)
            }
        };
        Ok(CapturedResponse {
            head: self.head,
            body,
            block_digest: sha1_label(&self.block.finalize()),
            payload_digest: sha1_label(&self.payload.finalize()),
            truncated,
            status,
            mime,
        })
    }
}

/// The exchanges of one fetch, captured as the fetch goes (redirect hops, retries of a
/// range, the final response): the fetch's code paths report each step here, through a
/// shared reference.
pub(crate) struct Capture<'o> {
    options: &'o CaptureOptions,
    state: std::cell::RefCell<CaptureState>,
}

#[derive(Default)]
struct CaptureState {
    done: Vec<Exchange>,
    open: Option<OpenExchange>,
    /// The first error writing a spool: the fetch fails with it.
    failed: Option<io::Error>,
}

/// The exchange under way.
struct OpenExchange {
    uri: String,
    date: String,
    request: Vec<u8>,
    ip: Option<IpAddr>,
    response: Option<(BodySpool, u16, Option<String>)>,
}

impl<'o> Capture<'o> {
    /// Nothing captured yet.
    pub(crate) fn new(options: &'o CaptureOptions) -> Self {
        Capture {
            options,
            state: std::cell::RefCell::default(),
        }
    }

    /// A request is about to be sent to `url`, with these fields (besides `Host`).
    pub(crate) fn request(&self, method: &str, url: &url::Url, fields: &[(String, Vec<u8>)]) {
        let mut state = self.state.borrow_mut();
        // An exchange left open (its body never read) ends here, as it is.
        close(&mut state, None);
        let date = humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string();
        state.open = Some(OpenExchange {
            uri: crate::redact::redact_url(url.as_str()).into_owned(),
            date,
            request: request_head(method, url, fields, self.options.keep_credentials),
            ip: None,
            response: None,
        });
    }

    /// The response's head arrived.
    pub(crate) fn response(
        &self,
        status: u16,
        reason: &str,
        fields: &[(String, Vec<u8>)],
        ip: Option<IpAddr>,
    ) {
        let mut state = self.state.borrow_mut();
        let mime = fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned());
        let spool = BodySpool::new(response_head(status, reason, fields), self.options);
        if let Some(open) = state.open.as_mut() {
            open.ip = ip;
            open.response = Some((spool, status, mime));
        }
    }

    /// Body bytes of the response, as they came. A spool that cannot be written is kept
    /// as the capture's failure ([`Capture::finish`]), not the fetch's.
    pub(crate) fn body(&self, chunk: &[u8]) {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        if let Some((spool, _, _)) = state.open.as_mut().and_then(|o| o.response.as_mut())
            && let Err(e) = spool.write(chunk)
        {
            state.failed.get_or_insert(e);
            // What follows cannot be recorded whole: the exchange is dropped.
            state.open = None;
        }
    }

    /// Reads the rest of `body` into the capture, at most `max` bytes (the rest is left:
    /// the record says `length`): a body the fetch itself does not read (a redirect's, an
    /// error page's). A read error ends the exchange as the error says.
    pub(crate) fn drain(&self, body: &mut dyn io::Read, max: u64) {
        let mut buf = vec![0u8; 64 * 1024];
        let mut left = max;
        loop {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            if want == 0 {
                // At the bound: anything more is cut.
                let mut probe = [0u8; 1];
                let more = matches!(body.read(&mut probe), Ok(n) if n > 0);
                return self.end(more.then_some(Truncated::Length));
            }
            match body.read(&mut buf[..want]) {
                Ok(0) => return self.end(None),
                Ok(n) => {
                    self.body(&buf[..n]);
                    left -= n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let why = if e.kind() == io::ErrorKind::TimedOut {
                        Truncated::Time
                    } else {
                        Truncated::Disconnect
                    };
                    return self.end(Some(why));
                }
            }
        }
    }

    /// The response ended: whole, or cut short for `truncated`. No response, no exchange:
    /// a request that got no answer is not archived.
    pub(crate) fn end(&self, truncated: Option<Truncated>) {
        close(&mut self.state.borrow_mut(), truncated);
    }

    /// The exchanges captured, and the first error writing a spool.
    pub(crate) fn finish(self) -> (Vec<Exchange>, Option<io::Error>) {
        let mut state = self.state.into_inner();
        // A body abandoned part-way (an error the fetch returned early with).
        close(&mut state, Some(Truncated::Disconnect));
        (state.done, state.failed)
    }
}

/// Ends the open exchange, if any.
fn close(state: &mut CaptureState, truncated: Option<Truncated>) {
    let Some(open) = state.open.take() else {
        return;
    };
    let Some((spool, status, mime)) = open.response else {
        return;
    };
    match spool.finish(status, mime, truncated) {
        Ok(response) => state.done.push(Exchange {
            uri: open.uri,
            date: open.date,
            ip: open.ip,
            request: open.request,
            response: Some(response),
        }),
        Err(e) => {
            state.failed.get_or_insert(e);
        }
    }
}

/// Removes the spool files of this run that are left in `dir` (a worker killed mid-body,
/// a run stopped before its exchanges were written): names that start with `tag`.
pub(crate) fn sweep(dir: &Path, tag: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(tag) && name.ends_with(".spool") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_in_http_1_1_form_with_credentials_hidden() {
        let url = url::Url::parse("http://a.test:8080/p?q=1#frag").unwrap();
        let fields = vec![
            ("User-Agent".to_string(), b"fetchpool/1".to_vec()),
            ("Authorization".to_string(), b"Basic c2VjcmV0".to_vec()),
            ("cookie".to_string(), b"s=1".to_vec()),
        ];
        let head = String::from_utf8(request_head("GET", &url, &fields, false)).unwrap();
        assert!(
            head.starts_with("GET /p?q=1 HTTP/1.1\r\nHost: a.test:8080\r\n"),
            "{head}"
        );
        assert!(
            !head.contains("c2VjcmV0") && !head.contains("s=1"),
            "{head}"
        );
        assert!(head.ends_with("\r\n\r\n"));
        let kept = String::from_utf8(request_head("GET", &url, &fields, true)).unwrap();
        assert!(kept.contains("Basic c2VjcmV0"));
        let response = response_head(
            200,
            "OK",
            &[("Transfer-Encoding".to_string(), b"chunked".to_vec())],
        );
        assert_eq!(
            response,
            b"HTTP/1.1 200 OK\r\nX-Fetchpool-Transfer-Encoding: chunked\r\n\r\n"
        );
    }

    #[test]
    fn a_body_past_the_memory_bound_is_spooled_and_both_digests_are_right() {
        let dir = tempfile::tempdir().unwrap();
        let options = CaptureOptions {
            spool_dir: dir.path().to_path_buf(),
            spool_tag: format!("{SPOOL_PREFIX}t-"),
            keep_credentials: false,
        };
        let head = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        let body: Vec<u8> = (0..IN_MEMORY * 2 + 7).map(|i| (i % 251) as u8).collect();
        let mut spool = BodySpool::new(head.clone(), &options);
        for chunk in body.chunks(10_000) {
            spool.write(chunk).unwrap();
        }
        let captured = spool.finish(200, None, None).unwrap();
        let Spool::File(path, len) = &captured.body else {
            panic!("spooled");
        };
        assert_eq!(*len, body.len() as u64);
        assert_eq!(std::fs::read(path).unwrap(), body);
        assert_eq!(captured.payload_digest, sha1_label(&Sha1::digest(&body)));
        let mut block = head;
        block.extend_from_slice(&body);
        assert_eq!(captured.block_digest, sha1_label(&Sha1::digest(&block)));
        sweep(dir.path(), &options.spool_tag);
        assert!(!path.exists());
    }
}
