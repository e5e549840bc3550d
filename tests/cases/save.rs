//! Keeping what is fetched (`-d DIR`): names, hostile names, atomic files, `--no-clobber`,
//! `--checksum`, the `HOST/PATH` layout. Against the mock server; bodies compared by digest.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::{
    MockServer, Scripted, fetchpool, jsonl_by_line, run_jsonl, stderr_of, stdout_of, temp_file,
};
use assert_cmd::prelude::OutputAssertExt;
use sha2::{Digest, Sha256};

/// Every file under `dir` (relative path, size), hidden ones included.
fn files(dir: &Path) -> BTreeMap<String, u64> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, u64>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, entry.metadata().unwrap().len());
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

fn sha256_of(path: &Path) -> String {
    let digest = Sha256::digest(std::fs::read(path).unwrap());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn each_body_is_saved_under_its_name_and_its_digest_is_recorded() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("pages");
    let list = temp_file(format!(
        "{}\n{}\tchosen name.txt\n{}\n",
        server.url("/bytes/1000"),
        server.url("/bytes/20"),
        server.url("/"),
    ));
    let records = run_jsonl(
        fetchpool().arg(list.path()).arg("-d").arg(&out_dir).args([
            "--checksum",
            "sha256",
            "-f",
            "jsonl",
            "--accept",
            "404",
        ]),
        0,
    );
    let saved = files(&out_dir);
    assert_eq!(
        saved,
        BTreeMap::from([
            ("1000".to_string(), 1000),
            ("chosen name.txt".to_string(), 20),
            ("index.html".to_string(), 9),
        ])
    );
    for record in records.values() {
        let path = Path::new(record["path"].as_str().unwrap());
        assert_eq!(record["sha256"], sha256_of(path), "{record}");
    }
}

#[test]
fn hostile_names_stay_inside_the_directory_and_every_line_gets_its_record() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let lines = [
        format!("{}\t../escape", server.url("/bytes/1")),
        format!("{}\t/etc/passwd-copy", server.url("/bytes/2")),
        format!("{}\ta/../../b", server.url("/bytes/3")),
        server.url("/bytes/4/..%2F..%2Fevil"),
        server.url("/bytes/5/%2e%2e"),
        server.url("/bytes/6/a%00b%0Ac"),
        format!("{}/{}", server.url("/bytes/7"), "n".repeat(3000)),
    ];
    let list = temp_file(lines.join("\n") + "\n");
    let out = fetchpool()
        .arg(list.path())
        .arg("-d")
        .arg(&out_dir)
        .args(["-f", "jsonl"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let records = jsonl_by_line(&stdout_of(&out));
    assert_eq!(records.len(), lines.len(), "one record per line");
    for line in 1..=3 {
        assert_eq!(records[&line]["error_kind"], "invalid_name", "line {line}");
    }
    let saved = files(&out_dir);
    assert_eq!(saved.len(), 4, "{saved:?}");
    assert!(
        saved
            .keys()
            .all(|name| !name.contains('/') && name.len() <= 200)
    );
    assert!(files(dir.path()).keys().all(|p| p.starts_with("out/")));
}

#[test]
fn equal_names_get_suffixes_in_list_order_and_a_rerun_agrees() {
    let a = MockServer::start();
    let b = MockServer::start_on("127.0.0.2");
    let dir = tempfile::tempdir().unwrap();
    let list = temp_file(format!(
        "{}\n{}\n",
        a.url("/bytes/111"),
        b.url("/bytes/111?other")
    ));
    for _ in 0..2 {
        fetchpool()
            .arg(list.path())
            .arg("-d")
            .arg(dir.path())
            .assert()
            .code(0);
        assert_eq!(
            files(dir.path()),
            BTreeMap::from([("111".to_string(), 111), ("111.1".to_string(), 111)])
        );
    }
}

#[test]
fn a_failed_fetch_leaves_no_file_under_any_name() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let list = temp_file(format!(
        "{}\n{}\n{}\n{}\n",
        server.url("/status/404"),
        server.url("/truncate"),
        server.url("/reset"),
        server.url("/drip/200"),
    ));
    let records = run_jsonl(
        fetchpool()
            .arg(list.path())
            .arg("-d")
            .arg(dir.path())
            .args(["-f", "jsonl", "--timeout", "0.5"]),
        1,
    );
    assert_eq!(records.len(), 4);
    assert_eq!(
        files(dir.path()),
        BTreeMap::new(),
        "no final, no partial file"
    );
}

