//! How records are shown: the document's text lines, JSON lines, CSV, a Markdown table,
//! the table; and Python's `repr`, which keeps what a URL holds from spoofing a terminal.

use std::fmt::Write as _;
use std::io::{self, Write};

use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::peaker::Priority;
use tabled::settings::{Alignment, Modify, Style, Width};

use super::{Outcome, Record};

impl Record {
    /// The document's line: `'URL' page is N bytes` or `'URL' generated an exception: MSG`.
    /// A status accepted by `--accept` says so; a HEAD request reports the status and the
    /// announced length instead of a size.
    pub(crate) fn to_text(&self) -> String {
        match (&self.outcome, self.error_message()) {
            (Outcome::Fetched(p), _) if p.head => {
                let length = p
                    .content_length
                    .map_or_else(|| "no Content-Length".to_string(), |n| format!("{n} bytes"));
                format!(
                    "{} answered HTTP {} to HEAD ({length})",
                    py_repr(&self.url),
                    p.status
                )
            }
            (Outcome::Fetched(p), _) if p.resumed_from == Some(p.bytes) => {
                format!(
                    "{} page is {} bytes (already complete)",
                    py_repr(&self.url),
                    p.bytes
                )
            }
            (Outcome::Fetched(p), _) if p.status >= 400 => format!(
                "{} page is {} bytes (HTTP {} accepted)",
                py_repr(&self.url),
                p.bytes,
                p.status
            ),
            (Outcome::Fetched(p), _) if p.location.is_some() => format!(
                "{} redirected to {}{}",
                py_repr(&self.url),
                py_repr(&crate::redact::redact_url(
                    p.location.as_deref().unwrap_or("")
                )),
                self.redirect.map_or("", crate::crawl::Redirected::words)
            ),
            (Outcome::Fetched(p), _) => format!("{} page is {} bytes", py_repr(&self.url), p.bytes),
            (Outcome::Kept(path), _) => format!(
                "{} skipped: {} exists",
                py_repr(&self.url),
                py_repr(&path.display().to_string())
            ),
            (Outcome::Disallowed, _) => {
                format!("{} skipped: disallowed by robots.txt", py_repr(&self.url))
            }
            (Outcome::Duplicate(first), _) => format!(
                "{} skipped: the same URL as line {first}",
                py_repr(&self.url)
            ),
            (_, msg) => {
                let mut line = format!(
                    "{} generated an exception: {}",
                    py_repr(&self.url),
                    msg.unwrap_or_default()
                );
                if self.attempts > 1 {
                    let _ = write!(line, " (after {} attempts)", self.attempts);
                }
                // A crawl is a link checker: a broken link names the page it is on.
                if let Some(parent) = &self.parent {
                    let _ = write!(line, " (linked from {})", py_repr(parent));
                }
                line
            }
        }
    }
}

/// The output format (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// 'URL' page is N bytes, or 'URL' generated an exception: MESSAGE (the document's).
    Text,
    /// One JSON object per line, as each URL completes.
    Jsonl,
    /// Comma-separated values, a header row first, a row per URL as it completes.
    Csv,
    /// A Markdown table, a row per URL as it completes (for an issue or a wiki page).
    Markdown,
    /// One table at the end (keeps every record until then).
    Table,
}

/// The columns of `--format csv` and `--format markdown`.
const COLUMNS: [&str; 9] = [
    "line",
    "url",
    "result",
    "status",
    "bytes",
    "ms",
    "attempts",
    "error_kind",
    "error",
];

impl Format {
    /// The record as this format prints it, newline included, or `None` for the table
    /// (drawn at the end); with `color`, a text line is green if fetched, yellow if
    /// skipped, red otherwise. Done by the thread that produced the record, outside any
    /// lock.
    pub(crate) fn render(self, record: &Record, color: bool) -> Option<String> {
        let mut line = match self {
            Format::Text if color => {
                use anstyle::AnsiColor;
                let style = match record.result_name() {
                    super::result::FETCHED => AnsiColor::Green,
                    super::result::SKIPPED => AnsiColor::Yellow,
                    _ => AnsiColor::Red,
                }
                .on_default();
                format!("{style}{}{style:#}", record.to_text())
            }
            Format::Text => record.to_text(),
            Format::Jsonl => record.to_json(),
            Format::Csv => return Some(csv_row(&cells(record))),
            Format::Markdown => markdown_row(&cells(record)),
            Format::Table => return None,
        };
        line.push('\n');
        Some(line)
    }

