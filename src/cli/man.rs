//! `fetchpool man`: one manual page per command (`fetchpool(1)`, `fetchpool-report(1)`,
//! ...), each with the sections man readers look for: the options from the clap model,
//! then EXAMPLES, ENVIRONMENT, EXIT STATUS and SEE ALSO. Examples are set without filling
//! or hyphenation, so a command line is never broken or hyphenated.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, italic, roman};

use super::{AFTER_HELP, ENV_PREFIX, Exit, command_for_docs};

/// The commands with a page of their own besides `fetchpool` itself.
pub(crate) const COMMANDS: [&str; 4] = ["demo", "report", "completions", "man"];

/// `fetchpool man [COMMAND]` prints a page; `--dir DIR` writes every page there.
///
/// # Errors
/// The output or a page's file cannot be written.
pub fn man(command: Option<&str>, dir: Option<&Path>) -> anyhow::Result<Exit> {
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for name in std::iter::once(None).chain(COMMANDS.map(Some)) {
            let (file, page) = page(name)?;
            write_atomically(&dir.join(&file), &page)?;
            println!("{}", dir.join(file).display());
        }
        return Ok(Exit::Success);
    }
    let (_, page) = page(command)?;
    super::print_all(&page)
}

/// The file name and the roff text of the page of `command` (`None`: `fetchpool`).
fn page(command: Option<&str>) -> anyhow::Result<(String, Vec<u8>)> {
    let root = command_for_docs();
    let cmd = match command {
        None => root.clone(),
        Some(name) => root
            .find_subcommand(name)
            .cloned()
            .with_context(|| format!("no command {name}"))?
            .version(env!("CARGO_PKG_VERSION")),
    };
    let man = Man::new(cmd.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    // No hyphenation anywhere: option names and URLs must read as typed.
    page.write_all(b".nh\n.ad l\n")?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut page)?;
    }
    if command.is_none() {
        man.render_subcommands_section(&mut page)?;
    }
    let mut roff = Roff::new();
    examples(&mut roff, command);
    environment(&mut roff, command, &root);
    exit_status(&mut roff, command);
    see_also(&mut roff, command);
    roff.to_writer(&mut page)?;
    man.render_version_section(&mut page)?;
    Ok((man.get_filename(), page))
}

/// The examples of `--help` (its `Examples:` block) for `fetchpool`, and a few for each
/// command: each as its comment, then the command line unfilled.
fn examples(roff: &mut Roff, command: Option<&str>) {
    let run_examples: Vec<(String, String)> = AFTER_HELP
        .lines()
        .skip_while(|l| *l != "Examples:")
        .skip(1)
        .filter_map(|l| {
            let (line, comment) = l.split_once('#').unwrap_or((l, ""));
            let line = line.trim();
            (!line.is_empty()).then(|| (comment.trim().to_string(), line.to_string()))
        })
        .collect();
    let own = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(c, l)| ((*c).to_string(), (*l).to_string()))
            .collect()
    };
    let list = match command {
        None => run_examples,
        Some("demo") => own(&[
            ("every outcome, offline", "fetchpool demo"),
            (
                "with retries, as JSON lines",
                "fetchpool demo --retries 2 -f jsonl",
            ),
            (
                "each fetch in a worker process",
                "fetchpool demo --executor process",
            ),
            (
                "its run as an HTML page",
                "fetchpool demo --record run.jsonl && fetchpool report --html run.html run.jsonl",
            ),
        ]),
        Some("report") => own(&[
            ("the summary of a run", "fetchpool report run.jsonl"),
            (
                "did all 8 shards finish?",
                "fetchpool report --list urls.txt shard-*.jsonl",
            ),
            (
                "the final record of each line",
                "fetchpool report -f jsonl run.jsonl > final.jsonl",
            ),
            (
                "a run at a glance",
                "fetchpool report --html run.html run.jsonl",
            ),
        ]),
        Some("completions") => own(&[(
            "bash completion for the current user",
            "fetchpool completions bash > ~/.local/share/bash-completion/completions/fetchpool",
        )]),
        Some(_) => own(&[
            ("this page", "fetchpool man | man -l -"),
            (
                "the page of fetchpool report",
                "fetchpool man report > fetchpool-report.1",
            ),
            (
                "every page, for MANPATH",
                "fetchpool man --dir ~/.local/share/man/man1",
            ),
        ]),
    };
    roff.control("SH", ["EXAMPLES"]);
    for (comment, line) in list {
        roff.control("PP", [])
            .control("nf", [])
            .text([bold(line)])
            .control("fi", []);
        if !comment.is_empty() {
            let mut sentence = comment;
            if let Some(first) = sentence.get(..1) {
                sentence.replace_range(..1, &first.to_uppercase());
            }
            if !sentence.ends_with(['.', '?']) {
                sentence.push('.');
            }
            roff.control("RS", ["4"])
                .text([roman(sentence)])
                .control("RE", []);
        }
    }
}

