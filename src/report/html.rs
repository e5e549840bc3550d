//! `fetchpool report --html FILE`: a run at a glance, as one self-contained HTML page (no
//! script, font or stylesheet from anywhere else: it opens from a USB stick). The page is
//! a `maud` template, which escapes every value it is given: URLs, error messages and a
//! run's settings come from record files, untrusted text. Charts are inline SVG drawn by
//! the same templates.
//!
//! [`Picture`] is filled record by record while `fetchpool report` streams the files, in
//! bounded memory: counts, a fixed latency histogram, time buckets, and capped lists (the
//! hosts, the failures, the slowest URLs).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, UNIX_EPOCH};

use indicatif::HumanBytes;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::record::Tally;
use crate::record::header::RunHeader;
use crate::record::tally::human_duration;

/// Hosts kept apart; the others are summed as one.
const MAX_HOSTS: usize = 10_000;

/// Failed URLs listed; the others are counted.
const MAX_FAILURES: usize = 200;

/// Slowest URLs listed.
const SLOWEST: usize = 20;

/// Hosts shown in each top list.
const TOP: usize = 10;

/// Bars of the bytes-over-time chart.
const TIME_BUCKETS: usize = 60;

/// Runs whose header is shown; the others are counted.
pub(crate) const MAX_RUNS: usize = 20;

/// The longest URL and error listed, in characters (a record may hold a megabyte of
/// either); longer ones are cut with an ellipsis (and a cut URL is not a link).
const MAX_SHOWN_URL: usize = 2000;
const MAX_SHOWN_ERROR: usize = 1000;

/// The longest host name kept apart (DNS names have at most 253).
const MAX_HOST: usize = 255;

/// One host's figures.
#[derive(Debug, Default, Clone)]
struct HostStats {
    records: u64,
    failed: u64,
    /// Sum of latencies of fetched or failed URLs, in ms.
    total_ms: f64,
    timed: u64,
}

/// A failed URL, as listed.
#[derive(Debug, Clone)]
struct Failure {
    url: String,
    error: String,
    parent: Option<String>,
}

/// A slow URL, as listed: ordered by its latency.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Slow {
    elapsed: Duration,
    url: String,
    status: Option<u16>,
    failed: bool,
    bytes: u64,
}

/// What the page shows, gathered one final record at a time.
#[derive(Debug)]
pub(crate) struct Picture {
    hosts: HashMap<String, HostStats>,
    other_hosts: HostStats,
    failures: Vec<Failure>,
    more_failures: u64,
    /// The [`SLOWEST`] URLs so far, the fastest of them on top.
    slowest: BinaryHeap<Reverse<Slow>>,
    /// When the run began and its last record was written (ms since the epoch).
    span: Option<(u64, u64)>,
    /// Bytes and records per time bucket.
    over_time: Vec<(u64, u64)>,
}

/// One final record's fields the page uses.
pub(crate) struct Shown<'a> {
    /// Its URL (untrusted text).
    pub(crate) url: &'a str,
    /// `fetched`, `failed`, ...
    pub(crate) failed: bool,
    /// The HTTP status, when a response arrived.
    pub(crate) status: Option<u16>,
    /// The error message, if any.
    pub(crate) error: Option<&'a str>,
    /// The page it was found on (`--crawl`).
    pub(crate) parent: Option<&'a str>,
    /// Body bytes.
    pub(crate) bytes: u64,
    /// Its latency, when it was fetched or failed.
    pub(crate) elapsed: Option<Duration>,
    /// When it ended, in ms since the epoch.
    pub(crate) at: Option<u64>,
}

/// What the report knows of the runs besides their records.
pub(crate) struct Facts<'a> {
    /// The record files, as named.
    pub(crate) files: &'a [String],
    /// The headers of the runs that wrote them, the first [`MAX_RUNS`] of them.
    pub(crate) runs: &'a [RunHeader<'static>],
    /// Headers beyond those.
    pub(crate) more_runs: u64,
    /// Records a later record of the same line supersedes.
    pub(crate) superseded: u64,
    /// Lines that are neither records, nor headers, nor a crawl's notes.
    pub(crate) unreadable: u64,
}

