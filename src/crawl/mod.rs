//! `--crawl`: the list's lines are seeds, and every fetched HTML page's links are followed,
//! in scope, each URL at most once per run: the `as_completed` + `submit` loop
//! `concurrent.futures` users write by hand.
//!
//! How it fits the run: a page's links are found while its body streams ([`crate::crawl::links`]);
//! when its fetch ends, the thread that delivers its record first offers the links here
//! ([`Crawl::discover`]): those in scope, within `--depth` and `--max-urls`, and never seen
//! before join the frontier, and only then is the page's record delivered. The input thread
//! takes frontier URLs before list lines, through the same window as the list, so memory
//! stays bounded; the crawl ends when the list is read, the frontier is empty and no page
//! is in flight (nothing more can be found).
//!
//! Redirects: a crawl's fetches do not follow redirects themselves. A 3xx is the record
//! of its URL (`location` names the target), and its target is offered here like a link
//! ([`Crawl::redirected`]): checked against the visited set before it is fetched, so a
//! redirect to a page already fetched does not fetch it again, and at the same depth, at
//! most `--max-redirects` hops in a row. A seed's redirect to another origin (http to
//! https, a `www.`) brings that origin into scope, as wget does.
//!
//! Memory: the visited set keeps 16 bytes per URL (a 128-bit hash), and the frontier holds
//! at most [`FRONTIER_MAX`] URLs and [`FRONTIER_BYTES`] bytes of them; links found while it
//! is full are not followed (they are counted, and not marked as seen, so a later page may
//! still bring them in).

pub(crate) mod handoff;
pub(crate) mod links;
pub(crate) mod robots;
pub(crate) mod scope;
pub(crate) mod sitemap;

use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use regex::Regex;
use url::Url;

use crate::crawl::links::normalize;
use crate::crawl::scope::Anchors;
pub(crate) use crate::crawl::scope::Scope;
use crate::sync::Recover;

/// URLs the frontier holds at most.
pub(crate) const FRONTIER_MAX: usize = 1_000_000;

/// Bytes the frontier's URLs take at most (each URL counted with what an entry costs besides).
pub(crate) const FRONTIER_BYTES: usize = 256 << 20;

/// What a frontier entry costs besides its URL's text: the parsed URL's offsets, the
/// depth, the parent's reference, the queue's slot.
const ENTRY_OVERHEAD: usize = 96;

/// The crawl's settings.
#[derive(Debug, Clone)]
pub(crate) struct CrawlOptions {
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
    /// Read the sitemaps robots.txt names, and crawl their pages too (`--sitemaps`).
    pub sitemaps: bool,
    /// With `--shard K/N --shard-by host`: links to another shard's hosts are left to it.
    pub shard: Option<crate::shard::Shard>,
    /// Redirect hops followed in a row at most (`--max-redirects`).
    pub max_redirects: u32,
    /// `--handoff DIR`: links to other shards' hosts are handed to them there.
    pub handoff: Option<std::path::PathBuf>,
}

/// A page the crawl found.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// Its URL, normalised.
    pub url: Url,
    /// How many links away from a seed.
    pub depth: u32,
    /// The page it was found on (or the URL that redirected to it).
    pub parent: std::sync::Arc<str>,
    /// Redirects in a row that led here (0 for a link).
    pub hops: u32,
}

impl Found {
    /// What this entry costs the frontier.
    fn weight(&self) -> usize {
        self.url.as_str().len() + ENTRY_OVERHEAD
    }
}

/// What became of a redirect's target ([`Crawl::redirected`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirected {
    /// It joined the frontier: its own record follows.
    Queued,
    /// It was seen before (fetched, or queued): not fetched again.
    Seen,
    /// It is out of the crawl's scope.
    OutOfScope,
    /// `--max-urls` or the frontier's limits: not followed.
    Dropped,
    /// More than `--max-redirects` redirects in a row.
    TooMany,
    /// Another shard's host (`--handoff`): handed to that shard.
    HandedOff,
}

