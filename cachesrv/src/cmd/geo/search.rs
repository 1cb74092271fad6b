//! GEOSEARCH, GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and the `_RO` forms, as Redis
//! 7.0's `georadiusGeneric`: the source key's type first, then the centre and shape, then the
//! options; the cells around the centre are scanned in Redis's order, so unsorted replies come
//! in the same order as Redis's.

use protocol::RespWrite;

use super::super::util::{eq, int, NOT_INTEGER};
use super::super::zset::{build, limits, parse_score};
use super::super::Ctx;
use super::hash::{cells_for, decode_score, score_range, Shape};
use super::{lon_lat, position, unit, write_coord, write_dist};
use crate::engine::{Access, EngineError, Ttl, Value, ZSetValue};

/// Which command.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// GEORADIUS[_RO]: centre and radius in the arguments.
    Coords,
    /// GEORADIUSBYMEMBER[_RO]: centre from a member.
    Member,
    /// GEOSEARCH / GEOSEARCHSTORE.
    Search,
}

/// One match.
struct Found {
    member: Vec<u8>,
    dist: f64,
    score: f64,
    lon: f64,
    lat: f64,
}

enum Stop {
    Engine(EngineError),
    Msg(String),
}

impl From<EngineError> for Stop {
    fn from(e: EngineError) -> Self {
        Stop::Engine(e)
    }
}

fn msg(s: &str) -> Stop {
    Stop::Msg(s.to_string())
}

/// A radius and unit, as `extractDistanceOrReply`.
fn radius(a: &[u8], u: &[u8]) -> Result<(f64, f64), Stop> {
    let r = parse_score(a).ok_or_else(|| msg("ERR need numeric radius"))?;
    if r < 0.0 {
        return Err(msg("ERR radius cannot be negative"));
    }
    Ok((r, unit(u).map_err(msg)?))
}

