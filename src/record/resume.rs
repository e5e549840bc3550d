//! Reading record files back: `--resume` (which input lines a previous run already
//! fetched), a resumed crawl (its frontier), and every other reader of the record schema.

use std::collections::hash_map::DefaultHasher;
use std::fs::{File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use super::{RecordLine, result};

/// Record-file lines longer than this are not records (a record's URL is at most 64 KiB);
/// they are skipped without being held in memory.
pub(crate) const MAX_RECORD_LINE: u64 = 1024 * 1024;

/// The input lines a previous run recorded with `ok: true`, each with a hash of the URL
/// it recorded, so a line is skipped only if the list still holds that URL there.
///
/// A record file is untrusted input: memory grows with the records actually read (16
/// bytes per fetched record), never with the line numbers they claim.
#[derive(Debug, Default, Clone)]
pub struct Fetched {
    /// (line, URL hash), sorted, without duplicates.
    lines: Vec<(u64, u64)>,
}

/// What the record file says about one line of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resumed {
    /// Fetched before, with this URL: skip it.
    Fetched,
    /// Recorded as fetched, but with another URL: the file was written for another list
    /// (or the list changed); fetch the line again.
    Mismatch,
    /// Not fetched before.
    No,
}

impl Fetched {
    fn from_records(mut lines: Vec<(u64, u64)>) -> Self {
        lines.sort_unstable();
        lines.dedup();
        lines.shrink_to_fit();
        Fetched { lines }
    }

    /// Whether no line was fetched before.
    pub(crate) fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Whether line `line`, whose list text is `url`, was fetched.
    pub fn lookup(&self, line: u64, url: &str) -> Resumed {
        let start = self.lines.partition_point(|&(l, _)| l < line);
        let mut recorded = self.lines[start..].iter().take_while(|&&(l, _)| l == line);
        let Some(first) = recorded.next() else {
            return Resumed::No;
        };
        let hash = url_hash(url);
        if first.1 == hash || recorded.any(|&(_, h)| h == hash) {
            Resumed::Fetched
        } else {
            Resumed::Mismatch
        }
    }
}

/// The hash a record's URL is remembered by (only compared within one run).
fn url_hash(url: &str) -> u64 {
    let mut h = DefaultHasher::new();
    url.hash(&mut h);
    h.finish()
}

/// Opens `path` to append records to; a file it creates gets mode 0600 (records may name
/// private URLs). It must be a regular file (a FIFO or a device is refused, never waited
/// on), and no other run may be writing it: an advisory lock is taken, and a second
/// writer is refused before the file is changed. Without `resume` the file is then
/// emptied.
/// With `resume` it is read first: every whole line that
/// parses as a record with `ok: true` marks its input line as fetched; other lines
/// (failed records, garbage, over-long lines) are skipped; a torn last line (no newline:
/// the previous run died mid-write) is cut off so that the next record starts on a line
/// of its own. With `crawl` as well, a second read of the same bytes gives the killed
/// crawl's frontier and the URLs it saw ([`CrawlState`]).
///
/// # Errors
/// The file cannot be opened, read or truncated, or (with `resume`) is not a regular file.
pub fn open_output(
    path: &Path,
    resume: bool,
    crawl: bool,
) -> io::Result<(File, Fetched, CrawlState)> {
    open_output_with(path, resume, crawl.then(CrawlScan::default))
}

/// [`open_output`] for a crawl that runs in rounds (`--handoff`): a page with a final
/// record, failed or not, is done (a later round must not fetch it again); only a page
/// whose run was stopped (`cancelled`) is queued again.
///
/// # Errors
/// As [`open_output`].
pub(crate) fn open_output_in_rounds(
    path: &Path,
    resume: bool,
) -> io::Result<(File, Fetched, CrawlState)> {
    let scan = CrawlScan {
        every_final: true,
        ..CrawlScan::default()
    };
    open_output_with(path, resume, Some(scan))
}

