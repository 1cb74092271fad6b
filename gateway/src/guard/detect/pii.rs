//! `pii`: personal data in tool arguments and results, and the spans used to redact it.
//!
//! Mirrors the reference product's PII detector for structured identifiers (it cannot
//! find names or postal addresses, which need a model): emails; phone numbers (E.164
//! with `+`, `00`-prefixed international, North-American formatted, and national numbers
//! with a leading 0 written in groups); payment cards (13–19 digits, Luhn-valid, with a
//! known issuer prefix and length); IBANs (per-country length and mod-97 check); US SSNs
//! (SSA rules: area not 000/666/9xx, group not 00, serial not 0000); UK National
//! Insurance numbers (prefix rules); Indian Aadhaar (Verhoeff check) and PAN (format);
//! Spanish DNI/NIE (check letter); public IPv4/IPv6 addresses.
//!
//! Decisions (to keep developer traffic clean):
//! - IP addresses are PII only when globally routable: loopback, private, link-local,
//!   CGNAT, documentation, benchmark, multicast and reserved ranges are not flagged,
//!   nor are well-known public DNS resolvers (8.8.8.8, 1.1.1.1, 9.9.9.9, ...). Dotted
//!   numbers with leading zeros, a `v` prefix, a semver suffix (`1.2.3.4-beta`), only
//!   single-digit parts (`1.2.3.4`) or a "section"/"version"-like word before them are
//!   not addresses, and an address that is a URL's host is a server, not a person (the
//!   `ssrf` detector looks at those).
//! - Well-known test card numbers published by payment providers (4242 4242 4242 4242,
//!   4111 1111 1111 1111, ...) and card-like numbers with at most three distinct digits
//!   are not flagged.
//! - Emails on documentation domains (example.com/.org/.net, `.test`, `.example`,
//!   `.invalid`, `.localhost`), logins on hosts (`git@github.com`, `ssh ubuntu@host`,
//!   `user@host:/path`), `noreply` addresses and "emails" whose top-level domain is a
//!   file extension (`logo@2x.png`) are not flagged.
//! - Unformatted 9-digit (SSN) and 12-digit (Aadhaar) numbers are flagged only with the
//!   identifier's name just before them.
//!
//! Invariants: one pass for digit clusters, one `memchr` pass for `@`, one regex pass for
//! upper-case identifiers (only when an upper-case letter touches a digit), one `memchr`
//! pass over `:` for IPv6 candidates. No allocation on the common path. Spans are on char boundaries
//! (every candidate starts and ends at an ASCII byte).

use std::net::Ipv6Addr;
use std::sync::OnceLock;

use regex::Regex;

use super::text::{cls, Class};
use super::Hit;

mod ids;
pub(super) use ids::IDS;
use ids::*;

/// Scans one text for PII.
pub(crate) fn scan(text: &str, c: &Class, hit: Hit<'_>) {
    if c.has(cls::AT) {
        scan_emails(text, hit);
    }
    if c.digits >= 4 {
        scan_numeric(text, hit);
    }
    if c.upper >= 1
        && c.digits >= 4
        && !c.quiet(super::gate::RAW)
        && upper_next_to_digit(text.as_bytes())
    {
        scan_ids(text, hit);
    }
    if c.has(cls::COLON) && c.digits >= 1 {
        scan_ipv6(text, hit);
    }
}

// ---------------------------------------------------------------------------------------
// Emails

fn is_local_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
}

const FILE_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "pdf", "js", "mjs", "cjs", "ts",
    "tsx", "jsx", "css", "scss", "json", "yaml", "yml", "toml", "lock", "txt", "html", "htm",
    "xml", "map", "wasm", "tar", "gz", "zip", "mp4", "mp3", "woff", "woff2", "ttf", "avif",
];

