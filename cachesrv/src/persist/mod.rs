//! Persistence: the RDB format ([`rdb`]), snapshots of the keyspace to disk ([`snapshot`]),
//! and the append-only file's manifest and records ([`aof`]).
//!
//! Runtime-free and socket-free: `server -> cmd -> state -> persist -> engine`. The format
//! code works on byte buffers; the snapshot code walks the engine a shard at a time and
//! writes files (temp file, fsync, rename), from the calling thread or a thread of its own.

pub mod aof;
pub mod rdb;
pub mod snapshot;
