//! The protocol between the pool and one worker process, over the socket that is the
//! worker's standard input.
//!
//! A frame is a `u32` little-endian length, then that many bytes: a one-byte kind, then
//! the kind's body. One task is in flight per worker, so there are no ids: the next
//! `Done` answers the last `Call`.
//!
//! ```text
//! pool → worker   CALL  u16 name length, name, postcard(argument)
//!                 INIT  the same, for the initializer
//!                 CHUNK the same, the argument a list: the task runs on each item, and
//!                       OK carries postcard(list of Ok(Ok(value) | Err(error)) |
//!                       Err(panic message)), one per item, in order
//! worker → pool   HELLO u32 protocol version, u32 pid        (once, first)
//!                 OK | RAISED        postcard(value | error)
//!                 PANICKED | CODEC   UTF-8 message
//! ```
//!
//! Lengths are checked before anything is allocated: a frame over [`MAX_FRAME`] means a
//! broken peer. An argument is encoded straight into its frame when it is submitted, so a
//! large one is copied once on each side.

use std::io::{self, Read, Write};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Bumped whenever a frame changes; a worker of another version is refused at hello.
pub(crate) const VERSION: u32 = 2;

/// The largest frame either side accepts (1 GiB).
pub(crate) const MAX_FRAME: usize = 1 << 30;

/// What a frame is (its first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// Run a registered task.
    Call = 1,
    /// Run the initializer (once, before the first call).
    Init = 2,
    /// The worker is ready.
    Hello = 3,
    /// The task returned `Ok`; the value follows.
    Ok = 4,
    /// The task returned `Err`; the error follows.
    Raised = 5,
    /// The task panicked; the message follows.
    Panicked = 6,
    /// The argument or result could not be (de)serialised, or the name is unknown.
    Codec = 7,
    /// Run a registered task on each item of a list (`map` with a `chunksize`).
    Chunk = 8,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Call,
            2 => Kind::Init,
            3 => Kind::Hello,
            4 => Kind::Ok,
            5 => Kind::Raised,
            6 => Kind::Panicked,
            7 => Kind::Codec,
            8 => Kind::Chunk,
            _ => return None,
        })
    }
}

/// A frame being built: the length is filled in by [`Frame::finish`].
pub(crate) struct Frame(Vec<u8>);

impl Frame {
    /// A frame of `kind` with room for `capacity` body bytes.
    pub(crate) fn new(kind: Kind, capacity: usize) -> Frame {
        let mut buf = Vec::with_capacity(5 + capacity);
        buf.extend_from_slice(&[0, 0, 0, 0, kind as u8]);
        Frame(buf)
    }

    /// A CALL or INIT frame: the task's name, then its argument.
    pub(crate) fn call<A: Serialize>(kind: Kind, name: &str, arg: &A) -> Result<Frame, String> {
        let name_len = u16::try_from(name.len())
            .map_err(|_| format!("task name of {} bytes is too long", name.len()))?;
        let mut frame = Frame::new(kind, 2 + name.len() + 64);
        frame.0.extend_from_slice(&name_len.to_le_bytes());
        frame.0.extend_from_slice(name.as_bytes());
        frame
            .encode(arg)
            .map_err(|e| format!("cannot serialise the argument of task '{name}': {e}"))?;
        frame.finish().map_err(|e| e.to_string())
    }

    /// Appends `value`, encoded. The frame grows once, to the encoded size (a large
    /// argument would otherwise be copied at each doubling).
    pub(crate) fn encode<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), String> {
        let size = postcard::experimental::serialized_size(value).map_err(|e| e.to_string())?;
        self.0.reserve(size);
        let buf = std::mem::take(&mut self.0);
        self.0 = postcard::to_extend(value, buf).map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Appends raw bytes.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    /// Fills in the length; the bytes are ready to write.
    pub(crate) fn finish(mut self) -> io::Result<Frame> {
        let len = self.0.len() - 4;
        if len > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("message of {len} bytes exceeds the limit of {MAX_FRAME}"),
            ));
        }
        self.0[..4].copy_from_slice(&(len as u32).to_le_bytes());
        Ok(self)
    }

    /// The frame, length first.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A message of `kind` whose body is `text`.
pub(crate) fn text_frame(kind: Kind, text: &str) -> Frame {
    let mut frame = Frame::new(kind, text.len());
    frame.push(text.as_bytes());
    // A message is far below the limit.
    frame.finish().unwrap_or_else(|_| Frame::new(kind, 0))
}