/// Members inside `shape`, scanning its cells in order; stops at `limit` (0: none).
fn members_in(z: &ZSetValue, shape: &Shape, limit: usize) -> Vec<Found> {
    let mut out = Vec::new();
    for cell in cells_for(shape) {
        if !out.is_empty() && limit > 0 && out.len() >= limit {
            break;
        }
        let (min, max) = score_range(cell);
        let lo = z.partition_point(|_, s| s < min);
        let hi = z.partition_point(|_, s| s < max);
        for (m, s) in z.range(lo, hi) {
            let (lon, lat) = decode_score(s);
            if let Some(dist) = shape.contains(lon, lat) {
                out.push(Found {
                    member: m.to_vec(),
                    dist,
                    score: s,
                    lon,
                    lat,
                });
            }
            if !out.is_empty() && limit > 0 && out.len() >= limit {
                break;
            }
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

fn generic(ctx: &mut Ctx<'_>, a: &[&[u8]], kind: Kind, nostore: bool, store_cmd: bool) {
    match run(ctx, a, kind, nostore, store_cmd) {
        Ok(()) => {}
        Err(Stop::Engine(e)) => ctx.engine_err(e),
        Err(Stop::Msg(m)) => ctx.err(&m),
    }
}

fn run(
    ctx: &mut Ctx<'_>,
    a: &[&[u8]],
    kind: Kind,
    nostore: bool,
    store_cmd: bool,
) -> Result<(), Stop> {
    let src_idx = if store_cmd { 2 } else { 1 };
    let access = ctx.read_access();
    let res = ctx
        .db()
        .with_key(a[src_idx], access, |k| -> Result<Outcome<'_>, Stop> {
            let z = k.as_zset()?;
            parse_and_search(a, z, kind, nostore, store_cmd, src_idx)
        })?;
    let Outcome {
        found,
        storekey,
        storedist,
        withdist,
        withhash,
        withcoord,
        exists,
    } = res;
    if !exists {
        if let Some(dst) = storekey {
            if ctx.db().with_key(dst, Access::WRITE, |k| k.delete()) {
                ctx.notify(super::super::notify::GENERIC, "del", dst);
            }
            ctx.int(0);
        } else {
            ctx.array(0);
        }
        return Ok(());
    }
    let Some(dst) = storekey else {
        let proto = ctx.proto();
        let opts = usize::from(withdist) + usize::from(withhash) + usize::from(withcoord);
        let out = &mut *ctx.out;
        out.write_array_len(found.len());
        for f in &found {
            if opts > 0 {
                out.write_array_len(opts + 1);
            }
            out.write_bulk(&f.member);
            if withdist {
                write_dist(out, f.dist);
            }
            if withhash {
                out.write_integer(f.score as i64);
            }
            if withcoord {
                out.write_array_len(2);
                write_coord(out, proto, f.lon);
                write_coord(out, proto, f.lat);
            }
        }
        return Ok(());
    };
    let items: Vec<(Vec<u8>, f64)> = found
        .into_iter()
        .map(|f| (f.member, if storedist { f.dist } else { f.score }))
        .collect();
    let n = items.len();
    let lim = limits(ctx);
    let deleted = ctx.db().with_key(dst, Access::WRITE, |k| {
        if n == 0 {
            Ok(k.delete())
        } else {
            k.put(Value::ZSet(build(&items, lim)), Ttl::Clear)
                .map(|()| false)
        }
    })?;
    let event = if store_cmd {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    ctx.notify_store(super::super::notify::ZSET, event, dst, n > 0, deleted);
    ctx.int(n as i64);
    Ok(())
}

/// What a search found, and how to reply.
struct Outcome<'a> {
    found: Vec<Found>,
    storekey: Option<&'a [u8]>,
    storedist: bool,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    exists: bool,
}

/// Parses the arguments after the source key (the key's type already checked) and runs the
/// search on `z` (`None`: no such key; the arguments are still checked).
fn parse_and_search<'a>(
    a: &[&'a [u8]],
    z: Option<&ZSetValue>,
    kind: Kind,
    nostore: bool,
    store_cmd: bool,
    src_idx: usize,
) -> Result<Outcome<'a>, Stop> {
    let exists = z.is_some();
    let mut shape = Shape {
        lon: 0.0,
        lat: 0.0,
        conversion: 1.0,
        radius: None,
        width: 0.0,
        height: 0.0,
    };
    let base = match kind {
        Kind::Coords => {
            let (lon, lat) = lon_lat(a[2], a[3]).map_err(Stop::Msg)?;
            let (r, u) = radius(a[4], a[5])?;
            (shape.lon, shape.lat, shape.radius, shape.conversion) = (lon, lat, Some(r), u);
            6
        }
        Kind::Member if !exists => 5,
        Kind::Member => {
            let (lon, lat) = z
                .and_then(|z| position(z, a[2]))
                .ok_or_else(|| msg("ERR could not decode requested zset member"))?;
            let (r, u) = radius(a[3], a[4])?;
            (shape.lon, shape.lat, shape.radius, shape.conversion) = (lon, lat, Some(r), u);
            5
        }
        Kind::Search => src_idx + 1,
    };
    let search = kind == Kind::Search;
    let (mut withdist, mut withhash, mut withcoord, mut any) = (false, false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut count: i64 = 0;
    let mut storekey: Option<&[u8]> = store_cmd.then_some(a[1]);
    let mut storedist = false;
    let rem = a.len() - base.min(a.len());
    let mut i = 0;
    while i < rem {
        let arg = a[base + i];
        let left = rem - i - 1;
        if eq(arg, "withdist") {
            withdist = true;
        } else if eq(arg, "withhash") {
            withhash = true;
        } else if eq(arg, "withcoord") {
            withcoord = true;
        } else if eq(arg, "any") {
            any = true;
        } else if eq(arg, "asc") {
            sort = Sort::Asc;
        } else if eq(arg, "desc") {
            sort = Sort::Desc;
        } else if eq(arg, "count") && left >= 1 {
            count = int(a[base + i + 1]).ok_or_else(|| msg(NOT_INTEGER))?;
            if count <= 0 {
                return Err(msg("ERR COUNT must be > 0"));
            }
            i += 1;
        } else if eq(arg, "store") && left >= 1 && !nostore && !search {
            storekey = Some(a[base + i + 1]);
            storedist = false;
            i += 1;
        } else if eq(arg, "storedist") && left >= 1 && !nostore && !search {
            storekey = Some(a[base + i + 1]);
            storedist = true;
            i += 1;
        } else if eq(arg, "storedist") && search && store_cmd {
            storedist = true;
        } else if eq(arg, "frommember") && left >= 1 && search && !fromloc {
            if let Some(z) = z {
                (shape.lon, shape.lat) = position(z, a[base + i + 1])
                    .ok_or_else(|| msg("ERR could not decode requested zset member"))?;
            }
            frommember = true;
            i += 1;
        } else if eq(arg, "fromlonlat") && left >= 2 && search && !frommember {
            (shape.lon, shape.lat) =
                lon_lat(a[base + i + 1], a[base + i + 2]).map_err(Stop::Msg)?;
            fromloc = true;
            i += 2;
        } else if eq(arg, "byradius") && left >= 2 && search && !bybox {
            let (r, u) = radius(a[base + i + 1], a[base + i + 2])?;
            (shape.radius, shape.conversion) = (Some(r), u);
            byradius = true;
            i += 2;
        } else if eq(arg, "bybox") && left >= 3 && search && !byradius {
            let w = parse_score(a[base + i + 1]).ok_or_else(|| msg("ERR need numeric width"))?;
            let h = parse_score(a[base + i + 2]).ok_or_else(|| msg("ERR need numeric height"))?;
            if h < 0.0 || w < 0.0 {
                return Err(msg("ERR height or width cannot be negative"));
            }
            shape.conversion = unit(a[base + i + 3]).map_err(msg)?;
            (shape.radius, shape.width, shape.height) = (None, w, h);
            bybox = true;
            i += 3;
        } else {
            return Err(msg("ERR syntax error"));
        }
        i += 1;
    }
    if storekey.is_some() && (withdist || withhash || withcoord) {
        let which = if store_cmd {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(Stop::Msg(format!(
            "ERR {which} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    let name = String::from_utf8_lossy(a[0]).into_owned();
    if search && !(frommember || fromloc) {
        return Err(Stop::Msg(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if search && !(byradius || bybox) {
        return Err(Stop::Msg(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if any && count == 0 {
        return Err(msg("ERR the ANY argument requires COUNT argument"));
    }
    let Some(z) = z else {
        return Ok(Outcome {
            found: Vec::new(),
            storekey,
            storedist,
            withdist,
            withhash,
            withcoord,
            exists,
        });
    };
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let limit = if any {
        usize::try_from(count).unwrap_or(usize::MAX)
    } else {
        0
    };
    let mut found = members_in(z, &shape, limit);
    match sort {
        Sort::Asc => found.sort_by(|x, y| x.dist.total_cmp(&y.dist)),
        Sort::Desc => found.sort_by(|x, y| y.dist.total_cmp(&x.dist)),
        Sort::None => {}
    }
    if count > 0 {
        found.truncate(usize::try_from(count).unwrap_or(usize::MAX));
    }
    for f in &mut found {
        f.dist /= shape.conversion;
    }
    Ok(Outcome {
        found,
        storekey,
        storedist,
        withdist,
        withhash,
        withcoord,
        exists,
    })
}

pub(super) fn georadius(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    generic(ctx, a, Kind::Coords, false, false);
}

pub(super) fn georadius_ro(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    generic(ctx, a, Kind::Coords, true, false);
}

pub(super) fn georadiusbymember(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    generic(ctx, a, Kind::Member, false, false);
}

pub(super) fn georadiusbymember_ro(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    generic(ctx, a, Kind::Member, true, false);
}

pub(super) fn geosearch(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    generic(ctx, a, Kind::Search, true, false);
}

pub(super) fn geosearchstore(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    generic(ctx, a, Kind::Search, false, true);
}
