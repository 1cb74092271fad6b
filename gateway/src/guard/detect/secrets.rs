//! `secrets`: credentials in tool arguments and results, and the spans used to mask
//! them.
//!
//! Mirrors the reference product's secrets detector with format rules: AWS access key
//! ids (`AKIA`/`ASIA`/...) and secret keys assigned to an AWS name; GitHub (`ghp_`,
//! `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`), GitLab (`glpat-`), Slack (`xox?-`,
//! webhooks), Stripe live keys (`sk_live_`, `rk_live_`, `whsec_`), Google API keys
//! (`AIza`) and OAuth tokens (`ya29.`), OpenAI / Anthropic style keys (`sk-`,
//! `sk-proj-`, `sk-ant-`), npm, PyPI, Hugging Face, SendGrid, DigitalOcean, Shopify,
//! Databricks, Vault, Postman, Grafana, Linear, Square, Sentry, Mailgun, Telegram bot,
//! age and Azure storage keys;
//! private key blocks (`-----BEGIN ... PRIVATE KEY-----` with a real body, PuTTY keys);
//! JWTs (three base64url segments whose header decodes to JSON with `"alg"`); passwords
//! in URLs (`scheme://user:pass@host`); `Bearer` / `Basic` credentials; and values
//! assigned to credential names (`password`, `secret`, `token`, `api_key`, ...), either
//! in text (`API_KEY=...`, `"password": "..."`, `--token ...`) or as the value of a JSON
//! member with such a name.
//!
//! Decisions:
//! - A generic value needs a credential-like name: at least 16 chars, two character
//!   classes including a digit, and Shannon entropy ≥ 3.0 bits/char (hex of 32+ chars
//!   also qualifies); passwords need 8 chars and two classes. Hashes in lock files,
//!   git SHAs and checksums are therefore not flagged (their names are not credential
//!   names), nor are pagination / CSRF / cancellation "tokens".
//! - Placeholders and indirections are not secrets: `${VAR}`, `<your-key>`, `xxxx`,
//!   `changeme`, `os.environ[...]`, `process.env.X`, paths to key files, documented
//!   examples (`AKIAIOSFODNN7EXAMPLE`, the jwt.io sample token), values containing
//!   "example", "test", "dummy", "placeholder" and the like.
//! - Stripe test-mode keys (`sk_test_`) are not flagged; live keys are.
//!
//! Invariants: two case-sensitive Aho-Corasick passes (token prefixes and markers in
//! their exact case; credential-name words in lower, upper and capitalised spelling;
//! each at most 64 patterns, so each gets a SIMD prefilter) find every trigger; the
//! identifier around a name is then checked case-insensitively against the full name
//! list. Everything after a trigger is a bounded hand-written parse: no regex, and no
//! allocation except for the rare JWT header check. A value already reported as a token
//! is not reported again as an assigned secret. Spans end on char boundaries (callers
//! clamp them).

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use base64::Engine as _;

use super::text::{self, Class};
use super::Hit;