impl Picture {
    /// An empty picture of a run that began and ended at `span` (ms since the epoch).
    pub fn new(span: Option<(u64, u64)>) -> Self {
        Picture {
            hosts: HashMap::new(),
            other_hosts: HostStats::default(),
            failures: Vec::new(),
            more_failures: 0,
            slowest: BinaryHeap::with_capacity(SLOWEST + 1),
            span,
            over_time: vec![(0, 0); TIME_BUCKETS],
        }
    }

    /// Adds one final record.
    pub(crate) fn add(&mut self, r: &Shown<'_>) {
        let host = url::Url::parse(r.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .filter(|h| h.len() <= MAX_HOST)
            .unwrap_or_else(|| "(not a URL)".to_string());
        let full = self.hosts.len() >= MAX_HOSTS;
        let stats = match self.hosts.get_mut(&host) {
            Some(stats) => stats,
            None if full => &mut self.other_hosts,
            None => self.hosts.entry(host).or_default(),
        };
        stats.records += 1;
        stats.failed += u64::from(r.failed);
        if let Some(d) = r.elapsed {
            stats.total_ms += d.as_secs_f64() * 1e3;
            stats.timed += 1;
            self.note_slow(r, d);
        }
        if r.failed {
            if self.failures.len() < MAX_FAILURES {
                self.failures.push(Failure {
                    url: ellipsis(r.url, MAX_SHOWN_URL),
                    error: ellipsis(r.error.unwrap_or(""), MAX_SHOWN_ERROR),
                    parent: r.parent.map(|p| ellipsis(p, MAX_SHOWN_URL)),
                });
            } else {
                self.more_failures += 1;
            }
        }
        if let (Some(at), Some((first, last))) = (r.at, self.span) {
            let i = bucket(at, first, last);
            let bucket = &mut self.over_time[i];
            bucket.0 += r.bytes;
            bucket.1 += 1;
        }
    }

    /// Keeps `r` among the slowest if it is slower than the fastest of them.
    fn note_slow(&mut self, r: &Shown<'_>, elapsed: Duration) {
        let slower = self.slowest.len() < SLOWEST
            || self
                .slowest
                .peek()
                .is_some_and(|Reverse(fastest)| elapsed > fastest.elapsed);
        if slower {
            self.slowest.push(Reverse(Slow {
                elapsed,
                url: ellipsis(r.url, MAX_SHOWN_URL),
                status: r.status,
                failed: r.failed,
                bytes: r.bytes,
            }));
            if self.slowest.len() > SLOWEST {
                self.slowest.pop();
            }
        }
    }

    /// The whole page.
    pub(crate) fn render(&self, tally: &Tally, facts: &Facts<'_>) -> String {
        let page = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width";
                    meta http-equiv="Content-Security-Policy"
                        content="default-src 'none'; style-src 'unsafe-inline'; img-src data:";
                    title { "fetchpool report" }
                    style { (PreEscaped(STYLE)) }
                }
                body {
                    h1 { "fetchpool report" }
                    p.sub { (facts.files.join(", ")) }
                    (self.facts(tally, facts))
                    (cards(tally))
                    div.grid {
                        section { h2 { "Latency" } (latency_chart(tally)) }
                        section { h2 { "Results and errors" } (results_chart(tally)) }
                        section { h2 { "HTTP statuses" } (status_chart(tally)) }
                        section { h2 { "Bytes over time" } (self.time_chart()) }
                        section { h2 { "Slowest hosts (mean latency)" } (self.slowest_hosts()) }
                        section { h2 { "Most failing hosts" } (self.failing_hosts()) }
                    }
                    (self.slowest_urls())
                    (self.failure_list())
                    (runs(facts))
                    p.foot {
                        "Made by fetchpool report " (env!("CARGO_PKG_VERSION"))
                        ". Every chart is drawn in this file; nothing is loaded from elsewhere."
                    }
                }
            }
        };
        page.into_string()
    }

    /// When the run began and ended, how long it took, how fast it went.
    fn facts(&self, tally: &Tally, facts: &Facts<'_>) -> Markup {
        let wall = self
            .span
            .map(|(first, last)| Duration::from_millis(last.saturating_sub(first)));
        let per_second = |n: f64| wall.filter(|w| !w.is_zero()).map(|w| n / w.as_secs_f64());
        html! {
            dl.facts {
                @if let Some((first, last)) = self.span {
                    dt { "Started" } dd { (clock(first)) }
                    dt { "Ended" } dd { (clock(last)) " (its last record)" }
                }
                @if let Some(wall) = wall {
                    dt { "Wall time" } dd { (human_duration(wall)) }
                }
                @if let Some(rate) = per_second((tally.fetched + tally.failed) as f64) {
                    dt { "Fetches per second" } dd { (format!("{rate:.1}")) }
                }
                @if let Some(rate) = per_second(tally.bytes as f64) {
                    dt { "Throughput" } dd { (HumanBytes(rate as u64)) "/s" }
                }
                dt { "Records" }
                dd {
                    (tally.total) " final"
                    @if facts.superseded > 0 {
                        ", " (facts.superseded) " superseded by a later record of the same line"
                    }
                    @if facts.unreadable > 0 {
                        "; " (facts.unreadable) " lines that are not records skipped"
                    }
                }
                @if tally.retries > 0 {
                    dt { "Retries" } dd { (tally.retries) }
                }
            }
        }
    }

    fn time_chart(&self) -> Markup {
        let Some((first, last)) = self.span.filter(|_| self.over_time.iter().any(|b| b.1 > 0))
        else {
            return html! { p { "No record says when it ended (records from before version 0.1)." } };
        };
        let width = last.saturating_sub(first);
        let bars: Vec<(String, f64)> = self
            .over_time
            .iter()
            .enumerate()
            .map(|(i, (bytes, n))| {
                let from = part(width, i as u64, TIME_BUCKETS as u64);
                let label = format!(
                    "from {}: {} records, {}",
                    short_duration(from),
                    n,
                    HumanBytes(*bytes)
                );
                (label, *bytes as f64)
            })
            .collect();
        let ticks: Vec<(f64, String)> = (0..=4)
            .map(|q: u64| (q as f64 / 4.0, short_duration(part(width, q, 4))))
            .collect();
        let slice = Duration::from_millis(width.div_ceil(TIME_BUCKETS as u64).max(1));
        html! {
            (column_chart(&bars, &ticks, |v| HumanBytes(v as u64).to_string()))
            p.note {
                "Bytes of the records that ended in each " (human_duration(slice))
                " since the start, " (clock(first)) "."
            }
        }
    }

    fn ranked(&self, key: impl Fn(&HostStats) -> Option<f64>) -> Vec<(String, f64, &HostStats)> {
        let mut ranked: Vec<(String, f64, &HostStats)> = self
            .hosts
            .iter()
            .filter_map(|(h, s)| key(s).map(|k| (h.clone(), k, s)))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(TOP);
        ranked
    }

    fn slowest_hosts(&self) -> Markup {
        let ranked = self.ranked(|s| (s.timed > 0).then(|| s.total_ms / s.timed as f64));
        let bars: Vec<(String, f64)> = ranked.iter().map(|(h, k, _)| (h.clone(), *k)).collect();
        if bars.is_empty() {
            return html! { p { "No fetch was timed." } };
        }
        bar_chart(&bars, |v| human_duration(Duration::from_secs_f64(v / 1e3)))
    }

    fn failing_hosts(&self) -> Markup {
        let ranked = self.ranked(|s| (s.failed > 0).then_some(s.failed as f64));
        let bars: Vec<(String, f64)> = ranked
            .iter()
            .map(|(h, k, s)| (format!("{h} ({} of {})", s.failed, s.records), *k))
            .collect();
        if bars.is_empty() {
            return html! { p { "No host failed." } };
        }
        bar_chart(&bars, |v| format!("{v:.0}"))
    }

    fn slowest_urls(&self) -> Markup {
        let mut slowest: Vec<&Slow> = self.slowest.iter().map(|Reverse(s)| s).collect();
        slowest.sort_by(|a, b| b.cmp(a));
        if slowest.is_empty() {
            return html! {};
        }
        html! {
            h2 { "Slowest URLs" }
            table {
                tr { th { "URL" } th.n { "latency" } th { "result" } th.n { "bytes" } }
                @for s in slowest {
                    tr {
                        td.u { (url_cell(&s.url)) }
                        td.n { (human_duration(s.elapsed)) }
                        td { (result_text(s.failed, s.status)) }
                        td.n { @if !s.failed { (HumanBytes(s.bytes)) } }
                    }
                }
            }
        }
    }

    fn failure_list(&self) -> Markup {
        html! {
            h2 { "Failed URLs" }
            @if self.failures.is_empty() {
                p { "None." }
            } @else {
                table {
                    tr { th { "URL" } th { "error" } th { "linked from" } }
                    @for f in &self.failures {
                        tr {
                            td.u { (url_cell(&f.url)) }
                            td { (f.error) }
                            td.u { @if let Some(parent) = &f.parent { (url_cell(parent)) } }
                        }
                    }
                }
                @if self.more_failures > 0 {
                    p.note {
                        "… and " (self.more_failures)
                        " more (fetchpool report -f jsonl lists them all)."
                    }
                }
            }
        }
    }
}

