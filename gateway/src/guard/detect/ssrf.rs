//! `ssrf`: URLs in tool arguments that point a server-side fetch at places it must not
//! reach.
//!
//! The gateway's own detector. Only URLs (a scheme is present), never bare host names.
//! Kinds:
//! - `metadata_endpoint`: cloud instance metadata (169.254.169.254, 169.254.170.2,
//!   `metadata.google.internal`, `metadata.goog`, 100.100.100.200, `fd00:ec2::254`, ...).
//! - `loopback`: 127.0.0.0/8, 0.0.0.0/8, `localhost` and `*.localhost`, `[::1]`, `[::]`,
//!   `host.docker.internal`, and DNS names that resolve to loopback by design
//!   (`localtest.me`, `lvh.me`, `127.0.0.1.nip.io`, ...). Reported as a finding: whether
//!   a local URL is acceptable is the policy's call.
//! - `link_local`: 169.254.0.0/16, `fe80::/10`.
//! - `private_network`: 10/8, 172.16/12, 192.168/16, 100.64/10, `fc00::/7`, `fec0::/10`,
//!   and Kubernetes cluster names (`kubernetes.default`, `*.svc`, `*.cluster.local`);
//!   other internal DNS names are not recognised (they cannot be told from public ones).
//! - `obfuscated_ip`: a public address written in decimal, octal, hex or short form
//!   (`http://0x5db8d822/`); non-canonical forms of internal addresses are reported
//!   with the internal kind.
//! - `file_url`: any `file:` URL.
//! - `dangerous_scheme`: `gopher:`, `dict:`, `jar:`, `netdoc:`, `tftp:` URLs.
//!
//! Hosts are decoded before classification: percent escapes, user-info (`http://
//! trusted.com@127.0.0.1/`), IPv4 in any `inet_aton` form (`2130706433`, `0x7f000001`,
//! `017700000001`, `127.1`), IPv4-mapped/compatible and NAT64 IPv6, full-width and
//! circled digits, ideographic full stops.
//!
//! Invariants: a `memchr` pass over `:` finds candidates; each URL is parsed once,
//! bounded, without regex. Spans cover the URL's scheme to the end of its authority.

use std::net::Ipv6Addr;

use super::text::{self, cls, Class};

const SCHEMES: &[&str] = &[
    "http", "https", "ws", "wss", "ftp", "ftps", "sftp", "tftp", "gopher", "dict", "ldap", "ldaps",
    "file", "jar", "netdoc", "smb",
];

