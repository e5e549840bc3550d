//! When each fetch attempt may start: per-host concurrency limits, request-rate token
//! buckets (global and per host) and retry backoff, without ever blocking a worker.
//!
//! # Design
//!
//! Jobs that may not start yet wait here, not in the executor: a job for a busy or
//! rate-limited host sits in that host's queue while workers serve other hosts (no
//! head-of-line blocking), and a job backing off before a retry sits in a timer heap
//! instead of a sleeping worker.
//!
//! With no limit set, [`Scheduler::offer`] hands a job straight back to be started on the
//! caller's thread, and nothing else is locked. Otherwise the dispatch thread
//! ([`Scheduler::dispatch`]) starts every job: it wakes when a job is offered or a slot
//! frees, when a retry is due, and when a rate-limited queue gets its next token, and it
//! starts jobs outside the lock. Every job it starts comes with a [`HostSlot`], whose drop
//! frees the host's slot: completions only update counts and wake it, so a job that
//! completes the instant it starts can never recurse into starting the next one.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::fetch::FetchError;
use crate::sync::Recover;

/// How many times and how patiently to retry (`--retries`, `--retry-delay`,
/// `--retry-max-delay`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RetryPolicy {
    /// Retries after the first attempt (0: never retry).
    pub(crate) retries: u32,
    /// The first backoff's upper bound; it doubles with each retry.
    pub(crate) base: Duration,
    /// The cap on any backoff, `Retry-After` included.
    pub(crate) max: Duration,
}

impl RetryPolicy {
    /// Whether a failure is transient: connect errors, timeouts, resets, truncated bodies,
    /// and HTTP 408, 429, 500, 502, 503, 504. Never another 4xx, a DNS or TLS failure, an
    /// invalid URL or the run's deadline.
    pub(crate) fn is_transient(error: &FetchError) -> bool {
        match error.inner() {
            FetchError::ConnectionRefused
            | FetchError::ConnectTimeout(_)
            | FetchError::Timeout(_)
            | FetchError::Reset(_)
            | FetchError::TruncatedBody(_) => true,
            FetchError::HttpStatus { code, .. } => {
                matches!(code, 408 | 429 | 500 | 502 | 503 | 504)
            }
            _ => false,
        }
    }

    /// Whether attempt number `attempt` (1-based) that failed with `error` gets another.
    pub(crate) fn should_retry(&self, error: &FetchError, attempt: u32) -> bool {
        attempt <= self.retries && Self::is_transient(error)
    }

    /// The wait before the retry that follows failed attempt `attempt` (1-based):
    /// `Retry-After` if the server sent one, else exponential backoff with full jitter
    /// (uniform in `[0, min(max, base * 2^(attempt-1))]`), always capped by `max`.
    pub(crate) fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max);
        }
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        let ceiling = self.base.saturating_mul(factor).min(self.max);
        ceiling.mul_f64(fastrand::f64())
    }
}

/// Limits on when jobs may start (`--per-host`, `--rate`, `--rate-per-host`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Limits {
    /// At most this many jobs of one host running at once.
    pub(crate) per_host: Option<usize>,
    /// At most this many job starts per second, all hosts together.
    pub(crate) rate: Option<f64>,
    /// At most this many job starts per second to any one host.
    pub(crate) host_rate: Option<f64>,
    /// Hosts may get rates of their own while the run goes (robots.txt's `Crawl-delay`).
    pub(crate) host_rates_later: bool,
}

impl Limits {
    /// `true` if any limit is set (otherwise jobs start at once, without the lock).
    pub(crate) fn any(&self) -> bool {
        self.per_host.is_some()
            || self.rate.is_some()
            || self.host_rate.is_some()
            || self.host_rates_later
    }
}

/// The longest wait for a token: the slowest rate any flag or `Crawl-delay` gives is one
/// request every 1000 s.
const MAX_TOKEN_WAIT: Duration = Duration::from_secs(1000);

/// The slowest rate a bucket runs at, in tokens a second.
const MIN_RATE: f64 = 1.0 / 1000.0;

