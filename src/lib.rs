//! The `fetchpool` command's modules. They are public for the command's own tests and
//! for `examples/` and `comparisons/`; this crate makes no promise of a library API. The
//! library is `fetchpool-futures` (re-exported here as [`futures`]); the document's URL
//! example built on both is `examples/load_url.rs`.
//!
//! The parts, one folder a concern (ARCHITECTURE.md shows how one URL goes through them):
//! - [`cli`]: the command line (the clap model, its value parsers, the exit codes);
//! - [`run`]: one run: its settings, reading the list, scheduling attempts, delivering
//!   exactly one record per entry, the worker processes' tasks;
//! - [`fetch`]: fetching one URL: the client and its options, errors, reading and
//!   decoding bodies, saving and naming files, proxies, netrc;
//! - [`crawl`]: `--crawl`: scope, the visited set, the frontier, links, robots.txt;
//! - [`record`]: the record model and its formats, the tally, and the readers of record
//!   files;
//! - [`report`]: `fetchpool report` (and `--html`); [`demo`]: `fetchpool demo`;
//! - leaves: [`shard`] deals a list's lines to `--shard K/N`, [`redact`] keeps passwords
//!   out of all output.

#![forbid(unsafe_code)]
// The command's docs are for its developers (`cargo doc --document-private-items`, as
// `.ci/run` builds them), where links to crate-private items resolve.
#![allow(
    rustdoc::private_intra_doc_links,
    reason = "built with --document-private-items"
)]

#[cfg(not(any(feature = "rustls-ring", feature = "rustls-aws-lc")))]
compile_error!(
    "fetchpool needs a TLS backend: enable the feature rustls-ring (the default) or rustls-aws-lc"
);

pub mod cli;
pub mod crawl;
pub mod demo;
pub mod fetch;
pub use fetchpool_futures as futures;
pub mod record;
pub(crate) mod redact;
pub mod report;
pub mod run;
pub mod shard;
mod sync;
pub(crate) mod warc;
