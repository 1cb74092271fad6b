//! LATENCY: LATEST, HISTORY, RESET, GRAPH, DOCTOR, HISTOGRAM, HELP (Redis 7.0's latency
//! monitor and command histograms, kept in [`crate::state::latency`]), and the
//! `INFO latencystats` section.

use std::fmt::Write;

use super::keys::help;
use super::{commands, Ctx, Handler};
use crate::state::latency::Series;
use crate::state::Shared;

pub(super) fn register(add: &mut impl FnMut(&'static str, i32, u32, (i32, i32, i32), Handler)) {
    use super::flags::ADMIN;
    add("latency", -2, ADMIN, (0, 0, 0), latency);
    for (name, arity) in [
        ("latency|latest", 2),
        ("latency|reset", -2),
        ("latency|history", 3),
        ("latency|graph", 3),
        ("latency|doctor", 2),
        ("latency|histogram", -2),
        ("latency|help", 2),
    ] {
        add(name, arity, ADMIN, (0, 0, 0), latency);
    }
}

const LATENCY_HELP: &[&str] = &[
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
];

fn latency(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let sub = String::from_utf8_lossy(a[1]).to_ascii_lowercase();
    let lat = &ctx.shared.latency;
    match sub.as_str() {
        "latest" => {
            let events = lat.events();
            ctx.array(events.len());
            for (name, s) in events {
                let (t, l) = s.latest();
                ctx.array(4);
                ctx.bulk(name.as_bytes());
                ctx.int(t as i64);
                ctx.int(l as i64);
                ctx.int(s.max as i64);
            }
        }
        "history" => {
            let samples = lat
                .event(&String::from_utf8_lossy(a[2]))
                .map(|s| s.in_order())
                .unwrap_or_default();
            ctx.array(samples.len());
            for (t, l) in samples {
                ctx.array(2);
                ctx.int(t as i64);
                ctx.int(l as i64);
            }
        }
        "reset" => {
            let names: Vec<String> = a[2..]
                .iter()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .collect();
            let n = lat.reset_events((!names.is_empty()).then_some(&names[..]));
            ctx.int(n as i64);
        }
        "graph" => {
            let name = String::from_utf8_lossy(a[2]).into_owned();
            match lat.event(&name) {
                Some(s) => {
                    let g = graph(&name, &s);
                    ctx.verbatim(&g);
                }
                None => ctx.err(&format!("ERR No samples available for event '{name}'")),
            }
        }
        "doctor" => {
            let r = doctor(ctx.shared);
            ctx.verbatim(&r);
        }
        "histogram" => histogram(ctx, &a[2..]),
        "help" => help(ctx, LATENCY_HELP),
        _ => {
            let s = String::from_utf8_lossy(&a[1][..a[1].len().min(128)]).into_owned();
            ctx.err(&format!(
                "ERR unknown subcommand or wrong number of arguments for '{s}'. Try LATENCY HELP."
            ));
        }
    }
}

fn write_cdf(ctx: &mut Ctx<'_>, h: &crate::state::latency::Histogram) {
    ctx.map(2);
    ctx.bulk(b"calls");
    ctx.int(h.total() as i64);
    ctx.bulk(b"histogram_usec");
    let cdf = h.cdf();
    ctx.map(cdf.len());
    for (us, n) in cdf {
        ctx.int(us as i64);
        ctx.int(n as i64);
    }
}

fn histogram(ctx: &mut Ctx<'_>, names: &[&[u8]]) {
    let mut found = Vec::new();
    if names.is_empty() {
        for c in commands() {
            if let Some(h) = ctx.shared.latency.histogram(c.id) {
                found.push((c.name, h));
            }
        }
    } else {
        for n in names {
            let Some(c) = super::lookup_full(n) else {
                continue;
            };
            if let Some(h) = ctx.shared.latency.histogram(c.id) {
                found.push((c.name, h));
            }
        }
    }
    ctx.map(found.len());
    for (name, h) in found {
        ctx.bulk(name.as_bytes());
        write_cdf(ctx, &h);
    }
}

/// How long ago, as the graph labels write it (`12s`, `3m`, `2h`, `1d`).
fn ago(elapsed: u64) -> String {
    match elapsed {
        e if e < 60 => format!("{e}s"),
        e if e < 3600 => format!("{}m", e / 60),
        e if e < 86400 => format!("{}h", e / 3600),
        e => format!("{}d", e / 86400),
    }
}

/// `LATENCY GRAPH`: Redis's sparkline of the samples, four rows of `_o#|` and vertical labels.
fn graph(event: &str, s: &Series) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let samples = s.in_order();
    let mut min = 0;
    let mut max = 0;
    // The sequence's own min and max (first sample sets both; later ones widen them).
    let (mut smin, mut smax) = (0.0f64, 0.0f64);
    for (i, &(_, l)) in samples.iter().enumerate() {
        let v = l as f64;
        if i == 0 {
            min = l;
            max = l;
            smin = v;
            smax = v;
        } else {
            max = max.max(l);
            min = min.min(l);
            if v < smin {
                smin = v;
            } else if v > smax {
                smax = v;
            }
        }
    }
    let labels: Vec<String> = samples
        .iter()
        .map(|&(t, _)| ago(now.saturating_sub(t)))
        .collect();
    let mut out = format!(
        "{event} - high {max} ms, low {min} ms (all time high {} ms)\n",
        s.max
    );
    out.push_str(&"-".repeat(80));
    out.push('\n');
    let mut start = 0;
    while start < samples.len() {
        let len = (samples.len() - start).min(80);
        if start != 0 {
            out.push('\n');
        }
        render(&mut out, &samples, &labels, start, len, smin, smax);
        start += 80;
    }
    out
}

