//! Geo commands on top of sorted sets (Redis 7.0's `geo.c`): GEOADD, GEODIST, GEOHASH,
//! GEOPOS, GEOSEARCH, GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and their `_RO` forms.
//!
//! A point is a sorted-set member whose score is its 52-bit geohash (`hash`); GEOADD is ZADD
//! with those scores. Coordinates are written as Redis writes long doubles (`%.17Lf`, trailing
//! zeros removed; a RESP3 double), distances with `%.4f` (always a bulk string).

mod hash;
mod search;

use bytes::BytesMut;
use protocol::{Protocol, RespWrite};

use super::flags::*;
use super::hash::{finish, Fail};
use super::util::eq;
use super::{Ctx, Handler};
use crate::engine::ZSetValue;
use hash::{decode_score, distance, encode_standard, score_of, LAT_MAX, LAT_MIN, LON_MAX, LON_MIN};

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    add("geoadd", -5, WRITE | DENYOOM, (1, 1, 1), geoadd);
    add("geodist", -4, READONLY, (1, 1, 1), geodist);
    add("geohash", -2, READONLY, (1, 1, 1), geohash);
    add("geopos", -2, READONLY, (1, 1, 1), geopos);
    add(
        "georadius",
        -6,
        WRITE | DENYOOM,
        (1, 1, 1),
        search::georadius,
    );
    add(
        "georadius_ro",
        -6,
        READONLY,
        (1, 1, 1),
        search::georadius_ro,
    );
    add(
        "georadiusbymember",
        -5,
        WRITE | DENYOOM,
        (1, 1, 1),
        search::georadiusbymember,
    );
    add(
        "georadiusbymember_ro",
        -5,
        READONLY,
        (1, 1, 1),
        search::georadiusbymember_ro,
    );
    add("geosearch", -7, READONLY, (1, 1, 1), search::geosearch);
    add(
        "geosearchstore",
        -8,
        WRITE | DENYOOM,
        (1, 2, 1),
        search::geosearchstore,
    );
}

/// A longitude/latitude pair as Redis's `extractLongLatOrReply` reads it.
fn lon_lat(a: &[u8], b: &[u8]) -> Result<(f64, f64), String> {
    let not_float = || "ERR value is not a valid float".to_string();
    let lon = super::zset::parse_score(a).ok_or_else(not_float)?;
    let lat = super::zset::parse_score(b).ok_or_else(not_float)?;
    if !(LON_MIN..=LON_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return Err(format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        ));
    }
    Ok((lon, lat))
}

/// Meters per unit (`m`, `km`, `ft`, `mi`), or Redis's error.
fn unit(a: &[u8]) -> Result<f64, &'static str> {
    if eq(a, "m") {
        Ok(1.0)
    } else if eq(a, "km") {
        Ok(1000.0)
    } else if eq(a, "ft") {
        Ok(0.3048)
    } else if eq(a, "mi") {
        Ok(1609.34)
    } else {
        Err("ERR unsupported unit provided. please use M, KM, FT, MI")
    }
}

