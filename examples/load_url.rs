//! The URL example of Python's `concurrent.futures` docs, with this project's library:
//! submit one `load_url` task per URL to a five-worker pool, then print each page's size
//! or error as it completes.
//!
//! ```text
//! cargo run --example load_url                      # the document's three URLs
//! cargo run --example load_url -- URL [URL...]      # yours
//! ```
//!
//! Python:
//!
//! ```python
//! with concurrent.futures.ThreadPoolExecutor(max_workers=5) as executor:
//!     future_to_url = {executor.submit(load_url, url, 60): url for url in URLS}
//!     for future in concurrent.futures.as_completed(future_to_url):
//!         url = future_to_url[future]
//!         try:
//!             data = future.result()
//!         except Exception as exc:
//!             print('%r generated an exception: %s' % (url, exc))
//!         else:
//!             print('%r page is %d bytes' % (url, len(data)))
//! ```

use std::collections::HashMap;
use std::time::Duration;

use fetchpool::fetch::{FetchOptions, Fetcher};
use fetchpool::futures::{ThreadPoolExecutor, as_completed};
use fetchpool::record::py_repr;

/// The document's list: two news sites and a domain that does not exist.
const URLS: [&str; 3] = [
    "http://www.foxnews.com/",
    "http://www.cnn.com/",
    "http://some-made-up-domain.com/",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let urls: Vec<String> = if args.is_empty() {
        URLS.iter().map(|u| u.to_string()).collect()
    } else {
        args
    };
    let fetcher = Fetcher::new(&FetchOptions::with_timeout(Duration::from_secs(60)))?;
    // `with ThreadPoolExecutor(max_workers=5) as executor:` (the drop at the end of
    // `main` is the end of the `with` block: it waits for the workers).
    let executor = ThreadPoolExecutor::new(5)?;
    let mut future_to_url = HashMap::new();
    for url in &urls {
        let (fetcher, target) = (fetcher.clone(), url.clone());
        let future = executor.submit(move || fetcher.load_url(&target))?;
        future_to_url.insert(future, url.clone());
    }
    for future in as_completed(future_to_url.keys(), None) {
        let future = future?;
        let url = &future_to_url[&future];
        match future.result(None) {
            Ok(page) => println!("{} page is {} bytes", py_repr(url), page.bytes),
            Err(exc) => println!("{} generated an exception: {exc}", py_repr(url)),
        }
    }
    Ok(())
}
