//! Engine errors. Each `Display` text is the exact Redis 7 error reply (without the leading `-`),
//! so the command layer can send it as is.

use thiserror::Error;

/// The write was refused because memory is over `maxmemory` and eviction cannot free enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("OOM command not allowed when used memory > 'maxmemory'.")]
pub struct Oom;

/// Errors of key operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EngineError {
    /// The key holds another type.
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    /// `INCR` on a value that is not a canonical 64-bit integer.
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    /// `INCRBY` result out of the 64-bit range.
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    /// A string would exceed 512 MB (`proto-max-bulk-len`).
    #[error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")]
    TooLarge,
    /// A database index outside `0..databases`.
    #[error("ERR DB index is out of range")]
    DbIndex,
    /// The shard holding the key is at its capacity (16 777 215 keys).
    #[error("OOM command not allowed when used memory > 'maxmemory'.")]
    Full,
    /// See [`Oom`].
    #[error(transparent)]
    Oom(#[from] Oom),
}
