//! Where a body's bytes go as they arrive: counted always, hashed with `--checksum`, and
//! with `-d` written to a temporary file beside the final one, renamed into place only
//! once the body is complete. A body that fails (404, truncated, timeout, a full disk)
//! never leaves a file under its final name.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The temporary name a body is written under until it is complete: hidden, beside the
/// final file, and the same on every run (so `--continue` finds it).
pub fn partial_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.fetchpool-part"))
}

/// Where the validator of a partial body is kept (`--continue`): the response's ETag or
/// Last-Modified, one line, beside the partial file.
pub fn validator_path(target: &Path) -> PathBuf {
    let mut name = partial_path(target).into_os_string();
    name.push(".validator");
    PathBuf::from(name)
}

/// A partial body a previous run left for `target`, and what validates it: its length
/// and the `If-Range` value to send. `None` when there is no partial, it is empty, or no
/// usable validator was kept (then the body is fetched whole).
pub fn resumable(target: &Path) -> Option<(u64, String)> {
    // Regular files only: a symbolic link is not followed (its target's first line would
    // go to the server as If-Range).
    let regular = |p: &Path| fs::symlink_metadata(p).ok().filter(|m| m.is_file());
    let len = regular(&partial_path(target))?.len();
    regular(&validator_path(target))?;
    if len == 0 {
        return None;
    }
    // Untrusted: at most one short line.
    let mut text = String::new();
    io::Read::read_to_string(
        &mut io::Read::take(File::open(validator_path(target)).ok()?, 1024),
        &mut text,
    )
    .ok()?;
    let validator = text.lines().next()?.trim().to_string();
    let usable = !validator.is_empty()
        && !validator.starts_with("W/")
        && validator.bytes().all(|b| (0x20..0x7f).contains(&b));
    usable.then_some((len, validator))
}

/// One body on its way: its byte count, its digest, its temporary file.
pub struct BodySink {
    /// Body bytes so far.
    bytes: u64,
    /// The running SHA-256, with `--checksum sha256`.
    hasher: Option<Sha256>,
    /// The open temporary file and the final path, with `-d`.
    file: Option<(File, PathBuf, PathBuf)>,
    /// Leave the temporary file (and its validator) for a later `--continue` if the body
    /// fails.
    keep_partial: bool,
    /// The validator not yet written beside the partial file: it is written once the body
    /// passes [`KEEP_VALIDATOR_AFTER`] bytes (a smaller partial is fetched again whole).
    pending_validator: Option<String>,
    /// `--crawl`: the page's links, found as the body goes by.
    links: Option<crate::links::LinkExtractor>,
    /// This sink wrote a validator beside the partial file (to remove when it is whole).
    wrote_validator: bool,
    /// The body's first bytes, kept in memory (at most the capacity it was given).
    captured: Option<Vec<u8>>,
}

/// How far a body must get before its validator is kept for `--continue` by a run without
/// `--continue` (one that is then killed leaves a partial worth continuing).
pub const KEEP_VALIDATOR_AFTER: u64 = 256 * 1024;

/// What a complete body left.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Saved {
    /// Body bytes.
    pub bytes: u64,
    /// The file it was saved as, with `-d`.
    pub path: Option<PathBuf>,
    /// Its SHA-256 in lowercase hex, with `--checksum sha256`.
    pub sha256: Option<String>,
    /// The bytes a previous run had saved, continued here (`--continue`).
    pub resumed_from: Option<u64>,
    /// The body's size on the wire, when it was decoded (`--compressed`).
    pub wire_bytes: Option<u64>,
}

