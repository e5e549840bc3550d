//! `--crawl` against the generated site of `tests/common/site.rs` (served by the mock
//! server on 127.0.0.1): every page in scope and reachable fetched exactly once, nothing out
//! of scope or disallowed, depth honoured, broken links named with their page, robots.txt
//! obeyed, and a killed crawl resumed to the same set of pages.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::site::{self, PAGES};
use common::{MockServer, eventually, fetchpool, stderr_of, stdout_of, wait_bounded};

/// The pages the site's graph reaches from page 0 within `depth`, with their shortest
/// depth: what a crawl of scope `host` should record (disallowed pages included: they are
/// recorded as skipped, never requested).
fn reachable(base: &str, depth: u32) -> BTreeMap<String, u32> {
    let mut found = BTreeMap::new();
    let seed = format!("{base}/site/0.html");
    found.insert(seed.clone(), 0);
    let mut queue = VecDeque::from([(seed, 0u32)]);
    while let Some((url, d)) = queue.pop_front() {
        if d == depth {
            continue;
        }
        let page = url
            .strip_prefix(&format!("{base}/site/"))
            .and_then(|r| r.strip_suffix(".html"))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n < PAGES);
        let Some(n) = page else { continue };
        for link in site::links(n, base) {
            if link.starts_with(base) && !found.contains_key(&link) {
                found.insert(link.clone(), d + 1);
                queue.push_back((link, d + 1));
            }
        }
    }
    found
}

/// Runs a crawl from page 0 with `args`, as JSON records by URL (each URL once).
fn crawl(
    server: &MockServer,
    args: &[&str],
) -> (std::process::Output, BTreeMap<String, serde_json::Value>) {
    let out = fetchpool()
        .arg(server.url("/site/0.html"))
        .args(["--crawl", "--no-proxy", "-f", "jsonl"])
        .args(args)
        .output()
        .unwrap();
    let mut records = BTreeMap::new();
    for line in stdout_of(&out).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let url = v["url"].as_str().unwrap().to_string();
        assert!(
            records.insert(url.clone(), v).is_none(),
            "{url} recorded twice"
        );
    }
    (out, records)
}

/// How many times each path (with its query) was requested.
fn requests(server: &MockServer) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for (_, path) in server.log() {
        *counts.entry(path).or_default() += 1;
    }
    counts
}

#[test]
fn a_crawl_fetches_every_reachable_page_in_scope_exactly_once() {
    let server = MockServer::start();
    let base = server.base_url();
    let (out, records) = crawl(&server, &["-w", "8", "--depth", "1000"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the broken link fails: {}",
        stderr_of(&out)
    );
    let expected = reachable(&base, 1000);
    assert_eq!(
        records.keys().collect::<BTreeSet<_>>(),
        expected.keys().collect::<BTreeSet<_>>(),
        "every reachable page in scope, nothing else"
    );
    assert!(expected.len() > PAGES, "the whole site: {}", expected.len());
    // Each page was requested once; robots.txt once; nothing disallowed, nothing from the
    // binary's text, the redirect's target only through the redirect.
    let asked = requests(&server);
    for (url, record) in &records {
        let path = url.strip_prefix(&base).unwrap();
        if path.starts_with("/site/private/") {
            assert_eq!(record["result"], "skipped");
            assert_eq!(record["error_kind"], "robots");
            assert!(!asked.contains_key(path), "{path} is disallowed");
        } else {
            assert_eq!(asked.get(path), Some(&1), "{path} requested once");
        }
    }
    assert_eq!(asked.get("/robots.txt"), Some(&1));
    assert!(
        !asked.contains_key("/site/hidden.html"),
        "not HTML: no links"
    );
    assert_eq!(
        asked.get("/site/target.html"),
        Some(&1),
        "through the redirect only"
    );
    let moved = &records[&format!("{base}/site/moved")];
    assert_eq!(moved["final_url"], format!("{base}/site/target.html"));
    // The broken link names the page it is on.
    let broken = &records[&format!("{base}/site/missing.html")];
    assert_eq!(broken["result"], "failed");
    assert_eq!(broken["error_kind"], "http_status");
    assert_eq!(broken["parent"], format!("{base}/site/5.html"));
    // Seeds keep their line, found pages are line 0 with a depth and a parent.
    assert_eq!(records[&format!("{base}/site/0.html")]["line"], 1);
    assert_eq!(records[&format!("{base}/site/0.html")]["depth"], 0);
    assert!(records.values().filter(|r| r["line"] == 0).all(|r| {
        r["depth"].as_u64().unwrap() >= 1 && r["parent"].as_str().unwrap().starts_with(&base)
    }));
}

#[test]
fn depth_is_honoured_and_each_page_says_where_it_was_found() {
    let server = MockServer::start();
    let base = server.base_url();
    // One worker: pages are fetched in the order found, breadth first, so each page's
    // depth is its shortest one.
    let (out, records) = crawl(&server, &["-w", "1", "--depth", "2"]);
    assert_eq!(out.status.code(), Some(1), "the broken link is at depth 2");
    let expected = reachable(&base, 2);
    let got: BTreeMap<String, u32> = records
        .iter()
        .map(|(u, r)| (u.clone(), r["depth"].as_u64().unwrap() as u32))
        .collect();
    assert_eq!(got, expected);
    for (url, record) in &records {
        let Some(parent) = record["parent"].as_str() else {
            continue;
        };
        let n: usize = parent
            .strip_prefix(&format!("{base}/site/"))
            .and_then(|r| r.strip_suffix(".html"))
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            site::links(n, &base).contains(url),
            "{parent} links to {url}"
        );
        assert_eq!(got[parent] + 1, got[url]);
    }
    // A text run says the same, and names the depth limit nowhere as an error.
    let out = fetchpool()
        .arg(server.url("/site/0.html"))
        .args(["--crawl", "--no-proxy", "--depth", "0"])
        .output()
        .unwrap();
    assert_eq!(
        stdout_of(&out).lines().count(),
        1,
        "depth 0: the seed alone"
    );
}

