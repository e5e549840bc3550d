//! Retries, per-host limits, request rates and the resumable record file, against the mock
//! server. Timing assertions keep wide margins; speed is measured by `cargo bench` and
//! `comparisons/`, not here.

use assert_cmd::assert::Assert;

use assert_cmd::prelude::OutputAssertExt;

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{
    MockServer, eventually, fetchpool, jsonl_by_line, record_lines, records_in, stdout_of,
    temp_file,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Runs fetchpool on `urls` to the end; the `Assert` shows the command, status, stdout
/// and stderr if an assertion on it fails.
fn run(args: &[&str], urls: &[String]) -> Assert {
    let list = temp_file(urls.join("\n") + "\n");
    fetchpool().arg(list.path()).args(args).assert()
}

/// Arrival times of the requests whose path starts with `prefix`.
fn arrivals(server: &MockServer, prefix: &str) -> Vec<Instant> {
    server
        .log()
        .into_iter()
        .filter(|(_, p)| p.starts_with(prefix))
        .map(|(t, _)| t)
        .collect()
}

fn span(times: &[Instant]) -> Duration {
    let first = times.iter().min().unwrap();
    let last = times.iter().max().unwrap();
    *last - *first
}

// ---- retries ----

#[test]
fn a_transient_failure_is_retried_until_it_succeeds() {
    let server = MockServer::start();
    let out = run(
        &["--retries", "3", "--retry-delay", "0.05", "-f", "jsonl"],
        &[server.url("/flaky/2/a")],
    )
    .code(0)
    .get_output()
    .clone();
    let r = &jsonl_by_line(&stdout_of(&out))[&1];
    assert_eq!(r["result"], "fetched");
    assert_eq!(r["attempts"], 3);
    assert_eq!(arrivals(&server, "/flaky").len(), 3);
}

#[test]
fn retries_stop_at_the_budget_and_the_record_says_how_many_attempts() {
    let server = MockServer::start();
    let out = run(
        &["--retries", "2", "--retry-delay", "0.01"],
        &[server.url("/flaky/9/b")],
    )
    .code(1)
    .get_output()
    .clone();
    assert_eq!(
        stdout_of(&out).trim(),
        format!(
            "'{}' generated an exception: HTTP Error 503: Service Unavailable (after 3 attempts)",
            server.url("/flaky/9/b")
        )
    );
    assert_eq!(arrivals(&server, "/flaky").len(), 3);
}

#[test]
fn a_404_is_never_retried() {
    let server = MockServer::start();
    let out = run(
        &["--retries", "3", "--retry-delay", "0.01", "-f", "jsonl"],
        &[server.url("/status/404")],
    )
    .code(1)
    .get_output()
    .clone();
    assert_eq!(jsonl_by_line(&stdout_of(&out))[&1]["attempts"], 1);
    assert_eq!(server.hits(), 1);
}

#[test]
fn a_refused_connection_is_retried() {
    let url = crate::common::refused_url();
    let out = run(
        &["--retries", "2", "--retry-delay", "0.01", "-f", "jsonl"],
        &[url],
    )
    .code(1)
    .get_output()
    .clone();
    let r = &jsonl_by_line(&stdout_of(&out))[&1];
    assert_eq!(r["error_kind"], "connection_refused");
    assert_eq!(r["attempts"], 3);
}

#[test]
fn a_retry_after_429_waits_at_least_the_time_the_server_asked() {
    let server = MockServer::start();
    let start = Instant::now();
    run(
        &["--retries", "1", "--retry-delay", "0.01", "-f", "jsonl"],
        &[server.url("/ratelimited/1/c")],
    )
    .code(0);
    // The client waits 1 s between the attempts: the run cannot be shorter, however busy
    // the machine. At the server a late first arrival shortens the span, so half of it.
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    let times = arrivals(&server, "/ratelimited");
    assert_eq!(times.len(), 2);
    assert!(
        span(&times) >= Duration::from_millis(500),
        "retried after {:?}",
        span(&times)
    );
}

#[test]
fn retry_after_is_capped_by_the_maximum_delay() {
    let server = MockServer::start();
    let start = Instant::now();
    run(
        &["--retries", "1", "--retry-max-delay", "0.2"],
        &[server.url("/ratelimited/60/d")],
    )
    .code(0);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "waited {:?}",
        start.elapsed()
    );
}