#[test]
fn no_clobber_keeps_existing_files_and_reports_them_skipped() {
    let mut server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("5"), "mine").unwrap();
    let list = temp_file(server.url("/bytes/5") + "\n");
    let records = run_jsonl(
        fetchpool()
            .arg(list.path())
            .arg("-d")
            .arg(dir.path())
            .args(["--no-clobber", "-f", "jsonl"]),
        0,
    );
    let record = &records[&1];
    assert_eq!(record["result"], "skipped");
    assert_eq!(record["ok"], true);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("5")).unwrap(),
        "mine"
    );
    server.expect_no_hits();
}

#[test]
fn checksum_without_a_directory_digests_the_counted_body() {
    let server = MockServer::start();
    let records = run_jsonl(
        fetchpool().args([
            "--checksum",
            "sha256",
            "-f",
            "jsonl",
            &server.url("/bytes/3"),
        ]),
        0,
    );
    let record = &records[&1];
    // sha256("xxx")
    assert_eq!(
        record["sha256"],
        "cd2eb0837c9b4c962c22d2ff8b5441b7b45805887f051d39bf133b583baf6860"
    );
    assert!(record.get("path").is_none());
}

#[test]
fn the_host_layout_saves_under_host_and_path() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("/bytes/12");
    let port = url::Url::parse(&url).unwrap().port().unwrap();
    fetchpool()
        .args(["--layout", "host", &url, "-d"])
        .arg(dir.path())
        .assert()
        .code(0);
    assert_eq!(
        files(dir.path()),
        BTreeMap::from([(format!("127.0.0.1:{port}/bytes/12"), 12)])
    );
}

#[test]
fn head_has_no_body_to_save() {
    fetchpool()
        .args(["-I", "-d", "x", "http://127.0.0.1:1/"])
        .assert()
        .code(2);
    fetchpool()
        .args(["-X", "HEAD", "-d", "x", "http://127.0.0.1:1/"])
        .assert()
        .code(2);
    assert!(!Path::new("x").exists());
}

// ---- --continue ----

/// The `/ranged` and `/norange` bodies' SHA-256 for `len` bytes.
fn pattern_digest(len: u64) -> String {
    let body: Vec<u8> = (0..len).map(crate::common::server::pattern).collect();
    Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Leaves what a killed run would: 5,000 bytes of a partial body for `/…/LEN` in `dir`,
/// and `validator` beside it.
fn plant_partial(dir: &Path, len: u64, validator: &str) {
    std::fs::write(dir.join(format!(".{len}.fetchpool-part")), vec![b'?'; 5000]).unwrap();
    std::fs::write(
        dir.join(format!(".{len}.fetchpool-part.validator")),
        validator,
    )
    .unwrap();
}

#[test]
fn continue_resumes_the_partial_body_of_a_killed_run_with_if_range() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let len = 1_000_000;
    let url = server.url(&format!("/ranged/{len}"));
    let partial = dir.path().join(format!(".{len}.fetchpool-part"));
    let mut child = fetchpool()
        .arg(&url)
        .arg("-d")
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    crate::common::eventually("half the body is on disk", || {
        std::fs::metadata(&partial).is_ok_and(|m| m.len() > 300_000)
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = std::fs::metadata(&partial).unwrap().len();
    assert!(!dir.path().join(len.to_string()).exists());

    let records = run_jsonl(
        fetchpool()
            .args([
                &url,
                "--continue",
                "--checksum",
                "sha256",
                "-f",
                "jsonl",
                "-d",
            ])
            .arg(dir.path()),
        0,
    );
    let record = &records[&1];
    assert_eq!(record["bytes"], len);
    assert!(record["resumed_from"].as_u64().unwrap() >= kept, "{record}");
    assert_eq!(record["sha256"], pattern_digest(len));
    assert_eq!(
        sha256_of(&dir.path().join(len.to_string())),
        pattern_digest(len)
    );
    let second = server.requests()[1].to_lowercase();
    assert!(
        second.contains("range: bytes=") && second.contains("if-range: \"v1\""),
        "{second}"
    );
    assert_eq!(files(dir.path()).len(), 1, "no partial or validator left");
}

#[test]
fn continue_fetches_the_whole_body_again_when_the_server_ignores_range() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let len = 20_000;
    plant_partial(dir.path(), len, "\"v1\"");
    let records = run_jsonl(
        fetchpool()
            .args([
                &server.url(&format!("/norange/{len}")),
                "--continue",
                "-f",
                "jsonl",
                "-d",
            ])
            .arg(dir.path()),
        0,
    );
    let record = &records[&1];
    assert!(record.get("resumed_from").is_none(), "{record}");
    assert_eq!(
        sha256_of(&dir.path().join(len.to_string())),
        pattern_digest(len)
    );
    assert_eq!(files(dir.path()).len(), 1);
}

#[test]
fn continue_fetches_the_whole_body_again_when_the_validator_no_longer_matches() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let len = 20_000;
    plant_partial(dir.path(), len, "\"v0\"");
    fetchpool()
        .args([&server.url(&format!("/ranged/{len}")), "--continue", "-d"])
        .arg(dir.path())
        .assert()
        .code(0);
    assert_eq!(
        sha256_of(&dir.path().join(len.to_string())),
        pattern_digest(len)
    );
}

