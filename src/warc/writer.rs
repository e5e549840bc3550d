//! The one WARC writer of a run: WARC/1.1 records appended to `PREFIX.warc.gz` (each
//! record its own gzip member, so a reader can start at any record and files concatenate)
//! or `PREFIX.warc`, rotated at `--warc-max-size` into `PREFIX-00000.warc.gz`, ... without
//! ever splitting a record. Each file begins with a `warcinfo` record. A WARC file is never
//! replaced or appended to: a name that is taken is an error, or with `--resume` the run
//! writes the next free number, so what an earlier (perhaps killed) run wrote stays as it
//! is. A record is flushed whole before the next begins: after kill -9 only the last
//! member can be torn, and every one before it reads.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::capture::{Exchange, Spool};
use super::cdx::{CdxWriter, Entry};
use super::dedup::{Dedup, First};

/// What `--warc-file` and its companions ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WarcSettings {
    /// `PREFIX` of the files' names (a path).
    pub(crate) prefix: PathBuf,
    /// gzip each record (`.warc.gz`), unless `--no-warc-compression`.
    pub(crate) compress: bool,
    /// Start a new file once one reaches this size (`--warc-max-size`).
    pub(crate) max_size: Option<u64>,
    /// `--resume`: a name that is taken means the next number, not an error.
    pub(crate) resume: bool,
    /// `--warc-dedup FILE`: the CDXJ index of earlier captures to refer to.
    pub(crate) dedup_index: Option<PathBuf>,
    /// `--warc-cdx`: write the CDXJ index of this run's files.
    pub(crate) cdx: bool,
    /// Flush after each exchange (`--record`: a record never says fetched before the
    /// archive has the exchange).
    pub(crate) flush_each: bool,
}

/// Where one record went: for the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Written {
    /// The file's name (without its folder).
    pub(crate) file: String,
    /// The record's offset and length in the file (of its gzip member, if compressed).
    pub(crate) offset: u64,
    pub(crate) length: u64,
}

/// The open file.
struct Open {
    out: BufWriter<File>,
    name: String,
    len: u64,
    warcinfo_id: String,
}

/// The run's WARC writer.
pub(crate) struct WarcWriter {
    settings: WarcSettings,
    /// The `warcinfo` record's fields (after `software` and `format`), secrets left out.
    info: Vec<(String, String)>,
    open: Option<Open>,
    /// The next number to try, when files are numbered.
    next: u32,
    /// Files written, in order.
    files: Vec<PathBuf>,
    /// The payloads archived so far (and those the `--warc-dedup` index lists).
    dedup: Dedup,
    /// `--warc-cdx`: the index on its way.
    cdx: Option<CdxWriter>,
    /// The deflate state of the records' gzip members (none with `--no-warc-compression`).
    members: Option<super::gzip::Members>,
}

