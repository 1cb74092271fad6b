//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG (GETREG, DECODE, ENCODING, TODENSE)
//! and PFSELFTEST.
//!
//! Mirrors Redis 7.0's `hyperloglog.c`: a HyperLogLog is a string value in Redis's exact format
//! ([`format`]), so `GET` returns the bytes Redis would store and a value `SET` from Redis's
//! bytes works here. A string that is not one answers `WRONGTYPE Key is not a valid
//! HyperLogLog string value.`; corrupt sparse data `INVALIDOBJ Corrupted HLL object detected`.
//! PFCOUNT of one key caches the cardinality in the header (a write, as in Redis); a change
//! that leaves every register as it was writes nothing.

pub mod format;
mod selftest;

use super::flags::*;
use super::hash::{finish, Fail};
use super::util::eq;
use super::{Ctx, Handler};
use crate::engine::{Access, Ttl};
use format::{Set, DENSE, HDR, REGISTERS};

const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const INVALID: &str = "INVALIDOBJ Corrupted HLL object detected";

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    add("pfadd", -2, WRITE | DENYOOM | FAST, (1, 1, 1), pfadd);
    add("pfcount", -2, READONLY, (1, -1, 1), pfcount);
    add("pfmerge", -2, WRITE | DENYOOM, (1, -1, 1), pfmerge);
    add("pfdebug", 3, WRITE | DENYOOM | ADMIN, (2, 2, 1), pfdebug);
    add("pfselftest", 1, ADMIN, (0, 0, 0), selftest::pfselftest);
}

/// The string at a key checked as a HyperLogLog.
fn checked(s: &[u8]) -> Result<&[u8], Fail> {
    if format::is_valid(s) {
        Ok(s)
    } else {
        Err(Fail::Msg(NOT_HLL))
    }
}

/// PFADD key [element ...]: 1 if a register changed (or the key was created), else 0.
fn pfadd(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let max_sparse = ctx.shared.hll_sparse_max_bytes();
    let r = ctx
        .db()
        .with_key(a[1], Access::WRITE, |k| -> Result<bool, Fail> {
            let Some(s) = k.as_str()? else {
                let mut v = format::new_sparse();
                for e in &a[2..] {
                    let (i, c) = format::pat_len(e);
                    format::set(&mut v, i, c, max_sparse);
                }
                // Created: the cache is invalidated even with no element, as Redis does.
                format::invalidate(&mut v);
                k.put_str(&v, Ttl::Keep)?;
                return Ok(true);
            };
            let s = checked(s)?;
            if s[4] == DENSE {
                let regs = &s[HDR..];
                let changes = a[2..].iter().any(|e| {
                    let (i, c) = format::pat_len(e);
                    c > format::dense_get(regs, i)
                });
                if !changes {
                    return Ok(false);
                }
                k.modify_str(0, |s| {
                    for e in &a[2..] {
                        let (i, c) = format::pat_len(e);
                        format::dense_set(&mut s[HDR..], i, c);
                    }
                    format::invalidate(s);
                })?;
                return Ok(true);
            }
            let mut v = s.to_vec();
            let mut updated = false;
            for e in &a[2..] {
                let (i, c) = format::pat_len(e);
                match format::set(&mut v, i, c, max_sparse) {
                    Set::Updated => updated = true,
                    Set::Unchanged => {}
                    Set::Invalid => return Err(Fail::Msg(INVALID)),
                }
            }
            if updated {
                format::invalidate(&mut v);
                k.put_str(&v, Ttl::Keep)?;
            }
            Ok(updated)
        });
    match r {
        Ok(u) => {
            if u {
                ctx.notify(super::notify::STRING, "pfadd", a[1]);
            }
            ctx.int(i64::from(u))
        }
        Err(e) => finish(ctx, Err(e)),
    }
}

/// Merges the HyperLogLogs at `keys` into `max` (missing keys count as empty); true if one of
/// them is dense.
fn merge_keys(ctx: &Ctx<'_>, keys: &[&[u8]], max: &mut [u8]) -> Result<bool, Fail> {
    let access = ctx.read_access();
    let db = ctx.db();
    let mut dense = false;
    for key in keys {
        db.with_key(key, access, |k| -> Result<(), Fail> {
            let Some(s) = k.as_str()? else {
                return Ok(());
            };
            let s = checked(s)?;
            dense |= s[4] == DENSE;
            format::merge_into(max, s).map_err(|()| Fail::Msg(INVALID))
        })?;
    }
    Ok(dense)
}

