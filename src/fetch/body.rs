//! Reading a response's body: streamed in bounded chunks into its sink (counted, hashed,
//! saved, its links found), decoded with `--compressed` by decoders whose memory is
//! bounded, checked against `--max-size` and `Content-Length`.

use std::cell::Cell;
use std::io::{self, Read};

use reqwest::header::HeaderValue;
use url::Url;

use crate::crawl::links::LinkExtractor;
use crate::fetch::error::{classify_io, reqwest_error};
use crate::fetch::save::{BodySink, Resume, ResumeKind, Saved, Target};
use crate::fetch::transport::Resp;
use crate::fetch::{Budget, FetchError, Fetcher, Page};
use crate::warc::capture::{Capture, Truncated};

/// The chunk in which bodies are read and counted (and then forgotten).
const CHUNK: usize = 64 * 1024;

/// A body read whole: what the sink kept, and its link finder (an HTML page, `--crawl`).
struct Body {
    saved: Saved,
    links: Option<LinkExtractor>,
    captured: Option<Vec<u8>>,
}

/// Where a body starts: at byte `from` of the whole (0, or what `--continue` continues),
/// appended to the file under the final name when `in_place` ([`ResumeKind::Visible`]);
/// and the WARC capture its bytes also go to, as they came (`--warc-file`).
#[derive(Clone, Copy)]
struct Start<'c, 'o> {
    from: u64,
    in_place: bool,
    cap: Option<&'c Capture<'o>>,
}

