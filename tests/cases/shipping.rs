//! What ships with the binary: shell completions, the man page, and every flag read from
//! a `FETCHPOOL_*` environment variable (how containers are configured).

use crate::common::{MockServer, fetchpool, jsonl_by_line, stderr_of, stdout_of, temp_file};

#[test]
fn every_option_of_a_run_has_its_environment_variable_in_help() {
    let cmd = fetchpool::cli::command();
    for arg in cmd.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if arg.is_hide_set() || matches!(long, "help" | "version") {
            continue;
        }
        let expected = format!("FETCHPOOL_{}", long.replace(['-', '.'], "_").to_uppercase());
        assert_eq!(
            arg.get_env().map(|e| e.to_string_lossy().into_owned()),
            Some(expected),
            "--{long}"
        );
    }
    let help = stdout_of(&fetchpool().arg("--help").output().unwrap());
    for var in [
        "FETCHPOOL_WORKERS",
        "FETCHPOOL_SHARD",
        "FETCHPOOL_HTTP1_1",
        "FETCHPOOL_RESUME",
    ] {
        assert!(help.contains(&format!("[env: {var}")), "{var} in --help");
    }
}

#[test]
fn flags_are_read_from_the_environment_and_the_command_line_wins() {
    let server = MockServer::start();
    let list = temp_file(format!(
        "{}\n{}\n",
        server.url("/bytes/5"),
        server.url("/bytes/6")
    ));
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("r.jsonl");
    let out = fetchpool()
        .arg(list.path())
        .env("FETCHPOOL_FORMAT", "jsonl")
        .env("FETCHPOOL_NO_PROXY", "true")
        .env("FETCHPOOL_SHARD", "1/2")
        .env("FETCHPOOL_RECORD", &record)
        .env("FETCHPOOL_RESUME", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let records = jsonl_by_line(&stdout_of(&out));
    assert_eq!(records.len(), 1, "only shard 1 of 2: line 2");
    assert_eq!(records[&2]["bytes"], 6);
    assert!(record.exists());

    // The command line wins over the environment; a false-looking value turns a flag off.
    let out = fetchpool()
        .arg(list.path())
        .args(["--format", "text", "--no-proxy"])
        .env("FETCHPOOL_FORMAT", "jsonl")
        .env("FETCHPOOL_HEAD", "false")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(stdout_of(&out).contains("page is 5 bytes"));

    // A bad value names its variable's flag, in one short error.
    let out = fetchpool()
        .arg(list.path())
        .env("FETCHPOOL_WORKERS", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("--workers"), "{}", stderr_of(&out));
}

#[test]
fn an_environment_variable_does_not_stop_a_command_from_running() {
    let records =
        temp_file("{\"url\":\"http://a.test/\",\"line\":1,\"ok\":true,\"result\":\"fetched\"}\n");
    let out = fetchpool()
        .args(["report"])
        .arg(records.path())
        .env("FETCHPOOL_WORKERS", "32")
        .env("FETCHPOOL_FORMAT", "jsonl")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
}

#[test]
fn help_never_shows_the_value_of_a_variable() {
    let out = fetchpool()
        .arg("--help")
        .env("FETCHPOOL_USER", "me:hunter2")
        .output()
        .unwrap();
    assert!(!stdout_of(&out).contains("hunter2"));
}

#[test]
fn completions_are_generated_for_every_shell_from_the_flags() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = fetchpool().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = stdout_of(&out);
        assert!(script.contains("shard-by"), "{shell}: --shard-by");
        assert!(script.contains("report"), "{shell}: the report command");
    }
    let out = fetchpool().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_bash_completion_script_loads_in_bash() {
    let out = fetchpool().args(["completions", "bash"]).output().unwrap();
    let script = temp_file(&out.stdout);
    let check = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p fetchpool",
            script.path().display()
        ))
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", stderr_of(&check));
    assert!(stdout_of(&check).contains("fetchpool"));
}

#[test]
fn the_man_page_is_roff_with_every_option_and_its_variable() {
    let out = fetchpool().arg("man").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let page = stdout_of(&out);
    assert!(page.contains(".TH fetchpool 1"), "{}", &page[..200]);
    for needle in [
        "\\-\\-shard",
        "\\-\\-workers",
        "FETCHPOOL_WORKERS",
        "report",
    ] {
        assert!(page.contains(needle), "{needle}");
    }
    // Closing the pipe early is not an error.
    let mut child = fetchpool()
        .arg("man")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(stderr_of(&out).is_empty(), "{}", stderr_of(&out));
}

