//! An experiment for BENCHMARKS.md, not part of fetchpool: what if each worker thread
//! drove its own requests instead of handing them to reqwest's single blocking-client
//! I/O thread? `W` threads each own a current-thread tokio runtime and an async reqwest
//! client, and block on one request at a time (still a thread pool, still blocking from
//! the worker's view), so no request crosses threads.
//!
//! Usage: `cargo run --release -p fetchpool-comparisons --bin worker-runtimes -- URLS.txt WORKERS`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn main() {
    fetchpool::fetch::install_tls_provider();
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(workers)) = (args.get(1), args.get(2).and_then(|w| w.parse().ok()))
    else {
        eprintln!("usage: worker_runtimes URLS.txt WORKERS");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(path).expect("readable URL list");
    let urls: Arc<Vec<String>> = Arc::new(text.lines().map(String::from).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..workers)
        .map(|_: usize| {
            let (urls, next, failures) = (urls.clone(), next.clone(), failures.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                let client = rt.block_on(async {
                    reqwest::Client::builder()
                        .no_proxy()
                        .build()
                        .expect("client")
                });
                // Bounded: each thread takes URLs until the list is exhausted.
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(url) = urls.get(i) else { break };
                    let ok = rt.block_on(async {
                        let Ok(mut response) = client
                            .get(url)
                            .timeout(Duration::from_secs(60))
                            .send()
                            .await
                        else {
                            return false;
                        };
                        let mut bytes = 0usize;
                        while let Ok(Some(chunk)) = response.chunk().await {
                            bytes += chunk.len();
                        }
                        response.status().is_success() && bytes > 0
                    });
                    if !ok {
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