fn excluded_email(text: &str, ls: usize, local: &str, domain: &str) -> bool {
    let d = domain.to_ascii_lowercase();
    let tld = d.rsplit('.').next().unwrap_or("");
    if FILE_EXTENSIONS.contains(&tld) {
        return true;
    }
    let doc = ["example.com", "example.org", "example.net"];
    let under = |x: &str| {
        d == x
            || (d.len() > x.len() && d.ends_with(x) && d.as_bytes()[d.len() - x.len() - 1] == b'.')
    };
    if doc.iter().any(|x| under(x))
        || [".test", ".example", ".invalid", ".localhost", ".local"]
            .iter()
            .any(|s| d.ends_with(s))
    {
        return true;
    }
    let l = local.to_ascii_lowercase();
    if l.starts_with("noreply") || l.starts_with("no-reply") || l == "donotreply" {
        return true;
    }
    // Logins on hosts (`ssh ubuntu@host`, `git@github.com`), not mailboxes.
    const SYSTEM_USERS: &[&str] = &[
        "git",
        "root",
        "ubuntu",
        "ec2-user",
        "centos",
        "debian",
        "fedora",
        "azureuser",
        "opc",
        "bitnami",
        "pi",
        "core",
        "admin",
        "deploy",
        "vagrant",
        "www-data",
        "postgres",
    ];
    if SYSTEM_USERS.contains(&l.as_str()) && !text[..ls].ends_with("mailto:") {
        return true;
    }
    // URL userinfo (`https://user:pass@host`) is not an email; `mailto:` is.
    if ls > 0 {
        let before = &text.as_bytes()[..ls];
        if before.last() == Some(&b':') && !before.ends_with(b"mailto:") {
            return true;
        }
        if before.last() == Some(&b'/') {
            return true;
        }
    }
    false
}

fn scan_emails(text: &str, hit: Hit<'_>) {
    let b = text.as_bytes();
    let mut last_end = 0;
    for at in memchr::memchr_iter(b'@', b) {
        if at < last_end || at == 0 {
            continue;
        }
        let mut ls = at;
        while ls > last_end && ls > 0 && is_local_byte(b[ls - 1]) && at - ls < 64 {
            ls -= 1;
        }
        while ls < at && (b[ls] == b'.' || b[ls] == b'-') {
            ls += 1;
        }
        if ls == at {
            continue;
        }
        let mut de = at + 1;
        while de < b.len() && is_domain_byte(b[de]) && de - at < 255 {
            de += 1;
        }
        while de > at + 1 && (b[de - 1] == b'.' || b[de - 1] == b'-') {
            de -= 1;
        }
        let domain = &text[at + 1..de];
        let mut labels = domain.split('.');
        let n_labels = domain.split('.').count();
        if n_labels < 2 || labels.any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-')) {
            continue;
        }
        let tld = domain.rsplit('.').next().unwrap_or("");
        if tld.len() < 2 || !tld.bytes().all(|x| x.is_ascii_alphabetic()) {
            continue;
        }
        let local = &text[ls..at];
        if excluded_email(text, ls, local, domain) {
            continue;
        }
        // `user@host:/path` (scp, rsync, git remotes).
        if b.get(de) == Some(&b':')
            && b.get(de + 1)
                .is_some_and(|&x| x == b'/' || x == b'~' || x.is_ascii_alphanumeric())
        {
            last_end = de;
            continue;
        }
        hit("email", ls, de);
        last_end = de;
    }
}

// ---------------------------------------------------------------------------------------
// Digit clusters: cards, phones, SSNs, Aadhaar, IPv4

const MAX_GROUPS: usize = 16;

#[derive(Clone, Copy, Default)]
struct Cluster {
    groups: [(usize, usize); MAX_GROUPS],
    /// Separator after group i (bytes between group i and i+1).
    seps: [(usize, usize); MAX_GROUPS],
    n: usize,
    lead_plus: bool,
    lead_paren: bool,
}

fn is_sep_byte(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'(' | b')')
}

fn valid_sep(s: &[u8]) -> bool {
    if s.is_empty() || s.len() > 3 {
        return false;
    }
    let dashes = s.iter().filter(|&&x| x == b'-').count();
    let dots = s.iter().filter(|&&x| x == b'.').count();
    let opens = s.iter().filter(|&&x| x == b'(').count();
    let closes = s.iter().filter(|&&x| x == b')').count();
    dashes + dots <= 1 && opens <= 1 && closes <= 1
}