impl BodySink {
    /// A sink that counts, hashes if `checksum`, and writes to `target` if given (its
    /// folders are created), appending to the partial body of `target` from byte `from` on (what a
    /// `206 Partial Content` answer continues), or starts it afresh when `from` is `None`.
    /// `validator` (an ETag or Last-Modified) is kept beside the partial file, and with
    /// `keep_partial` the partial file outlives a failure, for the next `--continue`.
    ///
    /// # Errors
    /// The folder or the temporary file cannot be created, or the partial file cannot be
    /// read back (to hash it) or is not `from` bytes long.
    pub fn open(
        target: Option<&Path>,
        checksum: bool,
        resume: Option<(u64, Option<&str>)>,
        keep_partial: bool,
    ) -> io::Result<Self> {
        let mut hasher = checksum.then(Sha256::new);
        let mut bytes = 0;
        let file = match target {
            None => None,
            Some(target) => {
                let parent = target.parent().unwrap_or(Path::new(""));
                ensure_dir(parent)?;
                let partial = partial_path(target);
                let from = resume.map_or(0, |(from, _)| from);
                let mut file = if from == 0 {
                    // A fresh file, never one found there: whatever has the temporary name
                    // (a stale partial, or a symlink planted in a shared folder) is removed,
                    // not followed, and O_EXCL makes sure nothing took its place.
                    match create_fresh(&partial) {
                        // The folder went away since it was made: make it again.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {
                            forget_dir(parent);
                            ensure_dir(parent)?;
                            create_fresh(&partial)?
                        }
                        other => other?,
                    }
                } else {
                    if fs::symlink_metadata(&partial)?.file_type().is_symlink() {
                        return Err(io::Error::other("the partial file is a symbolic link"));
                    }
                    OpenOptions::new().read(true).write(true).open(&partial)?
                };
                if from > 0 {
                    if file.metadata()?.len() != from {
                        return Err(io::Error::other("the partial file changed under us"));
                    }
                    if let Some(h) = hasher.as_mut() {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = io::Read::read(&mut file, &mut buf)?;
                            if n == 0 {
                                break;
                            }
                            h.update(&buf[..n]);
                        }
                    }
                    io::Seek::seek(&mut file, io::SeekFrom::Start(from))?;
                    bytes = from;
                }
                remove_if_there(&validator_path(target))?;
                Some((file, partial, target.to_path_buf()))
            }
        };
        let mut sink = BodySink {
            bytes,
            hasher,
            file,
            keep_partial,
            pending_validator: resume.and_then(|(_, v)| v).map(str::to_string),
            links: None,
            captured: None,
            wrote_validator: false,
        };
        if keep_partial {
            sink.keep_validator()?;
        }
        Ok(sink)
    }

    /// Also looks for links in the body (an HTML page, `--crawl`).
    pub fn find_links(&mut self, extractor: crate::links::LinkExtractor) {
        self.links = Some(extractor);
    }

    /// Also keeps the body's first `max` bytes in memory (a robots.txt).
    pub fn capture(&mut self, max: usize) {
        self.captured = Some(Vec::with_capacity(max));
    }

    /// The bytes kept by [`capture`](Self::capture).
    pub fn take_captured(&mut self) -> Option<Vec<u8>> {
        self.captured.take()
    }

    /// The link finder, to end it once the body is whole.
    pub fn take_links(&mut self) -> Option<crate::links::LinkExtractor> {
        self.links.take()
    }

    /// Takes the next piece of the body.
    ///
    /// # Errors
    /// Writing the temporary file failed (a full disk, say).
    pub fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.bytes += chunk.len() as u64;
        if let Some(h) = self.hasher.as_mut() {
            h.update(chunk);
        }
        if let Some((file, _, _)) = self.file.as_mut() {
            file.write_all(chunk)?;
        }
        if let Some(links) = self.links.as_mut() {
            links.write(chunk);
        }
        if let Some(kept) = self.captured.as_mut() {
            let room = kept.capacity() - kept.len();
            kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        if self.bytes > KEEP_VALIDATOR_AFTER {
            self.keep_validator()?;
        }
        Ok(())
    }

    /// Writes the pending validator beside the partial file, once (a new file: never one
    /// found there).
    fn keep_validator(&mut self) -> io::Result<()> {
        if let (Some(v), Some((_, _, target))) = (self.pending_validator.take(), &self.file) {
            let path = validator_path(target);
            remove_if_there(&path)?;
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)?
                .write_all(v.as_bytes())?;
            self.wrote_validator = true;
        }
        Ok(())
    }

    /// Body bytes so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The body is complete and verified: the temporary file becomes the final one.
    ///
    /// # Errors
    /// Flushing or renaming failed; the temporary file is removed.
    pub fn finish(mut self) -> io::Result<Saved> {
        let sha256 = self.hasher.take().map(|h| hex(&h.finalize()));
        let path = match self.file.take() {
            None => None,
            Some((file, partial, target)) => {
                // No fsync: the rename is what guarantees that a crash never leaves a
                // partial body under the final name (see the README).
                drop(file);
                // A validator from an earlier run was removed when this body began.
                if self.wrote_validator {
                    let _ = remove_if_there(&validator_path(&target));
                }
                if let Err(e) = fs::rename(&partial, &target) {
                    let _ = fs::remove_file(&partial);
                    return Err(e);
                }
                Some(target)
            }
        };
        Ok(Saved {
            bytes: self.bytes,
            path,
            sha256,
            resumed_from: None,
            wire_bytes: None,
        })
    }
}

