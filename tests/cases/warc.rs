//! `--warc-file`: every exchange archived as WARC/1.1, read back here and checked by an
//! independent reader, `warcio` (PyPI; `.ci/run` installs it in a virtual environment),
//! against the bytes the mock server sent.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha1::Digest as _;

use crate::common::server::pattern;
use crate::common::{MockServer, fetchpool, stderr_of, temp_file};

/// One record: its header fields (names as written) and its block.
#[derive(Debug)]
struct Record {
    fields: BTreeMap<String, String>,
    block: Vec<u8>,
}

impl Record {
    fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }

    /// The HTTP body of a response or request record (after the head's blank line).
    fn http_body(&self) -> &[u8] {
        let at = self
            .block
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an HTTP head");
        &self.block[at + 4..]
    }

    fn http_head(&self) -> String {
        let at = self
            .block
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap();
        String::from_utf8_lossy(&self.block[..at]).into_owned()
    }
}

/// The records of a WARC file (gzipped or not), parsed strictly: each starts with
/// `WARC/1.1`, its block is `Content-Length` bytes, and two CRLF end it.
fn records(path: &Path) -> Vec<Record> {
    let (records, whole) = records_before_a_tear(path);
    assert!(whole, "{} ends torn", path.display());
    records
}

/// The whole records of a WARC file that may end torn (a run killed mid-record), and
/// whether it ends whole.
fn records_before_a_tear(path: &Path) -> (Vec<Record>, bool) {
    let raw = std::fs::read(path).unwrap();
    let mut whole = true;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        whole = flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .is_ok();
        out
    } else {
        raw
    };
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let Some(head_len) = bytes[at..].windows(4).position(|w| w == b"\r\n\r\n") else {
            return (out, false);
        };
        let head = String::from_utf8_lossy(&bytes[at..at + head_len]).into_owned();
        let Some(len) = head
            .split("\r\n")
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            return (out, false);
        };
        if bytes.len() < at + head_len + 8 + len {
            return (out, false);
        }
        let end = at
            + bytes[at..]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .unwrap();
        let head = String::from_utf8(bytes[at..end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        assert_eq!(lines.next(), Some("WARC/1.1"));
        let fields: BTreeMap<String, String> = lines
            .map(|l| {
                let (n, v) = l.split_once(": ").unwrap();
                (n.to_string(), v.to_string())
            })
            .collect();
        let len: usize = fields["Content-Length"].parse().unwrap();
        let block = bytes[end + 4..end + 4 + len].to_vec();
        assert_eq!(&bytes[end + 4 + len..end + 8 + len], b"\r\n\r\n");
        at = end + 8 + len;
        out.push(Record { fields, block });
    }
    (out, whole)
}

/// A tool of the `warcio` and `cdxj-indexer` packages (PyPI): in the folder
/// `FETCHPOOL_WARC_TOOLS` names, on PATH, or in the virtual environment `.ci/run` makes
/// (`target/ci-venv`); or a clear failure.
fn python_tool(name: &str) -> PathBuf {
    let ci_venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv/bin");
    for candidate in [
        std::env::var_os("FETCHPOOL_WARC_TOOLS").map(|d| PathBuf::from(d).join(name)),
        Some(PathBuf::from(name)),
        Some(ci_venv.join(name)),
    ]
    .into_iter()
    .flatten()
    {
        if Command::new(&candidate)
            .arg("--help")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return candidate;
        }
    }
    panic!(
        "{name} is needed: python3 -m venv v && v/bin/pip install warcio cdxj-indexer, then \
         put v/bin on PATH (.ci/run does this)"
    );
}

fn warcio() -> PathBuf {
    python_tool("warcio")
}

/// `warcio check` passes on `path` (every digest verified).
fn warcio_checks(path: &Path) {
    let out = Command::new(warcio())
        .args(["check", "-v"])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "warcio check {}: {text}",
        path.display()
    );
    assert!(!text.contains("digest failed"), "{text}");
}

fn sha1_label(bytes: &[u8]) -> String {
    format!(
        "sha1:{}",
        data_encoding::BASE32.encode(&sha1::Sha1::digest(bytes))
    )
}