#[test]
fn the_summary_counts_retries() {
    let server = MockServer::start();
    let out = run(
        &["--retries", "2", "--retry-delay", "0.01", "--summary"],
        &[server.url("/flaky/2/e")],
    )
    .code(0)
    .get_output()
    .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.lines()
            .any(|l| l.contains("retries") && l.contains(" 2 ")),
        "{err}"
    );
}

// ---- per-host concurrency and rates ----

#[test]
fn the_per_host_limit_is_never_exceeded() {
    let server = MockServer::start();
    let urls: Vec<String> = (0..12)
        .map(|i| server.url(&format!("/delay/100?i={i}")))
        .collect();
    let out = run(&["--per-host", "2", "-w", "8"], &urls)
        .code(0)
        .get_output()
        .clone();
    assert_eq!(stdout_of(&out).lines().count(), 12);
    assert!(
        server.max_concurrent() <= 2,
        "{} at once",
        server.max_concurrent()
    );
    assert_eq!(
        server.max_concurrent(),
        2,
        "the limit is used, not undershot"
    );
}

#[test]
fn a_busy_host_does_not_hold_back_other_hosts() {
    let slow = MockServer::start_on("127.0.0.1");
    let fast = MockServer::start_on("127.0.0.2");
    let mut urls: Vec<String> = (0..6)
        .map(|i| slow.url(&format!("/delay/300?i={i}")))
        .collect();
    urls.extend((0..6).map(|i| fast.url(&format!("/bytes/{i}"))));
    let out = run(&["--per-host", "1", "-w", "4", "-f", "jsonl"], &urls)
        .code(0)
        .get_output()
        .clone();
    let lines: Vec<serde_json::Value> = stdout_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 12);
    let last_slow = lines
        .iter()
        .rposition(|r| r["line"].as_u64().unwrap() <= 6)
        .unwrap();
    let last_fast = lines
        .iter()
        .rposition(|r| r["line"].as_u64().unwrap() > 6)
        .unwrap();
    assert!(
        last_fast < last_slow,
        "the fast host finished while the slow one was busy"
    );
    assert_eq!(slow.max_concurrent(), 1);
}

