//! One module a concern of the command: each file tests what its name says.

mod cli;
mod compressed;
mod crawl;
mod demo;
mod deploy;
mod executor;
mod fetch;
mod handoff;
mod hostile;
mod http;
mod interrupt;
mod record;
mod resilience;
mod save;
mod shard;
mod shipping;
mod warc;