impl Redirected {
    /// The record's `redirect` field.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Redirected::Queued => "queued",
            Redirected::Seen => "seen",
            Redirected::OutOfScope => "out_of_scope",
            Redirected::Dropped => "dropped",
            Redirected::TooMany => "too_many",
            Redirected::HandedOff => "handed_off",
        }
    }

    /// What the text output says after `redirected to 'TARGET'`.
    pub(crate) fn words(self) -> &'static str {
        match self {
            Redirected::Queued => "",
            Redirected::Seen => " (seen before: not fetched again)",
            Redirected::OutOfScope => " (out of scope: not followed)",
            Redirected::Dropped => " (--max-urls or the frontier's limit: not followed)",
            Redirected::TooMany => " (too many redirects in a row: not followed)",
            Redirected::HandedOff => " (another shard's host: handed off to it)",
        }
    }
}

/// Whether a URL is in a crawl's scope ([`Crawl::fit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fit {
    /// In scope, and this shard's.
    In,
    /// Out of scope (or another shard's, without `--handoff`).
    Out,
    /// In scope, and another shard's (`--handoff`): the shard to hand it to.
    Other(u32),
}

/// Behind the frontier's lock.
#[derive(Debug)]
struct Queue {
    /// Pages to fetch, in the order found (breadth first).
    frontier: VecDeque<Found>,
    /// What the frontier's entries weigh ([`Found::weight`]).
    bytes: usize,
    /// The most they may weigh ([`FRONTIER_BYTES`]).
    max_bytes: usize,
    /// Pages a resumed crawl had queued, taken once the list is read (when every seed,
    /// and so the scope, is known), and checked again then.
    resumed: Vec<Found>,
    /// Entries admitted and not yet delivered: they may still bring links.
    in_flight: u64,
}

impl Queue {
    fn push(&mut self, found: Found) {
        self.bytes += found.weight();
        self.frontier.push_back(found);
    }

    fn pop(&mut self) -> Option<Found> {
        let found = self.frontier.pop_front()?;
        self.bytes -= found.weight();
        Some(found)
    }

    /// Whether one more entry of `weight` would pass the frontier's limits.
    fn full(&self, weight: usize) -> bool {
        self.frontier.len() >= FRONTIER_MAX || self.bytes + weight > self.max_bytes
    }
}

/// One crawl's shared state.
#[derive(Debug)]
pub(crate) struct Crawl {
    options: CrawlOptions,
    anchors: Mutex<Anchors>,
    visited: Mutex<HashSet<u128>>,
    queue: Mutex<Queue>,
    changed: Condvar,
    /// Pages queued so far, seeds included (for `--max-urls`).
    queued: AtomicU64,
    /// Links in scope not followed because the frontier was full or `--max-urls` reached.
    dropped: AtomicU64,
    /// Links pages had beyond what a page gives ([`crate::crawl::links::MAX_LINKS_PER_PAGE`], its
    /// bytes, over-long links), and the pages that had them.
    dropped_on_pages: AtomicU64,
    pages_with_dropped: AtomicU64,
    /// Queued pages of a resumed record file not taken again: out of scope or past
    /// `--depth` now.
    not_resumed: AtomicU64,
    /// `--handoff`: where links to other shards' hosts go, and theirs come from.
    handoff: Option<handoff::Handoff>,
    /// `--handoff`: this round's level. Pages deeper than it are queued (noted in the
    /// record file) but not fetched: the next round fetches them.
    level: Option<u32>,
    /// Handed-off links taken and not queued: out of scope for this shard.
    handed_out_of_scope: AtomicU64,
}

