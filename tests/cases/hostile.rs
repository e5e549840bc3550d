//! Hostile inputs, limits and secrets, against the mock server: what an independent review
//! tried on the command (issue 8). One behaviour per test; each failed before its fix.

use assert_cmd::prelude::OutputAssertExt;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{
    MockServer, PATIENCE, fetchpool, jsonl_by_line, refused_url, run_jsonl, stderr_of, stdout_of,
    temp_file,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Waits for the child at most `limit`, killing it and failing the test if it is still
/// running then. Returns the exit code and how long the wait took.
fn exits_within(mut child: Child, limit: Duration) -> (Option<i32>, Duration) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code(), start.elapsed());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("fetchpool did not exit within {limit:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A fresh directory for one test's files, removed when dropped.
fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

// ---- 8. the record file is never the input list ----

#[test]
fn a_record_file_that_is_the_input_list_is_refused_and_the_list_stays_intact() {
    let mut server = MockServer::start();
    server.expect_no_hits();
    let dir = temp_dir();
    let list = dir.path().join("u.txt");
    let contents = format!("{}\n", server.url("/bytes/1"));
    std::fs::write(&list, &contents).unwrap();
    std::os::unix::fs::symlink(&list, dir.path().join("link.txt")).unwrap();
    std::fs::hard_link(&list, dir.path().join("hard.txt")).unwrap();
    for record in ["u.txt", "link.txt", "hard.txt"] {
        for resume in [false, true] {
            let mut cmd = fetchpool();
            cmd.arg(&list).arg("--record").arg(dir.path().join(record));
            if resume {
                cmd.arg("--resume");
            }
            let out = cmd.assert().code(2).get_output().clone();
            let err = stderr_of(&out);
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.contains("is the input list"), "{err}");
            assert_eq!(std::fs::read_to_string(&list).unwrap(), contents);
        }
    }
    // Through standard input too.
    fetchpool()
        .arg("--record")
        .arg(&list)
        .stdin(std::fs::File::open(&list).unwrap())
        .assert()
        .code(2);
    assert_eq!(std::fs::read_to_string(&list).unwrap(), contents);
    assert_eq!(server.hits(), 0);
}

// ---- 9. a stop never waits for the input ----

#[test]
fn ctrl_c_ends_a_run_whose_input_pipe_stays_open() {
    let server = MockServer::start();
    let mut child = fetchpool()
        .args(["-f", "jsonl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}", server.url("/bytes/3")).unwrap();
    stdin.flush().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains("\"ok\":true"), "{first}");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    // The pipe is still open (`stdin` lives): the run must not wait for it.
    let (code, _) = exits_within(child, Duration::from_secs(10));
    assert_eq!(code, Some(130));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(rest, "", "the one line read got exactly one record");
    drop(stdin);
}

