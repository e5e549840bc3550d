//! The record schema, written and read back: every kind of record the run writes (and a
//! crawl's queued note) goes to a record file, which every reader then reads: `--resume`,
//! a resumed crawl, and `fetchpool report` (its summary and its JSON lines).

use std::sync::Arc;
use std::time::Duration;

use crate::common::{fetchpool, stdout_of};
use fetchpool::crawl::Redirected;
use fetchpool::fetch::{FetchError, Page};
use fetchpool::record::resume::{Resumed, open_output};
use fetchpool::record::{Outcome, Record, RecordLine, queued_json};
use fetchpool::shard::{Shard, ShardBy};

/// One record of each kind, on lines 1.., with every optional field somewhere.
fn every_kind() -> Vec<Record> {
    let page = Page {
        status: 200,
        bytes: 2048,
        final_url: "http://a.test/final".into(),
        content_type: Some("text/html".into()),
        content_length: Some(2048),
        path: Some("out/a.html".into()),
        sha256: Some("ab".repeat(32)),
        resumed_from: Some(1000),
        wire_bytes: Some(900),
        ..Page::default()
    };
    let redirect = Page {
        status: 302,
        location: Some("http://a.test/there".into()),
        ..Page::default()
    };
    let outcomes = [
        Outcome::Fetched(page),
        Outcome::Fetched(redirect),
        Outcome::Kept("out/kept.html".into()),
        Outcome::Disallowed,
        Outcome::Failed(FetchError::Timeout(Duration::from_secs(3))),
        Outcome::Failed(FetchError::HttpStatus {
            code: 404,
            reason: "Not Found".into(),
            retry_after: None,
        }),
        Outcome::Cancelled,
        Outcome::Invalid(FetchError::InvalidUrl("relative URL without a base".into())),
    ];
    outcomes
        .into_iter()
        .enumerate()
        .map(|(i, outcome)| {
            let crawl = i % 2 == 1;
            Record {
                line: i as u64 + 1,
                url: format!("http://a.test/{i}"),
                redirect: matches!(&outcome, Outcome::Fetched(p) if p.location.is_some())
                    .then_some(Redirected::Seen),
                outcome,
                elapsed: Duration::from_millis(12),
                attempts: 2,
                shard: Some(Shard {
                    index: 0,
                    count: 1,
                    by: ShardBy::Line,
                }),
                depth: crawl.then_some(0),
                parent: crawl.then(|| Arc::from("http://a.test/")),
            }
        })
        .collect()
}

#[test]
fn every_kind_of_record_written_is_read_back_by_every_reader() {
    let records = every_kind();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.jsonl");
    let mut text = String::new();
    for record in &records {
        text.push_str(&record.to_json());
        text.push('\n');
    }
    text.push_str(&queued_json("http://a.test/queued", 1, "http://a.test/", 2));
    std::fs::write(&path, &text).unwrap();

    // The schema itself: each written line reads back as what was written.
    for (record, line) in records.iter().zip(text.lines()) {
        let back = RecordLine::parse(line.as_bytes()).expect("a record line");
        let mut written = record.to_line();
        written.at = back.at;
        assert_eq!(back, written, "{line}");
    }

    // --resume: the lines fetched or kept are done; the others are fetched again.
    let (_, fetched, crawl) = open_output(&path, true, true).unwrap();
    for record in &records {
        let expected = if record.ok() {
            Resumed::Fetched
        } else {
            Resumed::No
        };
        assert_eq!(
            fetched.lookup(record.line, &record.url),
            expected,
            "{}",
            record.url
        );
    }
    // A resumed crawl: the queued page (with its depth, parent and hops) is its frontier.
    assert_eq!(
        crawl.frontier,
        vec![(
            "http://a.test/queued".to_string(),
            1,
            "http://a.test/".to_string(),
            2
        )]
    );
    assert_eq!(crawl.seen.len(), records.len() + 1);

    // fetchpool report -f jsonl: every final record, as written, the note left out.
    let out = fetchpool()
        .args(["report", "-f", "jsonl"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = stdout_of(&out);
    let printed: Vec<&str> = stdout.lines().collect();
    let text_lines: Vec<&str> = text.lines().take(records.len()).collect();
    assert_eq!(printed, text_lines);
    // Its summary counts each result as the run's tally did.
    let out = fetchpool().arg("report").arg(&path).output().unwrap();
    let summary = stdout_of(&out);
    for row in [
        "fetched",
        "failed",
        "  timeout",
        "  http_status",
        "skipped",
        "  file exists",
        "  robots.txt",
        "cancelled",
        "invalid",
        "  invalid_url",
    ] {
        assert!(summary.contains(row), "{row}: {summary}");
    }
    assert!(summary.contains("8 records: 8 final"), "{summary}");
}
