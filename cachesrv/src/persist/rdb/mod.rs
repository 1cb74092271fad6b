//! The RDB format of Redis 7.0 (RDB version 10): values ([`encode`], [`decode`]) and whole
//! files ([`file`](mod@file)), with the pieces they are made of: [`crc64`], [`lzf`],
//! [`listpack`] and the older compact encodings in [`compact`].
//!
//! Runtime-free and socket-free: functions over byte slices and `Vec<u8>` buffers. Nothing
//! here panics on input; every inconsistency in data being read is an [`RdbError`].
//!
//! What is written, as Redis 7.0 writes it: strings (integer encodings for short canonical
//! integers, LZF for strings over 20 bytes when compression is on), lists as `QUICKLIST_2` of
//! listpack nodes (at most 8 KB each, `list-max-listpack-size -2`), hashes as `HASH_LISTPACK`
//! or `HASH`, sets as `SET_INTSET` or `SET`. What is read: all of that plus every older encoding
//! Redis 7.0 loads (`LIST`, `LIST_ZIPLIST`, `LIST_QUICKLIST`, `HASH_ZIPMAP`, `HASH_ZIPLIST`).
//! Sorted sets are written as `ZSET_LISTPACK` or `ZSET_2` (as Redis 7.0 writes them) and read
//! from any of their types; streams and module types are refused.

pub mod compact;
pub mod crc64;
pub mod decode;
pub mod encode;
pub mod file;
pub mod listpack;
pub mod lzf;

/// The RDB version written (Redis 7.0's).
pub const RDB_VERSION: u16 = 10;

/// Value types (`RDB_TYPE_*`).
pub mod types {
    /// A string.
    pub const STRING: u8 = 0;
    /// A list as a sequence of strings (before Redis 3.2).
    pub const LIST: u8 = 1;
    /// A set as a sequence of strings.
    pub const SET: u8 = 2;
    /// A sorted set with scores as text (before RDB 8).
    pub const ZSET: u8 = 3;
    /// A hash as field and value strings.
    pub const HASH: u8 = 4;
    /// A sorted set with binary double scores.
    pub const ZSET_2: u8 = 5;
    /// A module value (pre-release format).
    pub const MODULE_PRE_GA: u8 = 6;
    /// A module value.
    pub const MODULE_2: u8 = 7;
    /// A hash as a zipmap (before Redis 2.6).
    pub const HASH_ZIPMAP: u8 = 9;
    /// A list as a ziplist (before Redis 3.2).
    pub const LIST_ZIPLIST: u8 = 10;
    /// A set of integers as an intset.
    pub const SET_INTSET: u8 = 11;
    /// A sorted set as a ziplist (before Redis 7).
    pub const ZSET_ZIPLIST: u8 = 12;
    /// A hash as a ziplist (before Redis 7).
    pub const HASH_ZIPLIST: u8 = 13;
    /// A list as a quicklist of ziplists (Redis 3.2 to 6.2).
    pub const LIST_QUICKLIST: u8 = 14;
    /// A stream.
    pub const STREAM_LISTPACKS: u8 = 15;
    /// A hash as a listpack.
    pub const HASH_LISTPACK: u8 = 16;
    /// A sorted set as a listpack.
    pub const ZSET_LISTPACK: u8 = 17;
    /// A list as a quicklist of listpack (or plain) nodes.
    pub const LIST_QUICKLIST_2: u8 = 18;
    /// A stream (Redis 7.0 format).
    pub const STREAM_LISTPACKS_2: u8 = 19;
    /// A set as a listpack (Redis 7.2, RDB 11).
    pub const SET_LISTPACK: u8 = 20;
    /// A stream (Redis 7.2 format).
    pub const STREAM_LISTPACKS_3: u8 = 21;
}

/// File opcodes (`RDB_OPCODE_*`).
pub mod opcodes {
    /// A function library (Redis 7.0).
    pub const FUNCTION2: u8 = 245;
    /// A function (pre-release format).
    pub const FUNCTION_PRE_GA: u8 = 246;
    /// Module auxiliary data.
    pub const MODULE_AUX: u8 = 247;
    /// LRU idle time of the next key, in seconds.
    pub const IDLE: u8 = 248;
    /// LFU counter of the next key.
    pub const FREQ: u8 = 249;
    /// An auxiliary field (name, value).
    pub const AUX: u8 = 250;
    /// Sizes of the next database's main and expires tables.
    pub const RESIZEDB: u8 = 251;
    /// Expiry of the next key, Unix ms (u64 LE).
    pub const EXPIRETIME_MS: u8 = 252;
    /// Expiry of the next key, Unix seconds (u32 LE).
    pub const EXPIRETIME: u8 = 253;
    /// Selects a database.
    pub const SELECTDB: u8 = 254;
    /// End of file (the checksum follows).
    pub const EOF: u8 = 255;
}

/// Why RDB data could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RdbError {
    /// The data ends before what it declares.
    #[error("unexpected end of data at byte {0}")]
    Truncated(usize),
    /// Not an RDB file.
    #[error("wrong signature trying to load DB from file (not an RDB file)")]
    Signature,
    /// An RDB version this server cannot read.
    #[error("can't handle RDB format version {0}")]
    Version(u32),
    /// The CRC64 trailer does not match the content.
    #[error("wrong RDB checksum (expected {expected:#018x}, got {actual:#018x})")]
    Checksum {
        /// Stored in the file.
        expected: u64,
        /// Computed over the content.
        actual: u64,
    },
    /// Inconsistent content.
    #[error("corrupt RDB data at byte {at}: {what}")]
    Corrupt {
        /// Offset where the problem was found.
        at: usize,
        /// What is wrong.
        what: String,
    },
    /// A value type this server does not hold.
    #[error("{0}")]
    Unsupported(String),
}
