//! `fetchpool report --html FILE`: a run at a glance, as one self-contained HTML page (no
//! script, font or stylesheet from anywhere else: it opens from a USB stick). Charts are
//! inline SVG written here. Every value from the records is escaped ([`escape`]): URLs and
//! error messages are untrusted text.
//!
//! [`Picture`] is filled record by record while `fetchpool report` streams the files, in
//! bounded memory: counts, a fixed latency histogram, time buckets, and capped lists (the
//! hosts, the failures).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::record::{Tally, py_repr};

/// Hosts kept apart; the others are summed as one.
const MAX_HOSTS: usize = 10_000;

/// Failed URLs listed; the others are counted.
const MAX_FAILURES: usize = 200;

/// Hosts shown in each top list.
const TOP: usize = 10;

/// Bars of the bytes-over-time chart.
const TIME_BUCKETS: usize = 60;

/// The longest URL and error listed, in characters (a record may hold a megabyte of
/// either); longer ones are cut with an ellipsis.
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

/// What the page shows, gathered one final record at a time.
#[derive(Debug)]
pub(crate) struct Picture {
    hosts: HashMap<String, HostStats>,
    other_hosts: HostStats,
    failures: Vec<Failure>,
    more_failures: u64,
    /// The span of the records' `at` (ms since the epoch), from the first pass.
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

impl Picture {
    /// An empty picture of records that ended between `span` (ms since the epoch).
    pub fn new(span: Option<(u64, u64)>) -> Self {
        Picture {
            hosts: HashMap::new(),
            other_hosts: HostStats::default(),
            failures: Vec::new(),
            more_failures: 0,
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
            let width = (last - first).max(1);
            let i = ((at.saturating_sub(first)) as u128 * TIME_BUCKETS as u128
                / (width as u128 + 1)) as usize;
            let bucket = &mut self.over_time[i.min(TIME_BUCKETS - 1)];
            bucket.0 += r.bytes;
            bucket.1 += 1;
        }
    }

    /// The whole page.
    pub(crate) fn render(&self, tally: &Tally, title: &str) -> String {
        let mut html = String::with_capacity(64 * 1024);
        let t = escape(title);
        let _ = write!(
            html,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
             style-src 'unsafe-inline'; img-src data:\">\
             <title>fetchpool report</title><style>{STYLE}</style></head><body>\n\
             <h1>fetchpool report</h1><p class=\"sub\">{t}</p>\n"
        );
        self.summary(&mut html, tally);
        html.push_str("<div class=\"grid\">");
        section(&mut html, "Latency", &latency_chart(tally));
        section(&mut html, "Results and errors", &results_chart(tally));
        section(&mut html, "Bytes over time", &self.time_chart());
        section(
            &mut html,
            "Slowest hosts (mean latency)",
            &self.slowest_hosts(),
        );
        section(&mut html, "Most failing hosts", &self.failing_hosts());
        html.push_str("</div>");
        self.failure_list(&mut html);
        html.push_str("<p class=\"foot\">Made by fetchpool report. Every chart is drawn in this file; nothing is loaded from elsewhere.</p></body></html>\n");
        html
    }

    fn summary(&self, html: &mut String, tally: &Tally) {
        let pct = |p: f64| {
            tally
                .latency
                .percentile(p)
                .map_or("-".to_string(), |ms| format!("≤ {ms} ms"))
        };
        let cells = [
            ("records", tally.total.to_string()),
            ("fetched", tally.fetched.to_string()),
            ("failed", tally.failed.to_string()),
            ("cancelled", tally.cancelled.to_string()),
            ("invalid", tally.invalid.to_string()),
            ("skipped", tally.kept.to_string()),
            ("bytes", human_bytes(tally.bytes)),
            ("latency p50", pct(50.0)),
            ("p95", pct(95.0)),
            ("p99", pct(99.0)),
        ];
        html.push_str("<div class=\"cards\">");
        for (name, value) in cells {
            let _ = write!(
                html,
                "<div class=\"card\"><div class=\"v\">{}</div><div class=\"k\">{}</div></div>",
                escape(&value),
                escape(name)
            );
        }
        html.push_str("</div>\n");
    }

