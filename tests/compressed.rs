//! `--compressed` and `--max-size`: bodies in gzip, br, zstd and deflate are decoded,
//! their wire size kept, and a decompression bomb is stopped at the limit.

mod common;

use assert_cmd::prelude::OutputAssertExt;
use common::{MockServer, fetchpool, jsonl_by_line, stdout_of};

/// The decoded body every `/encoded/EXT` route sends.
const BODY_LEN: u64 = 72_893;

#[test]
fn each_encoding_is_asked_for_and_decoded_with_both_sizes_recorded() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let expected = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/compressed/body.txt"),
    )
    .unwrap();
    for ext in ["gz", "br", "zst", "zz"] {
        let url = server.url(&format!("/encoded/{ext}"));
        let out = fetchpool()
            .args(["--compressed", "-f", "jsonl", &url, "-d"])
            .arg(dir.path())
            .assert()
            .code(0)
            .get_output()
            .clone();
        let record = &jsonl_by_line(&stdout_of(&out))[&1];
        assert_eq!(record["bytes"], BODY_LEN, "{ext}: {record}");
        assert!(
            record["wire_bytes"].as_u64().unwrap() < 6000,
            "{ext}: {record}"
        );
        assert_eq!(
            std::fs::read(dir.path().join(ext)).unwrap(),
            expected,
            "{ext}"
        );
    }
    let requests = server.requests();
    assert!(requests.iter().all(|r| {
        r.to_lowercase()
            .contains("accept-encoding: gzip, br, zstd, deflate")
    }));
}

#[test]
fn without_compressed_nothing_is_asked_for_and_the_wire_bytes_are_counted() {
    let server = MockServer::start();
    let out = fetchpool()
        .args(["-f", "jsonl", &server.url("/encoded/gz")])
        .assert()
        .code(0)
        .get_output()
        .clone();
    let record = &jsonl_by_line(&stdout_of(&out))[&1];
    assert_eq!(record["bytes"], 5065, "the gzip bytes as received");
    assert!(record.get("wire_bytes").is_none());
    assert!(
        !server.requests()[0]
            .to_lowercase()
            .contains("accept-encoding")
    );
}

#[test]
fn max_size_stops_a_decompression_bomb_at_the_limit() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let out = fetchpool()
        .args(["--compressed", "--max-size", "1M", "-f", "jsonl"])
        .arg(server.url("/bomb"))
        .arg("-d")
        .arg(dir.path())
        .assert()
        .code(1)
        .get_output()
        .clone();
    let record = &jsonl_by_line(&stdout_of(&out))[&1];
    assert_eq!(record["error_kind"], "too_large", "{record}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing kept"
    );
}

#[test]
fn max_size_refuses_an_announced_length_before_reading() {
    let server = MockServer::start();
    let out = fetchpool()
        .args([
            "--max-size",
            "100",
            "-f",
            "jsonl",
            &server.url("/bytes/5000"),
        ])
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert_eq!(
        jsonl_by_line(&stdout_of(&out))[&1]["error_kind"],
        "too_large"
    );
    fetchpool()
        .args(["--max-size", "5000", &server.url("/bytes/5000")])
        .assert()
        .code(0);
}

#[test]
fn sizes_out_of_range_or_unknown_units_are_usage_errors() {
    for size in ["-1", "10X", "2000P", "99999999999999999999", ""] {
        fetchpool().args(["--max-size", size]).assert().code(2);
    }
}