fn scan_numeric(text: &str, hit: Hit<'_>) {
    let b = text.as_bytes();
    let n = b.len();
    let mut i = 0;
    while i < n {
        i = super::text::next_digit(b, i);
        if i >= n {
            break;
        }
        // Digits glued to letters belong to an identifier or hash: skip the whole token.
        if i > 0 && (b[i - 1].is_ascii_alphabetic() || b[i - 1] == b'_') {
            while i < n && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            continue;
        }
        let mut cl = Cluster {
            lead_plus: i > 0 && b[i - 1] == b'+' && (i < 2 || !b[i - 2].is_ascii_alphanumeric()),
            lead_paren: i > 0 && b[i - 1] == b'(',
            ..Cluster::default()
        };
        let mut j = i;
        loop {
            let gs = j;
            while j < n && b[j].is_ascii_digit() {
                j += 1;
            }
            if cl.n < MAX_GROUPS {
                cl.groups[cl.n] = (gs, j);
                cl.n += 1;
            }
            let mut k = j;
            while k < n && is_sep_byte(b[k]) && k - j < 3 {
                k += 1;
            }
            if cl.n < MAX_GROUPS && k > j && k < n && b[k].is_ascii_digit() && valid_sep(&b[j..k]) {
                cl.seps[cl.n - 1] = (j, k);
                j = k;
                continue;
            }
            break;
        }
        let end = j;
        let glued = end < n && (b[end].is_ascii_alphabetic() || b[end] == b'_');
        if glued {
            while i < n && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            i = i.max(end);
            continue;
        }
        classify(text, &cl, hit);
        i = end;
    }
}

fn group_value(b: &[u8], g: (usize, usize)) -> u64 {
    b[g.0..g.1]
        .iter()
        .take(18)
        .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'))
}

fn sep_str<'t>(b: &'t [u8], cl: &Cluster, i: usize) -> &'t [u8] {
    let (s, e) = cl.seps[i];
    &b[s..e]
}

fn classify(text: &str, cl: &Cluster, hit: Hit<'_>) {
    let b = text.as_bytes();
    // IPv4: exactly four dot-separated groups.
    if cl.n == 4 && (0..3).all(|i| sep_str(b, cl, i) == b".") {
        let ok = cl.groups[..4].iter().all(|&(s, e)| {
            e - s <= 3 && (e - s == 1 || b[s] != b'0') && group_value(b, (s, e)) <= 255
        });
        let start = cl.groups[0].0;
        let end = cl.groups[3].1;
        let dotted_more = (start > 0 && b[start - 1] == b'.')
            || (end + 1 < b.len() && b[end] == b'.' && b[end + 1].is_ascii_digit());
        // Semver-like suffixes (`1.2.3.4-beta`, `1.2.3.4+build`).
        let version_suffix = end < b.len()
            && (b[end] == b'+'
                || (b[end] == b'-' && b.get(end + 1).is_some_and(u8::is_ascii_alphabetic)));
        // A URL's host is a server, not a person (the `ssrf` detector looks at those).
        let url_host = b[..start].ends_with(b"//") || (start > 0 && b[start - 1] == b'@');
        // Section numbers and placeholders (`1.2.3.4`, `section 2.1.4.3`).
        let small = cl.groups[..4].iter().all(|&(s, e)| e - s == 1);
        let numbered = has_context_before(
            text,
            start,
            &[
                "section", "chapter", "version", "step", "clause", "figure", "table", "rule",
                "item", "release",
            ],
        );
        if ok && !dotted_more && !version_suffix && !url_host && !small && !numbered {
            let o = [0, 1, 2, 3].map(|k| group_value(b, cl.groups[k]) as u8);
            if is_public_ipv4(o) {
                hit("ip_address", start, end);
            }
        }
        return;
    }
    // Every kind below needs at least 9 digits (a US SSN, the shortest): a cluster with
    // fewer cannot hold one.
    let total: usize = cl.groups[..cl.n].iter().map(|&(s, e)| e - s).sum();
    if total < 9 {
        return;
    }
    // Windows of consecutive groups, longest first.
    let mut a = 0;
    while a < cl.n {
        let mut matched = None;
        for z in (a..cl.n).rev() {
            if let Some(kind) = classify_window(text, cl, a, z) {
                matched = Some((kind, z));
                break;
            }
        }
        match matched {
            Some((kind, z)) => {
                let mut s = cl.groups[a].0;
                if a == 0 && cl.lead_plus {
                    s -= 1;
                }
                if a == 0 && cl.lead_paren && kind == "phone" {
                    s -= 1;
                }
                hit(kind, s, cl.groups[z].1);
                a = z + 1;
            }
            None => a += 1,
        }
    }
}