fn open_output_with(
    path: &Path,
    resume: bool,
    scan: Option<CrawlScan>,
) -> io::Result<(File, Fetched, CrawlState)> {
    let refused = |what| {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is {what}, not a regular file"),
        ))
    };
    // A FIFO is refused before it is opened (opening it would wait for a reader); a
    // device such as /dev/null may take the records, but cannot be resumed from.
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::FileTypeExt as _;
        let kind = meta.file_type();
        if kind.is_fifo() || kind.is_socket() {
            return refused("a FIFO or a socket");
        }
        if kind.is_dir() {
            return refused("a folder");
        }
        if resume && !kind.is_file() {
            return refused("a device (--resume reads the record file back)");
        }
    }
    let mut options = OpenOptions::new();
    options.create(true).mode(0o600).custom_flags(NONBLOCK);
    if resume {
        options.read(true).append(true);
    } else {
        options.write(true);
    }
    let mut file = options.open(path)?;
    let regular = file.metadata()?.is_file();
    if resume && !regular {
        return refused("something other than a file");
    }
    lock(&file)?;
    if !resume {
        if regular {
            file.set_len(0)?;
        }
        return Ok((file, Fetched::default(), CrawlState::default()));
    }
    let mut fetched = Vec::new();
    let mut scan = scan;
    let every_final = scan.as_ref().is_some_and(|s| s.every_final);
    let whole = for_each_whole_line(BufReader::new(&file), |line| {
        if let Some(seen) = RecordLine::parse(line)
            && (seen.ok
                || (every_final
                    && seen.result != result::QUEUED
                    && seen.result != result::CANCELLED))
        {
            fetched.push((seen.line, url_hash(&seen.url)));
        }
        if let Some(scan) = scan.as_mut() {
            scan.first_pass(line);
        }
    })?;
    if file.metadata()?.len() > whole {
        file.set_len(whole)?;
    }
    let crawled = match scan {
        Some(scan) => {
            file.seek(SeekFrom::Start(0))?;
            scan.second_pass(BufReader::new((&file).take(whole)))?
        }
        None => CrawlState::default(),
    };
    file.seek(SeekFrom::End(0))?;
    Ok((file, Fetched::from_records(fetched), crawled))
}

/// `O_NONBLOCK`: opening a FIFO or a device must never wait (for a writer, a reader).
const NONBLOCK: i32 = rustix::fs::OFlags::NONBLOCK.bits() as i32;

/// Opens `path` for reading if it is a regular file, without ever waiting on a FIFO.
///
/// # Errors
/// It cannot be opened, or it is not a regular file (a FIFO, a device, a folder).
pub(crate) fn open_regular(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(NONBLOCK)
        .open(path)?;
    if file.metadata()?.is_file() {
        Ok(file)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, a device or a folder)",
        ))
    }
}