/// A token bucket: `rate` tokens a second, holding at most one, so starts are spaced
/// `1 / rate` apart (no bursts).
#[derive(Debug, Clone)]
struct Bucket {
    /// Tokens per second.
    rate: f64,
    /// Tokens now (at `at`), at most 1.
    tokens: f64,
    /// When `tokens` was computed.
    at: Instant,
}

impl Bucket {
    fn new(rate: f64, now: Instant) -> Self {
        Bucket {
            rate: clamp_rate(rate),
            tokens: 1.0,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let earned = now.saturating_duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + earned).min(1.0);
        self.at = now;
    }

    /// `Ok` if a token is available now, else when the next one will be.
    fn ready(&mut self, now: Instant) -> Result<(), Instant> {
        self.refill(now);
        if self.tokens >= 1.0 - 1e-9 {
            Ok(())
        } else {
            // Rates are bounded where they are set; the arithmetic is checked anyway, so no
            // rate can make the dispatch thread panic.
            let wait = Duration::try_from_secs_f64((1.0 - self.tokens) / self.rate)
                .unwrap_or(MAX_TOKEN_WAIT)
                .min(MAX_TOKEN_WAIT);
            Err(now.checked_add(wait).unwrap_or(now + MAX_TOKEN_WAIT))
        }
    }

    fn take(&mut self) {
        self.tokens -= 1.0;
    }

    /// Full again (so forgetting this bucket changes nothing).
    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= 1.0 - 1e-9
    }
}

/// `rate`, or the slowest rate a bucket runs at for one that is slower, zero or not a
/// number.
fn clamp_rate(rate: f64) -> f64 {
    if rate.is_nan() {
        MIN_RATE
    } else {
        rate.max(MIN_RATE)
    }
}

/// A job the scheduler can place: it knows its host key.
pub(crate) trait HostJob {
    /// The host it is for (scheme, host and port).
    fn host(&self) -> &str;
}

/// One host's jobs.
#[derive(Debug)]
struct Host<J> {
    /// Jobs started and not yet finished.
    running: usize,
    /// Jobs waiting for a slot or a token, in arrival order.
    queue: VecDeque<J>,
    /// The host's rate limit, if any.
    bucket: Option<Bucket>,
}

/// A timer: a retry that becomes due, or (id 0) a moment to look at the queues again.
type Timer = Reverse<(Instant, u64)>;

/// Everything behind the scheduler's lock.
#[derive(Debug)]
struct State<J> {
    /// Hosts with waiting or running jobs, or a bucket that is not full.
    hosts: HashMap<String, Host<J>>,
    /// Rates of their own some hosts were given ([`Scheduler::set_host_rate`]).
    host_rates: HashMap<String, f64>,
    /// The global rate limit, if any.
    global: Option<Bucket>,
    /// Pending wake-ups, earliest first.
    timers: BinaryHeap<Timer>,
    /// Jobs backing off before a retry, by timer id.
    delayed: HashMap<u64, J>,
    /// The next timer id (0 is reserved for "look at the queues").
    next_id: u64,
    /// Something changed (a job offered, a slot freed): the dispatch thread should look
    /// at the queues.
    dirty: bool,
    /// Set by `close`: the dispatch thread exits once no timer is left.
    closed: bool,
    /// Set by `drain`: the run is stopping, so nothing waits here any more.
    drained: bool,
    /// When the pending "look again" timer fires, if one is pending (so a blocked bucket
    /// adds one timer, not one per pass).
    next_pump: Option<Instant>,
}

/// What the scheduler and the slots it hands out share.
#[derive(Debug)]
struct Core<J> {
    /// The queues, buckets and timers.
    state: Mutex<State<J>>,
    /// Wakes the dispatch thread when something changed, a timer is added, or on `close`.
    wake: Condvar,
}

impl<J> Core<J> {
    fn lock(&self) -> MutexGuard<'_, State<J>> {
        self.state.lock().recover()
    }
}

/// Frees a host slot; what a [`HostSlot`] calls on drop, without knowing the job type.
trait FreeSlot: Send + Sync {
    fn free(&self, host: &str);
}

impl<J: Send> FreeSlot for Core<J> {
    fn free(&self, host: &str) {
        let mut state = self.lock();
        if let Some(h) = state.hosts.get_mut(host) {
            h.running = h.running.saturating_sub(1);
            if !h.queue.is_empty() {
                state.dirty = true;
                self.wake.notify_one();
            }
        }
    }
}

