//! `--handoff DIR`: the shards of a crawl (`--crawl --shard K/N --shard-by host`) hand each
//! other the links they find, through files on a shared folder, as crawlers that scale out
//! by host do (Heritrix's HashCrawlMapper, Nutch's crawldb update).
//!
//! **Outgoing.** A link in scope whose host another shard J owns is appended to
//! `DIR/J/from-K.jsonl`, one JSON line per link (`url`, `depth`, `parent`), each line one
//! `write` of a whole line to a file only shard K writes. Each link goes out at most once:
//! the set of links handed before (16 bytes each) is read back from those files when the
//! run starts, and a torn last line a killed run left there is cut off first (no other
//! process writes the file, so nothing else is lost).
//!
//! **Incoming.** When the list is read (every seed, and so the scope, is known), the run
//! takes the lines of every file under `DIR/K/` past what an earlier run consumed: each is
//! checked (whole JSON, an http(s) URL of a host this shard owns, within `--depth`, in
//! scope), then joins the frontier at its depth unless it was seen before (the record
//! file of `--resume` has it). How far each file was consumed is kept in
//! `DIR/K/.consumed.json`, written atomically only when the run ends by itself: a run that
//! is stopped or killed takes the same lines again next time, and the record file makes
//! those it fetched count as seen (in a crawl that hands off, a page with a record is done
//! whatever its result: a later round does not fetch a failed page again). At most
//! [`MAX_TAKEN`] lines are taken per run; the rest wait for the next round.
//!
//! **Rounds, a level each.** A round runs every shard once (with `--resume`). Round r
//! fetches the pages of depth r (the seeds in the first): links found at depth r + 1 are
//! queued in the record file (`"result":"queued"`) or handed off, and fetched in the next
//! round. So every page is fetched at its shortest depth from the seeds, whichever shard
//! finds it first, as in one breadth-first crawl (Nutch's generate/fetch/update cycles
//! work the same way), and a `--depth` that cuts the crawl cuts it where one process
//! would. A shard learns the round from the others: each writes the level its last whole
//! run reached to `DIR/K/.level` (atomically, with `.consumed.json`), and a run's level is
//! one more than the lowest of all N (0 while a shard has not finished a run). A shard
//! that was killed holds the others back until it has caught up.
//!
//! **The end.** `fetchpool report --handoff DIR` counts the lines not yet consumed and
//! the queued pages not yet fetched; a driver runs rounds until there are none.
//! Termination: every round fetches a level, the levels are bounded by `--depth` and the
//! pages in scope are finite; a shard hands each URL off at most once over all its runs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use url::Url;

use crate::crawl::links::normalize;
use crate::crawl::{Found, url_key};
use crate::record::resume::open_regular;
use crate::shard::Shard;
use crate::sync::Recover as _;

/// The longest handoff line read; a longer one is skipped (links are at most 8 KiB).
pub(crate) const MAX_LINE: u64 = 64 * 1024;

/// The most handed-off lines one run takes into its frontier.
pub(crate) const MAX_TAKEN: usize = 500_000;

/// The name of the file that says how far each incoming file was consumed.
const CONSUMED: &str = ".consumed.json";

/// The largest `.consumed.json` read (a larger one is ignored: every file is read again).
const MAX_CONSUMED_BYTES: u64 = 16 << 20;

/// How this shard's own files are opened: never through a symbolic link (the folder is
/// shared: a link planted there must not make the run append to, or cut, another file),
/// and never waiting (a FIFO).
const NO_FOLLOW: i32 =
    (rustix::fs::OFlags::NOFOLLOW.bits() | rustix::fs::OFlags::NONBLOCK.bits()) as i32;

/// The name of the file that says which level a shard's last whole run reached.
const LEVEL: &str = ".level";

/// One shard's handoff folder.
#[derive(Debug)]
pub(crate) struct Handoff {
    dir: PathBuf,
    shard: Shard,
    outbox: Mutex<Outbox>,
    /// The first error writing a handoff file: the run stops on it.
    error: Mutex<Option<String>>,
    /// Links handed off by this run.
    handed: AtomicU64,
    /// What the intake read: how far each incoming file is consumed once the run ends.
    consumed: Mutex<BTreeMap<String, u64>>,
    /// What the intake met besides links to take.
    counts: Mutex<Counts>,
    /// This round's level: the depth up to which this run fetches.
    level: u32,
}

/// The files this shard writes to, and every link it ever wrote there.
#[derive(Debug, Default)]
struct Outbox {
    files: HashMap<u32, File>,
    sent: HashSet<u128>,
}

