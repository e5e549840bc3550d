//! robots.txt for `--crawl`: fetched once per host (scheme, host and port), before that
//! host's first page, and obeyed for fetchpool's User-Agent token; its `Crawl-delay`
//! becomes the host's rate.
//!
//! The jobs of a host whose robots.txt is being fetched wait here, not in a worker, so the
//! other hosts go on; when it arrives they are let through (or refused) in order.
//! What an answer means (RFC 9309, 2.3.1): 2xx, the rules; 4xx, no rules; 5xx, everything
//! disallowed; no answer at all (refused, DNS, timeout), no rules: the pages' own fetches
//! then fail with their real error.
//!
//! Parsing and matching are RFC 9309's, written here rather than taken from a crate so
//! that a robots.txt costs no more memory than its text: a group's rules are kept as the
//! bytes of their patterns and matched without regular expressions (a crate that compiles
//! a regex per rule turned 500 KiB of wildcard rules into 245 MB). Only the rules of the
//! group that applies to us are kept, and all the hosts of a run together keep at most
//! [`RULES_BUDGET`] bytes of them. A `Crawl-delay` is clamped to [`MAX_CRAWL_DELAY`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::sync::Recover;
use url::Url;

/// How much of a robots.txt is read (RFC 9309 asks for at least 500 KiB).
pub(crate) const MAX_ROBOTS: usize = 500 * 1024;

/// The longest wait between two requests to one host a `Crawl-delay` can ask for (Nutch's
/// `fetcher.max.crawl.delay`); a longer one is clamped to it.
pub(crate) const MAX_CRAWL_DELAY: f64 = 30.0;

/// Bytes of rules all the hosts of one run keep at most; a host whose rules do not fit
/// what is left is treated as disallowing everything (and a warning says so).
pub(crate) const RULES_BUDGET: usize = 256 << 20;

/// `Sitemap:` lines kept from one robots.txt at most.
const MAX_SITEMAPS: usize = 1000;

/// One `Allow` or `Disallow` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    allow: bool,
    /// The path pattern, percent-escapes normalised as URLs are ([`crate::crawl::links`]); `*`
    /// matches any run of bytes, a final `$` ends the match at the end of the path.
    pattern: Box<str>,
}

/// The rules of the group that applies to one User-Agent token, from one robots.txt.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RobotsTxt {
    rules: Vec<Rule>,
    /// The `Crawl-delay` of that group (or of the lines before any group), in seconds,
    /// clamped to [`MAX_CRAWL_DELAY`]; `None` when absent, zero, negative or not a number.
    pub(crate) delay: Option<f64>,
    /// The delay as written, when it was clamped.
    pub(crate) delay_asked: Option<f64>,
    /// The `Sitemap:` URLs, as written (any group: they are for every crawler).
    pub(crate) sitemaps: Vec<String>,
}