/// Scans one text for SSRF-prone URLs.
pub(crate) fn scan(text: &str, c: &Class, hit: &mut dyn FnMut(&'static str, usize, usize)) {
    if !c.has(cls::COLON) || text.len() < 5 {
        return;
    }
    let b = text.as_bytes();
    let mut next_from = 0;
    for colon in memchr::memchr_iter(b':', b) {
        if colon < next_from {
            continue;
        }
        // Scheme before the colon.
        let mut ss = colon;
        while ss > 0
            && (b[ss - 1].is_ascii_alphanumeric() || matches!(b[ss - 1], b'+' | b'.' | b'-'))
        {
            ss -= 1;
        }
        while ss < colon && !b[ss].is_ascii_alphabetic() {
            ss += 1;
        }
        if ss == colon || colon - ss > 8 {
            continue;
        }
        let scheme = &b[ss..colon];
        let Some(&sch) = SCHEMES
            .iter()
            .find(|s| s.as_bytes().eq_ignore_ascii_case(scheme))
        else {
            continue;
        };
        let slashes = b[colon + 1..]
            .iter()
            .take(3)
            .take_while(|&&x| x == b'/' || x == b'\\')
            .count();
        if sch == "file" {
            if slashes >= 1 {
                let e = url_end(b, colon + 1);
                hit("file_url", ss, e);
                next_from = e;
            }
            continue;
        }
        if slashes < 2 {
            continue;
        }
        let auth_start = colon + 1 + slashes;
        // The length cap may stop inside a multi-byte char: back off to a boundary.
        let auth_end = text::floor_boundary(text, authority_end(b, auth_start)).max(auth_start);
        if matches!(sch, "gopher" | "dict" | "jar" | "netdoc" | "tftp") {
            hit("dangerous_scheme", ss, auth_end);
            next_from = auth_end;
            continue;
        }
        if let Some(kind) = classify_authority(&text[auth_start..auth_end]) {
            hit(kind, ss, auth_end);
            next_from = auth_end;
        }
    }
}

fn is_url_delim(x: u8) -> bool {
    matches!(
        x,
        b' ' | b'\t'
            | b'\n'
            | b'\r'
            | b'"'
            | b'\''
            | b'<'
            | b'>'
            | b'`'
            | b')'
            | b'|'
            | b'}'
            | b','
            | b'!'
    )
}

fn url_end(b: &[u8], from: usize) -> usize {
    let mut e = from;
    while e < b.len() && !is_url_delim(b[e]) && e - from < 2048 {
        e += 1;
    }
    e
}

fn authority_end(b: &[u8], from: usize) -> usize {
    let mut e = from;
    let mut in_bracket = false;
    while e < b.len() && e - from < 512 {
        let x = b[e];
        if x == b'[' {
            in_bracket = true;
        } else if x == b']' {
            in_bracket = false;
        } else if is_url_delim(x) || (!in_bracket && matches!(x, b'/' | b'?' | b'#' | b'\\')) {
            break;
        }
        e += 1;
    }
    e
}

/// Percent-decodes and folds look-alike digits and dots of a host into ASCII.
fn normalise_host(raw: &str, out: &mut String) {
    out.clear();
    let bytes = raw.as_bytes();
    let mut dec: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let h = (bytes[i + 1] as char).to_digit(16);
            let l = (bytes[i + 2] as char).to_digit(16);
            if let (Some(h), Some(l)) = (h, l) {
                dec.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        dec.push(bytes[i]);
        i += 1;
    }
    for ch in String::from_utf8_lossy(&dec).chars() {
        let u = ch as u32;
        let m = match u {
            0x3002 | 0xFF0E | 0xFF61 | 0x2024 => '.',
            0xFF10..=0xFF19 => char::from(b'0' + (u - 0xFF10) as u8),
            0x2460..=0x2468 => char::from(b'1' + (u - 0x2460) as u8),
            0x24EA | 0x24FF => '0',
            0x2776..=0x277E => char::from(b'1' + (u - 0x2776) as u8),
            0x2780..=0x2788 => char::from(b'1' + (u - 0x2780) as u8),
            0x278A..=0x2792 => char::from(b'1' + (u - 0x278A) as u8),
            0xFF21..=0xFF3A => char::from(b'a' + (u - 0xFF21) as u8),
            0xFF41..=0xFF5A => char::from(b'a' + (u - 0xFF41) as u8),
            _ => ch.to_ascii_lowercase(),
        };
        out.push(m);
    }
    while out.ends_with('.') {
        out.pop();
    }
}

fn classify_authority(auth: &str) -> Option<&'static str> {
    // User-info: the host follows the last '@'.
    let host_port = auth.rsplit('@').next().unwrap_or(auth);
    let host = if let Some(rest) = host_port.strip_prefix('[') {
        let inner = rest.split(']').next().unwrap_or(rest);
        let mut h = String::new();
        normalise_host(inner, &mut h);
        let h = h.split('%').next().unwrap_or("").to_string();
        return h.parse::<Ipv6Addr>().ok().and_then(classify_v6);
    } else {
        match host_port.rfind(':') {
            Some(i) if host_port[i + 1..].bytes().all(|x| x.is_ascii_digit()) => &host_port[..i],
            _ => host_port,
        }
    };
    let mut h = String::new();
    normalise_host(host, &mut h);
    if h.is_empty() {
        return None;
    }
    if let Some((addr, canonical)) = parse_inet_aton(&h) {
        return match classify_v4(addr) {
            Some(k) => Some(k),
            None if !canonical => Some("obfuscated_ip"),
            None => None,
        };
    }
    classify_name(&h)
}