    fn time_chart(&self) -> String {
        if self.span.is_none() || self.over_time.iter().all(|b| b.1 == 0) {
            return "<p>No record says when it ended (records from before this version).</p>"
                .to_string();
        }
        let bars: Vec<(String, f64)> = self
            .over_time
            .iter()
            .map(|(bytes, _)| (String::new(), *bytes as f64))
            .collect();
        let (first, last) = self.span.unwrap_or((0, 0));
        let seconds = (last.saturating_sub(first)) as f64 / 1e3;
        let mut svg = column_chart(&bars, "bytes", |v| human_bytes(v as u64));
        let _ = write!(
            svg,
            "<p class=\"note\">{TIME_BUCKETS} slices of {}: the bytes of the records that ended in each.</p>",
            escape(&format!("{seconds:.1} s"))
        );
        svg
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

    fn slowest_hosts(&self) -> String {
        let ranked = self.ranked(|s| (s.timed > 0).then(|| s.total_ms / s.timed as f64));
        let bars: Vec<(String, f64)> = ranked.iter().map(|(h, k, _)| (h.clone(), *k)).collect();
        if bars.is_empty() {
            return "<p>No fetch was timed.</p>".to_string();
        }
        bar_chart(&bars, |v| format!("{v:.0} ms"))
    }

    fn failing_hosts(&self) -> String {
        let ranked = self.ranked(|s| (s.failed > 0).then_some(s.failed as f64));
        let bars: Vec<(String, f64)> = ranked
            .iter()
            .map(|(h, k, s)| (format!("{h} ({} of {})", s.failed, s.records), *k))
            .collect();
        if bars.is_empty() {
            return "<p>No host failed.</p>".to_string();
        }
        bar_chart(&bars, |v| format!("{v:.0}"))
    }

    fn failure_list(&self, html: &mut String) {
        let _ = write!(
            html,
            "<h2>Failed URLs</h2>{}",
            if self.failures.is_empty() {
                "<p>None.</p>"
            } else {
                ""
            }
        );
        if self.failures.is_empty() {
            return;
        }
        html.push_str("<table><tr><th>URL</th><th>error</th><th>linked from</th></tr>\n");
        for f in &self.failures {
            let _ = writeln!(
                html,
                "<tr><td class=\"u\">{}</td><td>{}</td><td class=\"u\">{}</td></tr>",
                escape(&py_repr(&f.url)),
                escape(&f.error),
                f.parent
                    .as_deref()
                    .map(|p| escape(&py_repr(p)))
                    .unwrap_or_default()
            );
        }
        html.push_str("</table>");
        if self.more_failures > 0 {
            let _ = write!(
                html,
                "<p class=\"note\">… and {} more (fetchpool report -f jsonl lists them all).</p>",
                self.more_failures
            );
        }
    }
}

/// Escapes text for HTML (element content and quoted attributes alike).
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn section(html: &mut String, title: &str, body: &str) {
    let _ = writeln!(html, "<section><h2>{}</h2>{body}</section>", escape(title));
}

/// `n` bytes as a person reads them.
fn human_bytes(n: u64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[i])
    }
}

/// The latency histogram, in buckets that double (1, 2, 4 ... ms), with the p50, p95 and
/// p99 marked.
fn latency_chart(tally: &Tally) -> String {
    let counts = tally.latency.doubling_buckets();
    if counts.iter().all(|&(_, n)| n == 0) {
        return "<p>No fetch was timed.</p>".to_string();
    }
    let bars: Vec<(String, f64)> = counts
        .iter()
        .map(|(upper, n)| (format!("≤{}", short_ms(*upper)), *n as f64))
        .collect();
    let mut svg = column_chart(&bars, "URLs", |v| format!("{v:.0}"));
    let pct = |p| tally.latency.percentile(p).map_or("-".into(), short_ms);
    let _ = write!(
        svg,
        "<p class=\"note\">p50 {} · p95 {} · p99 {}</p>",
        escape(&pct(50.0)),
        escape(&pct(95.0)),
        escape(&pct(99.0))
    );
    svg
}

fn short_ms(ms: u64) -> String {
    if ms == u64::MAX {
        "∞".to_string()
    } else if ms >= 1000 {
        format!("{}s", ms as f64 / 1e3)
    } else {
        format!("{ms}ms")
    }
}

/// Results and error kinds, by count.
fn results_chart(tally: &Tally) -> String {
    let mut bars = vec![("fetched".to_string(), tally.fetched as f64)];
    if tally.kept > 0 {
        bars.push(("skipped".to_string(), tally.kept as f64));
    }
    for (kind, n) in tally.failed_kinds.iter() {
        bars.push((format!("failed: {kind}"), n as f64));
    }
    if tally.disallowed > 0 {
        bars.push(("skipped: robots.txt".to_string(), tally.disallowed as f64));
    }
    if tally.cancelled > 0 {
        bars.push(("cancelled".to_string(), tally.cancelled as f64));
    }
    for (kind, n) in tally.invalid_kinds.iter() {
        bars.push((format!("invalid: {kind}"), n as f64));
    }
    bar_chart(&bars, |v| format!("{v:.0}"))
}

