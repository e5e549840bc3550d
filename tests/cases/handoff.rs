//! `--handoff DIR`: the shards of a crawl over several loopback hosts (the mesh of
//! `tests/common/mesh.rs`) hand each other the links to hosts they do not own, run in
//! rounds until `fetchpool report --handoff` says nothing is left, and between them fetch
//! every page reachable from the seeds exactly once, as one process would.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::mesh::{self, HOSTS, Mesh};
use crate::common::{eventually, fetchpool, stderr_of, stdout_of, temp_file, wait_bounded};

/// The seeds: the first page of every host.
fn seeds_of(mesh: &Mesh) -> Vec<String> {
    (0..HOSTS).map(|h| mesh.page(h, 0)).collect()
}

/// Shard `k` of `n`'s command, its records in `dir/rec-K.jsonl`, handing off in
/// `dir/handoff`.
fn shard(list: &Path, dir: &Path, k: u32, n: u32, extra: &[&str]) -> Command {
    let mut cmd = fetchpool();
    cmd.arg(list)
        .args(["--crawl", "--no-proxy", "--shard-by", "host", "--resume"])
        .args(["--shard", &format!("{k}/{n}")])
        .arg("--handoff")
        .arg(dir.join("handoff"))
        .arg("--record")
        .arg(record(dir, k))
        .args(["-f", "jsonl", "--no-progress"])
        .args(extra);
    cmd
}

fn record(dir: &Path, k: u32) -> PathBuf {
    dir.join(format!("rec-{k}.jsonl"))
}

/// A crawl ran to its end (exit 1: some page failed, as a crawl's broken links do).
fn assert_ran(out: &Output) {
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        stderr_of(out)
    );
}

/// `fetchpool report --handoff DIR` over the shards' record files.
fn report(dir: &Path, n: u32) -> Output {
    fetchpool()
        .arg("report")
        .arg("--handoff")
        .arg(dir.join("handoff"))
        .args((0..n).map(|k| record(dir, k)))
        .output()
        .unwrap()
}

/// Runs rounds of all `n` shards (one after the other) until the report says nothing is
/// left; returns how many rounds it took.
fn rounds(list: &Path, dir: &Path, n: u32, extra: &[&str]) -> usize {
    for round in 1..=20 {
        for k in 0..n {
            let out = shard(list, dir, k, n, extra).output().unwrap();
            assert!(
                out.status.code().is_some_and(|c| c <= 1),
                "round {round}, shard {k}: {}",
                stderr_of(&out)
            );
        }
        let out = report(dir, n);
        match out.status.code() {
            Some(0) => {
                assert!(stdout_of(&out).contains("every handed-off link is consumed"));
                return round;
            }
            Some(1) => assert!(
                stdout_of(&out).contains("not consumed yet"),
                "{}",
                stdout_of(&out)
            ),
            other => panic!("report exited {other:?}: {}", stderr_of(&out)),
        }
    }
    panic!("the crawl did not end in 20 rounds");
}

/// The final record of each URL in the shards' record files (queued notes aside): every
/// URL must have exactly one.
fn records(dir: &Path, n: u32) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for k in 0..n {
        let text = std::fs::read_to_string(record(dir, k)).unwrap();
        let mut last = BTreeMap::new();
        for line in text.lines().skip(1) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v["result"] == "queued" || v.get("url").is_none() {
                continue;
            }
            last.insert(v["url"].as_str().unwrap().to_string(), v);
        }
        for (url, v) in last {
            assert!(
                out.insert(url.clone(), v).is_none(),
                "{url} recorded by two shards"
            );
        }
    }
    out
}