#[test]
fn a_global_rate_spaces_the_requests() {
    let server = MockServer::start();
    let urls: Vec<String> = (0..6).map(|i| server.url(&format!("/bytes/{i}"))).collect();
    let start = Instant::now();
    run(&["--rate", "10", "-w", "6"], &urls).code(0);
    // 6 starts at 10/s: 5 gaps of 100 ms at the client, so the run takes 0.5 s at least,
    // whatever the load. At the server a busy machine can see the first arrival late
    // (which shortens the span), so only half of it is asked for there.
    assert!(
        start.elapsed() >= Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    let times = arrivals(&server, "/bytes");
    assert_eq!(times.len(), 6);
    assert!(
        span(&times) >= Duration::from_millis(250),
        "{:?}",
        span(&times)
    );
}

#[test]
fn a_per_host_rate_applies_to_each_host_separately() {
    let a = MockServer::start_on("127.0.0.1");
    let b = MockServer::start_on("127.0.0.2");
    let mut urls: Vec<String> = (0..4).map(|i| a.url(&format!("/bytes/{i}"))).collect();
    urls.extend((0..4).map(|i| b.url(&format!("/bytes/{i}"))));
    let start = Instant::now();
    run(&["--rate-per-host", "5", "-w", "8"], &urls).code(0);
    // 3 gaps of 200 ms at the client for each host (the hosts in parallel): 0.6 s at
    // least, whatever the load; half of that at the server.
    assert!(
        start.elapsed() >= Duration::from_millis(600),
        "{:?}",
        start.elapsed()
    );
    for server in [&a, &b] {
        let times = arrivals(server, "/bytes");
        assert_eq!(times.len(), 4);
        assert!(
            span(&times) >= Duration::from_millis(300),
            "{:?}",
            span(&times)
        );
    }
}

// ---- the record file and --resume ----

#[test]
fn the_output_file_gets_one_json_line_per_record() {
    let server = MockServer::start();
    let file = temp_file("stale contents\n");
    let urls = vec![
        server.url("/bytes/1"),
        server.url("/status/500"),
        "nope".to_string(),
    ];
    let out = run(&["--record", file.path().to_str().unwrap()], &urls)
        .code(1)
        .get_output()
        .clone();
    assert_eq!(
        stdout_of(&out).lines().count(),
        3,
        "stdout keeps its own format"
    );
    let text = std::fs::read_to_string(file.path()).unwrap();
    let records = jsonl_by_line(&text);
    // A header first: which fetchpool made the records, when, with which settings.
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    let header: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(header["result"], "run");
    assert_eq!(header["fetchpool"], env!("CARGO_PKG_VERSION"));
    assert!(header["started"].as_u64().unwrap() > 1_700_000_000_000);
    assert_eq!(header["options"]["workers"], "5", "{header}");
    assert!(header.get("url").is_none());
    assert_eq!(records[&1]["ok"], true);
    assert_eq!(records[&2]["status"], 500);
    assert_eq!(records[&3]["result"], "invalid");
}

#[test]
fn resume_after_kill_9_records_every_line_and_fetches_no_success_twice() {
    let server = MockServer::start();
    let urls: Vec<String> = (0..30)
        .map(|i| server.url(&format!("/delay/40?i={i}")))
        .collect();
    let list = temp_file(urls.join("\n") + "\n");
    let file = temp_file("");
    let path = file.path().to_str().unwrap().to_string();

    let mut child = fetchpool()
        .arg(list.path())
        .args(["-w", "2", "--record", &path])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    eventually("some records are written", || {
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .count()
            >= 6
    });
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    child.wait().unwrap();

    let first_run = std::fs::read_to_string(&path).unwrap();
    let ok_before: HashSet<String> = first_run
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["ok"] == true)
        .map(|r| r["url"].as_str().unwrap().to_string())
        .collect();
    assert!(!ok_before.is_empty() && ok_before.len() < 30);
    let requests_before = server.log().len();

    fetchpool()
        .arg(list.path())
        .args(["-w", "2", "--record", &path, "--resume"])
        .assert()
        .code(0);

    let second_requests: Vec<String> = server.log()[requests_before..]
        .iter()
        .map(|(_, p)| server.url(p))
        .collect();
    for url in &second_requests {
        assert!(!ok_before.contains(url), "{url} was fetched again");
    }
    let mut last_by_line: HashMap<u64, serde_json::Value> = HashMap::new();
    for line in records_in(&path) {
        let Ok(r) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue; // a line torn by the kill
        };
        last_by_line.insert(r["line"].as_u64().unwrap(), r);
    }
    assert_eq!(last_by_line.len(), 30, "every line is recorded");
    assert!(last_by_line.values().all(|r| r["ok"] == true));
}

#[test]
fn resume_tolerates_a_torn_last_line_and_leaves_a_clean_file() {
    let server = MockServer::start();
    let urls = [
        server.url("/bytes/1?a"),
        server.url("/bytes/2?b"),
        server.url("/bytes/3?c"),
    ];
    let mut previous = String::new();
    for (i, url) in urls.iter().take(2).enumerate() {
        previous.push_str(&format!(
            "{{\"url\":\"{url}\",\"line\":{},\"ok\":true,\"result\":\"fetched\"}}\n",
            i + 1
        ));
    }
    previous.push_str("{\"url\":\"http://torn");
    let file = temp_file(previous);
    let out = run(
        &["--record", file.path().to_str().unwrap(), "--resume"],
        &urls,
    )
    .code(0)
    .get_output()
    .clone();
    assert_eq!(
        stdout_of(&out).lines().count(),
        1,
        "only the missing line is fetched"
    );
    let paths: Vec<String> = server.log().into_iter().map(|(_, p)| p).collect();
    assert_eq!(paths, vec!["/bytes/3?c".to_string()]);
    let text = std::fs::read_to_string(file.path()).unwrap();
    assert_eq!(record_lines(&text).count(), 3, "{text}");
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("every line is whole JSON");
    }
}

#[test]
fn resume_without_an_output_file_is_a_usage_error() {
    let out = fetchpool()
        .args(["--resume"])
        .stdin(Stdio::null())
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .starts_with("fetchpool: error:")
    );
}

#[test]
fn invalid_politeness_flags_are_usage_errors() {
    for args in [
        &["--rate", "0"][..],
        &["--rate-per-host", "x"][..],
        &["--per-host", "0"][..],
    ] {
        fetchpool().args(args).stdin(Stdio::null()).assert().code(2);
    }
}