impl WarcWriter {
    /// Opens the first file (and writes its `warcinfo`), describing the run with `info`.
    ///
    /// # Errors
    /// The name is taken (without `--resume`), or the file cannot be created or written.
    pub(crate) fn create(settings: WarcSettings, info: Vec<(String, String)>) -> io::Result<Self> {
        let mut dedup = Dedup::default();
        if let Some(index) = &settings.dedup_index {
            dedup.read_cdxj(index).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot read --warc-dedup {}: {e}", index.display()),
                )
            })?;
        }
        let mut writer = WarcWriter {
            settings,
            info,
            open: None,
            next: 0,
            files: Vec::new(),
            dedup,
            cdx: None,
            members: None,
        };
        if writer.settings.compress {
            writer.members = Some(super::gzip::Members::new(flate2::Compression::fast()));
        }
        writer.open_next()?;
        if writer.settings.cdx {
            let first = writer.files.first().cloned().unwrap_or_default();
            let name = first.to_string_lossy();
            let stem = name
                .strip_suffix(writer.extension())
                .unwrap_or(&name)
                .to_string();
            writer.cdx = Some(CdxWriter::create(PathBuf::from(format!("{stem}.cdxj")))?);
        }
        Ok(writer)
    }

    /// Payloads not remembered for deduplication (the table's budget was full).
    pub(crate) fn forgotten(&self) -> u64 {
        self.dedup.forgotten
    }

    fn extension(&self) -> &'static str {
        if self.settings.compress {
            ".warc.gz"
        } else {
            ".warc"
        }
    }

    /// `PREFIX-NNNNN.warc[.gz]`.
    fn numbered(&self, n: u32) -> PathBuf {
        let mut name = self.settings.prefix.as_os_str().to_owned();
        name.push(format!("-{n:05}{}", self.extension()));
        PathBuf::from(name)
    }

    /// Creates the next file: `PREFIX.warc.gz` first (without `--warc-max-size`), else
    /// the next number; a taken name is an error unless `--resume` (or a rotation) asks
    /// for the next free one.
    fn open_next(&mut self) -> io::Result<()> {
        let first = self.open.is_none() && self.files.is_empty();
        let single = {
            let mut name = self.settings.prefix.as_os_str().to_owned();
            name.push(self.extension());
            PathBuf::from(name)
        };
        let mut candidates: Box<dyn Iterator<Item = PathBuf>> =
            if first && self.settings.max_size.is_none() {
                Box::new(std::iter::once(single).chain((1..).map(|n| self.numbered(n))))
            } else {
                let start = self.next;
                Box::new((start..).map(|n| self.numbered(n)))
            };
        let (path, file) = loop {
            let Some(path) = candidates.next() else {
                return Err(io::Error::other("no free WARC file name"));
            };
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => break (path, file),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if first && !self.settings.resume {
                        return Err(io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            format!(
                                "{} exists: a WARC file is never replaced (name another \
                                 prefix, or add --resume to write the next file)",
                                path.display()
                            ),
                        ));
                    }
                }
                Err(e) => return Err(e),
            }
        };
        drop(candidates);
        if let Some(n) = number_of(&path, &self.settings.prefix, self.extension()) {
            self.next = n + 1;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.files.push(path);
        let warcinfo_id = record_id();
        self.open = Some(Open {
            out: BufWriter::with_capacity(256 * 1024, file),
            name: name.clone(),
            len: 0,
            warcinfo_id: warcinfo_id.clone(),
        });
        let mut block = format!(
            "software: fetchpool/{}\r\nformat: WARC File Format 1.1\r\nconformsTo: \
             http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n",
            env!("CARGO_PKG_VERSION")
        );
        for (key, value) in &self.info {
            block.push_str(&format!("{key}: {}\r\n", one_line(value)));
        }
        let fields = vec![
            ("WARC-Type", "warcinfo".to_string()),
            ("WARC-Record-ID", warcinfo_id),
            ("WARC-Date", now()),
            ("WARC-Filename", name),
            ("Content-Type", "application/warc-fields".to_string()),
        ];
        self.record(&fields, block.as_bytes(), None)?;
        Ok(())
    }

    /// Decides what an exchange's records are (under the writer's lock): their ids, the
    /// open file's `warcinfo`, and whether the response is a revisit of a payload
    /// archived before, remembering it otherwise. An exchange is written as a `request`
    /// record, then its `response` (or `revisit`) record if a response arrived, linked
    /// by `WARC-Concurrent-To`: [`plan`](Self::plan), then [`encode`] (on the worker's
    /// thread, outside the writer's lock: building and compressing are most of the
    /// cost), then [`emit`](Self::emit).
    pub(crate) fn plan(&mut self, exchange: &Exchange) -> Plan {
        let warcinfo_id = self
            .open
            .as_ref()
            .map(|o| o.warcinfo_id.clone())
            .unwrap_or_default();
        let response_id = record_id();
        let mut revisit = None;
        if let Some(response) = &exchange.response {
            // A whole, non-empty 2xx payload archived before is a revisit, headers only.
            let dedupable = response.truncated.is_none()
                && response.body.len() > 0
                && (200..300).contains(&response.status);
            if dedupable {
                revisit = self.dedup.get(&response.payload_digest).cloned();
                if revisit.is_none() {
                    self.dedup.remember(
                        &response.payload_digest,
                        First {
                            uri: exchange.uri.clone(),
                            date: exchange.date.clone(),
                            id: Some(response_id.clone()),
                        },
                    );
                }
            }
        }
        Plan {
            warcinfo_id,
            request_id: record_id(),
            response_id,
            revisit,
        }
    }

    /// Appends an exchange's records, as [`encode`] built them (those it could not, a
    /// body spooled to a file, are streamed here), then its index entry; flushes, removes
    /// the spool file and rotates past `--warc-max-size`.
    ///
    /// # Errors
    /// The file cannot be written, or a spool file cannot be read.
    pub(crate) fn emit(
        &mut self,
        plan: &Plan,
        exchange: &Exchange,
        encoded: Encoded,
    ) -> io::Result<Option<Written>> {
        let result = self.emit_records(plan, exchange, encoded);
        if let Some(Spool::File(path, _)) = exchange.response.as_ref().map(|r| &r.body) {
            let _ = std::fs::remove_file(path);
        }
        let written = result?;
        if let (Some(max), Some(open)) = (self.settings.max_size, &self.open)
            && open.len >= max
        {
            self.close_file()?;
            self.open_next()?;
        }
        Ok(written)
    }

    fn emit_records(
        &mut self,
        plan: &Plan,
        exchange: &Exchange,
        mut encoded: Encoded,
    ) -> io::Result<Option<Written>> {
        let current = self.open.as_ref().map(|o| o.warcinfo_id.as_str());
        let plan = if current == Some(plan.warcinfo_id.as_str()) {
            plan.clone()
        } else {
            // The file rotated since the plan: the records name the new file's warcinfo.
            let plan = Plan {
                warcinfo_id: current.unwrap_or_default().to_string(),
                ..plan.clone()
            };
            encoded = encode(&plan, exchange, self.settings.compress);
            plan
        };
        let request = request_fields(&plan, exchange);
        self.put(encoded.request, &request, &exchange.request, None)?;
        let Some(response) = &exchange.response else {
            self.flush_exchange()?;
            return Ok(None);
        };
        let fields = response_fields(&plan, exchange);
        let body = plan.revisit.is_none().then_some(&response.body);
        let written = self.put(encoded.response, &fields, &response.head, body)?;
        if let Some(cdx) = self.cdx.as_mut() {
            let mime = match &plan.revisit {
                Some(_) => Some("warc/revisit"),
                None => response.mime.as_deref(),
            };
            cdx.add(&Entry {
                uri: &exchange.uri,
                date: &exchange.date,
                mime,
                status: response.status,
                digest: &response.payload_digest,
                length: written.length,
                offset: written.offset,
                file: &written.file,
            })?;
        }
        self.flush_exchange()?;
        Ok(Some(written))
    }

    /// Appends a record: `bytes` as [`encode`] built it, or else built and streamed now.
    fn put(
        &mut self,
        bytes: Option<Vec<u8>>,
        fields: &[(&str, String)],
        head: &[u8],
        body: Option<&Spool>,
    ) -> io::Result<Written> {
        let Some(bytes) = bytes else {
            return self.record(fields, head, body);
        };
        let open = self
            .open
            .as_mut()
            .ok_or_else(|| io::Error::other("the WARC file is closed"))?;
        open.out.write_all(&bytes)?;
        let offset = open.len;
        open.len += bytes.len() as u64;
        Ok(Written {
            file: open.name.clone(),
            offset,
            length: bytes.len() as u64,
        })
    }

    /// With a record file, an exchange's records reach the file before its record is
    /// written, so a resumed run after kill -9 never skips a page the archive lacks.
    fn flush_exchange(&mut self) -> io::Result<()> {
        match (&mut self.open, self.settings.flush_each) {
            (Some(open), true) => open.out.flush(),
            _ => Ok(()),
        }
    }

    /// Writes one record: the fields, `Content-Length`, the block (`head` and then the
    /// body), as one gzip member when compressing; flushed before it returns.
    fn record(
        &mut self,
        fields: &[(&str, String)],
        head: &[u8],
        body: Option<&Spool>,
    ) -> io::Result<Written> {
        let open = self
            .open
            .as_mut()
            .ok_or_else(|| io::Error::other("the WARC file is closed"))?;
        let length = head.len() as u64 + body.map_or(0, Spool::len);
        let header = warc_header(fields, length);
        let offset = open.len;
        let mut counted = Counted {
            inner: &mut open.out,
            count: 0,
        };
        if let Some(members) = self.members.as_mut() {
            let mut gz = members.member(&mut counted)?;
            write_block(&mut gz, header.as_bytes(), head, body)?;
            gz.finish()?;
        } else {
            write_block(&mut counted, header.as_bytes(), head, body)?;
        }
        let count = counted.count;
        open.len += count;
        Ok(Written {
            file: open.name.clone(),
            offset,
            length: count,
        })
    }

    /// Flushes and closes the open file.
    ///
    /// # Errors
    /// The file cannot be flushed.
    pub(crate) fn close(&mut self) -> io::Result<()> {
        self.close_file()?;
        if let Some(cdx) = self.cdx.take() {
            cdx.finish()?;
        }
        Ok(())
    }

    /// Flushes and closes the open file (a rotation).
    fn close_file(&mut self) -> io::Result<()> {
        if let Some(open) = self.open.take() {
            let file = open
                .out
                .into_inner()
                .map_err(io::IntoInnerError::into_error)?;
            file.sync_all()?;
        }
        Ok(())
    }
}

