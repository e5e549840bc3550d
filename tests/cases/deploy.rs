//! The recipes for many machines, run as written: the Kubernetes Indexed Job's command
//! line (read from its YAML), the Slurm array script, the README's GNU parallel block, and
//! the Dockerfile's build inputs. Each runs every shard against the mock server on
//! 127.0.0.1, then `fetchpool report --list` proves each line was done exactly once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

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
    let strings = |y: &Yaml| -> Vec<String> {
        y.as_vec()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let command = strings(&container["command"]);
    assert_eq!(command, ["fetchpool"]);
    let args = strings(&container["args"]);
    let env: Vec<(String, String)> = container["env"]
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

#[test]
fn the_gnu_parallel_recipe_of_the_readme_runs_as_written() {
    let block = readme_block("<!-- tests/cases/deploy.rs runs this block as written -->");
    assert!(block.contains("| parallel fetchpool"), "{block}");
    assert!(
        Command::new("parallel").arg("--version").output().is_ok(),
        "GNU parallel is needed (Debian: apt-get install parallel; .ci/run installs it)"
    );
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    write_list(&server, &dir.path().join("urls.txt"), 100);
    let mut cmd = Command::new("bash");
    scrub(&mut cmd);
    let out = cmd
        .args(["-euo", "pipefail", "-c", &block])
        .current_dir(dir.path())
        .env("PATH", path_with_fetchpool())
        .env("FETCHPOOL_NO_PROXY", "1")
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr_of(&out));
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