/// Takes the record file's advisory lock: one run writes it at a time.
fn lock(file: &File) -> io::Result<()> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "another fetchpool run is writing it (two writers would tear each other's lines)",
        )),
        // A file system without locks (some network ones): go on, as before.
        Err(std::fs::TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => Ok(()),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// What a killed crawl's record file says: the pages it had queued and not fetched (its
/// frontier, in the order they were queued) and every page it had seen.
#[derive(Debug, Default)]
pub struct CrawlState {
    /// Pages queued and without a record that says fetched: (URL, depth, parent, hops).
    pub frontier: Vec<(String, u32, String, u32)>,
    /// The key ([`crate::crawl::url_key`]) of every URL queued or recorded.
    pub seen: Vec<u128>,
}

/// Reading a crawl's record file back (`--crawl --resume`), in two passes: the first (the
/// one that also reads the list's records) sees which pages are done, the second takes
/// the `queued` lines not done as the frontier. Memory: 16 bytes per URL seen, a set of
/// the pages done, plus the frontier left.
#[derive(Default)]
struct CrawlScan {
    done: std::collections::HashSet<u128>,
    seen: Vec<u128>,
    /// A page with a final record is done even if it failed (a crawl in rounds).
    every_final: bool,
}

impl CrawlScan {
    fn first_pass(&mut self, line: &[u8]) {
        if let Some(rec) = RecordLine::parse(line) {
            let key = crate::crawl::url_key(&rec.url);
            self.seen.push(key);
            let final_record = rec.result != result::QUEUED && rec.result != result::CANCELLED;
            if rec.ok || (self.every_final && final_record) {
                self.done.insert(key);
            }
        }
    }

    fn second_pass(self, reader: impl BufRead) -> io::Result<CrawlState> {
        let mut frontier = Vec::new();
        let mut queued = std::collections::HashSet::new();
        for_each_whole_line(reader, |line| {
            if let Some(rec) = RecordLine::parse(line) {
                let key = crate::crawl::url_key(&rec.url);
                if rec.result == result::QUEUED && !self.done.contains(&key) && queued.insert(key) {
                    frontier.push((
                        rec.url.into_owned(),
                        rec.depth.unwrap_or(0),
                        rec.parent.unwrap_or_default().into_owned(),
                        rec.hops,
                    ));
                }
            }
        })?;
        Ok(CrawlState {
            frontier,
            seen: self.seen,
        })
    }
}

/// Calls `f` with every whole line of `reader` (newline included) that is at most
/// [`MAX_RECORD_LINE`] long; longer lines are skipped without being held, and a torn last
/// line (no newline: its writer died mid-write) is left out. Returns the length of the
/// whole lines, torn line excluded.
///
/// # Errors
/// Reading failed.
pub(crate) fn for_each_whole_line(
    mut reader: impl BufRead,
    mut f: impl FnMut(&[u8]),
) -> io::Result<u64> {
    let mut whole = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_RECORD_LINE)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(whole);
        }
        if line.last() != Some(&b'\n') {
            if (n as u64) < MAX_RECORD_LINE {
                return Ok(whole); // the torn last line
            }
            // Over-long: skip to its end.
            let (rest, ended) = skip_line(&mut reader)?;
            if !ended {
                return Ok(whole); // torn as well
            }
            whole += n as u64 + rest;
            continue;
        }
        whole += n as u64;
        f(&line);
    }
}

/// Consumes the rest of a line, newline included; returns how many bytes that was and
/// whether a newline ended it (not the end of the input).
fn skip_line(reader: &mut impl BufRead) -> io::Result<(u64, bool)> {
    let mut skipped = 0u64;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok((skipped, false));
        }
        let (len, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        reader.consume(len);
        skipped += len as u64;
        if done {
            return Ok((skipped, true));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_fetched_only_with_the_url_it_was_recorded_with() {
        let f = Fetched::from_records(vec![
            (5, url_hash("http://a/")),
            (1_000_000, url_hash("http://b/")),
            (5, url_hash("http://a/")),
        ]);
        assert_eq!(f.lines.len(), 2);
        assert_eq!(f.lookup(5, "http://a/"), Resumed::Fetched);
        assert_eq!(f.lookup(5, "http://other/"), Resumed::Mismatch);
        assert_eq!(f.lookup(1_000_000, "http://b/"), Resumed::Fetched);
        assert_eq!(f.lookup(6, "http://a/"), Resumed::No);
    }

    #[test]
    fn a_huge_line_number_costs_one_entry_not_a_bit_per_line() {
        let dir = std::env::temp_dir().join(format!("fetchpool-resume-{}", std::process::id()));
        std::fs::write(
            &dir,
            b"{\"line\":100000000000,\"ok\":true,\"url\":\"http://a/\"}\n",
        )
        .unwrap();
        let (_, fetched, _) = open_output(&dir, true, false).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(fetched.lines.len(), 1);
        assert_eq!(fetched.lines.capacity(), 1);
        assert_eq!(
            fetched.lookup(100_000_000_000, "http://a/"),
            Resumed::Fetched
        );
    }
}