mod shapes;
use shapes::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum T {
    /// An exact-case prefix followed by a token body.
    Prefix(&'static str),
    PrivateKey,
    Putty,
    Jwt,
    UrlCreds,
    Bearer,
    Basic,
    SlackHook,
    /// `:AA` of a Telegram bot token (`123456789:AA...`).
    Telegram,
    /// `mysql ... -pPASSWORD` (password glued to `-p`).
    MysqlPass,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum NameClass {
    Password,
    Generic,
    AwsSecret,
}

const PREFIXES: &[&str] = &[
    "AKIA",
    "ASIA",
    "ABIA",
    "ACCA",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxa-",
    "xoxp-",
    "xoxr-",
    "xoxs-",
    "xoxe-",
    "xapp-",
    "sk_live_",
    "rk_live_",
    "whsec_",
    "AIza",
    "ya29.",
    "sk-ant-",
    "sk-proj-",
    "sk-svcacct-",
    "sk-admin-",
    "sk-",
    "npm_",
    "pypi-AgE",
    "hf_",
    "SG.",
    "dop_v1_",
    "shpat_",
    "shpss_",
    "shpca_",
    "shppa_",
    "dapi",
    "AGE-SECRET-KEY-1",
    "hvs.",
    "PMAK-",
    "glsa_",
    "lin_api_",
    "sq0atp-",
    "sq0csp-",
    "AccountKey=",
    "SharedAccessKey=",
    "sntrys_",
    "key-",
];

const NAMES: &[(&str, NameClass)] = &[
    ("password", NameClass::Password),
    ("passwd", NameClass::Password),
    ("passphrase", NameClass::Password),
    ("pwd", NameClass::Password),
    ("secret", NameClass::Generic),
    ("token", NameClass::Generic),
    ("api_key", NameClass::Generic),
    ("apikey", NameClass::Generic),
    ("api-key", NameClass::Generic),
    ("access_key", NameClass::Generic),
    ("accesskey", NameClass::Generic),
    ("private_key", NameClass::Generic),
    ("privatekey", NameClass::Generic),
    ("secret_key", NameClass::Generic),
    ("secretkey", NameClass::Generic),
    ("auth_key", NameClass::Generic),
    ("credential", NameClass::Generic),
    ("credentials", NameClass::Generic),
    ("aws_secret_access_key", NameClass::AwsSecret),
    ("secret_access_key", NameClass::AwsSecret),
    ("secretaccesskey", NameClass::AwsSecret),
    ("aws_secret_key", NameClass::AwsSecret),
    ("auth", NameClass::Generic),
    ("authorization", NameClass::Generic),
];

/// The last words of credential names (see `NAMES`).
const NAME_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "key",
    "credential",
    "credentials",
    "auth",
    "authorization",
];

fn capitalise(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// Two automata of at most 64 patterns each (larger sets lose the SIMD prefilter): token
/// prefixes and markers, and credential-name words.
struct Triggers {
    ac: AhoCorasick,
    kinds: Vec<T>,
    names: AhoCorasick,
}

fn triggers() -> Option<&'static Triggers> {
    static TR: OnceLock<Option<Triggers>> = OnceLock::new();
    TR.get_or_init(|| {
        let mut pats: Vec<&'static str> = Vec::new();
        let mut kinds = Vec::new();
        for p in PREFIXES {
            pats.push(p);
            kinds.push(T::Prefix(p));
        }
        for (p, k) in [
            ("-----BEGIN ", T::PrivateKey),
            ("PuTTY-User-Key-File-", T::Putty),
            ("eyJ", T::Jwt),
            ("://", T::UrlCreds),
            ("bearer ", T::Bearer),
            ("Bearer ", T::Bearer),
            ("BEARER ", T::Bearer),
            ("basic ", T::Basic),
            ("Basic ", T::Basic),
            ("BASIC ", T::Basic),
            ("hooks.slack.com/services/", T::SlackHook),
            (":AA", T::Telegram),
            ("mysql", T::MysqlPass),
        ] {
            pats.push(p);
            kinds.push(k);
        }
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&pats)
            .ok()?;
        // Credential names are found by their last word in three spellings (lower,
        // upper, capitalised: `password`, `DB_PASSWORD`, `dbPassword`); the whole
        // identifier is then checked against `NAMES`.
        let mut words: Vec<String> = Vec::new();
        for w in NAME_WORDS {
            words.extend([w.to_string(), w.to_ascii_uppercase(), capitalise(w)]);
        }
        let names = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&words)
            .ok()?;
        Some(Triggers { ac, kinds, names })
    })
    .as_ref()
}

/// Scans one text for secrets.
pub(crate) fn scan(text: &str, _c: &Class, hit: Hit<'_>) {
    if text.len() < 8 {
        return;
    }
    let Some(tr) = triggers() else { return };
    let b = text.as_bytes();
    let mut last_end = 0usize;
    let mut reported = [(0usize, 0usize); 16];
    let mut reported_n = 0;
    for m in tr.ac.find_iter(text) {
        if m.start() < last_end {
            continue;
        }
        let Some(&t) = tr.kinds.get(m.pattern().as_usize()) else {
            continue;
        };
        let found = match t {
            T::Prefix(p) => prefix_token(b, m.start(), p),
            T::PrivateKey => private_key(text, m.start()),
            T::Putty => putty(b, m.start()),
            T::Jwt => jwt(b, m.start()),
            T::UrlCreds => url_creds(b, m.start()),
            T::Bearer => bearer(b, m.start(), m.end()),
            T::Basic => basic(b, m.start(), m.end()),
            T::SlackHook => slack_hook(b, m.start(), m.end()),
            T::Telegram => telegram(b, m.start()),
            T::MysqlPass => mysql_pass(b, m.end()),
        };
        if let Some((kind, s, e)) = found {
            hit(kind, s, e);
            last_end = e;
            if reported_n < reported.len() {
                reported[reported_n] = (s, e);
                reported_n += 1;
            }
        }
    }
    // Values assigned to credential names, unless a token above already covers them.
    let mut last_end = 0usize;
    for m in tr.names.find_iter(text) {
        if m.start() < last_end {
            continue;
        }
        if let Some((kind, s, e)) = assigned(b, m.start(), m.end(), NameClass::Generic) {
            let covered = reported[..reported_n]
                .iter()
                .any(|&(rs, re)| rs < e && s < re);
            if !covered {
                hit(kind, s, e);
            }
            last_end = e;
        }
    }
}

