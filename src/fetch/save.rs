//! Where a body's bytes go as they arrive: counted always, hashed with `--checksum`, and
//! with `-d` written to a temporary file beside the final one, renamed into place only
//! once the body is complete. A body that fails (404, truncated, timeout, a full disk)
//! never leaves a file under its final name.
//!
//! Files are reached from the opened `-d` folder one name at a time (`openat`), never
//! through a symbolic link: a link planted inside the folder (`out/sub -> /elsewhere`, or
//! `out/HOST -> /elsewhere`) is refused, not followed. A name that needs a folder where a
//! file is (or the other way round) is refused too: nothing is removed to make room.
//! Temporary names (`.NAME.fetchpool-part`) are reserved: no URL or list name can be one
//! ([`crate::fetch::names`]).

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};
use sha2::{Digest, Sha256};

/// The suffix of a body's temporary name; names ending in it are reserved.
pub(crate) const PARTIAL_SUFFIX: &str = ".fetchpool-part";

/// The suffix of a partial body's validator, after [`PARTIAL_SUFFIX`].
pub(crate) const VALIDATOR_SUFFIX: &str = ".validator";

/// Where one body is saved: a file under the `-d` folder.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Target {
    /// The `-d` folder (followed if it is itself a link: the user named it).
    pub dir: PathBuf,
    /// The file's path under it, normal components only ([`crate::fetch::names`] makes them).
    pub rel: PathBuf,
    /// Never replace a file that is already there (`--crawl` in the flat layout: a page
    /// must not replace what the folder held before); the body fails as `save` instead.
    pub no_replace: bool,
}

impl Target {
    /// The file's whole path, as records show it.
    pub(crate) fn path(&self) -> PathBuf {
        self.dir.join(&self.rel)
    }

    /// The temporary file's whole path.
    pub(crate) fn partial_path(&self) -> PathBuf {
        self.dir.join(sibling(&self.rel, PARTIAL_SUFFIX))
    }

    /// The validator's whole path.
    pub(crate) fn validator_path(&self) -> PathBuf {
        self.dir.join(sibling(
            &self.rel,
            &format!("{PARTIAL_SUFFIX}{VALIDATOR_SUFFIX}"),
        ))
    }

    /// The file's name and the folders above it (under `dir`).
    fn split(&self) -> io::Result<(Vec<&std::ffi::OsStr>, &std::ffi::OsStr)> {
        let mut parts = Vec::new();
        for component in self.rel.components() {
            match component {
                Component::Normal(part) => parts.push(part),
                _ => return Err(io::Error::other("not a plain relative name")),
            }
        }
        let name = parts
            .pop()
            .ok_or_else(|| io::Error::other("an empty name"))?;
        Ok((parts, name))
    }

    /// Opens the folder the file goes in, walking down from `dir` without following a
    /// link; with `create`, missing folders are made.
    fn open_parent(&self, create: bool) -> io::Result<(OwnedFd, String)> {
        let (folders, name) = self.split()?;
        let mut fd = rustix::fs::open(
            &self.dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let mut walked = PathBuf::new();
        for folder in folders {
            walked.push(folder);
            fd = open_folder(&fd, folder, create)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", walked.display())))?;
        }
        let name = name
            .to_str()
            .ok_or_else(|| io::Error::other("a name that is not UTF-8"))?
            .to_string();
        Ok((fd, name))
    }
}

/// `rel` with its file name turned into `.NAME` + `suffix`.
fn sibling(rel: &Path, suffix: &str) -> PathBuf {
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    rel.with_file_name(format!(".{name}{suffix}"))
}

/// Opens folder `name` inside `parent`, never through a link; with `create`, makes it if
/// it is missing.
fn open_folder(parent: &OwnedFd, name: &std::ffi::OsStr, create: bool) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(parent, name, flags, Mode::empty()) {
        Ok(fd) => Ok(fd),
        Err(e) if e == rustix::io::Errno::NOENT && create => {
            match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o777)) {
                Ok(()) => {}
                // Another worker made it first.
                Err(e) if e == rustix::io::Errno::EXIST => {}
                Err(e) => return Err(e.into()),
            }
            Ok(rustix::fs::openat(parent, name, flags, Mode::empty())?)
        }
        Err(e) if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::NOTDIR => {
            let what = match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if rustix::fs::FileType::from_raw_mode(st.st_mode).is_symlink() => {
                    "is a symbolic link, which is not followed"
                }
                _ => "is a file where a folder is needed",
            };
            Err(io::Error::other(what))
        }
        Err(e) => Err(e.into()),
    }
}