// ---- hostile folders ----

#[test]
fn a_dir_that_is_a_file_is_a_usage_error() {
    let file = temp_file("not a folder");
    fetchpool()
        .args(["-d"])
        .arg(file.path())
        .arg("http://127.0.0.1:1/")
        .assert()
        .code(2);
    assert_eq!(
        std::fs::read_to_string(file.path()).unwrap(),
        "not a folder"
    );
}

#[test]
fn a_body_never_replaces_the_input_list_or_the_record_file() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list");
    let record = dir.path().join("records");
    std::fs::write(
        &list,
        format!(
            "{}\tlist\n{}\trecords\n{}\n",
            server.url("/bytes/7"),
            server.url("/bytes/8"),
            server.url("/bytes/9")
        ),
    )
    .unwrap();
    let before = std::fs::read_to_string(&list).unwrap();
    let records = run_jsonl(
        fetchpool()
            .arg(&list)
            .arg("--record")
            .arg(&record)
            .args(["-f", "jsonl", "-d"])
            .arg(dir.path()),
        1,
    );
    assert_eq!(records[&1]["error_kind"], "invalid_name");
    assert_eq!(records[&2]["error_kind"], "invalid_name");
    assert_eq!(records[&3]["result"], "fetched");
    assert_eq!(std::fs::read_to_string(&list).unwrap(), before);
    assert_eq!(crate::common::records_in(&record).len(), 3);
}

#[test]
fn a_symlink_planted_at_the_temporary_name_is_replaced_not_followed() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim, dir.path().join(".30.fetchpool-part")).unwrap();
    std::os::unix::fs::symlink(&victim, dir.path().join(".30.fetchpool-part.validator")).unwrap();
    for flags in [&[][..], &["--continue"][..]] {
        let out_dir = dir.path();
        fetchpool()
            .args(flags)
            .args([&server.url("/bytes/30"), "-d"])
            .arg(out_dir)
            .assert()
            .code(0);
        assert!(
            !server.requests().iter().any(|r| r.contains("precious")),
            "a linked file's content never goes to the server"
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }
    assert_eq!(std::fs::metadata(dir.path().join("30")).unwrap().len(), 30);
}

#[test]
fn a_cacert_that_never_ends_is_read_no_further_than_a_bundle_can_be() {
    let mut cmd = fetchpool();
    cmd.args(["--cacert", "/dev/zero", "http://127.0.0.1:1/"]);
    assert_cmd::Command::from_std(cmd)
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(2);
}

/// Runs fetchpool with `args` and `-d dir`, in JSONL: the exit code and the records by
/// line (a crawl's found pages, line 0, by URL instead).
fn run_saving(dir: &Path, args: &[&str]) -> (Option<i32>, Vec<serde_json::Value>, String) {
    let out = fetchpool()
        .args(["-f", "jsonl", "--no-progress"])
        .args(args)
        .arg("-d")
        .arg(dir)
        .output()
        .unwrap();
    let records = stdout_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out.status.code(), records, stderr_of(&out))
}