/// What reading the incoming files met.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Lines taken (each a link in this shard's hosts within `--depth`).
    pub(crate) taken: u64,
    /// Links of a host another shard owns: not fetched.
    pub(crate) foreign: u64,
    /// Links deeper than `--depth`.
    pub(crate) too_deep: u64,
    /// Lines that are not a handoff (garbage, over-long, not an http(s) URL).
    pub(crate) unreadable: u64,
    /// Lines left for the next round ([`MAX_TAKEN`]).
    pub(crate) left: bool,
    /// Files that could not be read (a FIFO, a folder, an error), with why.
    pub(crate) bad_files: Vec<String>,
}

/// One line of a handoff file.
#[derive(serde::Serialize, serde::Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    url: std::borrow::Cow<'a, str>,
    depth: u32,
    #[serde(borrow, default)]
    parent: std::borrow::Cow<'a, str>,
}

impl Handoff {
    /// Opens shard `shard`'s view of `dir`: creates `dir/K`, and reads back the links
    /// this shard handed off in earlier runs (cutting off a torn last line).
    ///
    /// # Errors
    /// The folder cannot be created or read, or a handoff file of this shard cannot be
    /// read or repaired.
    pub(crate) fn open(dir: &Path, shard: Shard) -> io::Result<Self> {
        std::fs::create_dir_all(dir.join(shard.index.to_string()))?;
        let mut outbox = Outbox::default();
        for (owner, folder) in shard_folders(dir, shard.count)? {
            if owner == shard.index {
                continue;
            }
            let path = folder.join(outgoing_name(shard.index));
            let file = match OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(NO_FOLLOW)
                .open(&path)
            {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(named(&path, e)),
            };
            if !file.metadata()?.is_file() {
                return Err(named(
                    &path,
                    io::Error::other("not a regular file (only this shard writes it)"),
                ));
            }
            let whole = read_lines(&file, 0, |line| {
                if let Some(url) = parse_line(line).map(|(url, _, _)| url) {
                    outbox.sent.insert(url_key(url.as_str()));
                }
                true
            })
            .map_err(|e| named(&path, e))?;
            if whole < file.metadata()?.len() {
                // A torn last line (the writer was killed mid-line): cut off.
                file.set_len(whole).map_err(|e| named(&path, e))?;
            }
        }
        let level = round_level(dir, shard.count)?;
        Ok(Handoff {
            level,
            dir: dir.to_path_buf(),
            shard,
            outbox: Mutex::new(outbox),
            error: Mutex::new(None),
            handed: AtomicU64::new(0),
            consumed: Mutex::default(),
            counts: Mutex::default(),
        })
    }

    /// This round's level: pages up to this depth are fetched in this run, deeper ones
    /// are queued for a later round.
    pub(crate) fn level(&self) -> u32 {
        self.level
    }

    /// The shard that owns `url`'s host, if it is not this one.
    pub(crate) fn owner(&self, url: &Url) -> Option<u32> {
        let owner = self.shard.of(0, Some(url));
        (owner != self.shard.index).then_some(owner)
    }

