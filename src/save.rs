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

/// One body on its way: its byte count, its digest, its temporary file.
pub struct BodySink {
    /// Body bytes so far.
    bytes: u64,
    /// The running SHA-256, with `--checksum sha256`.
    hasher: Option<Sha256>,
    /// The open temporary file and the final path, with `-d`.
    file: Option<(File, PathBuf, PathBuf)>,
}

/// What a complete body left.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Saved {
    /// Body bytes.
    pub bytes: u64,
    /// The file it was saved as, with `-d`.
    pub path: Option<PathBuf>,
    /// Its SHA-256 in lowercase hex, with `--checksum sha256`.
    pub sha256: Option<String>,
}

impl BodySink {
    /// A sink that counts, hashes if `checksum`, and writes to `target` if given (its
    /// folders are created; the temporary file is created, or emptied, now).
    ///
    /// # Errors
    /// The folder or the temporary file cannot be created.
    pub fn new(target: Option<&Path>, checksum: bool) -> io::Result<Self> {
        let file = match target {
            None => None,
            Some(target) => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent)?;
                }
                let partial = partial_path(target);
                let file = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&partial)?;
                Some((file, partial, target.to_path_buf()))
            }
        };
        Ok(BodySink {
            bytes: 0,
            hasher: checksum.then(Sha256::new),
            file,
        })
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
        })
    }
}

impl Drop for BodySink {
    /// A body dropped before `finish` failed: its temporary file goes too.
    fn drop(&mut self) {
        if let Some((file, partial, _)) = self.file.take() {
            drop(file);
            let _ = fs::remove_file(partial);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_body_is_renamed_into_place_with_its_digest() {
        let dir = std::env::temp_dir().join(format!("fetchpool-save-{}", std::process::id()));
        let target = dir.join("sub").join("a.txt");
        let mut sink = BodySink::new(Some(&target), true).unwrap();
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
        let mut sink = BodySink::new(Some(&target), false).unwrap();
        sink.write(b"partial").unwrap();
        drop(sink);
        assert!(!target.exists() && !partial_path(&target).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
