//! Stopping a run early: Ctrl-C (SIGINT), SIGTERM and `--deadline`. Whatever stops the
//! run, every input line is still accounted for by exactly one record.

use assert_cmd::prelude::OutputAssertExt;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{MockServer, fetchpool, jsonl_by_line, temp_file, wait_bounded};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Starts fetchpool on `urls` (JSONL), sends `signal` once the first record is out, and
/// returns the exit status and every stdout line.
fn interrupt_after_first_record(urls: &str, signal: Signal) -> (Option<i32>, Vec<String>) {
    let list = temp_file(urls);
    let mut child = fetchpool()
        .arg(list.path())
        .args(["--workers", "2", "-f", "jsonl"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = Pid::from_raw(child.id() as i32);
    let stdout = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines().take(100_000) {
            let line = line.unwrap();
            if lines.is_empty() {
                kill(pid, signal).unwrap();
            }
            lines.push(line);
        }
        lines
    });
    let status = wait_bounded(child);
    (status.code(), reader.join().unwrap())
}

fn slow_list(server: &MockServer, n: usize) -> String {
    (0..n).map(|_| server.url("/delay/200") + "\n").collect()
}

#[test]
fn ctrl_c_cancels_the_queue_reports_every_line_and_exits_130() {
    let server = MockServer::start();
    let (code, lines) = interrupt_after_first_record(&slow_list(&server, 40), Signal::SIGINT);
    assert_eq!(code, Some(130));
    let records = read_prefix(&lines, 40);
    let count = |r: &str| records.values().filter(|v| v["result"] == r).count();
    assert!(count("cancelled") > 0, "queued URLs were cancelled");
    assert!(count("fetched") >= 1);
    assert_eq!(count("fetched") + count("cancelled"), records.len());
    assert!(server.hits() < 40, "cancelled URLs were never requested");
}

/// Checks the records of a stopped run: one per line read, none duplicated, and the lines
/// read are the list's first ones (a line not yet read when the run stopped has none).
fn read_prefix(
    lines: &[String],
    listed: usize,
) -> std::collections::HashMap<u64, serde_json::Value> {
    let records = jsonl_by_line(&lines.join("\n"));
    assert_eq!(records.len(), lines.len(), "no line reported twice");
    assert!(!records.is_empty() && records.len() <= listed);
    assert!(
        (1..=records.len() as u64).all(|l| records.contains_key(&l)),
        "the lines read are the first ones, each with its record"
    );
    records
}

#[test]
fn sigterm_is_handled_like_ctrl_c() {
    let server = MockServer::start();
    let (code, lines) = interrupt_after_first_record(&slow_list(&server, 20), Signal::SIGTERM);
    assert_eq!(code, Some(130));
    read_prefix(&lines, 20);
}

#[test]
fn the_deadline_cancels_queued_urls_and_fails_running_ones_as_past_it() {
    let server = MockServer::start();
    let list = temp_file(
        (0..10)
            .map(|_| server.url("/delay/5000") + "\n")
            .collect::<String>(),
    );
    let start = Instant::now();
    let out = fetchpool()
        .arg(list.path())
        .args(["--workers", "2", "--deadline", "0.5", "-f", "jsonl"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    // The delays are 5 s (and 25 s for the list); a deadline of 0.5 s must end the run
    // before the first of them could.
    assert!(
        start.elapsed() < Duration::from_millis(4500),
        "took {:?}",
        start.elapsed()
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let records = jsonl_by_line(&text);
    assert_eq!(text.lines().count(), 10);
    let kinds = |k: &str| records.values().filter(|v| v["error_kind"] == k).count();
    assert_eq!(kinds("deadline"), 2, "the two running fetches");
    assert_eq!(kinds("cancelled"), 8, "the queued ones");
}

#[test]
fn a_deadline_longer_than_the_run_changes_nothing() {
    let server = MockServer::start();
    let list = temp_file(server.url("/bytes/3") + "\n");
    let out = fetchpool()
        .arg(list.path())
        .args(["--deadline", "1m"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("page is 3 bytes")
    );
}

#[test]
fn a_second_ctrl_c_exits_at_once_without_waiting_for_running_fetches() {
    let server = MockServer::start();
    let list = temp_file(
        (0..4)
            .map(|_| server.url("/delay/20000") + "\n")
            .collect::<String>(),
    );
    let child = fetchpool()
        .arg(list.path())
        .args(["--workers", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = Pid::from_raw(child.id() as i32);
    crate::common::eventually("both workers are fetching", || server.hits() >= 2);
    let start = Instant::now();
    kill(pid, Signal::SIGINT).unwrap();
    thread::sleep(Duration::from_millis(100));
    kill(pid, Signal::SIGINT).unwrap();
    let status = wait_bounded(child);
    assert_eq!(status.code(), Some(130));
    // The running fetches had 20 s to go; the first Ctrl-C alone would wait for them.
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn a_first_ctrl_c_says_what_still_runs_and_how_to_quit_now() {
    let server = MockServer::start();
    let list = temp_file(format!(
        "{}\n{}\n",
        server.url("/delay/1500?a"),
        server.url("/delay/1500?b")
    ));
    let mut child = fetchpool()
        .arg(list.path())
        .args(["--workers", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let reader = thread::spawn(move || std::io::read_to_string(stderr).unwrap());
    crate::common::eventually("both are being fetched", || server.hits() >= 2);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    assert_eq!(wait_bounded(child).code(), Some(130));
    let err = reader.join().unwrap();
    assert!(err.contains("2 fetch(es) still running"), "{err}");
    assert!(
        err.contains("/delay/1500?a") && err.contains("/delay/1500?b"),
        "{err}"
    );
    assert!(err.contains("Ctrl-C again quits now"), "{err}");
}