#[test]
fn shards_hand_off_links_in_rounds_and_together_fetch_each_page_once() {
    let mesh = Mesh::start();
    let dir = tempfile::tempdir().unwrap();
    // One seed: every other host is reached only through links from another host (so
    // through handoffs), in scope with --scope any.
    let seeds = vec![mesh.page(0, 0)];
    let list = temp_file(format!("{}\n", seeds[0]));
    let n = 3;
    let args = ["--depth", "1000", "-w", "4", "--scope", "any"];
    let rounds = rounds(list.path(), dir.path(), n, &args);
    assert!(rounds >= 2, "links crossed shards: {rounds} round(s)");
    let expected = mesh::reachable(&seeds, 1000, mesh.port);
    let records = records(dir.path(), n);
    assert_eq!(
        records.keys().collect::<BTreeSet<_>>(),
        expected.keys().collect::<BTreeSet<_>>(),
        "every reachable page, nothing else"
    );
    for (url, count) in mesh.requests() {
        assert_eq!(count, 1, "{url} fetched once in the whole crawl");
    }
    // Each page by the shard that owns its host, and a redirect to another shard's host
    // handed off.
    for (url, v) in &records {
        let owner = v["shard"].as_str().unwrap();
        let host = url::Url::parse(url)
            .unwrap()
            .host_str()
            .unwrap()
            .to_string();
        let same_host: BTreeSet<&str> = records
            .iter()
            .filter(|(u, _)| url::Url::parse(u).unwrap().host_str() == Some(&host))
            .map(|(_, v)| v["shard"].as_str().unwrap())
            .collect();
        assert_eq!(same_host.len(), 1, "{host}'s pages in one shard ({owner})");
    }
    assert!(
        records.values().any(|v| v["redirect"] == "handed_off"),
        "a redirect to another shard's host"
    );

    // One process crawling the same seeds with the same scope and depth fetches the same.
    let alone = Mesh::start();
    let alone_list = temp_file(format!("{}\n", alone.page(0, 0)));
    let out = fetchpool()
        .arg(alone_list.path())
        .args(["--crawl", "--no-proxy", "-f", "jsonl"])
        .args(args)
        .output()
        .unwrap();
    assert_ran(&out);
    let one: BTreeSet<String> = stdout_of(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["url"]
                .as_str()
                .unwrap()
                .replace(&format!(":{}/", alone.port), &format!(":{}/", mesh.port))
        })
        .collect();
    assert_eq!(one, records.keys().cloned().collect::<BTreeSet<_>>());
}

#[test]
fn every_page_is_fetched_at_its_shortest_depth_however_the_shards_found_it() {
    // From one seed, most pages are found first through long paths within a shard;
    // rounds that go one level at a time still give each page its shortest depth, so
    // a --depth that cuts the crawl short cuts it where one breadth-first crawl would.
    let mesh = Mesh::start();
    let seeds = vec![mesh.page(0, 0)];
    let list = temp_file(format!("{}\n", seeds[0]));
    for depth in [1, 3] {
        let dir = tempfile::tempdir().unwrap();
        let n = 3;
        let depth_arg = depth.to_string();
        let args = ["--depth", &depth_arg, "-w", "3", "--scope", "any"];
        let rounds = rounds(list.path(), dir.path(), n, &args);
        assert!(rounds as u32 > depth, "a level a round: {rounds}");
        let expected = mesh::reachable(&seeds, depth, mesh.port);
        let depths: BTreeMap<String, u32> = records(dir.path(), n)
            .iter()
            .map(|(url, v)| (url.clone(), v["depth"].as_u64().unwrap() as u32))
            .collect();
        assert_eq!(depths, expected, "depth {depth}: each page at its depth");
    }
}

