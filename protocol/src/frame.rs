//! RESP2 and RESP3 frames as owned values.
//!
//! A [`Frame`] is what the client decoder produces and what [`crate::encode::RespWrite::write_frame`]
//! writes. RESP2's null bulk (`$-1`) and null array (`*-1`) and RESP3's null (`_`) all decode to
//! [`Frame::Null`]; attributes (`|`) are read and dropped, as most clients do.

use bytes::Bytes;

/// The protocol version a connection speaks: RESP2 (the default) or RESP3 (after `HELLO 3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// RESP2.
    #[default]
    Resp2,
    /// RESP3.
    Resp3,
}

/// One RESP value.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `+OK\r\n`
    Simple(Bytes),
    /// `-ERR message\r\n`; also RESP3's blob error `!<len>\r\n...`.
    Error(Bytes),
    /// `:42\r\n`
    Integer(i64),
    /// `$3\r\nfoo\r\n`
    Bulk(Bytes),
    /// `$-1\r\n`, `*-1\r\n` or RESP3 `_\r\n`.
    Null,
    /// `*2\r\n...`
    Array(Vec<Frame>),
    /// RESP3 `%1\r\n...` (key, value) pairs in wire order.
    Map(Vec<(Frame, Frame)>),
    /// RESP3 `~2\r\n...`
    Set(Vec<Frame>),
    /// RESP3 `,3.14\r\n`
    Double(f64),
    /// RESP3 `#t\r\n`
    Boolean(bool),
    /// RESP3 `(1234567890123456789012\r\n`
    BigNumber(Bytes),
    /// RESP3 `=15\r\ntxt:Some string\r\n`; `format` is the three-byte type.
    Verbatim {
        /// The three-byte format, e.g. `txt` or `mkd`.
        format: [u8; 3],
        /// The text after `xxx:`.
        text: Bytes,
    },
    /// RESP3 `>3\r\n...`: out-of-band data such as pub/sub messages.
    Push(Vec<Frame>),
}

impl Frame {
    /// The bytes of a simple string, bulk string, verbatim string or big number.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Frame::Simple(b) | Frame::Bulk(b) | Frame::BigNumber(b) => Some(b),
            Frame::Verbatim { text, .. } => Some(text),
            _ => None,
        }
    }

    /// True for `Frame::Null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Frame::Null)
    }

    /// A bulk string frame from anything byte-like.
    pub fn bulk(b: impl Into<Bytes>) -> Frame {
        Frame::Bulk(b.into())
    }
}