/// `n * num / den` without overflow (`num <= den`).
fn part(n: u64, num: u64, den: u64) -> u64 {
    u64::try_from(u128::from(n) * u128::from(num) / u128::from(den.max(1))).unwrap_or(n)
}

/// The time bucket of a record that ended at `at`, of a run from `first` to `last`.
fn bucket(at: u64, first: u64, last: u64) -> usize {
    let width = u128::from(last.saturating_sub(first)) + 1;
    let i = u128::from(at.saturating_sub(first)) * TIME_BUCKETS as u128 / width;
    usize::try_from(i).map_or(TIME_BUCKETS - 1, |i| i.min(TIME_BUCKETS - 1))
}

/// The counts, one card each; a count of zero has no card.
fn cards(tally: &Tally) -> Markup {
    let pct = |p: f64| {
        tally
            .latency
            .percentile(p)
            .map(|ms| format!("≤ {}", human_duration(Duration::from_millis(ms))))
    };
    let counts = [
        ("fetched", tally.fetched),
        ("failed", tally.failed),
        ("skipped", tally.kept + tally.disallowed + tally.duplicates),
        ("cancelled", tally.cancelled),
        ("invalid", tally.invalid),
    ];
    let mut cells: Vec<(&str, String)> = vec![("records", tally.total.to_string())];
    cells.extend(
        counts
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| (name, n.to_string())),
    );
    if tally.bytes > 0 {
        cells.push(("bytes", HumanBytes(tally.bytes).to_string()));
    }
    for (name, p) in [("latency p50", 50.0), ("p95", 95.0), ("p99", 99.0)] {
        if let Some(value) = pct(p) {
            cells.push((name, value));
        }
    }
    html! {
        div.cards {
            @for (name, value) in cells {
                div.card { div.v { (value) } div.k { (name) } }
            }
        }
    }
}

