//! `--shard K/N` and `fetchpool report`: N copies of the command share one list, and the
//! report proves every line was done exactly once. Against the mock server on 127.0.0.1.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use crate::common::{
    MockServer, eventually, fetchpool, stderr_of, stdout_of, temp_file, wait_bounded,
};

/// The records of a record file: line number -> every record of it, in file order.
fn records_of(path: &Path) -> BTreeMap<u64, Vec<serde_json::Value>> {
    let mut by_line: BTreeMap<u64, Vec<serde_json::Value>> = BTreeMap::new();
    for line in crate::common::records_in(path) {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        by_line
            .entry(v["line"].as_u64().unwrap())
            .or_default()
            .push(v);
    }
    by_line
}

/// `fetchpool LIST --shard K/N --record DIR/shard-K.jsonl --no-proxy` with extra arguments.
fn shard(list: &Path, dir: &Path, k: u32, n: u32, extra: &[&str]) -> Command {
    let mut cmd = fetchpool();
    cmd.arg(list)
        .args(["--shard", &format!("{k}/{n}"), "--record"])
        .arg(record_path(dir, k))
        .arg("--no-proxy")
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

fn record_path(dir: &Path, k: u32) -> PathBuf {
    dir.join(format!("shard-{k}.jsonl"))
}

fn report(args: &[&std::ffi::OsStr]) -> Output {
    fetchpool().arg("report").args(args).output().unwrap()
}

/// The list of `n` URLs of `server` (`/bytes/N?i`), with a comment, a blank line and an
/// invalid line among them; returns it and the line numbers of its entries.
fn mixed_list(server: &MockServer, n: usize) -> (tempfile::NamedTempFile, BTreeSet<u64>) {
    let mut text = String::from("# a list for shards\n\n");
    for i in 0..n {
        if i == n / 2 {
            text.push_str("not a url\n");
        }
        text.push_str(&server.url(&format!("/bytes/{}?{i}", 100 + i)));
        text.push('\n');
    }
    let entries: BTreeSet<u64> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(i, _)| i as u64 + 1)
        .collect();
    (temp_file(text), entries)
}

#[test]
fn every_line_is_done_by_exactly_one_of_n_shards_and_the_report_proves_it() {
    let server = MockServer::start();
    let (list, entries) = mixed_list(&server, 40);
    let dir = tempfile::tempdir().unwrap();
    let codes: Vec<Option<i32>> = (0..3)
        .map(|k| {
            shard(list.path(), dir.path(), k, 3, &[])
                .output()
                .unwrap()
                .status
                .code()
        })
        .collect();
    let invalid_line = 2 + 40 / 2 + 1;
    let mut expected = vec![Some(0); 3];
    expected[(invalid_line - 1) % 3] = Some(1);
    assert_eq!(
        codes, expected,
        "only the shard with the invalid line fails"
    );
    let mut done = BTreeSet::new();
    for k in 0..3 {
        for (line, recs) in records_of(&record_path(dir.path(), k)) {
            assert_eq!(recs.len(), 1);
            assert_eq!((line - 1) % 3, u64::from(k), "line {line} dealt by number");
            assert_eq!(recs[0]["shard"], format!("{k}/3"));
            assert_eq!(recs[0]["shard_by"], "line");
            assert!(done.insert(line), "line {line} in two shards");
        }
    }
    assert_eq!(done, entries, "the whole list's line numbers, each once");

    let files: Vec<PathBuf> = (0..3).map(|k| record_path(dir.path(), k)).collect();
    let mut args: Vec<&std::ffi::OsStr> = vec!["--list".as_ref(), list.path().as_os_str()];
    args.extend(files.iter().map(|f| f.as_os_str()));
    let out = report(&args);
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr_of(&out));
    assert!(text.contains("has exactly one final record"), "{text}");
    assert!(text.contains("fetched") && text.contains("40"), "{text}");

    // Without one shard's file, its lines are named and the exit code is 1.
    let out = report(&args[..args.len() - 1]);
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let missing = entries.iter().filter(|&&l| (l - 1) % 3 == 2).count();
    assert!(
        text.contains(&format!(
            "{} of the {} URL lines",
            entries.len() - missing,
            entries.len()
        )),
        "{text}"
    );
    assert!(text.contains("no record ('http://127.0.0.1:"), "{text}");
}

