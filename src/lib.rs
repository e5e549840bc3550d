//! The `fetchpool` command's modules. They are public for the command's own tests and
//! for `examples/` and `comparisons/`; this crate makes no promise of a library API. The
//! library is `fetchpool-futures` (re-exported here as [`futures`]); the document's URL
//! example built on both is `examples/load_url.rs`.
//!
//! Modules: [`cli`] holds the arguments and [`settings`] the configuration made from them
//! once; [`run`] is one run; [`input`] reads URL lists lazily; [`schedule`] decides when
//! each attempt may start (per-host limits, rates, retries); [`fetch`] fetches one URL,
//! through the proxy [`proxy`] picks; [`report`] formats records; [`sink`] collects them
//! from many threads; [`resume`] reads the record file back; [`redact`] keeps passwords
//! out of all output; [`shard`] deals a list's lines to `--shard K/N`; [`merge`] is
//! `fetchpool report`, which merges record files and checks coverage; [`crawl`] is
//! `--crawl` (scope, the visited set, the frontier), with [`links`] finding a page's links
//! as it streams and [`robots`] keeping each host's robots.txt.

#![forbid(unsafe_code)]

#[cfg(not(any(feature = "rustls-ring", feature = "rustls-aws-lc")))]
compile_error!(
    "fetchpool needs a TLS backend: enable the feature rustls-ring (the default) or rustls-aws-lc"
);

pub mod cli;
pub mod crawl;
pub mod demo;
pub mod fetch;
pub mod html;
pub use fetchpool_futures as futures;
pub mod input;
pub mod links;
pub mod merge;
pub mod names;
pub mod netrc;
pub mod proxy;
pub mod redact;
pub mod report;
pub mod resume;
pub mod robots;
pub mod run;
pub mod save;
pub mod schedule;
pub mod settings;
pub mod shard;
pub mod sink;
#[cfg(process_pool)]
pub mod worker;