/// The digits of groups `a..=z` (at most 32), and their count.
fn window_digits(b: &[u8], cl: &Cluster, a: usize, z: usize, out: &mut [u8; 32]) -> usize {
    let mut n = 0;
    for &(s, e) in &cl.groups[a..=z] {
        for &d in &b[s..e] {
            if n == 32 {
                return 33;
            }
            out[n] = d - b'0';
            n += 1;
        }
    }
    n
}

fn has_context_before(text: &str, pos: usize, words: &[&str]) -> bool {
    let from = pos.saturating_sub(40);
    let before = &text.as_bytes()[from..pos];
    words.iter().any(|w| {
        before
            .windows(w.len())
            .any(|win| win.eq_ignore_ascii_case(w.as_bytes()))
    })
}

fn classify_window(text: &str, cl: &Cluster, a: usize, z: usize) -> Option<&'static str> {
    let b = text.as_bytes();
    let whole = a == 0 && z + 1 == cl.n;
    let count = z - a + 1;
    let glen = |k: usize| cl.groups[k].1 - cl.groups[k].0;
    let internal: Option<&[u8]> = if count > 1 {
        let first = sep_str(b, cl, a);
        if (a..z).all(|k| sep_str(b, cl, k) == first) {
            Some(first)
        } else {
            None
        }
    } else {
        None
    };
    // A window inside a longer cluster must be delimited by spaces, and must not be a
    // slice of a longer space-separated number.
    if !whole {
        let spaces = |k: usize| sep_str(b, cl, k).iter().all(|&x| x == b' ');
        if (a > 0 && !spaces(a - 1)) || (z + 1 < cl.n && !spaces(z)) {
            return None;
        }
        if count > 1 && internal.is_some_and(|s| s.iter().all(|&x| x == b' ')) {
            return None;
        }
    }
    let mut digits = [0u8; 32];
    let nd = window_digits(b, cl, a, z, &mut digits);
    if nd > 32 {
        return None;
    }
    let d = &digits[..nd];
    let start = cl.groups[a].0;
    let plus = a == 0 && cl.lead_plus;

    // Payment card.
    if (13..=19).contains(&nd) && !plus {
        let grouped_ok = count == 1
            || (matches!(internal, Some(b" ") | Some(b"-"))
                && ((a..z).all(|k| glen(k) == 4) && (1..=4).contains(&glen(z))
                    || (count == 3
                        && glen(a) == 4
                        && glen(a + 1) == 6
                        && (4..=5).contains(&glen(z)))));
        let decimal = count == 1
            && ((start > 0 && b[start - 1] == b'.')
                || (cl.groups[z].1 + 1 < b.len()
                    && b[cl.groups[z].1] == b'.'
                    && b[cl.groups[z].1 + 1].is_ascii_digit()));
        if grouped_ok && !decimal && luhn(d) && card_prefix_ok(d) && !test_card(d) {
            return Some("payment_card");
        }
    }
    // US SSN.
    if nd == 9 && !plus {
        let formatted = count == 3
            && matches!(internal, Some(b"-") | Some(b" "))
            && glen(a) == 3
            && glen(a + 1) == 2
            && glen(z) == 4;
        let contextual =
            count == 1 && has_context_before(text, start, &["ssn", "social security", "ss#"]);
        if (formatted || contextual) && ssn_ok(d) {
            return Some("us_ssn");
        }
    }
    // Aadhaar.
    if nd == 12 && !plus && d[0] >= 2 {
        let formatted = count == 3
            && matches!(internal, Some(b" ") | Some(b"-"))
            && (a..=z).all(|k| glen(k) == 4);
        let contextual =
            count == 1 && has_context_before(text, start, &["aadhaar", "aadhar", "uidai"]);
        if (formatted || contextual) && verhoeff(d) {
            return Some("in_aadhaar");
        }
    }
    // Phone numbers.
    if plus && (9..=15).contains(&nd) && d[0] != 0 {
        return Some("phone");
    }
    if !plus
        && d.len() >= 3
        && d[0] == 0
        && d[1] == 0
        && d[2] != 0
        && (2..=5).contains(&glen(a))
        && (11..=16).contains(&nd)
        && count >= 2
    {
        return Some("phone");
    }
    if !plus && nanp(b, cl, a, z, d, internal) {
        return Some("phone");
    }
    if !plus
        && (10..=11).contains(&nd)
        && d[0] == 0
        && d[1] != 0
        && (2..=5).contains(&count)
        && matches!(internal, Some(b" ") | Some(b".") | Some(b"-"))
        && glen(a) >= 2
    {
        return Some("phone");
    }
    None
}