/// The runs that wrote the records: version, start and settings.
fn runs(facts: &Facts<'_>) -> Markup {
    if facts.runs.is_empty() {
        return html! {};
    }
    html! {
        h2 { "Runs" }
        table {
            tr { th { "started" } th { "fetchpool" } th { "settings" } }
            @for run in facts.runs {
                tr {
                    td { (clock(run.started)) }
                    td { (run.fetchpool) }
                    td {
                        @for (i, (name, value)) in run.options.iter().enumerate() {
                            @if i > 0 { ", " }
                            span.opt { (name) " " (value) }
                        }
                    }
                }
            }
        }
        @if facts.more_runs > 0 {
            p.note { "… and " (facts.more_runs) " more runs." }
        }
    }
}

/// A URL, as a link when it is a whole http(s) URL (never `javascript:` or a cut one).
fn url_cell(url: &str) -> Markup {
    let link = url::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && !url.ends_with('…'));
    html! {
        @if let Some(link) = link {
            a href=(link.as_str()) rel="noreferrer nofollow" { (url) }
        } @else {
            (url)
        }
    }
}

/// `fetched (200)`, `failed (503)`, `failed after 200` (the body failed), `failed`.
fn result_text(failed: bool, status: Option<u16>) -> String {
    match (failed, status) {
        (false, Some(status)) => format!("fetched ({status})"),
        (false, None) => "fetched".to_string(),
        (true, Some(status)) if status < 400 => format!("failed after {status}"),
        (true, Some(status)) => format!("failed ({status})"),
        (true, None) => "failed".to_string(),
    }
}

