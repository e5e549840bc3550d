//! `--crawl` against the generated site of `tests/common/site.rs` (served by the mock
//! server on 127.0.0.1): every page in scope and reachable fetched exactly once, nothing out
//! of scope or disallowed, depth honoured, broken links named with their page, robots.txt
//! obeyed, and a killed crawl resumed to the same set of pages.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::site::{self, PAGES};
use crate::common::{
    MockServer, Scripted, eventually, fetchpool, stderr_of, stdout_of, wait_bounded,
};

/// The pages the site's graph reaches from page 0 within `depth`, with their shortest
/// depth: what a crawl of scope `host` should record (disallowed pages included: they are
/// recorded as skipped, never requested; a redirect's target at the redirect's depth).
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
                queue.push_back((link.clone(), d + 1));
            }
            if link == format!("{base}/site/moved") {
                found
                    .entry(format!("{base}/site/target.html"))
                    .or_insert(d + 1);
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
            assert_eq!(record["ok"], false, "never fetched: not ok");
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
    // The redirect is its own record, and its target has one, found through it.
    let moved = &records[&format!("{base}/site/moved")];
    assert_eq!(moved["status"], 302);
    assert_eq!(moved["location"], format!("{base}/site/target.html"));
    assert_eq!(moved["redirect"], "queued");
    let target = &records[&format!("{base}/site/target.html")];
    assert_eq!(target["parent"], format!("{base}/site/moved"));
    assert_eq!(
        target["depth"], moved["depth"],
        "a redirect is no step deeper"
    );
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
    // Disallowed pages are not ok: the exit code says the crawl did not fetch them all.
    assert!(stderr_of(&out).is_empty() || !stderr_of(&out).contains("panicked"));
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
        let n = parent
            .strip_prefix(&format!("{base}/site/"))
            .and_then(|r| r.strip_suffix(".html"))
            .unwrap_or("")
            .parse::<usize>();
        let Ok(n) = n else {
            // Found through a redirect: at the redirect's depth.
            assert!(parent.ends_with("/site/moved"), "{parent}");
            assert_eq!(got[parent], got[url]);
            continue;
        };
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
    let (out, records) = crawl(&server, &["-w", "4", "--max-urls", "8"]);
    let elapsed = started.elapsed();
    // The seed links to a disallowed page: it is recorded, not ok, so the exit code is 1.
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(records.len(), 8, "--max-urls 8");
    let private = &records[&server.url("/site/private/p0.html")];
    assert_eq!(
        (&private["result"], &private["ok"], &private["error_kind"]),
        (&"skipped".into(), &false.into(), &"robots".into())
    );
    let times: Vec<Instant> = server
        .log()
        .into_iter()
        .filter(|(_, p)| p.starts_with("/site/"))
        .map(|(t, _)| t)
        .collect();
    assert_eq!(times.len(), 7, "every allowed page requested once");
    // The starts are 0.1 s apart at the client, so the run lasts at least 0.6 s whatever
    // the load (a busy machine only makes it longer). At the server, a busy machine can
    // delay when one arrival is seen, so only the whole span is checked, with room.
    assert!(elapsed >= Duration::from_millis(600), "{elapsed:?}");
    let span = times[times.len() - 1].duration_since(times[0]);
    assert!(span >= Duration::from_millis(300), "{span:?}");

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
#[cfg(process_pool)]
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
    for line in crate::common::records_in(&record) {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
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
        crate::common::assert_usage_error(args);
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
    let list = crate::common::temp_file(
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

/// Runs a crawl from `seed` with `args`: the output and the records by URL.
fn crawl_from(
    seed: &str,
    args: &[&str],
) -> (std::process::Output, BTreeMap<String, serde_json::Value>) {
    let out = fetchpool()
        .arg(seed)
        .args(["--crawl", "--no-proxy", "-f", "jsonl", "--timeout", "20"])
        .args(args)
        .output()
        .unwrap();
    let records = stdout_of(&out)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["url"].as_str().unwrap().to_string(), v)
        })
        .collect();
    (out, records)
}

