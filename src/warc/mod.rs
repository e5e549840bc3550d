//! `--warc-file PREFIX`: every HTTP exchange of the run archived as WARC/1.1 (ISO 28500),
//! the format Heritrix, wget and browsertrix write and pywb replays. A fetch captures each
//! exchange ([`capture`]: the request as sent, the response's head and its body as they
//! came, with their SHA-1 digests); the run's one writer ([`writer`]) appends them as
//! `request` and `response` records.
//!
//! What the records hold, and how it differs from the bytes on the wire: reqwest hands out
//! a parsed response, not its bytes. The status line and the header fields are written in
//! HTTP/1.1 form from what the client parsed: field names in lower case (HTTP/2's form,
//! and what hyper keeps), in the order it keeps them (fields of one name together), the
//! reason phrase the standard one. The body is exactly what arrived, content coding kept
//! (a gzip body stays gzip), transfer coding removed (a `Transfer-Encoding: chunked` field
//! is kept as `X-Fetchpool-Transfer-Encoding`, so that a reader does not try to de-chunk).
//! The request record is the request line, `Host` and the fields fetchpool and reqwest
//! send. While archiving, fetchpool speaks HTTP/1.1 (as wget does): an HTTP/2 exchange has
//! no HTTP/1.1 wire form to record.

pub(crate) mod capture;
pub(crate) mod cdx;
pub(crate) mod dedup;
pub(crate) mod gzip;
pub(crate) mod surt;
pub(crate) mod writer;

pub use capture::CaptureOptions;