/// A time in ms since the epoch, as `2026-12-02 12:44:48 UTC` (a time past the year 9999,
/// from a hostile record file, as its number).
fn clock(ms: u64) -> String {
    const LAST_SECOND: u64 = 253_402_300_799;
    if ms / 1000 > LAST_SECOND {
        return format!("{ms} ms since 1970");
    }
    let time = UNIX_EPOCH + Duration::from_millis(ms);
    let text = humantime::format_rfc3339_seconds(time).to_string();
    format!("{} UTC", text.replace('T', " ").trim_end_matches('Z'))
}

/// A span in ms, short, for an axis: `0`, `250 ms`, `12 s`, `3 min`, `1.5 h`.
fn short_duration(ms: u64) -> String {
    match ms {
        0 => "0".to_string(),
        1..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{} s", trim(ms as f64 / 1e3)),
        60_000..3_600_000 => format!("{} min", trim(ms as f64 / 60e3)),
        _ => format!("{} h", trim(ms as f64 / 3600e3)),
    }
}

/// A number with at most one decimal, none if it is whole.
fn trim(v: f64) -> String {
    let text = format!("{v:.1}");
    text.strip_suffix(".0").map_or(text.clone(), str::to_string)
}

/// The latency histogram, in buckets that double (1, 2, 4 ... ms), with the p50, p95 and
/// p99 below it.
fn latency_chart(tally: &Tally) -> Markup {
    let counts = tally.latency.doubling_buckets();
    if counts.iter().all(|&(_, n)| n == 0) {
        return html! { p { "No fetch was timed." } };
    }
    let bars: Vec<(String, f64)> = counts
        .iter()
        .map(|(upper, n)| (format!("≤ {}: {n} URLs", short_ms(*upper)), *n as f64))
        .collect();
    // A label under every few bars, at most about seven.
    let every = counts.len().div_ceil(7).max(1);
    let ticks: Vec<(f64, String)> = counts
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, (upper, _))| {
            (
                (i as f64 + 0.5) / counts.len() as f64,
                format!("≤{}", short_ms(*upper)),
            )
        })
        .collect();
    let pct = |p| tally.latency.percentile(p).map_or("-".into(), short_ms);
    html! {
        (column_chart(&bars, &ticks, |v| format!("{v:.0}")))
        p.note { "URLs by latency. p50 " (pct(50.0)) " · p95 " (pct(95.0)) " · p99 " (pct(99.0)) }
    }
}