/// PFCOUNT key [key ...]: the estimated cardinality (of the union for several keys).
fn pfcount(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    if a.len() > 2 {
        let mut max = vec![0u8; REGISTERS];
        return match merge_keys(ctx, &a[1..], &mut max) {
            Ok(_) => ctx.int(format::estimate(&format::raw_histogram(&max)) as i64),
            Err(e) => finish(ctx, Err(e)),
        };
    }
    let access = ctx.read_access();
    let r = ctx.db().with_key(a[1], access, |k| -> Result<u64, Fail> {
        let Some(s) = k.as_str()? else {
            return Ok(0);
        };
        let s = checked(s)?;
        if let Some(c) = format::cached(s) {
            return Ok(c);
        }
        let card = format::histogram(s)
            .map(|h| format::estimate(&h))
            .ok_or(Fail::Msg(INVALID))?;
        k.modify_str(0, |s| format::set_cached(s, card))?;
        Ok(card)
    });
    match r {
        Ok(c) => ctx.int(c as i64),
        Err(e) => finish(ctx, Err(e)),
    }
}

/// PFMERGE destkey [sourcekey ...]: the union into `destkey` (itself a source).
fn pfmerge(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let mut max = vec![0u8; REGISTERS];
    let use_dense = match merge_keys(ctx, &a[1..], &mut max) {
        Ok(d) => d,
        Err(e) => return finish(ctx, Err(e)),
    };
    let max_sparse = ctx.shared.hll_sparse_max_bytes();
    let r = ctx
        .db()
        .with_key(a[1], Access::WRITE, |k| -> Result<(), Fail> {
            let mut v = match k.as_str()? {
                None => format::new_sparse(),
                Some(s) => checked(s)?.to_vec(),
            };
            if use_dense && v[4] != DENSE {
                v = format::to_dense(&v).map_err(|()| Fail::Msg(INVALID))?;
            }
            for (i, &m) in max.iter().enumerate() {
                if m != 0 {
                    format::set(&mut v, i, m, max_sparse);
                }
            }
            format::invalidate(&mut v);
            k.put_str(&v, Ttl::Keep)?;
            Ok(())
        });
    match r {
        Ok(()) => {
            ctx.notify(super::notify::STRING, "pfadd", a[1]);
            ctx.ok()
        }
        Err(e) => finish(ctx, Err(e)),
    }
}

/// What PFDEBUG replies.
enum Debug {
    Registers(Vec<u8>),
    Text(String),
    Status(&'static str),
    Int(i64),
    Unknown,
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key.
fn pfdebug(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let sub = a[1];
    let r = ctx
        .db()
        .with_key(a[2], Access::WRITE, |k| -> Result<Debug, Fail> {
            let Some(s) = k.as_str()? else {
                return Err(Fail::Msg("ERR The specified key does not exist"));
            };
            let s = checked(s)?;
            let sparse = s[4] != DENSE;
            if eq(sub, "getreg") || eq(sub, "todense") {
                let dense = if sparse {
                    let d = format::to_dense(s).map_err(|()| Fail::Msg(INVALID))?;
                    k.put_str(&d, Ttl::Keep)?;
                    d
                } else {
                    s.to_vec()
                };
                if eq(sub, "todense") {
                    return Ok(Debug::Int(i64::from(sparse)));
                }
                let regs = &dense[HDR..];
                return Ok(Debug::Registers(
                    (0..REGISTERS).map(|i| format::dense_get(regs, i)).collect(),
                ));
            }
            if eq(sub, "decode") {
                if !sparse {
                    return Err(Fail::Msg("ERR HLL encoding is not sparse"));
                }
                return Ok(Debug::Text(decode(s)));
            }
            if eq(sub, "encoding") {
                return Ok(Debug::Status(if sparse { "sparse" } else { "dense" }));
            }
            Ok(Debug::Unknown)
        });
    match r {
        Ok(Debug::Registers(v)) => {
            ctx.array(v.len());
            for r in v {
                ctx.int(i64::from(r));
            }
        }
        Ok(Debug::Text(t)) => ctx.bulk(t.as_bytes()),
        Ok(Debug::Status(s)) => ctx.simple(s),
        Ok(Debug::Int(n)) => ctx.int(n),
        Ok(Debug::Unknown) => ctx.err(&format!(
            "ERR Unknown PFDEBUG subcommand '{}'",
            String::from_utf8_lossy(sub)
        )),
        Err(e) => finish(ctx, Err(e)),
    }
}

/// PFDEBUG DECODE's text: `z:<len>`, `Z:<len>`, `v:<value>,<len>` separated by spaces.
fn decode(s: &[u8]) -> String {
    let mut out = String::new();
    let mut p = HDR;
    while p < s.len() {
        let Some((op, n)) = format::op_at(&s[p..]) else {
            break;
        };
        if !out.is_empty() {
            out.push(' ');
        }
        match op {
            format::Op::Zero { len, x: false } => out.push_str(&format!("z:{len}")),
            format::Op::Zero { len, x: true } => out.push_str(&format!("Z:{len}")),
            format::Op::Val { value, len } => out.push_str(&format!("v:{value},{len}")),
        }
        p += n;
    }
    out
}
