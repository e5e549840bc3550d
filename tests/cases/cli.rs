//! The `fetchpool` command against the mock server: output formats, exit codes, input
//! handling, and the rule that every input line yields exactly one record.

use assert_cmd::prelude::OutputAssertExt;

use std::process::Stdio;

use crate::common::{
    MockServer, fetchpool, fixture, jsonl_by_line, refused_url, run_jsonl, sorted_lines, stderr_of,
    stdout_of, temp_file,
};

/// Runs fetchpool with `stdin` as its standard input; the `Assert` shows the command,
/// status, stdout and stderr if an assertion on it fails.
fn run_with_stdin(args: &[&str], stdin: &str) -> assert_cmd::assert::Assert {
    let mut cmd = fetchpool();
    cmd.args(args);
    assert_cmd::Command::from_std(cmd)
        .write_stdin(stdin)
        .assert()
}

#[test]
fn prints_each_page_size_in_the_documents_format_and_exits_0() {
    let server = MockServer::start();
    let list = temp_file(format!(
        "{}\n{}\n",
        server.url("/bytes/10"),
        server.url("/bytes/0")
    ));
    let out = fetchpool()
        .arg(list.path())
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert_eq!(
        sorted_lines(&stdout_of(&out)),
        vec![
            format!("'{}' page is 0 bytes", server.url("/bytes/0")),
            format!("'{}' page is 10 bytes", server.url("/bytes/10")),
        ]
    );
    assert_eq!(
        stderr_of(&out),
        "",
        "no summary or progress when stderr is not a terminal"
    );
}

#[test]
fn exits_1_and_prints_the_exception_when_one_url_fails() {
    let server = MockServer::start();
    let list = temp_file(format!(
        "{}\n{}\n",
        server.url("/bytes/1"),
        server.url("/status/404")
    ));
    let out = fetchpool()
        .arg(list.path())
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert!(stdout_of(&out).contains(&format!(
        "'{}' generated an exception: HTTP Error 404: Not Found",
        server.url("/status/404")
    )));
}

#[test]
fn every_line_of_the_mixed_fixture_yields_exactly_one_record() {
    let server = MockServer::start();
    let list = temp_file(fixture("mixed.txt", &server.base_url()));
    let out = fetchpool()
        .arg(list.path())
        .args(["-f", "jsonl"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let records = jsonl_by_line(&stdout_of(&out));
    assert_eq!(
        stdout_of(&out).lines().count(),
        7,
        "one record per non-blank, non-comment line"
    );
    let kind = |line: u64| records[&line]["result"].as_str().unwrap().to_string();
    assert_eq!(kind(2), "fetched");
    assert_eq!(records[&2]["bytes"], 0);
    assert_eq!(records[&3]["bytes"], 2048);
    assert_eq!(records[&5]["bytes"], 5000, "the padded line was trimmed");
    assert_eq!(kind(6), "failed");
    assert_eq!(records[&6]["status"], 404);
    assert_eq!(kind(7), "invalid");
    assert_eq!(records[&7]["url"], "not a url");
    assert_eq!(records[&8]["error_kind"], "unsupported_scheme");
    assert_eq!(kind(9), "fetched");
}

#[test]
fn jsonl_records_carry_every_documented_field() {
    let server = MockServer::start();
    let out = run_with_stdin(&["-f", "jsonl"], &format!("{}\n", server.url("/bytes/3")))
        .code(0)
        .get_output()
        .clone();
    let records = jsonl_by_line(&stdout_of(&out));
    let r = &records[&1];
    for field in [
        "url",
        "line",
        "ok",
        "result",
        "status",
        "bytes",
        "elapsed_ms",
        "error_kind",
        "error",
    ] {
        assert!(r.get(field).is_some(), "missing {field} in {r}");
    }
    assert_eq!(r["ok"], true);
    assert_eq!(r["status"], 200);
    assert!(r["elapsed_ms"].as_f64().unwrap() >= 0.0);
    assert!(r["error"].is_null());
}

#[test]
fn each_fault_is_reported_with_its_own_error_kind() {
    let server = MockServer::start();
    let list = temp_file(fixture("faults.txt", &server.base_url()) + &refused_url() + "\n");
    let records = run_jsonl(fetchpool().arg(list.path()).args(["-f", "jsonl"]), 1);
    let mut kinds: Vec<String> = records
        .values()
        .map(|r| r["error_kind"].as_str().unwrap().to_string())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "connection_refused",
            "http_status",
            "io",
            "reset",
            "too_many_redirects",
            "truncated_body"
        ]
    );
}