fn short_ms(ms: u64) -> String {
    if ms == u64::MAX {
        "∞".to_string()
    } else {
        short_duration(ms)
    }
}

/// Results and error kinds, by count.
fn results_chart(tally: &Tally) -> Markup {
    let mut bars = Vec::new();
    let mut bar = |label: String, n: u64| {
        if n > 0 {
            bars.push((label, n as f64));
        }
    };
    bar("fetched".to_string(), tally.fetched);
    bar("skipped: file exists".to_string(), tally.kept);
    for (kind, n) in tally.failed_kinds.iter() {
        bar(format!("failed: {kind}"), n);
    }
    bar("skipped: robots.txt".to_string(), tally.disallowed);
    bar("skipped: duplicate".to_string(), tally.duplicates);
    bar("cancelled".to_string(), tally.cancelled);
    for (kind, n) in tally.invalid_kinds.iter() {
        bar(format!("invalid: {kind}"), n);
    }
    if bars.is_empty() {
        return html! { p { "No records." } };
    }
    bar_chart(&bars, |v| format!("{v:.0}"))
}

/// The HTTP statuses of the responses, by count.
fn status_chart(tally: &Tally) -> Markup {
    let bars: Vec<(String, f64)> = tally
        .statuses
        .iter()
        .map(|(&status, &n)| {
            let reason = reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("");
            (format!("{status} {reason}"), n as f64)
        })
        .collect();
    if bars.is_empty() {
        return html! { p { "No response arrived." } };
    }
    bar_chart(&bars, |v| format!("{v:.0}"))
}

/// Horizontal bars with their labels and values.
fn bar_chart(bars: &[(String, f64)], fmt: impl Fn(f64) -> String) -> Markup {
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(1e-9);
    let (row, label_w, bar_w) = (22.0, 260.0, 300.0);
    let height = row * bars.len() as f64 + 4.0;
    let view = format!("0 0 {} {height}", label_w + bar_w + 90.0);
    html! {
        svg role="img" viewBox=(view) width="100%" xmlns="http://www.w3.org/2000/svg" {
            @for (i, (label, value)) in bars.iter().enumerate() {
                @let y = i as f64 * row + 2.0;
                @let w = (value / max * bar_w).max(1.0);
                text x=(label_w - 6.0) y=(y + 15.0) text-anchor="end" { (ellipsis(label, 40)) }
                rect x=(label_w) y=(y) width=(format!("{w:.1}")) height=(row - 6.0) rx="2" {
                    title { (label) ": " (fmt(*value)) }
                }
                text x=(format!("{:.1}", label_w + w + 5.0)) y=(y + 15.0) { (fmt(*value)) }
            }
        }
    }
}

/// Vertical bars (a histogram) over a y axis from 0 with three ticks, and the x axis
/// labelled at `ticks` (each a position from 0 to 1, and its label). Each bar's label is
/// its tooltip.
fn column_chart(
    bars: &[(String, f64)],
    ticks: &[(f64, String)],
    fmt: impl Fn(f64) -> String,
) -> Markup {
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(1e-9);
    let (w, h, left, top, bottom) = (640.0, 200.0, 76.0, 10.0, 28.0);
    let plot = h - top;
    let step = (w - left) / bars.len().max(1) as f64;
    let view = format!("0 0 {w} {}", h + bottom);
    html! {
        svg role="img" viewBox=(view) width="100%" xmlns="http://www.w3.org/2000/svg" {
            @for q in [0.0, 0.5, 1.0] {
                @let y = format!("{:.1}", h - q * plot);
                line.rule x1=(left) y1=(y) x2=(w) y2=(y) {}
                text.axis x=(left - 6.0) y=(format!("{:.1}", h - q * plot + 4.0)) text-anchor="end" {
                    (fmt(q * max))
                }
            }
            @for (i, (label, value)) in bars.iter().enumerate() {
                @let bh = value / max * plot;
                rect x=(format!("{:.1}", left + i as f64 * step)) y=(format!("{:.1}", h - bh))
                    width=(format!("{:.1}", (step - 1.0).max(0.5))) height=(format!("{bh:.1}")) {
                    title { (label) }
                }
            }
            line.axis x1=(left) y1=(h) x2=(w) y2=(h) {}
            line.axis x1=(left) y1=(top) x2=(left) y2=(h) {}
            @for (at, label) in ticks {
                @let x = left + at * (w - left);
                @let anchor = if *at >= 0.99 { "end" } else if *at <= 0.01 { "start" } else { "middle" };
                line.axis x1=(format!("{x:.1}")) y1=(h) x2=(format!("{x:.1}")) y2=(h + 4.0) {}
                text.axis x=(format!("{x:.1}")) y=(h + 17.0) text-anchor=(anchor) { (label) }
            }
        }
    }
}