/// What [`WarcWriter::plan`] decided for an exchange.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    warcinfo_id: String,
    request_id: String,
    response_id: String,
    /// The first capture of the payload, when the response is a revisit of it.
    revisit: Option<First>,
}

/// An exchange's records as bytes to append (gzip members, or plain), built by
/// [`encode`]; `None` for a record whose body is spooled to a file (streamed when
/// appended).
#[derive(Debug)]
pub(crate) struct Encoded {
    request: Option<Vec<u8>>,
    response: Option<Vec<u8>>,
}

/// Builds (and compresses) an exchange's records as `plan` says, on the calling thread.
pub(crate) fn encode(plan: &Plan, exchange: &Exchange, compress: bool) -> Encoded {
    let build = |fields: &[(&str, String)], head: &[u8], body: Option<&Spool>| {
        let bytes = match body {
            Some(Spool::File(..)) => return None,
            Some(Spool::Memory(bytes)) => &bytes[..],
            None => &[][..],
        };
        let header = warc_header(fields, head.len() as u64 + bytes.len() as u64);
        let mut out = Vec::with_capacity(header.len() + head.len() + bytes.len() + 64);
        let result = if compress {
            super::gzip::with_local(|members| {
                let mut gz = members.member(&mut out)?;
                write_parts(&mut gz, header.as_bytes(), head, bytes)?;
                gz.finish()
            })
        } else {
            write_parts(&mut out, header.as_bytes(), head, bytes)
        };
        result.ok().map(|()| out)
    };
    let request = build(&request_fields(plan, exchange), &exchange.request, None);
    let response = exchange.response.as_ref().and_then(|response| {
        let body = plan.revisit.is_none().then_some(&response.body);
        build(&response_fields(plan, exchange), &response.head, body)
    });
    Encoded { request, response }
}