#[test]
fn a_timeout_is_reported_as_an_exception_with_the_duration() {
    let server = MockServer::start();
    let out = run_with_stdin(
        &["--timeout", "0.3"],
        &format!("{}\n", server.url("/delay/3000")),
    )
    .code(1)
    .get_output()
    .clone();
    assert_eq!(
        stdout_of(&out).trim(),
        format!(
            "'{}' generated an exception: timed out after 300ms",
            server.url("/delay/3000")
        )
    );
}

#[test]
fn invalid_lines_name_their_line_number_and_do_not_stop_the_run() {
    let server = MockServer::start();
    let out = run_with_stdin(
        &[],
        &format!(
            "# header\n\nhttp://\n{}\nno scheme here\n",
            server.url("/bytes/1")
        ),
    )
    .code(1)
    .get_output()
    .clone();
    let text = stdout_of(&out);
    assert!(
        text.contains("'http://' generated an exception: line 3: invalid URL: empty host"),
        "{text}"
    );
    assert!(
        text.contains("'no scheme here' generated an exception: line 5: invalid URL"),
        "{text}"
    );
    assert!(text.contains("page is 1 bytes"), "{text}");
}

#[test]
fn a_line_that_is_not_utf8_is_an_invalid_record() {
    let list = temp_file(b"http://127.0.0.1:9/\xff\xfe\n");
    let out = fetchpool()
        .arg(list.path())
        .args(["-f", "jsonl"])
        .output()
        .unwrap();
    let records = jsonl_by_line(&stdout_of(&out));
    assert_eq!(records.len(), 1);
    assert_eq!(records[&1]["result"], "invalid");
    assert!(
        records[&1]["error"]
            .as_str()
            .unwrap()
            .contains("not valid UTF-8")
    );
}

#[test]
fn urls_are_quoted_as_python_repr_would() {
    let out = run_with_stdin(&[], "it's-not-a-url\n")
        .code(1)
        .get_output()
        .clone();
    assert!(
        stdout_of(&out).starts_with("\"it's-not-a-url\" generated an exception"),
        "{}",
        stdout_of(&out)
    );
}

#[test]
fn reads_urls_from_standard_input_by_default_and_with_a_dash() {
    let server = MockServer::start();
    let input = format!("{}\n", server.url("/bytes/5"));
    for args in [&[][..], &["-"][..]] {
        let out = run_with_stdin(args, &input).code(0).get_output().clone();
        assert!(stdout_of(&out).contains("page is 5 bytes"));
    }
}

#[test]
fn an_empty_list_prints_nothing_and_exits_0() {
    let out = run_with_stdin(&[], "# nothing here\n\n")
        .code(0)
        .get_output()
        .clone();
    assert_eq!(stdout_of(&out), "");
}

