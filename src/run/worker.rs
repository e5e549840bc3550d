//! `--executor process`: what a worker process runs.
//!
//! The command's `main` hands [`registry`] to the guard, so a copy of `fetchpool` started
//! by the process pool serves these two tasks: [`SET_UP`] (the pool's initializer) builds
//! the worker's own HTTP client from the run's [`FetchOptions`], and [`LOAD_URL`] is one
//! attempt at one URL, what a worker thread runs with `--executor thread`. Retries, limits,
//! records and signals stay in the parent; a worker only fetches (and saves, with `-d`).
//!
//! Each worker has its own client, so connections and the `--cookies` jar are per worker
//! process rather than shared by the whole run.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::fetch::{FetchOptions, Fetcher};
use crate::futures::{Registry, Task};
use crate::run::Attempt;

/// One attempt at one URL, as it crosses to a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Load {
    /// The URL (a parsed URL's text parses back to the same URL).
    pub(crate) url: String,
    /// Time left before the run's deadline when the attempt was sent.
    pub(crate) deadline_in: Option<Duration>,
    /// Where the body is saved (`-d`).
    pub(crate) target: Option<crate::fetch::save::Target>,
    /// `-u`, `-H` and `-b` may go with it.
    pub(crate) credentials: bool,
}

/// The worker's initializer: builds its HTTP client.
pub(crate) static SET_UP: Task<FetchOptions, (), String> = Task::new("fetchpool.set_up", set_up);

/// One attempt at one URL: Python's `load_url(url, timeout)`.
pub(crate) static LOAD_URL: Task<Load, Attempt, String> = Task::new("fetchpool.load_url", load_url);

/// The worker's client, made by [`SET_UP`].
static FETCHER: OnceLock<Fetcher> = OnceLock::new();

/// The tasks a `fetchpool` worker process serves.
pub fn registry() -> Registry {
    Registry::new().register(&SET_UP).register(&LOAD_URL)
}

fn set_up(mut options: FetchOptions) -> Result<(), String> {
    // One worker thread per process: it drives its own requests.
    options.own_client_per_worker = true;
    let fetcher =
        Fetcher::new(&options).map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
    FETCHER
        .set(fetcher)
        .map_err(|_| "the worker was set up twice".to_string())
}

fn load_url(load: Load) -> Result<Attempt, String> {
    let fetcher = FETCHER.get().ok_or("the worker was not set up")?;
    let url = Url::parse(&load.url).map_err(|e| format!("invalid URL {}: {e}", load.url))?;
    let now = Instant::now();
    let deadline = match load.deadline_in {
        None => None,
        Some(left) if left.is_zero() => return Ok(None),
        Some(left) => now.checked_add(left),
    };
    let (result, exchanges, failed) = fetcher.fetch_capturing(crate::fetch::Request {
        url: &url,
        deadline,
        target: load.target.as_ref(),
        credentials: load.credentials,
    });
    let archived = crate::run::attempt::Archived { exchanges, failed };
    Ok(Some((result, now.elapsed(), archived)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    #[test]
    fn fetch_options_cross_to_a_worker_intact() {
        let mut o = FetchOptions::with_timeout(Duration::from_millis(1500));
        o.headers = vec![(
            HeaderName::from_static("x-token"),
            HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        )];
        o.cookie = Some(HeaderValue::from_static("a=1; b=2"));
        o.proxy = Some(Url::parse("http://user:pw@127.0.0.1:3128/").unwrap());
        o.user = Some(("me".into(), "secret".into()));
        o.accept = vec![(404, 404)];
        let bytes = postcard::to_allocvec(&o).unwrap();
        let back: FetchOptions = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(format!("{back:?}"), format!("{o:?}"));
    }
}
