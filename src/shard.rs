//! `--shard K/N`: which lines of the list this run takes, when N copies of the command
//! (a Kubernetes Indexed Job, a Slurm array, GNU parallel) share one list.
//!
//! Every copy reads the whole list and keeps its share, so the shares are disjoint and
//! cover the list without any coordination. The choice depends only on the line (its
//! number, or its URL's host) and on K/N: the same on every machine and in every version
//! of fetchpool, which a test pins.

use std::fmt;

use url::Url;

/// The most shards a list can be split into.
pub(crate) const MAX_SHARDS: u32 = 1_000_000;

/// How lines are dealt to shards (`--shard-by`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ShardBy {
    /// By line number: line L goes to shard (L - 1) mod N, so shares are even.
    #[default]
    Line,
    /// By the URL's host: every URL of one host goes to the same shard, so --per-host and
    /// --rate-per-host hold across all shards. Lines that are not URLs go by line number.
    Host,
}

impl ShardBy {
    /// The name used on the command line and in records.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ShardBy::Line => "line",
            ShardBy::Host => "host",
        }
    }
}

/// One share of a list: shard `index` of `count` (0-based, as `JOB_COMPLETION_INDEX` and
/// `SLURM_ARRAY_TASK_ID` are), dealt `by` line or host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// K, below `count`.
    pub index: u32,
    /// N, at least 1.
    pub count: u32,
    /// How lines are dealt.
    pub by: ShardBy,
}

impl Shard {
    /// Whether line `line` (1-based), whose URL is `url` (`None` for a line that is not
    /// one), belongs to this shard.
    pub(crate) fn owns(&self, line: u64, url: Option<&Url>) -> bool {
        self.of(line, url) == self.index
    }

    /// The shard (of `count`) that line `line` with URL `url` belongs to.
    pub(crate) fn of(&self, line: u64, url: Option<&Url>) -> u32 {
        let n = u64::from(self.count);
        let pick = match (self.by, url.and_then(Url::host_str)) {
            (ShardBy::Host, Some(host)) => host_hash(host) % n,
            _ => line.saturating_sub(1) % n,
        };
        u32::try_from(pick).expect("below count, a u32")
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Parses `K/N` for `--shard`: 0 <= K < N <= [`MAX_SHARDS`].
///
/// # Errors
/// A one-line message for clap.
pub(crate) fn parse_shard(s: &str) -> Result<(u32, u32), String> {
    let (k, n) = s
        .trim()
        .split_once('/')
        .ok_or_else(|| format!("'{s}' is not K/N (for example 0/8: the first of 8 shards)"))?;
    let number = |t: &str, what: &str| {
        t.trim()
            .parse::<u32>()
            .map_err(|_| format!("'{s}': {what} must be a whole number"))
    };
    let (k, n) = (number(k, "K")?, number(n, "N")?);
    if n == 0 || n > MAX_SHARDS {
        return Err(format!("'{s}': N must be from 1 to {MAX_SHARDS}"));
    }
    if k >= n {
        return Err(format!(
            "'{s}': K counts from 0, so it must be below N (0 to {})",
            n - 1
        ));
    }
    Ok((k, n))
}

/// A hash of a host name that never changes: FNV-1a (64 bits) of its bytes as the `url`
/// crate writes them (lower case, IDNA, IPv6 in brackets), then SplitMix64's finaliser so
/// that every bit of the result depends on every byte.
pub(crate) fn host_hash(host: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in host.as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_values_parse_and_bad_ones_say_why() {
        assert_eq!(parse_shard("0/1"), Ok((0, 1)));
        assert_eq!(parse_shard("7/8"), Ok((7, 8)));
        assert_eq!(parse_shard(" 3 / 4 "), Ok((3, 4)));
        for bad in [
            "4/4",
            "1/0",
            "x",
            "1/x",
            "-1/4",
            "0/1000001",
            "",
            "/",
            "1/2/3",
        ] {
            let e = parse_shard(bad).unwrap_err();
            assert!(!e.contains('\n') && e.contains(bad.trim()), "{bad:?}: {e}");
        }
    }

    #[test]
    fn the_host_hash_is_pinned_so_every_machine_and_version_agrees() {
        // Changing these values would split one host over two shards in a fleet that runs
        // two versions: never change them.
        assert_eq!(host_hash(""), PINNED[0]);
        assert_eq!(host_hash("example.com"), PINNED[1]);
        assert_eq!(host_hash("127.0.0.1"), PINNED[2]);
        assert_eq!(host_hash("[::1]"), PINNED[3]);
    }

    const PINNED: [u64; 4] = [
        0xf52a_15e9_a9b5_e89b,
        0x4d07_e1c6_cc59_7ab7,
        0x360f_a4ad_e68d_5ada,
        0x0147_2e64_2c47_87ae,
    ];

    #[test]
    fn every_line_belongs_to_exactly_one_shard() {
        let urls = [
            "http://a.example/1",
            "http://A.EXAMPLE:80/2",
            "https://b.example/",
            "http://127.0.0.1:9/x",
        ];
        for by in [ShardBy::Line, ShardBy::Host] {
            for count in [1, 2, 3, 8] {
                for (i, u) in urls.iter().enumerate() {
                    let url = Url::parse(u).unwrap();
                    let line = i as u64 + 1;
                    let owners = (0..count)
                        .filter(|&index| Shard { index, count, by }.owns(line, Some(&url)))
                        .count();
                    assert_eq!(owners, 1, "{by:?} {count} {u}");
                }
            }
        }
    }

    #[test]
    fn by_host_keeps_a_host_together_and_by_line_deals_in_turn() {
        let by_host = Shard {
            index: 0,
            count: 8,
            by: ShardBy::Host,
        };
        let a1 = Url::parse("http://A.example/1").unwrap();
        let a2 = Url::parse("http://a.example:8080/2").unwrap();
        assert_eq!(by_host.of(1, Some(&a1)), by_host.of(99, Some(&a2)));
        assert_eq!(
            by_host.of(5, None),
            4,
            "a line that is not a URL goes by number"
        );
        let by_line = Shard {
            by: ShardBy::Line,
            ..by_host
        };
        let picks: Vec<u32> = (1..=10).map(|l| by_line.of(l, Some(&a1))).collect();
        assert_eq!(picks, [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]);
    }
}
