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

    /// Parses netrc text (tokens separated by white space; `macdef` bodies skipped).
    pub fn parse(text: &str) -> Self {
        let mut netrc = Netrc::default();
        let mut tokens = text.split_whitespace();
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
            match token {
                "machine" => {
                    finish(current.take(), &mut netrc);
                    current = tokens
                        .next()
                        .map(|h| (Some(h.to_string()), String::new(), String::new()));
                }
                "default" => {
                    finish(current.take(), &mut netrc);
                    current = Some((None, String::new(), String::new()));
                }
                "login" => {
                    if let (Some(entry), Some(v)) = (current.as_mut(), tokens.next()) {
                        entry.1 = v.to_string();
                    }
                }
                "password" => {
                    if let (Some(entry), Some(v)) = (current.as_mut(), tokens.next()) {
                        entry.2 = v.to_string();
                    }
                }
                "account" => {
                    tokens.next();
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
}