#[test]
fn every_exchange_is_archived_with_digests_an_independent_reader_verifies() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("run");
    let big = 600_000; // spooled to a file on its way (more than 256 KiB)
    let list = temp_file(format!(
        "{}\n{}\n{}\n{}\n{}\n",
        server.url(&format!("/ranged/{big}")),
        server.url("/status/404"),
        server.url("/redirect/1"),
        server.url("/encoded/gz"),
        server.url("/truncate"),
    ));
    let out = fetchpool()
        .arg(list.path())
        .arg("--warc-file")
        .arg(&prefix)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let path = dir.path().join("run.warc.gz");
    warcio_checks(&path);
    let records = records(&path);
    assert_eq!(records[0].field("WARC-Type"), "warcinfo");
    assert!(String::from_utf8_lossy(&records[0].block).contains("software: fetchpool/"));
    let responses: BTreeMap<String, &Record> = records
        .iter()
        .filter(|r| r.field("WARC-Type") == "response")
        .map(|r| (r.field("WARC-Target-URI").to_string(), r))
        .collect();
    // The body as the server sent it, and its digest.
    let ranged = responses[&server.url(&format!("/ranged/{big}"))];
    let expected: Vec<u8> = (0..big).map(pattern).collect();
    assert_eq!(ranged.http_body(), &expected[..]);
    assert_eq!(ranged.field("WARC-Payload-Digest"), sha1_label(&expected));
    assert!(ranged.http_head().starts_with("HTTP/1.1 200 OK\r\n"));
    // An error page is archived too; each redirect hop is its own exchange.
    assert!(
        responses[&server.url("/status/404")]
            .http_head()
            .starts_with("HTTP/1.1 404")
    );
    assert!(
        responses[&server.url("/redirect/1")]
            .http_head()
            .starts_with("HTTP/1.1 302")
    );
    assert!(responses.contains_key(&server.url("/redirect/0")));
    // A gzip body stays gzip: the payload is the bytes on the wire.
    let gz = responses[&server.url("/encoded/gz")];
    assert!(gz.http_body().starts_with(&[0x1f, 0x8b]));
    // A body cut short says so.
    assert_eq!(
        responses[&server.url("/truncate")].field("WARC-Truncated"),
        "disconnect"
    );
    // Each response has its request, linked.
    for response in responses.values() {
        let id = response.field("WARC-Record-ID");
        let request = records
            .iter()
            .find(|r| r.field("WARC-Concurrent-To") == id)
            .expect("its request");
        assert_eq!(request.field("WARC-Type"), "request");
        assert_eq!(
            request.field("WARC-Target-URI"),
            response.field("WARC-Target-URI")
        );
        assert_eq!(
            request.field("WARC-Warcinfo-ID"),
            records[0].field("WARC-Record-ID")
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no spool file is left"
    );
}

#[test]
fn credentials_are_hidden_in_request_records_unless_kept() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("/bytes/3");
    for keep in [false, true] {
        let prefix = dir.path().join(format!("keep-{keep}"));
        let mut cmd = fetchpool();
        cmd.arg(&url)
            .args([
                "-u",
                "alice:s3cret",
                "-b",
                "session=t0ken",
                "-H",
                "X-Api: k3y",
            ])
            .arg("--warc-file")
            .arg(&prefix);
        if keep {
            cmd.arg("--warc-keep-credentials");
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        let text = String::from_utf8_lossy(
            &records(&prefix.with_extension("warc.gz"))
                .iter()
                .map(|r| r.block.clone())
                .collect::<Vec<_>>()
                .concat(),
        )
        .into_owned();
        let basic = "YWxpY2U6czNjcmV0"; // base64 of alice:s3cret
        assert_eq!(text.contains(basic), keep, "{text}");
        assert_eq!(text.contains("t0ken"), keep, "{text}");
        assert!(text.contains("x-api: k3y"), "other fields are kept: {text}");
        assert!(
            !text.contains("s3cret"),
            "never the password in clear: {text}"
        );
    }
}

