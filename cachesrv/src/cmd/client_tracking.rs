//! Client-side caching commands: CLIENT TRACKING, CACHING, GETREDIR and TRACKINGINFO, and
//! the remembering of the keys a tracking client reads (see [`crate::state::tracking`]).

use bytes::Bytes;

use super::flags::*;
use super::util::{eq, int, NOT_INTEGER};
use super::{Command, Ctx, Handler};
use crate::state::tracking::TrackOpts;
use crate::state::{Session, Shared};

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    add("client|tracking", -3, ADMIN, (0, 0, 0), tracking);
    add("client|caching", 3, ADMIN, (0, 0, 0), caching);
    add("client|getredir", 2, ADMIN, (0, 0, 0), getredir);
    add("client|trackinginfo", 2, ADMIN, (0, 0, 0), trackinginfo);
}

/// Whether one prefix starts the other (Redis refuses overlapping prefixes of one client).
fn overlap(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
fn tracking(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let mut o = TrackOpts::default();
    let mut prefixes: Vec<&[u8]> = Vec::new();
    let mut j = 3;
    while j < a.len() {
        let more = j + 1 < a.len();
        if eq(a[j], "redirect") && more {
            j += 1;
            if o.redirect != 0 {
                return ctx.err("ERR A client can only redirect to a single other client");
            }
            let Some(id) = int(a[j]) else {
                return ctx.err(NOT_INTEGER);
            };
            if u64::try_from(id)
                .ok()
                .and_then(|id| ctx.shared.clients.get(id))
                .is_none()
            {
                return ctx.err("ERR The client ID you want redirect to does not exist");
            }
            o.redirect = id as u64;
        } else if eq(a[j], "bcast") {
            o.bcast = true;
        } else if eq(a[j], "optin") {
            o.optin = true;
        } else if eq(a[j], "optout") {
            o.optout = true;
        } else if eq(a[j], "noloop") {
            o.noloop = true;
        } else if eq(a[j], "prefix") && more {
            j += 1;
            prefixes.push(a[j]);
        } else {
            return ctx.syntax_error();
        }
        j += 1;
    }
    if eq(a[2], "off") {
        disable(ctx.shared, ctx.sess);
        return ctx.ok();
    }
    if !eq(a[2], "on") {
        return ctx.syntax_error();
    }
    if !o.bcast && !prefixes.is_empty() {
        return ctx.err("ERR PREFIX option requires BCAST mode to be enabled");
    }
    let cur = ctx.sess.tracking.clone();
    if cur.as_ref().is_some_and(|c| c.bcast != o.bcast) {
        return ctx.err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.");
    }
    if o.bcast && (o.optin || o.optout) {
        return ctx.err("ERR OPTIN and OPTOUT are not compatible with BCAST");
    }
    if o.optin && o.optout {
        return ctx.err("ERR You can't specify both OPTIN mode and OPTOUT mode");
    }
    if cur
        .as_ref()
        .is_some_and(|c| (o.optin && c.optout) || (o.optout && c.optin))
    {
        return ctx.err("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.");
    }
    let old: Vec<Bytes> = cur
        .as_ref()
        .map(|c| c.prefixes.iter().cloned().collect())
        .unwrap_or_default();
    for (i, p) in prefixes.iter().enumerate() {
        if let Some(e) = old.iter().find(|e| overlap(e, p)) {
            return ctx.err(&format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(e)
            ));
        }
        if let Some(q) = prefixes[i + 1..].iter().find(|q| overlap(p, q)) {
            return ctx.err(&format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(q)
            ));
        }
    }
    o.prefixes = old.into_iter().collect();
    if o.bcast && prefixes.is_empty() && o.prefixes.is_empty() {
        o.prefixes.insert(Bytes::new());
    }
    o.prefixes
        .extend(prefixes.iter().map(|p| Bytes::copy_from_slice(p)));
    ctx.shared.tracking.enable(&ctx.sess.info, &o);
    ctx.sess.tracking = Some(o);
    ctx.shared.refresh_key_events();
    ctx.ok();
}

/// Turns tracking off (CLIENT TRACKING OFF, RESET, disconnect).
pub fn disable(shared: &Shared, sess: &mut Session) {
    if sess.tracking.take().is_some() {
        shared.tracking.disable(sess.info.id);
        shared.refresh_key_events();
    }
    sess.track_caching = false;
}

