//! Gzip members, one per WARC record, written with one deflate state reset for each
//! (a new encoder per record would allocate its few hundred KiB of state every time:
//! that made archiving 10,000 small files several times slower).

use std::io::{self, Write};

use std::sync::Mutex;

use flate2::{Compress, Compression, FlushCompress, Status};

use crate::sync::Recover as _;

/// Deflate states kept for the next record once used, at most [`KEPT`]: records are
/// compressed on the workers' threads, and a state each (a few hundred KiB) for a
/// thousand workers would be too much to keep.
static SPARE: Mutex<Vec<Members>> = Mutex::new(Vec::new());

/// Spare deflate states kept at most.
const KEPT: usize = 8;

/// Runs `f` with a deflate state of the spares (or a new one), and keeps it after.
pub(crate) fn with_local<T>(f: impl FnOnce(&mut Members) -> T) -> T {
    let spare = SPARE.lock().recover().pop();
    let mut members = spare.unwrap_or_else(|| Members::new(Compression::fast()));
    let out = f(&mut members);
    let mut spares = SPARE.lock().recover();
    if spares.len() < KEPT {
        spares.push(members);
    }
    out
}

/// A gzip member's header: deflate, no name or time, from an unknown system (as
/// flate2's encoder writes it).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// The deflate state and output buffer, kept from one member to the next.
pub(crate) struct Members {
    deflate: Compress,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Members {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Members")
    }
}

impl Members {
    /// Members compressed at `level`.
    pub(crate) fn new(level: Compression) -> Self {
        Members {
            deflate: Compress::new(level, false),
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    /// Starts a member written to `out`; [`Member::finish`] ends it.
    ///
    /// # Errors
    /// `out` fails.
    pub(crate) fn member<'a, W: Write>(&'a mut self, out: &'a mut W) -> io::Result<Member<'a, W>> {
        self.deflate.reset();
        out.write_all(&HEADER)?;
        Ok(Member {
            members: self,
            out,
            crc: crc32fast::Hasher::new(),
            len: 0,
        })
    }
}

/// One gzip member on its way.
pub(crate) struct Member<'a, W: Write> {
    members: &'a mut Members,
    out: &'a mut W,
    crc: crc32fast::Hasher,
    len: u32,
}

impl<W: Write> Member<'_, W> {
    /// Compresses `input` with `flush`, writing what comes out; returns the deflate status.
    fn deflate(&mut self, mut input: &[u8], flush: FlushCompress) -> io::Result<Status> {
        loop {
            let Members { deflate, buf } = &mut *self.members;
            buf.clear();
            let before = deflate.total_in();
            let status = deflate
                .compress_vec(input, buf, flush)
                .map_err(io::Error::other)?;
            let used = usize::try_from(deflate.total_in() - before).unwrap_or(input.len());
            input = &input[used.min(input.len())..];
            self.out.write_all(buf)?;
            // More to do while input is left, or (finishing) until the stream ends.
            let done = match flush {
                FlushCompress::Finish => status == Status::StreamEnd,
                _ => input.is_empty(),
            };
            if done {
                return Ok(status);
            }
        }
    }

    /// Ends the member: the rest of the deflate stream, its CRC-32 and length.
    ///
    /// # Errors
    /// The output fails.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.deflate(&[], FlushCompress::Finish)?;
        let crc = self.crc.clone().finalize();
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.write_all(&self.len.to_le_bytes())
    }
}

impl<W: Write> Write for Member<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        self.crc.update(data);
        // ISIZE is the length modulo 2^32 (RFC 1952).
        self.len = self.len.wrapping_add(data.len() as u32);
        self.deflate(data, FlushCompress::None)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn members_read_back_one_after_the_other_and_whole() {
        let mut members = Members::new(Compression::fast());
        let mut out = Vec::new();
        let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for part in [&b"first"[..], &big, b"", b"last"] {
            let mut member = members.member(&mut out).unwrap();
            member.write_all(part).unwrap();
            member.finish().unwrap();
        }
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&out[..])
            .read_to_end(&mut back)
            .unwrap();
        let mut expected = b"first".to_vec();
        expected.extend_from_slice(&big);
        expected.extend_from_slice(b"last");
        assert_eq!(back, expected);
        // Each member alone is a whole gzip stream (a reader can start at its offset).
        let mut one = Vec::new();
        let mut member = members.member(&mut one).unwrap();
        member.write_all(b"alone").unwrap();
        member.finish().unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&one[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "alone");
    }
}
