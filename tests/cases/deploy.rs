//! The recipes for many machines, run as written: the Kubernetes Indexed Job's command
//! line (read from its YAML), the Slurm array script, the README's GNU parallel block, and
//! the Dockerfile's build inputs. Each runs every shard against the mock server on
//! 127.0.0.1, then `fetchpool report --list` proves each line was done exactly once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::mesh::{self, Mesh};
use crate::common::{MockServer, fetchpool, scrub, stderr_of, stdout_of};
use yaml_rust2::{Yaml, YamlLoader};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A list of `n` URLs of `server`, written to `path`.
fn write_list(server: &MockServer, path: &Path, n: usize) {
    let text: String = (0..n)
        .map(|i| format!("{}\n", server.url(&format!("/bytes/{}?{i}", i % 50))))
        .collect();
    std::fs::write(path, text).unwrap();
}

/// `PATH` with the directory of the fetchpool under test first.
fn path_with_fetchpool() -> std::ffi::OsString {
    let bin = assert_cmd::cargo::cargo_bin!("fetchpool");
    let mut dirs = vec![bin.parent().unwrap().to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

/// `fetchpool report --list LIST FILES...` exits 0 and says every line was done.
fn assert_covered(list: &Path, records: &[PathBuf], lines: usize) {
    let out = fetchpool()
        .arg("report")
        .arg("--list")
        .arg(list)
        .args(records)
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr_of(&out));
    assert!(
        text.contains(&format!("({lines}) has exactly one final record")),
        "{text}"
    );
}

fn record_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn the_kubernetes_indexed_job_runs_its_own_command_line_for_every_index() {
    let text = std::fs::read_to_string(repo("deploy/kubernetes/indexed-job.yaml")).unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap();
    let job = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("Job"))
        .expect("a Job");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    assert!(spec["backoffLimitPerIndex"].as_i64().is_some_and(|n| n > 0));
    assert_eq!(
        spec["template"]["spec"]["restartPolicy"].as_str(),
        Some("Never")
    );
    let completions = spec["completions"].as_i64().unwrap();
    let container = &spec["template"]["spec"]["containers"][0];
    let (command, args, env) = job_container(&text, "fetchpool");
    assert_eq!(command, ["fetchpool"]);
    // The volumes, mapped to folders of a temporary directory.
    let root = tempfile::tempdir().unwrap();
    let mounts: Vec<(String, PathBuf)> = container["volumeMounts"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|m| {
            let local = root.path().join(m["name"].as_str().unwrap());
            std::fs::create_dir_all(&local).unwrap();
            (m["mountPath"].as_str().unwrap().to_string(), local)
        })
        .collect();
    let localise = |arg: &str, index: i64| -> String {
        let mut arg = arg.replace("$(JOB_COMPLETION_INDEX)", &index.to_string());
        assert!(!arg.contains("$("), "an unknown variable in {arg}");
        for (mount, local) in &mounts {
            if let Some(rest) = arg.strip_prefix(mount.as_str()) {
                arg = format!("{}{rest}", local.display());
            }
        }
        arg
    };
    // The list is the ConfigMap's urls.txt: the first argument, under its mount.
    let server = MockServer::start();
    let list = PathBuf::from(localise(&args[0], 0));
    write_list(&server, &list, 200);
    let shard_arg = args.iter().position(|a| a == "--shard").unwrap() + 1;
    assert!(
        args[shard_arg].ends_with(&format!("/{completions}")),
        "--shard's N is the Job's completions"
    );
    for index in 0..completions {
        let mut cmd = fetchpool();
        cmd.args(args.iter().map(|a| localise(a, index)))
            .arg("--no-proxy")
            .envs(env.iter().map(|(k, v)| (k, localise(v, index))));
        let out = cmd.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "index {index}: {}",
            stderr_of(&out)
        );
    }
    let records = mounts
        .iter()
        .find(|(m, _)| m == "/records")
        .map(|(_, local)| record_files(local))
        .unwrap();
    assert_eq!(records.len() as i64, completions);
    assert_covered(&list, &records, 200);
}

