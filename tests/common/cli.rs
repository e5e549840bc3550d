//! Running the command: a scrubbed environment, temporary list files, and reading the
//! output back.

use std::collections::HashMap;

/// Writes `contents` to a temporary file, removed when the handle is dropped.
pub fn temp_file(contents: impl AsRef<[u8]>) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .prefix("fetchpool-test-")
        .suffix(".txt")
        .tempfile()
        .expect("a temporary file");
    std::io::Write::write_all(&mut file, contents.as_ref()).expect("written");
    file
}

/// Reads a fixture and fills its `{base}` placeholders.
pub fn fixture(name: &str, base: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    std::fs::read_to_string(path)
        .unwrap()
        .replace("{base}", base)
}

/// The fetchpool binary with a scrubbed environment: no proxies, no `FETCHPOOL_*`, no colour,
/// no terminal.
pub fn fetchpool() -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("fetchpool"));
    scrub(&mut cmd);
    cmd
}

/// Removes from `cmd`'s environment what would change fetchpool's behaviour: proxies,
/// `FETCHPOOL_*` (every flag is also read from one), the configuration file, colour and
/// width settings.
pub fn scrub(cmd: &mut std::process::Command) {
    for var in [
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
        "RUST_BACKTRACE",
        "COLUMNS",
    ] {
        cmd.env_remove(var);
    }
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("FETCHPOOL_") {
            cmd.env_remove(var);
        }
    }
    cmd.env("NO_COLOR", "1");
    // No configuration file of the machine's user: an empty FETCHPOOL_CONFIG means none.
    cmd.env("FETCHPOOL_CONFIG", "");
}

/// Runs fetchpool with `args` and a URL nothing listens on, and checks it is a usage
/// error: exit 2 and a short `fetchpool: error: ...` (at most three lines, clap's tip
/// included). Returns the message.
pub fn assert_usage_error(args: &[&str]) -> String {
    let out = fetchpool()
        .args(args)
        .arg("http://127.0.0.1:9/")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    let err = stderr_of(&out);
    assert!(err.starts_with("fetchpool: error: "), "{args:?}: {err}");
    assert!(err.lines().count() <= 3, "{args:?}: short: {err}");
    err
}

/// A run's standard output as text.
pub fn stdout_of(o: &std::process::Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8 output")
}

/// A run's standard error as text.
pub fn stderr_of(o: &std::process::Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("UTF-8 output")
}

/// Output lines sorted, for order-free comparison of parallel output.
pub fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// Runs `cmd` (which asks for `-f jsonl`), checks that it exits with `code`, and returns
/// its records by line number: the run-and-parse chain of most tests.
pub fn run_jsonl(cmd: &mut std::process::Command, code: i32) -> HashMap<u64, serde_json::Value> {
    let out = cmd.output().expect("fetchpool runs");
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    jsonl_by_line(&stdout_of(&out))
}

/// The lines of a record file's text that are not a run's header (`"result":"run"`).
pub fn record_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| {
        serde_json::from_str::<serde_json::Value>(l).map_or(true, |v| v["result"] != "run")
    })
}

/// The lines of a record file that are not a run's header.
pub fn records_in(path: impl AsRef<std::path::Path>) -> Vec<String> {
    record_lines(&std::fs::read_to_string(path).expect("the record file is read"))
        .map(str::to_string)
        .collect()
}

/// Parses JSONL output (or a record file's text) into objects keyed by line number.
pub fn jsonl_by_line(text: &str) -> HashMap<u64, serde_json::Value> {
    record_lines(text)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("each line is JSON");
            (v["line"].as_u64().expect("line is a number"), v)
        })
        .collect()
}
