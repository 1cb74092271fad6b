//! `cachesrv`: a multi-threaded, Redis-compatible cache server, usable as a binary or embedded.
//!
//! - [`engine`]: the sync, runtime-free keyspace (databases, shards, expiry, eviction, memory
//!   accounting).
//! - [`cmd`]: the command table and handlers, byte-compatible with Redis 7.
//! - [`server`]: the network layer: `server-threads` event loops (epoll through mio) serving
//!   the connections, pub/sub, and the periodic task (on the embedding tokio runtime).
//! - [`config`]: `redis.conf`/`keydb.conf` directives and `CONFIG GET/SET`.
//!
//! Embedding: build a [`config::Config`], [`server::Server::bind`] it and spawn
//! [`server::Server::run`]; [`server::Shared::engine`] gives in-process access to the keyspace.

pub mod cmd;
pub mod config;
pub mod engine;
pub mod log;
pub mod server;

pub use config::Config;
pub use server::{Server, Shared};