/// Checks the value of a JSON member whose key may be a credential name.
pub(crate) fn scan_member(key: &str, value: &str, hit: Hit<'_>) {
    let Some(nc) = credential_name(key.as_bytes()) else {
        return;
    };
    let v = value.trim();
    let lead = value.len() - value.trim_start().len();
    if let Some(kind) = credential_value(v.as_bytes(), nc) {
        hit(kind, lead, lead + v.len());
    }
}

/// Whether a whole identifier ends with a credential name (and is not a pagination,
/// CSRF or other non-credential "token").
fn credential_name(id: &[u8]) -> Option<NameClass> {
    if id.len() > 64 || id.is_empty() {
        return None;
    }
    let (_, nc) = NAMES
        .iter()
        .filter(|(n, _)| {
            id.len() >= n.len() && id[id.len() - n.len()..].eq_ignore_ascii_case(n.as_bytes()) && {
                let rest = &id[..id.len() - n.len()];
                // The name must start a word: start, a separator, or a camel-case hump.
                rest.is_empty()
                    || !rest[rest.len() - 1].is_ascii_alphanumeric()
                    || id[id.len() - n.len()].is_ascii_uppercase()
            }
        })
        .max_by_key(|(n, _)| n.len())?;
    if excluded_name(id) {
        return None;
    }
    Some(*nc)
}

fn excluded_name(id: &[u8]) -> bool {
    const EXCLUDE: &[&str] = &[
        "page",
        "next",
        "continuation",
        "cursor",
        "sync",
        "csrf",
        "xsrf",
        "pagination",
        "resume",
        "cancel",
        "max",
        "num",
        "count",
        "limit",
        "length",
        "prompt",
        "completion",
        "input",
        "output",
        "reset",
        "hash",
        "_id",
        "public",
    ];
    EXCLUDE.iter().any(|x| {
        id.windows(x.len())
            .any(|w| w.eq_ignore_ascii_case(x.as_bytes()))
    })
}

#[inline]
fn boundary_before(b: &[u8], s: usize) -> bool {
    s == 0 || !b[s - 1].is_ascii_alphanumeric()
}

#[inline]
fn boundary_after(b: &[u8], e: usize) -> bool {
    e >= b.len() || !(b[e].is_ascii_alphanumeric() || b[e] == b'_')
}

fn take_while(b: &[u8], from: usize, max: usize, f: impl Fn(u8) -> bool) -> usize {
    let mut e = from;
    while e < b.len() && e - from < max && f(b[e]) {
        e += 1;
    }
    e
}

fn alnum(x: u8) -> bool {
    x.is_ascii_alphanumeric()
}

fn b64url(x: u8) -> bool {
    x.is_ascii_alphanumeric() || x == b'_' || x == b'-'
}

fn classes(v: &[u8]) -> (bool, bool, bool, bool) {
    let mut l = false;
    let mut u = false;
    let mut d = false;
    let mut s = false;
    for &x in v {
        l |= x.is_ascii_lowercase();
        u |= x.is_ascii_uppercase();
        d |= x.is_ascii_digit();
        s |= !x.is_ascii_alphanumeric();
    }
    (l, u, d, s)
}

/// A value assigned to a credential name in text: `NAME = value`, `"name": "value"`,
/// `name: value`, `--name value`.
fn assigned(
    b: &[u8],
    ms: usize,
    me: usize,
    _nc: NameClass,
) -> Option<(&'static str, usize, usize)> {
    // The identifier around the name must end exactly at the name.
    if !boundary_after(b, me) || me < b.len() && b[me] == b'-' {
        return None;
    }
    let mut is_ = ms;
    while is_ > 0
        && (b[is_ - 1].is_ascii_alphanumeric() || matches!(b[is_ - 1], b'_' | b'-' | b'.'))
    {
        is_ -= 1;
    }
    let ident = &b[is_..me];
    let flag = ident.starts_with(b"-");
    let id_trim: &[u8] = {
        let mut t = ident;
        while let Some((&x, rest)) = t.split_first() {
            if x == b'-' || x == b'.' {
                t = rest;
            } else {
                break;
            }
        }
        t
    };
    let nc = credential_name(id_trim)?;
    // Assignment.
    let mut i = me;
    if i < b.len() && matches!(b[i], b'"' | b'\'') {
        i += 1;
    }
    let ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t') {
            *i += 1;
        }
    };
    let before_ws = i;
    ws(&mut i);
    if b[i..].starts_with(b"=>") || b[i..].starts_with(b":=") {
        i += 2;
    } else if i < b.len() && (b[i] == b'=' || b[i] == b':') {
        i += 1;
    } else if !(flag && i > before_ws) {
        // `--password VALUE`: a flag followed by whitespace and its value.
        return None;
    }
    ws(&mut i);
    if i >= b.len() {
        return None;
    }
    let (vs, ve) = if matches!(b[i], b'"' | b'\'' | b'`') {
        let q = b[i];
        let vs = i + 1;
        let ve = take_while(b, vs, 512, |x| x != q && x != b'\n');
        if ve >= b.len() || b[ve] != q {
            return None;
        }
        (vs, ve)
    } else {
        let ve = take_while(b, i, 512, |x| {
            !matches!(
                x,
                b' ' | b'\t'
                    | b'\n'
                    | b'\r'
                    | b'"'
                    | b'\''
                    | b'`'
                    | b','
                    | b';'
                    | b')'
                    | b']'
                    | b'}'
                    | b'>'
                    | b'&'
                    | b'|'
            )
        });
        (i, ve)
    };
    let kind = credential_value(&b[vs..ve], nc)?;
    Some((kind, vs, ve))
}

