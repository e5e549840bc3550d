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
        };
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

    /// Writes one exchange: its `request` record, then its `response` record (if a
    /// response arrived), linked by `WARC-Concurrent-To`; then removes the body's spool
    /// file and, past `--warc-max-size`, starts the next file. Returns where the response
    /// record went.
    ///
    /// # Errors
    /// The file cannot be written, or a spool file cannot be read.
    pub(crate) fn write(&mut self, exchange: &Exchange) -> io::Result<Option<Written>> {
        let result = self.write_records(exchange);
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

    fn write_records(&mut self, exchange: &Exchange) -> io::Result<Option<Written>> {
        let warcinfo = self
            .open
            .as_ref()
            .map(|o| o.warcinfo_id.clone())
            .unwrap_or_default();
        let request_id = record_id();
        let response_id = record_id();
        let mut common = vec![
            ("WARC-Warcinfo-ID", warcinfo),
            ("WARC-Target-URI", exchange.uri.clone()),
            ("WARC-Date", exchange.date.clone()),
        ];
        if let Some(ip) = exchange.ip {
            common.push(("WARC-IP-Address", ip.to_string()));
        }
        let mut request_fields = vec![
            ("WARC-Type", "request".to_string()),
            ("WARC-Record-ID", request_id),
        ];
        request_fields.extend(common.iter().cloned());
        if exchange.response.is_some() {
            request_fields.push(("WARC-Concurrent-To", response_id.clone()));
        }
        request_fields.push((
            "WARC-Block-Digest",
            super::capture::sha1_label(&sha1_of(&exchange.request)),
        ));
        request_fields.push((
            "Content-Type",
            "application/http;msgtype=request".to_string(),
        ));
        self.record(&request_fields, &exchange.request, None)?;
        let Some(response) = &exchange.response else {
            return Ok(None);
        };
        // A whole, non-empty 2xx payload archived before is a revisit, headers only.
        let dedupable = response.truncated.is_none()
            && response.body.len() > 0
            && (200..300).contains(&response.status);
        let first = dedupable
            .then(|| self.dedup.get(&response.payload_digest).cloned())
            .flatten();
        let kind = if first.is_some() {
            "revisit"
        } else {
            "response"
        };
        let mut fields = vec![
            ("WARC-Type", kind.to_string()),
            ("WARC-Record-ID", response_id.clone()),
        ];
        fields.extend(common);
        let written = match &first {
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
                fields.push((
                    "Content-Type",
                    "application/http;msgtype=response".to_string(),
                ));
                self.record(&fields, &response.head, None)?
            }
            None => {
                fields.push(("WARC-Block-Digest", response.block_digest.clone()));
                fields.push(("WARC-Payload-Digest", response.payload_digest.clone()));
                if let Some(why) = response.truncated {
                    fields.push(("WARC-Truncated", why.name().to_string()));
                }
                fields.push((
                    "Content-Type",
                    "application/http;msgtype=response".to_string(),
                ));
                let written = self.record(&fields, &response.head, Some(&response.body))?;
                if dedupable {
                    self.dedup.remember(
                        &response.payload_digest,
                        First {
                            uri: exchange.uri.clone(),
                            date: exchange.date.clone(),
                            id: Some(response_id),
                        },
                    );
                }
                written
            }
        };
        if let Some(cdx) = self.cdx.as_mut() {
            let mime = match &first {
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
        Ok(Some(written))
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
        let mut header = String::from("WARC/1.1\r\n");
        for (name, value) in fields {
            header.push_str(&format!("{name}: {}\r\n", one_line(value)));
        }
        header.push_str(&format!("Content-Length: {length}\r\n\r\n"));
        let offset = open.len;
        let mut counted = Counted {
            inner: &mut open.out,
            count: 0,
        };
        if self.settings.compress {
            let mut gz = flate2::write::GzEncoder::new(&mut counted, flate2::Compression::fast());
            write_block(&mut gz, header.as_bytes(), head, body)?;
            gz.finish()?;
        } else {
            write_block(&mut counted, header.as_bytes(), head, body)?;
        }
        let count = counted.count;
        open.out.flush()?;
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

/// A new `<urn:uuid:...>`.
fn record_id() -> String {
    format!("<urn:uuid:{}>", uuid::Uuid::new_v4())
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
fn one_line(value: &str) -> String {
    value.replace(['\r', '\n'], " ")
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