/// Writes one frame.
pub(crate) fn write_frame(w: &mut impl Write, frame: &Frame) -> io::Result<()> {
    w.write_all(frame.bytes())?;
    w.flush()
}

/// Reads one frame into `body` (its old contents are dropped, its allocation reused):
/// the frame's kind, or `Ok(None)` on a clean end of stream before its first byte.
pub(crate) fn read_frame(r: &mut impl Read, body: &mut Vec<u8>) -> io::Result<Option<Kind>> {
    let mut header = [0u8; 5];
    let mut got = 0;
    while got < header.len() {
        match r.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(invalid(format!("bad frame length {len}")));
    }
    let kind = Kind::from_byte(header[4])
        .ok_or_else(|| invalid(format!("bad frame kind {}", header[4])))?;
    let want = len - 1;
    body.clear();
    if want <= EAGER.max(body.capacity()) {
        body.resize(want, 0);
        r.read_exact(body)?;
    } else {
        // Grows as bytes arrive, so a peer claiming a large frame and sending little
        // costs only what it sent.
        r.take(want as u64).read_to_end(body)?;
        if body.len() != want {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(Some(kind))
}

/// Shrinks a reused receive buffer after an unusually large frame.
pub(crate) fn trim(body: &mut Vec<u8>) {
    body.clear();
    body.shrink_to(KEEP);
}

/// A receive buffer keeps this much capacity between frames (enough for a 1 MiB
/// argument and its envelope).
const KEEP: usize = 2 << 20;

/// Bodies up to this size are allocated whole before they are read.
const EAGER: usize = 1 << 20;

/// Splits a CALL or INIT body into the task's name and its encoded argument.
pub(crate) fn split_call(body: &[u8]) -> Result<(&str, &[u8]), String> {
    let (len, rest) = body.split_at_checked(2).ok_or("short call frame")?;
    let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
    let (name, arg) = rest.split_at_checked(len).ok_or("short call frame")?;
    let name = std::str::from_utf8(name).map_err(|_| "task name is not UTF-8")?;
    Ok((name, arg))
}

/// Decodes a whole body as one `V`: trailing bytes are an error (postcard ignores them).
pub(crate) fn decode<V: DeserializeOwned>(body: &[u8]) -> Result<V, String> {
    match postcard::take_from_bytes::<V>(body) {
        Ok((v, [])) => Ok(v),
        Ok((_, rest)) => Err(format!("{} unexpected trailing bytes", rest.len())),
        Err(e) => Err(e.to_string()),
    }
}

/// An `InvalidData` error.
pub(crate) fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_frame_round_trips_its_name_and_argument() {
        let frame = Frame::call(Kind::Call, "square", &(7u64, "x".to_string())).unwrap();
        let mut body = Vec::new();
        let kind = read_frame(&mut frame.bytes(), &mut body).unwrap().unwrap();
        assert_eq!(kind, Kind::Call);
        let (name, arg) = split_call(&body).unwrap();
        assert_eq!(name, "square");
        assert_eq!(decode::<(u64, String)>(arg).unwrap(), (7, "x".to_string()));
    }

    #[test]
    fn a_frame_claiming_more_than_the_limit_is_refused_before_allocating() {
        let mut bytes = ((MAX_FRAME + 1) as u32).to_le_bytes().to_vec();
        bytes.push(Kind::Ok as u8);
        let err = read_frame(&mut bytes.as_slice(), &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_truncated_frame_is_an_unexpected_end_and_an_empty_stream_is_none() {
        let frame = text_frame(Kind::Panicked, "boom");
        let cut = &frame.bytes()[..frame.bytes().len() - 1];
        let err = read_frame(&mut &cut[..], &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(read_frame(&mut &[][..], &mut Vec::new()).unwrap().is_none());
    }

    #[test]
    fn trailing_bytes_after_a_value_are_a_decoding_error() {
        let mut bytes = postcard::to_allocvec(&5u32).unwrap();
        bytes.push(0);
        assert!(decode::<u32>(&bytes).is_err());
        assert_eq!(decode::<u32>(&bytes[..1]).unwrap(), 5);
    }

    #[test]
    fn an_unknown_kind_is_invalid_data() {
        let bytes = [1u8, 0, 0, 0, 99];
        let err = read_frame(&mut &bytes[..], &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
