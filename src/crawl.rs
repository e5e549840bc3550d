//! `--crawl`: the list's lines are seeds, and every fetched HTML page's links are followed,
//! in scope, each URL at most once per run: the `as_completed` + `submit` loop
//! `concurrent.futures` users write by hand.
//!
//! How it fits the run: a page's links are found while its body streams ([`crate::links`]);
//! when its fetch ends, the thread that delivers its record first offers the links here
//! ([`Crawl::discover`]): those in scope, within `--depth` and `--max-urls`, and never seen
//! before join the frontier, and only then is the page's record delivered. The input thread
//! takes frontier URLs before list lines, through the same window as the list, so memory
//! stays bounded; the crawl ends when the list is read, the frontier is empty and no page
//! is in flight (nothing more can be found).
//!
//! Memory: the visited set keeps 16 bytes per URL (a 128-bit hash), and the frontier holds
//! at most [`FRONTIER_MAX`] URLs; links found while it is full are not followed (they are
//! counted, and not marked as seen, so a later page may still bring them in).

use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use regex::Regex;
use url::Url;

use crate::links::normalize;

/// URLs the frontier holds at most.
pub const FRONTIER_MAX: usize = 1_000_000;

/// Which links a crawl follows (`--scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Scope {
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

/// The crawl's settings.
#[derive(Debug, Clone)]
pub struct CrawlOptions {
    /// Which links are in scope.
    pub scope: Scope,
    /// A link is followed only if it matches one of these (when there are any).
    pub include: Vec<Regex>,
    /// A link that matches one of these is not followed.
    pub exclude: Vec<Regex>,
    /// The deepest page followed (seeds are depth 0).
    pub depth: u32,
    /// Pages queued at most, seeds included.
    pub max_urls: Option<u64>,
    /// Obey robots.txt.
    pub robots: bool,
    /// With `--shard K/N --shard-by host`: links to another shard's hosts are left to it.
    pub shard: Option<crate::shard::Shard>,
}

/// A page the crawl found.
#[derive(Debug, Clone)]
pub struct Found {
    /// Its URL, normalised.
    pub url: Url,
    /// How many links away from a seed.
    pub depth: u32,
    /// The page it was found on.
    pub parent: std::sync::Arc<str>,
}

/// What the seeds allow.
#[derive(Debug, Default)]
struct Anchors {
    /// Scheme, host and port of every seed.
    origins: HashSet<String>,
    /// Registrable domains of every seed.
    domains: HashSet<String>,
    /// (origin, folder) of every seed.
    prefixes: Vec<(String, String)>,
}

/// Behind the frontier's lock.
#[derive(Debug, Default)]
struct Queue {
    /// Pages to fetch, in the order found (breadth first).
    frontier: VecDeque<Found>,
    /// Entries admitted and not yet delivered: they may still bring links.
    in_flight: u64,
}

/// One crawl's shared state.
#[derive(Debug)]
pub struct Crawl {
    options: CrawlOptions,
    anchors: Mutex<Anchors>,
    visited: Mutex<HashSet<u128>>,
    queue: Mutex<Queue>,
    changed: Condvar,
    /// Pages queued so far, seeds included (for `--max-urls`).
    queued: AtomicU64,
    /// Links in scope not followed because the frontier was full or `--max-urls` reached.
    dropped: AtomicU64,
}

/// A URL's identity in the visited set: 128 bits of two keyed SipHash-1-3 hashes of its
/// normalised text (a collision is about as likely as 1 in 10^19 for a billion URLs).
pub fn url_key(url: &str) -> u128 {
    let half = |salt: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        salt.hash(&mut h);
        url.hash(&mut h);
        h.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

/// A URL's scheme, host and port.
fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// The registrable domain of a host (the host itself for an IP address or a name the
/// public suffix list does not know).
fn registrable(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.host() {
        Some(url::Host::Domain(d)) => psl::domain_str(d).unwrap_or(d).to_string(),
        _ => host.to_string(),
    })
}