/// Parses an IPv4 address in any `inet_aton` form; returns it and whether it was
/// written canonically (four decimal parts without leading zeros).
pub(crate) fn parse_inet_aton(h: &str) -> Option<([u8; 4], bool)> {
    let parts: Vec<&str> = h.split('.').collect();
    if parts.is_empty() || parts.len() > 4 || parts.iter().any(|p| p.is_empty() || p.len() > 12) {
        return None;
    }
    let mut vals = [0u64; 4];
    let mut canonical = parts.len() == 4;
    for (i, p) in parts.iter().enumerate() {
        let (digits, radix) = if let Some(x) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X"))
        {
            canonical = false;
            (x, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            canonical = false;
            (&p[1..], 8)
        } else {
            (*p, 10)
        };
        let v = if digits.is_empty() {
            0
        } else {
            u64::from_str_radix(digits, radix).ok()?
        };
        vals[i] = v;
    }
    let n = parts.len();
    let mut addr: u64 = 0;
    for (i, v) in vals.iter().enumerate().take(n - 1) {
        if *v > 255 {
            return None;
        }
        addr |= v << (8 * (3 - i));
    }
    let last_bits = 8 * (5 - n) as u32;
    let last = vals[n - 1];
    if last_bits < 64 && last >= (1u64 << last_bits) {
        return None;
    }
    addr |= last;
    if addr > u64::from(u32::MAX) {
        return None;
    }
    Some(((addr as u32).to_be_bytes(), canonical))
}

pub(crate) fn classify_v4(o: [u8; 4]) -> Option<&'static str> {
    let [a, b, c, d] = o;
    Some(match (a, b, c, d) {
        (169, 254, 169, 254) | (169, 254, 170, 2) | (169, 254, 170, 23) | (100, 100, 100, 200) => {
            "metadata_endpoint"
        }
        (127, ..) | (0, ..) => "loopback",
        (169, 254, ..) => "link_local",
        (10, ..) | (192, 168, ..) => "private_network",
        (172, 16..=31, ..) | (100, 64..=127, ..) => "private_network",
        _ => return None,
    })
}

fn classify_v6(a: Ipv6Addr) -> Option<&'static str> {
    let s = a.segments();
    if a.is_loopback() || a.is_unspecified() {
        return Some("loopback");
    }
    if s == [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254] {
        return Some("metadata_endpoint");
    }
    // IPv4-mapped, IPv4-compatible, NAT64.
    let embedded = (s[0..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || s[5] == 0))
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0]);
    if embedded {
        let v4 = [(s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8];
        return classify_v4(v4);
    }
    if s[0] & 0xffc0 == 0xfe80 {
        return Some("link_local");
    }
    if s[0] & 0xfe00 == 0xfc00 || s[0] & 0xffc0 == 0xfec0 {
        return Some("private_network");
    }
    None
}

fn classify_name(h: &str) -> Option<&'static str> {
    const METADATA: &[&str] = &[
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.platformequinix.com",
        "metadata.oraclecloud.com",
    ];
    if METADATA.contains(&h) {
        return Some("metadata_endpoint");
    }
    const LOOPBACK: &[&str] = &[
        "localhost",
        "localhost.localdomain",
        "ip6-localhost",
        "ip6-loopback",
        "host.docker.internal",
        "gateway.docker.internal",
        "host.containers.internal",
        "localtest.me",
        "lvh.me",
        "vcap.me",
        "localh.st",
        "lacolhost.com",
    ];
    let ends = |suffix: &str| {
        h == suffix
            || (h.len() > suffix.len()
                && h.ends_with(suffix)
                && h.as_bytes()[h.len() - suffix.len() - 1] == b'.')
    };
    if LOOPBACK.iter().any(|s| ends(s)) {
        return Some("loopback");
    }
    // Cluster-internal DNS (never public).
    if h == "kubernetes"
        || [
            "kubernetes.default",
            "svc",
            "svc.cluster.local",
            "cluster.local",
        ]
        .iter()
        .any(|s| ends(s))
    {
        return Some("private_network");
    }
    // Wildcard DNS services that resolve a name to the address written in it.
    for suffix in [
        ".nip.io",
        ".sslip.io",
        ".xip.io",
        ".nip.direct",
        ".traefik.me",
    ] {
        if let Some(prefix) = h.strip_suffix(suffix) {
            return embedded_ip(prefix).and_then(classify_v4);
        }
    }
    None
}

