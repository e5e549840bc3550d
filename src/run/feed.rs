//! Feeding the run: the input thread reads entries (list lines, and pages a crawl found),
//! admits each into the sink's window, and hands it on: delivered at once (invalid,
//! skipped, cancelled), or through the robots.txt gate to the scheduler.

use std::fs::File;
use std::io::{self, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use url::Url;

use super::dedup::{Dedup, Met};
use super::files::open_inputs;
use super::settings::{SaveTo, Source};
use super::{FoundOn, Run, UrlJob};
use crate::crawl::Found;
use crate::crawl::robots::{Gate, Rules};
use crate::crawl::sitemap::{self, MAX_SITEMAPS_PER_HOST, Sitemap};
use crate::fetch::names::{Layout, Namer};
use crate::fetch::save::Target;
use crate::fetch::{FetchError, Request};
use crate::record::resume::Resumed;
use crate::record::{Outcome, Record};
use crate::run::input::{Entry, UrlList, count_entries};
use crate::shard::Shard;
use crate::sync::Recover as _;

impl Run {
    /// The input thread: reads entries until the input ends or the run stops, and delivers
    /// or schedules each admitted one exactly once, then closes the sink's admission.
    /// Returns the read error that ended the input, if any.
    pub(super) fn feed(
        self: &Arc<Self>,
        mut entries: impl Iterator<Item = io::Result<Entry>>,
        keyed: bool,
    ) -> Option<io::Error> {
        let mut namer = self.namer();
        let mut dedup = self.dedup.then(Dedup::default);
        let mut list_done = false;
        let error = loop {
            if self.stopped() {
                break None;
            }
            // Pages the crawl found come before more lines of the list (the frontier stays
            // short); once the list is read, wait for them while pages are in flight.
            let found = match &self.crawl {
                Some(crawl) if list_done => match crawl.next(|| self.stopped()) {
                    Some(found) => Some(found),
                    None => break None,
                },
                Some(crawl) => crawl.try_next(),
                None => None,
            };
            if let Some(found) = found {
                if !self.feed_found(found, &mut namer, keyed) {
                    break None;
                }
                continue;
            }
            match entries.next() {
                None if self.crawl.is_some() => {
                    // Every seed is known: what a resumed crawl had queued may join.
                    if let Some(crawl) = &self.crawl {
                        for found in crawl.list_read() {
                            self.sink.note(&crate::record::queued_json(
                                found.url.as_str(),
                                found.depth,
                                &found.parent,
                                found.hops,
                            ));
                        }
                    }
                    list_done = true;
                }
                None => break None,
                Some(Err(e)) => break Some(e),
                Some(Ok(entry)) => {
                    if !self.feed_line(entry, &mut namer, dedup.as_mut(), keyed) {
                        break None; // the run stopped while this line was being read
                    }
                }
            }
        };
        self.sink.close_input();
        error
    }

    /// How saved files are named: as the layout says, and in a crawl's flat layout never
    /// as a file the folder held before the run (servers choose those names).
    fn namer(&self) -> Namer {
        match &self.save {
            Some(save) if self.crawl.is_some() && save.layout == Layout::Flat => {
                Namer::keeping_existing(save.layout, save.dir.clone())
            }
            Some(save) => Namer::new(save.layout),
            None => Namer::new(Layout::default()),
        }
    }

    /// Admits and hands on a page the crawl found; `false` if the run stopped first.
    fn feed_found(self: &Arc<Self>, found: Found, namer: &mut Namer, keyed: bool) -> bool {
        let target = self.save.as_ref().map(|save| {
            namer
                .name(&found.url, None)
                .map(|rel| self.target(save, rel))
        });
        self.sink.reserve();
        let Some(seq) = self.admit() else {
            return false;
        };
        let entry = Entry {
            line: 0,
            text: crate::redact::redact_url(found.url.as_str()).into_owned(),
            url: Ok(found.url),
            name: None,
        };
        let found_on = FoundOn {
            depth: found.depth,
            parent: Some(found.parent),
            hops: found.hops,
        };
        self.handle_entry(seq, entry, target, keyed, found_on);
        true
    }

    /// Names, then admits and hands on a line of the list, unless another shard owns it or
    /// `--resume` finds it fetched; a URL `dedup` met before is delivered as a duplicate.
    /// `false` if the run stopped first.
    fn feed_line(
        self: &Arc<Self>,
        entry: Entry,
        namer: &mut Namer,
        dedup: Option<&mut Dedup>,
        keyed: bool,
    ) -> bool {
        // Every line gets its name in order, resumed ones and other shards' too, so
        // reruns and shards agree.
        let target = match (&self.save, &entry.url) {
            (Some(save), Ok(url)) => Some(
                namer
                    .name(url, entry.name.as_deref())
                    .map(|rel| self.target(save, rel)),
            ),
            _ => None,
        };
        if !owned(self.shard, &entry) {
            // Another shard's seed still anchors the scope of a crawl that hands off: every
            // shard judges a link as one process crawling the whole list would.
            if let (Some(crawl), Ok(url)) = (&self.crawl, &entry.url)
                && crawl.handoff().is_some()
            {
                crawl.anchor(url);
            }
            return true;
        }
        if let (Some(crawl), Ok(url)) = (&self.crawl, &entry.url) {
            crawl.seed(url);
        }
        // Met before the resume check: a resumed line's URL still makes a later copy a
        // duplicate.
        let met = match (dedup, &entry.url) {
            (Some(dedup), Ok(url)) => dedup.meet(url, entry.line),
            _ => Met::First,
        };
        match self.resumed.lookup(entry.line, &entry.text) {
            Resumed::Fetched => {
                self.sink.skip();
                return true;
            }
            Resumed::Mismatch => {
                self.mismatched.fetch_add(1, Ordering::Relaxed);
            }
            Resumed::No => {}
        }
        self.sink.reserve();
        let Some(seq) = self.admit() else {
            return false;
        };
        match met {
            Met::Again(first) => {
                let record = Record {
                    line: entry.line,
                    url: entry.text,
                    outcome: Outcome::Duplicate(first),
                    elapsed: Duration::ZERO,
                    attempts: 0,
                    shard: self.shard,
                    depth: self.crawl.as_ref().map(|_| 0),
                    parent: None,
                    redirect: None,
                };
                self.finish(seq, record);
                return true;
            }
            Met::Full => self.sink.warn(&format!(
                "--dedup remembers {} distinct URLs at most: from line {} on, a repeated \
                 URL is fetched again",
                super::dedup::MAX_DISTINCT,
                entry.line
            )),
            Met::First => {}
        }
        self.handle_entry(seq, entry, target, keyed, FoundOn::default());
        true
    }

    /// Where a body named `rel` is saved under `save`'s folder.
    pub(super) fn target(&self, save: &SaveTo, rel: PathBuf) -> Target {
        Target {
            dir: save.dir.clone(),
            rel,
            no_replace: self.crawl.is_some() && save.layout == Layout::Flat,
        }
    }

    /// Admits one more entry: its number, or `None` once the run stopped.
    pub(super) fn admit(&self) -> Option<u64> {
        let seq = self.sink.admit()?;
        if let Some(crawl) = &self.crawl {
            crawl.admitted();
        }
        Some(seq)
    }

    /// Delivers or schedules admitted entry `seq`, whose body goes to `target` (`-d`),
    /// found where `found_on` says (`--crawl`).
    pub(super) fn handle_entry(
        self: &Arc<Self>,
        seq: u64,
        entry: Entry,
        target: Option<Result<Target, String>>,
        keyed: bool,
        found_on: FoundOn,
    ) {
        let FoundOn {
            depth,
            parent,
            hops,
        } = found_on;
        let Entry {
            line, text, url, ..
        } = entry;
        let record = |outcome| Record {
            line,
            url: text.clone(),
            outcome,
            elapsed: Duration::ZERO,
            attempts: 0,
            shard: self.shard,
            depth: self.crawl.as_ref().map(|_| depth),
            parent: parent.clone(),
            redirect: None,
        };
        let target = match target.transpose() {
            Ok(target) => target,
            Err(why) => {
                return self.finish(seq, record(Outcome::Invalid(FetchError::BadName(why))));
            }
        };
        let url = match url {
            Err(e) => return self.finish(seq, record(Outcome::Invalid(e))),
            Ok(_) if self.stopped() => return self.finish(seq, record(Outcome::Cancelled)),
            Ok(url) => url,
        };
        if let Some(outcome) = target.as_ref().and_then(|t| self.not_to_fetch(t)) {
            return self.finish(seq, record(outcome));
        }
        let host = if keyed {
            url.origin().ascii_serialization()
        } else {
            String::new()
        };
        let credentials = self.crawl.as_ref().is_none_or(|c| c.credentials_for(&url));
        let job = UrlJob {
            seq,
            line,
            text,
            url,
            host,
            target,
            attempts: 0,
            last: None,
            depth,
            parent,
            hops,
            credentials,
        };
        self.admit_job(job);
    }

    /// Why the body for `target` must not be fetched, if it must not: its file or a
    /// temporary one is the list or the record file (invalid), or `--no-clobber` finds the
    /// file there (kept).
    fn not_to_fetch(&self, target: &Target) -> Option<Outcome> {
        for path in [
            target.path(),
            target.partial_path(),
            target.validator_path(),
        ] {
            if let Ok(meta) = std::fs::metadata(&path)
                && self.protected.contains(&(meta.dev(), meta.ino()))
            {
                let why = format!(
                    "{} is the input list or the record file; it is not replaced",
                    path.display()
                );
                return Some(Outcome::Invalid(FetchError::BadName(why)));
            }
        }
        let path = target.path();
        let kept = self.save.as_ref().is_some_and(|s| s.no_clobber)
            && std::fs::symlink_metadata(&path).is_ok();
        kept.then_some(Outcome::Kept(path))
    }

    /// Hands `job` to the scheduler, once its host's robots.txt (`--crawl`) allows it.
    pub(super) fn admit_job(self: &Arc<Self>, job: UrlJob) {
        let job = match &self.robots {
            None => job,
            Some((robots, _)) => {
                let origin = job.url.origin().ascii_serialization();
                match robots.gate(&origin, job, |job| &job.url) {
                    Gate::Allowed(job) => job,
                    Gate::Disallowed(job) => {
                        return self.deliver(&job, Outcome::Disallowed, Duration::ZERO);
                    }
                    Gate::Parked => return,
                    Gate::FetchFirst => return self.fetch_robots(origin),
                }
            }
        };
        if let Some((job, slot)) = self.scheduler.offer(job) {
            self.start(job, slot);
        }
    }

    /// Fetches host `origin`'s robots.txt on a thread of its own (the run goes on with
    /// other hosts), then lets that host's waiting jobs through, at its `Crawl-delay`.
    pub(super) fn fetch_robots(self: &Arc<Self>, origin: String) {
        let (run, host) = (Arc::clone(self), origin.clone());
        let spawned = thread::Builder::new()
            .name("fetchpool-robots".to_string())
            .spawn(move || {
                let Some((robots, fetcher)) = &run.robots else {
                    return;
                };
                let origin = host;
                let answer = Url::parse(&format!("{origin}/robots.txt"))
                    .ok()
                    .filter(|_| !run.stopped())
                    .map(|url| {
                        fetcher.fetch(Request {
                            deadline: run.deadline,
                            ..Request::new(&url)
                        })
                    });
                let rules = robots.rules(match &answer {
                    Some(Ok(page)) => Some((page.status, page.body.as_deref().unwrap_or(&[]))),
                    Some(Err(e)) => e.status().map(|status| (status, &[][..])),
                    None => None,
                });
                // `--sitemaps`: the crawl stays open until they are read (after the host's
                // waiting pages go on).
                let sitemaps = match (&run.sitemaps, &run.crawl, &rules) {
                    (Some(_), Some(crawl), Some(Rules::Parsed(txt)))
                        if !txt.sitemaps.is_empty() =>
                    {
                        crawl.hold();
                        txt.sitemaps.clone()
                    }
                    _ => Vec::new(),
                };
                let known = robots.known(&origin, rules, |job| &job.url);
                if let Some(warning) = &known.warning {
                    run.sink.warn(warning);
                }
                if let (Some(delay), true) = (known.delay, run.keyed) {
                    run.scheduler.set_host_rate(&origin, 1.0 / delay);
                }
                for (job, allowed) in known.waiting {
                    if run.stopped() {
                        run.give_up(job);
                    } else if !allowed {
                        run.deliver(&job, Outcome::Disallowed, Duration::ZERO);
                    } else if let Some((job, slot)) = run.scheduler.offer(job) {
                        run.start(job, slot);
                    }
                }
                if !sitemaps.is_empty() {
                    run.read_sitemaps(&origin, sitemaps);
                    if let Some(crawl) = &run.crawl {
                        crawl.delivered();
                    }
                }
            });
        if let Err(e) = spawned {
            // No thread: let the host through without its rules rather than lose its jobs.
            self.sink
                .warn(&format!("cannot fetch {origin}/robots.txt: {e}"));
            if let Some((robots, _)) = &self.robots {
                for (job, _) in robots.known(&origin, None, |job| &job.url).waiting {
                    if let Some((job, slot)) = self.scheduler.offer(job) {
                        self.start(job, slot);
                    }
                }
            }
        }
    }
}

impl Run {
    /// `--sitemaps`: reads the sitemaps host `origin`'s robots.txt names (those of its own
    /// origin, or in the crawl's scope), one at a time for the whole run, and offers their
    /// pages to the crawl as links of depth 1; an index's sitemaps are read too, one level
    /// deep, [`MAX_SITEMAPS_PER_HOST`] sitemaps in all. What cannot be read is a warning.
    fn read_sitemaps(&self, origin: &str, named: Vec<String>) {
        let (Some((fetcher, one_at_a_time)), Some(crawl)) = (&self.sitemaps, &self.crawl) else {
            return;
        };
        let mut queue: std::collections::VecDeque<(String, bool)> =
            named.into_iter().map(|url| (url, false)).collect();
        let mut read = 0;
        while let Some((text, from_index)) = queue.pop_front() {
            if read == MAX_SITEMAPS_PER_HOST || self.stopped() {
                break;
            }
            let shown = crate::redact::redact_url(&text).into_owned();
            let url = match Url::parse(&text) {
                Ok(url)
                    if matches!(url.scheme(), "http" | "https")
                        && (url.origin().ascii_serialization() == origin
                            || crawl.in_scope(&url)) =>
                {
                    url
                }
                _ => {
                    self.sink.warn(&format!(
                        "sitemap {shown} (named for {origin}) is not read: not an http(s) URL \
                         of the host or in scope"
                    ));
                    continue;
                }
            };
            read += 1;
            let answer = {
                let _one = one_at_a_time.lock().recover();
                fetcher
                    .fetch(Request {
                        deadline: self.deadline,
                        ..Request::new(&url)
                    })
                    .map_err(|e| e.to_string())
                    .and_then(|page| sitemap::parse(page.body.as_deref().unwrap_or(&[])))
            };
            match answer {
                Ok(Sitemap::Pages(pages)) => {
                    let queued = crawl.discover(&pages, 0, 0, &shown);
                    for found in queued {
                        self.sink.note(&crate::record::queued_json(
                            &crate::redact::redact_url(found.url.as_str()),
                            found.depth,
                            &found.parent,
                            found.hops,
                        ));
                    }
                }
                Ok(Sitemap::Index(sitemaps)) if !from_index => {
                    queue.extend(sitemaps.into_iter().map(|s| (s, true)));
                }
                Ok(Sitemap::Index(_)) => self.sink.warn(&format!(
                    "sitemap index {shown} is named by another index: not followed further"
                )),
                Err(why) => self
                    .sink
                    .warn(&format!("cannot read sitemap {shown}: {why}")),
            }
        }
    }
}

/// Gives the progress bar its total: counts the entries of the list files (and the URL
/// arguments) on a thread of its own; the run does not wait for it (a list of ten million
/// lines takes a fraction of a second). With standard input there is no total.
pub(super) fn count_for_progress(run: &Arc<Run>, inputs: &[Source], shard: Option<Shard>) {
    if inputs.iter().any(|s| matches!(s, Source::Stdin)) {
        return;
    }
    let (run, inputs) = (Arc::clone(run), inputs.to_vec());
    let _ = thread::Builder::new()
        .name("fetchpool-count".to_string())
        .spawn(move || {
            if shard.is_some() || !run.resumed.is_empty() {
                // A share is known only entry by entry (by host, the URL decides), and so
                // are the lines `--resume` skips (they are not this run's work).
                let Ok(input) = open_inputs(&inputs) else {
                    return;
                };
                let mut total = 0u64;
                for entry in UrlList::new(input) {
                    match entry {
                        Ok(entry) => {
                            let resumed =
                                run.resumed.lookup(entry.line, &entry.text) == Resumed::Fetched;
                            total += u64::from(owned(shard, &entry) && !resumed);
                        }
                        Err(_) => return,
                    }
                }
                return run.sink.set_total(total);
            }
            let mut total = 0u64;
            for source in &inputs {
                total += match source {
                    Source::Url(_) => 1,
                    Source::Stdin => return,
                    Source::File(path) => match File::open(path) {
                        Ok(f) if f.metadata().is_ok_and(|m| m.is_file()) => {
                            match count_entries(BufReader::with_capacity(64 * 1024, f)) {
                                Ok(n) => n,
                                Err(_) => return,
                            }
                        }
                        _ => return,
                    },
                };
            }
            run.sink.set_total(total);
        });
}

/// Whether `entry` is in this run's share of the list (always, without `--shard`).
pub(super) fn owned(shard: Option<Shard>, entry: &Entry) -> bool {
    shard.is_none_or(|shard| shard.owns(entry.line, entry.url.as_ref().ok()))
}
