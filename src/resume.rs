//! The record file of `--output FILE`, and `--resume`: which input lines a previous run
//! already fetched.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

/// The input lines a previous run recorded with `ok: true`, as a bit set (one bit per
/// line number: a ten-million-line list costs 1.25 MB).
#[derive(Debug, Default, Clone)]
pub struct Fetched {
    /// Bit `n` set: line `n` was fetched.
    bits: Vec<u64>,
    /// How many bits are set.
    count: u64,
}

impl Fetched {
    fn insert(&mut self, line: u64) {
        let (word, bit) = ((line / 64) as usize, line % 64);
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        if self.bits[word] & (1 << bit) == 0 {
            self.bits[word] |= 1 << bit;
            self.count += 1;
        }
    }

    /// Whether line `line` was fetched.
    pub fn contains(&self, line: u64) -> bool {
        let (word, bit) = ((line / 64) as usize, line % 64);
        self.bits.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    /// How many lines were fetched.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether no line was fetched.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// The fields of a record that resuming needs; all others are ignored.
#[derive(serde::Deserialize)]
struct Seen {
    line: u64,
    ok: bool,
}

/// Opens `path` to append records to. Without `resume` the file is created or emptied.
/// With `resume` it is read first: every whole line that parses as a record with
/// `ok: true` marks its input line as fetched; other lines (failed records, garbage) are
/// skipped; a torn last line (no newline: the previous run died mid-write) is cut off so
/// that the next record starts on a line of its own.
///
/// # Errors
/// The file cannot be opened, read or truncated.
pub fn open_output(path: &Path, resume: bool) -> io::Result<(File, Fetched)> {
    if !resume {
        return Ok((File::create(path)?, Fetched::default()));
    }
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    let mut fetched = Fetched::default();
    let mut whole = 0u64;
    let mut reader = BufReader::new(&file);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        whole += n as u64;
        if let Ok(seen) = serde_json::from_slice::<Seen>(&line) {
            if seen.ok {
                fetched.insert(seen.line);
            }
        }
    }
    drop(reader);
    if file.metadata()?.len() > whole {
        file.set_len(whole)?;
    }
    file.seek(SeekFrom::End(0))?;
    Ok((file, fetched))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bit_set_remembers_lines() {
        let mut f = Fetched::default();
        for line in [1, 64, 65, 1_000_000] {
            f.insert(line);
        }
        f.insert(64);
        assert_eq!(f.len(), 4);
        assert!(f.contains(1) && f.contains(64) && f.contains(65) && f.contains(1_000_000));
        assert!(!f.contains(2) && !f.contains(63) && !f.contains(2_000_000));
    }
}