    /// What comes before the first record: the header row of CSV and Markdown.
    pub(crate) fn header(self) -> Option<String> {
        match self {
            Format::Csv => Some(csv_row(&COLUMNS)),
            Format::Markdown => Some(format!(
                "{}\n|---:|---|---|---:|---:|---:|---:|---|---|\n",
                markdown_row(&COLUMNS)
            )),
            Format::Text | Format::Jsonl | Format::Table => None,
        }
    }
}

/// A record's [`COLUMNS`].
fn cells(r: &Record) -> [String; 9] {
    [
        r.line.to_string(),
        r.url.clone(),
        r.result_name().to_string(),
        r.status().map_or(String::new(), |s| s.to_string()),
        r.bytes().map_or(String::new(), |b| b.to_string()),
        format!("{:.1}", r.elapsed.as_secs_f64() * 1e3),
        r.attempts.to_string(),
        r.error_kind().unwrap_or_default().to_string(),
        r.error_message().unwrap_or_default(),
    ]
}

/// One CSV row (RFC 4180 quoting, by the `csv` crate), newline included.
fn csv_row<S: AsRef<str>>(cells: &[S]) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let row = cells.iter().map(|c| c.as_ref().as_bytes());
    // Writing to memory cannot fail.
    let _ = writer.write_record(row);
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// One Markdown table row; each cell escaped so that it stays one cell of one row and
/// shows as text (no link, emphasis or HTML from a URL or an error message).
fn markdown_row<S: AsRef<str>>(cells: &[S]) -> String {
    let mut row = String::from("|");
    for cell in cells {
        row.push(' ');
        for c in printable(cell.as_ref()).chars() {
            if matches!(
                c,
                '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '!' | '&' | '~'
            ) {
                row.push('\\');
            }
            row.push(c);
        }
        row.push_str(" |");
    }
    row
}

/// Writes records in the chosen format.
#[derive(Debug)]
pub struct Printer<W: Write> {
    /// Where records go (stdout).
    out: W,
    /// The format.
    format: Format,
    /// Print only the records of URLs that were not fetched (`--failures-only`).
    failures_only: bool,
    /// Whether the format's header is written.
    started: bool,
    /// Records kept for `Format::Table`.
    rows: Vec<Record>,
}

impl<W: Write> Printer<W> {
    /// A printer to `out`; with `failures_only`, of the records that are failed,
    /// cancelled or invalid only.
    pub fn new(out: W, format: Format, failures_only: bool) -> Self {
        Printer {
            out,
            format,
            failures_only,
            started: false,
            rows: Vec::new(),
        }
    }

    /// Whether `record` is printed at all.
    pub(crate) fn shows(&self, record: &Record) -> bool {
        !self.failures_only || record.is_failure()
    }

    /// Prints one record, given as [`Format::render`] made it (or, for a table, keeps
    /// it). Call [`flush`](Self::flush) to make what was printed visible.
    ///
    /// # Errors
    /// Writing to the output failed (for example a closed pipe).
    pub(crate) fn record(&mut self, record: Record, rendered: Option<&str>) -> io::Result<()> {
        if !self.shows(&record) {
            return Ok(());
        }
        self.start()?;
        match rendered {
            Some(text) => self.out.write_all(text.as_bytes()),
            None => {
                self.rows.push(record);
                Ok(())
            }
        }
    }

    /// Writes the format's header, once.
    fn start(&mut self) -> io::Result<()> {
        if !self.started {
            self.started = true;
            if let Some(header) = self.format.header() {
                self.out.write_all(header.as_bytes())?;
            }
        }
        Ok(())
    }

    /// The format it prints.
    pub(crate) fn format(&self) -> Format {
        self.format
    }

