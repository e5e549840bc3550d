//! `--dedup`: a URL the list gave before is not fetched again; its line gets a `skipped`
//! record (kind `duplicate`) naming the line that has it. URLs are compared parsed (so
//! `HTTP://A/` and `http://a/` are one), each remembered by an 8-byte hash and its line
//! (two of 4 million distinct URLs share one about once in 2 million runs), up to
//! [`MAX_DISTINCT`] of them: past that, memory stays bounded and later URLs are fetched
//! even if they repeat (the run says so once).

use std::collections::HashMap;

use url::Url;

/// Distinct URLs remembered: a table of 16-byte entries, 141 MB when full (211 MB at the
/// peak of its last growth), measured.
pub(crate) const MAX_DISTINCT: usize = 4_000_000;

/// The URLs met so far, and the line each first came on.
#[derive(Debug, Default)]
pub(crate) struct Dedup {
    first: HashMap<u64, u64>,
    /// Whether [`MAX_DISTINCT`] was reached.
    full: bool,
}

/// What [`Dedup::meet`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Met {
    /// The first time (or too many URLs to remember this one).
    First,
    /// The list gave it before, on this line.
    Again(u64),
    /// The first time, and it is the first URL not remembered: say so once.
    Full,
}

impl Dedup {
    /// Notes that line `line` has `url` (its fragment aside: it is never sent).
    pub(crate) fn meet(&mut self, url: &Url, line: u64) -> Met {
        // The high half of the crawl's 128-bit key.
        let key = (crate::crawl::url_key(&url[..url::Position::AfterQuery]) >> 64) as u64;
        if let Some(&first) = self.first.get(&key) {
            return Met::Again(first);
        }
        if self.first.len() >= MAX_DISTINCT {
            return if std::mem::replace(&mut self.full, true) {
                Met::First
            } else {
                Met::Full
            };
        }
        self.first.insert(key, line);
        Met::First
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_met_again_names_the_line_it_first_came_on() {
        let mut dedup = Dedup::default();
        let url = |s: &str| Url::parse(s).unwrap();
        assert_eq!(dedup.meet(&url("http://a.test/x"), 1), Met::First);
        assert_eq!(dedup.meet(&url("http://b.test/"), 2), Met::First);
        assert_eq!(dedup.meet(&url("HTTP://A.test/x"), 5), Met::Again(1));
        assert_eq!(dedup.meet(&url("http://a.test/x#frag"), 6), Met::Again(1));
        assert_eq!(dedup.meet(&url("http://a.test/x?q"), 7), Met::First);
    }
}