#[test]
fn a_shard_killed_mid_round_resumes_and_the_crawl_still_fetches_each_page_once() {
    let mesh = Mesh::start();
    let dir = tempfile::tempdir().unwrap();
    let seeds = seeds_of(&mesh);
    let list = temp_file(seeds.iter().map(|s| format!("{s}\n")).collect::<String>());
    let n = 2;
    // One fetch every 200 ms: the killed run has a second or more of work left.
    let slow = ["--depth", "1000", "-w", "1", "--rate", "5"];
    // A whole round (the seeds), then a second in which shard 0 runs whole and shard 1
    // (the pages at depth 1 of its hosts) is killed after two pages.
    let fetched = |k: u32| {
        std::fs::read_to_string(record(dir.path(), k))
            .map_or(0, |t| t.matches("\"result\":\"fetched\"").count())
    };
    for k in 0..n {
        let out = shard(list.path(), dir.path(), k, n, &[]).output().unwrap();
        assert_ran(&out);
    }
    let out = shard(list.path(), dir.path(), 0, n, &[]).output().unwrap();
    assert_ran(&out);
    let before = fetched(1);
    let consumed = std::fs::read(dir.path().join("handoff/1/.consumed.json")).unwrap();
    let mut child = shard(list.path(), dir.path(), 1, n, &slow)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    eventually("shard 1 records two pages", || fetched(1) >= before + 2);
    assert!(
        child.try_wait().unwrap().is_none(),
        "shard 1 still had pages to fetch when it was killed"
    );
    child.kill().unwrap();
    wait_bounded(child);
    assert_eq!(
        std::fs::read(dir.path().join("handoff/1/.consumed.json")).unwrap(),
        consumed,
        "a killed run consumed nothing"
    );
    // Then rounds until the end, the killed shard resumed.
    rounds(list.path(), dir.path(), n, &["--depth", "1000", "-w", "4"]);
    let expected = mesh::reachable(&seeds, 1000, mesh.port);
    let records = records(dir.path(), n);
    assert_eq!(
        records.keys().collect::<BTreeSet<_>>(),
        expected.keys().collect::<BTreeSet<_>>()
    );
    // At most the page in flight when the shard was killed is asked for twice.
    let twice: Vec<_> = mesh
        .requests()
        .into_iter()
        .filter(|(_, c)| *c > 1)
        .collect();
    assert!(twice.len() <= 1, "{twice:?}");
}

#[test]
fn handoff_files_are_untrusted_and_read_line_by_line() {
    let mesh = Mesh::start();
    let dir = tempfile::tempdir().unwrap();
    let n = 2;
    // Shard 0's hosts and shard 1's (the shards split the mesh's hosts by hash).
    let owner = |h: usize| {
        let list = temp_file(format!("{}\n", mesh.page(h, 0)));
        let out = fetchpool()
            .arg(list.path())
            .args([
                "--shard",
                "0/2",
                "--shard-by",
                "host",
                "-f",
                "jsonl",
                "--no-proxy",
            ])
            .output()
            .unwrap();
        if stdout_of(&out).is_empty() { 1 } else { 0 }
    };
    let mine = (0..HOSTS)
        .find(|&h| owner(h) == 0)
        .expect("a host of shard 0");
    let theirs = (0..HOSTS)
        .find(|&h| owner(h) == 1)
        .expect("a host of shard 1");
    let inbox = dir.path().join("handoff/0");
    std::fs::create_dir_all(&inbox).unwrap();
    let line = |url: &str, depth: u32| {
        format!("{{\"url\":\"{url}\",\"depth\":{depth},\"parent\":\"x\"}}\n")
    };
    let mut text = String::new();
    text.push_str(&line(&mesh.page(mine, 3), 1));
    text.push_str("garbage, not JSON\n");
    text.push_str(&format!(
        "{{\"url\":\"{}\",\"depth\":1}}\n",
        "x".repeat(200_000)
    ));
    text.push_str(&line(&mesh.page(theirs, 4), 1)); // not shard 0's host
    text.push_str(&line("ftp://127.0.0.2/file", 1));
    text.push_str(&line(&mesh.page(mine, 5), 2000)); // deeper than --depth
    text.push_str(&line(&mesh.page(mine, 6), 1));
    text.push_str("{\"url\":\"http://127.0.0.2:1/torn");
    std::fs::write(inbox.join("from-1.jsonl"), text).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(inbox.join("from-9.jsonl"))
            .status()
            .unwrap()
            .success()
    );
    // Both shards have done round 1 (the seeds): this is round 2, which fetches depth 1.
    for k in 0..n {
        std::fs::create_dir_all(dir.path().join(format!("handoff/{k}"))).unwrap();
        std::fs::write(dir.path().join(format!("handoff/{k}/.level")), "0").unwrap();
    }
    // A seed of shard 0's own, crawled to depth 1.
    let list = temp_file(format!("{}\n", mesh.page(mine, 0)));
    let out = shard(list.path(), dir.path(), 0, n, &["--depth", "1"])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert!(out.status.code().is_some_and(|c| c <= 1), "{err}");
    let records = records(dir.path(), 1);
    assert!(records.contains_key(&mesh.page(mine, 3)), "{records:?}");
    assert!(records.contains_key(&mesh.page(mine, 6)));
    assert!(
        !records.contains_key(&mesh.page(theirs, 4)),
        "another shard's host"
    );
    assert!(!records.contains_key(&mesh.page(mine, 5)), "past --depth");
    assert!(err.contains("1 handed-off link(s) under"), "{err}");
    assert!(err.contains("are of hosts another shard owns"), "{err}");
    assert!(
        err.contains("1 handed-off link(s) are deeper than --depth"),
        "{err}"
    );
    assert!(
        err.contains("3 line(s) of the handoff files are not handoffs"),
        "{err}"
    );
    assert!(err.contains("from-9.jsonl: not a regular file"), "{err}");
    // The torn line is not consumed: once it is whole, the next run takes it.
    let consumed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(inbox.join(".consumed.json")).unwrap())
            .unwrap();
    let whole = std::fs::read(inbox.join("from-1.jsonl")).unwrap();
    let torn_at = whole.iter().rposition(|&b| b == b'\n').unwrap() + 1;
    assert_eq!(consumed["from-1.jsonl"], torn_at as u64);
}