/// What an entry in a folder is, without following a link: `None` if there is none.
fn kind_at(dir: &OwnedFd, name: &str) -> io::Result<Option<rustix::fs::FileType>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(rustix::fs::FileType::from_raw_mode(st.st_mode))),
        Err(e) if e == rustix::io::Errno::NOENT => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Removes `name` from `dir` if it is there (a file or a link, never what a link points
/// to; a folder is left alone and reported).
fn remove_at(dir: &OwnedFd, name: &str) -> io::Result<()> {
    match kind_at(dir, name)? {
        None => Ok(()),
        Some(kind) if kind.is_dir() => Err(io::Error::other(format!("{name} is a folder"))),
        Some(_) => match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
            Err(e) if e != rustix::io::Errno::NOENT => Err(e.into()),
            _ => Ok(()),
        },
    }
}

/// Creates `name` in `dir` new (`O_EXCL`, never following or reusing what is there);
/// whatever has the name (a stale partial, a planted link) is removed first.
fn create_fresh(dir: &OwnedFd, name: &str) -> io::Result<File> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mode = Mode::from_raw_mode(0o666);
    let fd = match rustix::fs::openat(dir, name, flags, mode) {
        Err(e) if e == rustix::io::Errno::EXIST => {
            remove_at(dir, name)?;
            rustix::fs::openat(dir, name, flags, mode)?
        }
        other => other?,
    };
    Ok(File::from(fd))
}

/// What `--continue` continues: a body's first `from` bytes, already saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resume {
    /// The bytes saved.
    pub(crate) from: u64,
    /// Where they are, and what checks that the server's body is still the same.
    pub(crate) kind: ResumeKind,
}

/// Whose partial body a [`Resume`] continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResumeKind {
    /// fetchpool's own hidden partial file, with the validator (an ETag or Last-Modified)
    /// sent as `If-Range`: a changed body comes whole.
    Own(String),
    /// A file under the final name that another tool (wget, curl) left part-way: it is
    /// continued in place, as `wget -c` does, without a validator (none was kept): only
    /// the server's `Content-Range` says the rest belongs there. It is never truncated or
    /// replaced.
    Visible,
}

/// Whether `(dir, name)` is a plain file of its own (not a link, not hard-linked
/// elsewhere) with something in it; its length.
fn plain_len(dir: &OwnedFd, name: &str) -> Option<u64> {
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    let plain = rustix::fs::FileType::from_raw_mode(st.st_mode).is_file() && st.st_nlink == 1;
    let len = u64::try_from(st.st_size).ok()?;
    (plain && len > 0).then_some(len)
}