#[test]
fn a_crawl_in_the_flat_layout_never_replaces_a_file_that_was_there() {
    let server = MockServer::start();
    server.script("/", Scripted::html("<a href=\"/.bashrc\">rc</a>"));
    server.script("/.bashrc", Scripted::new(200, "", "theirs"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".bashrc"), "mine").unwrap();
    let (code, records, err) = run_saving(
        dir.path(),
        &[
            &server.url("/"),
            "--crawl",
            "--layout",
            "flat",
            "--ignore-robots",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(records.len(), 2);
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".bashrc")).unwrap(),
        "mine"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".bashrc.1")).unwrap(),
        "theirs"
    );
}

#[test]
fn in_the_host_layout_a_page_and_a_folder_of_the_same_name_are_both_saved() {
    let server = MockServer::start();
    server.script("/docs", Scripted::html("<a href=\"/docs/intro\">intro</a>"));
    server.script("/docs/intro", Scripted::html("<p>intro</p>"));
    let dir = tempfile::tempdir().unwrap();
    let (code, records, err) = run_saving(
        dir.path(),
        &[&server.url("/docs"), "--crawl", "--ignore-robots"],
    );
    assert_eq!(code, Some(0), "{err}");
    let host = server.base_url().trim_start_matches("http://").to_string();
    let saved = files(dir.path());
    assert!(saved.contains_key(&format!("{host}/docs")), "{saved:?}");
    assert!(
        saved.contains_key(&format!("{host}/docs.1/intro")),
        "{saved:?}"
    );
    for record in &records {
        assert!(
            Path::new(record["path"].as_str().unwrap()).is_file(),
            "{record}"
        );
    }
}