#[test]
fn character_references_in_links_are_decoded_before_they_are_fetched() {
    let server = MockServer::start();
    server.script(
        "/amp.html",
        Scripted::html(
            "<a href=\"/a.html?x=1&amp;y=2\">a</a><a href=\"/b.html?p=1&copy=2\">b</a>\
             <a href=\"/c&#x2E;html\">c</a>",
        ),
    );
    let (out, records) = crawl_from(&server.url("/amp.html"), &["--depth", "1"]);
    assert_eq!(out.status.code(), Some(1), "the links are 404s");
    let asked: BTreeSet<String> = server.log().into_iter().map(|(_, p)| p).collect();
    for path in ["/a.html?x=1&y=2", "/b.html?p=1&copy=2", "/c.html"] {
        assert!(asked.contains(path), "{path} in {asked:?}");
        assert!(records.contains_key(&server.url(path)), "{path}");
    }
    assert!(
        !asked
            .iter()
            .any(|p| p.contains("&amp;") || p.contains("&#")),
        "{asked:?}"
    );
}

#[test]
fn a_redirect_to_a_page_already_fetched_does_not_fetch_it_again() {
    let server = MockServer::start();
    server.script(
        "/p/0.html",
        Scripted::html("<a href=\"/p/1.html\">one</a><a href=\"/r/1\">again</a>"),
    );
    server.script("/p/1.html", Scripted::html("<p>one</p>"));
    server.script("/r/1", Scripted::new(302, "Location: /p/1.html\r\n", ""));
    for workers in ["1", "4"] {
        let before = server.log().len();
        let (out, records) = crawl_from(&server.url("/p/0.html"), &["-w", workers]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        let asked: Vec<String> = server.log()[before..]
            .iter()
            .map(|(_, p)| p.clone())
            .collect();
        let once = |path: &str| asked.iter().filter(|p| *p == path).count();
        assert_eq!(once("/p/1.html"), 1, "-w {workers}: {asked:?}");
        assert_eq!(once("/r/1"), 1);
        assert_eq!(records.len(), 3, "{records:?}");
        let redirect = &records[&server.url("/r/1")];
        assert_eq!(redirect["location"], server.url("/p/1.html"));
        assert_eq!(redirect["status"], 302);
        assert_eq!(redirect["result"], "fetched");
        if workers == "1" {
            assert_eq!(redirect["redirect"], "seen", "{redirect}");
        }
    }
    // The text output says so.
    let out = fetchpool()
        .arg(server.url("/p/0.html"))
        .args(["--crawl", "--no-proxy", "-w", "1"])
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert!(
        text.contains(&format!(
            "'{}' redirected to '{}' (seen before: not fetched again)",
            server.url("/r/1"),
            server.url("/p/1.html")
        )),
        "{text}"
    );
}

#[test]
fn a_seed_that_redirects_to_another_origin_brings_that_origin_into_scope() {
    let old = MockServer::start();
    let new = MockServer::start();
    old.script(
        "/",
        Scripted::new(301, &format!("Location: {}\r\n", new.url("/home.html")), ""),
    );
    new.script(
        "/home.html",
        Scripted::html("<a href=\"/next.html\">next</a>"),
    );
    new.script("/next.html", Scripted::html("<p>the end</p>"));
    let (out, records) = crawl_from(&old.url("/"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(records.contains_key(&new.url("/home.html")));
    assert!(
        records.contains_key(&new.url("/next.html")),
        "the crawl goes on at the new origin: {records:?}"
    );
    assert_eq!(records[&new.url("/home.html")]["depth"], 0);
}

#[test]
fn credentials_go_only_to_the_seeds_origins() {
    let seed = MockServer::start();
    let other = MockServer::start();
    seed.script(
        "/",
        Scripted::html(&format!(
            "<a href=\"/own.html\">own</a><a href=\"{}\">elsewhere</a>",
            other.url("/collect.html")
        )),
    );
    seed.script("/own.html", Scripted::html("<p>own</p>"));
    other.script("/collect.html", Scripted::html("<p>thanks</p>"));
    let (out, records) = crawl_from(
        &seed.url("/"),
        &[
            "--scope",
            "any",
            "--ignore-robots",
            "-u",
            "me:s3cret",
            "-H",
            "X-Token: t0ken",
            "-b",
            "sid=c00kie",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(records.len(), 3);
    for request in seed.requests() {
        let lower = request.to_lowercase();
        assert!(lower.contains("authorization: basic"), "{request}");
        assert!(
            lower.contains("x-token: t0ken") && lower.contains("sid=c00kie"),
            "{request}"
        );
    }
    let elsewhere = other.requests();
    assert_eq!(elsewhere.len(), 1);
    let lower = elsewhere[0].to_lowercase();
    for secret in ["authorization", "t0ken", "c00kie"] {
        assert!(
            !lower.contains(secret),
            "{secret} went elsewhere: {}",
            elsewhere[0]
        );
    }
}

#[test]
fn a_huge_or_endless_crawl_delay_is_clamped_and_stops_nothing() {
    for delay in ["1e20", "inf", "1e9"] {
        let server = MockServer::start();
        server.set_robots(&format!("User-agent: *\nCrawl-delay: {delay}\n"));
        server.script(
            "/",
            Scripted::html("<a href=\"/a.html\">a</a><a href=\"/b.html\">b</a>"),
        );
        let started = Instant::now();
        let (out, records) = crawl_from(&server.url("/"), &["--deadline", "2"]);
        let err = stderr_of(&out);
        assert!(
            started.elapsed() < Duration::from_secs(25),
            "{delay}: {err}"
        );
        assert!(!err.contains("panicked"), "{delay}: {err}");
        assert!(
            err.contains("Crawl-delay") && err.contains("30 s apart"),
            "{delay}: {err}"
        );
        // The seed is fetched at once; the next pages wait 30 s, past the deadline.
        assert_eq!(records[&server.url("/")]["result"], "fetched", "{delay}");
        assert_eq!(records.len(), 3, "{delay}: every page has its record");
        assert_eq!(
            out.status.code(),
            Some(1),
            "{delay}: cut short by --deadline"
        );
    }
}

#[test]
fn links_a_page_has_beyond_what_is_read_are_counted_in_a_warning() {
    let server = MockServer::start();
    let mut page = String::new();
    for i in 0..10_005 {
        page.push_str(&format!("<a href=\"/l/{i}\"></a>"));
    }
    page.push_str(&format!("<a href=\"/{}\"></a>", "x".repeat(3000)));
    server.script("/", Scripted::html(&page));
    let (out, records) = crawl_from(&server.url("/"), &["--depth", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(records.len(), 1);
    let err = stderr_of(&out);
    assert!(
        err.contains("6 link(s) on 1 page(s) were not read"),
        "{err}"
    );
}

#[test]
fn a_resumed_crawl_checks_the_scope_and_depth_of_the_queued_lines_it_reads() {
    let server = MockServer::start();
    let mut elsewhere = MockServer::start();
    elsewhere.expect_no_hits();
    server.script("/", Scripted::html("<a href=\"/a.html\">a</a>"));
    server.script("/a.html", Scripted::html("<p>a</p>"));
    server.script("/deep.html", Scripted::html("<p>deep</p>"));
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("crawl.jsonl");
    let queued = |url: String, depth: u32| {
        format!(r#"{{"url":"{url}","line":0,"result":"queued","depth":{depth},"parent":"x"}}"#)
    };
    std::fs::write(
        &record,
        [
            queued(elsewhere.url("/planted.html"), 1),
            queued(server.url("/deep.html"), 9),
            queued(server.url("/a.html"), 1),
        ]
        .join("\n")
            + "\n",
    )
    .unwrap();
    let (out, records) = crawl_from(
        &server.url("/"),
        &[
            "--depth",
            "2",
            "--record",
            record.to_str().unwrap(),
            "--resume",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let asked: Vec<String> = server.log().into_iter().map(|(_, p)| p).collect();
    assert!(
        !asked.contains(&"/deep.html".to_string()),
        "past --depth: {asked:?}"
    );
    assert!(asked.contains(&"/a.html".to_string()));
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(
        stderr_of(&out).contains("2 queued page(s) of the record file are out of scope"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn sitemaps_named_by_robots_txt_bring_their_pages_in_scope() {
    let server = MockServer::start();
    let base = server.base_url();
    server.set_robots(&format!(
        "User-agent: *\nDisallow: /site/private/\nSitemap: {base}/sm/index.xml\n\
         Sitemap: http://127.0.0.2:9/elsewhere.xml\n"
    ));
    server.script(
        "/sm/index.xml",
        Scripted::new(
            200,
            "Content-Type: application/xml\r\n",
            format!(
                "<?xml version=\"1.0\"?><sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\
                 <sitemap><loc>{base}/sm/pages.xml.gz</loc></sitemap>\
                 <sitemap><loc>{base}/sm/pages.txt</loc></sitemap></sitemapindex>"
            ),
        ),
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(
        &mut gz,
        format!(
            "<urlset><url><loc>{base}/site/200.html</loc></url>\
             <url><loc>{base}/site/201.html?a=1&amp;b=2</loc></url>\
             <url><loc>{base}/site/private/p50.html</loc></url>\
             <url><loc>http://127.0.0.2:9/site/0.html</loc></url></urlset>"
        )
        .as_bytes(),
    )
    .unwrap();
    server.script(
        "/sm/pages.xml.gz",
        Scripted::new(
            200,
            "Content-Type: application/gzip\r\n",
            gz.finish().unwrap(),
        ),
    );
    server.script(
        "/sm/pages.txt",
        Scripted::new(
            200,
            "Content-Type: text/plain\r\n",
            format!("{base}/site/202.html\n"),
        ),
    );
    let crawl = |extra: &[&str]| {
        let out = fetchpool()
            .arg(server.url("/site/0.html"))
            .args(["--crawl", "--depth", "1", "-f", "jsonl"])
            .args(extra)
            .output()
            .unwrap();
        let records: Vec<serde_json::Value> = stdout_of(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (records, stderr_of(&out))
    };
    let (records, stderr) = crawl(&["--sitemaps"]);
    let by_url: HashMap<String, &serde_json::Value> = records
        .iter()
        .map(|r| (r["url"].as_str().unwrap().to_string(), r))
        .collect();
    for (page, sitemap) in [
        ("/site/200.html", "/sm/pages.xml.gz"),
        ("/site/201.html?a=1&b=2", "/sm/pages.xml.gz"),
        ("/site/202.html", "/sm/pages.txt"),
    ] {
        let record = by_url
            .get(&format!("{base}{page}"))
            .unwrap_or_else(|| panic!("{page} is crawled: {records:?}"));
        assert_eq!(record["result"], "fetched", "{record}");
        assert_eq!(record["depth"], 1);
        assert_eq!(record["parent"], format!("{base}{sitemap}"));
    }
    assert_eq!(
        by_url[&format!("{base}/site/private/p50.html")]["error_kind"],
        "robots",
        "robots.txt still decides"
    );
    assert!(
        !by_url.contains_key("http://127.0.0.2:9/site/0.html"),
        "out of scope"
    );
    assert!(
        stderr.contains("sitemap http://127.0.0.2:9/elsewhere.xml"),
        "{stderr}"
    );
    let asked = server.requests();
    assert_eq!(
        asked
            .iter()
            .filter(|r| r.contains("GET /sm/index.xml"))
            .count(),
        1
    );

    // Without --sitemaps, none of it.
    let (records, _) = crawl(&[]);
    assert!(
        records
            .iter()
            .all(|r| !r["url"].as_str().unwrap().contains("/site/20"))
    );
}