/// The variables a command reads: every flag's `FETCHPOOL_*` variable, and the standard
/// ones (proxies, `NETRC`, `NO_COLOR`, ...).
fn environment(roff: &mut Roff, command: Option<&str>, root: &clap::Command) {
    if !matches!(command, None | Some("demo")) {
        return;
    }
    roff.control("SH", ["ENVIRONMENT"]);
    roff.text([roman(format!(
        "Every option of a run is also read from the variable named after it, {ENV_PREFIX} \
         and its long name in capitals with - and . as _ (--per-host is \
         {ENV_PREFIX}PER_HOST; a flag takes 1/0, true/false, yes/no or on/off). The command \
         line wins over the environment; the environment wins over the configuration \
         file. Help shows each variable's name, never its value."
    ))]);
    let standard: [(&str, &str); 8] = [
        (
            "http_proxy, https_proxy, all_proxy, no_proxy",
            "The proxy of each scheme, and the hosts, domains and networks (10.0.0.0/8) that go \
             direct; upper case is read too. --proxy and --no-proxy override them.",
        ),
        (
            "NETRC",
            "The netrc file --netrc reads, instead of ~/.netrc.",
        ),
        (
            "FETCHPOOL_PASSWORD",
            "The password of -u USER when USER has no :PASS (nothing is prompted).",
        ),
        (
            "FETCHPOOL_CONFIG",
            "The configuration file, instead of $XDG_CONFIG_HOME/fetchpool/config.toml \
             (~/.config/fetchpool/config.toml); empty: none.",
        ),
        (
            "NO_COLOR",
            "Set to anything: no colour in the output (as --color never).",
        ),
        (
            "COLUMNS",
            "The width of -f table when standard output is not a terminal.",
        ),
        ("TERM", "dumb: no progress bar."),
        ("HOME", "Where ~/.netrc and ~/.config are."),
    ];
    for (name, what) in standard {
        roff.control("TP", [])
            .text([bold(name)])
            .text([roman(what)]);
    }
    for arg in root.get_arguments() {
        let (Some(long), Some(env)) = (arg.get_long(), arg.get_env()) else {
            continue;
        };
        roff.control("TP", [])
            .text([bold(env.to_string_lossy().into_owned())])
            .text([roman("As "), bold(format!("--{long}")), roman(".")]);
    }
}

/// What the exit code of a command means.
fn exit_status(roff: &mut Roff, command: Option<&str>) {
    let codes: &[(&str, &str)] = match command {
        None | Some("demo") => &[
            ("0", "Every URL was fetched (or skipped on purpose)."),
            (
                "1",
                "Some URL was not fetched: it failed, was cancelled, or its line was invalid.",
            ),
            (
                "2",
                "A usage or input error: a bad option or value, a list or file that cannot be \
                 read or written.",
            ),
            (
                "130",
                "Interrupted by Ctrl-C or SIGTERM (a second Ctrl-C quits at once).",
            ),
        ],
        Some("report") => &[
            (
                "0",
                "The records are consistent and, with --list, every URL line of the list has a \
                 final record of its URL that is not cancelled.",
            ),
            (
                "1",
                "A line is not done, or a record is wrong (another URL, another shard).",
            ),
            (
                "2",
                "A usage error, or a file that cannot be read or holds no records.",
            ),
        ],
        Some(_) => &[
            ("0", "The output was written."),
            ("2", "A usage error, or the output cannot be written."),
        ],
    };
    roff.control("SH", ["EXIT STATUS"]);
    for (code, what) in codes {
        roff.control("TP", [])
            .text([bold(*code)])
            .text([roman(*what)]);
    }
}

/// The other pages.
fn see_also(roff: &mut Roff, command: Option<&str>) {
    roff.control("SH", ["SEE ALSO"]);
    let mut pages: Vec<String> = std::iter::once("fetchpool".to_string())
        .chain(COMMANDS.iter().map(|c| format!("fetchpool-{c}")))
        .filter(|p| Some(p.as_str()) != command.map(|c| format!("fetchpool-{c}")).as_deref())
        .filter(|p| command.is_some() || p != "fetchpool")
        .collect();
    pages.extend(["curl", "wget2"].map(str::to_string));
    let mut line = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        if i > 0 {
            line.push(roman(", "));
        }
        line.push(italic(page.clone()));
        line.push(roman("(1)"));
    }
    roff.text(line);
}

/// Writes `bytes` to `path` through a temporary file renamed over it.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(".fetchpool-man-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