#[test]
fn a_url_cannot_name_another_urls_temporary_file() {
    let server = MockServer::start();
    server.script(
        "/file/.x.fetchpool-part",
        Scripted::new(200, "", "first body"),
    );
    server.script("/file/x", Scripted::new(200, "", "second body, longer"));
    let dir = tempfile::tempdir().unwrap();
    let list = temp_file(format!(
        "{}\n{}\n",
        server.url("/file/.x.fetchpool-part"),
        server.url("/file/x")
    ));
    let (code, records, err) = run_saving(
        dir.path(),
        &[
            list.path().to_str().unwrap(),
            "--checksum",
            "sha256",
            "-w",
            "1",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(files(dir.path()).len(), 2, "{:?}", files(dir.path()));
    for record in &records {
        let path = Path::new(record["path"].as_str().unwrap());
        assert_eq!(
            record["sha256"],
            sha256_of(path),
            "the record states the file's digest"
        );
        assert_eq!(record["bytes"], std::fs::metadata(path).unwrap().len());
    }
}

#[test]
fn a_record_file_with_a_temporary_files_name_is_never_removed() {
    let mut server = MockServer::start();
    server.expect_no_hits();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join(".r.fetchpool-part");
    let url = server.url("/status/200");
    let list = temp_file(format!("{url}\tr\n"));
    let (code, records, err) = run_saving(
        dir.path(),
        &[
            list.path().to_str().unwrap(),
            "--record",
            record.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(records[0]["error_kind"], "invalid_name", "{}", records[0]);
    let kept = std::fs::read_to_string(&record).unwrap();
    assert!(
        kept.contains("invalid_name"),
        "the record file is intact: {kept}"
    );
}

#[test]
fn a_link_to_a_folder_inside_dir_is_never_followed() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("sub")).unwrap();
    let host = server.base_url().trim_start_matches("http://").to_string();
    std::os::unix::fs::symlink(elsewhere.path(), dir.path().join(&host)).unwrap();
    let list = temp_file(format!("{}\tsub/x\n", server.url("/bytes/10")));
    let (code, records, _) = run_saving(dir.path(), &[list.path().to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert_eq!(records[0]["error_kind"], "save", "{}", records[0]);
    assert!(
        records[0]["error"]
            .as_str()
            .unwrap()
            .contains("symbolic link")
    );
    let (code, records, _) =
        run_saving(dir.path(), &[&server.url("/bytes/20"), "--layout", "host"]);
    assert_eq!(code, Some(1));
    assert_eq!(records[0]["error_kind"], "save", "{}", records[0]);
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).unwrap().count(),
        0,
        "nothing written there"
    );
}

#[test]
fn continue_never_appends_to_a_partial_that_has_another_name() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let len = 20_000;
    plant_partial(dir.path(), len, "\"v1\"");
    let linked = other.path().join("precious");
    std::fs::hard_link(dir.path().join(format!(".{len}.fetchpool-part")), &linked).unwrap();
    let (code, records, err) = run_saving(
        dir.path(),
        &[
            &server.url(&format!("/ranged/{len}")),
            "--continue",
            "--checksum",
            "sha256",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(records[0].get("resumed_from").is_none(), "{}", records[0]);
    assert_eq!(records[0]["sha256"], pattern_digest(len));
    assert_eq!(
        std::fs::read(&linked).unwrap(),
        vec![b'?'; 5000],
        "the other name is untouched"
    );
}

#[test]
fn a_partial_body_that_cannot_be_continued_is_not_kept() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    // A truncated body without ETag or Last-Modified: nothing could continue it.
    let (code, records, _) = run_saving(dir.path(), &[&server.url("/truncate"), "--continue"]);
    assert_eq!(code, Some(1));
    assert_eq!(records[0]["error_kind"], "truncated_body");
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
}

/// Leaves what a killed `wget URL` or `curl -o NAME URL` would: the first `kept` bytes of
/// the `/ranged/LEN` body under the final name.
fn plant_visible_partial(dir: &Path, len: u64, kept: u64) -> std::path::PathBuf {
    let path = dir.join(len.to_string());
    let body: Vec<u8> = (0..kept).map(crate::common::server::pattern).collect();
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn continue_appends_to_a_file_another_tool_left_part_way() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let len = 50_000;
    let path = plant_visible_partial(dir.path(), len, 12_345);
    let url = server.url(&format!("/ranged/{len}"));
    let records = run_jsonl(
        fetchpool()
            .args([&url, "-c", "--checksum", "sha256", "-f", "jsonl", "-d"])
            .arg(dir.path()),
        0,
    );
    let record = &records[&1];
    assert_eq!(record["bytes"], len, "{record}");
    assert_eq!(record["resumed_from"], 12_345);
    assert_eq!(record["sha256"], pattern_digest(len));
    assert_eq!(sha256_of(&path), pattern_digest(len));
    let request = server.requests()[0].to_lowercase();
    assert!(request.contains("range: bytes=12345-"), "{request}");
    assert!(
        !request.contains("if-range"),
        "no validator was kept: {request}"
    );
    assert_eq!(files(dir.path()).len(), 1, "nothing beside it");

    // Run again: the file is whole; the server says there is nothing left (416).
    let records = run_jsonl(
        fetchpool()
            .args([&url, "-c", "--checksum", "sha256", "-f", "jsonl", "-d"])
            .arg(dir.path()),
        0,
    );
    let record = &records[&1];
    assert_eq!(
        (&record["result"], &record["bytes"]),
        (&"fetched".into(), &len.into())
    );
    assert_eq!(record["sha256"], pattern_digest(len));
    assert_eq!(sha256_of(&path), pattern_digest(len), "unchanged");
}

#[test]
fn continue_never_truncates_a_visible_file_it_cannot_continue() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let len = 20_000;
    // A server that ignores Range: fetching it whole would replace the user's bytes.
    let path = plant_visible_partial(dir.path(), len, 5_000);
    let out = fetchpool()
        .args([&server.url(&format!("/norange/{len}")), "-c", "-d"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = stdout_of(&out);
    assert!(
        text.contains("the server sent the whole body, not the rest from byte 5000"),
        "{text}"
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        5_000,
        "kept as it was"
    );

    // A file longer than the body is not a part of it.
    std::fs::write(&path, vec![b'x'; 30_000]).unwrap();
    let out = fetchpool()
        .args([&server.url(&format!("/ranged/{len}")), "-c", "-d"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout_of(&out).contains("the server's body is 20000 bytes"),
        "{}",
        stdout_of(&out)
    );
    assert_eq!(std::fs::read(&path).unwrap(), vec![b'x'; 30_000]);
    assert_eq!(files(dir.path()).len(), 1);
}