    /// Hands `url` (found at `depth` on `parent`) to shard `owner`, unless this shard did
    /// before. `Err` once a handoff file cannot be written (the run then stops).
    pub(crate) fn hand(
        &self,
        owner: u32,
        url: &Url,
        depth: u32,
        parent: &str,
    ) -> Result<(), String> {
        if let Some(why) = self.error.lock().recover().clone() {
            return Err(why);
        }
        let text = crate::redact::redact_url(url.as_str());
        let mut outbox = self.outbox.lock().recover();
        let key = url_key(&text);
        if outbox.sent.contains(&key) {
            return Ok(());
        }
        let mut line = serde_json::to_vec(&Line {
            url: text,
            depth,
            parent: parent.into(),
        })
        .expect("a handoff line serialises");
        line.push(b'\n');
        let written = match outbox.files.entry(owner) {
            std::collections::hash_map::Entry::Occupied(file) => file.into_mut().write_all(&line),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let folder = self.dir.join(owner.to_string());
                std::fs::create_dir_all(&folder)
                    .and_then(|()| {
                        OpenOptions::new()
                            .append(true)
                            .create(true)
                            .custom_flags(NO_FOLLOW)
                            .open(folder.join(outgoing_name(self.shard.index)))
                    })
                    .and_then(|file| slot.insert(file).write_all(&line))
            }
        };
        match written {
            Ok(()) => {
                outbox.sent.insert(key);
                self.handed.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                let why = format!(
                    "cannot write the handoff file {}: {e}",
                    self.dir
                        .join(owner.to_string())
                        .join(outgoing_name(self.shard.index))
                        .display()
                );
                self.error.lock().recover().get_or_insert(why.clone());
                Err(why)
            }
        }
    }

    /// The error that stopped the run, if writing a handoff file failed.
    pub(crate) fn error(&self) -> Option<String> {
        self.error.lock().recover().clone()
    }

    /// Reads the lines of every file under `DIR/K/` past what earlier runs consumed:
    /// the links of this shard's hosts within `max_depth`, at most `room` of them (the
    /// rest wait for the next round). Each link's URL is normalised as the crawl's are.
    pub(crate) fn take(&self, max_depth: u32, room: usize) -> Vec<Found> {
        let inbox = self.dir.join(self.shard.index.to_string());
        let mut consumed = read_consumed(&inbox);
        let mut counts = Counts::default();
        let mut taken = Vec::new();
        let mut names: Vec<String> = match std::fs::read_dir(&inbox) {
            Ok(entries) => entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| !name.starts_with('.') && name.ends_with(".jsonl"))
                .collect(),
            Err(e) => {
                counts.bad_files.push(format!("{}: {e}", inbox.display()));
                Vec::new()
            }
        };
        names.sort();
        let room = room.min(MAX_TAKEN);
        for name in names {
            let path = inbox.join(&name);
            let file = match open_regular(&path) {
                Ok(file) => file,
                Err(e) => {
                    counts.bad_files.push(format!("{}: {e}", path.display()));
                    continue;
                }
            };
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            // A file shorter than what was consumed was replaced: read it whole.
            let start = consumed
                .get(&name)
                .copied()
                .filter(|&at| at <= len)
                .unwrap_or(0);
            let read = read_lines(&file, start, |line| {
                if taken.len() >= room {
                    counts.left = true;
                    return false;
                }
                match parse_line(line) {
                    None => counts.unreadable += 1,
                    Some((url, _, _)) if self.owner(&url).is_some() => counts.foreign += 1,
                    Some((_, depth, _)) if depth > max_depth => counts.too_deep += 1,
                    Some((url, depth, parent)) => {
                        counts.taken += 1;
                        taken.push(Found {
                            url,
                            depth,
                            parent: parent.into(),
                            hops: 0,
                        });
                    }
                }
                true
            });
            match read {
                Ok(end) => {
                    consumed.insert(name, end);
                }
                Err(e) => counts.bad_files.push(format!("{}: {e}", path.display())),
            }
        }
        *self.consumed.lock().recover() = consumed;
        *self.counts.lock().recover() = counts;
        taken
    }

    /// The run ended by itself: what it took counts as consumed (written atomically), and
    /// the files it wrote are flushed to disk.
    ///
    /// # Errors
    /// A file cannot be written or synced.
    pub(crate) fn commit(&self) -> io::Result<()> {
        for file in self.outbox.lock().recover().files.values() {
            file.sync_data()?;
        }
        let inbox = self.dir.join(self.shard.index.to_string());
        let consumed = self.consumed.lock().recover().clone();
        let mut tmp = tempfile::Builder::new()
            .prefix(".consumed-")
            .tempfile_in(&inbox)?;
        serde_json::to_writer(&mut tmp, &consumed)?;
        tmp.as_file().sync_data()?;
        tmp.persist(inbox.join(CONSUMED)).map_err(|e| e.error)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".level-")
            .tempfile_in(&inbox)?;
        write!(tmp, "{}", self.level)?;
        tmp.as_file().sync_data()?;
        tmp.persist(inbox.join(LEVEL)).map_err(|e| e.error)?;
        Ok(())
    }

    /// What the run's end should say about the handoff, one line each.
    pub(crate) fn warnings(&self) -> Vec<String> {
        let counts = self.counts.lock().recover().clone();
        let mut out = Vec::new();
        if counts.foreign > 0 {
            out.push(format!(
                "{} handed-off link(s) under {} are of hosts another shard owns: not fetched",
                counts.foreign,
                self.dir.join(self.shard.index.to_string()).display()
            ));
        }
        if counts.too_deep > 0 {
            out.push(format!(
                "{} handed-off link(s) are deeper than --depth: not fetched",
                counts.too_deep
            ));
        }
        if counts.unreadable > 0 {
            out.push(format!(
                "{} line(s) of the handoff files are not handoffs (torn, over-long, not JSON, \
                 not an http(s) URL): skipped",
                counts.unreadable
            ));
        }
        if counts.left {
            out.push(format!(
                "more than {MAX_TAKEN} handed-off links wait: the rest are taken by the next \
                 round"
            ));
        }
        for bad in counts.bad_files {
            out.push(format!("a handoff file was not read: {bad}"));
        }
        out
    }

    /// Links this run handed to other shards, and links it took from them.
    pub(crate) fn totals(&self) -> (u64, u64) {
        (
            self.handed.load(Ordering::Relaxed),
            self.counts.lock().recover().taken,
        )
    }
}

