//! `--executor process`: the same records as with threads, a worker killed from outside
//! fails only its URL, and no worker process outlives the run, however it stops. Linux
//! only, as `--executor process` is.
#![cfg(process_pool)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{
    MockServer, PATIENCE, fetchpool, fixture, jsonl_by_line, stdout_of, temp_file, wait_bounded,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Each record without what varies from run to run (timings, the worker's pid).
fn comparable(stdout: &str) -> BTreeMap<u64, String> {
    jsonl_by_line(stdout)
        .into_iter()
        .map(|(line, mut v)| {
            let o = v.as_object_mut().unwrap();
            // When and how long: the only fields that differ between two runs.
            o.remove("elapsed_ms");
            o.remove("at");
            (line, serde_json::to_string(o).unwrap())
        })
        .collect()
}

fn run_list(list: &str, args: &[&str]) -> std::process::Output {
    let list = temp_file(list);
    fetchpool()
        .arg(list.path())
        .args(["-f", "jsonl", "--timeout", "2", "--workers", "3"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_mixed_fault_list_gives_the_same_records_under_both_executors() {
    let server = MockServer::start();
    let base = server.base_url();
    let list = format!(
        "{}{}{}/delay/10000\n",
        fixture("mixed.txt", &base),
        fixture("faults.txt", &base),
        base
    );
    let threads = run_list(&list, &["--executor", "thread"]);
    let processes = run_list(&list, &["--executor", "process"]);
    assert_eq!(threads.status.code(), Some(1));
    assert_eq!(processes.status.code(), Some(1));
    let (t, p) = (
        comparable(&stdout_of(&threads)),
        comparable(&stdout_of(&processes)),
    );
    assert_eq!(
        t.len(),
        13,
        "every line but the blank one and the comment: {t:#?}"
    );
    assert_eq!(t, p);
    let timed_out = t
        .values()
        .filter(|r| r.contains(r#""error_kind":"timeout""#));
    assert_eq!(
        timed_out.count(),
        1,
        "the slow URL is cut at --timeout: {t:#?}"
    );
}

#[test]
fn process_workers_save_bodies_as_threads_do() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let list = format!(
        "{0}/bytes/100\n{0}/bytes/70000\n{0}/chunked/5000\n",
        server.base_url()
    );
    let out = run_list(
        &list,
        &[
            "--executor",
            "process",
            "-d",
            dir.path().to_str().unwrap(),
            "--checksum",
            "sha256",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, len) in [("100", 100u64), ("70000", 70000), ("5000", 5000)] {
        let meta = std::fs::metadata(dir.path().join(name)).unwrap();
        assert_eq!(meta.len(), len, "{name}");
    }
    let records = jsonl_by_line(&stdout_of(&out));
    assert!(records.values().all(|r| r["sha256"].is_string()));
}

/// The pids of `parent`'s child processes (its worker processes).
fn children_of(parent: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            children.push(pid);
        }
    }
    children
}

/// Gone, or a zombie: it runs nothing.
fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "never happened: {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// Starts a JSONL run with process workers, collecting stdout on a thread.
fn start(
    list: &tempfile::NamedTempFile,
    args: &[&str],
) -> (Child, thread::JoinHandle<Vec<String>>) {
    let mut child = fetchpool()
        .arg(list.path())
        .args(["-f", "jsonl", "--executor", "process"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .take(100_000)
            .map(Result::unwrap)
            .collect::<Vec<_>>()
    });
    (child, reader)
}

#[test]
fn a_worker_killed_from_outside_mid_fetch_fails_only_its_url() {
    let server = MockServer::start();
    let base = server.base_url();
    let list = temp_file(format!(
        "{base}/delay/20000\n{base}/bytes/1\n{base}/bytes/2\n"
    ));
    let (child, reader) = start(&list, &["--workers", "1", "--timeout", "30"]);
    eventually("the slow request arrives", || {
        server
            .log()
            .iter()
            .any(|(_, p)| p.starts_with("/delay"))
            .then_some(())
    });
    let workers = children_of(child.id());
    assert_eq!(workers.len(), 1, "one worker process: {workers:?}");
    kill(Pid::from_raw(workers[0] as i32), Signal::SIGKILL).unwrap();
    let status = wait_bounded(child);
    let records = jsonl_by_line(&reader.join().unwrap().join("\n"));
    assert_eq!(status.code(), Some(1));
    assert_eq!(records.len(), 3);
    assert_eq!(records[&1]["result"], "failed");
    assert_eq!(records[&1]["error_kind"], "worker");
    let error = records[&1]["error"].as_str().unwrap();
    assert!(error.contains("killed by signal 9 (SIGKILL)"), "{error}");
    assert_eq!(records[&2]["result"], "fetched");
    assert_eq!(records[&3]["result"], "fetched");
}

#[test]
fn a_worker_killed_mid_body_leaves_no_partial_file_that_cannot_be_continued() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    // 1,000 bytes a byte every 20 ms, no validator: a partial nothing could continue.
    let list = temp_file(format!("{}\n", server.url("/drip/20")));
    let mut child = fetchpool()
        .arg(list.path())
        .args([
            "-f",
            "jsonl",
            "--executor",
            "process",
            "--workers",
            "1",
            "-d",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let partial = dir.path().join(".20.fetchpool-part");
    eventually("the body is being saved", || {
        std::fs::metadata(&partial)
            .is_ok_and(|m| m.len() > 0)
            .then_some(())
    });
    let workers = children_of(child.id());
    assert_eq!(workers.len(), 1, "{workers:?}");
    kill(Pid::from_raw(workers[0] as i32), Signal::SIGKILL).unwrap();
    let stdout = child.stdout.take().unwrap();
    let status = wait_bounded(child);
    let text = std::io::read_to_string(stdout).unwrap();
    assert_eq!(status.code(), Some(1));
    assert_eq!(jsonl_by_line(&text)[&1]["error_kind"], "worker", "{text}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "no orphan partial: {left:?}");
}

/// Stops a slow process run with `stop` once the workers are busy; checks no worker
/// process is left and (unless the stop is a second Ctrl-C, which exits without waiting
/// for running fetches) that every line has one record.
fn stop_leaves_no_worker(extra: &[&str], stop: impl FnOnce(u32)) -> Option<i32> {
    stop_leaves_no_worker_with(extra, stop, Some(6))
}

fn stop_leaves_no_worker_with(
    extra: &[&str],
    stop: impl FnOnce(u32),
    expected_records: Option<usize>,
) -> Option<i32> {
    let server = MockServer::start();
    let urls: String = (0..6)
        .map(|i| format!("{}/delay/3000?{i}\n", server.base_url()))
        .collect();
    let list = temp_file(urls);
    let (child, reader) = start(&list, &[&["--workers", "3"], extra].concat());
    let workers = eventually("three busy workers", || {
        let busy = server.log().len() >= 3;
        let workers = children_of(child.id());
        (busy && workers.len() == 3).then_some(workers)
    });
    stop(child.id());
    let status = wait_bounded(child);
    let records = jsonl_by_line(&reader.join().unwrap().join("\n"));
    if let Some(expected) = expected_records {
        assert_eq!(records.len(), expected, "every line once: {records:?}");
    }
    // A worker is killed (PR_SET_PDEATHSIG) as its parent exits; on a loaded machine the
    // kill can land a moment after the parent is reaped, so allow it a bounded moment.
    let gone = Instant::now();
    for pid in workers {
        while !is_dead(pid) {
            assert!(
                gone.elapsed() < Duration::from_secs(5),
                "worker {pid} outlived the run"
            );
            thread::sleep(Duration::from_millis(5));
        }
    }
    status.code()
}

#[test]
fn no_worker_process_outlives_ctrl_c() {
    let code = stop_leaves_no_worker(&[], |pid| {
        kill(Pid::from_raw(pid as i32), Signal::SIGINT).unwrap();
    });
    assert_eq!(code, Some(130));
}

#[test]
fn no_worker_process_outlives_sigterm() {
    let code = stop_leaves_no_worker(&[], |pid| {
        kill(Pid::from_raw(pid as i32), Signal::SIGTERM).unwrap();
    });
    assert_eq!(code, Some(130));
}

#[test]
fn no_worker_process_outlives_a_second_ctrl_c() {
    let second = |pid: u32| {
        let pid = Pid::from_raw(pid as i32);
        kill(pid, Signal::SIGINT).unwrap();
        thread::sleep(Duration::from_millis(50));
        kill(pid, Signal::SIGINT).unwrap();
    };
    // "Now": the process exits without waiting for the running fetches or their records.
    let code = stop_leaves_no_worker_with(&[], second, None);
    assert_eq!(code, Some(130));
}

#[test]
fn no_worker_process_outlives_the_deadline() {
    let code = stop_leaves_no_worker(&["--deadline", "1"], |_| {});
    assert_eq!(code, Some(1));
}

#[test]
fn process_workers_retry_a_transient_failure_and_honour_per_host() {
    let server = MockServer::start();
    let list = format!(
        "{0}/flaky/2/a\n{0}/bytes/1\n{0}/bytes/2\n{0}/bytes/3\n",
        server.base_url()
    );
    let out = run_list(
        &list,
        &[
            "--executor",
            "process",
            "--retries",
            "3",
            "--retry-delay",
            "0.05",
            "--per-host",
            "1",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = jsonl_by_line(&stdout_of(&out));
    assert_eq!(records[&1]["attempts"], 3);
    assert!(records.values().all(|r| r["result"] == "fetched"));
    assert_eq!(
        server.max_concurrent(),
        1,
        "--per-host 1 holds across processes"
    );
}

#[test]
fn a_process_run_killed_with_kill_9_resumes_without_fetching_a_success_twice() {
    let server = MockServer::start();
    let urls: String = (0..20)
        .map(|i| format!("{}/delay/40?i={i}\n", server.base_url()))
        .collect();
    let list = temp_file(urls);
    let record = temp_file("");
    let path = record.path().to_str().unwrap().to_string();
    let (child, reader) = start(&list, &["--workers", "2", "--record", &path]);
    let workers = eventually("records and workers", || {
        let lines = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .count();
        let workers = children_of(child.id());
        (lines >= 4 && !workers.is_empty()).then_some(workers)
    });
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    let _ = wait_bounded(child);
    let _ = reader.join();
    for pid in &workers {
        eventually("the workers die with their parent", || {
            is_dead(*pid).then_some(())
        });
    }
    let fetched_before: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["ok"] == true)
        .map(|r| r["url"].as_str().unwrap().to_string())
        .collect();
    assert!(!fetched_before.is_empty() && fetched_before.len() < 20);
    let before = server.log().len();
    let out = fetchpool()
        .arg(list.path())
        .args([
            "--executor",
            "process",
            "-w",
            "2",
            "--record",
            &path,
            "--resume",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let again: Vec<String> = server.log()[before..]
        .iter()
        .map(|(_, p)| p.clone())
        .collect();
    for url in &fetched_before {
        let path_and_query = &url[server.base_url().len()..];
        assert!(
            !again.iter().any(|p| p == path_and_query),
            "{url} fetched twice"
        );
    }
    assert_eq!(
        again.len() + fetched_before.len(),
        20,
        "every other line fetched once"
    );
}

#[test]
fn max_tasks_per_child_replaces_workers_and_fetches_everything() {
    let distinct_workers = |extra: &[&str]| {
        let server = MockServer::start();
        let urls: String = (0..6)
            .map(|i| format!("{}/delay/150?{i}\n", server.base_url()))
            .collect();
        let list = temp_file(urls);
        let (child, reader) = start(&list, &[&["--workers", "1"], extra].concat());
        // Each worker lives for at least one 150 ms fetch: polling every 5 ms sees it.
        let mut seen = std::collections::BTreeSet::new();
        let parent = child.id();
        let start = Instant::now();
        let mut child = Some(child);
        while let Some(c) = child.as_mut() {
            seen.extend(children_of(parent));
            if c.try_wait().unwrap().is_some() || start.elapsed() > PATIENCE {
                child = None;
            }
            thread::sleep(Duration::from_millis(5));
        }
        let records = jsonl_by_line(&reader.join().unwrap().join("\n"));
        assert_eq!(records.len(), 6);
        assert!(
            records.values().all(|r| r["result"] == "fetched"),
            "{records:?}"
        );
        seen.len()
    };
    assert_eq!(distinct_workers(&[]), 1, "one worker serves the whole list");
    let replaced = distinct_workers(&["--max-tasks-per-child", "2"]);
    assert_eq!(replaced, 3, "six fetches, two per worker process");
}

#[test]
fn max_tasks_per_child_needs_the_process_executor_and_a_positive_count() {
    for args in [
        &["--max-tasks-per-child", "2"][..],
        &["--executor", "process", "--max-tasks-per-child", "0"],
        &["--executor", "fork"],
    ] {
        crate::common::assert_usage_error(args);
    }
}
