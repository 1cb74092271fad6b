//! Persistence: the RDB format ([`rdb`]) and snapshots of the keyspace to disk ([`snapshot`]).
//!
//! Runtime-free and socket-free: `server -> cmd -> state -> persist -> engine`. The format
//! code works on byte buffers; the snapshot code walks the engine a shard at a time and
//! writes files (temp file, fsync, rename), from the calling thread or a thread of its own.

pub mod aof;
pub mod rdb;
pub mod snapshot;