/// This round's level: one more than the lowest level every shard's last whole run
/// reached (`DIR/J/.level`; a shard that has not finished a run yet counts as -1, so the
/// first round fetches the seeds alone).
fn round_level(dir: &Path, count: u32) -> io::Result<u32> {
    let folders = shard_folders(dir, count)?;
    if folders.len() < count as usize {
        return Ok(0);
    }
    let mut lowest = u32::MAX;
    for (_, folder) in folders {
        let reached = open_regular(&folder.join(LEVEL)).ok().and_then(|file| {
            let mut text = String::new();
            file.take(32).read_to_string(&mut text).ok()?;
            text.trim().parse::<u32>().ok()
        });
        match reached {
            Some(level) => lowest = lowest.min(level),
            None => return Ok(0),
        }
    }
    Ok(lowest.saturating_add(1))
}

/// `from-K.jsonl`: what shard K hands to the folder's shard.
fn outgoing_name(from: u32) -> String {
    format!("from-{from}.jsonl")
}

fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// The shards' folders under `dir` (`0`, `1`, ... below `count`), with their index.
fn shard_folders(dir: &Path, count: u32) -> io::Result<Vec<(u32, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Some(index) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|&i| i < count)
        else {
            continue;
        };
        if entry.file_type()?.is_dir() {
            out.push((index, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// A handoff line's URL (normalised), depth and parent; `None` for anything else.
fn parse_line(line: &[u8]) -> Option<(Url, u32, String)> {
    let line: Line<'_> = serde_json::from_slice(line).ok()?;
    let mut url = crate::fetch::parse_url(&line.url).ok()?;
    normalize(&mut url);
    Some((url, line.depth, line.parent.into_owned()))
}

/// Calls `f` with each whole line of `file` from byte `start` (without its newline) until
/// `f` says stop; lines longer than [`MAX_LINE`] are skipped unread, a last line without
/// a newline (torn, or being written) is left alone. Returns the offset past the last
/// line given to `f` (or skipped).
fn read_lines(file: &File, start: u64, mut f: impl FnMut(&[u8]) -> bool) -> io::Result<u64> {
    let mut file = file;
    file.seek(SeekFrom::Start(start))?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut at = start;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(at);
        }
        if line.last() != Some(&b'\n') {
            if (n as u64) < MAX_LINE {
                return Ok(at); // torn or still being written: not taken
            }
            // Over-long: skip to its end, a buffer at a time.
            let mut skipped = n as u64;
            loop {
                let buf = reader.fill_buf()?;
                if buf.is_empty() {
                    return Ok(at); // an over-long torn line
                }
                if let Some(i) = buf.iter().position(|&b| b == b'\n') {
                    reader.consume(i + 1);
                    skipped += i as u64 + 1;
                    break;
                }
                let len = buf.len();
                reader.consume(len);
                skipped += len as u64;
            }
            at += skipped;
            f(b"");
            continue;
        }
        if !f(&line[..n - 1]) {
            return Ok(at);
        }
        at += n as u64;
    }
}

/// How far each file of `inbox` was consumed by earlier runs (an unreadable record of it
/// means from the start: links seen before are not fetched twice).
fn read_consumed(inbox: &Path) -> BTreeMap<String, u64> {
    let Ok(file) = open_regular(&inbox.join(CONSUMED)) else {
        return BTreeMap::new();
    };
    let mut text = Vec::new();
    if file
        .take(MAX_CONSUMED_BYTES + 1)
        .read_to_end(&mut text)
        .is_err()
        || text.len() as u64 > MAX_CONSUMED_BYTES
    {
        return BTreeMap::new();
    }
    serde_json::from_slice(&text).unwrap_or_default()
}

/// Handed-off lines not yet consumed, by the shard they are for: for
/// `fetchpool report --handoff`. A line counts unless `known` says its URL has a record
/// (it would not be fetched again).
///
/// # Errors
/// `dir` cannot be read.
pub(crate) fn pending(dir: &Path, known: impl Fn(&str) -> bool) -> io::Result<BTreeMap<u32, u64>> {
    let mut out = BTreeMap::new();
    for (index, inbox) in shard_folders(dir, crate::shard::MAX_SHARDS)? {
        let consumed = read_consumed(&inbox);
        let mut names: Vec<String> = std::fs::read_dir(&inbox)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| !name.starts_with('.') && name.ends_with(".jsonl"))
            .collect();
        names.sort();
        let mut count = 0;
        for name in names {
            let Ok(file) = open_regular(&inbox.join(&name)) else {
                continue;
            };
            let len = file.metadata()?.len();
            let start = consumed
                .get(&name)
                .copied()
                .filter(|&at| at <= len)
                .unwrap_or(0);
            read_lines(&file, start, |line| {
                if let Some((url, _, _)) = parse_line(line)
                    && !known(url.as_str())
                {
                    count += 1;
                }
                true
            })?;
        }
        if count > 0 {
            out.insert(index, count);
        }
    }
    Ok(out)
}
