//! RESP, the Redis serialization protocol, for both ends of a connection.
//!
//! - [`frame`]: RESP2 and RESP3 frames as values ([`Frame`]).
//! - [`encode`]: a reply encoder that writes straight into a `BytesMut` (no allocation per
//!   reply), and the encoder for a client's command.
//! - [`request`]: the server-side request parser: arrays of bulk strings and inline commands,
//!   incremental, arguments borrowed from the read buffer, with Redis 7's limits and exact
//!   protocol error replies.
//! - [`decode`]: the client-side reply decoder: incremental, iterative, with a cap on nesting
//!   depth, so no peer can crash or hang the process.
//! - [`client`]: an async client: one multiplexed connection per pool slot, AUTH/HELLO/SELECT on
//!   connect, timeouts, reconnect with backoff, typed helpers and a pub/sub stream.
//!
//! This crate knows nothing of storage or MCP.

pub mod client;
pub mod decode;
pub mod encode;
pub mod error;
pub mod frame;
pub mod number;
pub mod request;

pub use client::{
    Client, ClientConfig, Message, SentinelConfig, SetCondition, SetExpiry, SetOptions,
    Subscription, TlsConfig,
};
pub use decode::{DecodeError, DecodeLimits, Decoder};
pub use encode::{encode_command, RespWrite};
pub use error::{Error, ServerError};
pub use frame::{Frame, Protocol};
pub use request::{split_args, Args, Parsed, ParserLimits, ProtocolError, RequestParser};