impl RobotsTxt {
    /// Parses `text` for the product token `agent` (case-insensitive): the groups whose
    /// `User-agent` names it, or else the `*` groups, combined (RFC 9309, 2.2.1).
    pub fn parse(agent: &str, text: &[u8]) -> Self {
        let agent = agent.to_ascii_lowercase();
        let text = String::from_utf8_lossy(&text[..text.len().min(MAX_ROBOTS)]);
        // Which groups apply: a pass over the user-agent lines first.
        let names_us =
            lines(&text).any(|(key, value)| key == Key::UserAgent && product(value) == agent);
        let mut out = RobotsTxt::default();
        let mut in_group = false; // the current group applies to us
        let mut reading_agents = false; // consecutive user-agent lines form one group
        let mut before_groups = true;
        let mut delay = None;
        let mut delay_before_groups = None;
        for (key, value) in lines(&text) {
            match key {
                Key::UserAgent => {
                    if !reading_agents {
                        in_group = false;
                    }
                    reading_agents = true;
                    before_groups = false;
                    let token = product(value);
                    if (names_us && token == agent) || (!names_us && token == "*") {
                        in_group = true;
                    }
                }
                Key::Sitemap => {
                    if out.sitemaps.len() < MAX_SITEMAPS && !value.is_empty() && value.len() <= 2048
                    {
                        out.sitemaps.push(value.to_string());
                    }
                }
                Key::CrawlDelay if before_groups => delay_before_groups = parse_delay(value),
                Key::CrawlDelay => {
                    reading_agents = false;
                    if in_group && delay.is_none() {
                        delay = parse_delay(value);
                    }
                }
                Key::Allow | Key::Disallow => {
                    reading_agents = false;
                    // An empty Disallow allows everything: no rule.
                    if in_group && !value.is_empty() {
                        out.rules.push(Rule {
                            allow: key == Key::Allow,
                            pattern: normalize_pattern(value).into(),
                        });
                    }
                }
                Key::Other => reading_agents = false,
            }
        }
        let asked = delay.or(delay_before_groups);
        out.delay = asked.map(|d| d.min(MAX_CRAWL_DELAY));
        out.delay_asked = asked.filter(|&d| d > MAX_CRAWL_DELAY);
        out
    }

    /// Whether `url` may be fetched: the longest matching rule decides, `Allow` winning a
    /// tie; no matching rule allows (RFC 9309, 2.2.2). `/robots.txt` is always allowed.
    pub(crate) fn allows(&self, url: &Url) -> bool {
        let path = &url[url::Position::BeforePath..url::Position::AfterQuery];
        if path == "/robots.txt" {
            return true;
        }
        let mut best: Option<(usize, bool)> = None;
        for rule in &self.rules {
            let len = rule.pattern.len();
            if best.is_some_and(|(l, allow)| l > len || (l == len && allow)) {
                continue;
            }
            if matches(rule.pattern.as_bytes(), path.as_bytes()) {
                best = Some((len, rule.allow));
            }
        }
        best.is_none_or(|(_, allow)| allow)
    }

    /// The bytes this holds (its rules and sitemaps), for the run's budget.
    pub(crate) fn weight(&self) -> usize {
        self.rules
            .iter()
            .map(|r| r.pattern.len() + std::mem::size_of::<Rule>())
            .chain(self.sitemaps.iter().map(String::len))
            .sum()
    }
}

/// The fields of robots.txt fetchpool reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    UserAgent,
    Allow,
    Disallow,
    CrawlDelay,
    Sitemap,
    Other,
}

/// The `key: value` lines of a robots.txt, comments and blank lines left out, keys read
/// case-insensitively (with the common misspellings Google's parser accepts).
fn lines(text: &str) -> impl Iterator<Item = (Key, &str)> {
    text.split(['\n', '\r']).filter_map(|line| {
        let line = line.split('#').next().unwrap_or("").trim();
        let (key, value) = line.split_once(':')?;
        let key = match key.trim().to_ascii_lowercase().as_str() {
            "user-agent" | "useragent" | "user agent" => Key::UserAgent,
            "allow" => Key::Allow,
            "disallow" | "dissallow" | "dissalow" | "disalow" | "diasllow" | "disallaw" => {
                Key::Disallow
            }
            "crawl-delay" | "crawl_delay" | "crawldelay" => Key::CrawlDelay,
            "sitemap" | "site-map" => Key::Sitemap,
            _ => Key::Other,
        };
        Some((key, value.trim()))
    })
}

/// The product token of a `User-agent` value, lower case: its leading letters, `-` and
/// `_` (`FetchPool/1.0` is `fetchpool`), or `*`.
fn product(value: &str) -> String {
    if value.starts_with('*') {
        return "*".to_string();
    }
    value
        .chars()
        .take_while(|c| c.is_ascii_alphabetic() || *c == '-' || *c == '_')
        .collect::<String>()
        .to_ascii_lowercase()
}