/// Whether a `Content-Type` is HTML (or XHTML): a page whose links a crawl follows.
fn is_html(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("text/html")
        || essence.eq_ignore_ascii_case("application/xhtml+xml")
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
    /// `--warc-file`: the bytes also go there, as they came.
    cap: Option<&'a Capture<'a>>,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.count.set(self.count.get() + n as u64);
                if let Some(cap) = self.cap {
                    cap.body(&buf[..n]);
                }
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

impl Fetcher {
    /// Reads (and saves, and decodes) the body of a response that arrived with a success
    /// status (or an accepted one), within `limit`.
    pub(super) fn read_response(
        &self,
        mut response: Resp<'_>,
        last_url: &Url,
        target: Option<&Target>,
        budget: Budget,
        resume: Option<Resume>,
        cap: Option<&Capture<'_>>,
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
        } = if self.options.head {
            if let Some(cap) = cap {
                cap.end(None);
            }
            Body {
                saved: Saved::default(),
                links: None,
                captured: None,
            }
        } else {
            let (from, expected) = match (resume.as_ref().map(|r| r.from), status.as_u16()) {
                (Some(len), 206) => {
                    let total = content_range_from(&response, len).ok_or_else(|| {
                        FetchError::Io(format!(
                            "the server did not continue the body at byte {len}"
                        ))
                    })?;
                    (len, total.or(content_length.map(|n| n + len)))
                }
                _ => (0, content_length),
            };
            let in_place = from > 0
                && resume
                    .as_ref()
                    .is_some_and(|r| r.kind == ResumeKind::Visible);
            let classify =
                |e: &reqwest::Error| self.classify(e, last_url, budget.limit, budget.by_deadline);
            let html = content_type.as_deref().is_some_and(is_html);
            let links = self.options.links.filter(|_| html).map(LinkExtractor::new);
            let at = Start {
                from,
                in_place,
                cap,
            };
            let body = self.read_body_of(&mut response, target, at, expected, links, &classify);
            if let Some(cap) = cap {
                cap.end(match &body {
                    Ok(_) => None,
                    Err(FetchError::TooLarge(_)) => Some(Truncated::Length),
                    Err(FetchError::Timeout(_) | FetchError::Deadline) => Some(Truncated::Time),
                    Err(_) => Some(Truncated::Disconnect),
                });
            }
            body?
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
            head: self.options.head,
        })
    }

    /// `--continue` of a file another tool left, answered with nothing left to send
    /// (`status` 416 with `Content-Range: bytes */TOTAL`, or a whole body of the file's
    /// length): with `total` the file's length, the file is the whole body already
    /// (counted, hashed, recorded as fetched, nothing changed); otherwise it is not a
    /// prefix of the body, and it is kept as it is.
    ///
    /// # Errors
    /// The file is not the whole body, or it cannot be read back.
    pub(super) fn already_whole(
        &self,
        status: u16,
        total: Option<u64>,
        last_url: &Url,
        target: &Target,
        from: u64,
    ) -> Result<Page, FetchError> {
        let path = target.path();
        if total != Some(from) {
            let body = total.map_or("of another length".to_string(), |t| format!("{t} bytes"));
            return Err(FetchError::Save(format!(
                "{}: the file has {from} bytes and the server's body is {body}: it is not \
                 continued and kept as it is; remove it to fetch it again",
                path.display()
            )));
        }
        let sink = BodySink::open(
            Some(target),
            self.options.checksum,
            Some((from, None)),
            false,
            true,
        )
        .and_then(BodySink::finish)
        .map_err(|e| FetchError::Save(format!("{}: {e}", path.display())))?;
        Ok(Page {
            status,
            bytes: sink.bytes,
            path: sink.path,
            sha256: sink.sha256,
            resumed_from: Some(from),
            wire_bytes: None,
            links: crate::crawl::links::PageLinks::default(),
            body: None,
            location: None,
            final_url: crate::redact::redact_url(last_url.as_str()).into_owned(),
            content_type: None,
            content_length: None,
            head: false,
        })
    }

    /// Streams the body into its sink (counted, hashed, saved as `target`), decoding it
    /// with `--compressed`, from byte `from` of `expected` (when known), checking the size
    /// limit and, at the end, the length.
    fn read_body_of(
        &self,
        response: &mut Resp<'_>,
        target: Option<&Target>,
        Start {
            from,
            in_place,
            cap,
        }: Start<'_, '_>,
        expected: Option<u64>,
        links: Option<LinkExtractor>,
        classify: &dyn Fn(&reqwest::Error) -> FetchError,
    ) -> Result<Body, FetchError> {
        let shown =
            |t: &Target| crate::redact::redact_url(&t.path().display().to_string()).into_owned();
        let save_error = |e: io::Error| {
            FetchError::Save(format!("{}: {e}", target.map(shown).unwrap_or_default()))
        };
        if let (Some(max), Some(total), false) =
            (self.options.max_size, expected, self.options.compressed)
            && total > max
        {
            return Err(FetchError::TooLarge(max));
        }
        let encodings = if self.options.compressed {
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
            self.options.checksum,
            Some((from, validator.as_deref())),
            self.options.continue_partial,
            in_place,
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
            Resp::Own { rt, response, .. } if encodings.is_empty() => {
                rt.block_on(self.stream_chunks(response, &mut sink, &wire, cap))
            }
            response => {
                let counting = Counting {
                    inner: response,
                    count: &wire,
                    failed: &failed,
                    cap,
                };
                decoding(Box::new(counting), &encodings)
                    .and_then(|mut reader| read_body(&mut reader, &mut sink, self.options.max_size))
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
}

impl Fetcher {
    /// Writes each chunk of `response` to `sink` as it arrives (a worker's own client, an
    /// unencoded body), counting it in `wire`, within `--max-size`.
    async fn stream_chunks(
        &self,
        response: &mut reqwest::Response,
        sink: &mut BodySink,
        wire: &Cell<u64>,
        cap: Option<&Capture<'_>>,
    ) -> Result<(), BodyError> {
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if let Some(cap) = cap {
                        cap.body(&chunk);
                    }
                    let n = chunk.len() as u64;
                    if let Some(max) = self.options.max_size
                        && sink.bytes() + n > max
                    {
                        return Err(BodyError::TooLarge(max));
                    }
                    wire.set(wire.get() + n);
                    sink.write(&chunk).map_err(BodyError::Write)?;
                }
                Ok(None) => return Ok(()),
                Err(e) => return Err(BodyError::Read(io::Error::other(e))),
            }
        }
    }
}

/// `reader` with a decoder for each of `encodings` around it, the last applied first.
fn decoding<'a>(
    mut reader: Box<dyn Read + 'a>,
    encodings: &[String],
) -> Result<Box<dyn Read + 'a>, BodyError> {
    for encoding in encodings.iter().rev() {
        reader = decoder(encoding, reader).map_err(BodyError::Read)?;
    }
    Ok(reader)
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
