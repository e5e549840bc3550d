//! Reading a URL list lazily: one URL per line, blank lines and `#` comments skipped.

use std::io::{self, BufRead, Read};

use url::Url;

use crate::fetch::{FetchError, parse_url};

/// The UTF-8 byte order mark some editors put at the start of a file; not part of the
/// first URL.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Lines longer than this are reported as invalid instead of being buffered whole.
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// One non-blank, non-comment line of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// 1-based line number in the input.
    pub(crate) line: u64,
    /// The line's text, trimmed (lossily decoded if it was not UTF-8), with the password
    /// of a `user:password@` masked: what records show.
    pub(crate) text: String,
    /// The URL, or why the line is not one.
    pub(crate) url: Result<Url, FetchError>,
    /// The file name given after a TAB (`URL<TAB>name`), for `-d`.
    pub(crate) name: Option<String>,
}

/// An iterator over the entries of a URL list, reading one line at a time.
///
/// Memory is bounded by [`MAX_LINE`] whatever the input; nothing is read ahead.
#[derive(Debug)]
pub(crate) struct UrlList<R> {
    /// The input.
    reader: R,
    /// Lines read so far.
    line: u64,
    /// Reused line buffer.
    buf: Vec<u8>,
}

impl<R: BufRead> UrlList<R> {
    /// Reads entries from `reader`.
    pub fn new(reader: R) -> Self {
        UrlList {
            reader,
            line: 0,
            buf: Vec::new(),
        }
    }

    /// Reads one raw line into `buf` (without its newline), at most `MAX_LINE + 1` bytes of
    /// it; the rest of an over-long line is skipped. Returns `Ok(false)` at end of input.
    fn read_line(&mut self) -> io::Result<bool> {
        self.buf.clear();
        let n = (&mut self.reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(false);
        }
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
        } else if self.buf.len() > MAX_LINE {
            // Discard the rest of the line without storing it.
            loop {
                let chunk = self.reader.fill_buf()?;
                if chunk.is_empty() {
                    break;
                }
                match chunk.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        self.reader.consume(i + 1);
                        break;
                    }
                    None => {
                        let len = chunk.len();
                        self.reader.consume(len);
                    }
                }
            }
        }
        Ok(true)
    }
}

impl<R: BufRead> Iterator for UrlList<R> {
    type Item = io::Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.read_line() {
                Err(e) => return Some(Err(e)),
                Ok(false) => return None,
                Ok(true) => {}
            }
            self.line += 1;
            if self.line == 1 && self.buf.starts_with(BOM) {
                self.buf.drain(..BOM.len());
            }
            let too_long = self.buf.len() > MAX_LINE;
            let (text, utf8) = match std::str::from_utf8(&self.buf) {
                Ok(s) => (s.trim().to_string(), true),
                Err(_) => (String::from_utf8_lossy(&self.buf).trim().to_string(), false),
            };
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let text = if too_long {
                let mut short: String = text.chars().take(100).collect();
                short.push_str("...");
                short
            } else {
                text
            };
            // `URL<TAB>name`: the name the body is saved as with `-d`.
            let (text, name) = match text.split_once('\t') {
                Some((url, name)) => (
                    url.trim_end().to_string(),
                    Some(name.trim().to_string()).filter(|n| !n.is_empty()),
                ),
                None => (text, None),
            };
            let url = if too_long {
                Err(FetchError::InvalidUrl(format!(
                    "line longer than {MAX_LINE} bytes"
                )))
            } else if !utf8 {
                Err(FetchError::InvalidUrl(
                    "line is not valid UTF-8".to_string(),
                ))
            } else {
                parse_url(&text)
            };
            let shown = crate::redact::shown(&text, url.as_ref().ok());
            return Some(Ok(Entry {
                line: self.line,
                text: shown,
                url,
                name,
            }));
        }
    }
}

/// The readers of several sources read as one list, a newline put between two sources
/// when the first does not end with one (so its last line stays its own).
pub(crate) struct Chained {
    /// The reader being read.
    current: Option<Box<dyn Read + Send>>,
    /// The readers still to come.
    rest: std::collections::VecDeque<Box<dyn Read + Send>>,
    /// The last byte read so far (`\n` at the start).
    last: u8,
}

impl Chained {
    /// Reads `sources` one after the other.
    pub fn new(sources: Vec<Box<dyn Read + Send>>) -> Self {
        Chained {
            current: None,
            rest: sources.into(),
            last: b'\n',
        }
    }
}