/// The `request` record's fields.
fn request_fields(plan: &Plan, exchange: &Exchange) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("WARC-Type", "request".to_string()),
        ("WARC-Record-ID", plan.request_id.clone()),
    ];
    fields.extend(common_fields(plan, exchange));
    if exchange.response.is_some() {
        fields.push(("WARC-Concurrent-To", plan.response_id.clone()));
    }
    fields.push((
        "WARC-Block-Digest",
        super::capture::sha1_label(&sha1_of(&exchange.request)),
    ));
    fields.push((
        "Content-Type",
        "application/http;msgtype=request".to_string(),
    ));
    fields
}

/// The `response` (or `revisit`) record's fields; none without a response.
fn response_fields(plan: &Plan, exchange: &Exchange) -> Vec<(&'static str, String)> {
    let Some(response) = &exchange.response else {
        return Vec::new();
    };
    let kind = if plan.revisit.is_some() {
        "revisit"
    } else {
        "response"
    };
    let mut fields = vec![
        ("WARC-Type", kind.to_string()),
        ("WARC-Record-ID", plan.response_id.clone()),
    ];
    fields.extend(common_fields(plan, exchange));
    match &plan.revisit {
        Some(first) => {
            fields.push((
                "WARC-Profile",
                "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest".to_string(),
            ));
            fields.push(("WARC-Refers-To-Target-URI", first.uri.clone()));
            fields.push(("WARC-Refers-To-Date", first.date.clone()));
            if let Some(id) = &first.id {
                fields.push(("WARC-Refers-To", id.clone()));
            }
            fields.push((
                "WARC-Block-Digest",
                super::capture::sha1_label(&sha1_of(&response.head)),
            ));
            fields.push(("WARC-Payload-Digest", response.payload_digest.clone()));
        }
        None => {
            fields.push(("WARC-Block-Digest", response.block_digest.clone()));
            fields.push(("WARC-Payload-Digest", response.payload_digest.clone()));
            if let Some(why) = response.truncated {
                fields.push(("WARC-Truncated", why.name().to_string()));
            }
        }
    }
    fields.push((
        "Content-Type",
        "application/http;msgtype=response".to_string(),
    ));
    fields
}