/// The IPv4 address embedded in a wildcard-DNS name prefix (`10.0.0.1`, `app.10.0.0.1`,
/// `10-0-0-1`, `app-10-0-0-1`, `0a000001`).
fn embedded_ip(prefix: &str) -> Option<[u8; 4]> {
    let labels: Vec<&str> = prefix.split('.').collect();
    if labels.len() >= 4 {
        let tail = labels[labels.len() - 4..].join(".");
        if let Some((a, _)) = parse_inet_aton(&tail) {
            return Some(a);
        }
    }
    let last = labels.last()?;
    let dashed: Vec<&str> = last.split('-').collect();
    if dashed.len() >= 4 {
        let tail = dashed[dashed.len() - 4..].join(".");
        if let Some((a, _)) = parse_inet_aton(&tail) {
            return Some(a);
        }
    }
    let hex = last.rsplit('-').next()?;
    if hex.len() == 8 && hex.bytes().all(|x| x.is_ascii_hexdigit()) {
        let v = u32::from_str_radix(hex, 16).ok()?;
        return Some(v.to_be_bytes());
    }
    None
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
    fn inet_aton_forms() {
        assert_eq!(parse_inet_aton("2130706433"), Some(([127, 0, 0, 1], false)));
        assert_eq!(parse_inet_aton("0x7f000001"), Some(([127, 0, 0, 1], false)));
        assert_eq!(
            parse_inet_aton("017700000001"),
            Some(([127, 0, 0, 1], false))
        );
        assert_eq!(parse_inet_aton("127.1"), Some(([127, 0, 0, 1], false)));
        assert_eq!(parse_inet_aton("0177.0.0.1"), Some(([127, 0, 0, 1], false)));
        assert_eq!(parse_inet_aton("10.0.0.1"), Some(([10, 0, 0, 1], true)));
        assert_eq!(parse_inet_aton("256.0.0.1"), None);
        assert_eq!(parse_inet_aton("example.com"), None);
        assert_eq!(parse_inet_aton("1.2.3.4.5"), None);
        assert_eq!(parse_inet_aton("99999999999"), None);
    }

    #[test]
    fn internal_targets() {
        for (t, k) in [
            (
                "fetch http://169.254.169.254/latest/meta-data/iam/",
                "metadata_endpoint",
            ),
            (
                "http://metadata.google.internal/computeMetadata/v1/",
                "metadata_endpoint",
            ),
            (
                "http://100.100.100.200/latest/meta-data",
                "metadata_endpoint",
            ),
            ("http://[fd00:ec2::254]/latest", "metadata_endpoint"),
            ("http://localhost:8080/admin", "loopback"),
            ("https://127.0.0.1/", "loopback"),
            ("http://[::1]:6379/", "loopback"),
            ("http://0.0.0.0:9200/", "loopback"),
            ("http://2130706433/", "loopback"),
            ("http://0x7f000001/", "loopback"),
            ("http://017700000001/", "loopback"),
            ("http://trusted.example.com@127.0.0.1/x", "loopback"),
            ("http://169.254.1.1/", "link_local"),
            ("http://10.0.0.5:8500/v1/kv", "private_network"),
            ("http://[::ffff:169.254.169.254]/", "metadata_endpoint"),
            ("http://127.0.0.1.nip.io/", "loopback"),
            ("http://%31%32%37.0.0.1/", "loopback"),
            ("http://①②⑦.⓪.⓪.①/", "loopback"),
            ("file:///etc/passwd", "file_url"),
            ("FILE:/c:/windows/win.ini", "file_url"),
            ("gopher://10.0.0.1:6379/_SET", "dangerous_scheme"),
            ("dict://example.org:11211/stat", "dangerous_scheme"),
            ("http://0x5db8d822/", "obfuscated_ip"),
        ] {
            assert_eq!(kinds(t), vec![k], "{t}");
        }
    }

    #[test]
    fn long_non_ascii_authority() {
        let t = format!("http://{}", "日".repeat(300));
        let _ = kinds(&t);
        let t = format!("see http://{}/x", "é".repeat(700));
        let _ = kinds(&t);
    }

    #[test]
    fn public_urls() {
        for t in [
            "https://docs.rs/regex/latest/regex/",
            "see https://github.com/rust-lang/rust/issues/1234",
            "http://93.184.216.34/",
            "mailto:ops@acme.io",
            "localhost is fine as a word",
            "time 10:30:00",
            "ssh://git@github.com/org/repo.git",
            "C:\\Users\\me\\file.txt",
            "profile: https://en.wikipedia.org/wiki/Special:Random",
        ] {
            assert!(kinds(t).is_empty(), "{t}: {:?}", kinds(t));
        }
    }
}
