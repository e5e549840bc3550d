//! The ceiling of the HTTP layer alone: `W` plain threads share one blocking reqwest
//! client (as fetchpool's workers do) and fetch a URL list with `Fetcher::load_url`, with
//! no executor, no futures, no output. `comparisons/run.sh` runs it next to fetchpool, so the
//! cost of everything fetchpool adds on top of reqwest can be read off directly.
//!
//! Usage: `cargo run --release -p fetchpool-comparisons --bin reqwest-ceiling -- URLS.txt WORKERS`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fetchpool::fetch::{FetchOptions, Fetcher};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(workers)) = (args.get(1), args.get(2).and_then(|w| w.parse().ok()))
    else {
        eprintln!("usage: reqwest_ceiling URLS.txt WORKERS");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(path).expect("readable URL list");
    let urls: Arc<Vec<String>> = Arc::new(text.lines().map(String::from).collect());
    let mut options = FetchOptions::with_timeout(Duration::from_secs(60));
    options.no_proxy = true;
    let fetcher = Fetcher::new(&options).expect("HTTP client");
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..workers)
        .map(|_| {
            let (fetcher, urls, next, failures) = (
                fetcher.clone(),
                urls.clone(),
                next.clone(),
                failures.clone(),
            );
            std::thread::spawn(move || {
                // Bounded: each thread takes URLs until the list is exhausted.
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(url) = urls.get(i) else { break };
                    if fetcher.load_url(url).is_err() {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("fetch thread");
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{} URLs ({} failed) in {secs:.3}s: {:.0} URLs/s",
        urls.len(),
        failures.load(Ordering::Relaxed),
        urls.len() as f64 / secs
    );
}