#[test]
fn files_rotate_without_splitting_a_record_and_a_taken_name_is_never_replaced() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("part");
    let list: String = (0..6)
        .map(|i| server.url(&format!("/bytes/{}", 3000 + i)) + "\n")
        .collect();
    let list = temp_file(list);
    let out = fetchpool()
        .arg(list.path())
        .arg("--warc-file")
        .arg(&prefix)
        .args(["--warc-max-size", "5k", "--no-warc-compression"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let mut responses = 0;
    for (i, file) in files.iter().enumerate() {
        assert_eq!(
            file.file_name().unwrap().to_string_lossy(),
            format!("part-{i:05}.warc")
        );
        warcio_checks(file);
        let records = records(file);
        assert_eq!(
            records[0].field("WARC-Type"),
            "warcinfo",
            "each file begins so"
        );
        assert_eq!(
            records[0].field("WARC-Filename"),
            file.file_name().unwrap().to_string_lossy()
        );
        responses += records
            .iter()
            .filter(|r| r.field("WARC-Type") == "response")
            .count();
    }
    assert_eq!(responses, 6);

    // A name that is taken: refused in one line, the file untouched; with --resume the
    // next number is written.
    let taken = dir.path().join("part-00000.warc");
    let before = std::fs::read(&taken).unwrap();
    let again = |resume: bool| {
        let mut cmd = fetchpool();
        cmd.arg(server.url("/bytes/1"))
            .arg("--warc-file")
            .arg(&prefix)
            .args(["--warc-max-size", "5k", "--no-warc-compression"]);
        if resume {
            let record = dir.path().join("records.jsonl");
            cmd.arg("--record").arg(record).arg("--resume");
        }
        cmd.output().unwrap()
    };
    let out = again(false);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("is never replaced"), "{err}");
    let out = again(true);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(std::fs::read(&taken).unwrap(), before);
    assert!(
        dir.path()
            .join(format!("part-{:05}.warc", files.len()))
            .exists()
    );
}

#[cfg(target_os = "linux")]
#[test]
fn worker_processes_hand_their_exchanges_to_the_one_writer() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("proc");
    let list: String = [300_000, 5, 400_000]
        .iter()
        .map(|n| server.url(&format!("/ranged/{n}")) + "\n")
        .collect();
    let list = temp_file(list);
    let out = fetchpool()
        .arg(list.path())
        .args(["--executor", "process", "-w", "2", "--warc-file"])
        .arg(&prefix)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let path = dir.path().join("proc.warc.gz");
    warcio_checks(&path);
    let bodies: Vec<usize> = records(&path)
        .iter()
        .filter(|r| r.field("WARC-Type") == "response")
        .map(|r| r.http_body().len())
        .collect();
    let mut sorted = bodies.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [5, 300_000, 400_000]);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no spool left"
    );
}