fn render(
    out: &mut String,
    samples: &[(u64, u64)],
    labels: &[String],
    offset: usize,
    len: usize,
    min: f64,
    max: f64,
) {
    const FILL: &[u8] = b"_o#";
    const ROWS: i64 = 4;
    let steps = FILL.len() as i64 * ROWS;
    let relmax = if max - min == 0.0 { 1.0 } else { max - min };
    let mut row: i64 = 0;
    loop {
        let mut more = false;
        let mut chars = vec![b' '; len];
        for (j, ch) in chars.iter_mut().enumerate() {
            let v = samples[j + offset].1 as f64 - min;
            let step = (((v * steps as f64) / relmax) as i64).clamp(0, steps - 1);
            if row < ROWS {
                let idx = step - (ROWS - row - 1) * FILL.len() as i64;
                more = true;
                if (0..FILL.len() as i64).contains(&idx) {
                    *ch = FILL[idx as usize];
                } else if idx >= FILL.len() as i64 {
                    *ch = b'|';
                }
            } else {
                if row - ROWS < 1 {
                    // One blank line between the graph and the labels.
                    more = true;
                    break;
                }
                let label = labels[j + offset].as_bytes();
                let at = (row - ROWS - 1) as usize;
                if label.len() > at {
                    more = true;
                    *ch = label[at];
                }
            }
        }
        if !more {
            break;
        }
        row += 1;
        out.push_str(&String::from_utf8_lossy(&chars));
        out.push('\n');
    }
}

/// `LATENCY DOCTOR`: Redis's opening lines and one line per event (the advice that follows
/// in Redis's report is not given).
fn doctor(shared: &Shared) -> String {
    let events = shared.latency.events();
    let threshold = shared
        .latency
        .threshold_ms
        .load(std::sync::atomic::Ordering::Relaxed);
    if events.is_empty() && threshold == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".into();
    }
    if events.is_empty() {
        return "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n".into();
    }
    let mut r = String::from("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
    for (i, (name, s)) in events.iter().enumerate() {
        let samples = s.in_order();
        let n = samples.len().max(1) as u64;
        let avg = samples.iter().map(|x| x.1).sum::<u64>() / n;
        let mad = samples.iter().map(|x| x.1.abs_diff(avg)).sum::<u64>() / n;
        let period = match (samples.first(), samples.last()) {
            (Some(f), Some(l)) => (l.0 - f.0) as f64,
            _ => 0.0,
        };
        let _ = writeln!(
            r,
            "{}. {name}: {} latency spikes (average {avg}ms, mean deviation {mad}ms, period {:.2} sec). Worst all time event {}ms.",
            i + 1,
            samples.len(),
            period / n as f64,
            s.max
        );
    }
    r.push_str("\nI have a few advices for you:\n\n- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
    r
}

/// `INFO latencystats`: `latency_percentiles_usec_<cmd>:p50=...` for every command run since
/// the last reset, with the `latency-tracking-info-percentiles`.
pub fn latencystats(s: &Shared, out: &mut String) {
    out.push_str("# Latencystats\r\n");
    let pcts: Vec<f64> = s
        .config
        .read()
        .get("latency-tracking-info-percentiles")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    for c in commands() {
        let Some(h) = s.latency.histogram(c.id) else {
            continue;
        };
        let fields: Vec<String> = pcts
            .iter()
            .map(|p| {
                format!(
                    "p{}={:.3}",
                    trim_double(*p),
                    h.percentile(*p) as f64 / 1000.0
                )
            })
            .collect();
        let _ = write!(
            out,
            "latency_percentiles_usec_{}:{}\r\n",
            c.name,
            fields.join(",")
        );
    }
}

/// `%f` without trailing zeros (and point), as Redis's `trimDoubleString`.
fn trim_double(p: f64) -> String {
    let s = format!("{p:.6}");
    let s = s.trim_end_matches('0');
    s.trim_end_matches('.').to_string()
}
