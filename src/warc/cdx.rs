//! `--warc-cdx`: the CDXJ index of the run's WARC files, as pywb reads it and cdxj-indexer
//! writes it: a line per `response` and `revisit` record, `SURT TIMESTAMP {json}` with the
//! URL, MIME type, status, payload digest, the record's length and offset and its file,
//! sorted. Lines are kept in a temporary file as records are written and sorted at the
//! end in bounded memory (sorted runs of [`RUN_BYTES`], then merged); the index is put in
//! place atomically and never replaces a file.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The most of the index sorted in memory at once.
const RUN_BYTES: usize = 64 * 1024 * 1024;

/// One record's entry.
pub(crate) struct Entry<'a> {
    pub(crate) uri: &'a str,
    pub(crate) date: &'a str,
    pub(crate) mime: Option<&'a str>,
    pub(crate) status: u16,
    pub(crate) digest: &'a str,
    pub(crate) length: u64,
    pub(crate) offset: u64,
    pub(crate) file: &'a str,
}

impl Entry<'_> {
    /// The CDXJ line, newline included, in cdxj-indexer's form (its JSON as Python's
    /// `json.dumps` writes it).
    pub(crate) fn line(&self) -> String {
        let mut json = format!("{{\"url\": {}", py_json(self.uri));
        let mime = self
            .mime
            .and_then(|m| m.split([';', ' ', '\t', '\r', '\n']).next())
            .map(str::trim)
            .filter(|m| !m.is_empty());
        if let Some(mime) = mime {
            json.push_str(&format!(", \"mime\": {}", py_json(mime)));
        }
        json.push_str(&format!(
            ", \"status\": \"{}\", \"digest\": {}, \"length\": \"{}\", \"offset\": \"{}\", \
             \"filename\": {}}}",
            self.status,
            py_json(self.digest),
            self.length,
            self.offset,
            py_json(self.file)
        ));
        format!(
            "{} {} {json}\n",
            super::surt::surt(self.uri),
            timestamp(self.date)
        )
    }
}

/// The index on its way: lines in a temporary file beside it.
pub(crate) struct CdxWriter {
    path: PathBuf,
    lines: BufWriter<File>,
}

impl CdxWriter {
    /// An index to be written at `path`, which must not exist.
    ///
    /// # Errors
    /// `path` exists, or the temporary file cannot be made.
    pub(crate) fn create(path: PathBuf) -> io::Result<Self> {
        if std::fs::symlink_metadata(&path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists: an index is never replaced", path.display()),
            ));
        }
        let lines = tempfile::tempfile_in(parent(&path))?;
        Ok(CdxWriter {
            path,
            lines: BufWriter::new(lines),
        })
    }

    /// Adds a record's line.
    ///
    /// # Errors
    /// The temporary file cannot be written.
    pub(crate) fn add(&mut self, entry: &Entry<'_>) -> io::Result<()> {
        self.lines.write_all(entry.line().as_bytes())
    }

    /// Sorts the lines and puts the index in place.
    ///
    /// # Errors
    /// A temporary file cannot be read or written, or the index's name was taken since.
    pub(crate) fn finish(self) -> io::Result<PathBuf> {
        let mut unsorted = self
            .lines
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        unsorted.seek(SeekFrom::Start(0))?;
        let dir = parent(&self.path);
        // Sorted runs.
        let mut runs = Vec::new();
        let mut chunk: Vec<String> = Vec::new();
        let mut bytes = 0;
        let flush = |chunk: &mut Vec<String>, runs: &mut Vec<File>| -> io::Result<()> {
            chunk.sort_unstable();
            let mut run = BufWriter::new(tempfile::tempfile_in(&dir)?);
            for line in chunk.drain(..) {
                run.write_all(line.as_bytes())?;
            }
            let mut run = run.into_inner().map_err(io::IntoInnerError::into_error)?;
            run.seek(SeekFrom::Start(0))?;
            runs.push(run);
            Ok(())
        };
        for line in BufReader::new(unsorted).lines() {
            let mut line = line?;
            line.push('\n');
            bytes += line.len();
            chunk.push(line);
            if bytes >= RUN_BYTES {
                flush(&mut chunk, &mut runs)?;
                bytes = 0;
            }
        }
        if !chunk.is_empty() || runs.is_empty() {
            flush(&mut chunk, &mut runs)?;
        }
        // Merged into the index.
        let mut out = tempfile::Builder::new()
            .prefix(".fetchpool-cdxj-")
            .tempfile_in(&dir)?;
        {
            let mut writer = BufWriter::new(out.as_file_mut());
            let mut readers: Vec<_> = runs
                .into_iter()
                .map(|r| BufReader::new(r).lines())
                .collect();
            let mut heap = BinaryHeap::new();
            for (i, reader) in readers.iter_mut().enumerate() {
                if let Some(line) = reader.next().transpose()? {
                    heap.push(Reverse((line, i)));
                }
            }
            while let Some(Reverse((line, i))) = heap.pop() {
                writer.write_all(line.as_bytes())?;
                writer.write_all(b"\n")?;
                if let Some(next) = readers[i].next().transpose()? {
                    heap.push(Reverse((next, i)));
                }
            }
            writer.flush()?;
        }
        out.as_file().sync_all()?;
        out.persist_noclobber(&self.path).map_err(|e| e.error)?;
        Ok(self.path)
    }
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `2026-12-02T13:49:13.060969Z` as `20261202134913`.
fn timestamp(date: &str) -> String {
    date.bytes()
        .filter(u8::is_ascii_digit)
        .take(14)
        .map(char::from)
        .collect()
}

/// A JSON string as Python's `json.dumps` writes it (`ensure_ascii`).
fn py_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_what_cdxj_indexer_writes() {
        let entry = Entry {
            uri: "http://127.0.0.1:40087/page/small.html",
            date: "2026-12-02T13:49:13.060969Z",
            mime: Some("text/html; charset=utf-8"),
            status: 200,
            digest: "sha1:4DWUPIR747WVMK6IH7Z3UB4OFMFNHZIG",
            length: 543,
            offset: 744,
            file: "demo.warc.gz",
        };
        assert_eq!(
            entry.line(),
            "1,0,0,127:40087)/page/small.html 20261202134913 {\"url\": \
             \"http://127.0.0.1:40087/page/small.html\", \"mime\": \"text/html\", \"status\": \
             \"200\", \"digest\": \"sha1:4DWUPIR747WVMK6IH7Z3UB4OFMFNHZIG\", \"length\": \
             \"543\", \"offset\": \"744\", \"filename\": \"demo.warc.gz\"}\n"
        );
        assert_eq!(py_json("é\"\u{1F600}"), "\"\\u00e9\\\"\\ud83d\\ude00\"");
    }

    #[test]
    fn lines_are_sorted_and_the_index_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.cdxj");
        let mut cdx = CdxWriter::create(path.clone()).unwrap();
        for i in [3, 1, 2] {
            let uri = format!("http://a.test/{i}");
            cdx.add(&Entry {
                uri: &uri,
                date: "2026-01-01T00:00:00Z",
                mime: None,
                status: 200,
                digest: "sha1:X",
                length: 1,
                offset: i,
                file: "x.warc.gz",
            })
            .unwrap();
        }
        cdx.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let keys: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(keys, ["test,a)/1", "test,a)/2", "test,a)/3"]);
        assert!(CdxWriter::create(path).is_err());
    }
}