impl Crawl {
    /// A crawl with these settings.
    pub fn new(options: CrawlOptions) -> Self {
        Crawl {
            options,
            anchors: Mutex::default(),
            visited: Mutex::default(),
            queue: Mutex::default(),
            changed: Condvar::new(),
            queued: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The settings.
    pub fn options(&self) -> &CrawlOptions {
        &self.options
    }

    /// A seed read from the list: its origin, domain and folder join the scope, and it
    /// counts as seen.
    pub fn seed(&self, url: &Url) {
        let mut url = url.clone();
        normalize(&mut url);
        {
            let mut anchors = self.anchors.lock().unwrap_or_else(|p| p.into_inner());
            anchors.origins.insert(origin(&url));
            if let Some(domain) = registrable(&url) {
                anchors.domains.insert(domain);
            }
            let path = url.path();
            let folder = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            let prefix = (origin(&url), folder.to_string());
            if !anchors.prefixes.contains(&prefix) {
                anchors.prefixes.push(prefix);
            }
        }
        if self
            .visited
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(url_key(url.as_str()))
        {
            self.queued.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Marks where a redirect led as seen: it was fetched (through the redirect), and does
    /// not count against `--max-urls` again.
    pub fn mark_redirect_target(&self, key: u128) {
        self.visited
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key);
    }

    /// Marks a URL (by its [`url_key`]) as seen without queueing it: a page a resumed
    /// crawl had (it counts against `--max-urls`).
    pub fn mark_seen(&self, key: u128) {
        if self
            .visited
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key)
        {
            self.queued.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Puts a page a resumed crawl had queued and not fetched back in the frontier.
    pub fn requeue(&self, found: Found) {
        self.mark_seen(url_key(found.url.as_str()));
        self.queue().frontier.push_back(found);
        self.changed.notify_all();
    }

    /// Whether `url` is in scope (and in this shard).
    pub fn in_scope(&self, url: &Url) -> bool {
        if let Some(shard) = self.options.shard
            && !shard.owns(0, Some(url))
        {
            return false;
        }
        let text = url.as_str();
        if self.options.exclude.iter().any(|r| r.is_match(text)) {
            return false;
        }
        if !self.options.include.is_empty()
            && !self.options.include.iter().any(|r| r.is_match(text))
        {
            return false;
        }
        let anchors = self.anchors.lock().unwrap_or_else(|p| p.into_inner());
        match self.options.scope {
            Scope::Any => true,
            Scope::Host => anchors.origins.contains(&origin(url)),
            Scope::Domain => registrable(url).is_some_and(|d| anchors.domains.contains(&d)),
            Scope::Prefix => {
                let o = origin(url);
                anchors
                    .prefixes
                    .iter()
                    .any(|(po, folder)| *po == o && url.path().starts_with(folder.as_str()))
            }
        }
    }

    /// Offers the links of a page at `depth` found on `parent`: returns those that joined
    /// the frontier (in scope, within depth and `--max-urls`, never seen), in order.
    pub fn discover(&self, links: &[String], depth: u32, parent: &str) -> Vec<Found> {
        let depth = depth.saturating_add(1);
        if depth > self.options.depth || links.is_empty() {
            return Vec::new();
        }
        let parent: std::sync::Arc<str> = parent.into();
        let mut added = Vec::new();
        for link in links {
            let Ok(url) = Url::parse(link) else { continue };
            if !self.in_scope(&url) {
                continue;
            }
            let full = self.queue().frontier.len() >= FRONTIER_MAX;
            let key = url_key(url.as_str());
            // `queued` changes only under this lock, so `--max-urls` is exact.
            let mut visited = self.visited.lock().unwrap_or_else(|p| p.into_inner());
            if visited.contains(&key) {
                continue;
            }
            let capped = self
                .options
                .max_urls
                .is_some_and(|max| self.queued.load(Ordering::Relaxed) >= max);
            if full || capped {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            visited.insert(key);
            self.queued.fetch_add(1, Ordering::Relaxed);
            drop(visited);
            added.push(Found {
                url,
                depth,
                parent: std::sync::Arc::clone(&parent),
            });
        }
        if !added.is_empty() {
            self.queue().frontier.extend(added.iter().cloned());
            self.changed.notify_all();
        }
        added
    }

    /// An entry was admitted: until it is delivered, it may bring links.
    pub fn admitted(&self) {
        self.queue().in_flight += 1;
    }

    /// An admitted entry was delivered (its links, if any, were offered first).
    pub fn delivered(&self) {
        let mut queue = self.queue();
        queue.in_flight = queue.in_flight.saturating_sub(1);
        if queue.in_flight == 0 {
            self.changed.notify_all();
        }
    }

    /// The next page to fetch, if one is waiting.
    pub fn try_next(&self) -> Option<Found> {
        self.queue().frontier.pop_front()
    }

    /// The next page to fetch, waiting while pages in flight may still bring one; `None`
    /// when the crawl is over (or `stopped` says so: it is asked every 50 ms).
    pub fn next(&self, stopped: impl Fn() -> bool) -> Option<Found> {
        let mut queue = self.queue();
        loop {
            if let Some(found) = queue.frontier.pop_front() {
                return Some(found);
            }
            if queue.in_flight == 0 || stopped() {
                return None;
            }
            queue = self
                .changed
                .wait_timeout(queue, Duration::from_millis(50))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Links in scope that were not followed (frontier full, or `--max-urls`).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crawl(scope: Scope) -> Crawl {
        Crawl::new(CrawlOptions {
            scope,
            include: Vec::new(),
            exclude: vec![Regex::new("/private/").unwrap()],
            depth: 2,
            max_urls: None,
            robots: false,
            shard: None,
        })
    }

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn each_scope_keeps_what_it_says() {
        let cases = [
            ("http://www.example.co.uk/docs/a", [true, true, true, true]),
            (
                "http://www.example.co.uk:8080/docs/a",
                [false, true, false, true],
            ),
            ("http://img.example.co.uk/x", [false, true, false, true]),
            ("http://www.example.co.uk/blog/", [true, true, false, true]),
            ("http://other.co.uk/docs/a", [false, false, false, true]),
            (
                "http://www.example.co.uk/docs/private/x",
                [false, false, false, false],
            ),
        ];
        for (i, scope) in [Scope::Host, Scope::Domain, Scope::Prefix, Scope::Any]
            .into_iter()
            .enumerate()
        {
            let c = crawl(scope);
            c.seed(&u("http://WWW.Example.co.uk:80/docs/index.html"));
            for (link, expected) in &cases {
                assert_eq!(c.in_scope(&u(link)), expected[i], "{scope:?} {link}");
            }
        }
    }

    #[test]
    fn a_link_joins_the_frontier_once_and_depth_is_honoured() {
        let c = crawl(Scope::Host);
        c.seed(&u("http://h.test/"));
        let links = [
            "http://h.test/a".to_string(),
            "http://h.test/a".to_string(),
            "http://h.test/".to_string(),
            "http://elsewhere.test/".to_string(),
        ];
        let added = c.discover(&links, 0, "http://h.test/");
        assert_eq!(added.len(), 1);
        assert_eq!(added[0].depth, 1);
        assert!(c.discover(&links, 0, "http://h.test/").is_empty(), "seen");
        assert!(
            c.discover(&["http://h.test/deep".to_string()], 2, "p")
                .is_empty(),
            "depth 3 > 2"
        );
        assert_eq!(c.try_next().unwrap().url.as_str(), "http://h.test/a");
        assert!(c.try_next().is_none());
    }

    #[test]
    fn the_crawl_ends_when_nothing_is_in_flight_and_the_frontier_is_empty() {
        let c = std::sync::Arc::new(crawl(Scope::Any));
        c.admitted();
        let waiter = {
            let c = std::sync::Arc::clone(&c);
            std::thread::spawn(move || c.next(|| false).map(|f| f.url.to_string()))
        };
        std::thread::sleep(Duration::from_millis(20));
        c.discover(&["http://x.test/".to_string()], 0, "p");
        assert_eq!(waiter.join().unwrap().as_deref(), Some("http://x.test/"));
        c.delivered();
        assert!(c.next(|| false).is_none());
    }
}