#[test]
fn order_input_prints_records_in_input_order() {
    let server = MockServer::start();
    let urls: Vec<String> = [300, 200, 100, 0]
        .iter()
        .map(|ms| server.url(&format!("/delay/{ms}")))
        .collect();
    let out = run_with_stdin(
        &["--order", "input", "-w", "4", "-f", "jsonl"],
        &(urls.join("\n") + "\n"),
    )
    .code(0)
    .get_output()
    .clone();
    let lines: Vec<u64> = stdout_of(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["line"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(lines, [1, 2, 3, 4]);
}

#[test]
fn table_format_prints_one_table_sorted_by_line() {
    let server = MockServer::start();
    let out = run_with_stdin(
        &["-f", "table"],
        &format!("{}\n{}\n", server.url("/delay/100"), server.url("/bytes/7")),
    )
    .code(0)
    .get_output()
    .clone();
    let text = stdout_of(&out);
    assert!(text.contains("│ line │"), "{text}");
    let first = text.find("│ 1 ").unwrap();
    let second = text.find("│ 2 ").unwrap();
    assert!(first < second, "rows are in line order");
    assert!(
        text.lines().all(|l| l.chars().count() <= 80),
        "the table fits 80 columns:\n{text}"
    );
}

#[test]
fn summary_flag_prints_the_tally_on_stderr() {
    let server = MockServer::start();
    let out = run_with_stdin(
        &["--summary"],
        &format!(
            "{}\n{}\n",
            server.url("/bytes/7"),
            server.url("/status/500")
        ),
    )
    .code(1)
    .get_output()
    .clone();
    let err = stderr_of(&out);
    assert!(
        err.contains("fetched") && err.contains("failed") && err.contains("  http_status"),
        "{err}"
    );
    assert!(err.contains("latency p95"), "{err}");
}

#[test]
fn accept_turns_an_error_status_into_success() {
    let server = MockServer::start();
    let out = run_with_stdin(
        &["--accept", "404,500-599"],
        &format!("{}\n", server.url("/status/404")),
    )
    .code(0)
    .get_output()
    .clone();
    assert!(stdout_of(&out).contains("page is 11 bytes"));
}

#[test]
fn headers_and_user_agent_are_sent() {
    let server = MockServer::start();
    run_with_stdin(
        &["-H", "X-Probe: yes", "--user-agent", "probe/1"],
        &format!("{}\n", server.url("/bytes/1")),
    )
    .code(0);
    let head = server.requests().join("");
    assert!(head.to_lowercase().contains("x-probe: yes"), "{head}");
    assert!(head.contains("probe/1"), "{head}");
}

#[test]
fn too_many_redirects_respects_max_redirects() {
    let server = MockServer::start();
    let out = run_with_stdin(
        &["--max-redirects", "2"],
        &format!("{}\n", server.url("/redirect/3")),
    )
    .code(1)
    .get_output()
    .clone();
    assert!(
        stdout_of(&out).contains("too many redirects (more than 2)"),
        "{}",
        stdout_of(&out)
    );
}

#[test]
fn exits_2_with_one_line_when_the_file_is_missing() {
    let out = fetchpool()
        .arg("/nonexistent/urls.txt")
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert_eq!(
        stderr_of(&out),
        "fetchpool: error: cannot open /nonexistent/urls.txt: No such file or directory (os error 2)\n"
    );
}

#[test]
fn exits_2_when_the_input_is_a_directory() {
    let out = fetchpool()
        .arg(std::env::temp_dir())
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(stderr_of(&out).contains("is a directory"));
}

#[test]
fn exits_2_with_a_short_message_on_a_bad_flag_value() {
    for args in [
        &["--workers", "0"][..],
        &["--workers", "10001"][..],
        &["--timeout", "soon"][..],
        &["--timeout", "0"][..],
        &["--timeout", "-1"][..],
        &["--deadline", "1e400"][..],
        &["-H", "no colon"][..],
        &["--accept", "99"][..],
        &["--format", "xml"][..],
        &["--no-such-flag"][..],
    ] {
        let out = fetchpool()
            .args(args)
            .stdin(Stdio::null())
            .assert()
            .code(2)
            .get_output()
            .clone();
        let err = stderr_of(&out);
        assert!(err.lines().count() <= 4, "{args:?}: {err}");
        assert!(!err.contains("Usage:"), "{args:?}: {err}");
        assert!(err.starts_with("fetchpool: error: "), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn help_and_version_exit_0() {
    let out = fetchpool()
        .arg("--help")
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert!(stdout_of(&out).contains("--workers"));
    assert!(stdout_of(&out).contains("Exit codes"));
    let out = fetchpool()
        .arg("--version")
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert!(stdout_of(&out).starts_with("fetchpool "));
}

#[test]
fn durations_accept_seconds_and_humantime() {
    use fetchpool::cli::parse::parse_duration;
    use std::time::Duration;
    assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
    assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert!(parse_duration("NaN").is_err());
}

#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    let server = MockServer::start();
    let list = temp_file(
        (0..200)
            .map(|_| server.url("/bytes/1") + "\n")
            .collect::<String>(),
    );
    let mut child = fetchpool()
        .arg(list.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{:?}", out.status);
    assert!(!stderr_of(&out).contains("panicked"), "{}", stderr_of(&out));
}

// ---- arguments, records, HEAD (issue 10) ----

#[test]
fn urls_given_as_arguments_are_fetched_and_numbered_with_the_lists() {
    let server = MockServer::start();
    let list = temp_file(format!("{}\n", server.url("/bytes/2")));
    let records = run_jsonl(
        fetchpool()
            .arg(server.url("/bytes/1"))
            .arg(list.path())
            .arg(server.url("/bytes/3"))
            .args(["-f", "jsonl"]),
        0,
    );
    let sizes: Vec<(u64, u64)> = (1..=3)
        .map(|l| (l, records[&l]["bytes"].as_u64().unwrap()))
        .collect();
    assert_eq!(sizes, [(1, 1), (2, 2), (3, 3)]);
}

#[test]
fn a_list_without_a_final_newline_keeps_its_last_line_apart_from_the_next_argument() {
    let server = MockServer::start();
    let list = temp_file(server.url("/bytes/2"));
    let out = fetchpool()
        .arg(list.path())
        .arg(server.url("/bytes/3"))
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert_eq!(stdout_of(&out).lines().count(), 2);
}

#[test]
fn the_old_output_flag_points_at_record_and_dir() {
    let out = fetchpool()
        .args(["-o", "x.jsonl"])
        .stdin(Stdio::null())
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = stderr_of(&out);
    assert!(
        err.contains("--record FILE") && err.contains("-d DIR"),
        "{err}"
    );
    assert!(!std::path::Path::new("x.jsonl").exists());
}

#[test]
fn head_reports_the_status_and_the_announced_length_without_reading_a_body() {
    let server = MockServer::start();
    let url = server.url("/bytes/5000");
    let out = fetchpool()
        .args(["-I", &url])
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert_eq!(
        stdout_of(&out),
        format!("'{url}' answered HTTP 200 to HEAD (5000 bytes)\n")
    );
    assert!(server.requests()[0].starts_with("HEAD "));
    let records = run_jsonl(fetchpool().args(["-X", "HEAD", "-f", "jsonl", &url]), 0);
    let record = &records[&1];
    assert_eq!(record["content_length"], 5000);
    assert_eq!(record["bytes"], 0);
}

#[test]
fn records_carry_the_final_url_and_the_content_type() {
    let server = MockServer::start();
    let records = run_jsonl(
        fetchpool().args(["-f", "jsonl", &server.url("/redirect/2")]),
        0,
    );
    let record = &records[&1];
    assert_eq!(record["final_url"], server.url("/redirect/0"));
    assert_eq!(record["status"], 200);
    assert_eq!(record["content_type"], "text/plain", "{record}");
}

#[test]
fn an_accepted_error_status_says_so_in_the_text_line() {
    let server = MockServer::start();
    let url = server.url("/status/404");
    let out = fetchpool()
        .args(["--accept", "404", &url])
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert_eq!(
        stdout_of(&out),
        format!("'{url}' page is 11 bytes (HTTP 404 accepted)\n")
    );
}

#[test]
fn a_failure_after_the_headers_keeps_the_status_and_is_still_retried() {
    let server = MockServer::start();
    let records = run_jsonl(
        fetchpool().args([
            "-f",
            "jsonl",
            "--retries",
            "1",
            "--retry-delay",
            "0.01",
            &server.url("/truncate"),
        ]),
        1,
    );
    let record = &records[&1];
    assert_eq!(record["status"], 200, "{record}");
    assert_eq!(record["error_kind"], "truncated_body");
    assert_eq!(record["attempts"], 2, "a truncated body is transient");
}

#[test]
fn the_process_executor_is_there_on_linux_and_a_clear_usage_error_elsewhere() {
    let mut server = MockServer::start();
    if !cfg!(process_pool) {
        server.expect_no_hits();
    }
    let out = fetchpool()
        .args(["--executor", "process", &server.url("/bytes/3")])
        .output()
        .unwrap();
    // `process_pool`: Linux (build.rs), unless FETCHPOOL_NO_PROCESS_POOL builds it as
    // elsewhere.
    if cfg!(process_pool) {
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    } else {
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr_of(&out).contains("needs Linux"),
            "{}",
            stderr_of(&out)
        );
    }
}

#[test]
fn failures_only_prints_the_urls_that_were_not_fetched_and_keeps_every_record() {
    let server = MockServer::start();
    let list = temp_file(format!(
        "{}\n{}\nnot a url\n",
        server.url("/bytes/3"),
        server.url("/status/404")
    ));
    let record = tempfile::tempdir().unwrap();
    let record = record.path().join("r.jsonl");
    let out = fetchpool()
        .arg(list.path())
        .arg("-q")
        .arg("--record")
        .arg(&record)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("/status/404' generated an exception: HTTP Error 404"));
    assert!(text.contains("'not a url' generated an exception"));
    assert!(!text.contains("page is"), "{text}");
    assert_eq!(
        crate::common::records_in(&record).len(),
        3,
        "every record is kept"
    );
}

#[test]
fn csv_and_markdown_print_a_header_then_a_row_per_url() {
    let server = MockServer::start();
    let url = server.url("/bytes/7?a,b");
    let list = temp_file(format!("{url}\nbad|line <b>\n"));
    let out = fetchpool()
        .arg(list.path())
        .args(["-f", "csv", "--order", "input"])
        .output()
        .unwrap();
    let text = stdout_of(&out);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    assert_eq!(
        header.iter().collect::<Vec<_>>(),
        [
            "line",
            "url",
            "result",
            "status",
            "bytes",
            "ms",
            "attempts",
            "error_kind",
            "error"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert_eq!(&rows[0][1], url, "a comma in a URL stays in its cell");
    assert_eq!(
        (&rows[0][2], &rows[0][3], &rows[0][4]),
        ("fetched", "200", "7")
    );
    assert_eq!((&rows[1][2], &rows[1][7]), ("invalid", "invalid_url"));

    let out = fetchpool()
        .arg(list.path())
        .args(["-f", "markdown", "--order", "input"])
        .output()
        .unwrap();
    let text = stdout_of(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("| line | url | result |"), "{text}");
    assert!(lines[1].starts_with("|---:|"), "{text}");
    assert!(lines[3].contains("bad\\|line \\<b\\>"), "escaped: {text}");
    for line in &lines {
        let pipes = line.replace("\\|", "").matches('|').count();
        assert_eq!(pipes, 10, "nine cells: {line}");
    }

    // No record at all: the header alone.
    let out = fetchpool()
        .arg(temp_file("").path())
        .args(["-f", "csv"])
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out).lines().count(), 1);
}

#[test]
fn input_file_reads_a_list_after_the_arguments() {
    let server = MockServer::start();
    let list = temp_file(server.url("/bytes/2") + "\n");
    let records = run_jsonl(
        fetchpool()
            .arg(server.url("/bytes/1"))
            .arg("-i")
            .arg(list.path())
            .args(["-f", "jsonl"]),
        0,
    );
    assert_eq!(records[&1]["bytes"], 1);
    assert_eq!(records[&2]["bytes"], 2);
}

#[test]
fn a_missing_list_named_like_a_host_suggests_its_url() {
    let dir = tempfile::tempdir().unwrap();
    let out = fetchpool()
        .current_dir(dir.path())
        .arg("example.com")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("did you mean https://example.com?"), "{err}");
    let out = fetchpool()
        .current_dir(dir.path())
        .arg("urls.txt")
        .output()
        .unwrap();
    assert!(!stderr_of(&out).contains("did you mean"));
}

#[test]
fn dedup_fetches_each_url_once_and_records_every_line() {
    let server = MockServer::start();
    let a = server.url("/bytes/5");
    let b = server.url("/bytes/6");
    let list = temp_file(format!("{a}\n{b}\n{a}#part\n\n{a}\n"));
    let records = run_jsonl(
        fetchpool()
            .arg(list.path())
            .args(["--dedup", "-f", "jsonl"]),
        0,
    );
    assert_eq!(records.len(), 4, "one record per line: {records:?}");
    for line in [3, 5] {
        assert_eq!(records[&line]["result"], "skipped");
        assert_eq!(records[&line]["error_kind"], "duplicate");
        assert_eq!(records[&line]["error"], "the same URL as line 1");
    }
    assert_eq!(records[&2]["result"], "fetched");
    assert_eq!(server.hits(), 2, "each URL fetched once");

    // Without --dedup, every line is fetched.
    let records = run_jsonl(fetchpool().arg(list.path()).args(["-f", "jsonl"]), 0);
    assert!(records.values().all(|r| r["result"] == "fetched"));
    assert_eq!(server.hits(), 6);
}
