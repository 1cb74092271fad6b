//! `path_traversal`: paths that climb out of the directory a tool works in, and paths
//! to files that hold credentials or system secrets.
//!
//! The gateway's own detector. Two kinds:
//! - `traversal`: a path token with `..` segments (plain, `\`-separated, percent-encoded
//!   once or twice, overlong UTF-8 `%c0%ae`, `%u002e`, `%u2216`, full-width dots and
//!   slashes, `..;/`, the filter-evasion forms `....//` and `..././`). A token is reported
//!   when its dot-dot segments were encoded (no legitimate path needs that); when it
//!   climbs above its starting directory and lands on a system location or a sensitive
//!   file (`../../etc/passwd`, `..\..\windows\win.ini`, `../.env`,
//!   `../../config/database.yml`; directories whose names are also common project
//!   directories, such as `lib/`, `bin/`, `tmp/`, `var/`, need a climb of three levels);
//!   or when it climbs five or more levels above its start. `../README.md`,
//!   `src/../lib/mod.rs`, `../../shared/utils.ts` and `../../../tsconfig.base.json`
//!   (ordinary relative references) are not findings.
//! - `sensitive_path`: absolute or home-relative paths to secrets: `/etc/passwd`,
//!   `/etc/shadow`, `/etc/sudoers`, private SSH keys (`id_rsa`, `id_ed25519`, ... but not
//!   `.pub`, and not a key named to `ssh -i`, `ssh-keygen`, `ssh-add` or `IdentityFile`),
//!   `~/.ssh` itself, `~/.aws/credentials`, `~/.kube/config`, `~/.docker/config.json`,
//!   `.netrc`, `.npmrc`, `.pypirc`, `.git-credentials`, `~/.gnupg`, `/proc/self/...`,
//!   Kubernetes service-account secrets, `C:\Windows\System32\config\SAM`, `win.ini`,
//!   MCP client configs (`mcp.json`, `claude_desktop_config.json`) and `.env` files when
//!   written as a path (`/app/.env`, `./.env.production`; a bare `.env` word and
//!   templates such as `.env.example` are not findings). `/etc/hosts`, `~/.aws/config`,
//!   `~/.ssh/config`, `authorized_keys` and the Docker socket are not sensitive here
//!   (writes to `authorized_keys` are a `command_injection` finding).
//!
//! Invariants: two Aho-Corasick passes (dot-dot forms, sensitive names; each at most 64
//! case-sensitive patterns so it gets a SIMD prefilter: Unix paths are case-sensitive,
//! Windows names and percent escapes are listed in their usual spellings) find the
//! triggers; each path token is decoded into a small reused buffer and examined once. A
//! token is reported once. Spans are the token's bytes (char boundaries: tokens are cut
//! at ASCII delimiters).

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use super::text::{self, Class};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Trig {
    /// A dot-dot, possibly encoded.
    Dots,
    /// A sensitive file or directory name.
    Sensitive,
}

const DOT_TRIGGERS: &[&str] = &[
    "..",
    "%2e",
    "%2E",
    "%252e",
    "%252E",
    "%c0%ae",
    "%C0%AE",
    "%c0%AE",
    "%C0%ae",
    "%e0%80%ae",
    "%E0%80%AE",
    "%c0%2e",
    "%C0%2E",
    "%c0%2E",
    "%C0%2e",
    "%u002e",
    "%u002E",
    "%U002E",
    "%U002e",
    "\u{ff0e}",
    "\u{2024}",
    "%uff0e",
    "%uFF0E",
    "%UFF0E",
    "%u2216",
    "%U2216",
];

const SENSITIVE: &[&str] = &[
    "/etc/passwd",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/sudoers",
    "/etc/master.passwd",
    "/etc/security/opasswd",
    "/etc/ssh/ssh_host_",
    "/etc/krb5.keytab",
    "/proc/self/",
    "/proc/1/",
    "/proc/version",
    "/root/",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    "/.ssh",
    "\\.ssh",
    "~/.ssh",
    ".aws/credentials",
    ".aws\\credentials",
    ".kube/config",
    ".docker/config.json",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    ".gnupg",
    ".config/gcloud",
    "/var/run/secrets/",
    "config\\sam",
    "config\\SAM",
    "CONFIG\\SAM",
    "Config\\SAM",
    "config/sam",
    "win.ini",
    "WIN.INI",
    "Win.ini",
    "boot.ini",
    "BOOT.INI",
    "Boot.ini",
    "/.env",
    "\\.env",
    "mcp.json",
    "claude_desktop_config.json",
    ".bash_history",
    ".zsh_history",
    ".htpasswd",
    "ntds.dit",
    "NTDS.dit",
    "NTDS.DIT",
    "wp-config.php",
    "/.git/config",
];