/// A running job's place in its host's `--per-host` count: dropping it frees the place
/// (and wakes the dispatch thread if that host has jobs waiting). Jobs that start without
/// limits, or after the run stopped, get an empty one.
#[must_use = "dropping the slot frees it at once"]
pub(crate) struct HostSlot {
    /// The scheduler and the host, when a place was taken.
    taken: Option<(Arc<dyn FreeSlot>, String)>,
}

impl HostSlot {
    /// A slot that frees nothing.
    pub(crate) fn none() -> Self {
        HostSlot { taken: None }
    }
}

impl std::fmt::Debug for HostSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostSlot")
            .field("host", &self.taken.as_ref().map(|(_, h)| h))
            .finish()
    }
}

impl Drop for HostSlot {
    fn drop(&mut self) {
        if let Some((core, host)) = self.taken.take() {
            core.free(&host);
        }
    }
}

/// Holds jobs until they may start. See the module docs.
#[derive(Debug)]
pub(crate) struct Scheduler<J> {
    /// Shared with the [`HostSlot`]s handed out.
    core: Arc<Core<J>>,
    /// The limits.
    limits: Limits,
}

impl<J: HostJob + Send + 'static> Scheduler<J> {
    /// A scheduler enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        let state = Mutex::new(State {
            hosts: HashMap::new(),
            host_rates: HashMap::new(),
            global: limits.rate.map(|r| Bucket::new(r, Instant::now())),
            timers: BinaryHeap::new(),
            delayed: HashMap::new(),
            next_id: 1,
            dirty: false,
            closed: false,
            drained: false,
            next_pump: None,
        });
        Scheduler {
            core: Arc::new(Core {
                state,
                wake: Condvar::new(),
            }),
            limits,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<J>> {
        self.core.lock()
    }

    /// Offers a new job. Without limits (or once the run stopped) it comes straight back
    /// with an empty slot, to be started (or given up) by the caller; otherwise it waits
    /// for the dispatch thread.
    pub(crate) fn offer(&self, job: J) -> Option<(J, HostSlot)> {
        if !self.limits.any() {
            return Some((job, HostSlot::none()));
        }
        let mut state = self.lock();
        if state.drained {
            return Some((job, HostSlot::none()));
        }
        self.enqueue(&mut state, job, Instant::now());
        state.dirty = true;
        self.core.wake.notify_one();
        None
    }

    /// Parks `job` until `due` (a retry's backoff); the dispatch thread offers it again
    /// then. After `drain` the job comes straight back: the caller gives it up.
    pub(crate) fn retry_at(&self, job: J, due: Instant) -> Option<J> {
        let mut state = self.lock();
        if state.drained {
            return Some(job);
        }
        let id = state.next_id;
        state.next_id += 1;
        state.delayed.insert(id, job);
        state.timers.push(Reverse((due, id)));
        self.core.wake.notify_one();
        None
    }

    /// Takes every job that has not started (queued or backing off): the run is stopping.
    pub(crate) fn drain(&self) -> Vec<J> {
        let mut state = self.lock();
        state.drained = true;
        let mut jobs: Vec<J> = state.delayed.drain().map(|(_, j)| j).collect();
        for host in state.hosts.values_mut() {
            jobs.extend(host.queue.drain(..));
        }
        state.timers.clear();
        state.next_pump = None;
        jobs
    }

    /// Lets the dispatch thread exit.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.core.wake.notify_all();
    }

    /// The dispatch thread: until `close`, wakes when something changed or a timer is
    /// due, and hands the jobs that may start, each with its slot, to `start`, outside the
    /// lock. (`close` comes after every entry has its record, so no job can be waiting
    /// then.)
    pub(crate) fn dispatch(&self, mut start: impl FnMut(Vec<(J, HostSlot)>)) {
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            match state.timers.peek() {
                _ if state.closed => return,
                _ if state.dirty => {}
                None => {
                    state = self.core.wake.wait(state).recover();
                    continue;
                }
                Some(Reverse((due, _))) if *due > now => {
                    let wait = *due - now;
                    state = self.core.wake.wait_timeout(state, wait).recover().0;
                    continue;
                }
                Some(_) => {}
            }
            let mut offered = Vec::new();
            while let Some(Reverse((due, id))) = state.timers.peek().copied() {
                if due > now {
                    break;
                }
                state.timers.pop();
                if id == 0 {
                    state.next_pump = None;
                } else if let Some(job) = state.delayed.remove(&id) {
                    offered.push(job);
                }
            }
            let mut ready = Vec::new();
            for job in offered {
                if self.limits.any() {
                    self.enqueue(&mut state, job, now);
                } else {
                    ready.push((job, HostSlot::none()));
                }
            }
            state.dirty = false;
            ready.extend(self.ready(&mut state, now));
            if !ready.is_empty() {
                drop(state);
                start(ready);
                state = self.lock();
            }
        }
    }

    /// Gives `host` a rate of its own (the slower of it and `--rate-per-host`), from now on.
    pub(crate) fn set_host_rate(&self, host: &str, rate: f64) {
        let rate = self.limits.host_rate.map_or(rate, |r| r.min(rate));
        let mut state = self.lock();
        state.host_rates.insert(host.to_string(), rate);
        if let Some(h) = state.hosts.get_mut(host) {
            let now = Instant::now();
            h.bucket = Some(match h.bucket.take() {
                Some(mut b) => {
                    b.refill(now);
                    b.rate = clamp_rate(rate);
                    b
                }
                None => Bucket::new(rate, now),
            });
        }
    }

    /// Appends `job` to its host's queue.
    fn enqueue(&self, state: &mut State<J>, job: J, now: Instant) {
        let host_rate = state
            .host_rates
            .get(job.host())
            .copied()
            .or(self.limits.host_rate);
        state
            .hosts
            .entry(job.host().to_string())
            .or_insert_with(|| Host {
                running: 0,
                queue: VecDeque::new(),
                bucket: host_rate.map(|r| Bucket::new(r, now)),
            })
            .queue
            .push_back(job);
    }

    /// Pops every job whose host has a free slot and whose buckets have a token, with its
    /// slot; if a bucket holds a queue back, sets a timer for its next token. Forgets idle
    /// hosts.
    fn ready(&self, state: &mut State<J>, now: Instant) -> Vec<(J, HostSlot)> {
        let mut ready = Vec::new();
        let mut next_token: Option<Instant> = None;
        let State { hosts, global, .. } = &mut *state;
        'hosts: for host in hosts.values_mut() {
            while !host.queue.is_empty() {
                if self.limits.per_host.is_some_and(|max| host.running >= max) {
                    break;
                }
                if let Some(bucket) = host.bucket.as_mut()
                    && let Err(at) = bucket.ready(now)
                {
                    next_token = Some(next_token.map_or(at, |t| t.min(at)));
                    break;
                }
                if let Some(bucket) = global.as_mut() {
                    if let Err(at) = bucket.ready(now) {
                        next_token = Some(next_token.map_or(at, |t| t.min(at)));
                        break 'hosts;
                    }
                    bucket.take();
                }
                if let Some(bucket) = host.bucket.as_mut() {
                    bucket.take();
                }
                if let Some(job) = host.queue.pop_front() {
                    host.running += 1;
                    let core: Arc<dyn FreeSlot> = self.core.clone();
                    let slot = HostSlot {
                        taken: Some((core, job.host().to_string())),
                    };
                    ready.push((job, slot));
                }
            }
        }
        hosts.retain(|_, h| {
            h.running > 0
                || !h.queue.is_empty()
                || h.bucket.as_mut().is_some_and(|b| !b.is_full(now))
        });
        if let Some(at) = next_token {
            // One "look again" timer, at the earliest next token, is enough.
            if state.next_pump.is_none_or(|pending| at < pending) {
                state.next_pump = Some(at);
                state.timers.push(Reverse((at, 0)));
                self.core.wake.notify_one();
            }
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct J(&'static str, u32);

    impl HostJob for J {
        fn host(&self) -> &str {
            self.0
        }
    }

    /// Runs one pass of the dispatch thread's work: what may start now, with the slots
    /// (dropping one frees it).
    fn dispatch_slots(s: &Scheduler<J>) -> Vec<(J, HostSlot)> {
        let mut state = s.lock();
        state.dirty = false;
        s.ready(&mut state, Instant::now())
    }

    /// [`dispatch_slots`], the jobs only (their slots freed at once).
    fn dispatch(s: &Scheduler<J>) -> Vec<J> {
        dispatch_slots(s).into_iter().map(|(job, _)| job).collect()
    }

    fn jobs(started: &[(J, HostSlot)]) -> Vec<&J> {
        started.iter().map(|(job, _)| job).collect()
    }

    #[test]
    fn without_limits_every_job_starts_at_once_on_the_caller() {
        let s = Scheduler::new(Limits::default());
        assert_eq!(s.offer(J("a", 1)).map(|(j, _)| j), Some(J("a", 1)));
    }

    #[test]
    fn a_busy_host_queues_its_jobs_while_another_host_starts() {
        let s = Scheduler::new(Limits {
            per_host: Some(1),
            ..Limits::default()
        });
        assert!(s.offer(J("a", 1)).is_none());
        let first = dispatch_slots(&s);
        assert_eq!(jobs(&first), [&J("a", 1)]);
        assert!(s.offer(J("a", 2)).is_none());
        assert!(s.offer(J("b", 3)).is_none());
        assert_eq!(jobs(&dispatch_slots(&s)), [&J("b", 3)]);
        drop(first);
        let third = dispatch_slots(&s);
        assert_eq!(jobs(&third), [&J("a", 2)]);
        drop(third);
        assert_eq!(dispatch(&s), vec![]);
    }

    #[test]
    fn drain_returns_queued_and_backing_off_jobs() {
        let s = Scheduler::new(Limits {
            per_host: Some(1),
            ..Limits::default()
        });
        s.offer(J("a", 1));
        dispatch(&s);
        s.offer(J("a", 2));
        assert_eq!(
            s.retry_at(J("b", 3), Instant::now() + Duration::from_secs(60)),
            None
        );
        let mut drained = s.drain();
        drained.sort_by_key(|j| j.1);
        assert_eq!(drained, vec![J("a", 2), J("b", 3)]);
        assert_eq!(
            s.retry_at(J("c", 4), Instant::now()),
            Some(J("c", 4)),
            "nothing waits after a drain"
        );
    }

    #[test]
    fn a_rate_limited_host_gets_one_start_per_token() {
        let s = Scheduler::new(Limits {
            host_rate: Some(1.0),
            ..Limits::default()
        });
        s.offer(J("a", 1));
        assert_eq!(dispatch(&s), vec![J("a", 1)]);
        s.offer(J("a", 2));
        assert_eq!(dispatch(&s), vec![], "the next token is a second away");
        s.offer(J("b", 3));
        assert_eq!(
            dispatch(&s),
            vec![J("b", 3)],
            "another host has its own bucket"
        );
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let p = RetryPolicy {
            retries: 5,
            base: Duration::from_secs(1),
            max: Duration::from_secs(4),
        };
        for attempt in 1..=6 {
            let cap = Duration::from_secs(1 << (attempt - 1)).min(p.max);
            assert!(p.delay(attempt, None) <= cap);
        }
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(60))),
            Duration::from_secs(4)
        );
    }

    #[test]
    fn only_transient_failures_are_retried_and_only_while_retries_remain() {
        let p = RetryPolicy {
            retries: 2,
            base: Duration::ZERO,
            max: Duration::ZERO,
        };
        let status = |code| FetchError::HttpStatus {
            code,
            reason: String::new(),
            retry_after: None,
        };
        assert!(p.should_retry(&status(503), 1));
        assert!(p.should_retry(&status(429), 2));
        assert!(
            !p.should_retry(&status(503), 3),
            "two retries, three attempts"
        );
        assert!(!p.should_retry(&status(404), 1));
        assert!(p.should_retry(&FetchError::ConnectionRefused, 1));
        assert!(!p.should_retry(&FetchError::Dns("x".into()), 1));
        assert!(!p.should_retry(&FetchError::Deadline, 1));
    }
}
