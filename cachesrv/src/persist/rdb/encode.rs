//! Writing values in the RDB format, as Redis 7.0's `rdbSaveObject` does.
//!
//! [`Encoder`] appends to a caller's `Vec<u8>`: lengths ([`write_len`]), strings
//! ([`Encoder::write_string`]: INT8/16/32 encodings for canonical integers of up to 11
//! characters, LZF for strings over 20 bytes when it saves at least 4 bytes and compression is
//! on, raw otherwise), and whole values ([`Encoder::write_value`]: type byte and body).
//! [`Encoder::dump_payload`] builds the `DUMP` payload: the value, the RDB version (u16 LE) and a
//! CRC64 (u64 LE) of everything before it.

use super::crc64::crc64;
use super::listpack::{self, Builder};
use super::lzf::Compressor;
use super::{compact, types, RDB_VERSION};
use crate::engine::zset::fmt_score;
use crate::engine::{parse_i64_strict, HashValue, ListValue, SetValue, ValueRef, ZSetValue};

/// Largest listpack of a list node (`list-max-listpack-size -2`: 8 KB).
pub const LIST_NODE_BYTES: usize = 8192;
/// `QUICKLIST_NODE_CONTAINER_PACKED`: a node holding a listpack.
const NODE_PACKED: u64 = 2;

