//! robots.txt for `--crawl`: fetched once per host (scheme, host and port), before that
//! host's first page, and obeyed for fetchpool's User-Agent token; its `Crawl-delay`
//! becomes the host's rate. Parsing and matching are `texting_robots`' (checked against
//! Google's robots.txt test suite).
//!
//! The jobs of a host whose robots.txt is being fetched wait here, not in a worker, so the
//! other hosts go on; when it arrives they are let through (or refused) in order.
//! What an answer means (RFC 9309, 2.3.1): 2xx, the rules; 4xx, no rules; 5xx, everything
//! disallowed; no answer at all (refused, DNS, timeout), no rules: the pages' own fetches
//! then fail with their real error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use texting_robots::Robot;
use url::Url;

/// How much of a robots.txt is read (Google reads 500 KiB).
pub const MAX_ROBOTS: usize = 500 * 1024;

/// What is known of one host.
enum Host<J> {
    /// Its robots.txt is on its way; these jobs wait for it.
    Fetching(Vec<J>),
    /// Its rules (`None`: no rules, everything allowed).
    Known(Option<Arc<Rules>>),
}

/// A host's rules.
pub enum Rules {
    /// As its robots.txt says.
    Parsed(Robot),
    /// Nothing may be fetched (the server failed to give its robots.txt).
    DisallowAll,
}

impl Rules {
    fn allows(&self, url: &Url) -> bool {
        match self {
            Rules::Parsed(robot) => robot.allowed(url.as_str()),
            Rules::DisallowAll => false,
        }
    }
}

/// What to do with a job.
pub enum Gate<J> {
    /// Fetch it.
    Allowed(J),
    /// robots.txt forbids it.
    Disallowed(J),
    /// It waits for its host's robots.txt, which is being fetched.
    Parked,
    /// It waits for its host's robots.txt, which the caller must now fetch (and then call
    /// [`Robots::known`]).
    FetchFirst,
}

/// The robots.txt of every host of a crawl.
pub struct Robots<J> {
    /// The User-Agent token rules are looked up for.
    agent: String,
    state: Mutex<State<J>>,
}

struct State<J> {
    hosts: HashMap<String, Host<J>>,
    /// Set when the run stops: nothing waits here any more.
    drained: bool,
}

impl<J> Robots<J> {
    /// Rules for `user_agent` (its product token: `fetchpool` for `fetchpool/0.1.0`).
    pub fn new(user_agent: &str) -> Self {
        let token = user_agent.split(['/', ' ']).next().unwrap_or(user_agent);
        Robots {
            agent: token.to_string(),
            state: Mutex::new(State {
                hosts: HashMap::new(),
                drained: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<J>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Decides for `job` (`url_of` gives its URL), of host `origin`.
    pub fn gate(&self, origin: &str, job: J, url_of: impl Fn(&J) -> &Url) -> Gate<J> {
        let mut state = self.lock();
        if state.drained {
            return Gate::Allowed(job);
        }
        match state.hosts.get_mut(origin) {
            Some(Host::Known(None)) => Gate::Allowed(job),
            Some(Host::Known(Some(rules))) if rules.allows(url_of(&job)) => Gate::Allowed(job),
            Some(Host::Known(Some(_))) => Gate::Disallowed(job),
            Some(Host::Fetching(waiting)) => {
                waiting.push(job);
                Gate::Parked
            }
            None => {
                state
                    .hosts
                    .insert(origin.to_string(), Host::Fetching(vec![job]));
                Gate::FetchFirst
            }
        }
    }

    /// The rules from a robots.txt answer: `status` and the body's first bytes, or `None`
    /// when no answer came.
    pub fn rules(&self, answer: Option<(u16, &[u8])>) -> Option<Rules> {
        match answer {
            Some((200..=299, body)) => Robot::new(&self.agent, body).ok().map(Rules::Parsed),
            Some((500..=599, _)) => Some(Rules::DisallowAll),
            _ => None,
        }
    }

    /// Host `origin`'s robots.txt arrived (as `rules`): its waiting jobs, each with whether
    /// it may be fetched (`url_of` gives a job's URL), in the order they came.
    pub fn known(
        &self,
        origin: &str,
        rules: Option<Rules>,
        url_of: impl Fn(&J) -> &Url,
    ) -> Vec<(J, bool)> {
        let rules = rules.map(Arc::new);
        let mut state = self.lock();
        let waiting = match state
            .hosts
            .insert(origin.to_string(), Host::Known(rules.clone()))
        {
            Some(Host::Fetching(waiting)) => waiting,
            _ => Vec::new(),
        };
        drop(state);
        waiting
            .into_iter()
            .map(|job| {
                let allowed = rules.as_ref().is_none_or(|r| r.allows(url_of(&job)));
                (job, allowed)
            })
            .collect()
    }

    /// The run stopped: every waiting job, to be given up.
    pub fn drain(&self) -> Vec<J> {
        let mut state = self.lock();
        state.drained = true;
        let mut jobs = Vec::new();
        for host in state.hosts.values_mut() {
            if let Host::Fetching(waiting) = host {
                jobs.append(waiting);
            }
        }
        jobs
    }

    /// The `Crawl-delay` of host `origin`'s rules, in seconds, if it set one.
    pub fn delay(&self, origin: &str) -> Option<f64> {
        match self.lock().hosts.get(origin) {
            Some(Host::Known(Some(rules))) => match &**rules {
                Rules::Parsed(robot) => robot.delay.map(f64::from).filter(|d| *d > 0.0),
                Rules::DisallowAll => None,
            },
            _ => None,
        }
    }
}