#[test]
fn the_slurm_array_script_runs_every_task_and_the_report_proves_coverage() {
    let script = repo("deploy/slurm/fetchpool.sbatch");
    let text = std::fs::read_to_string(&script).unwrap();
    let array = text
        .lines()
        .find_map(|l| l.strip_prefix("#SBATCH --array="))
        .expect("an --array directive");
    let (first, last) = array.split_once('-').unwrap();
    let (first, last): (u32, u32) = (first.parse().unwrap(), last.parse().unwrap());
    assert_eq!(first, 0, "shards count from 0");
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("urls.txt");
    write_list(&server, &list, 150);
    for task in first..=last {
        let mut cmd = Command::new("bash");
        scrub(&mut cmd);
        let out = cmd
            .arg(&script)
            .current_dir(dir.path())
            .env("PATH", path_with_fetchpool())
            .env("SLURM_ARRAY_TASK_ID", task.to_string())
            .env("SLURM_ARRAY_TASK_COUNT", (last - first + 1).to_string())
            .env("LIST", &list)
            .env("RECORDS", dir.path().join("records"))
            .env("FETCHPOOL_NO_PROXY", "1")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "task {task}: {}",
            stderr_of(&out)
        );
    }
    let records = record_files(&dir.path().join("records"));
    assert_eq!(records.len() as u32, last - first + 1);
    assert_covered(&list, &records, 150);
}

/// The shell block the README marks as run by this file.
fn readme_block(marker: &str) -> String {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let after = &readme[readme.find(marker).expect("the marker") + marker.len()..];
    let body = after
        .split_once("```sh\n")
        .expect("a sh block after the marker")
        .1;
    body.split_once("```").unwrap().0.to_string()
}

/// Runs a README block that uses GNU parallel in `dir`, as written (`bash -euo pipefail`,
/// the fetchpool under test first on PATH); it must exit 0. Its standard output.
fn run_parallel_block(block: &str, dir: &Path) -> String {
    assert!(
        Command::new("parallel").arg("--version").output().is_ok(),
        "GNU parallel is needed (Debian: apt-get install parallel; .ci/run installs it)"
    );
    let mut cmd = Command::new("bash");
    scrub(&mut cmd);
    let out = cmd
        .args(["-euo", "pipefail", "-c", block])
        .current_dir(dir)
        .env("PATH", path_with_fetchpool())
        .env("FETCHPOOL_NO_PROXY", "1")
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr_of(&out));
    text
}

#[test]
fn the_gnu_parallel_recipe_of_the_readme_runs_as_written() {
    let block = readme_block("<!-- tests/cases/deploy.rs runs this block as written -->");
    assert!(block.contains("| parallel fetchpool"), "{block}");
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    write_list(&server, &dir.path().join("urls.txt"), 100);
    let text = run_parallel_block(&block, dir.path());
    assert!(
        text.contains("(100) has exactly one final record"),
        "{text}"
    );
    assert_eq!(record_files(&dir.path().join("records")).len(), 8);
}

