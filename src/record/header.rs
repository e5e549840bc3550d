//! The header a run writes first in its record file: what made the records that follow
//! (the version, when it started, its settings). It is not a record (it has no `url`), so
//! `--resume` and a resumed crawl pass over it; `fetchpool report` shows it. A resumed run
//! writes its own header before its records, so a file holds one per run that wrote it.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The `result` of a header line, so that `jq 'select(.result == "failed")'` and other
/// filters on records pass over it.
pub(crate) const RUN: &str = "run";

/// Settings kept when a header is read back (a record file is untrusted input).
const MAX_OPTIONS: usize = 64;

/// The longest option name or value kept when a header is read back, in characters.
const MAX_OPTION_TEXT: usize = 200;

/// The first line a run writes in its record file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunHeader<'a> {
    /// The version of fetchpool that wrote it.
    #[serde(borrow)]
    pub fetchpool: Cow<'a, str>,
    /// Always [`RUN`].
    #[serde(borrow)]
    pub result: Cow<'a, str>,
    /// When the run started, in ms since the epoch.
    pub started: u64,
    /// The run's settings, as a person reads them (`"workers": "5"`); never a secret
    /// (headers, logins and proxies are counted or named, not shown).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl RunHeader<'static> {
    /// The header of a run of this version that starts now, with these settings.
    pub(crate) fn now(options: BTreeMap<String, String>) -> Self {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        RunHeader {
            fetchpool: Cow::Borrowed(env!("CARGO_PKG_VERSION")),
            result: Cow::Borrowed(RUN),
            started,
            options,
        }
    }
}

impl<'a> RunHeader<'a> {
    /// The header as a line of the record file, newline included.
    pub(crate) fn to_json(&self) -> String {
        let mut line = serde_json::to_string(self).expect("a header serializes");
        line.push('\n');
        line
    }

    /// The header, holding its own text.
    pub(crate) fn into_owned(self) -> RunHeader<'static> {
        RunHeader {
            fetchpool: Cow::Owned(self.fetchpool.into_owned()),
            result: Cow::Owned(self.result.into_owned()),
            started: self.started,
            options: self.options,
        }
    }

    /// Reads a header line; `None` if `bytes` is not one. What it holds is cut to
    /// [`MAX_OPTIONS`] settings of at most [`MAX_OPTION_TEXT`] characters.
    pub(crate) fn parse(bytes: &'a [u8]) -> Option<Self> {
        let mut header: RunHeader<'a> = serde_json::from_slice(bytes).ok()?;
        if header.result != RUN {
            return None;
        }
        let cut = |s: &str| s.chars().take(MAX_OPTION_TEXT).collect::<String>();
        header.fetchpool = Cow::Owned(cut(&header.fetchpool));
        header.options = std::mem::take(&mut header.options)
            .into_iter()
            .take(MAX_OPTIONS)
            .map(|(k, v)| (cut(&k), cut(&v)))
            .collect();
        Some(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_is_read_back_and_is_not_a_record() {
        let header = RunHeader::now(BTreeMap::from([("workers".into(), "5".into())]));
        let line = header.to_json();
        assert!(line.ends_with('\n') && !line.contains("\"url\""));
        let back = RunHeader::parse(line.trim_end().as_bytes()).unwrap();
        assert_eq!(back, header);
        assert!(crate::record::RecordLine::parse(line.as_bytes()).is_none());
        assert!(RunHeader::parse(br#"{"fetchpool":"1","result":"fetched","started":1}"#).is_none());
    }

    #[test]
    fn a_hostile_header_is_cut_when_read() {
        let options: BTreeMap<String, String> = (0..1000)
            .map(|i| (format!("k{i:04}"), "v".repeat(10_000)))
            .collect();
        let line = serde_json::json!({"fetchpool": "x".repeat(5000), "result": "run",
            "started": 1, "options": options})
        .to_string();
        let back = RunHeader::parse(line.as_bytes()).unwrap();
        assert_eq!(back.options.len(), MAX_OPTIONS);
        assert!(
            back.options
                .values()
                .all(|v| v.chars().count() == MAX_OPTION_TEXT)
        );
        assert_eq!(back.fetchpool.chars().count(), MAX_OPTION_TEXT);
    }
}
