//! The configuration file: `$XDG_CONFIG_HOME/fetchpool/config.toml` (else
//! `~/.config/fetchpool/config.toml`), or the file `FETCHPOOL_CONFIG` names (empty: none).
//! Its keys are the long option names (`workers = 32`, `per-host = 2`,
//! `header = ["X-A: 1"]`, `compressed = true`); each value becomes the option's default,
//! so the command line wins over the environment, which wins over the file. Every value
//! is checked by the option's own parser when the file is read, and an error names the
//! file and the key.

use std::path::{Path, PathBuf};

use super::ENV_PREFIX;

/// The longest configuration file read (it is a short, hand-written file).
const MAX_CONFIG: u64 = 1024 * 1024;

/// The options whose values are secrets: an error about one never shows its value.
const SECRET_KEYS: [&str; 4] = ["header", "user", "cookie", "proxy"];

/// A configuration file, read and checked.
#[derive(Debug, Default)]
pub(crate) struct Config {
    /// Where it was read from.
    path: Option<PathBuf>,
    /// Each option it sets (by its long name) and its values.
    values: Vec<(String, Vec<String>)>,
}

impl Config {
    /// Reads the configuration file, if there is one: the file `FETCHPOOL_CONFIG` names
    /// (which must exist; empty means none), else the usual place (which may not).
    ///
    /// # Errors
    /// The file cannot be read or is not TOML: the message names it.
    pub(crate) fn load() -> Result<Self, String> {
        let named = std::env::var_os(format!("{ENV_PREFIX}CONFIG"));
        let (path, must_exist) = match named {
            Some(path) if path.is_empty() => return Ok(Config::default()),
            Some(path) => (PathBuf::from(path), true),
            None => match default_path() {
                Some(path) => (path, false),
                None => return Ok(Config::default()),
            },
        };
        let text = match read(&path) {
            Ok(text) => text,
            Err(e) if !must_exist && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config::default());
            }
            Err(e) => {
                return Err(format!(
                    "cannot read the configuration file {}: {e}",
                    path.display()
                ));
            }
        };
        Self::parse(&text, &path)
    }

    /// Reads configuration text (from `path`).
    ///
    /// # Errors
    /// The text is not TOML, or a value is not a string, number, boolean or list of them.
    pub(crate) fn parse(text: &str, path: &Path) -> Result<Self, String> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            format!(
                "{}: not a TOML file: {}",
                path.display(),
                e.message().trim()
            )
        })?;
        let mut values = Vec::with_capacity(table.len());
        for (key, value) in table {
            let texts = match &value {
                toml::Value::Array(items) => items
                    .iter()
                    .map(|item| scalar(item).ok_or(()))
                    .collect::<Result<Vec<String>, ()>>()
                    .ok(),
                other => scalar(other).map(|v| vec![v]),
            };
            let Some(texts) = texts else {
                return Err(format!(
                    "{}: {key}: a value must be a string, a number, true or false, or a list \
                     of them",
                    path.display()
                ));
            };
            values.push((key.replace('_', "-"), texts));
        }
        Ok(Config {
            path: Some(path.to_path_buf()),
            values,
        })
    }

    /// Whether the file sets the option `long`.
    pub(crate) fn sets(&self, long: &str) -> bool {
        self.values.iter().any(|(key, _)| key == long)
    }

    /// `cmd` with the file's values as its options' defaults, each checked by the
    /// option's parser.
    ///
    /// # Errors
    /// A key that is not an option of a run, or a value its parser refuses: the message
    /// names the file and the key (never a secret value).
    pub(crate) fn apply(&self, mut cmd: clap::Command) -> Result<clap::Command, String> {
        let Some(path) = &self.path else {
            return Ok(cmd);
        };
        let file = path.display();
        for (key, texts) in &self.values {
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_long() == Some(key.as_str()) && !a.is_hide_set())
                .filter(|_| !matches!(key.as_str(), "help" | "version"))
                .ok_or_else(|| {
                    format!(
                        "{file}: {key} is not an option (a key is an option's long name: \
                         workers = 32 for --workers 32)"
                    )
                })?
                .clone();
            let shown = |text: &str| {
                if SECRET_KEYS.contains(&key.as_str()) {
                    crate::redact::MASK.to_string()
                } else {
                    format!("{text:?}")
                }
            };
            if texts.len() > 1 && !matches!(arg.get_action(), clap::ArgAction::Append) {
                return Err(format!("{file}: {key} takes one value, not a list"));
            }
            for text in texts {
                check(&cmd, &arg, key, text)
                    .map_err(|why| format!("{file}: {key} = {}: {why}", shown(text)))?;
            }
            let values: Vec<clap::builder::OsStr> = texts
                .iter()
                .map(|t| clap::builder::OsStr::from(t.clone()))
                .collect();
            cmd = cmd.mut_arg(arg.get_id().clone(), |a| a.default_values(values));
        }
        Ok(cmd)
    }
}