#[test]
fn the_dockerfile_builds_the_shipped_profile_from_the_files_it_copies() {
    let dockerfile = std::fs::read_to_string(repo("Dockerfile")).unwrap();
    // The files the build stage copies are enough for cargo to load the workspace.
    let copy = tempfile::tempdir().unwrap();
    let mut copied = 0;
    for line in dockerfile.lines() {
        let Some(rest) = line.strip_prefix("COPY ") else {
            continue;
        };
        if rest.starts_with("--from") {
            continue;
        }
        let parts: Vec<&str> = rest.split_whitespace().collect();
        let (sources, dest) = parts.split_at(parts.len() - 1);
        for source in sources {
            let target = if dest[0].ends_with('/') {
                copy.path().join(source)
            } else {
                copy.path().join(dest[0])
            };
            let status = Command::new("cp")
                .arg("-r")
                .arg(repo(source))
                .arg(&target)
                .status()
                .unwrap();
            assert!(status.success(), "COPY {source}");
            copied += 1;
        }
    }
    assert!(copied >= 3, "{dockerfile}");
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--locked",
            "--offline",
            "--format-version",
            "1",
            "--no-deps",
        ])
        .current_dir(copy.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    // The profile it builds exists, and the binary comes from that profile's folder.
    let manifest = std::fs::read_to_string(repo("Cargo.toml")).unwrap();
    let profile = dockerfile
        .split("--profile ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("a --profile");
    assert!(
        manifest.contains(&format!("[profile.{profile}]")),
        "{profile}"
    );
    assert!(dockerfile.contains(&format!("target/{profile}/fetchpool")));
    assert!(dockerfile.contains("--locked"));
    // It runs as a user that is not root, with the CA certificates TLS needs.
    let runtime: BTreeMap<&str, &str> = dockerfile
        .rsplit("\nFROM ")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .collect();
    assert!(
        runtime
            .get("USER")
            .is_some_and(|u| !u.starts_with("root") && !u.starts_with('0'))
    );
    assert!(dockerfile.contains("ca-certificates"));
}

#[test]
fn shards_saving_into_one_folder_name_files_as_one_run_would() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("urls.txt");
    // The same last segment three times: the names must not collide across shards.
    let text: String = [5, 6, 5, 7, 5, 6]
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{}\n", server.url(&format!("/bytes/{n}?{i}"))))
        .collect();
    std::fs::write(&list, text).unwrap();
    let paths = |out: &std::process::Output| -> BTreeMap<u64, String> {
        crate::common::jsonl_by_line(&stdout_of(out))
            .into_iter()
            .map(|(l, v)| {
                let p = PathBuf::from(v["path"].as_str().unwrap());
                (l, p.file_name().unwrap().to_string_lossy().into_owned())
            })
            .collect()
    };
    let whole = fetchpool()
        .arg(&list)
        .args(["--no-proxy", "-f", "jsonl", "-d"])
        .arg(dir.path().join("one"))
        .output()
        .unwrap();
    assert_eq!(whole.status.code(), Some(0), "{}", stderr_of(&whole));
    let mut sharded = BTreeMap::new();
    for k in 0..3 {
        let out = fetchpool()
            .arg(&list)
            .args([
                "--no-proxy",
                "-f",
                "jsonl",
                "--shard",
                &format!("{k}/3"),
                "-d",
            ])
            .arg(dir.path().join("shared"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        sharded.extend(paths(&out));
    }
    assert_eq!(sharded, paths(&whole));
    assert_eq!(
        std::fs::read_dir(dir.path().join("shared"))
            .unwrap()
            .count(),
        6
    );
}

/// The distributed crawl's checks, whatever ran it: the report over `records` says the
/// crawl is over, every page reachable from the first page of every host was fetched
/// exactly once in the whole crawl, and each record file is a shard's.
fn assert_crawled_once(mesh: &Mesh, handoff: &Path, records: &[PathBuf]) {
    let out = fetchpool()
        .arg("report")
        .arg("--handoff")
        .arg(handoff)
        .args(records)
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr_of(&out));
    assert!(text.contains("every handed-off link is consumed"), "{text}");
    let mut recorded = std::collections::BTreeSet::new();
    for path in records {
        for line in std::fs::read_to_string(path).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(url) = v["url"].as_str()
                && v["result"] != "queued"
            {
                recorded.insert(url.to_string());
            }
        }
    }
    let seeds: Vec<String> = (0..mesh::HOSTS).map(|h| mesh.page(h, 0)).collect();
    let expected = mesh::reachable(&seeds, 5, mesh.port);
    assert_eq!(
        recorded,
        expected.keys().cloned().collect(),
        "every page in reach, nothing else"
    );
    for (url, count) in mesh.requests() {
        assert_eq!(count, 1, "{url} fetched once in the whole crawl");
    }
}