#[test]
fn the_command_line_wins_over_the_environment_which_wins_over_the_config_file() {
    let server = MockServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "format = \"jsonl\"\nworkers = 3\nheader = [\"X-From: file\"]\n",
    )
    .unwrap();
    let url = server.url("/bytes/4");
    let run = |env: Option<&str>, args: &[&str]| {
        let mut cmd = fetchpool();
        cmd.arg(&url).args(args).env("FETCHPOOL_CONFIG", &config);
        if let Some(format) = env {
            cmd.env("FETCHPOOL_FORMAT", format);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        stdout_of(&out)
    };
    assert!(run(None, &[]).starts_with("{\"url\""), "the file's format");
    assert!(
        run(Some("text"), &[]).contains("page is 4 bytes"),
        "the environment's"
    );
    assert!(
        run(Some("text"), &["-f", "csv"]).starts_with("line,url"),
        "the command line's"
    );
    assert!(server.requests().iter().all(|r| r.contains("x-from: file")));

    // The usual place: $XDG_CONFIG_HOME/fetchpool/config.toml.
    std::fs::create_dir_all(dir.path().join("fetchpool")).unwrap();
    std::fs::copy(&config, dir.path().join("fetchpool/config.toml")).unwrap();
    let out = fetchpool()
        .arg(&url)
        .env_remove("FETCHPOOL_CONFIG")
        .env("XDG_CONFIG_HOME", dir.path())
        .output()
        .unwrap();
    assert!(
        stdout_of(&out).starts_with("{\"url\""),
        "{}",
        stdout_of(&out)
    );
}

#[test]
fn a_bad_config_file_is_one_line_naming_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    for (text, wanted) in [
        ("workers = 0\n", "workers = \"0\": 0 is not in 1..=10000"),
        ("wrokers = 3\n", "wrokers is not an option"),
        ("user = [\"a:b\", \"c:d\"]\n", "user takes one value"),
        ("workers = \n", "not a TOML file"),
    ] {
        std::fs::write(&config, text).unwrap();
        let out = fetchpool()
            .arg("http://127.0.0.1:9/")
            .env("FETCHPOOL_CONFIG", &config)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = stderr_of(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(&config.display().to_string()), "{err}");
        assert!(err.contains(wanted), "{text}: {err}");
    }
    let out = fetchpool()
        .arg("http://127.0.0.1:9/")
        .env("FETCHPOOL_CONFIG", dir.path().join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("cannot read the configuration file"));
}

#[test]
fn colour_follows_the_flag_the_terminal_and_no_color() {
    let server = MockServer::start();
    let url = server.url("/bytes/1");
    let out = fetchpool().arg(&url).output().unwrap();
    assert!(!stdout_of(&out).contains('\x1b'), "no colour into a pipe");
    let out = fetchpool()
        .arg(&url)
        .args(["--color", "always"])
        .output()
        .unwrap();
    assert!(
        stdout_of(&out).starts_with("\x1b[32m'"),
        "{:?}",
        stdout_of(&out)
    );
    let out = fetchpool()
        .arg(server.url("/status/500"))
        .args(["--color", "always"])
        .output()
        .unwrap();
    assert!(
        stdout_of(&out).starts_with("\x1b[31m'"),
        "{:?}",
        stdout_of(&out)
    );
}

#[test]
fn short_help_is_short_and_long_help_names_every_variable() {
    let short = stdout_of(&fetchpool().arg("-h").output().unwrap());
    let long = stdout_of(&fetchpool().arg("--help").output().unwrap());
    assert!(short.lines().count() <= 80, "{}", short.lines().count());
    assert!(!short.contains("[env:"), "{short}");
    assert!(short.contains("--workers") && short.contains("--help' shows every option"));
    assert!(long.contains("[env: FETCHPOOL_WORKERS]"));
    assert!(long.contains("--rate-per-host") && long.contains("--max-tasks-per-child"));
    assert!(!short.contains("--max-tasks-per-child"));
    for text in [&short, &long] {
        assert!(!text.contains("PoolExecutor"), "plain words");
    }
}

#[test]
fn every_command_has_a_manual_page_with_the_usual_sections() {
    let dir = tempfile::tempdir().unwrap();
    let out = fetchpool()
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    for page in [
        "fetchpool",
        "fetchpool-demo",
        "fetchpool-report",
        "fetchpool-completions",
        "fetchpool-man",
    ] {
        let text = std::fs::read_to_string(dir.path().join(format!("{page}.1"))).unwrap();
        for section in ["EXAMPLES", "EXIT STATUS", "SEE ALSO"] {
            assert!(
                text.contains(&format!(".SH \"{section}\""))
                    || text.contains(&format!(".SH {section}")),
                "{page}: {section}"
            );
        }
        assert!(text.contains(".nh"), "{page}: no hyphenation");
    }
    let main = std::fs::read_to_string(dir.path().join("fetchpool.1")).unwrap();
    assert!(main.contains(".SH ENVIRONMENT"), "the variables are listed");
    assert!(main.contains("FETCHPOOL_WORKERS"), "each flag's variable");
    let report = stdout_of(&fetchpool().args(["man", "report"]).output().unwrap());
    assert!(report.contains("fetchpool\\-report"), "{report}");
}