/// What `--continue` continues for `target`: the partial body a previous run left, if a
/// usable validator was kept for it; else, when there is no partial of fetchpool's at all
/// and `visible` allows, a file under the final name that another tool left (wget and
/// curl write there). `None` when there is nothing to continue (then the body is fetched
/// whole): no file, an empty one, one that is not a plain file of its own (a link, or
/// hard-linked elsewhere), or a partial of fetchpool's without a usable validator.
pub(crate) fn resumable(target: &Target, visible: bool) -> Option<Resume> {
    let (dir, name) = target.open_parent(false).ok()?;
    let partial = format!(".{name}{PARTIAL_SUFFIX}");
    let validator = format!("{partial}{VALIDATOR_SUFFIX}");
    if !matches!(kind_at(&dir, &partial), Ok(Some(_))) {
        return (visible && !target.no_replace)
            .then(|| plain_len(&dir, &name))
            .flatten()
            .map(|from| Resume {
                from,
                kind: ResumeKind::Visible,
            });
    }
    let len = plain_len(&dir, &partial)?;
    // Untrusted: at most one short line, never through a link.
    let fd = rustix::fs::openat(
        &dir,
        validator.as_str(),
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let mut text = String::new();
    File::from(fd).take(1024).read_to_string(&mut text).ok()?;
    let validator = text.lines().next()?.trim().to_string();
    let usable = !validator.is_empty()
        && !validator.starts_with("W/")
        && validator.bytes().all(|b| (0x20..0x7f).contains(&b));
    usable.then_some(Resume {
        from: len,
        kind: ResumeKind::Own(validator),
    })
}

/// Removes the partial body `target` left if it cannot be continued (no validator was
/// kept for it): what a worker process killed mid-body leaves behind.
pub(crate) fn discard_orphan(target: &Target) {
    let Ok((dir, name)) = target.open_parent(false) else {
        return;
    };
    let partial = format!(".{name}{PARTIAL_SUFFIX}");
    let validator = format!("{partial}{VALIDATOR_SUFFIX}");
    if !matches!(kind_at(&dir, &validator), Ok(Some(_))) {
        let _ = remove_at(&dir, &partial);
    }
}

/// A body's file on its way: the folder it is in (opened), its temporary and final names.
struct Open {
    file: File,
    dir: OwnedFd,
    partial: String,
    name: String,
    target: Target,
    /// The body is appended to the file under its final name ([`ResumeKind::Visible`]):
    /// nothing is renamed, and nothing is removed if the body fails.
    in_place: bool,
}

impl Open {
    fn validator(&self) -> String {
        format!("{}{VALIDATOR_SUFFIX}", self.partial)
    }
}

/// Body bytes this process has received so far, all bodies together (the progress bar's).
static BYTES_RECEIVED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Body bytes this process has received so far, all bodies together, as they arrive.
pub(crate) fn bytes_received() -> u64 {
    BYTES_RECEIVED.load(std::sync::atomic::Ordering::Relaxed)
}

/// One body on its way: its byte count, its digest, its temporary file.
pub(crate) struct BodySink {
    /// Body bytes so far.
    bytes: u64,
    /// The running SHA-256, with `--checksum sha256`.
    hasher: Option<Sha256>,
    /// The open temporary file, with `-d`.
    file: Option<Open>,
    /// Leave the temporary file (and its validator) for a later `--continue` if the body
    /// fails.
    keep_partial: bool,
    /// The validator not yet written beside the partial file: it is written once the body
    /// passes [`KEEP_VALIDATOR_AFTER`] bytes (a smaller partial is fetched again whole).
    pending_validator: Option<String>,
    /// `--crawl`: the page's links, found as the body goes by.
    links: Option<crate::crawl::links::LinkExtractor>,
    /// This sink wrote a validator beside the partial file (to remove when it is whole;
    /// without one a partial cannot be continued, so it is not kept).
    wrote_validator: bool,
    /// The body's first bytes, kept in memory (at most the capacity it was given).
    captured: Option<Vec<u8>>,
}

/// How far a body must get before its validator is kept for `--continue` by a run without
/// `--continue` (one that is then killed leaves a partial worth continuing).
pub(crate) const KEEP_VALIDATOR_AFTER: u64 = 256 * 1024;

/// What a complete body left.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Saved {
    /// Body bytes.
    pub(crate) bytes: u64,
    /// The file it was saved as, with `-d`.
    pub(crate) path: Option<PathBuf>,
    /// Its SHA-256 in lowercase hex, with `--checksum sha256`.
    pub(crate) sha256: Option<String>,
    /// The bytes a previous run had saved, continued here (`--continue`).
    pub(crate) resumed_from: Option<u64>,
    /// The body's size on the wire, when it was decoded (`--compressed`).
    pub(crate) wire_bytes: Option<u64>,
}