#[test]
fn sharding_by_host_keeps_every_url_of_a_host_in_one_shard() {
    let servers: Vec<MockServer> = (1..=4)
        .map(|i| MockServer::start_on(&format!("127.0.0.{i}")))
        .collect();
    let mut text = String::new();
    for i in 0..40 {
        text.push_str(&servers[i % 4].url(&format!("/bytes/10?{i}")));
        text.push('\n');
    }
    let list = temp_file(&text);
    let dir = tempfile::tempdir().unwrap();
    let mut host_shard: BTreeMap<String, u32> = BTreeMap::new();
    let mut lines = BTreeSet::new();
    for k in 0..3 {
        let out = shard(list.path(), dir.path(), k, 3, &["--shard-by", "host"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        for (line, recs) in records_of(&record_path(dir.path(), k)) {
            let url = url::Url::parse(recs[0]["url"].as_str().unwrap()).unwrap();
            let host = url.host_str().unwrap().to_string();
            assert_eq!(
                *host_shard.entry(host.clone()).or_insert(k),
                k,
                "{host} split"
            );
            assert_eq!(recs[0]["shard_by"], "host");
            assert!(lines.insert(line));
        }
    }
    assert_eq!(lines, (1..=40).collect::<BTreeSet<u64>>());
    assert_eq!(host_shard.len(), 4);
}

#[test]
fn bad_shard_values_are_one_line_usage_errors() {
    for bad in ["4/4", "1/0", "x", "-1/2", "1/2/3"] {
        let out = fetchpool()
            .args([&format!("--shard={bad}"), "http://127.0.0.1:9/"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = stderr_of(&out);
        assert!(err.starts_with("fetchpool: error: "), "{bad}: {err}");
        assert_eq!(err.lines().count(), 2, "{bad}: {err}");
    }
    let out = fetchpool()
        .args(["--shard-by", "host", "http://127.0.0.1:9/"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--shard-by needs --shard");
}

#[test]
fn shards_run_together_and_a_killed_one_resumes_without_fetching_again() {
    let server = MockServer::start();
    let n = 120;
    let text: String = (0..n)
        .map(|i| format!("{}\n", server.url(&format!("/delay/25?{i}"))))
        .collect();
    let list = temp_file(&text);
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..4)
        .map(|k| {
            shard(list.path(), dir.path(), k, 4, &["-w", "2", "--resume"])
                .spawn()
                .unwrap()
        })
        .collect();
    // Kill shard 2 once it has recorded a few lines, well before it could finish.
    let victim = record_path(dir.path(), 2);
    eventually("shard 2 records five lines", || {
        std::fs::read_to_string(&victim).is_ok_and(|t| t.lines().count() >= 5)
    });
    let mut children = children;
    let mut killed = children.remove(2);
    killed.kill().unwrap();
    killed.wait().unwrap();
    for child in children {
        assert_eq!(wait_bounded(child).code(), Some(0));
    }
    let before = records_of(&victim);
    assert!(before.len() < n / 4, "shard 2 was killed mid-run");
    let fetched_before: HashSet<u64> = before
        .iter()
        .filter(|(_, r)| r.iter().any(|r| r["ok"] == true))
        .map(|(l, _)| *l)
        .collect();

    let resumed_at = Instant::now();
    let out = shard(list.path(), dir.path(), 2, 4, &["-w", "2", "--resume"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    // No line recorded as fetched was requested again.
    for (at, path) in server.log() {
        if at >= resumed_at {
            let i: u64 = path.rsplit('?').next().unwrap().parse().unwrap();
            assert!(
                !fetched_before.contains(&(i + 1)),
                "line {} fetched again",
                i + 1
            );
        }
    }
    let files: Vec<PathBuf> = (0..4).map(|k| record_path(dir.path(), k)).collect();
    let mut args: Vec<&std::ffi::OsStr> = vec!["--list".as_ref(), list.path().as_os_str()];
    args.extend(files.iter().map(|f| f.as_os_str()));
    let out = report(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout_of(&out),
        stderr_of(&out)
    );
    // jsonl: exactly one final record per line of the list.
    args.splice(0..0, ["-f".as_ref(), "jsonl".as_ref()]);
    let out = report(&args);
    let lines: Vec<u64> = stdout_of(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["line"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let unique: BTreeSet<u64> = lines.iter().copied().collect();
    assert_eq!(lines.len(), n);
    assert_eq!(unique, (1..=n as u64).collect());
}

/// A record as `--record` writes it, with only the fields the report reads.
fn rec(line: u64, result: &str, shard: Option<&str>) -> String {
    let ok = matches!(result, "fetched" | "skipped");
    let kind = match result {
        "failed" => "\"timeout\"",
        "cancelled" => "\"cancelled\"",
        _ => "null",
    };
    let shard = shard.map_or(String::new(), |s| {
        format!(",\"shard\":\"{s}\",\"shard_by\":\"line\"")
    });
    format!(
        "{{\"url\":\"http://h{line}.test/\",\"line\":{line},\"ok\":{ok},\"result\":\"{result}\",\
         \"bytes\":{},\"elapsed_ms\":12.5,\"attempts\":1,\"error_kind\":{kind}{shard}}}\n",
        if ok { 100 } else { 0 }
    )
}

#[test]
fn the_last_record_of_a_line_wins_within_a_file_and_across_files() {
    let first =
        temp_file(rec(1, "failed", None) + &rec(2, "fetched", None) + &rec(1, "fetched", None));
    let second = temp_file(rec(2, "failed", None) + &rec(3, "cancelled", None));
    let list = temp_file("http://h1.test/\nhttp://h2.test/\nhttp://h3.test/\n");
    let out = report(&[
        "-f".as_ref(),
        "jsonl".as_ref(),
        first.path().as_os_str(),
        second.path().as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let finals: Vec<(u64, String)> = stdout_of(&out)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["line"].as_u64().unwrap(),
                v["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        finals,
        [
            (1, "fetched".to_string()),
            (2, "failed".to_string()),
            (3, "cancelled".to_string())
        ],
        "in file order, each line's last record"
    );

    let out = report(&[
        "--list".as_ref(),
        list.path().as_os_str(),
        first.path().as_os_str(),
        second.path().as_os_str(),
    ]);
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("line 3: cancelled, never finished ('http://h3.test/')"),
        "{text}"
    );
    assert!(text.contains("5 records: 3 final, 2 superseded"), "{text}");
    assert!(text.contains("2 of the 3 URL lines"), "{text}");
}

#[test]
fn the_report_names_records_of_a_shard_that_does_not_own_their_line() {
    // Line 2 belongs to shard 1/2 (by line): shard 0/2 recorded it too, before the owner's
    // record superseded it. Line 3 comes from a run that dealt the list in 3.
    let records = temp_file(
        rec(1, "fetched", Some("0/2"))
            + &rec(2, "failed", Some("0/2"))
            + &rec(2, "fetched", Some("1/2"))
            + &rec(3, "fetched", Some("2/3")),
    );
    let out = report(&[records.path().as_os_str()]);
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("line 2: recorded by shard 0/2, but it belongs to shard 1/2"),
        "{text}"
    );
    assert!(
        text.contains(
            "line 3: recorded by shard 2/3 by line, but other records were made by 2 shards"
        ),
        "{text}"
    );
}

#[test]
fn the_report_reads_hostile_record_files_without_trouble() {
    let huge = format!("{}\n", "x".repeat(2 * 1024 * 1024));
    let text = String::from("not json\n")
        + &huge
        + &rec(1_000_000_000_000_000_000, "fetched", None)
        + "{\"line\":0,\"url\":\"u\",\"result\":\"fetched\"}\n"
        + "{\"line\":5,\"url\":\"u\",\"result\":\"exploded\"}\n"
        + "{\"line\":6,\"url\":\"u\",\"result\":\"failed\",\"elapsed_ms\":-5,\"error_kind\":\"<b>\"}\n"
        + &rec(7, "fetched", Some("zz"))
        + &rec(8, "fetched", None)
        + "{\"line\":9,\"url\":\"torn";
    let records = temp_file(text);
    let out = report(&[records.path().as_os_str()]);
    let stdout = stdout_of(&out);
    assert!(stderr_of(&out).is_empty(), "{}", stderr_of(&out));
    assert_eq!(
        out.status.code(),
        Some(1),
        "the shard 'zz' is named: {stdout}"
    );
    assert!(stdout.contains("4 records: 4 final"), "{stdout}");
    assert!(
        stdout.contains("lines that are not records skipped"),
        "{stdout}"
    );
    assert!(stdout.contains("the record names shard 'zz'"), "{stdout}");

    // Not regular files (a FIFO too: opening one would wait for a writer forever), and
    // missing ones, are clear errors.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let child = fetchpool()
        .arg("report")
        .arg(&fifo)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(wait_bounded(child).code(), Some(2));
    for bad in ["/dev/null", "/nonexistent/records.jsonl"] {
        let out = report(&[bad.as_ref()]);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr_of(&out).starts_with("fetchpool: error: "),
            "{}",
            stderr_of(&out)
        );
    }
}

#[test]
fn a_list_named_report_is_still_reachable_as_dot_slash_report() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("report"), server.url("/bytes/7") + "\n").unwrap();
    let out = fetchpool()
        .current_dir(dir.path())
        .args(["./report", "--no-proxy"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(stdout_of(&out).contains("page is 7 bytes"));
}

#[test]
fn records_made_from_another_list_do_not_pass_as_coverage() {
    // Same line numbers, other URLs on lines 2 and 3: a record file of another list.
    let records =
        temp_file(rec(1, "fetched", None) + &rec(2, "fetched", None) + &rec(3, "failed", None));
    let list = temp_file("http://h1.test/\nhttp://other.test/\n# a comment\nhttp://h4.test/\n");
    let out = report(&[
        "--list".as_ref(),
        list.path().as_os_str(),
        records.path().as_os_str(),
    ]);
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "line 2: the record is of 'http://h2.test/', another URL than the list's line"
        ),
        "{text}"
    );
    assert!(
        text.contains("line 3: recorded, but it is not a URL line"),
        "{text}"
    );
    assert!(
        text.contains("line 4: no record ('http://h4.test/')"),
        "{text}"
    );
    assert!(text.contains("1 of the 3 URL lines"), "{text}");

    // The same records against their own list pass.
    let own = temp_file("http://h1.test/\nhttp://h2.test/\nhttp://h3.test/\n");
    let out = report(&[
        "--list".as_ref(),
        own.path().as_os_str(),
        records.path().as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout_of(&out));
}

#[test]
fn a_file_without_records_is_refused_in_one_line() {
    let list = temp_file("http://h1.test/\nhttp://h2.test/\n");
    for empty in [list.path(), temp_file("").path()] {
        let out = report(&[empty.as_os_str()]);
        assert_eq!(out.status.code(), Some(2));
        let err = stderr_of(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("holds no records"), "{err}");
        assert!(stdout_of(&out).is_empty());
    }
}
