//! Delivering: exactly one record per entry, after the crawl has taken the page's links
//! (or where it redirected), with every password masked.

use std::time::Duration;

use url::Url;

use super::{Run, UrlJob};
use crate::crawl::links::PageLinks;
use crate::crawl::{Crawl, Redirected};
use crate::fetch::FetchError;
use crate::record::{Outcome, Record};
use crate::redact::secrets_of;

impl Run {
    pub(super) fn deliver(&self, job: &UrlJob, outcome: Outcome, elapsed: Duration) {
        let mut redirect = None;
        // A password of the URL never reaches the output, error messages included.
        let outcome = match outcome {
            Outcome::Failed(e) => Outcome::Failed(e.scrubbed(&secrets_of(&job.url))),
            Outcome::Fetched(mut page) => {
                // The page's links (or where it redirected) join the frontier before its
                // record is out, so a resumed crawl finds them recorded (and the crawl
                // cannot end between).
                let links = std::mem::take(&mut page.links);
                match &self.crawl {
                    Some(crawl) => {
                        let fate = self.discover(crawl, &links, page.location.as_deref(), job);
                        match fate {
                            // A link that could not be handed to its shard: the page is
                            // not done (a resumed run fetches it again), and the run stops.
                            _ if crawl.handoff_error().is_some() => {
                                self.stop();
                                Outcome::Failed(FetchError::Io(
                                    crawl.handoff_error().unwrap_or_default(),
                                ))
                            }
                            Some(Redirected::TooMany) => {
                                Outcome::Failed(FetchError::TooManyRedirects(
                                    crawl.options().max_redirects as usize,
                                ))
                            }
                            fate => {
                                redirect = fate;
                                Outcome::Fetched(page)
                            }
                        }
                    }
                    None => Outcome::Fetched(page),
                }
            }
            other => other,
        };
        self.finish(
            job.seq,
            Record {
                line: job.line,
                url: job.text.clone(),
                outcome,
                elapsed,
                attempts: job.attempts,
                shard: self.shard,
                depth: self.crawl.as_ref().map(|_| job.depth),
                parent: job.parent.clone(),
                redirect,
            },
        );
    }

    /// Offers a fetched page's links, or where it redirected, to the crawl, and records
    /// the pages it queued; returns what became of a redirect.
    pub(super) fn discover(
        &self,
        crawl: &Crawl,
        links: &PageLinks,
        location: Option<&str>,
        job: &UrlJob,
    ) -> Option<Redirected> {
        let parent = crate::redact::redact_url(job.url.as_str());
        let (fate, queued) = match location.map(Url::parse) {
            Some(Ok(target)) => {
                let (fate, found) = crawl.redirected(&target, job.depth, job.hops, &parent);
                (Some(fate), found.into_iter().collect())
            }
            Some(Err(_)) => (Some(Redirected::OutOfScope), Vec::new()),
            None => (
                None,
                crawl.discover(&links.links, links.dropped, job.depth, &parent),
            ),
        };
        for found in queued {
            self.sink.note(&crate::record::queued_json(
                &crate::redact::redact_url(found.url.as_str()),
                found.depth,
                &found.parent,
                found.hops,
            ));
        }
        fate
    }

    /// Delivers entry `seq`'s record; the crawl learns that it is done.
    pub(super) fn finish(&self, seq: u64, record: Record) {
        self.sink.deliver(seq, record);
        if let Some(crawl) = &self.crawl {
            crawl.delivered();
        }
    }
}