impl Drop for BodySink {
    /// A body dropped before `finish` failed: its temporary file goes too, unless it is
    /// kept for `--continue` (and has something in it). A killed run drops nothing: its
    /// partial file stays, with its validator if the body got far enough.
    fn drop(&mut self) {
        if let Some((file, partial, target)) = self.file.take() {
            drop(file);
            if !(self.keep_partial && self.bytes > 0) {
                let _ = fs::remove_file(partial);
                let _ = fs::remove_file(validator_path(&target));
            }
        }
    }
}

/// Removes `path` (a file or a symbolic link, never what a link points to) if it exists.
fn remove_if_there(path: &Path) -> io::Result<()> {
    // Looking first is cheaper when nothing is there (the usual case): an unlink takes the
    // folder's lock even for a name that does not exist, and serialises every worker
    // saving into that folder.
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        _ => {}
    }
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Folders this process made or found, so that saving many files into one folder does
/// not ask the kernel for it every time (a `mkdir` takes the parent folder's lock). At most
/// [`KNOWN_DIRS`] are remembered; then the set starts afresh.
static DIRS: std::sync::Mutex<Option<std::collections::HashSet<PathBuf>>> =
    std::sync::Mutex::new(None);

/// How many folders [`DIRS`] remembers at most.
const KNOWN_DIRS: usize = 65_536;

/// Makes `dir` (and its parents) unless this process already did.
fn ensure_dir(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    let known = |dirs: &mut Option<std::collections::HashSet<PathBuf>>| {
        dirs.as_ref().is_some_and(|d| d.contains(dir))
    };
    if known(&mut DIRS.lock().unwrap_or_else(|p| p.into_inner())) {
        return Ok(());
    }
    fs::create_dir_all(dir)?;
    let mut dirs = DIRS.lock().unwrap_or_else(|p| p.into_inner());
    let set = dirs.get_or_insert_with(Default::default);
    if set.len() >= KNOWN_DIRS {
        set.clear();
    }
    set.insert(dir.to_path_buf());
    Ok(())
}

/// Forgets `dir` (it was removed behind our back).
fn forget_dir(dir: &Path) {
    if let Some(set) = DIRS.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        set.remove(dir);
    }
}

/// Creates `path` new (`O_EXCL`: never following or reusing what is there); whatever has
/// the name (a stale partial, a symlink planted in a shared folder) is removed first.
fn create_fresh(path: &Path) -> io::Result<File> {
    let create = || OpenOptions::new().write(true).create_new(true).open(path);
    match create() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            remove_if_there(path)?;
            create()
        }
        other => other,
    }
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_removed_after_it_was_made_is_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("host").join("page.html");
        for _ in 0..2 {
            let mut sink = BodySink::open(Some(&target), false, None, false).unwrap();
            sink.write(b"x").unwrap();
            assert_eq!(
                sink.finish().unwrap().path.as_deref(),
                Some(target.as_path())
            );
            // Removed behind the run's back: the remembered folder is not trusted blindly.
            fs::remove_dir_all(dir.path().join("host")).unwrap();
        }
    }

    #[test]
    fn a_finished_body_is_renamed_into_place_with_its_digest() {
        let dir = std::env::temp_dir().join(format!("fetchpool-save-{}", std::process::id()));
        let target = dir.join("sub").join("a.txt");
        let mut sink = BodySink::open(Some(&target), true, None, false).unwrap();
        sink.write(b"ab").unwrap();
        sink.write(b"c").unwrap();
        assert!(partial_path(&target).exists() && !target.exists());
        let saved = sink.finish().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"abc");
        assert!(!partial_path(&target).exists());
        assert_eq!(
            saved.sha256.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_dropped_body_leaves_no_file() {
        let dir = std::env::temp_dir().join(format!("fetchpool-drop-{}", std::process::id()));
        let target = dir.join("a.txt");
        let mut sink = BodySink::open(Some(&target), false, None, false).unwrap();
        sink.write(b"partial").unwrap();
        drop(sink);
        assert!(!target.exists() && !partial_path(&target).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
