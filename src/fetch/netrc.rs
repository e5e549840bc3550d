//! `--netrc`: logins per host from `~/.netrc` (or the file `NETRC` names), as curl and
//! wget read them: `machine HOST login USER password PASS`, and `default`.

use std::path::PathBuf;

/// The most of a netrc file read (it is a short, hand-written file; anything longer is
/// not one).
const MAX_NETRC: u64 = 1024 * 1024;

/// The logins of a netrc file.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Netrc {
    /// `(host, login, password)`, in file order (the first entry for a host wins).
    machines: Vec<(String, String, String)>,
    /// The `default` entry's login and password.
    default: Option<(String, String)>,
}

impl Netrc {
    /// Reads `NETRC`, or `~/.netrc`.
    ///
    /// # Errors
    /// The file cannot be read (its path and the reason).
    pub(crate) fn load() -> Result<Self, String> {
        let path = std::env::var_os("NETRC")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".netrc")));
        let Some(path) = path else {
            return Err("cannot find ~/.netrc: HOME is not set".to_string());
        };
        let mut text = String::new();
        std::fs::File::open(&path)
            .and_then(|f| {
                std::io::Read::read_to_string(&mut std::io::Read::take(f, MAX_NETRC), &mut text)
            })
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok(Self::parse(&text))
    }

    /// Parses netrc text as curl reads it: tokens separated by white space, a value in
    /// double quotes may hold spaces and the escapes `\"`, `\\`, `\n`, `\r`, `\t`; a `#`
    /// starting a token comments out the rest of the line; a `macdef NAME` body (up to the
    /// next empty line) is skipped, whatever it holds.
    pub fn parse(text: &str) -> Self {
        let mut netrc = Netrc::default();
        let mut tokens = Tokens { rest: text };
        // The entry being read: host (`None` for `default`), login, password.
        let mut current: Option<(Option<String>, String, String)> = None;
        let finish =
            |entry: Option<(Option<String>, String, String)>, netrc: &mut Netrc| match entry {
                Some((Some(host), login, password)) => {
                    netrc
                        .machines
                        .push((host.to_ascii_lowercase(), login, password));
                }
                Some((None, login, password)) => {
                    netrc.default.get_or_insert((login, password));
                }
                None => {}
            };
        while let Some(token) = tokens.next() {
            match token.as_str() {
                "machine" => {
                    finish(current.take(), &mut netrc);
                    current = tokens
                        .next()
                        .map(|h| (Some(h), String::new(), String::new()));
                }
                "default" => {
                    finish(current.take(), &mut netrc);
                    current = Some((None, String::new(), String::new()));
                }
                "login" => {
                    if let (Some(entry), Some(v)) = (current.as_mut(), tokens.next()) {
                        entry.1 = v;
                    }
                }
                "password" => {
                    if let (Some(entry), Some(v)) = (current.as_mut(), tokens.next()) {
                        entry.2 = v;
                    }
                }
                "account" => {
                    tokens.next();
                }
                "macdef" => {
                    // A macro ends the entry before it; its body is not netrc tokens.
                    finish(current.take(), &mut netrc);
                    tokens.skip_macro();
                }
                _ => {}
            }
        }
        finish(current, &mut netrc);
        netrc
    }

    /// The login and password for `host`, or the default ones.
    pub(crate) fn for_host(&self, host: &str) -> Option<(&str, &str)> {
        let host = host.to_ascii_lowercase();
        self.machines
            .iter()
            .find(|(h, _, _)| *h == host)
            .map(|(_, l, p)| (l.as_str(), p.as_str()))
            .or_else(|| self.default.as_ref().map(|(l, p)| (l.as_str(), p.as_str())))
    }
}

/// The tokens of netrc text, read one at a time.
struct Tokens<'a> {
    rest: &'a str,
}

impl Tokens<'_> {
    /// The next token, unquoted; `None` at the end.
    fn next(&mut self) -> Option<String> {
        loop {
            self.rest = self.rest.trim_start();
            if self.rest.starts_with('#') {
                let end = self.rest.find('\n').unwrap_or(self.rest.len());
                self.rest = &self.rest[end..];
                continue;
            }
            break;
        }
        if self.rest.is_empty() {
            return None;
        }
        if let Some(quoted) = self.rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, 'r')) => value.push('\r'),
                        Some((_, 't')) => value.push('\t'),
                        Some((_, other)) => value.push(other),
                        None => {}
                    },
                    c => value.push(c),
                }
            }
            self.rest = &quoted[end..];
            return Some(value);
        }
        let end = self
            .rest
            .find(char::is_whitespace)
            .unwrap_or(self.rest.len());
        let token = self.rest[..end].to_string();
        self.rest = &self.rest[end..];
        Some(token)
    }

    /// Skips a `macdef`: its name, the rest of its line, and its body up to and including
    /// the next empty line (or the end).
    fn skip_macro(&mut self) {
        let line_end = self.rest.find('\n').map_or(self.rest.len(), |i| i + 1);
        self.rest = &self.rest[line_end..];
        while !self.rest.is_empty() {
            let line_end = self.rest.find('\n').map_or(self.rest.len(), |i| i + 1);
            let line = &self.rest[..line_end];
            self.rest = &self.rest[line_end..];
            if line.trim().is_empty() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_and_the_default_are_found_by_host() {
        let netrc = Netrc::parse(
            "machine Example.com login alice password s3cret\n\
             machine other.org\n  login bob\n  password pw account x\n\
             default login anon password anon@\n",
        );
        assert_eq!(netrc.for_host("example.com"), Some(("alice", "s3cret")));
        assert_eq!(netrc.for_host("other.org"), Some(("bob", "pw")));
        assert_eq!(netrc.for_host("elsewhere"), Some(("anon", "anon@")));
        assert_eq!(Netrc::parse("").for_host("x"), None);
    }

    #[test]
    fn a_macro_body_is_skipped_whatever_it_holds() {
        let netrc = Netrc::parse(
            "machine a.test login alice password right\n\
             macdef init\n\
             password wrong\n\
             machine evil.test login mallory password x\n\
             \n\
             machine b.test login bob password pw\n",
        );
        assert_eq!(netrc.for_host("a.test"), Some(("alice", "right")));
        assert_eq!(netrc.for_host("evil.test"), None, "inside the macro");
        assert_eq!(netrc.for_host("b.test"), Some(("bob", "pw")));
    }

    #[test]
    fn quoted_values_and_comments_are_read_as_curl_reads_them() {
        let netrc = Netrc::parse(
            "# my logins\n\
             machine a.test login \"alice smith\" password \"p w\\\"q\\\\\" # note\n\
             machine b.test login bob password \"unterminated",
        );
        assert_eq!(netrc.for_host("a.test"), Some(("alice smith", "p w\"q\\")));
        assert_eq!(netrc.for_host("b.test"), Some(("bob", "unterminated")));
    }
}