/// Checks `text` as a value of `arg` (the option `--key` of `cmd`) with the option's own
/// parser: a flag's as a boolean, another's by parsing `--key text` alone (an error about
/// another option, or a missing companion such as --record for --resume, is not this
/// value's).
fn check(cmd: &clap::Command, arg: &clap::Arg, key: &str, text: &str) -> Result<(), String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if matches!(arg.get_action(), clap::ArgAction::SetTrue) {
        // What clap's BoolishValueParser takes.
        const BOOLISH: [&str; 12] = [
            "y", "yes", "t", "true", "on", "1", "n", "no", "f", "false", "off", "0",
        ];
        return if BOOLISH.contains(&text.to_ascii_lowercase().as_str()) {
            Ok(())
        } else {
            Err("expected true or false".to_string())
        };
    }
    let argv = [
        "fetchpool".to_string(),
        format!("--{key}"),
        text.to_string(),
    ];
    let Err(e) = cmd.clone().try_get_matches_from(argv) else {
        return Ok(());
    };
    let about_this = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(flag)) => flag.starts_with(&format!("--{key} ")),
        _ => false,
    };
    match e.kind() {
        ErrorKind::InvalidValue | ErrorKind::ValueValidation | ErrorKind::InvalidUtf8
            if about_this =>
        {
            Err(reason(&e))
        }
        _ => Ok(()),
    }
}

/// `$XDG_CONFIG_HOME/fetchpool/config.toml`, else `$HOME/.config/fetchpool/config.toml`.
fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("fetchpool").join("config.toml"))
}

/// The file, at most [`MAX_CONFIG`] bytes of it (a FIFO or a device is refused).
fn read(path: &Path) -> std::io::Result<String> {
    let file = crate::record::resume::open_regular(path)?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_CONFIG), &mut text)?;
    Ok(text)
}

/// A TOML scalar as an option's text.
fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(n) => Some(n.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// What a value parser said, without clap's "error: invalid value ... for ..." frame.
fn reason(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    if let Some(ContextValue::Strings(valid)) = e.get(ContextKind::ValidValue) {
        return format!("not one of: {}", valid.join(", "));
    }
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or("").trim();
    let detail = first.rsplit_once("': ").map_or(first, |(_, why)| why);
    detail.trim_start_matches("error: ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Result<clap::Command, String> {
        Config::parse(text, Path::new("config.toml"))?.apply(crate::cli::command())
    }

    fn workers(cmd: clap::Command, args: &[&str]) -> u16 {
        let argv = std::iter::once("fetchpool").chain(args.iter().copied());
        *cmd.try_get_matches_from(argv)
            .unwrap()
            .get_one::<u16>("workers")
            .unwrap()
    }

    #[test]
    fn a_value_of_the_file_is_a_default_the_command_line_overrides() {
        let cmd = config(
            "workers = 32\nper_host = 2\nheader = [\"X-A: 1\", \"X-B: 2\"]\ncompressed = true\n",
        )
        .unwrap();
        assert_eq!(workers(cmd.clone(), &[]), 32);
        assert_eq!(workers(cmd.clone(), &["-w", "7"]), 7);
        let m = cmd.try_get_matches_from(["fetchpool"]).unwrap();
        assert_eq!(m.get_one::<u16>("per_host"), Some(&2));
        assert!(m.get_flag("compressed"));
    }

    #[test]
    fn errors_name_the_file_the_key_and_never_a_secret() {
        let err = config("workers = 0\n").unwrap_err();
        assert!(err.starts_with("config.toml: workers = \"0\": "), "{err}");
        let err = config("wrokers = 3\n").unwrap_err();
        assert!(err.contains("wrokers is not an option"), "{err}");
        let err = config("header = \"bad header s3cret\"\n").unwrap_err();
        assert!(err.contains("header = ***"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        let err = config("workers = [1, 2]\n").unwrap_err();
        assert!(err.contains("takes one value"), "{err}");
        let err = config("workers = {a = 1}\n").unwrap_err();
        assert!(err.contains("a value must be"), "{err}");
        let err = config("workers = \n").unwrap_err();
        assert!(err.starts_with("config.toml: not a TOML file"), "{err}");
        let err = config("format = \"xml\"\n").unwrap_err();
        assert!(err.contains("not one of: text, jsonl"), "{err}");
        let err = config("resume = \"maybe\"\n").unwrap_err();
        assert!(err.contains("expected true or false"), "{err}");
        assert!(
            config("resume = true\ndepth = 3\n").is_ok(),
            "companions are not checked"
        );
    }
}