#[test]
fn http2_cannot_be_archived_and_says_why() {
    let out = fetchpool()
        .args(["http://127.0.0.1:9/", "--http2", "--warc-file", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("--warc-file records HTTP/1.1 exchanges"));
}

#[test]
fn after_kill_9_every_whole_record_reads_and_a_resumed_run_writes_a_new_file() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("killed");
    let record = dir.path().join("records.jsonl");
    // Small pages first, then slow bodies (a 4 KiB piece every 20 ms) the kill cuts.
    let list: String = (1..=4)
        .map(|i| server.url(&format!("/bytes/{i}")) + "\n")
        .chain((0..3).map(|i| server.url(&format!("/ranged/{}", 400_000 + i)) + "\n"))
        .collect();
    let list = temp_file(list);
    let run = |resume: bool| {
        let mut cmd = fetchpool();
        // One at a time until the kill: the small pages come first.
        let workers = if resume { "3" } else { "1" };
        cmd.arg(list.path())
            .args(["-w", workers, "--warc-file"])
            .arg(&prefix)
            .arg("--record")
            .arg(&record);
        if resume {
            cmd.arg("--resume");
        }
        cmd
    };
    let first = prefix.with_extension("warc.gz");
    let mut child = run(false)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    crate::common::eventually("the small pages are archived", || {
        std::fs::metadata(&first).is_ok_and(|m| m.len() > 2_000)
            && crate::common::records_in(&record).len() >= 4
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    let before = std::fs::read(&first).unwrap();
    let (kept, _) = records_before_a_tear(&first);
    let responses = kept
        .iter()
        .filter(|r| r.field("WARC-Type") == "response")
        .count();
    assert!(responses >= 4, "every whole record reads: {responses}");

    let out = run(true).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(
        std::fs::read(&first).unwrap(),
        before,
        "the first file is untouched"
    );
    let second = dir.path().join("killed-00001.warc.gz");
    warcio_checks(&second);
    let resumed = records(&second)
        .iter()
        .filter(|r| r.field("WARC-Type") == "response")
        .count();
    assert_eq!(resumed, 3, "the lines not fetched before");
}

#[test]
fn identical_payloads_are_revisits_and_the_index_is_what_cdxj_indexer_writes() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("dedup");
    // The same body three times (two URLs), another once, an error page once.
    let list = temp_file(format!(
        "{}\n{}\n{}\n{}\n{}\n",
        server.url("/bytes/700?a"),
        server.url("/bytes/700?b"),
        server.url("/bytes/700?a"),
        server.url("/bytes/900"),
        server.url("/status/404"),
    ));
    let out = fetchpool()
        .arg(list.path())
        .args(["-w", "1", "--warc-cdx", "--warc-file"])
        .arg(&prefix)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let warc = dir.path().join("dedup.warc.gz");
    warcio_checks(&warc);
    let records = records(&warc);
    let of_type = |t: &'static str| records.iter().filter(move |r| r.field("WARC-Type") == t);
    assert_eq!(
        of_type("response").count(),
        3,
        "700 bytes once, 900, the 404"
    );
    let revisits: Vec<&Record> = of_type("revisit").collect();
    assert_eq!(revisits.len(), 2);
    let first = of_type("response")
        .find(|r| r.field("WARC-Target-URI") == server.url("/bytes/700?a"))
        .unwrap();
    for revisit in &revisits {
        assert_eq!(
            revisit.field("WARC-Profile"),
            "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
        );
        assert_eq!(
            revisit.field("WARC-Refers-To-Target-URI"),
            server.url("/bytes/700?a")
        );
        assert_eq!(
            revisit.field("WARC-Refers-To-Date"),
            first.field("WARC-Date")
        );
        assert_eq!(
            revisit.field("WARC-Refers-To"),
            first.field("WARC-Record-ID")
        );
        assert_eq!(
            revisit.field("WARC-Payload-Digest"),
            first.field("WARC-Payload-Digest")
        );
        assert!(revisit.http_body().is_empty(), "headers only");
    }
    // The index, compared with cdxj-indexer's (sorted) for the same file.
    let ours = std::fs::read_to_string(dir.path().join("dedup.cdxj")).unwrap();
    let theirs = Command::new(python_tool("cdxj-indexer"))
        .arg("-s")
        .arg(&warc)
        .output()
        .unwrap();
    assert!(theirs.status.success());
    assert_eq!(ours, String::from_utf8(theirs.stdout).unwrap());
    assert_eq!(ours.lines().count(), 5);

    // A later run given this index refers to the earlier captures.
    let later = dir.path().join("later");
    let out = fetchpool()
        .arg(server.url("/bytes/700?c"))
        .arg("--warc-dedup")
        .arg(dir.path().join("dedup.cdxj"))
        .arg("--warc-file")
        .arg(&later)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let later_records = self::records(&dir.path().join("later.warc.gz"));
    let revisit = later_records
        .iter()
        .find(|r| r.field("WARC-Type") == "revisit")
        .expect("a revisit of the earlier capture");
    assert_eq!(
        revisit.field("WARC-Refers-To-Target-URI"),
        server.url("/bytes/700?a")
    );
    let earlier_date = first.field("WARC-Date");
    assert_eq!(
        revisit.field("WARC-Refers-To-Date"),
        format!("{}Z", &earlier_date[..19]),
        "to the second, as the index keeps it"
    );
}

#[test]
fn a_crawl_saving_bodies_archives_every_request_it_made_once_and_the_files_agree() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("crawl");
    let saved = dir.path().join("pages");
    let out = fetchpool()
        .arg(server.url("/site/0.html"))
        .args(["--crawl", "--no-proxy", "--depth", "2", "-w", "4", "-d"])
        .arg(&saved)
        .arg("--warc-file")
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(out.status.code().unwrap() <= 1, "{}", stderr_of(&out));
    let path = dir.path().join("crawl.warc.gz");
    warcio_checks(&path);
    let records = records(&path);
    let mut archived: Vec<String> = records
        .iter()
        .filter(|r| matches!(r.field("WARC-Type"), "response" | "revisit"))
        .map(|r| r.field("WARC-Target-URI").to_string())
        .collect();
    archived.sort();
    // What the server answered, robots.txt aside (it is not archived).
    let mut asked: Vec<String> = server
        .log()
        .into_iter()
        .map(|(_, path)| server.url(&path))
        .filter(|url| !url.ends_with("/robots.txt"))
        .collect();
    asked.sort();
    assert!(asked.len() > 10, "a crawl of some pages: {}", asked.len());
    assert_eq!(archived, asked, "every exchange once");
    // The seed's body as saved by -d and as archived.
    let seed = records
        .iter()
        .find(|r| {
            r.field("WARC-Type") == "response"
                && r.field("WARC-Target-URI") == server.url("/site/0.html")
        })
        .expect("the seed");
    let host = server.base_url().trim_start_matches("http://").to_string();
    let on_disk = std::fs::read(saved.join(host).join("site/0.html")).expect("saved by -d");
    assert_eq!(seed.http_body(), &on_disk[..]);
}