/// North-American formatted numbers: `(415) 555-2671`, `415-555-2671`, `415.555.2671`,
/// optionally with a leading `1`.
fn nanp(b: &[u8], cl: &Cluster, a: usize, z: usize, d: &[u8], internal: Option<&[u8]>) -> bool {
    let count = z - a + 1;
    let glen = |k: usize| cl.groups[k].1 - cl.groups[k].0;
    let (first, digits) = match (count, d.len()) {
        (3, 10) => (a, d),
        (4, 11) if d[0] == 1 && glen(a) == 1 => (a + 1, &d[1..]),
        _ => return false,
    };
    if glen(first) != 3 || glen(first + 1) != 3 || glen(first + 2) != 4 {
        return false;
    }
    if !(2..=9).contains(&digits[0]) || !(2..=9).contains(&digits[3]) {
        return false;
    }
    // 555-01xx numbers are reserved for fiction.
    if digits[3..6] == [5, 5, 5] && digits[6] == 0 && digits[7] == 1 {
        return false;
    }
    let uniform = matches!(internal, Some(b"-") | Some(b"."));
    let paren = {
        let s1 = sep_str(b, cl, first);
        let s2 = sep_str(b, cl, first + 1);
        let opened = (first == 0 && cl.lead_paren)
            || (first > a && sep_str(b, cl, first - 1).ends_with(b"("));
        opened && s1.starts_with(b")") && (s2 == b"-" || s2 == b" " || s2 == b".")
    };
    uniform || paren
}

pub(crate) fn luhn(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &x) in d.iter().rev().enumerate() {
        let mut v = u32::from(x);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10) && !d.is_empty()
}

fn prefix(d: &[u8], n: usize) -> u32 {
    d.iter().take(n).fold(0u32, |a, &x| a * 10 + u32::from(x))
}

