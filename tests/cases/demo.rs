//! `fetchpool demo` (a first run that works offline) and `fetchpool report --html` (a run
//! at a glance), the page checked in a real browser: Debian's `chromium`, headless.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::common::{fetchpool, stderr_of, stdout_of};

/// The demo's records by URL path.
fn by_path(out: &std::process::Output) -> BTreeMap<String, serde_json::Value> {
    stdout_of(out)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let url = url::Url::parse(v["url"].as_str().unwrap()).unwrap();
            (url.path().to_string(), v)
        })
        .collect()
}

#[test]
fn the_demo_shows_every_outcome_without_the_network() {
    let out = fetchpool()
        .args([
            "demo",
            "-f",
            "jsonl",
            "--retries",
            "2",
            "--retry-delay",
            "0.05",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "some pages fail: {}",
        stderr_of(&out)
    );
    let records = by_path(&out);
    let result = |p: &str| records[p]["result"].as_str().unwrap().to_string();
    let kind = |p: &str| records[p]["error_kind"].as_str().unwrap_or("").to_string();
    assert_eq!(
        records.len(),
        fetchpool::demo::PAGES.len(),
        "one record per page"
    );
    for p in [
        "/",
        "/page/small.html",
        "/page/medium.html",
        "/files/large.bin",
        "/slow",
        "/moved",
    ] {
        assert_eq!(result(p), "fetched", "{p}");
    }
    assert_eq!(records["/files/large.bin"]["bytes"], 50 * 1024 * 1024);
    assert_eq!(kind("/missing"), "http_status");
    assert_eq!(
        result("/busy"),
        "fetched",
        "--retries 2 gets it on the third try"
    );
    assert_eq!(records["/busy"]["attempts"], 3);
    assert_eq!(kind("/truncated"), "truncated_body");
    assert!(
        matches!(kind("/reset").as_str(), "reset" | "truncated_body"),
        "{}",
        kind("/reset")
    );
    assert_eq!(kind("/stall"), "timeout", "the demo's 3 s timeout");
    // It says where it serves, and leaves nothing behind.
    assert!(stderr_of(&out).contains("serving 11 pages on http://127.0.0.1:"));
}

#[test]
fn the_demo_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let out = fetchpool()
        .arg("demo")
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn every_flag_works_in_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let out = fetchpool()
        .args([
            "demo",
            "--crawl",
            "--executor",
            "process",
            "-w",
            "3",
            "--timeout",
            "2",
        ])
        .args(["-f", "jsonl", "-d"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let records = by_path(&out);
    // Every page is a seed and the index links to them all: each is fetched once.
    assert_eq!(records.len(), fetchpool::demo::PAGES.len());
    assert_eq!(records["/slow"]["result"], "fetched");
    assert!(
        records.values().all(|r| r["depth"] == 0),
        "crawled, from the seeds"
    );
    let saved = walk(dir.path());
    assert!(saved.iter().any(|p| p.ends_with("small.html")), "{saved:?}");
    // A URL is not an option.
    let out = fetchpool()
        .args(["demo", "http://127.0.0.1:9/"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("its own list"));
}

fn walk(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path.display().to_string());
        }
    }
    files
}

/// Debian's chromium, or a clear failure saying how to get it.
fn chromium() -> &'static str {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return name;
        }
    }
    panic!("a browser is needed: apt-get install chromium (.ci/run installs it)");
}

/// Runs headless chromium on `page` with `args`; returns its stdout.
fn browse(page: &Path, args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .env("HOME", profile.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    stdout_of(&out)
}

#[test]
fn the_html_report_renders_in_a_browser_and_runs_no_script_from_a_url() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("run.jsonl");
    // A run of the demo, then a record whose URL carries a script.
    let out = fetchpool()
        .args([
            "demo",
            "--retries",
            "1",
            "--retry-delay",
            "0.05",
            "--record",
        ])
        .arg(&record)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let evil = r#"{"url":"http://127.0.0.1:9/<script>document.title='PWNED';document.body.innerHTML='PWNED'</script>","line":99,"ok":false,"result":"failed","status":null,"bytes":null,"elapsed_ms":1.0,"attempts":1,"error_kind":"connection_refused","error":"<img src=x onerror=\"document.title='PWNED'\">","at":1}"#;
    let mut text = std::fs::read_to_string(&record).unwrap();
    text.push_str(evil);
    text.push('\n');
    std::fs::write(&record, text).unwrap();

    let page = dir.path().join("report.html");
    let out = fetchpool()
        .args(["report", "--html"])
        .arg(&page)
        .arg(&record)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let summary = stdout_of(&out);
    for row in ["wall time", "URLs/s", "bytes/s"] {
        assert!(summary.contains(row), "{row}: {summary}");
    }
    assert!(
        !summary.contains("not records"),
        "the header is not a record: {summary}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    // Nothing is loaded from elsewhere: no source attribute, stylesheet link or CSS url()
    // (the injected `<img src=x>` is text: `&lt;img src=x`), and the page's policy forbids
    // them anyway.
    for loads in ["src=\"", "<img", "<link", "url(", "@import"] {
        assert!(!html.contains(loads), "{loads} in the page");
    }
    assert!(html.contains("default-src 'none'"));
    assert!(!html.contains("<script"), "no script in the page");

    // The run's facts: when, how long, how fast, which version with which settings; the
    // statuses; the slowest URLs as links, without Python's quotes; no card for a zero.
    for fact in [
        "<dt>Started</dt>",
        "<dt>Wall time</dt>",
        "<dt>Fetches per second</dt>",
        "<dt>Throughput</dt>",
        "<dt>Retries</dt>",
        "404 Not Found",
        "Slowest URLs",
        "retries 1",
        concat!("<td>", env!("CARGO_PKG_VERSION"), "</td>"),
    ] {
        assert!(html.contains(fact), "{fact} is not in the page");
    }
    assert!(
        html.contains("<a href=\"http://127.0.0.1:"),
        "URLs are links"
    );
    assert!(!html.contains("'http://127.0.0.1:"), "no Python quotes");
    assert!(!html.contains(">cancelled</div>"), "no zero cards");

    // The browser's view of the page after it loaded: its title, and no trace of the
    // injected script having run.
    let dom = browse(&page, &["--dump-dom", "--virtual-time-budget=2000"]);
    assert!(
        dom.contains("<title>fetchpool report</title>"),
        "{}",
        &dom[..dom.len().min(500)]
    );
    assert!(!dom.contains("<title>PWNED"), "the injected script ran");
    assert!(
        dom.contains("&lt;script&gt;document.title"),
        "the URL is shown as text"
    );

    // A screenshot of the expected size that is not blank.
    let shot = dir.path().join("shot.png");
    browse(
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,900",
        ],
    );
    let (width, height, colours) = png_summary(&shot);
    assert_eq!((width, height), (1200, 900));
    assert!(colours > 8, "the page drew something: {colours} colours");
}

/// Width, height and the number of distinct colours of a PNG.
fn png_summary(path: &Path) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bytes = &buf[..info.buffer_size()];
    let step = info.color_type.samples();
    let colours: std::collections::HashSet<&[u8]> = bytes.chunks(step).collect();
    (info.width, info.height, colours.len())
}