/// Horizontal bars with their labels and values.
fn bar_chart(bars: &[(String, f64)], fmt: impl Fn(f64) -> String) -> String {
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(1e-9);
    let (row, label_w, bar_w) = (22.0, 260.0, 300.0);
    let height = row * bars.len() as f64 + 4.0;
    let mut svg = format!(
        "<svg role=\"img\" viewBox=\"0 0 {w} {height}\" width=\"100%\" \
         xmlns=\"http://www.w3.org/2000/svg\">",
        w = label_w + bar_w + 90.0
    );
    for (i, (label, value)) in bars.iter().enumerate() {
        let y = i as f64 * row + 2.0;
        let w = (value / max * bar_w).max(1.0);
        let _ = write!(
            svg,
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{label}</text>\
             <rect x=\"{bx}\" y=\"{y}\" width=\"{w:.1}\" height=\"{h}\" rx=\"2\"/>\
             <text x=\"{vx:.1}\" y=\"{ty}\">{value}</text>",
            lx = label_w - 6.0,
            ty = y + 15.0,
            label = escape(&ellipsis(label, 40)),
            bx = label_w,
            h = row - 6.0,
            vx = label_w + w + 5.0,
            value = escape(&fmt(*value)),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Vertical bars (a histogram), labels under every few bars.
fn column_chart(bars: &[(String, f64)], unit: &str, fmt: impl Fn(f64) -> String) -> String {
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(1e-9);
    let (w, h, left, bottom) = (640.0, 200.0, 70.0, 28.0);
    let step = (w - left) / bars.len().max(1) as f64;
    let mut svg = format!(
        "<svg role=\"img\" viewBox=\"0 0 {w} {total}\" width=\"100%\" \
         xmlns=\"http://www.w3.org/2000/svg\">\
         <text x=\"{left}\" y=\"12\" class=\"axis\">max {max_label} {unit}</text>\
         <line x1=\"{left}\" y1=\"{base}\" x2=\"{w}\" y2=\"{base}\" class=\"axis\"/>",
        total = h + bottom,
        max_label = escape(&fmt(max)),
        unit = escape(unit),
        base = h,
    );
    // At most about seven labels, so they never overlap.
    let every = bars.len().div_ceil(7).max(1);
    for (i, (label, value)) in bars.iter().enumerate() {
        let bh = value / max * (h - 20.0);
        let x = left + i as f64 * step;
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{bh:.1}\"><title>{t}</title></rect>",
            y = h - bh,
            bw = (step - 1.0).max(0.5),
            t = escape(&format!("{label} {}", fmt(*value))),
        );
        if i % every == 0 && !label.is_empty() {
            let _ = write!(
                svg,
                "<text x=\"{x:.1}\" y=\"{ly}\" class=\"axis\">{}</text>",
                escape(label),
                ly = h + 16.0
            );
        }
    }
    svg.push_str("</svg>");
    svg
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
.sub{color:#59636e;margin:2px 0 16px;word-break:break-all}\
.cards{display:flex;flex-wrap:wrap;gap:8px}.card{border:1px solid #d6dde4;border-radius:6px;\
padding:8px 12px;min-width:90px}.v{font-size:20px;font-weight:600}.k{color:#59636e}\
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:8px 24px}\
svg{font-size:11px}svg rect{fill:#3572b0}svg text{fill:#1d2530}.axis{fill:#59636e;stroke:#9aa5b1}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #e3e8ee;padding:4px 6px;\
text-align:left;vertical-align:top}.u{word-break:break-all;font-family:ui-monospace,monospace;\
font-size:12px}.note,.foot{color:#59636e}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_untrusted_value_is_escaped() {
        let mut p = Picture::new(Some((0, 10)));
        let evil = "http://x.test/<script>alert(1)</script>\"'&";
        p.add(&Shown {
            url: evil,
            failed: true,
            error: Some("<img src=x onerror=alert(2)>"),
            parent: Some("http://y.test/<b>"),
            bytes: 1,
            elapsed: Some(Duration::from_millis(3)),
            at: Some(5),
        });
        let html = p.render(&Tally::default(), "<i>title</i>");
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(!html.contains("<b>"));
        assert!(!html.contains("<i>title"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script"), "no script at all in the page");
    }

    #[test]
    fn hosts_beyond_the_cap_are_summed_and_failures_beyond_the_list_counted() {
        let mut p = Picture::new(None);
        for i in 0..(MAX_HOSTS + 5) {
            p.add(&Shown {
                url: &format!("http://h{i}.test/"),
                failed: true,
                error: None,
                parent: None,
                bytes: 0,
                elapsed: None,
                at: None,
            });
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
                url: &url,
                failed: true,
                error: Some(&error),
                parent: Some(&url),
                bytes: 0,
                elapsed: None,
                at: None,
            });
        }
        let html = p.render(&Tally::default(), "t");
        assert!(
            html.len() < 64 * 1024 + 10 * 6 * (MAX_SHOWN_URL + MAX_SHOWN_ERROR),
            "{}",
            html.len()
        );
        assert!(
            p.hosts.contains_key("(not a URL)"),
            "a host name over 255 bytes is not kept"
        );
    }
}