/// A URL's identity in the visited set: 128 bits of two keyed SipHash-1-3 hashes of its
/// normalised text (a collision is about as likely as 1 in 10^19 for a billion URLs).
pub(crate) fn url_key(url: &str) -> u128 {
    let half = |salt: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        salt.hash(&mut h);
        url.hash(&mut h);
        h.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

impl Crawl {
    /// A crawl with these settings.
    pub fn new(options: CrawlOptions) -> Self {
        Crawl {
            options,
            anchors: Mutex::default(),
            visited: Mutex::default(),
            queue: Mutex::new(Queue {
                frontier: VecDeque::new(),
                bytes: 0,
                max_bytes: FRONTIER_BYTES,
                resumed: Vec::new(),
                in_flight: 0,
            }),
            changed: Condvar::new(),
            queued: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            dropped_on_pages: AtomicU64::new(0),
            pages_with_dropped: AtomicU64::new(0),
            not_resumed: AtomicU64::new(0),
            handoff: None,
            level: None,
            handed_out_of_scope: AtomicU64::new(0),
        }
    }

    /// The same crawl, handing links to other shards' hosts off through `handoff`.
    pub(crate) fn with_handoff(mut self, handoff: handoff::Handoff) -> Self {
        self.level = Some(handoff.level());
        self.handoff = Some(handoff);
        self
    }

    /// Whether a page at `depth` waits for a later round (`--handoff`).
    fn held(&self, depth: u32) -> bool {
        self.level.is_some_and(|level| depth > level)
    }

    /// The handoff folder, with `--handoff`.
    pub(crate) fn handoff(&self) -> Option<&handoff::Handoff> {
        self.handoff.as_ref()
    }

    /// A seed another shard owns (`--handoff`): it anchors the scope as in one process
    /// crawling the whole list, and is not fetched here.
    pub(crate) fn anchor(&self, url: &Url) {
        let mut url = url.clone();
        normalize(&mut url);
        self.anchors.lock().recover().seed(&url);
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().recover()
    }

    /// The settings.
    pub(crate) fn options(&self) -> &CrawlOptions {
        &self.options
    }

    /// A seed read from the list: its origin, domain and folder join the scope, and it
    /// counts as seen.
    pub(crate) fn seed(&self, url: &Url) {
        let mut url = url.clone();
        normalize(&mut url);
        self.anchors.lock().recover().seed(&url);
        if self.visited.lock().recover().insert(url_key(url.as_str())) {
            self.queued.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether `-u`, `-H` and `-b` may go to `url`: its origin is a seed's (one of the
    /// list's URLs). A page a crawl reaches elsewhere never gets them.
    pub(crate) fn credentials_for(&self, url: &Url) -> bool {
        self.anchors.lock().recover().credentials_for(url)
    }

    /// Marks a URL (by its [`url_key`]) as seen without queueing it: a page a resumed
    /// crawl had (it counts against `--max-urls`).
    pub(crate) fn mark_seen(&self, key: u128) {
        if self.visited.lock().recover().insert(key) {
            self.queued.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Keeps a page a resumed crawl had queued and not fetched, for
    /// [`list_read`](Self::list_read): the record file is untrusted, so its scope and
    /// depth are checked once every seed is known.
    pub(crate) fn requeue(&self, mut found: Found) {
        normalize(&mut found.url);
        self.mark_seen(url_key(found.url.as_str()));
        self.queue().resumed.push(found);
    }

    /// The list is read (every seed, and so the scope, is known): the pages a resumed
    /// crawl had queued join the frontier if they are in scope and within `--depth` (and,
    /// with `--handoff`, within this round's level: deeper ones stay queued in the record
    /// file for a later round), then the links other shards handed this one. Returns the
    /// handed-off pages queued for a later round: the caller notes them in the record file.
    pub(crate) fn list_read(&self) -> Vec<Found> {
        let resumed = std::mem::take(&mut self.queue().resumed);
        let mut kept = Vec::with_capacity(resumed.len());
        for found in resumed {
            let ok = found.depth <= self.options.depth
                && found.hops <= self.options.max_redirects
                && self.in_scope(&found.url);
            if !ok {
                self.not_resumed.fetch_add(1, Ordering::Relaxed);
            } else if !self.held(found.depth) {
                kept.push(found);
            }
        }
        let mut queue = self.queue();
        for found in kept {
            queue.push(found);
        }
        drop(queue);
        let held = self.take_handed_off();
        self.changed.notify_all();
        held
    }

    /// `--handoff`: the links other shards handed this one join the frontier at their
    /// depth, unless seen before (fetched in an earlier round) or out of scope. A link of
    /// depth 0 is where a seed redirected: it widens the scope, as the redirect does in
    /// the shard that owns the seed.
    fn take_handed_off(&self) -> Vec<Found> {
        let Some(handoff) = &self.handoff else {
            return Vec::new();
        };
        let room = FRONTIER_MAX.saturating_sub(self.queue().frontier.len());
        let mut held = Vec::new();
        for found in handoff.take(self.options.depth, room) {
            if found.depth == 0 {
                self.anchors.lock().recover().extend(&found.url);
            }
            if self.fit(&found.url) != Fit::In {
                self.handed_out_of_scope.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            // Seen before: fetched (or queued) by an earlier run of this shard.
            if let Ok(found) = self.claim(found)
                && self.held(found.depth)
            {
                held.push(found);
            }
        }
        held
    }

    /// Whether `url` is in scope (and in this shard).
    pub(crate) fn in_scope(&self, url: &Url) -> bool {
        self.fit(url) == Fit::In
    }

    /// Whether `url` is in scope, and whose it is: this shard's, or (with `--handoff`)
    /// another one's.
    fn fit(&self, url: &Url) -> Fit {
        let text = url.as_str();
        if self.options.exclude.iter().any(|r| r.is_match(text)) {
            return Fit::Out;
        }
        if !self.options.include.is_empty()
            && !self.options.include.iter().any(|r| r.is_match(text))
        {
            return Fit::Out;
        }
        if !self
            .anchors
            .lock()
            .recover()
            .allows(self.options.scope, url)
        {
            return Fit::Out;
        }
        match self.options.shard {
            Some(shard) if !shard.owns(0, Some(url)) => match &self.handoff {
                Some(_) => Fit::Other(shard.of(0, Some(url))),
                None => Fit::Out,
            },
            _ => Fit::In,
        }
    }

    /// Hands `url` (found at `depth` on `parent`) to shard `owner`; a failure is kept for
    /// [`handoff_error`](Self::handoff_error).
    fn hand_off(&self, owner: u32, url: &Url, depth: u32, parent: &str) {
        if let Some(handoff) = &self.handoff {
            let _ = handoff.hand(owner, url, depth, parent);
        }
    }

    /// Why a link could not be handed off, once one could not (the run stops).
    pub(crate) fn handoff_error(&self) -> Option<String> {
        self.handoff.as_ref().and_then(handoff::Handoff::error)
    }

    /// Offers the links of a page at `depth` found on `parent`: returns those that joined
    /// the frontier (in scope, within depth and `--max-urls`, never seen), in order.
    /// `dropped` links the page had beyond what a page gives are counted for the warning.
    pub(crate) fn discover(
        &self,
        links: &[String],
        dropped: u64,
        depth: u32,
        parent: &str,
    ) -> Vec<Found> {
        if dropped > 0 {
            self.dropped_on_pages.fetch_add(dropped, Ordering::Relaxed);
            self.pages_with_dropped.fetch_add(1, Ordering::Relaxed);
        }
        let depth = depth.saturating_add(1);
        if depth > self.options.depth || links.is_empty() {
            return Vec::new();
        }
        let parent: std::sync::Arc<str> = parent.into();
        let mut added = Vec::new();
        for link in links {
            let Ok(url) = Url::parse(link) else { continue };
            match self.fit(&url) {
                Fit::In => {}
                Fit::Out => continue,
                Fit::Other(owner) => {
                    self.hand_off(owner, &url, depth, &parent);
                    continue;
                }
            }
            let found = Found {
                url,
                depth,
                parent: std::sync::Arc::clone(&parent),
                hops: 0,
            };
            if let Ok(found) = self.claim(found) {
                added.push(found);
            }
        }
        if !added.is_empty() {
            self.changed.notify_all();
        }
        added
    }

    /// Offers where a page at `depth` redirected (`from`, `hops` redirects in a row led to
    /// that page): the target is fetched only if it was never seen, at the same depth. A
    /// seed's redirect (depth 0) brings the target's origin into scope. The second value
    /// is the target's entry when it joined the frontier.
    pub(crate) fn redirected(
        &self,
        target: &Url,
        depth: u32,
        hops: u32,
        from: &str,
    ) -> (Redirected, Option<Found>) {
        let mut url = target.clone();
        normalize(&mut url);
        let hops = hops.saturating_add(1);
        if hops > self.options.max_redirects {
            return (Redirected::TooMany, None);
        }
        if depth == 0 {
            self.anchors.lock().recover().extend(&url);
        }
        match self.fit(&url) {
            Fit::In => {}
            Fit::Out => return (Redirected::OutOfScope, None),
            Fit::Other(owner) => {
                self.hand_off(owner, &url, depth, from);
                return (Redirected::HandedOff, None);
            }
        }
        let found = Found {
            url,
            depth,
            parent: from.into(),
            hops,
        };
        match self.claim(found) {
            Ok(found) => {
                self.changed.notify_all();
                (Redirected::Queued, Some(found))
            }
            Err(fate) => (fate, None),
        }
    }

    /// Marks `found` as seen and appends it to the frontier, if it was not seen and the
    /// frontier and `--max-urls` have room for it; returns it (the caller notifies).
    fn claim(&self, found: Found) -> Result<Found, Redirected> {
        let key = url_key(found.url.as_str());
        // Lock order: the queue, then the visited set. `queued` changes only under the
        // visited set's lock, so `--max-urls` is exact.
        let mut queue = self.queue();
        let mut visited = self.visited.lock().recover();
        if visited.contains(&key) {
            return Err(Redirected::Seen);
        }
        let capped = self
            .options
            .max_urls
            .is_some_and(|max| self.queued.load(Ordering::Relaxed) >= max);
        if capped || queue.full(found.weight()) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return Err(Redirected::Dropped);
        }
        visited.insert(key);
        self.queued.fetch_add(1, Ordering::Relaxed);
        // A page deeper than this round's level is only noted: a later round fetches it.
        if !self.held(found.depth) {
            queue.push(found.clone());
        }
        Ok(found)
    }

    /// Something besides an entry may still bring pages (a host's sitemaps being read):
    /// the crawl does not end before [`Crawl::delivered`] says it is done.
    pub(crate) fn hold(&self) {
        self.admitted();
    }

    /// An entry was admitted: until it is delivered, it may bring links.
    pub(crate) fn admitted(&self) {
        self.queue().in_flight += 1;
    }

    /// An admitted entry was delivered (its links, if any, were offered first).
    pub(crate) fn delivered(&self) {
        let mut queue = self.queue();
        queue.in_flight = queue.in_flight.saturating_sub(1);
        if queue.in_flight == 0 {
            self.changed.notify_all();
        }
    }

    /// The next page to fetch, if one is waiting.
    pub(crate) fn try_next(&self) -> Option<Found> {
        self.queue().pop()
    }

    /// The next page to fetch, waiting while pages in flight may still bring one; `None`
    /// when the crawl is over (or `stopped` says so: it is asked every 50 ms).
    pub(crate) fn next(&self, stopped: impl Fn() -> bool) -> Option<Found> {
        let mut queue = self.queue();
        loop {
            if let Some(found) = queue.pop() {
                return Some(found);
            }
            if queue.in_flight == 0 || stopped() {
                return None;
            }
            queue = self
                .changed
                .wait_timeout(queue, Duration::from_millis(50))
                .recover()
                .0;
        }
    }

    /// What the run's end should warn about: links not followed (frontier full,
    /// `--max-urls`), links pages had beyond what a page gives, queued pages of the record
    /// file not taken again. One line each, if any.
    pub(crate) fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            out.push(format!(
                "{dropped} link(s) in scope were not followed (--max-urls, or the frontier's \
                 limit of {FRONTIER_MAX} pages and {} MiB)",
                FRONTIER_BYTES >> 20
            ));
        }
        let on_pages = self.dropped_on_pages.load(Ordering::Relaxed);
        if on_pages > 0 {
            out.push(format!(
                "{on_pages} link(s) on {} page(s) were not read: a page gives at most {} \
                 links ({} MiB of them), each at most {} bytes",
                self.pages_with_dropped.load(Ordering::Relaxed),
                crate::crawl::links::MAX_LINKS_PER_PAGE,
                crate::crawl::links::MAX_LINK_BYTES_PER_PAGE >> 20,
                crate::crawl::links::MAX_LINK_LEN
            ));
        }
        let handed_out = self.handed_out_of_scope.load(Ordering::Relaxed);
        if handed_out > 0 {
            out.push(format!(
                "{handed_out} handed-off link(s) are out of this shard's scope: not fetched"
            ));
        }
        if let Some(handoff) = &self.handoff {
            out.extend(handoff.warnings());
        }
        let stale = self.not_resumed.load(Ordering::Relaxed);
        if stale > 0 {
            out.push(format!(
                "{stale} queued page(s) of the record file are out of scope or past --depth \
                 now: not fetched"
            ));
        }
        out
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
            sitemaps: false,
            shard: None,
            handoff: None,
            max_redirects: 3,
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
        let added = c.discover(&links, 0, 0, "http://h.test/");
        assert_eq!(added.len(), 1);
        assert_eq!(added[0].depth, 1);
        assert!(
            c.discover(&links, 0, 0, "http://h.test/").is_empty(),
            "seen"
        );
        assert!(
            c.discover(&["http://h.test/deep".to_string()], 0, 2, "p")
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
        c.discover(&["http://x.test/".to_string()], 0, 0, "p");
        assert_eq!(waiter.join().unwrap().as_deref(), Some("http://x.test/"));
        c.delivered();
        assert!(c.next(|| false).is_none());
    }

    #[test]
    fn a_redirect_target_is_fetched_once_at_the_same_depth_and_a_seed_redirect_widens_scope() {
        let c = crawl(Scope::Host);
        c.seed(&u("http://h.test/"));
        let links = ["http://h.test/p1".to_string()];
        assert_eq!(c.discover(&links, 0, 0, "http://h.test/").len(), 1);
        assert_eq!(c.try_next().unwrap().url.as_str(), "http://h.test/p1");
        let (fate, _) = c.redirected(&u("http://h.test/p1"), 1, 0, "http://h.test/r1");
        assert_eq!(fate, Redirected::Seen, "fetched already");
        let (fate, found) = c.redirected(&u("http://h.test/p2"), 1, 0, "http://h.test/r2");
        assert_eq!(fate, Redirected::Queued);
        let found = found.unwrap();
        assert_eq!((found.depth, found.hops), (1, 1));
        assert_eq!(found.parent.as_ref(), "http://h.test/r2");
        let (fate, _) = c.redirected(&u("https://h.test/"), 1, 0, "x");
        assert_eq!(fate, Redirected::OutOfScope, "not from a seed");
        let (fate, _) = c.redirected(&u("https://h.test/"), 0, 0, "http://h.test/");
        assert_eq!(
            fate,
            Redirected::Queued,
            "a seed's redirect brings its origin in"
        );
        assert!(c.in_scope(&u("https://h.test/other")));
        assert!(
            !c.credentials_for(&u("https://h.test/other")),
            "only the seeds' origins"
        );
        assert!(c.credentials_for(&u("http://h.test/other")));
        let (fate, _) = c.redirected(&u("http://h.test/p9"), 1, 3, "x");
        assert_eq!(fate, Redirected::TooMany);
    }

    #[test]
    fn resumed_pages_are_checked_against_scope_and_depth_once_the_list_is_read() {
        let c = crawl(Scope::Host);
        let found = |url: &str, depth| Found {
            url: u(url),
            depth,
            parent: "p".into(),
            hops: 0,
        };
        c.requeue(found("http://h.test/ok", 1));
        c.requeue(found("http://evil.test/planted", 1));
        c.requeue(found("http://h.test/deep", 9));
        assert!(c.try_next().is_none(), "nothing before the list is read");
        c.seed(&u("http://h.test/"));
        c.list_read();
        assert_eq!(c.try_next().unwrap().url.as_str(), "http://h.test/ok");
        assert!(c.try_next().is_none());
        assert!(c.warnings()[0].contains("2 queued page(s)"));
    }

    #[test]
    fn the_frontier_stops_taking_links_at_its_byte_budget() {
        let c = crawl(Scope::Any);
        c.queue().max_bytes = 4 << 20;
        let long = "x".repeat(2000);
        let per_page: Vec<String> = (0..1000)
            .map(|i| format!("http://h.test/{i}/{long}"))
            .collect();
        let mut queued = 0;
        for page in 0..5 {
            let links: Vec<String> = per_page.iter().map(|l| format!("{l}?{page}")).collect();
            queued += c.discover(&links, 0, 0, "p").len();
        }
        assert!(queued * 2100 <= 4 << 20, "{queued}");
        assert!(queued > 1500, "{queued}");
        assert!(c.queue().bytes <= 4 << 20);
        assert!(c.warnings()[0].contains("not followed"));
    }
}
