//! `--scope`: which links a crawl follows, by what the seeds are. A new rule is a variant
//! of [`Scope`] and its arm in `Anchors::allows` (with what it needs to remember of the
//! seeds in `Anchors`).

use std::collections::HashSet;

use url::Url;

/// Which links a crawl follows (`--scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum Scope {
    /// The seeds' scheme, host and port.
    #[default]
    Host,
    /// The seeds' registrable domains (example.co.uk) and their subdomains.
    Domain,
    /// The seeds' scheme, host and port, under the seed's folder.
    Prefix,
    /// Every http(s) link.
    Any,
}

/// What the seeds allow.
#[derive(Debug, Default)]
pub(crate) struct Anchors {
    /// Scheme, host and port of every seed of the list: where `-u`, `-H` and `-b` go.
    seed_origins: HashSet<String>,
    /// Scheme, host and port of every seed, and of where seeds redirected to.
    origins: HashSet<String>,
    /// Registrable domains of every seed.
    domains: HashSet<String>,
    /// (origin, folder) of every seed.
    prefixes: Vec<(String, String)>,
}

impl Anchors {
    /// A seed of the list: it anchors the scope, and its origin gets the credentials.
    pub(crate) fn seed(&mut self, url: &Url) {
        self.extend(url);
        self.seed_origins.insert(origin(url));
    }

    /// `url`'s origin, registrable domain and folder join the scope (a seed, or where a
    /// seed redirected).
    pub(crate) fn extend(&mut self, url: &Url) {
        self.origins.insert(origin(url));
        if let Some(domain) = registrable(url) {
            self.domains.insert(domain);
        }
        let path = url.path();
        let folder = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        let prefix = (origin(url), folder.to_string());
        if !self.prefixes.contains(&prefix) {
            self.prefixes.push(prefix);
        }
    }

    /// Whether `-u`, `-H` and `-b` may go to `url`: its origin is a seed's.
    pub(crate) fn credentials_for(&self, url: &Url) -> bool {
        self.seed_origins.contains(&origin(url))
    }

    /// Whether `scope` lets a crawl follow a link to `url`.
    pub(crate) fn allows(&self, scope: Scope, url: &Url) -> bool {
        match scope {
            Scope::Any => true,
            Scope::Host => self.origins.contains(&origin(url)),
            Scope::Domain => registrable(url).is_some_and(|d| self.domains.contains(&d)),
            Scope::Prefix => {
                let o = origin(url);
                self.prefixes
                    .iter()
                    .any(|(po, folder)| *po == o && url.path().starts_with(folder.as_str()))
            }
        }
    }
}

/// A URL's scheme, host and port.
pub(crate) fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// The registrable domain of a host (the host itself for an IP address or a name the
/// public suffix list does not know).
pub(crate) fn registrable(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.host() {
        Some(url::Host::Domain(d)) => psl::domain_str(d).unwrap_or(d).to_string(),
        _ => host.to_string(),
    })
}