/// CLIENT CACHING YES|NO
fn caching(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let Some(t) = ctx.sess.tracking.as_ref() else {
        return ctx.err("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
    };
    if eq(a[2], "yes") {
        if !t.optin {
            return ctx.err(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            );
        }
    } else if eq(a[2], "no") {
        if !t.optout {
            return ctx.err(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            );
        }
    } else {
        return ctx.syntax_error();
    }
    ctx.sess.track_caching = true;
    ctx.sess.after_command = true;
    ctx.ok();
}

/// CLIENT GETREDIR
fn getredir(ctx: &mut Ctx<'_>, _a: &[&[u8]]) {
    let r = ctx.sess.tracking.as_ref().map_or(-1, |t| t.redirect as i64);
    ctx.int(r);
}

/// CLIENT TRACKINGINFO
fn trackinginfo(ctx: &mut Ctx<'_>, _a: &[&[u8]]) {
    let t = ctx.sess.tracking.clone();
    let caching = ctx.sess.track_caching;
    let mut flags: Vec<&str> = vec![if t.is_some() { "on" } else { "off" }];
    if let Some(t) = &t {
        if t.bcast {
            flags.push("bcast");
        }
        if t.optin {
            flags.push("optin");
            if caching {
                flags.push("caching-yes");
            }
        }
        if t.optout {
            flags.push("optout");
            if caching {
                flags.push("caching-no");
            }
        }
        if t.noloop {
            flags.push("noloop");
        }
        if ctx.shared.tracking.broken_redirect(ctx.sess.info.id) {
            flags.push("broken_redirect");
        }
    }
    ctx.map(3);
    ctx.bulk(b"flags");
    ctx.set(flags.len());
    for f in flags {
        ctx.bulk(f.as_bytes());
    }
    ctx.bulk(b"redirect");
    ctx.int(t.as_ref().map_or(-1, |t| t.redirect as i64));
    ctx.bulk(b"prefixes");
    let prefixes: Vec<Bytes> = t
        .map(|t| t.prefixes.into_iter().collect())
        .unwrap_or_default();
    ctx.array(prefixes.len());
    for p in &prefixes {
        ctx.bulk(p);
    }
}

/// Runs a command while some client tracks keys: its writes are attributed to this client
/// (for NOLOOP; a script's commands to the client that called the script), and its reads
/// remembered if it tracks.
pub(super) fn handle(ctx: &mut Ctx<'_>, cmd: &'static Command, h: Handler, argv: &[&[u8]]) {
    as_writer(ctx, |ctx| super::aof::handle(ctx, cmd, h, argv));
    if cmd.flags & READONLY != 0 {
        remember(ctx, cmd, argv);
    }
}

/// Runs `f` (a command) with this client as the writer of what it changes while some client
/// tracks keys (for NOLOOP; a script's commands count as the client's that called the script).
pub(super) fn as_writer<'a, G>(ctx: &mut Ctx<'a, G>, f: impl FnOnce(&mut Ctx<'a, G>)) {
    if !ctx.shared.tracking.active() {
        return f(ctx);
    }
    let caller = crate::state::tracking::writer();
    if ctx.sess.info.id != 0 {
        crate::state::tracking::set_writer(ctx.sess.info.id);
    }
    f(ctx);
    crate::state::tracking::set_writer(caller);
}

/// After a read-only command of a tracking client (default mode): remembers the keys it
/// named, unless OPTIN without `CACHING YES` or OPTOUT with `CACHING NO`.
fn remember(ctx: &Ctx<'_>, cmd: &Command, argv: &[&[u8]]) {
    let Some(t) = ctx.sess.tracking.as_ref() else {
        return;
    };
    if t.bcast || (t.optin && !ctx.sess.track_caching) || (t.optout && ctx.sess.track_caching) {
        return;
    }
    let (first, last, step) = cmd.keys;
    if first <= 0 || step <= 0 {
        return;
    }
    let argc = argv.len() as i32;
    let last = if last < 0 {
        argc + last
    } else {
        last.min(argc - 1)
    };
    let keys = (first..=last)
        .step_by(step as usize)
        .filter_map(|i| argv.get(i as usize).copied());
    ctx.shared
        .tracking
        .remember(&ctx.shared.clients, ctx.sess.info.id, keys);
}