/// Two automata of at most 64 patterns each (larger sets lose the SIMD prefilter):
/// dot-dot forms, and sensitive names.
struct Triggers {
    dots: AhoCorasick,
    names: AhoCorasick,
}

fn triggers() -> Option<&'static Triggers> {
    static T: OnceLock<Option<Triggers>> = OnceLock::new();
    T.get_or_init(|| {
        let build = |pats: &[&str]| {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostFirst)
                .kind(Some(AhoCorasickKind::DFA))
                .build(pats)
                .ok()
        };
        Some(Triggers {
            dots: build(DOT_TRIGGERS)?,
            names: build(SENSITIVE)?,
        })
    })
    .as_ref()
}

/// Bytes that end a path token.
fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t'
            | b'\n'
            | b'\r'
            | b'"'
            | b'\''
            | b'`'
            | b'<'
            | b'>'
            | b'('
            | b')'
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b','
            | b';'
            | b'|'
            | b'='
            | b'&'
            | b'?'
            | b'*'
            | b'!'
    )
}

/// The token around `[s, e)`.
fn token_bounds(b: &[u8], s: usize, e: usize) -> (usize, usize) {
    let mut ts = s;
    while ts > 0 && !is_delim(b[ts - 1]) && s - ts < 4096 {
        ts -= 1;
    }
    let mut te = e;
    while te < b.len() && te - e < 4096 {
        // `..;/` (servlet path parameters) stays inside the token.
        let servlet = b[te] == b';'
            && te >= 2
            && &b[te - 2..te] == b".."
            && matches!(b.get(te + 1), Some(b'/') | Some(b'\\'));
        if is_delim(b[te]) && !servlet {
            break;
        }
        te += 1;
    }
    (ts, te)
}