/// The seeds of a crawl of the mesh: the first page of every host.
fn write_seeds(mesh: &Mesh, path: &Path) {
    let text: String = (0..mesh::HOSTS)
        .map(|h| format!("{}\n", mesh.page(h, 0)))
        .collect();
    std::fs::write(path, text).unwrap();
}

/// A container's command, arguments and environment in a Job of `yaml`, by the Job's name.
fn job_container(yaml: &str, job: &str) -> (Vec<String>, Vec<String>, Vec<(String, String)>) {
    let docs = YamlLoader::load_from_str(yaml).unwrap();
    let job = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("Job") && d["metadata"]["name"].as_str() == Some(job))
        .expect("the Job");
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    let strings = |y: &Yaml| -> Vec<String> {
        y.as_vec()
            .map(|v| v.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let env = container["env"]
        .as_vec()
        .map(|v| {
            v.iter()
                .map(|e| {
                    (
                        e["name"].as_str().unwrap().to_string(),
                        e["value"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (
        strings(&container["command"]),
        strings(&container["args"]),
        env,
    )
}

#[test]
fn the_kubernetes_crawl_rounds_run_until_the_report_job_succeeds() {
    let round = std::fs::read_to_string(repo("deploy/kubernetes/crawl-round.yaml")).unwrap();
    let report = std::fs::read_to_string(repo("deploy/kubernetes/crawl-report.yaml")).unwrap();
    let driver = std::fs::read_to_string(repo("deploy/kubernetes/crawl.sh")).unwrap();
    assert!(driver.contains("crawl-round.yaml") && driver.contains("crawl-report.yaml"));
    assert!(driver.contains("job/fetchpool-crawl ") && driver.contains("fetchpool-crawl-report"));
    let (command, args, env) = job_container(&round, "fetchpool-crawl");
    let (report_command, report_args, _) = job_container(&report, "fetchpool-crawl-report");
    assert!(report_args.is_empty());
    let completions = YamlLoader::load_from_str(&round).unwrap()[1]["spec"]["completions"]
        .as_i64()
        .unwrap();
    // The volumes: the seeds (a ConfigMap) and the crawl's shared folder.
    let root = tempfile::tempdir().unwrap();
    let local = |text: &str, index: i64| -> String {
        let text = text.replace("$(JOB_COMPLETION_INDEX)", &index.to_string());
        assert!(!text.contains("$("), "an unknown variable in {text}");
        text.replace("/seeds/", &format!("{}/seeds/", root.path().display()))
            .replace("/crawl/", &format!("{}/crawl/", root.path().display()))
    };
    std::fs::create_dir_all(root.path().join("seeds")).unwrap();
    std::fs::create_dir_all(root.path().join("crawl/records")).unwrap();
    let mesh = Mesh::start();
    write_seeds(&mesh, &root.path().join("seeds/seeds.txt"));
    let shard_arg = args.iter().position(|a| a == "--shard").unwrap() + 1;
    assert!(args[shard_arg].ends_with(&format!("/{completions}")));
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds <= 20, "the crawl did not end in 20 rounds");
        for index in 0..completions {
            let mut cmd = Command::new(&command[0]);
            scrub(&mut cmd);
            let out = cmd
                .args(command[1..].iter().map(|a| local(a, index)))
                .args(args.iter().map(|a| local(a, index)))
                .envs(env.iter().map(|(k, v)| (k, local(v, index))))
                .env("PATH", path_with_fetchpool())
                .env("FETCHPOOL_NO_PROXY", "1")
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "pod {index}: {}",
                stderr_of(&out)
            );
        }
        let mut cmd = Command::new(&report_command[0]);
        scrub(&mut cmd);
        let out = cmd
            .args(report_command[1..].iter().map(|a| local(a, 0)))
            .env("PATH", path_with_fetchpool())
            .output()
            .unwrap();
        match out.status.code() {
            Some(0) => break,
            Some(1) => continue,
            other => panic!("the report Job exited {other:?}: {}", stderr_of(&out)),
        }
    }
    assert!(rounds >= 2, "links crossed shards");
    let records = record_files(&root.path().join("crawl/records"));
    assert_eq!(records.len() as i64, completions);
    assert_crawled_once(&mesh, &root.path().join("crawl/handoff"), &records);
}

/// A stand-in for Slurm's `sbatch`: an array script's tasks run one after the other (the
/// job id printed), a `--wrap` command runs at once; with `--wait`, its exit code.
const FAKE_SBATCH: &str = r#"#!/usr/bin/env bash
wrap="" script=""
while [ $# -gt 0 ]; do
  case "$1" in
    --wrap=*) wrap=${1#--wrap=}; shift ;;
    --wrap) wrap=$2; shift 2 ;;
    --*) echo "$1" >> "$SBATCH_LOG"; shift ;;
    *) script=$1; shift; break ;;
  esac
done
if [ -n "$wrap" ]; then exec bash -c "$wrap"; fi
array=$(sed -n 's/^#SBATCH --array=//p' "$script")
first=${array%-*} last=${array#*-}
for task in $(seq "$first" "$last"); do
  SLURM_ARRAY_TASK_ID=$task SLURM_ARRAY_TASK_COUNT=$((last - first + 1)) bash "$script" \
    || echo "task $task failed" >> "$SBATCH_LOG"
done
echo 4242
"#;

#[test]
fn the_slurm_crawl_driver_runs_rounds_with_a_dependent_report() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let sbatch = bin.join("sbatch");
    std::fs::write(&sbatch, FAKE_SBATCH).unwrap();
    let mut perms = std::fs::metadata(&sbatch).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&sbatch, perms).unwrap();
    let mesh = Mesh::start();
    write_seeds(&mesh, &dir.path().join("seeds.txt"));
    let mut path = std::ffi::OsString::from(bin.as_os_str());
    path.push(":");
    path.push(path_with_fetchpool());
    let mut cmd = Command::new("bash");
    scrub(&mut cmd);
    let out = cmd
        .arg(repo("deploy/slurm/crawl.sh"))
        .current_dir(dir.path())
        .env("PATH", path)
        .env("SEEDS", dir.path().join("seeds.txt"))
        .env("RECORDS", dir.path().join("records"))
        .env("HANDOFF", dir.path().join("handoff"))
        .env("SBATCH_LOG", dir.path().join("sbatch.log"))
        .env("FETCHPOOL_NO_PROXY", "1")
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr_of(&out));
    assert!(text.contains("the crawl is over after"), "{text}");
    assert!(
        !text.contains("after 1 round(s)"),
        "links crossed shards: {text}"
    );
    let log = std::fs::read_to_string(dir.path().join("sbatch.log")).unwrap();
    assert!(log.contains("--dependency=afterany:4242"), "{log}");
    assert!(!log.contains("failed"), "{log}");
    let records = record_files(&dir.path().join("records"));
    assert_eq!(records.len(), 4);
    assert_crawled_once(&mesh, &dir.path().join("handoff"), &records);
}

#[test]
fn the_gnu_parallel_crawl_of_the_readme_runs_as_written() {
    let block = readme_block("<!-- tests/cases/deploy.rs runs this crawl block as written -->");
    assert!(block.contains("--handoff handoff"), "{block}");
    let mesh = Mesh::start();
    let dir = tempfile::tempdir().unwrap();
    write_seeds(&mesh, &dir.path().join("seeds.txt"));
    let text = run_parallel_block(&block, dir.path());
    assert!(text.contains("every handed-off link is consumed"), "{text}");
    let records = record_files(&dir.path().join("records"));
    assert_eq!(records.len(), 4);
    assert_crawled_once(&mesh, &dir.path().join("handoff"), &records);
}