#[test]
fn a_killed_shard_leaves_no_torn_line_it_would_append_to() {
    let mesh = Mesh::start();
    let dir = tempfile::tempdir().unwrap();
    let seeds = seeds_of(&mesh);
    let list = temp_file(seeds.iter().map(|s| format!("{s}\n")).collect::<String>());
    // Shard 0 ran before and was killed mid-line in its file for shard 1.
    let outbox = dir.path().join("handoff/1");
    std::fs::create_dir_all(&outbox).unwrap();
    std::fs::write(
        outbox.join("from-0.jsonl"),
        "{\"url\":\"http://127.0.0.2:1/a",
    )
    .unwrap();
    let out = shard(list.path(), dir.path(), 0, 2, &["--depth", "1000"])
        .output()
        .unwrap();
    assert_ran(&out);
    let text = std::fs::read_to_string(outbox.join("from-0.jsonl")).unwrap();
    assert!(!text.is_empty(), "links handed to shard 1");
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("whole lines only");
        assert!(v["url"].as_str().unwrap().starts_with("http://127.0.0."));
        assert!(v["depth"].as_u64().is_some());
    }
    // Each link once, however many pages link to it.
    let urls: Vec<&str> = text.lines().collect();
    let distinct: BTreeSet<&str> = urls.iter().copied().collect();
    assert_eq!(urls.len(), distinct.len());
}

#[test]
fn handoff_needs_a_sharded_crawl_with_a_record_file() {
    let list = temp_file("http://127.0.0.1:9/\n");
    for args in [
        &[
            "--handoff",
            "h",
            "--record",
            "r.jsonl",
            "--shard",
            "0/2",
            "--shard-by",
            "host",
        ][..],
        &["--handoff", "h", "--record", "r.jsonl", "--crawl"][..],
        &[
            "--handoff",
            "h",
            "--crawl",
            "--shard",
            "0/2",
            "--shard-by",
            "host",
        ][..],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = fetchpool()
            .current_dir(dir.path())
            .arg(list.path())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr_of(&out);
        assert!(
            ["--crawl", "--shard", "--record"]
                .iter()
                .any(|flag| err.contains(flag)),
            "{err}"
        );
        assert!(!dir.path().join("h").exists(), "nothing written");
    }
}

#[test]
fn a_link_planted_in_the_handoff_folder_never_makes_a_shard_write_elsewhere() {
    let mesh = Mesh::start();
    let dir = tempfile::tempdir().unwrap();
    let precious = dir.path().join("precious.txt");
    std::fs::write(&precious, "keep me, even my torn last line").unwrap();
    let outbox = dir.path().join("handoff/1");
    std::fs::create_dir_all(&outbox).unwrap();
    std::os::unix::fs::symlink(&precious, outbox.join("from-0.jsonl")).unwrap();
    let list = temp_file(format!("{}\n", mesh.page(0, 0)));
    let out = shard(list.path(), dir.path(), 0, 2, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("handoff"), "{}", stderr_of(&out));
    assert_eq!(
        std::fs::read_to_string(&precious).unwrap(),
        "keep me, even my torn last line"
    );
}