/// `s`, or its first `max - 1` characters and an ellipsis.
fn ellipsis(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some(_) => s.chars().take(max - 1).chain(['…']).collect(),
    }
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;padding:0 16px;max-width:1100px;\
color:#1d2530;background:#fff}h1{margin:0}h2{font-size:16px;margin:18px 0 6px}\
.sub{color:#59636e;margin:2px 0 12px;word-break:break-all}\
.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0 0 14px}\
.facts dt{color:#59636e}.facts dd{margin:0}\
.cards{display:flex;flex-wrap:wrap;gap:8px}.card{border:1px solid #d6dde4;border-radius:6px;\
padding:8px 12px;min-width:90px}.v{font-size:20px;font-weight:600}.k{color:#59636e}\
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:8px 24px}\
svg{font-size:11px}svg rect{fill:#3572b0}svg text{fill:#1d2530}svg .axis{fill:#59636e;stroke:#9aa5b1}\
svg text.axis{stroke:none}svg .rule{stroke:#e3e8ee}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #e3e8ee;padding:4px 6px;\
text-align:left;vertical-align:top}.n{text-align:right;white-space:nowrap}\
.u{word-break:break-all;font-family:ui-monospace,monospace;font-size:12px}a{color:#1f5f9e}\
.opt{white-space:nowrap}.note,.foot{color:#59636e}";

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts<'static> {
        Facts {
            files: &[],
            runs: &[],
            more_runs: 0,
            superseded: 0,
            unreadable: 0,
        }
    }

    fn failed(url: &str) -> Shown<'_> {
        Shown {
            url,
            failed: true,
            status: None,
            error: None,
            parent: None,
            bytes: 0,
            elapsed: None,
            at: None,
        }
    }

    #[test]
    fn every_untrusted_value_is_escaped() {
        let mut p = Picture::new(Some((0, 10)));
        let evil = "http://x.test/<script>alert(1)</script>\"'&";
        p.add(&Shown {
            error: Some("<img src=x onerror=alert(2)>"),
            parent: Some("http://y.test/<b>"),
            bytes: 1,
            elapsed: Some(Duration::from_millis(3)),
            at: Some(5),
            ..failed(evil)
        });
        let header = RunHeader {
            options: [("<i>k".to_string(), "</td><script>".to_string())].into(),
            ..RunHeader::default()
        };
        let runs = [header];
        let files = ["<i>title</i>".to_string()];
        let facts = Facts {
            files: &files,
            runs: &runs,
            ..facts()
        };
        let html = p.render(&Tally::default(), &facts);
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(!html.contains("<b>"));
        assert!(!html.contains("<i>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script"), "no script at all in the page");
    }

    #[test]
    fn only_whole_http_urls_are_links() {
        let mut p = Picture::new(None);
        for url in [
            "https://ok.test/a?b=1",
            "javascript:alert(1)",
            "data:text/html,hi",
            "not a url",
        ] {
            p.add(&failed(url));
        }
        let long = format!("https://long.test/{}", "x".repeat(3000));
        p.add(&failed(&long));
        let html = p.render(&Tally::default(), &facts());
        assert_eq!(html.matches("<a href=").count(), 1, "{html}");
        assert!(html.contains("<a href=\"https://ok.test/a?b=1\""), "{html}");
        assert!(html.contains(">javascript:alert(1)<"), "shown as text");
    }

    #[test]
    fn the_slowest_urls_are_kept_slowest_first() {
        let mut p = Picture::new(None);
        for ms in 1..=100 {
            p.add(&Shown {
                failed: false,
                status: Some(200),
                elapsed: Some(Duration::from_millis(ms)),
                ..failed(&format!("http://h.test/{ms}"))
            });
        }
        let html = p.slowest_urls().into_string();
        let first = html.find("http://h.test/100").unwrap();
        let last = html.find("http://h.test/81").unwrap();
        assert!(first < last);
        assert!(!html.contains("http://h.test/80<"), "only {SLOWEST} kept");
        assert_eq!(p.slowest.len(), SLOWEST);
    }

    #[test]
    fn a_count_of_zero_has_no_card() {
        let tally = Tally {
            total: 3,
            fetched: 3,
            ..Tally::default()
        };
        let html = cards(&tally).into_string();
        assert!(html.contains("fetched"));
        for absent in ["failed", "cancelled", "invalid", "skipped", "p95"] {
            assert!(!html.contains(absent), "{absent}: {html}");
        }
    }

    #[test]
    fn times_read_as_dates_and_absurd_ones_as_numbers() {
        assert_eq!(clock(1_796_215_823_898), "2026-12-02 12:50:23 UTC");
        assert_eq!(clock(u64::MAX), format!("{} ms since 1970", u64::MAX));
        assert_eq!(short_duration(0), "0");
        assert_eq!(short_duration(1500), "1.5 s");
        assert_eq!(short_duration(120_000), "2 min");
    }

    #[test]
    fn records_land_in_the_time_slice_they_ended_in() {
        assert_eq!(bucket(1000, 1000, 61_000), 0);
        assert_eq!(bucket(31_000, 1000, 61_000), 29);
        assert_eq!(bucket(61_000, 1000, 61_000), TIME_BUCKETS - 1);
        assert_eq!(bucket(5, 1000, 61_000), 0, "before the start");
        assert_eq!(bucket(u64::MAX, 0, u64::MAX), TIME_BUCKETS - 1);
        assert_eq!(bucket(7, 7, 7), 0);
    }

    #[test]
    fn hosts_beyond_the_cap_are_summed_and_failures_beyond_the_list_counted() {
        let mut p = Picture::new(None);
        for i in 0..(MAX_HOSTS + 5) {
            p.add(&failed(&format!("http://h{i}.test/")));
        }
        assert_eq!(p.hosts.len(), MAX_HOSTS);
        assert_eq!(p.other_hosts.records, 5);
        assert_eq!(p.failures.len(), MAX_FAILURES);
        assert_eq!(p.more_failures, (MAX_HOSTS + 5 - MAX_FAILURES) as u64);
    }

    #[test]
    fn a_huge_url_or_error_is_cut_in_the_failure_list() {
        let mut p = Picture::new(None);
        let url = format!("http://{}.test/{}", "h".repeat(300), "x".repeat(100_000));
        let error = "e".repeat(100_000);
        for _ in 0..10 {
            p.add(&Shown {
                error: Some(&error),
                parent: Some(&url),
                elapsed: Some(Duration::from_millis(5)),
                ..failed(&url)
            });
        }
        let html = p.render(&Tally::default(), &facts());
        assert!(
            html.len() < 64 * 1024 + 10 * 9 * (MAX_SHOWN_URL + MAX_SHOWN_ERROR),
            "{}",
            html.len()
        );
        assert!(
            p.hosts.contains_key("(not a URL)"),
            "a host name over 255 bytes is not kept"
        );
    }
}