/// A `Crawl-delay` value in seconds: a positive finite number (`inf` is the longest
/// delay); anything else is no delay.
fn parse_delay(value: &str) -> Option<f64> {
    let d = value.trim().parse::<f64>().ok()?;
    if d.is_nan() || d <= 0.0 {
        return None;
    }
    Some(d.min(f64::MAX))
}

/// A rule's pattern in the form URLs are compared in: characters outside ASCII
/// percent-encoded, escapes normalised as [`crate::crawl::links::normalize`] does.
fn normalize_pattern(pattern: &str) -> String {
    let encoded: String = pattern
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != ' ' {
                c.to_string()
            } else {
                let mut buf = [0u8; 4];
                c.encode_utf8(&mut buf)
                    .bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect()
            }
        })
        .collect();
    crate::crawl::links::normalize_escapes(&encoded)
}

/// Whether `path` starts with something `pattern` matches: `*` matches any run of bytes,
/// and a `$` that ends the pattern makes it match only up to the end of `path`. Each
/// piece between stars is placed at its leftmost possible position, which is enough for
/// a match to be found if there is one; time is linear in the sizes, memory none.
fn matches(pattern: &[u8], path: &[u8]) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix(b"$") {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let mut pieces = pattern.split(|&b| b == b'*');
    let first = pieces.next().unwrap_or_default();
    if !path.starts_with(first) {
        return false;
    }
    let mut at = first.len();
    let rest: Vec<&[u8]> = pieces.collect();
    let Some((last, middle)) = rest.split_last() else {
        // No star at all.
        return !anchored || at == path.len();
    };
    for piece in middle {
        match find(&path[at..], piece) {
            Some(i) => at += i + piece.len(),
            None => return false,
        }
    }
    if anchored {
        // The last piece must end the path, after what the others took.
        path.len() >= at + last.len() && path.ends_with(last)
    } else {
        find(&path[at..], last).is_some()
    }
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// What is known of one host.
enum Host<J> {
    /// Its robots.txt is on its way; these jobs wait for it.
    Fetching(Vec<J>),
    /// Its rules (`None`: no rules, everything allowed).
    Known(Option<Arc<Rules>>),
}

/// A host's rules.
#[derive(Debug)]
pub(crate) enum Rules {
    /// As its robots.txt says.
    Parsed(RobotsTxt),
    /// Nothing may be fetched (the server failed to give its robots.txt, or its rules do
    /// not fit the run's budget).
    DisallowAll,
}

impl Rules {
    fn allows(&self, url: &Url) -> bool {
        match self {
            Rules::Parsed(robots) => robots.allows(url),
            Rules::DisallowAll => false,
        }
    }
}

/// What to do with a job.
pub(crate) enum Gate<J> {
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

/// What [`Robots::known`] learnt of a host.
pub(crate) struct Known<J> {
    /// Its waiting jobs, each with whether it may be fetched, in the order they came.
    pub(crate) waiting: Vec<(J, bool)>,
    /// The host's `Crawl-delay`, in seconds (clamped), if it set one.
    pub(crate) delay: Option<f64>,
    /// Something the user should hear about (a delay clamped, rules over the budget).
    pub(crate) warning: Option<String>,
}

/// The robots.txt of every host of a crawl.
pub(crate) struct Robots<J> {
    /// The User-Agent token rules are looked up for.
    agent: String,
    state: Mutex<State<J>>,
}

struct State<J> {
    hosts: HashMap<String, Host<J>>,
    /// Bytes of rules kept, all hosts together (at most [`RULES_BUDGET`]).
    kept: usize,
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
                kept: 0,
                drained: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<J>> {
        self.state.lock().recover()
    }

    /// Decides for `job` (`url_of` gives its URL), of host `origin`.
    pub(crate) fn gate(&self, origin: &str, job: J, url_of: impl Fn(&J) -> &Url) -> Gate<J> {
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
    pub(crate) fn rules(&self, answer: Option<(u16, &[u8])>) -> Option<Rules> {
        match answer {
            Some((200..=299, body)) => Some(Rules::Parsed(RobotsTxt::parse(&self.agent, body))),
            Some((500..=599, _)) => Some(Rules::DisallowAll),
            _ => None,
        }
    }

    /// Host `origin`'s robots.txt arrived (as `rules`): what it means for the jobs waiting
    /// for it (`url_of` gives a job's URL) and for the host's rate.
    pub(crate) fn known(
        &self,
        origin: &str,
        rules: Option<Rules>,
        url_of: impl Fn(&J) -> &Url,
    ) -> Known<J> {
        let mut warning = None;
        let mut state = self.lock();
        let rules = match rules {
            Some(Rules::Parsed(parsed)) if state.kept + parsed.weight() > RULES_BUDGET => {
                warning = Some(format!(
                    "the robots.txt of {origin} holds more rules than the run can keep (all \
                     hosts together keep {} MiB): none of its pages is fetched",
                    RULES_BUDGET >> 20
                ));
                Some(Rules::DisallowAll)
            }
            Some(Rules::Parsed(parsed)) => {
                state.kept += parsed.weight();
                if let Some(asked) = parsed.delay_asked {
                    warning = Some(format!(
                        "the robots.txt of {origin} asks for a Crawl-delay of {asked} s: its \
                         requests are {MAX_CRAWL_DELAY} s apart"
                    ));
                }
                Some(Rules::Parsed(parsed))
            }
            other => other,
        };
        let delay = match &rules {
            Some(Rules::Parsed(parsed)) => parsed.delay,
            _ => None,
        };
        let rules = rules.map(Arc::new);
        let waiting = match state
            .hosts
            .insert(origin.to_string(), Host::Known(rules.clone()))
        {
            Some(Host::Fetching(waiting)) => waiting,
            _ => Vec::new(),
        };
        drop(state);
        let waiting = waiting
            .into_iter()
            .map(|job| {
                let allowed = rules.as_ref().is_none_or(|r| r.allows(url_of(&job)));
                (job, allowed)
            })
            .collect();
        Known {
            waiting,
            delay,
            warning,
        }
    }

    /// The run stopped: every waiting job, to be given up.
    pub(crate) fn drain(&self) -> Vec<J> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(robots: &str, path: &str) -> bool {
        let url = Url::parse(&format!("http://h.test{path}")).unwrap();
        RobotsTxt::parse("fetchpool", robots.as_bytes()).allows(&url)
    }

    #[test]
    fn the_longest_matching_rule_decides_and_allow_wins_a_tie() {
        let robots = "User-agent: *\nDisallow: /a\nAllow: /a/b\nDisallow: /a/b/c\n\
                      Allow: /x\nDisallow: /x\n";
        assert!(!allowed(robots, "/a"));
        assert!(allowed(robots, "/a/b"));
        assert!(!allowed(robots, "/a/b/c/d"));
        assert!(allowed(robots, "/x/y"), "a tie: allow");
        assert!(allowed(robots, "/other"));
        assert!(allowed(robots, "/robots.txt"));
        assert!(
            allowed("User-agent: *\nDisallow:\n", "/a"),
            "an empty Disallow"
        );
    }

    #[test]
    fn wildcards_and_the_end_anchor_match_as_rfc_9309_says() {
        let robots = "User-agent: *\nDisallow: /*.pdf$\nDisallow: /p*q*r\nDisallow: /end$\n";
        assert!(!allowed(robots, "/docs/a.pdf"));
        assert!(
            allowed(robots, "/docs/a.pdf?x=1"),
            "$ ends the path and query"
        );
        assert!(allowed(robots, "/docs/a.pdfx"));
        assert!(!allowed(robots, "/p1q2r3"));
        assert!(allowed(robots, "/p1r2q"));
        assert!(!allowed(robots, "/end"));
        assert!(allowed(robots, "/ending"));
        assert!(!allowed("User-agent: *\nDisallow: /a*a$\n", "/aa"));
        assert!(!allowed("User-agent: *\nDisallow: /a*b*b$\n", "/abxb"));
        assert!(allowed("User-agent: *\nDisallow: /a*bb$\n", "/abb/x"));
    }

    #[test]
    fn our_group_wins_over_the_star_group_and_groups_for_us_combine() {
        let robots = "User-agent: other\nDisallow: /\n\nUser-agent: *\nDisallow: /star\n\n\
                      User-agent: FetchPool/2.0\nUser-agent: x\nDisallow: /one\n\n\
                      User-agent: fetchpool\nDisallow: /two\nCrawl-delay: 2\n";
        assert!(!allowed(robots, "/one"));
        assert!(!allowed(robots, "/two"));
        assert!(allowed(robots, "/star"), "the * group does not apply");
        let parsed = RobotsTxt::parse("fetchpool", robots.as_bytes());
        assert_eq!(parsed.delay, Some(2.0));
        assert!(
            allowed("User-agent: other\nDisallow: /\n", "/a"),
            "no group for us"
        );
    }

    #[test]
    fn patterns_are_compared_in_the_form_urls_have() {
        let robots = "User-agent: *\nDisallow: /caf\u{e9}\nDisallow: /%7euser\nDisallow: /%2fx\n";
        assert!(!allowed(robots, "/caf%C3%A9/menu"));
        assert!(!allowed(robots, "/~user/a"));
        assert!(!allowed(robots, "/%2Fx"));
    }

    #[test]
    fn a_crawl_delay_is_clamped_and_nonsense_is_no_delay() {
        let delay = |value: &str| {
            let parsed = RobotsTxt::parse(
                "fetchpool",
                format!("User-agent: *\nCrawl-delay: {value}\n").as_bytes(),
            );
            (parsed.delay, parsed.delay_asked)
        };
        assert_eq!(delay("0.5"), (Some(0.5), None));
        assert_eq!(delay("1e20"), (Some(MAX_CRAWL_DELAY), Some(1e20)));
        assert_eq!(delay("inf").0, Some(MAX_CRAWL_DELAY));
        assert_eq!(delay("1e9").0, Some(MAX_CRAWL_DELAY));
        for nothing in ["-1", "NaN", "0", "soon", ""] {
            assert_eq!(delay(nothing), (None, None), "{nothing}");
        }
        let before = RobotsTxt::parse(
            "fetchpool",
            b"Crawl-delay: 3\nUser-agent: *\nDisallow: /x\n",
        );
        assert_eq!(
            before.delay,
            Some(3.0),
            "a delay before any group applies to all"
        );
    }

    #[test]
    fn half_a_megabyte_of_wildcard_rules_costs_its_bytes_and_matches_quickly() {
        let mut robots = String::from("User-agent: *\n");
        while robots.len() < MAX_ROBOTS {
            robots.push_str("Disallow: /*a*b*c*$\n");
        }
        let parsed = RobotsTxt::parse("fetchpool", robots.as_bytes());
        assert!(parsed.weight() < 4 * MAX_ROBOTS, "{}", parsed.weight());
        assert!(allowed(&robots, "/abx"));
    }

    #[test]
    fn rules_beyond_the_budget_disallow_their_host() {
        let robots: Robots<Url> = Robots::new("fetchpool/1");
        robots.lock().kept = RULES_BUDGET - 10;
        let url = Url::parse("http://h.test/x").unwrap();
        assert!(matches!(
            robots.gate("http://h.test", url, |u| u),
            Gate::FetchFirst
        ));
        let rules = robots.rules(Some((200, b"User-agent: *\nDisallow: /private/\n")));
        let known = robots.known("http://h.test", rules, |u| u);
        assert_eq!(known.waiting.len(), 1);
        assert!(!known.waiting[0].1, "disallowed");
        assert!(
            known
                .warning
                .unwrap()
                .contains("more rules than the run can keep")
        );
    }
}