impl BodySink {
    /// A sink that counts, hashes if `checksum`, and writes to `target` if given (its
    /// folders are created), appending to the partial body of `target` from byte `from` on
    /// (what a `206 Partial Content` answer continues): fetchpool's own partial file, or
    /// with `in_place` the file under the final name ([`ResumeKind::Visible`]); or starts
    /// it afresh when `from` is 0. `validator` (an ETag or Last-Modified) is kept beside
    /// the partial file, and with `keep_partial` the partial file outlives a failure, for
    /// the next `--continue`.
    ///
    /// # Errors
    /// A folder or the temporary file cannot be created (or is a link), or the partial
    /// file cannot be read back (to hash it) or is not `from` bytes long.
    pub(crate) fn open(
        target: Option<&Target>,
        checksum: bool,
        resume: Option<(u64, Option<&str>)>,
        keep_partial: bool,
        in_place: bool,
    ) -> io::Result<Self> {
        let mut hasher = checksum.then(Sha256::new);
        let mut bytes = 0;
        let from = resume.map_or(0, |(from, _)| from);
        let in_place = in_place && from > 0;
        let file = match target {
            None => None,
            Some(target) => {
                let (dir, name) = target.open_parent(true)?;
                let partial = if in_place {
                    name.clone()
                } else {
                    format!(".{name}{PARTIAL_SUFFIX}")
                };
                let mut file = if from == 0 {
                    create_fresh(&dir, &partial)?
                } else {
                    let fd = rustix::fs::openat(
                        &dir,
                        partial.as_str(),
                        OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?;
                    let st = rustix::fs::fstat(&fd)?;
                    if st.st_nlink != 1 {
                        return Err(io::Error::other(
                            "the partial file has other names (a hard link): not continued",
                        ));
                    }
                    File::from(fd)
                };
                if from > 0 {
                    if file.metadata()?.len() != from {
                        return Err(io::Error::other("the partial file changed under us"));
                    }
                    if let Some(h) = hasher.as_mut() {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = file.read(&mut buf)?;
                            if n == 0 {
                                break;
                            }
                            h.update(&buf[..n]);
                        }
                    }
                    file.seek(io::SeekFrom::Start(from))?;
                    bytes = from;
                }
                let open = Open {
                    file,
                    dir,
                    partial,
                    name,
                    target: target.clone(),
                    in_place,
                };
                if !in_place {
                    remove_at(&open.dir, &open.validator())?;
                }
                Some(open)
            }
        };
        let mut sink = BodySink {
            bytes,
            hasher,
            file,
            keep_partial,
            pending_validator: resume
                .and_then(|(_, v)| v)
                .filter(|_| !in_place)
                .map(str::to_string),
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
    pub(crate) fn find_links(&mut self, extractor: crate::crawl::links::LinkExtractor) {
        self.links = Some(extractor);
    }

    /// Also keeps the body's first `max` bytes in memory (a robots.txt).
    pub(crate) fn capture(&mut self, max: usize) {
        self.captured = Some(Vec::with_capacity(max));
    }

    /// The bytes kept by [`capture`](Self::capture).
    pub(crate) fn take_captured(&mut self) -> Option<Vec<u8>> {
        self.captured.take()
    }

    /// The link finder, to end it once the body is whole.
    pub(crate) fn take_links(&mut self) -> Option<crate::crawl::links::LinkExtractor> {
        self.links.take()
    }

    /// Takes the next piece of the body.
    ///
    /// # Errors
    /// Writing the temporary file failed (a full disk, say).
    pub(crate) fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.bytes += chunk.len() as u64;
        // Relaxed: only the progress bar reads it, and a count a moment old is fine there.
        BYTES_RECEIVED.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.hasher.as_mut() {
            h.update(chunk);
        }
        if let Some(open) = self.file.as_mut() {
            open.file.write_all(chunk)?;
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
        if let (Some(v), Some(open)) = (self.pending_validator.take(), &self.file) {
            create_fresh(&open.dir, &open.validator())?.write_all(v.as_bytes())?;
            self.wrote_validator = true;
        }
        Ok(())
    }

    /// Body bytes so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The body is complete and verified: the temporary file becomes the final one.
    ///
    /// # Errors
    /// Flushing or renaming failed (or, with no-replace, a file is there already); the
    /// temporary file is removed.
    pub(crate) fn finish(mut self) -> io::Result<Saved> {
        let sha256 = self.hasher.take().map(|h| hex(&h.finalize()));
        let path = match self.file.take() {
            None => None,
            Some(open) => {
                // No fsync: the rename is what guarantees that a crash never leaves a
                // partial body under the final name (see the README).
                let Open {
                    file,
                    dir,
                    partial,
                    name,
                    target,
                    in_place,
                } = open;
                drop(file);
                if in_place {
                    return Ok(Saved {
                        bytes: self.bytes,
                        path: Some(target.path()),
                        sha256,
                        resumed_from: None,
                        wire_bytes: None,
                    });
                }
                // A validator from an earlier run was removed when this body began.
                if self.wrote_validator {
                    let _ = remove_at(&dir, &format!("{partial}{VALIDATOR_SUFFIX}"));
                }
                let placed = if target.no_replace {
                    // A new name only: linking fails if something has it.
                    rustix::fs::linkat(
                        &dir,
                        partial.as_str(),
                        &dir,
                        name.as_str(),
                        AtFlags::empty(),
                    )
                    .map_err(|e| {
                        if e == rustix::io::Errno::EXIST {
                            io::Error::other(format!(
                                "{} is already there and is not replaced",
                                target.path().display()
                            ))
                        } else {
                            e.into()
                        }
                    })
                    .and_then(|()| {
                        Ok(rustix::fs::unlinkat(
                            &dir,
                            partial.as_str(),
                            AtFlags::empty(),
                        )?)
                    })
                } else {
                    if matches!(kind_at(&dir, &name), Ok(Some(kind)) if kind.is_dir()) {
                        let _ = remove_at(&dir, &partial);
                        return Err(io::Error::other(format!(
                            "{} is a folder",
                            target.path().display()
                        )));
                    }
                    rustix::fs::renameat(&dir, partial.as_str(), &dir, name.as_str())
                        .map_err(Into::into)
                };
                if let Err(e) = placed {
                    let _ = remove_at(&dir, &partial);
                    return Err(e);
                }
                Some(target.path())
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
    /// kept for `--continue` (it has something in it, and a validator to continue it
    /// with). A killed run drops nothing: its partial file stays, with its validator if the
    /// body got far enough.
    fn drop(&mut self) {
        if let Some(open) = self.file.take() {
            let continuable = self.keep_partial && self.bytes > 0 && self.wrote_validator;
            // A file continued in place keeps what it got: it is the user's, and a longer
            // prefix of the body.
            if !continuable && !open.in_place {
                let _ = remove_at(&open.dir, &open.partial);
                let _ = remove_at(&open.dir, &open.validator());
            }
            drop(open.file);
        }
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

/// Whether `fd` and `other` are the same open folder (for the tests).
#[cfg(test)]
fn same(fd: &impl std::os::fd::AsFd, other: &impl std::os::fd::AsFd) -> bool {
    let (a, b) = (
        rustix::fs::fstat(fd).unwrap(),
        rustix::fs::fstat(other).unwrap(),
    );
    (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(dir: &Path, rel: &str) -> Target {
        Target {
            dir: dir.to_path_buf(),
            rel: PathBuf::from(rel),
            no_replace: false,
        }
    }

    #[test]
    fn a_folder_removed_after_it_was_made_is_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let t = target(dir.path(), "host/page.html");
        for _ in 0..2 {
            let mut sink = BodySink::open(Some(&t), false, None, false, false).unwrap();
            sink.write(b"x").unwrap();
            assert_eq!(sink.finish().unwrap().path, Some(t.path()));
            std::fs::remove_dir_all(dir.path().join("host")).unwrap();
        }
    }

    #[test]
    fn a_finished_body_is_renamed_into_place_with_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let t = target(dir.path(), "sub/a.txt");
        let mut sink = BodySink::open(Some(&t), true, None, false, false).unwrap();
        sink.write(b"ab").unwrap();
        sink.write(b"c").unwrap();
        assert!(t.partial_path().exists() && !t.path().exists());
        let saved = sink.finish().unwrap();
        assert_eq!(std::fs::read(t.path()).unwrap(), b"abc");
        assert!(!t.partial_path().exists());
        assert_eq!(
            saved.sha256.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
    }

    #[test]
    fn a_dropped_body_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let t = target(dir.path(), "a.txt");
        let mut sink = BodySink::open(Some(&t), false, None, true, false).unwrap();
        sink.write(b"partial").unwrap();
        drop(sink);
        assert!(
            !t.path().exists() && !t.partial_path().exists(),
            "no validator: not kept"
        );
    }

    #[test]
    fn a_link_inside_the_folder_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("sub")).unwrap();
        let err = BodySink::open(
            Some(&target(dir.path(), "sub/x")),
            false,
            None,
            false,
            false,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }

    #[test]
    fn no_replace_never_replaces_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".bashrc"), b"mine").unwrap();
        let mut t = target(dir.path(), ".bashrc");
        t.no_replace = true;
        let mut sink = BodySink::open(Some(&t), false, None, false, false).unwrap();
        sink.write(b"theirs").unwrap();
        assert!(
            sink.finish()
                .unwrap_err()
                .to_string()
                .contains("not replaced")
        );
        assert_eq!(std::fs::read(dir.path().join(".bashrc")).unwrap(), b"mine");
        assert!(!t.partial_path().exists());
    }

    #[test]
    fn the_parent_is_opened_from_the_folder_itself() {
        let dir = tempfile::tempdir().unwrap();
        let (fd, name) = target(dir.path(), "a/b/c.html").open_parent(true).unwrap();
        assert_eq!(name, "c.html");
        let b = rustix::fs::open(dir.path().join("a/b"), OFlags::RDONLY, Mode::empty()).unwrap();
        assert!(same(&fd, &b));
    }
}
