//! `fetchpool report --handoff DIR RECORD...`: how many links the shards of a distributed
//! crawl handed each other and have not consumed yet, so a driver knows whether another
//! round is needed (exit 1) or the crawl is over (exit 0).

use std::collections::{BTreeMap, HashSet};
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::crawl::links::normalize;
use crate::crawl::url_key;
use crate::record::resume::{for_each_whole_line, open_regular};
use crate::record::{RecordLine, result};

/// What a distributed crawl has left to do.
#[derive(Debug, Default)]
pub(super) struct Left {
    /// Links handed off past what their shard consumed and without a record, by the
    /// shard they are for.
    pub(super) handed: BTreeMap<u32, u64>,
    /// Pages queued (for a later round) and without a record.
    pub(super) queued: u64,
}

impl Left {
    /// Whether another round is needed.
    pub(super) fn any(&self) -> bool {
        self.queued > 0 || self.handed.values().any(|&n| n > 0)
    }
}

/// What is left: handed-off links not consumed nor recorded, and queued pages not
/// recorded. Memory: 16 bytes per URL recorded or queued.
///
/// # Errors
/// A file or the folder cannot be read.
pub(super) fn pending(dir: &Path, records: &[PathBuf]) -> anyhow::Result<Left> {
    let mut known = HashSet::new();
    let mut queued = HashSet::new();
    for path in records {
        let file = open_regular(path).with_context(|| format!("cannot open {}", path.display()))?;
        for_each_whole_line(BufReader::with_capacity(64 * 1024, file), |line| {
            if let Some(rec) = RecordLine::parse(line)
                && let Ok(mut url) = url::Url::parse(&rec.url)
            {
                normalize(&mut url);
                let key = url_key(url.as_str());
                // A page cancelled by a stopped run is fetched again by the next one.
                if rec.result == result::QUEUED {
                    queued.insert(key);
                } else if rec.result != result::CANCELLED {
                    known.insert(key);
                }
            }
        })
        .with_context(|| format!("cannot read {}", path.display()))?;
    }
    let handed = crate::crawl::handoff::pending(dir, |url| known.contains(&url_key(url)))
        .with_context(|| format!("cannot read the handoff folder {}", dir.display()))?;
    Ok(Left {
        handed,
        queued: queued.difference(&known).count() as u64,
    })
}

/// The report's line about the handoff: what is left, by shard.
pub(super) fn describe(left: &Left) -> String {
    if !left.any() {
        return "handoff: every handed-off link is consumed and every queued page fetched: \
                the crawl is over"
            .to_string();
    }
    let total: u64 = left.handed.values().sum();
    let by_shard: Vec<String> = left
        .handed
        .iter()
        .map(|(shard, n)| format!("shard {shard}: {n}"))
        .collect();
    let shards = if by_shard.is_empty() {
        String::new()
    } else {
        format!(" ({})", by_shard.join(", "))
    };
    format!(
        "handoff: {total} handed-off link(s) not consumed yet{shards} and {} queued page(s) \
         not fetched yet: run another round",
        left.queued
    )
}
