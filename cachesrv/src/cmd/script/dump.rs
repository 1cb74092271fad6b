//! FUNCTION DUMP's payload: the libraries' code, restorable with FUNCTION RESTORE on this
//! server. The format is cachesrv's own (Redis's is an RDB fragment): `CSFN`, a version
//! byte, each library's code as a 4-byte little-endian length and the bytes, and an 8-byte
//! FNV-1a checksum of everything before it.

use std::collections::BTreeMap;
use std::hash::Hasher;

use crate::state::scripts::Library;

const MAGIC: &[u8] = b"CSFN";
const VERSION: u8 = 1;

fn checksum(data: &[u8]) -> [u8; 8] {
    let mut h = super::super::Fnv::default();
    h.write(data);
    h.finish().to_le_bytes()
}

/// The payload for `libs`.
pub(super) fn dump(libs: &BTreeMap<String, Library>) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.push(VERSION);
    for lib in libs.values() {
        out.extend_from_slice(&(lib.code.len() as u32).to_le_bytes());
        out.extend_from_slice(&lib.code);
    }
    let sum = checksum(&out);
    out.extend_from_slice(&sum);
    out
}

/// The libraries' code in a payload; None if it is not one of ours or is damaged.
pub(super) fn parse(payload: &[u8]) -> Option<Vec<Vec<u8>>> {
    let body_len = payload.len().checked_sub(8)?;
    let (body, sum) = payload.split_at(body_len);
    if !body.starts_with(MAGIC) || body.get(MAGIC.len()) != Some(&VERSION) {
        return None;
    }
    if checksum(body) != sum {
        return None;
    }
    let mut rest = &body[MAGIC.len() + 1..];
    let mut codes = Vec::new();
    while !rest.is_empty() {
        let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let code = rest.get(4..4 + len)?;
        codes.push(code.to_vec());
        rest = &rest[4 + len..];
    }
    Some(codes)
}
