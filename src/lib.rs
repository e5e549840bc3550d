//! Python's `concurrent.futures`, done right in Rust, and a parallel URL fetcher built on it.
//!
//! The example at the end of Python's `concurrent.futures` docs, in Rust: submit one
//! `load_url` task per URL, then print each page's size or error as it completes.
//!
//! ```no_run
//! use std::time::Duration;
//! use fetchpool::fetch::{FetchOptions, Fetcher};
//! use fetchpool::futures::{ThreadPoolExecutor, as_completed};
//!
//! let urls = ["http://www.foxnews.com/", "http://www.cnn.com/", "http://some-made-up-domain.com/"];
//! let fetcher = Fetcher::new(&FetchOptions::with_timeout(Duration::from_secs(60)))?;
//! let executor = ThreadPoolExecutor::new(5)?;
//! let mut future_to_url = Vec::new();
//! for url in urls {
//!     let fetcher = fetcher.clone();
//!     let future = executor.submit(move || fetcher.load_url(url))?;
//!     future_to_url.push((future, url));
//! }
//! let futures: Vec<_> = future_to_url.iter().map(|(f, _)| f.clone()).collect();
//! for future in as_completed(&futures, None) {
//!     let future = future?;
//!     let url = future_to_url.iter().find(|(f, _)| *f == future).unwrap().1;
//!     match future.result(None) {
//!         Ok(page) => println!("{url:?} page is {} bytes", page.bytes),
//!         Err(e) => println!("{url:?} generated an exception: {e}"),
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The executor is the `fetchpool-futures` crate (re-exported here as [`futures`]).
//!
//! Modules: [`futures`] is the executor; [`fetch`] fetches one URL; [`input`] reads URL
//! lists lazily; [`schedule`] decides when each attempt may start (per-host limits, rates,
//! retries); [`report`] formats records; [`sink`] collects them from many threads;
//! [`resume`] reads the record file back; [`cli`] holds the arguments and [`run`] the run
//! of the command-line tool.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cli;
pub mod fetch;
pub use fetchpool_futures as futures;
pub mod input;
pub mod proxy;
pub mod redact;
pub mod report;
pub mod resume;
pub mod run;
pub mod schedule;
pub mod sink;