fn card_prefix_ok(d: &[u8]) -> bool {
    let len = d.len();
    let p2 = prefix(d, 2);
    let p3 = prefix(d, 3);
    let p4 = prefix(d, 4);
    let p6 = prefix(d, 6);
    (d[0] == 4 && matches!(len, 13 | 16 | 19))
        || (((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16)
        || ((p2 == 34 || p2 == 37) && len == 15)
        || ((p4 == 6011
            || p2 == 65
            || (644..=649).contains(&p3)
            || (622_126..=622_925).contains(&p6))
            && (16..=19).contains(&len))
        || ((3528..=3589).contains(&p4) && (16..=19).contains(&len))
        || (((300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39 || p4 == 3095)
            && (14..=19).contains(&len))
        || (p2 == 62 && (16..=19).contains(&len))
        || ((2200..=2204).contains(&p4) && (16..=19).contains(&len))
        || ((p2 == 50 || (56..=69).contains(&p2)) && (13..=19).contains(&len))
}

/// Published test numbers and degenerate card-like numbers.
fn test_card(d: &[u8]) -> bool {
    const TEST: &[&str] = &[
        "4000056655665556",
        "5200828282828210",
        "5105105105105100",
        "378282246310005",
        "371449635398431",
        "378734493671000",
        "6011111111111117",
        "6011000990139424",
        "3056930009020004",
        "36227206271667",
        "3566002020360505",
        "6200000000000005",
        "4012888888881881",
        "4222222222222",
        "5454545454545454",
        "2223003122003222",
        "6011000000000004",
        "4917610000000000",
        "4000002500003155",
        "4000002760003184",
        "4000000000003220",
        "4000000000009995",
        "4000000000000077",
        "4000000000000002",
    ];
    let mut distinct = [false; 10];
    for &x in d {
        distinct[x as usize] = true;
    }
    if distinct.iter().filter(|&&x| x).count() <= 3 {
        return true;
    }
    TEST.iter()
        .any(|t| t.len() == d.len() && t.bytes().zip(d).all(|(a, &b)| a - b'0' == b))
}

fn ssn_ok(d: &[u8]) -> bool {
    let area = prefix(d, 3);
    let group = prefix(&d[3..], 2);
    let serial = prefix(&d[5..], 4);
    let v = prefix(d, 9);
    area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        // Published sample numbers.
        && v != 78_051_120
        && v != 219_099_999
        && v != 123_456_789
}

pub(crate) fn verhoeff(d: &[u8]) -> bool {
    const M: [[u8; 10]; 10] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ];
    const P: [[u8; 10]; 8] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ];
    let mut c = 0u8;
    for (i, &x) in d.iter().rev().enumerate() {
        c = M[c as usize][P[i % 8][x as usize] as usize];
    }
    c == 0 && !d.is_empty()
}

pub(crate) fn is_public_ipv4(o: [u8; 4]) -> bool {
    let [a, b, c, _] = o;
    let special = a == 0
        || a == 10
        || a == 127
        || (a == 100 && (64..=127).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..=31).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 224;
    let resolver = matches!(
        o,
        [8, 8, 8, 8]
            | [8, 8, 4, 4]
            | [1, 1, 1, 1]
            | [1, 0, 0, 1]
            | [9, 9, 9, 9]
            | [149, 112, 112, 112]
            | [208, 67, 222, 222]
            | [208, 67, 220, 220]
    );
    !special && !resolver
}

// ---------------------------------------------------------------------------------------
// IPv6

fn scan_ipv6(text: &str, hit: Hit<'_>) {
    let b = text.as_bytes();
    let n = b.len();
    let is_c = |x: u8| x.is_ascii_hexdigit() || x == b':' || x == b'.';
    let mut next_from = 0;
    // A public (2000::/3) address starts with `2xxx:` or `3xxx:`: look at colons only.
    for colon in memchr::memchr_iter(b':', b) {
        if colon < next_from || colon < 4 {
            continue;
        }
        let s = colon - 4;
        if !matches!(b[s], b'2' | b'3') || !b[s + 1..colon].iter().all(u8::is_ascii_hexdigit) {
            continue;
        }
        if s > 0 && (b[s - 1].is_ascii_alphanumeric() || b[s - 1] == b'_' || b[s - 1] == b':') {
            continue;
        }
        let mut e = colon;
        let mut colons = 0;
        while e < n && is_c(b[e]) && e - s <= 45 {
            colons += usize::from(b[e] == b':');
            e += 1;
        }
        while e > s && b[e - 1] == b'.' {
            e -= 1;
        }
        if e > s + 1 && b[e - 1] == b':' && b[e - 2] != b':' {
            e -= 1;
        }
        next_from = e;
        if colons < 2 || e - s < 6 || e - s > 45 {
            continue;
        }
        let after_ok = e >= n || !(b[e].is_ascii_alphanumeric() || b[e] == b'_');
        if !after_ok {
            continue;
        }
        if let Ok(addr) = text[s..e].parse::<Ipv6Addr>() {
            let seg = addr.segments();
            let global = seg[0] & 0xe000 == 0x2000;
            let doc = seg[0] == 0x2001 && seg[1] == 0x0db8;
            if global && !doc {
                hit("ip_address", s, e);
            }
        }
    }
}

#[cfg(test)]
#[path = "tests/pii.rs"]
mod tests;