/// Writes a coordinate as Redis's `addReplyHumanLongDouble`.
fn write_coord(out: &mut BytesMut, proto: Protocol, d: f64) {
    let s = format!("{d:.17}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    let s = if s == "-0" { "0" } else { s };
    match proto {
        Protocol::Resp2 => out.write_bulk(s.as_bytes()),
        Protocol::Resp3 => {
            out.extend_from_slice(b",");
            out.extend_from_slice(s.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Writes a distance as `%.4f` in a bulk string.
fn write_dist(out: &mut BytesMut, d: f64) {
    out.write_bulk(format!("{d:.4}").as_bytes());
}

/// GEOADD key [NX|XX] [CH] longitude latitude member [...]: ZADD with geohash scores.
fn geoadd(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let mut i = 2;
    let (mut nx, mut xx) = (false, false);
    while i < a.len() {
        if eq(a[i], "nx") {
            nx = true;
        } else if eq(a[i], "xx") {
            xx = true;
        } else if !eq(a[i], "ch") {
            break;
        }
        i += 1;
    }
    if !(a.len() - i).is_multiple_of(3) || (nx && xx) {
        return ctx.syntax_error();
    }
    let mut scores: Vec<Vec<u8>> = Vec::with_capacity((a.len() - i) / 3);
    for t in a[i..].chunks(3) {
        match lon_lat(t[0], t[1]) {
            Ok((lon, lat)) => {
                let s = score_of(lon, lat).unwrap_or(0.0);
                scores.push(itoa::Buffer::new().format(s as u64).as_bytes().to_vec());
            }
            Err(e) => return ctx.err(&e),
        }
    }
    let mut argv: Vec<&[u8]> = Vec::with_capacity(2 + (a.len() - i) / 3 * 2 + i);
    argv.push(b"zadd");
    argv.extend_from_slice(&a[1..i]);
    for (t, s) in a[i..].chunks(3).zip(&scores) {
        argv.push(s);
        argv.push(t[2]);
    }
    super::zset::zadd(ctx, &argv);
}

/// The (longitude, latitude) of a member.
fn position(z: &ZSetValue, m: &[u8]) -> Option<(f64, f64)> {
    z.score(m).map(decode_score)
}

fn geopos(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let access = ctx.read_access();
    let proto = ctx.proto();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
        let z = k.as_zset()?;
        out.write_array_len(a.len() - 2);
        for m in &a[2..] {
            match z.and_then(|z| position(z, m)) {
                Some((lon, lat)) => {
                    out.write_array_len(2);
                    write_coord(out, proto, lon);
                    write_coord(out, proto, lat);
                }
                None => out.write_null_array(proto),
            }
        }
        Ok(())
    });
    finish(ctx, r);
}

const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

fn geohash(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let access = ctx.read_access();
    let proto = ctx.proto();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
        let z = k.as_zset()?;
        out.write_array_len(a.len() - 2);
        for m in &a[2..] {
            let cell = z
                .and_then(|z| position(z, m))
                .and_then(|(lon, lat)| encode_standard(lon, lat));
            match cell {
                Some(c) => {
                    let mut buf = [0u8; 11];
                    for (i, b) in buf.iter_mut().enumerate() {
                        let idx = if i == 10 {
                            0
                        } else {
                            (c.bits >> (52 - (i + 1) * 5)) & 0x1f
                        };
                        *b = ALPHABET[idx as usize];
                    }
                    out.write_bulk(&buf);
                }
                None => out.write_null(proto),
            }
        }
        Ok(())
    });
    finish(ctx, r);
}

fn geodist(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let to_meter = match a.len() {
        4 => 1.0,
        5 => match unit(a[4]) {
            Ok(u) => u,
            Err(e) => return ctx.err(e),
        },
        _ => return ctx.syntax_error(),
    };
    let access = ctx.read_access();
    let proto = ctx.proto();
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = db.with_key(a[1], access, |k| -> Result<(), Fail> {
        let pair = k
            .as_zset()?
            .and_then(|z| Some((position(z, a[2])?, position(z, a[3])?)));
        match pair {
            Some(((x1, y1), (x2, y2))) => write_dist(out, distance(x1, y1, x2, y2) / to_meter),
            None => out.write_null(proto),
        }
        Ok(())
    });
    finish(ctx, r);
}

#[cfg(test)]
mod tests {
    use crate::cmd::runner::testing::runner;

    #[test]
    fn geoadd_stores_redis_scores() {
        let mut r = runner(&[]);
        assert_eq!(
            r.run(&["GEOADD", "Sicily", "13.361389", "38.115556", "Palermo"]),
            ":1\r\n"
        );
        assert_eq!(
            r.run(&["ZSCORE", "Sicily", "Palermo"]),
            "$16\r\n3479099956230698\r\n"
        );
        assert_eq!(r.run(&["TYPE", "Sicily"]), "+zset\r\n");
    }
}