#[test]
fn a_deadline_or_a_signal_ends_a_run_reading_dev_zero() {
    let child = fetchpool()
        .args(["/dev/zero", "--deadline", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    exits_within(child, Duration::from_secs(10));
    let child = fetchpool()
        .arg("/dev/zero")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let (code, _) = exits_within(child, Duration::from_secs(10));
    assert_eq!(code, Some(130));
}

#[test]
fn a_deadline_ends_an_endless_list_with_one_record_per_line_read() {
    let server = MockServer::start();
    let mut child = fetchpool()
        .args(["-f", "jsonl", "--deadline", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let line = format!("{}\n", server.url("/bytes/1"));
    // `yes URL`, bounded: stops when fetchpool exits (broken pipe) or after 10 M lines.
    let writer = thread::spawn(move || {
        for _ in 0..10_000_000 {
            if stdin.write_all(line.as_bytes()).is_err() {
                break;
            }
        }
    });
    let stdout = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
    });
    exits_within(child, PATIENCE);
    let records = reader.join().unwrap();
    writer.join().unwrap();
    let by_line = jsonl_by_line(&records.join("\n"));
    assert_eq!(by_line.len(), records.len(), "no line reported twice");
    assert!(!records.is_empty());
    // Every line from the first to the last read has its record: nothing lost.
    let last = *by_line.keys().max().unwrap();
    assert_eq!(last as usize, records.len());
}

// ---- 10. the record file is untrusted input ----

#[test]
fn resume_with_a_huge_line_number_in_the_record_file_stays_small() {
    let server = MockServer::start();
    let list = temp_file(format!("{}\n", server.url("/bytes/2")));
    let record = temp_file("{\"line\":100000000000,\"ok\":true,\"url\":\"x\"}\n");
    fetchpool()
        .arg(list.path())
        .arg("--record")
        .arg(record.path())
        .arg("--resume")
        .assert()
        .code(0);
    assert_eq!(server.hits(), 1);
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    // ru_maxrss is in KiB: the old bit set asked for 12.5 GB.
    assert!(
        usage.max_rss() < 500 * 1024,
        "peak RSS {} KiB",
        usage.max_rss()
    );
}

#[test]
fn resume_fetches_again_a_line_recorded_with_another_url() {
    let server = MockServer::start();
    let list = temp_file(format!(
        "{}\n{}\n",
        server.url("/bytes/1"),
        server.url("/bytes/2")
    ));
    let record = temp_file(format!(
        "{{\"line\":1,\"ok\":true,\"url\":\"http://another.example/\"}}\n\
         {{\"line\":2,\"ok\":true,\"url\":\"{}\"}}\n",
        server.url("/bytes/2")
    ));
    let out = fetchpool()
        .arg(list.path())
        .arg("--record")
        .arg(record.path())
        .arg("--resume")
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert_eq!(server.hits(), 1, "line 1 fetched again, line 2 skipped");
    assert!(stdout_of(&out).contains("/bytes/1' page is 1 bytes"));
    assert!(
        stderr_of(&out).contains("another URL"),
        "{}",
        stderr_of(&out)
    );
}

// ---- 11. numbers at their limits ----

#[test]
fn numbers_past_their_limits_are_usage_errors_not_panics() {
    for args in [
        &["--rate", "1e-19"][..],
        &["--rate-per-host", "1e-300"][..],
        &["--rate", "inf"][..],
        &["--retry-max-delay", "1e19"][..],
        &["--timeout", "1e30"][..],
        &["--deadline", "1e30"][..],
        &["--timeout", "NaN"][..],
        &["--retries", "4294967295"][..],
        &["--max-redirects", "18446744073709551615"][..],
    ] {
        let out = fetchpool()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("fetchpool: error: "), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn a_retry_after_of_u64_max_is_capped_by_the_longest_retry_delay() {
    let server = MockServer::start();
    let list = temp_file(server.url("/ratelimited/18446744073709551615/a") + "\n");
    let out = fetchpool()
        .arg(list.path())
        .args(["--retries", "1", "--retry-max-delay", "0.1", "-f", "jsonl"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert!(stdout_of(&out).contains("\"attempts\":2"));
    assert!(!stderr_of(&out).contains("panicked"));
}

#[test]
fn a_retry_after_past_the_deadline_fails_at_once_instead_of_waiting() {
    let server = MockServer::start();
    let list = temp_file(server.url("/ratelimited/18446744073709551615/b") + "\n");
    let child = fetchpool()
        .arg(list.path())
        .args([
            "--retries",
            "1",
            "--retry-max-delay",
            "300d",
            "--deadline",
            "60",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (code, took) = exits_within(child, PATIENCE);
    assert_eq!(code, Some(1));
    assert!(took < Duration::from_secs(20), "{took:?}");
}

// ---- 12, 13. the list's text ----

#[test]
fn a_byte_order_mark_at_the_start_of_the_list_is_not_part_of_the_first_url() {
    let server = MockServer::start();
    let list = temp_file(format!("\u{feff}{}\n", server.url("/bytes/4")));
    let out = fetchpool()
        .arg(list.path())
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert_eq!(
        stdout_of(&out),
        format!("'{}' page is 4 bytes\n", server.url("/bytes/4"))
    );
}

#[test]
fn text_output_escapes_format_and_invisible_characters_as_python_repr_does() {
    let server = MockServer::start();
    let url = server.url("/bytes/1?a\u{202e}b\u{200b}c\u{ad}d\u{a0}e");
    let list = temp_file(format!("{url}\n"));
    let out = fetchpool().arg(list.path()).output().unwrap();
    let text = stdout_of(&out);
    assert!(
        text.contains("?a\\u202eb\\u200bc\\xadd\\xa0e' page is 1 bytes"),
        "{text}"
    );
    for raw in ['\u{202e}', '\u{200b}', '\u{ad}', '\u{a0}'] {
        assert!(!text.contains(raw), "{raw:?} printed raw");
    }
}

// ---- 14. redirects to other schemes ----

#[test]
fn a_redirect_to_a_file_url_fails_as_unsupported_scheme_naming_the_target() {
    let server = MockServer::start();
    for target in ["file:///etc/passwd", "data:text/plain,hi", "ftp://u:pw@h/x"] {
        let list = temp_file(server.url(&format!("/goto?{target}")) + "\n");
        let out = fetchpool()
            .arg(list.path())
            .args(["-f", "jsonl"])
            .assert()
            .code(1)
            .get_output()
            .clone();
        let record = &jsonl_by_line(&stdout_of(&out))[&1];
        assert_eq!(record["error_kind"], "unsupported_scheme", "{record}");
        let error = record["error"].as_str().unwrap();
        let shown = target.replace(":pw@", ":***@");
        assert!(error.contains(&shown), "{error}");
        assert!(!error.contains("pw@"), "{error}");
    }
}

// ---- 15. credentials stay secret ----

#[test]
fn a_password_in_a_url_is_sent_but_never_shown() {
    let server = MockServer::start();
    let url = server
        .url("/bytes/5")
        .replace("http://", "http://user:s3cret@");
    let list = temp_file(format!("{url}\n"));
    let dir = temp_dir();
    let record = dir.path().join("records.jsonl");
    for format in ["text", "jsonl", "table"] {
        let out = fetchpool()
            .arg(list.path())
            .args(["-f", format, "--summary", "--record"])
            .arg(&record)
            .assert()
            .code(0)
            .get_output()
            .clone();
        for text in [
            stdout_of(&out),
            stderr_of(&out),
            std::fs::read_to_string(&record).unwrap(),
        ] {
            assert!(!text.contains("s3cret"), "{format}: {text}");
        }
        assert!(stdout_of(&out).contains("user:***@"), "{format}");
    }
    assert!(
        server.requests()[0]
            .to_lowercase()
            .contains("authorization: basic"),
        "the credentials are still sent"
    );
    let mode = std::fs::metadata(&record).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    // --resume still matches the line.
    let hits = server.hits();
    fetchpool()
        .arg(list.path())
        .arg("--record")
        .arg(&record)
        .arg("--resume")
        .assert()
        .code(0);
    assert_eq!(server.hits(), hits, "a resumed run fetches nothing again");
}

#[test]
fn a_password_never_appears_in_an_error_message() {
    let url = refused_url().replace("http://", "http://user:s3cret@");
    let invalid = "http://user:s3cret@/no-host";
    let list = temp_file(format!("{url}\n{invalid}\n"));
    let out = fetchpool()
        .arg(list.path())
        .args(["-f", "jsonl"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let text = stdout_of(&out);
    assert_eq!(text.lines().count(), 2);
    assert!(!text.contains("s3cret"), "{text}");
}

// ---- 16. custom headers stay with their host ----

#[test]
fn custom_headers_are_dropped_after_a_redirect_to_another_origin_unless_trusted() {
    let a = MockServer::start();
    let b = MockServer::start_on("127.0.0.2");
    let list = temp_file(a.url(&format!("/goto?{}", b.url("/bytes/3"))) + "\n");
    let run = |trusted: bool| {
        let mut cmd = fetchpool();
        cmd.arg(list.path()).args(["-H", "X-Api-Key: k123"]);
        if trusted {
            cmd.arg("--location-trusted");
        }
        cmd.assert().code(0);
    };
    run(false);
    assert!(
        a.requests()[0].contains("x-api-key: k123"),
        "{:?}",
        a.requests()
    );
    assert!(!b.requests()[0].to_lowercase().contains("x-api-key"));
    run(true);
    assert!(b.requests()[1].contains("x-api-key: k123"));
}

#[test]
fn custom_headers_follow_a_redirect_within_the_same_origin() {
    let server = MockServer::start();
    let list = temp_file(server.url("/redirect/1") + "\n");
    fetchpool()
        .arg(list.path())
        .args(["-H", "X-Api-Key: k123"])
        .assert()
        .code(0);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.contains("x-api-key: k123")));
}

// ---- 17. usage errors keep clap's help ----

#[test]
fn usage_errors_keep_the_tip_the_valid_values_and_the_missing_argument() {
    for (args, wanted) in [
        (
            &["--worker", "5"][..],
            "a similar argument exists: '--workers'",
        ),
        (
            &["--format", "xml"][..],
            "possible values: text, jsonl, csv, markdown, table",
        ),
        (&["--resume"][..], "--record <FILE>"),
        (&["-H", "X-A: a\u{1}b"][..], "control character"),
        (&["-A", "a\rb"][..], "--user-agent"),
    ] {
        let out = fetchpool()
            .args(args)
            .stdin(Stdio::null())
            .assert()
            .code(2)
            .get_output()
            .clone();
        let err = stderr_of(&out);
        assert!(err.contains(wanted), "{args:?}: {err}");
        assert!(err.lines().count() <= 4, "{args:?}: {err}");
    }
}

// ---- 18, 19. failing files and proxies ----

#[test]
fn a_record_file_that_cannot_be_written_is_named_with_the_reason() {
    // The run's header is written first: the run stops before it fetches anything.
    let list = temp_file(refused_url() + "\n");
    let out = fetchpool()
        .arg(list.path())
        .args(["--record", "/dev/full"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = stderr_of(&out);
    assert!(
        err.contains("cannot write the record file /dev/full") && err.contains("No space left"),
        "{err}"
    );
}

#[test]
fn a_dead_proxy_is_reported_as_a_proxy_failure_naming_the_proxy() {
    let mut server = MockServer::start();
    server.expect_no_hits();
    let proxy = refused_url();
    let list = temp_file(server.url("/bytes/1") + "\n");
    let records = run_jsonl(
        fetchpool()
            .arg(list.path())
            .args(["-f", "jsonl"])
            .env("http_proxy", &proxy),
        1,
    );
    let record = &records[&1];
    assert_eq!(record["error_kind"], "proxy", "{record}");
    assert!(
        record["error"]
            .as_str()
            .unwrap()
            .contains(proxy.trim_end_matches('/')),
        "{record}"
    );
    assert_eq!(server.hits(), 0);
}

#[test]
fn no_proxy_star_sends_ip_address_urls_direct() {
    let server = MockServer::start();
    let list = temp_file(server.url("/bytes/1") + "\n");
    fetchpool()
        .arg(list.path())
        .env("http_proxy", refused_url())
        .env("NO_PROXY", "*")
        .assert()
        .code(0);
    assert_eq!(server.hits(), 1);
}

// ---- the defects issue: report, record files, secrets, the deadline ----

/// Makes a FIFO at `path` (coreutils' mkfifo).
fn mkfifo(path: &std::path::Path) {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success());
}

/// A record file of one fetched line for `url`.
fn one_record(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    let path = dir.join("records.jsonl");
    std::fs::write(
        &path,
        format!(
            "{{\"url\":\"{url}\",\"line\":1,\"ok\":true,\"result\":\"fetched\",\"bytes\":1}}\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn report_html_never_replaces_the_list_a_link_a_fifo_or_a_device() {
    let dir = temp_dir();
    let list = dir.path().join("urls.txt");
    std::fs::write(&list, "http://a.test/\n").unwrap();
    let record = one_record(dir.path(), "http://a.test/");
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let link = dir.path().join("link.html");
    let target = dir.path().join("precious.html");
    std::fs::write(&target, "precious").unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for html in [&list, &fifo, &link, &std::path::PathBuf::from("/dev/null")] {
        let out = fetchpool()
            .arg("report")
            .arg("--list")
            .arg(&list)
            .arg("--html")
            .arg(html)
            .arg(&record)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}: {}",
            html.display(),
            stderr_of(&out)
        );
        assert_eq!(stderr_of(&out).lines().count(), 1, "{}", stderr_of(&out));
    }
    assert_eq!(std::fs::read_to_string(&list).unwrap(), "http://a.test/\n");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    use std::os::unix::fs::FileTypeExt as _;
    assert!(
        std::fs::symlink_metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
}

#[test]
fn report_refuses_a_list_or_record_file_that_is_a_fifo_or_a_device_at_once() {
    use std::os::unix::fs::FileTypeExt as _;
    let dir = temp_dir();
    let record = one_record(dir.path(), "http://a.test/");
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    for list in [fifo.as_path(), std::path::Path::new("/dev/zero")] {
        let child = fetchpool()
            .arg("report")
            .arg("--list")
            .arg(list)
            .arg(&record)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (code, _) = exits_within(child, Duration::from_secs(20));
        assert_eq!(code, Some(2), "{}", list.display());
    }
    let child = fetchpool()
        .arg("report")
        .arg(&fifo)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(exits_within(child, Duration::from_secs(20)).0, Some(2));
}

#[test]
fn a_record_file_that_is_a_fifo_is_refused_at_once() {
    let mut server = MockServer::start();
    server.expect_no_hits();
    let dir = temp_dir();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    for resume in [false, true] {
        let mut cmd = fetchpool();
        cmd.arg(server.url("/bytes/1")).arg("--record").arg(&fifo);
        if resume {
            cmd.arg("--resume");
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (code, _) = exits_within(child, Duration::from_secs(20));
        assert_eq!(code, Some(2), "resume {resume}");
    }
}

#[test]
fn a_second_run_writing_the_same_record_file_is_refused_and_changes_nothing() {
    let server = MockServer::start();
    let dir = temp_dir();
    let record = dir.path().join("records.jsonl");
    let list = temp_file(format!("{}\n", server.url("/delay/3000")));
    let first = fetchpool()
        .arg(list.path())
        .arg("--record")
        .arg(&record)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    crate::common::eventually("the first run is fetching", || server.hits() > 0);
    for resume in [false, true] {
        let mut cmd = fetchpool();
        cmd.arg(server.url("/bytes/1")).arg("--record").arg(&record);
        if resume {
            cmd.arg("--resume");
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "resume {resume}");
        let err = stderr_of(&out);
        assert!(err.contains("another fetchpool run is writing it"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let (code, _) = exits_within(first, Duration::from_secs(30));
    assert_eq!(code, Some(0));
    let records = crate::common::records_in(&record);
    assert_eq!(records.len(), 1, "only the first run's record: {records:?}");
    assert_eq!(server.hits(), 1, "the second run fetched nothing");
}

#[test]
fn a_password_in_any_form_the_url_parser_reads_is_never_shown() {
    let server = MockServer::start();
    let authority = server.base_url().trim_start_matches("http://").to_string();
    let dir = temp_dir();
    let record = dir.path().join("records.jsonl");
    let html = dir.path().join("report.html");
    for form in ["http:", "http:/", "http:\\\\", "HTTP:///"] {
        let url = format!("{form}user:S3CRET@{authority}/status/404");
        let list = temp_file(format!("{url}\n"));
        let out = fetchpool()
            .arg(list.path())
            .args(["-f", "jsonl", "--summary", "--record"])
            .arg(&record)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{form}");
        let report = fetchpool()
            .arg("report")
            .arg("--html")
            .arg(&html)
            .arg(&record)
            .output()
            .unwrap();
        for text in [
            stdout_of(&out),
            stderr_of(&out),
            std::fs::read_to_string(&record).unwrap(),
            stdout_of(&report),
            std::fs::read_to_string(&html).unwrap(),
        ] {
            assert!(!text.contains("S3CRET"), "{form}: {text}");
        }
        assert!(
            stdout_of(&out).contains("***"),
            "{form}: {}",
            stdout_of(&out)
        );
    }
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.to_lowercase().contains("authorization: basic"))
    );
}

#[test]
fn usage_errors_never_echo_a_secret_value() {
    let cases: [(&[&str], &str); 4] = [
        (&["--proxy", "ftp://user:S3CRET@proxy.test:3128"], "S3CRET"),
        (&["-H", "Authorization Bearer S3CRET"], "S3CRET"),
        (&["-H", "Authorization: Bearer S3CRET\u{7}"], "S3CRET"),
        (&["-b", "S3CRET"], "S3CRET"),
    ];
    for (args, secret) in cases {
        let err = crate::common::assert_usage_error(args);
        assert!(!err.contains(secret), "{args:?}: {err}");
    }
    // The same from the environment.
    let out = fetchpool()
        .env("FETCHPOOL_PROXY", "ftp://user:S3CRET@proxy.test:3128")
        .arg("http://127.0.0.1:9/")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!stderr_of(&out).contains("S3CRET"), "{}", stderr_of(&out));
    let out = fetchpool()
        .env("FETCHPOOL_HEADER", "Authorization Bearer S3CRET")
        .arg("http://127.0.0.1:9/")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!stderr_of(&out).contains("S3CRET"), "{}", stderr_of(&out));
}

#[test]
fn report_escapes_what_a_record_file_would_send_to_the_terminal() {
    let dir = temp_dir();
    let path = dir.path().join("records.jsonl");
    let kind = format!("evil\u{1b}]0;pwned\u{7}\u{1b}[2J{}", "x".repeat(5000));
    std::fs::write(
        &path,
        format!(
            "{}\n",
            serde_json::json!({
                "url": "http://a.test/", "line": 1, "ok": false, "result": "failed",
                "error_kind": kind, "error": "boom"
            })
        ),
    )
    .unwrap();
    let out = fetchpool().arg("report").arg(&path).output().unwrap();
    let text = stdout_of(&out);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(text.contains("evil\\x1b]0;pwned\\x07"), "{text}");
    assert!(text.len() < 4000, "the kind is cut: {}", text.len());
}

#[test]
fn a_deadline_that_passes_while_the_input_is_open_does_not_exit_0() {
    let server = MockServer::start();
    let url = server.url("/bytes/1");
    // One URL, then the input stays open past the deadline.
    let mut child = fetchpool()
        .args(["--deadline", "1", "-f", "jsonl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{url}").unwrap();
    let (code, _) = exits_within(child, Duration::from_secs(20));
    drop(stdin);
    assert_eq!(code, Some(1), "cut short by --deadline");
    // Before the first line: nothing read, still not a success.
    let child = fetchpool()
        .args(["--deadline", "0.2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(exits_within(child, Duration::from_secs(20)).0, Some(1));
}