impl Read for Chained {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if let Some(reader) = self.current.as_mut() {
                let n = reader.read(buf)?;
                if n > 0 {
                    self.last = buf[n - 1];
                    return Ok(n);
                }
                self.current = None;
            }
            let Some(next) = self.rest.pop_front() else {
                return Ok(0);
            };
            self.current = Some(next);
            if self.last != b'\n' {
                self.last = b'\n';
                buf[0] = b'\n';
                return Ok(1);
            }
        }
    }
}

/// Counts the entries a list holds (its non-blank lines not starting with `#`, as
/// [`UrlList`] yields them) without parsing them, in constant memory.
///
/// # Errors
/// The read failed.
pub(crate) fn count_entries(mut reader: impl BufRead) -> io::Result<u64> {
    let mut count = 0u64;
    // Where the current line is: before its first non-blank byte, or past it.
    let mut at_start = true;
    let mut first_chunk = true;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(count);
        }
        let mut chunk = chunk;
        if first_chunk && chunk.starts_with(BOM) {
            chunk = &chunk[BOM.len()..];
        }
        first_chunk = false;
        for &b in chunk {
            match b {
                b'\n' => at_start = true,
                _ if !at_start => {}
                b' ' | b'\t' | b'\r' | 0x0b | 0x0c => {}
                b'#' => at_start = false,
                _ => {
                    count += 1;
                    at_start = false;
                }
            }
        }
        let len = reader.fill_buf()?.len();
        reader.consume(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(input: &[u8]) -> Vec<Entry> {
        UrlList::new(input).map(Result::unwrap).collect()
    }

    #[test]
    fn blank_lines_and_comments_are_skipped_and_line_numbers_kept() {
        let got = entries(b"# list\n\n  http://a.example/  \r\nhttp://b.example/");
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].line, got[0].text.as_str()),
            (3, "http://a.example/")
        );
        assert!(got[0].url.is_ok());
        assert_eq!(
            (got[1].line, got[1].text.as_str()),
            (4, "http://b.example/")
        );
    }

    #[test]
    fn an_over_long_line_is_one_invalid_entry_and_the_next_line_is_read() {
        let mut input = b"http://a.example/".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE * 2));
        input.extend(b"\nhttp://b.example/\n");
        let got = entries(&input);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].line, 1);
        assert!(got[0].text.len() < 200, "the text is shortened");
        assert_eq!(got[0].url.as_ref().unwrap_err().kind(), "invalid_url");
        assert_eq!((got[1].line, got[1].url.is_ok()), (2, true));
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_url() {
        let got = entries(b"\xEF\xBB\xBFhttp://a.example/\n\xEF\xBB\xBFhttp://b.example/\n");
        assert_eq!(got[0].text, "http://a.example/");
        assert!(got[0].url.is_ok());
        assert!(
            got[1].url.is_err(),
            "only the file's first bytes can be a BOM"
        );
    }

    #[test]
    fn the_text_shown_masks_a_password_and_the_url_keeps_it() {
        let got = entries(b"http://u:secret@a.example/\n");
        assert_eq!(got[0].text, "http://u:***@a.example/");
        assert_eq!(got[0].url.as_ref().unwrap().password(), Some("secret"));
    }

    #[test]
    fn chained_sources_read_as_one_list_each_line_its_own() {
        let source = |text: &'static str| Box::new(text.as_bytes()) as Box<dyn Read + Send>;
        let mut all = String::new();
        Chained::new(vec![source("a\nb"), source(""), source("c\n"), source("d")])
            .read_to_string(&mut all)
            .unwrap();
        assert_eq!(all, "a\nb\nc\nd");
    }

    #[test]
    fn counting_entries_agrees_with_reading_them() {
        let list: &[u8] = b"\xEF\xBB\xBFhttp://a/\n\n  # comment\n \t\r\nnot a url\nhttp://b/";
        assert_eq!(count_entries(list).unwrap(), entries(list).len() as u64);
        assert_eq!(count_entries(list).unwrap(), 3);
        assert_eq!(count_entries(&b""[..]).unwrap(), 0);
    }

    #[test]
    fn a_name_after_a_tab_is_split_off_the_url() {
        let got = entries(b"http://a.example/x\t my page.html \nhttp://b.example/\t\n");
        assert_eq!(got[0].text, "http://a.example/x");
        assert_eq!(got[0].name.as_deref(), Some("my page.html"));
        assert!(got[0].url.is_ok());
        assert_eq!(got[1].name, None);
    }

    #[test]
    fn a_line_that_is_not_utf8_is_invalid_not_an_error() {
        let got = entries(b"http://a.example/\xff\n");
        assert!(
            got[0]
                .url
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("UTF-8")
        );
    }
}
