//! The cache server: a sync engine and a tokio network layer (in progress).