/// The fields every exchange's records share.
fn common_fields(plan: &Plan, exchange: &Exchange) -> Vec<(&'static str, String)> {
    let mut common = vec![
        ("WARC-Warcinfo-ID", plan.warcinfo_id.clone()),
        ("WARC-Target-URI", exchange.uri.clone()),
        ("WARC-Date", exchange.date.clone()),
    ];
    if let Some(ip) = exchange.ip {
        common.push(("WARC-IP-Address", ip.to_string()));
    }
    common
}

/// A record's header: `WARC/1.1`, the fields, `Content-Length` and the blank line.
fn warc_header(fields: &[(&str, String)], length: u64) -> String {
    let mut header = String::with_capacity(512);
    header.push_str("WARC/1.1\r\n");
    for (name, value) in fields {
        header.push_str(name);
        header.push_str(": ");
        header.push_str(&one_line(value));
        header.push_str("\r\n");
    }
    header.push_str(&format!("Content-Length: {length}\r\n\r\n"));
    header
}

/// The header, the block (from memory) and the record's end.
fn write_parts(out: &mut impl Write, header: &[u8], head: &[u8], body: &[u8]) -> io::Result<()> {
    out.write_all(header)?;
    out.write_all(head)?;
    out.write_all(body)?;
    out.write_all(b"\r\n\r\n")
}

/// The header, the block and the record's end.
fn write_block(
    out: &mut impl Write,
    header: &[u8],
    head: &[u8],
    body: Option<&Spool>,
) -> io::Result<()> {
    out.write_all(header)?;
    out.write_all(head)?;
    match body {
        None => {}
        Some(Spool::Memory(bytes)) => out.write_all(bytes)?,
        Some(Spool::File(path, len)) => {
            let mut file = File::open(path)?;
            let copied = io::copy(&mut io::Read::take(&mut file, *len), out)?;
            if copied != *len {
                return Err(io::Error::other(format!(
                    "the spool file {} is shorter than recorded",
                    path.display()
                )));
            }
        }
    }
    out.write_all(b"\r\n\r\n")
}

/// A writer that counts what goes through.
struct Counted<'a, W: Write> {
    inner: &'a mut W,
    count: u64,
}

impl<W: Write> Write for Counted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A new `<urn:uuid:...>`: a version-4 UUID made of a random base drawn once per run
/// (from the system's generator) plus a counter, so ids are unique within the run for
/// certain and across runs as random UUIDs are, without a system call for each.
fn record_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static BASE: OnceLock<u128> = OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let base = *BASE.get_or_init(|| uuid::Uuid::new_v4().as_u128());
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    // The counter is added to the low 64 bits; the variant's two bits at their top
    // change only after 2^62 ids.
    let id = (base & !u128::from(u64::MAX)) | u128::from((base as u64).wrapping_add(n));
    let id = uuid::Builder::from_random_bytes(id.to_be_bytes()).into_uuid();
    format!("<urn:uuid:{id}>")
}

/// Now, as `WARC-Date` writes it.
fn now() -> String {
    humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string()
}

fn sha1_of(bytes: &[u8]) -> Vec<u8> {
    use sha1::Digest as _;
    sha1::Sha1::digest(bytes).to_vec()
}

/// A field value on one line (a WARC header field cannot hold CR or LF).
fn one_line(value: &str) -> std::borrow::Cow<'_, str> {
    if value.contains(['\r', '\n']) {
        value.replace(['\r', '\n'], " ").into()
    } else {
        value.into()
    }
}

/// The number of a `PREFIX-NNNNN.warc[.gz]` file.
fn number_of(path: &Path, prefix: &Path, extension: &str) -> Option<u32> {
    let name = path.to_string_lossy();
    let rest = name.strip_prefix(&*prefix.to_string_lossy())?;
    rest.strip_prefix('-')?
        .strip_suffix(extension)?
        .parse()
        .ok()
}

impl Drop for WarcWriter {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