/// Placeholders, references and indirections: not credentials.
fn placeholder(v: &[u8]) -> bool {
    const MARKERS: &[&str] = &[
        "xxx",
        "***",
        "\u{2022}\u{2022}",
        "your",
        "example",
        "changeme",
        "change_me",
        "change-me",
        "placeholder",
        "redacted",
        "dummy",
        "sample",
        "<",
        ">",
        "{",
        "}",
        "$",
        "%(",
        "env:",
        "secret:",
        "vault:",
        "arn:aws",
        "ref+",
        "...",
        "replace",
        "insert",
        "todo",
        "fixme",
        "none",
        "null",
        "undefined",
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "test",
        "fake",
        "mock",
        "lorem",
        "foobar",
        "hidden",
        "masked",
        "://",
        "12345678",
        "abcdef",
        "qwerty",
        "letmein",
        "admin",
    ];
    let lower: Vec<u8> = v.iter().map(u8::to_ascii_lowercase).collect();
    MARKERS
        .iter()
        .any(|m| lower.windows(m.len()).any(|w| w == m.as_bytes()))
}

/// Code or paths rather than a literal value.
fn looks_like_code_or_path(v: &[u8]) -> bool {
    if v.iter()
        .any(|&x| matches!(x, b'(' | b')' | b'[' | b']' | b' ' | b'\t'))
    {
        return true;
    }
    if matches!(
        v.first(),
        Some(b'/') | Some(b'~') | Some(b'.') | Some(b'@') | Some(b'\\')
    ) {
        return true;
    }
    let lower: Vec<u8> = v.iter().map(u8::to_ascii_lowercase).collect();
    for ext in [
        ".pem", ".key", ".json", ".txt", ".p12", ".pfx", ".crt", ".yaml", ".yml", ".env",
    ] {
        if lower.ends_with(ext.as_bytes()) {
            return true;
        }
    }
    // Dotted identifiers: process.env.X, settings.API_KEY, os.environ.
    let ident = |s: &[u8]| {
        !s.is_empty()
            && (s[0].is_ascii_alphabetic() || s[0] == b'_')
            && s.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'_')
    };
    let parts: Vec<&[u8]> = v.split(|&x| x == b'.').collect();
    if parts.len() >= 2 && parts.iter().all(|p| ident(p)) {
        return true;
    }
    // A bare word or identifier without digits.
    v.iter()
        .all(|&x| x.is_ascii_alphabetic() || x == b'_' || x == b'-')
}

fn credential_value(v: &[u8], nc: NameClass) -> Option<&'static str> {
    if v.len() > 512 || v.is_empty() || placeholder(v) || looks_like_code_or_path(v) {
        return None;
    }
    if v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let (l, u, d, s) = classes(v);
    let n_classes = [l, u, d, s].iter().filter(|&&x| x).count();
    match nc {
        NameClass::Password => (v.len() >= 8 && n_classes >= 2).then_some("password"),
        NameClass::AwsSecret => {
            let ok = v.len() == 40
                && v.iter()
                    .all(|&x| alnum(x) || x == b'/' || x == b'+' || x == b'=')
                && text::shannon_entropy(v) >= 4.0;
            ok.then_some("aws_secret_key")
        }
        NameClass::Generic => {
            let hex = v.len() >= 32 && v.iter().all(u8::is_ascii_hexdigit) && d;
            let strong = v.len() >= 16 && d && n_classes >= 2 && text::shannon_entropy(v) >= 3.0;
            (hex || strong).then_some("high_entropy_secret")
        }
    }
}

#[cfg(test)]
#[path = "tests/secrets.rs"]
mod tests;