#[test]
fn head_requests_are_archived_and_each_shard_writes_its_own_file() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = (1..=6)
        .map(|n| server.url(&format!("/bytes/{}", n * 100)))
        .collect();
    let list = temp_file(urls.iter().map(|u| format!("{u}\n")).collect::<String>());
    let mut archived = Vec::new();
    for shard in 0..2 {
        let prefix = dir.path().join(format!("shard-{shard}"));
        let out = fetchpool()
            .arg(list.path())
            .args(["-I", "--shard", &format!("{shard}/2"), "--warc-file"])
            .arg(&prefix)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        let path = dir.path().join(format!("shard-{shard}.warc.gz"));
        warcio_checks(&path);
        for record in records(&path) {
            match record.field("WARC-Type") {
                "request" => assert!(
                    String::from_utf8_lossy(&record.block).starts_with("HEAD /bytes/"),
                    "{}",
                    String::from_utf8_lossy(&record.block)
                ),
                "response" => {
                    assert!(record.http_body().is_empty(), "a HEAD answer has no body");
                    archived.push(record.field("WARC-Target-URI").to_string());
                }
                _ => {}
            }
        }
    }
    archived.sort();
    let mut expected = urls.clone();
    expected.sort();
    assert_eq!(
        archived, expected,
        "the shards' files together: each URL once"
    );
}

#[test]
fn a_body_cut_by_the_timeout_or_max_size_says_why_and_chunked_bodies_read_whole() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("cut");
    let list = temp_file(format!(
        "{}\n{}\n{}\n",
        server.url("/drip/20"),
        server.url("/bytes/50000"),
        server.url("/chunked/3000"),
    ));
    let out = fetchpool()
        .arg(list.path())
        .args(["--timeout", "1", "--max-size", "10000", "--retries", "0"])
        .arg("--warc-file")
        .arg(&prefix)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let path = dir.path().join("cut.warc.gz");
    warcio_checks(&path);
    let records = records(&path);
    let response = |url: &str| {
        records
            .iter()
            .find(|r| r.field("WARC-Type") == "response" && r.field("WARC-Target-URI") == url)
            .unwrap_or_else(|| panic!("a response record for {url}"))
    };
    let dripped = response(&server.url("/drip/20"));
    assert_eq!(dripped.field("WARC-Truncated"), "time");
    assert!(dripped.http_body().len() < 1000);
    assert!(dripped.http_body().iter().all(|&b| b == b'd'));
    let big = response(&server.url("/bytes/50000"));
    assert_eq!(big.field("WARC-Truncated"), "length");
    assert!(big.http_body().len() <= 10_000 + 64 * 1024);
    let chunked = response(&server.url("/chunked/3000"));
    assert_eq!(chunked.field("WARC-Truncated"), "");
    assert_eq!(chunked.http_body(), &[b'y'; 3000][..]);
    assert!(
        chunked
            .http_head()
            .contains("\r\nX-Fetchpool-Transfer-Encoding: chunked\r\n"),
        "{}",
        chunked.http_head()
    );
}