    /// Pushes what was printed to the reader.
    ///
    /// # Errors
    /// Writing to the output failed.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Ends the output: prints the table, if that is the format.
    ///
    /// # Errors
    /// Writing to the output failed.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        // A CSV or Markdown output of no record still has its header.
        self.start()?;
        if self.format == Format::Table {
            self.rows.sort_by_key(|r| r.line);
            let mut builder = Builder::new();
            builder.push_record(["line", "url", "result", "status", "bytes", "ms", "error"]);
            for r in &self.rows {
                builder.push_record([
                    r.line.to_string(),
                    r.url.clone(),
                    r.result_name().to_string(),
                    r.status().map_or("-".into(), |s| s.to_string()),
                    r.bytes().map_or("-".into(), |b| b.to_string()),
                    format!("{:.1}", r.elapsed.as_secs_f64() * 1e3),
                    r.error_message().unwrap_or_default(),
                ]);
            }
            let mut table = builder.build();
            // Fits the terminal ([`table_width`]): the widest columns, the URL and the
            // error, wrap onto more lines; nothing is cut.
            table
                .with(Style::rounded())
                .with(Modify::new(Columns::new(3..6)).with(Alignment::right()))
                .with(
                    Width::wrap(table_width())
                        .keep_words(true)
                        .priority(Priority::max(true)),
                );
            writeln!(self.out, "{table}")?;
        }
        self.out.flush()
    }
}

/// The width a table must fit: the terminal's, when stdout is one; else `COLUMNS` when
/// the shell exports it; else 80.
pub(crate) fn table_width() -> usize {
    let terminal = terminal_size::terminal_size_of(io::stdout()).map(|(w, _)| usize::from(w.0));
    terminal
        .or_else(|| {
            std::env::var("COLUMNS")
                .ok()
                .and_then(|c| c.trim().parse::<usize>().ok())
        })
        .filter(|&c| (40..=1000).contains(&c))
        .unwrap_or(80)
}

/// Quotes a string as Python's `repr(str)` does: single quotes unless the text holds a
/// single quote and no double quote; backslashes and the quote escaped, and every
/// character Python does not call printable (`str.isprintable`: control and format
/// characters such as U+202E RIGHT-TO-LEFT OVERRIDE or U+200B ZERO WIDTH SPACE, separators
/// other than the space, private-use and unassigned code points) as `\xhh`, `\uhhhh` or
/// `\Uhhhhhhhh`, so no URL can spoof what a terminal or a log shows.
pub fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    escape_into(&mut out, s, Some(quote));
    out.push(quote);
    out
}

/// `s` with what [`py_repr`] escapes escaped, without quotes: text from a record file
/// (an error kind, say) that must not reach the terminal as control sequences.
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s, None);
    out
}

/// Appends `s` to `out`, escaped as [`py_repr`] does inside `quote`.
fn escape_into(out: &mut String, s: &str, quote: Option<char>) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if Some(c) == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_printable(c) => {
                let code = u32::from(c);
                let _ = match code {
                    0..=0xff => write!(out, "\\x{code:02x}"),
                    0x100..=0xffff => write!(out, "\\u{code:04x}"),
                    _ => write!(out, "\\U{code:08x}"),
                };
            }
            c => out.push(c),
        }
    }
}

/// Python's `str.isprintable` for one character: false for the categories Cc, Cf, Cs, Co,
/// Cn, Zl, Zp, and Zs other than the ASCII space.
fn is_printable(c: char) -> bool {
    use unicode_properties::{GeneralCategory as G, UnicodeGeneralCategory};
    // ASCII, nearly every character of a URL, without the table lookup.
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    !matches!(
        c.general_category(),
        G::Control
            | G::Format
            | G::Surrogate
            | G::PrivateUse
            | G::Unassigned
            | G::LineSeparator
            | G::ParagraphSeparator
            | G::SpaceSeparator
    )
}

#[cfg(test)]
mod tests {
    use super::py_repr;

    #[test]
    fn py_repr_escapes_what_python_escapes() {
        // Expected values printed by CPython 3.11's repr().
        let cases = [
            ("http://a/\u{202e}gnp.exe", r"'http://a/\u202egnp.exe'"),
            ("x\u{200b}y", r"'x\u200by'"),
            ("\u{ad}\u{a0}é日本", r"'\xad\xa0é日本'"),
            ("it's", "\"it's\""),
            ("a\"b'c", r#"'a"b\'c'"#),
            ("\u{7}\u{7f}\t\n\\", r"'\x07\x7f\t\n\\'"),
            (
                "\u{e0001}\u{10fffd}\u{2028} ok",
                r"'\U000e0001\U0010fffd\u2028 ok'",
            ),
            ("\u{1f600}", "'\u{1f600}'"),
        ];
        for (input, expected) in cases {
            assert_eq!(py_repr(input), expected, "{input:?}");
        }
    }
}