#[test]
fn a_broken_link_is_reported_with_the_page_that_links_to_it() {
    let server = MockServer::start();
    let out = fetchpool()
        .arg(server.url("/site/5.html"))
        .args(["--crawl", "--no-proxy", "--depth", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = stdout_of(&out);
    let line = text
        .lines()
        .find(|l| l.contains("missing.html"))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        line,
        format!(
            "'{}' generated an exception: HTTP Error 404: Not Found (linked from '{}')",
            server.url("/site/missing.html"),
            server.url("/site/5.html")
        )
    );
}

#[test]
fn robots_txt_is_obeyed_its_crawl_delay_spaces_requests_and_ignore_robots_turns_it_off() {
    let server = MockServer::start();
    server.set_robots("User-agent: fetchpool\nDisallow: /site/private/\nCrawl-delay: 0.1\n");
    let started = Instant::now();
    let (out, records) = crawl(&server, &["-w", "4", "--max-urls", "6"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(records.len(), 6, "--max-urls 6");
    let times: Vec<Instant> = server
        .log()
        .into_iter()
        .filter(|(_, p)| p.starts_with("/site/"))
        .map(|(t, _)| t)
        .collect();
    let fetched = records
        .values()
        .filter(|r| r["result"] == "fetched")
        .count();
    assert_eq!(times.len(), fetched, "disallowed pages are not requested");
    assert!(fetched >= 5);
    // 0.1 s apart at the client; at the server each arrival also carries its own connect
    // time, so a gap may look shorter, never much.
    for pair in times.windows(2) {
        let gap = pair[1].duration_since(pair[0]);
        assert!(gap >= Duration::from_millis(40), "{gap:?}");
    }
    let span = times[times.len() - 1].duration_since(times[0]);
    assert!(
        span >= Duration::from_millis(70 * (times.len() as u64 - 1)),
        "{span:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(320));

    let (out, records) = crawl(
        &server,
        &[
            "-w",
            "4",
            "--depth",
            "1000",
            "--ignore-robots",
            "--max-urls",
            "400",
        ],
    );
    assert!(out.status.code().is_some());
    let private = records
        .iter()
        .filter(|(u, r)| u.contains("/site/private/") && r["result"] == "fetched")
        .count();
    assert!(private > 0, "--ignore-robots fetches disallowed pages");
}

#[test]
fn scope_include_exclude_and_max_urls_limit_what_is_followed() {
    let server = MockServer::start();
    let (_, records) = crawl(
        &server,
        &["--depth", "1000", "--exclude", r"/site/\d*[13579]\.html$"],
    );
    assert!(records.keys().all(|u| !regex_like_odd(u)), "no odd page");
    let (_, records) = crawl(
        &server,
        &["--depth", "1000", "--include", r"/site/\d+\.html$"],
    );
    assert!(
        records
            .keys()
            .all(|u| u.ends_with(".html") && !u.contains("/sub/") && !u.contains("private"))
    );
    assert_eq!(records.len(), PAGES);
    let (_, records) = crawl(&server, &["--depth", "1000", "--max-urls", "25"]);
    assert_eq!(records.len(), 25);
    // --scope any follows the link to the other loopback host (which refuses it).
    let (_, records) = crawl(
        &server,
        &["--depth", "1000", "--scope", "any", "--max-urls", "400"],
    );
    assert!(records.contains_key("http://127.0.0.2:9/site/0.html"));
}

fn regex_like_odd(url: &str) -> bool {
    url.strip_suffix(".html")
        .and_then(|u| u.rsplit('/').next())
        .and_then(|n| n.parse::<u64>().ok())
        .is_some_and(|n| n % 2 == 1)
}

#[test]
fn a_crawl_runs_the_same_with_worker_processes_and_saves_pages_by_host_and_path() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let out = fetchpool()
        .arg(server.url("/site/0.html"))
        .args(["--crawl", "--no-proxy", "-f", "jsonl", "--depth", "2"])
        .args(["--executor", "process", "-w", "3", "-d"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the broken link: {}",
        stderr_of(&out)
    );
    let urls: BTreeSet<String> = stdout_of(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["url"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let expected: BTreeSet<String> = reachable(&server.base_url(), 2).into_keys().collect();
    assert_eq!(urls.len(), expected.len());
    let host = server.base_url().trim_start_matches("http://").to_string();
    assert!(dir.path().join(&host).join("site/0.html").is_file());
    assert!(dir.path().join(&host).join("site/1.html").is_file());
}

#[test]
fn a_killed_crawl_resumes_to_the_same_set_of_pages_without_fetching_any_again() {
    let server = MockServer::start();
    server.set_site_delay(5);
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("crawl.jsonl");
    let command = || {
        let mut cmd = fetchpool();
        cmd.arg(server.url("/site/0.html"))
            .args([
                "--crawl",
                "--no-proxy",
                "-w",
                "2",
                "--depth",
                "1000",
                "--record",
            ])
            .arg(&record)
            .arg("--resume")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    };
    let mut child = command().spawn().unwrap();
    eventually("forty pages recorded", || {
        std::fs::read_to_string(&record)
            .is_ok_and(|t| t.lines().filter(|l| !l.contains("\"queued\"")).count() >= 40)
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let before = std::fs::read_to_string(&record).unwrap();
    let fetched_before: BTreeSet<String> = before
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["ok"] == true)
        .map(|v| v["url"].as_str().unwrap().to_string())
        .collect();
    assert!(
        fetched_before.len() < 200,
        "killed mid-crawl: {}",
        fetched_before.len()
    );

    server.set_site_delay(0);
    let resumed_at = Instant::now();
    let status = wait_bounded(command().spawn().unwrap());
    assert_eq!(status.code(), Some(1), "the broken link");
    let base = server.base_url();
    for (at, path) in server.log() {
        if at >= resumed_at && path != "/robots.txt" {
            assert!(
                !fetched_before.contains(&format!("{base}{path}")),
                "{path} fetched again"
            );
        }
    }
    // Every reachable page has its final record, and no page two that say fetched.
    let mut ok_count: HashMap<String, usize> = HashMap::new();
    let mut recorded = BTreeSet::new();
    for line in std::fs::read_to_string(&record).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["result"] == "queued" {
            continue;
        }
        let url = v["url"].as_str().unwrap().to_string();
        if v["ok"] == true {
            *ok_count.entry(url.clone()).or_default() += 1;
        }
        recorded.insert(url);
    }
    let expected: BTreeSet<String> = reachable(&base, 1000).into_keys().collect();
    assert_eq!(recorded, expected);
    assert!(
        ok_count.values().all(|&n| n == 1),
        "fetched twice: {ok_count:?}"
    );
    // The report reads a crawl's records: queued lines are not records, pages count once.
    let out = fetchpool().arg("report").arg(&record).output().unwrap();
    let text = stdout_of(&out);
    assert!(!text.contains("not records"), "{text}");
}

#[test]
fn crawl_flags_that_cannot_work_are_usage_errors() {
    for args in [
        &["--crawl", "-I"][..],
        &["--crawl", "--shard", "0/2"][..],
        &["--depth", "3"][..],
        &["--crawl", "--exclude", "("][..],
        &["--crawl", "--depth", "1001"][..],
    ] {
        common::assert_usage_error(args);
    }
    // A record file that is a FIFO is refused before anything waits on it.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let child = fetchpool()
        .args(["--crawl", "http://127.0.0.1:9/", "--resume", "--record"])
        .arg(&fifo)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(wait_bounded(child).code(), Some(2));
}

#[test]
fn shards_by_host_each_crawl_their_own_hosts() {
    let servers: Vec<MockServer> = ["127.0.0.1", "127.0.0.3", "127.0.0.4"]
        .iter()
        .map(|ip| MockServer::start_on(ip))
        .collect();
    let list = common::temp_file(
        servers
            .iter()
            .map(|s| s.url("/site/0.html") + "\n")
            .collect::<String>(),
    );
    let mut seen = BTreeSet::new();
    for k in 0..2 {
        let out = fetchpool()
            .arg(list.path())
            .args(["--crawl", "--no-proxy", "-f", "jsonl", "--depth", "1"])
            .args(["--shard", &format!("{k}/2"), "--shard-by", "host"])
            .output()
            .unwrap();
        for line in stdout_of(&out).lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let url = url::Url::parse(v["url"].as_str().unwrap()).unwrap();
            assert_eq!(v["shard"], format!("{k}/2"));
            assert!(seen.insert(url.to_string()), "{url} crawled by two shards");
        }
    }
    let expected: usize = servers
        .iter()
        .map(|s| reachable(&s.base_url(), 1).len())
        .sum();
    assert_eq!(seen.len(), expected, "every host crawled, by one shard");
}