/// Appends an RDB length: 6-bit, 14-bit, 32-bit or 64-bit form.
pub fn write_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(0x40 | (len >> 8) as u8);
        out.push((len & 0xFF) as u8);
    } else if let Ok(l) = u32::try_from(len) {
        out.push(0x80);
        out.extend_from_slice(&l.to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Writes RDB values; holds the LZF compressor's table between strings.
#[derive(Debug)]
pub struct Encoder {
    compress: bool,
    lzf: Compressor,
}

impl Encoder {
    /// An encoder; `compress` is `rdbcompression`.
    pub fn new(compress: bool) -> Self {
        Encoder {
            compress,
            lzf: Compressor::default(),
        }
    }

    /// Turns LZF compression on or off (`rdbcompression`).
    pub fn set_compression(&mut self, on: bool) {
        self.compress = on;
    }

    /// Appends a string: integer-encoded, LZF-compressed or raw, as Redis chooses.
    pub fn write_string(&mut self, out: &mut Vec<u8>, s: &[u8]) {
        if s.len() <= 11 {
            if let Some(v) = parse_i64_strict(s) {
                if let Ok(v) = i8::try_from(v) {
                    out.push(0xC0);
                    out.push(v as u8);
                    return;
                } else if let Ok(v) = i16::try_from(v) {
                    out.push(0xC1);
                    out.extend_from_slice(&v.to_le_bytes());
                    return;
                } else if let Ok(v) = i32::try_from(v) {
                    out.push(0xC2);
                    out.extend_from_slice(&v.to_le_bytes());
                    return;
                }
            }
        }
        if self.compress && s.len() > 20 && self.write_lzf(out, s) {
            return;
        }
        write_len(out, s.len() as u64);
        out.extend_from_slice(s);
    }

    fn write_lzf(&mut self, out: &mut Vec<u8>, s: &[u8]) -> bool {
        // Reserve room for the header (type byte and two lengths of up to 9 bytes each), then
        // compress after it and move the data down once its length is known.
        let start = out.len();
        out.resize(start + 19, 0);
        let Some(clen) = self.lzf.compress(s, out, s.len() - 4) else {
            out.truncate(start);
            return false;
        };
        let mut hdr = Vec::with_capacity(19);
        hdr.push(0xC3);
        write_len(&mut hdr, clen as u64);
        write_len(&mut hdr, s.len() as u64);
        let data_at = start + 19;
        out.copy_within(data_at..data_at + clen, start + hdr.len());
        out[start..start + hdr.len()].copy_from_slice(&hdr);
        out.truncate(start + hdr.len() + clen);
        true
    }

    /// The RDB type byte `write_value` uses for `v`.
    pub fn value_type(v: ValueRef<'_>) -> u8 {
        match v {
            ValueRef::Str(_) => types::STRING,
            ValueRef::List(_) => types::LIST_QUICKLIST_2,
            ValueRef::Hash(h) if h.encoding() == "listpack" => types::HASH_LISTPACK,
            ValueRef::Hash(_) => types::HASH,
            ValueRef::Set(s) if s.encoding() == "intset" => types::SET_INTSET,
            ValueRef::Set(_) => types::SET,
            ValueRef::ZSet(z) if z.encoding() == "listpack" => types::ZSET_LISTPACK,
            ValueRef::ZSet(_) => types::ZSET_2,
        }
    }

    /// Appends the type byte and the value.
    pub fn write_value(&mut self, out: &mut Vec<u8>, v: ValueRef<'_>) {
        out.push(Self::value_type(v));
        self.write_body(out, v);
    }

    /// Appends the value without its type byte (see [`Encoder::value_type`]).
    pub fn write_body(&mut self, out: &mut Vec<u8>, v: ValueRef<'_>) {
        let t = Self::value_type(v);
        match v {
            ValueRef::Str(s) => self.write_string(out, s),
            ValueRef::List(l) => self.write_list(out, l),
            ValueRef::Hash(h) if t == types::HASH_LISTPACK => self.write_hash_listpack(out, h),
            ValueRef::Hash(h) => self.write_hash(out, h),
            ValueRef::Set(s) if t == types::SET_INTSET => self.write_intset(out, s),
            ValueRef::Set(s) => self.write_set(out, s),
            ValueRef::ZSet(z) if t == types::ZSET_LISTPACK => self.write_zset_listpack(out, z),
            ValueRef::ZSet(z) => self.write_zset(out, z),
        }
    }

    /// A small sorted set as Redis 7.0 writes it: one listpack of member, score pairs in
    /// score order, the score as Redis formats it (an integer entry when integral).
    fn write_zset_listpack(&mut self, out: &mut Vec<u8>, z: &ZSetValue) {
        let mut lp = Builder::new();
        let mut buf = [0u8; 32];
        for (m, score) in z.iter() {
            lp.push(m);
            lp.push(fmt_score(score, &mut buf));
        }
        let lp = lp.finish();
        self.write_string(out, &lp);
    }

    /// A large sorted set as Redis 7.0 writes it (`ZSET_2`): the count, then each member and
    /// its score as a little-endian binary double, from the highest score down (Redis walks
    /// its skiplist from the tail so that loading inserts at the head).
    fn write_zset(&mut self, out: &mut Vec<u8>, z: &ZSetValue) {
        write_len(out, z.len() as u64);
        for (m, score) in z.iter().rev() {
            self.write_string(out, m);
            out.extend_from_slice(&score.to_le_bytes());
        }
    }

    fn write_list(&mut self, out: &mut Vec<u8>, l: &ListValue) {
        let mut nodes = Vec::new();
        let mut node = Builder::new();
        for e in l.iter() {
            if node.count() > 0 && node.size() + listpack::entry_size(e) > LIST_NODE_BYTES {
                nodes.push(std::mem::take(&mut node).finish());
            }
            node.push(e);
        }
        if node.count() > 0 {
            nodes.push(node.finish());
        }
        write_len(out, nodes.len() as u64);
        for n in &nodes {
            write_len(out, NODE_PACKED);
            self.write_string(out, n);
        }
    }

    fn write_hash_listpack(&mut self, out: &mut Vec<u8>, h: &HashValue) {
        let mut lp = Builder::new();
        for (f, v) in h.iter() {
            lp.push(f);
            lp.push(v);
        }
        let lp = lp.finish();
        self.write_string(out, &lp);
    }

    fn write_hash(&mut self, out: &mut Vec<u8>, h: &HashValue) {
        write_len(out, h.len() as u64);
        for (f, v) in h.iter() {
            self.write_string(out, f);
            self.write_string(out, v);
        }
    }

    fn write_intset(&mut self, out: &mut Vec<u8>, s: &SetValue) {
        let mut ints: Vec<i64> = s.iter().filter_map(parse_i64_strict).collect();
        let blob = compact::intset(&mut ints);
        self.write_string(out, &blob);
    }

    fn write_set(&mut self, out: &mut Vec<u8>, s: &SetValue) {
        write_len(out, s.len() as u64);
        for m in s.iter() {
            self.write_string(out, m);
        }
    }

    /// The `DUMP` payload of `v`: type, value, RDB version (u16 LE), CRC64 (u64 LE).
    pub fn dump_payload(&mut self, v: ValueRef<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_value(&mut out, v);
        out.extend_from_slice(&RDB_VERSION.to_le_bytes());
        let crc = crc64(0, &out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(enc: &mut Encoder, v: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        enc.write_string(&mut out, v);
        out
    }

    #[test]
    fn lengths() {
        let mut out = Vec::new();
        for l in [0u64, 63, 64, 16383, 16384, u64::from(u32::MAX), 1 << 40] {
            write_len(&mut out, l);
        }
        assert_eq!(
            out,
            [
                &[0u8, 63, 0x40, 64, 0x7F, 0xFF, 0x80, 0, 0, 0x40, 0][..],
                &[0x80, 0xFF, 0xFF, 0xFF, 0xFF],
                &[0x81, 0, 0, 1, 0, 0, 0, 0, 0]
            ]
            .concat()
        );
    }

    #[test]
    fn string_encodings_as_redis() {
        let mut e = Encoder::new(true);
        assert_eq!(s(&mut e, b"12"), vec![0xC0, 12]);
        assert_eq!(s(&mut e, b"-129"), vec![0xC1, 0x7F, 0xFF]);
        assert_eq!(s(&mut e, b"100000"), vec![0xC2, 0xA0, 0x86, 1, 0]);
        assert_eq!(
            s(&mut e, b"4294967296"),
            [&[10u8][..], b"4294967296"].concat()
        );
        assert_eq!(s(&mut e, b"012"), vec![3, b'0', b'1', b'2']);
        let long = vec![b'a'; 100];
        let c = s(&mut e, &long);
        assert_eq!(c[0], 0xC3);
        assert!(c.len() < 20);
        let mut plain = Encoder::new(false);
        assert_eq!(s(&mut plain, &long).len(), 102);
        // Incompressible data is stored raw.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..50)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        assert_eq!(s(&mut e, &noise)[0], 50);
    }

    #[test]
    fn dump_of_a_string_matches_redis() {
        // redis-cli DUMP of SET k hello (Redis 7.0).
        let mut e = Encoder::new(true);
        let p = e.dump_payload(ValueRef::Str(b"hello"));
        assert_eq!(&p[..7], b"\x00\x05hello");
        assert_eq!(&p[7..9], &[0x0a, 0x00]);
        assert_eq!(p.len(), 17);
    }
}
