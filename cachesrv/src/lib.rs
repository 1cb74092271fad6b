//! `cachesrv`: a multi-threaded, Redis-compatible cache server, usable as a binary or embedded.
//!
//! - [`engine`]: the sync, runtime-free keyspace (databases, shards, expiry, eviction, memory
//!   accounting).
//! - [`state`]: what the commands work with, without sockets or a runtime: clients, pub/sub,
//!   sessions, command statistics, the slow log, and [`Shared`] which holds them all.
//! - [`cmd`]: the command table and handlers, byte-compatible with Redis 7, and
//!   [`cmd::Runner`], an in-process client (no socket, no runtime).
//! - [`server`]: the network layer: `server-threads` event loops (epoll through mio) serving
//!   the connections, and the periodic task (a thread); no async runtime.
//!
//! Dependencies go one way: `server -> cmd -> state -> engine`.
//! - [`config`]: `redis.conf`/`keydb.conf` directives and `CONFIG GET/SET`.
//!
//! Embedding: build a [`config::Config`], [`server::Server::bind`] it and await
//! [`server::Server::run`] (any executor) or call [`server::Server::serve`] on a thread;
//! [`cmd::Runner`] runs commands in process, as the gateway does.

pub mod cmd;
pub mod config;
pub mod engine;
pub mod log;
pub mod persist;
pub mod server;
pub mod state;

pub use config::Config;
pub use server::Server;
pub use state::Shared;