fn hexv(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Decodes a path token: percent escapes (twice), overlong UTF-8 dots and slashes,
/// `%uXXXX`, full-width forms; `\` becomes `/`. Returns whether anything was decoded.
fn decode_token(tok: &str, out: &mut Vec<u8>) -> bool {
    let mut tmp = Vec::with_capacity(tok.len());
    let mut encoded = false;
    // Two rounds of percent-decoding (catches %252e).
    let mut src: Vec<u8> = tok.as_bytes().to_vec();
    for _ in 0..2 {
        tmp.clear();
        let mut i = 0;
        let mut changed = false;
        while i < src.len() {
            let b = src[i];
            if b == b'%' {
                // %uXXXX
                if i + 6 <= src.len() && (src[i + 1] == b'u' || src[i + 1] == b'U') {
                    let h: Option<u32> = src[i + 2..i + 6]
                        .iter()
                        .try_fold(0u32, |a, &x| hexv(x).map(|d| a * 16 + u32::from(d)));
                    if let Some(cp) = h {
                        let mapped = match cp {
                            0x2e | 0xff0e | 0x2024 => Some(b'.'),
                            0x2f | 0xff0f | 0x2215 => Some(b'/'),
                            0x5c | 0xff3c | 0x2216 | 0xfe68 | 0x29f5 => Some(b'\\'),
                            _ => None,
                        };
                        if let Some(m) = mapped {
                            tmp.push(m);
                            i += 6;
                            changed = true;
                            encoded = true;
                            continue;
                        }
                    }
                }
                if i + 2 < src.len() {
                    if let (Some(h), Some(l)) = (hexv(src[i + 1]), hexv(src[i + 2])) {
                        let v = h * 16 + l;
                        // Only encoded separators, dots, NULs, overlong leads and
                        // double encoding make a path "encoded".
                        encoded |= matches!(v, b'.' | b'/' | b'\\' | b'%' | 0 | 0xc0 | 0xc1 | 0xe0);
                        tmp.push(v);
                        i += 3;
                        changed = true;
                        continue;
                    }
                }
            }
            tmp.push(b);
            i += 1;
        }
        std::mem::swap(&mut src, &mut tmp);
        if !changed {
            break;
        }
    }
    // Overlong UTF-8 and look-alike dots/slashes.
    out.clear();
    let mut i = 0;
    while i < src.len() {
        let rest = &src[i..];
        let (adv, byte) = match rest {
            [0xc0, 0xae, ..] => (2, b'.'),
            [0xc0, 0xaf, ..] | [0xc0, 0x2f, ..] => (2, b'/'),
            [0xc1, 0x9c, ..] | [0xc1, 0x1c, ..] => (2, b'/'),
            [0xc0, 0x2e, ..] => (2, b'.'),
            [0xe0, 0x80, 0xae, ..] => (3, b'.'),
            [0xe0, 0x80, 0xaf, ..] => (3, b'/'),
            [0xef, 0xbc, 0x8e, ..] => (3, b'.'), // U+FF0E
            [0xef, 0xbc, 0x8f, ..] => (3, b'/'), // U+FF0F
            [0xef, 0xbc, 0xbc, ..] => (3, b'/'), // U+FF3C
            [0xe2, 0x80, 0xa4, ..] => (3, b'.'), // U+2024
            [0xe2, 0x88, 0x95, ..] => (3, b'/'), // U+2215
            [0xe2, 0x88, 0x96, ..] => (3, b'/'), // U+2216
            [0xef, 0xb9, 0xa8, ..] => (3, b'/'), // U+FE68
            [b'\\', ..] => (1, b'/'),
            [b, ..] => (1, *b),
            [] => break,
        };
        if adv > 1 {
            encoded = true;
        }
        out.push(byte);
        i += adv;
    }
    encoded
}

/// Top-level locations and files that make a climb an attack. `climb` is how many
/// levels the path went above its start: system directories whose names are also
/// common project directories (`lib/`, `bin/`, `tmp/`, ...) need three.
fn sensitive_target(rest: &[u8], climb: i32) -> bool {
    const STRONG: &[&str] = &[
        "etc/",
        "etc",
        "windows/",
        "winnt/",
        "boot.ini",
        "proc/",
        "root/",
        "root",
        ".ssh",
        ".aws",
        ".env",
        ".kube",
        ".docker",
        ".gnupg",
        ".git-credentials",
        ".netrc",
        ".npmrc",
        ".pypirc",
        "id_rsa",
        "id_ed25519",
        "system32",
        "inetpub/",
        "wp-config.php",
        "web.config",
        "mcp.json",
        "claude_desktop_config.json",
    ];
    const WEAK: &[&str] = &[
        "var/", "usr/", "home/", "users/", "sys/", "bin/", "sbin/", "boot/", "dev/", "lib/",
        "opt/", "tmp/", ".git/", "private/", "secrets/", "library/",
    ];
    let dirs: &[&str] = if climb >= 3 { WEAK } else { &[] };
    // Files that hold credentials wherever they are.
    const FILES: &[&str] = &[
        "database.yml",
        "secrets.yml",
        "secrets.json",
        "credentials.yml",
        "credentials.json",
        "credentials",
        "master.key",
        ".htpasswd",
        "web.config",
        "appsettings.json",
        "application.properties",
        "application.yml",
        "settings.py",
        "local_settings.py",
        "config.php",
        "parameters.yml",
        "shadow",
        "passwd",
        ".env",
        "id_rsa",
        "id_ed25519",
    ];
    let lower: Vec<u8> = rest.iter().take(256).map(u8::to_ascii_lowercase).collect();
    let last = lower.rsplit(|&b| b == b'/').next().unwrap_or(&[]);
    let last = last.split(|&b| b == 0 || b == b'%').next().unwrap_or(last);
    STRONG.iter().chain(dirs).any(|d| {
        lower.starts_with(d.as_bytes())
            && (d.ends_with('/')
                || lower.len() == d.len()
                || matches!(
                    lower.get(d.len()),
                    Some(b'/') | Some(b'.') | Some(b'%') | Some(0)
                ))
    }) || FILES.iter().any(|f| last == f.as_bytes())
}

/// Examines one decoded path: returns whether it is a traversal.
fn is_traversal(path: &[u8], encoded: bool) -> bool {
    let mut depth: i32 = 0;
    let mut min_depth: i32 = 0;
    let mut evasion = false;
    let mut dotdots = 0;
    let mut after_climb: Option<usize> = None;
    let mut pos = 0;
    for seg in path.split(|&b| b == b'/') {
        let seg_start = pos;
        pos += seg.len() + 1;
        // `..;param` (servlet path parameters) counts as `..`.
        let core = seg.split(|&b| b == b';').next().unwrap_or(seg);
        let core = core.split(|&b| b == 0).next().unwrap_or(core);
        if core.is_empty() || core == b"." {
            continue;
        }
        if core == b".." {
            if core.len() != seg.len() {
                evasion = true;
            }
            depth -= 1;
            dotdots += 1;
            min_depth = min_depth.min(depth);
            after_climb = None;
            continue;
        }
        if core.len() >= 3 && core.iter().all(|&b| b == b'.') {
            // `....//`, `...` — filter-evasion forms.
            evasion = true;
            continue;
        }
        if after_climb.is_none() && depth < 0 {
            after_climb = Some(seg_start);
        }
        depth += 1;
    }
    if dotdots == 0 {
        return evasion && path.windows(4).any(|w| w == b"....") && path.contains(&b'/');
    }
    if encoded || evasion {
        return true;
    }
    if min_depth <= -5 {
        return true;
    }
    if min_depth <= -1 {
        if let Some(at) = after_climb {
            return sensitive_target(&path[at..], -min_depth);
        }
    }
    false
}

/// Whether the path token starting at `ts` is the key argument of an SSH tool on the
/// same line (`ssh -i`, `ssh-keygen`, `ssh-add`, `scp -i`, `IdentityFile`).
fn key_in_use(b: &[u8], ts: usize) -> bool {
    let from = ts.saturating_sub(120);
    let line_start = b[from..ts]
        .iter()
        .rposition(|&x| x == b'\n')
        .map_or(from, |p| from + p + 1);
    let before: Vec<u8> = b[line_start..ts]
        .iter()
        .map(u8::to_ascii_lowercase)
        .collect();
    [
        &b"ssh-keygen"[..],
        b"ssh-add",
        b"ssh -i",
        b"scp -i",
        b"sftp -i",
        b"identityfile",
        b"ssh_key_path",
        b"-i ",
    ]
    .iter()
    .any(|m| before.windows(m.len()).any(|w| w == *m))
}

/// Whether a sensitive-name hit at `[s, e)` is a real path mention.
fn sensitive_ok(b: &[u8], s: usize, e: usize, ts: usize, te: usize) -> bool {
    let m: Vec<u8> = b[s..e].iter().map(u8::to_ascii_lowercase).collect();
    let after = b.get(e).copied();
    let tok: Vec<u8> = b[ts..te].iter().map(u8::to_ascii_lowercase).collect();
    let word_after = after.is_some_and(|x| x.is_ascii_alphanumeric() || x == b'_');
    match m.as_slice() {
        // Private SSH keys, not public ones, and not a key named to `ssh -i`,
        // `ssh-keygen -f`, `ssh-add` or `IdentityFile` (using a key is not reading it).
        b"id_rsa" | b"id_dsa" | b"id_ecdsa" | b"id_ed25519" => {
            let before_ok =
                s == 0 || matches!(b[s - 1], b'/' | b'\\' | b' ' | b'"' | b'\'' | b'=' | b':');
            let pubkey = b[e..].starts_with(b".pub");
            before_ok && !pubkey && !word_after && !b[e..].starts_with(b"_") && !key_in_use(b, ts)
        }
        // `~/.ssh` itself, `/.ssh/` followed by a private key or nothing.
        b"/.ssh" | b"\\.ssh" | b"~/.ssh" => {
            if key_in_use(b, ts) {
                return false;
            }
            let rest = &tok[(s - ts + m.len()).min(tok.len())..];
            let rest = rest
                .strip_prefix(b"/")
                .or_else(|| rest.strip_prefix(b"\\"))
                .unwrap_or(rest);
            !word_after
                && (rest.is_empty()
                    || rest == b"*"
                    || rest.starts_with(b"id_") && !rest.ends_with(b".pub")
                    || rest.starts_with(b"identity"))
        }
        b"/.env" | b"\\.env" => {
            // `.env`, `.env.local`, `.env.production` — not templates.
            let rest = &tok[(s - ts + m.len()).min(tok.len())..];
            if rest.is_empty() {
                return true;
            }
            if rest[0] != b'.' {
                return false;
            }
            let suffix = &rest[1..];
            !(suffix.starts_with(b"example")
                || suffix.starts_with(b"sample")
                || suffix.starts_with(b"template")
                || suffix.starts_with(b"dist")
                || suffix.starts_with(b"defaults"))
        }
        b"mcp.json" | b"claude_desktop_config.json" => {
            s > 0 && matches!(b[s - 1], b'/' | b'\\') && !word_after
        }
        b".netrc" | b".npmrc" | b".pypirc" | b".git-credentials" | b".gnupg" | b".bash_history"
        | b".zsh_history" | b".htpasswd" => {
            // As a path component.
            s > 0 && matches!(b[s - 1], b'/' | b'\\' | b'~') && !word_after
        }
        b"/root/" => s == ts || b[s - 1] == b':',
        b"win.ini" | b"boot.ini" | b"ntds.dit" | b"wp-config.php" => !word_after,
        _ => !word_after || m.ends_with(b"/") || m.ends_with(b"_"),
    }
}

/// Scans one text for traversal and sensitive paths.
pub(crate) fn scan(text: &str, _c: &Class, hit: &mut dyn FnMut(&'static str, usize, usize)) {
    if text.len() < 3 {
        return;
    }
    let Some(tr) = triggers() else { return };
    let b = text.as_bytes();
    let mut buf = Vec::new();
    let mut reported = [(0usize, 0usize); 16];
    let mut reported_n = 0;
    for (ac, kind) in [(&tr.dots, Trig::Dots), (&tr.names, Trig::Sensitive)] {
        let mut done_until = 0usize;
        for m in ac.find_iter(text) {
            if m.start() < done_until {
                continue;
            }
            let (ts, te) = token_bounds(b, m.start(), m.end());
            let ts = text::ceil_boundary(text, ts);
            let te = text::floor_boundary(text, te);
            if ts >= te
                || reported[..reported_n]
                    .iter()
                    .any(|&(s, e)| s < te && ts < e)
            {
                continue;
            }
            let found = match kind {
                Trig::Dots => {
                    let encoded = decode_token(&text[ts..te], &mut buf);
                    is_traversal(&buf, encoded).then_some("traversal")
                }
                Trig::Sensitive => {
                    sensitive_ok(b, m.start(), m.end(), ts, te).then_some("sensitive_path")
                }
            };
            if let Some(k) = found {
                hit(k, ts, te);
                done_until = te;
                if reported_n < reported.len() {
                    reported[reported_n] = (ts, te);
                    reported_n += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<&'static str> {
        let mut v = Vec::new();
        scan(text, &Class::of(text), &mut |k, s, e| {
            assert!(text.is_char_boundary(s) && text.is_char_boundary(e) && s < e);
            v.push(k)
        });
        v
    }

    #[test]
    fn traversals() {
        for t in [
            "../../etc/passwd",
            "..\\..\\windows\\win.ini",
            "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            "..%2f..%2fapp%2fconfig",
            "%252e%252e%252fetc",
            "%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
            "....//....//etc/passwd",
            "/static/..;/..;/WEB-INF/web.xml",
            "../../../../../../tmp/x",
            "file=../../../.env",
            "\u{ff0e}\u{ff0e}/\u{ff0e}\u{ff0e}/etc/hosts",
            "download?path=..%5c..%5cboot.ini",
        ] {
            assert!(!kinds(t).is_empty(), "{t}");
        }
    }

    #[test]
    fn ordinary_paths() {
        for t in [
            "../README.md",
            "src/../lib/mod.rs",
            "import { Button } from '../../components/Button'",
            "extends: ../../../tsconfig.base.json",
            "see ../lib/util.rs and ../../lib/api.ts and ../../bin/run",
            "cd .. && ls",
            "Loading...",
            "wait... what?",
            "copy .env.example to .env and fill it in",
            "cat ~/.ssh/id_ed25519.pub",
            "add it to ~/.ssh/authorized_keys",
            "range 1..10 and a..=b",
            "see /etc/hosts and /etc/nginx/nginx.conf",
            "id_rsa_fingerprint",
        ] {
            assert!(kinds(t).is_empty(), "{t}: {:?}", kinds(t));
        }
    }

    #[test]
    fn sensitive() {
        for t in [
            "/etc/shadow",
            "read ~/.ssh/id_rsa",
            "~/.aws/credentials",
            "/proc/self/environ",
            "C:\\Windows\\System32\\config\\SAM",
            "/var/run/secrets/kubernetes.io/serviceaccount/token",
            "/home/dev/project/.env",
            "./.env.production",
            "~/Library/Application Support/Claude/claude_desktop_config.json",
            "open ~/.ssh",
            "/root/.bash_history",
        ] {
            assert_eq!(kinds(t), vec!["sensitive_path"], "{t}");
        }
    }
}
