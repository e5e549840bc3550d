//! `--compressed` and `--max-size`: bodies in gzip, br, zstd and deflate are decoded,
//! their wire size kept, and a decompression bomb is stopped at the limit.

use crate::common::{MockServer, Scripted, fetchpool, jsonl_by_line, run_jsonl, stdout_of};
use assert_cmd::prelude::OutputAssertExt;

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
        let records = run_jsonl(
            fetchpool()
                .args(["--compressed", "-f", "jsonl", &url, "-d"])
                .arg(dir.path()),
            0,
        );
        let record = &records[&1];
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
    let records = run_jsonl(
        fetchpool().args(["-f", "jsonl", &server.url("/encoded/gz")]),
        0,
    );
    let record = &records[&1];
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
    let records = run_jsonl(
        fetchpool()
            .args(["--compressed", "--max-size", "1M", "-f", "jsonl"])
            .arg(server.url("/bomb"))
            .arg("-d")
            .arg(dir.path()),
        1,
    );
    let record = &records[&1];
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
    let records = run_jsonl(
        fetchpool().args([
            "--max-size",
            "100",
            "-f",
            "jsonl",
            &server.url("/bytes/5000"),
        ]),
        1,
    );
    assert_eq!(records[&1]["error_kind"], "too_large");
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

/// A zstd frame that declares a huge window and then repeats one byte in RLE blocks of
/// 128 KiB: a few kilobytes on the wire that a decoder holding the whole window would turn
/// into gigabytes. `descriptor` and `window` are the frame header's bytes after the magic.
fn zstd_window_bomb(header: &[u8], blocks: usize) -> Vec<u8> {
    let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd];
    frame.extend_from_slice(header);
    for i in 0..blocks {
        // Block header: RLE (type 1), 128 KiB, last only at the end; then the byte.
        let last = u32::from(i + 1 == blocks);
        let header = last | (1 << 1) | ((128 * 1024) << 3);
        frame.extend_from_slice(&header.to_le_bytes()[..3]);
        frame.push(b'A');
    }
    frame
}

/// Runs `--compressed` on an answer with `encoding` and `body`; returns the exit code and
/// the record.
fn fetch_encoded(encoding: &str, body: Vec<u8>, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let server = MockServer::start();
    server.script(
        "/encoded-body",
        Scripted::new(200, &format!("Content-Encoding: {encoding}\r\n"), body),
    );
    let out = fetchpool()
        .args(["--compressed", "-f", "jsonl", "--timeout", "20"])
        .args(args)
        .arg(server.url("/encoded-body"))
        .output()
        .unwrap();
    let record = jsonl_by_line(&stdout_of(&out))[&1].clone();
    (out.status.code(), record)
}

#[test]
fn a_zstd_frame_asking_for_a_huge_window_is_refused_as_decode() {
    // Window exponent 31 (a 2 TiB window), no content size: 32 KB that a decoder keeping
    // its window would hold as 1 GB (--max-size does not stop it: nothing is output until
    // the window is full).
    let bomb = zstd_window_bomb(&[0x00, 0xf8], 8000);
    let (code, record) = fetch_encoded("zstd", bomb, &["--max-size", "1M"]);
    assert_eq!(code, Some(1));
    assert_eq!(record["error_kind"], "decode", "{record}");
    assert!(
        record["error"].as_str().unwrap().contains("zstd"),
        "{record}"
    );
    // Single_Segment: no window descriptor, the window is the content size (4 GiB here).
    let mut header = vec![0xe0];
    header.extend_from_slice(&(4u64 << 30).to_le_bytes());
    let (code, record) = fetch_encoded("zstd", zstd_window_bomb(&header, 100), &[]);
    assert_eq!(code, Some(1));
    assert_eq!(record["error_kind"], "decode", "{record}");
}

#[test]
fn a_zstd_frame_with_an_8_mib_window_is_decoded() {
    // Exponent 13: an 8 MiB window, the most RFC 9659 lets an HTTP encoder use.
    let frame = zstd_window_bomb(&[0x00, 13 << 3], 64);
    let (code, record) = fetch_encoded("zstd", frame, &[]);
    assert_eq!(code, Some(0), "{record}");
    assert_eq!(record["bytes"], 64 * 128 * 1024, "{record}");
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/compressed")
            .join(name),
    )
    .unwrap()
}

#[test]
fn a_large_window_brotli_stream_is_refused_as_decode() {
    // 414 bytes for 512 MiB of zeros in a 1 GiB window (not RFC 7932 brotli).
    let (code, record) = fetch_encoded("br", fixture_bytes("large-window.br"), &[]);
    assert_eq!(code, Some(1));
    assert_eq!(record["error_kind"], "decode", "{record}");
    // The same data in the largest standard window decodes, and --max-size stops it.
    let (code, record) = fetch_encoded("br", fixture_bytes("w24.br"), &["--max-size", "1M"]);
    assert_eq!(code, Some(1));
    assert_eq!(record["error_kind"], "too_large", "{record}");
}

#[test]
fn a_chain_of_more_than_five_encodings_fails_as_decode_without_crashing() {
    for count in [6, 6000] {
        let chain = vec!["br"; count].join(",");
        let (code, record) = fetch_encoded(&chain, b"x".to_vec(), &[]);
        assert_eq!(code, Some(1), "{count} encodings");
        assert_eq!(record["error_kind"], "decode", "{record}");
        assert!(
            record["error"].as_str().unwrap().contains("at most 5"),
            "{record}"
        );
    }
    // Five are decoded: gzip five times over.
    let mut body = b"five layers".to_vec();
    for _ in 0..5 {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &body).unwrap();
        body = gz.finish().unwrap();
    }
    let (code, record) = fetch_encoded("gzip, gzip, gzip, gzip, gzip", body, &[]);
    assert_eq!(code, Some(0), "{record}");
    assert_eq!(record["bytes"], 11);
}

#[test]
fn a_timeout_inside_an_encoded_body_is_a_timeout_and_is_retried() {
    let server = MockServer::start();
    // A zstd body that stops coming after its first blocks.
    let mut stalled = Scripted::new(
        200,
        "Content-Encoding: zstd\r\n",
        zstd_window_bomb(&[0x00, 10 << 3], 10)[..14].to_vec(),
    );
    stalled.length = Some(100_000);
    stalled.stall_ms = 5_000;
    server.script("/stalled", stalled);
    let out = fetchpool()
        .args([
            "--compressed",
            "-f",
            "jsonl",
            "--timeout",
            "1",
            "--retries",
            "1",
        ])
        .args(["--retry-delay", "0.01"])
        .arg(server.url("/stalled"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let record = &jsonl_by_line(&stdout_of(&out))[&1];
    assert_eq!(record["error_kind"], "timeout", "{record}");
    assert_eq!(record["attempts"], 2, "a timeout is retried: {record}");
}
