//! Recognisers of secrets by their shape: a known token prefix and body, private key blocks,
//! PuTTY keys, JWTs, credentials in URLs, `Bearer`/`Basic` headers, MySQL passwords on a
//! command line, Telegram bot tokens, Slack webhooks. Each takes the text's bytes and a
//! position and returns the kind and span found there.

use super::*;

/// A token body after an exact-case prefix.
pub(super) fn prefix_token(
    b: &[u8],
    s: usize,
    p: &'static str,
) -> Option<(&'static str, usize, usize)> {
    let pe = s + p.len();
    if b.get(s..pe)? != p.as_bytes() {
        return None;
    }
    let before_ok = match p {
        "AccountKey=" | "SharedAccessKey=" => true,
        p if p.starts_with("sk-") => {
            s == 0 || !(b[s - 1].is_ascii_alphanumeric() || b[s - 1] == b'-')
        }
        _ => boundary_before(b, s),
    };
    if !before_ok {
        return None;
    }
    let is_hex = |x: u8| x.is_ascii_hexdigit();
    let (kind, e) = match p {
        "AKIA" | "ASIA" | "ABIA" | "ACCA" => {
            let e = take_while(b, pe, 17, |x| x.is_ascii_uppercase() || x.is_ascii_digit());
            if e - pe != 16 || !boundary_after(b, e) || b[s..e].windows(7).any(|w| w == b"EXAMPLE")
            {
                return None;
            }
            ("aws_access_key", e)
        }
        "ghp_" | "gho_" | "ghu_" | "ghs_" | "ghr_" => {
            let e = take_while(b, pe, 255, alnum);
            if e - pe < 30 {
                return None;
            }
            ("github_token", e)
        }
        "github_pat_" => {
            let e = take_while(b, pe, 255, |x| alnum(x) || x == b'_');
            if e - pe < 40 {
                return None;
            }
            ("github_token", e)
        }
        "glpat-" => {
            let e = take_while(b, pe, 255, b64url);
            if e - pe < 20 {
                return None;
            }
            ("gitlab_token", e)
        }
        "xoxb-" | "xoxa-" | "xoxp-" | "xoxr-" | "xoxs-" | "xoxe-" | "xapp-" => {
            let e = take_while(b, pe, 255, |x| alnum(x) || x == b'-');
            if e - pe < 10 || !b[pe..e].iter().any(u8::is_ascii_digit) {
                return None;
            }
            ("slack_token", e)
        }
        "sk_live_" | "rk_live_" => {
            let e = take_while(b, pe, 255, alnum);
            if e - pe < 16 {
                return None;
            }
            ("stripe_key", e)
        }
        "whsec_" => {
            let e = take_while(b, pe, 255, |x| {
                alnum(x) || x == b'+' || x == b'/' || x == b'='
            });
            if e - pe < 24 {
                return None;
            }
            ("stripe_key", e)
        }
        "AIza" => {
            let e = take_while(b, pe, 40, b64url);
            if e - pe != 35 || !boundary_after(b, e) {
                return None;
            }
            ("google_api_key", e)
        }
        "ya29." => {
            let e = take_while(b, pe, 2048, |x| b64url(x) || x == b'.');
            if e - pe < 20 {
                return None;
            }
            ("google_oauth_token", e)
        }
        "sk-ant-" => {
            let e = take_while(b, pe, 255, b64url);
            if e - pe < 32 {
                return None;
            }
            ("anthropic_api_key", e)
        }
        "sk-proj-" | "sk-svcacct-" | "sk-admin-" => {
            let e = take_while(b, pe, 255, b64url);
            if e - pe < 20 {
                return None;
            }
            ("openai_api_key", e)
        }
        "sk-" => {
            let e = take_while(b, pe, 255, alnum);
            let body = &b[pe..e];
            let (_, _, d, _) = classes(body);
            if body.len() < 32 || !d || text::shannon_entropy(body) < 3.5 {
                return None;
            }
            ("openai_api_key", e)
        }
        "npm_" => {
            let e = take_while(b, pe, 255, alnum);
            if e - pe != 36 {
                return None;
            }
            ("npm_token", e)
        }
        "pypi-AgE" => {
            let e = take_while(b, pe, 1024, b64url);
            if e - pe < 50 {
                return None;
            }
            ("pypi_token", e)
        }
        "hf_" => {
            let e = take_while(b, pe, 255, alnum);
            let (l, u, _, _) = classes(&b[pe..e]);
            if e - pe < 30 || !(l && u) {
                return None;
            }
            ("huggingface_token", e)
        }
        "SG." => {
            let e1 = take_while(b, pe, 64, b64url);
            if e1 - pe != 22 || b.get(e1) != Some(&b'.') {
                return None;
            }
            let e = take_while(b, e1 + 1, 64, b64url);
            if e - e1 - 1 != 43 {
                return None;
            }
            ("sendgrid_key", e)
        }
        "dop_v1_" => {
            let e = take_while(b, pe, 64, is_hex);
            if e - pe != 64 {
                return None;
            }
            ("digitalocean_token", e)
        }
        "shpat_" | "shpss_" | "shpca_" | "shppa_" => {
            let e = take_while(b, pe, 40, is_hex);
            if e - pe != 32 {
                return None;
            }
            ("shopify_token", e)
        }
        "dapi" => {
            let e = take_while(b, pe, 40, is_hex);
            if e - pe != 32 || !boundary_after(b, e) {
                return None;
            }
            ("databricks_token", e)
        }
        "AGE-SECRET-KEY-1" => {
            let e = take_while(b, pe, 80, |x| x.is_ascii_uppercase() || x.is_ascii_digit());
            if e - pe < 50 {
                return None;
            }
            ("age_secret_key", e)
        }
        "hvs." => {
            let e = take_while(b, pe, 255, b64url);
            if e - pe < 24 {
                return None;
            }
            ("vault_token", e)
        }
        "PMAK-" => {
            let e = take_while(b, pe, 80, |x| is_hex(x) || x == b'-');
            if e - pe < 50 {
                return None;
            }
            ("postman_key", e)
        }
        "glsa_" => {
            let e = take_while(b, pe, 80, |x| alnum(x) || x == b'_');
            if e - pe < 32 {
                return None;
            }
            ("grafana_token", e)
        }
        "lin_api_" => {
            let e = take_while(b, pe, 80, alnum);
            if e - pe < 40 {
                return None;
            }
            ("linear_key", e)
        }
        "sq0atp-" | "sq0csp-" => {
            let e = take_while(b, pe, 80, b64url);
            if e - pe < 22 {
                return None;
            }
            ("square_token", e)
        }
        "sntrys_" => {
            let e = take_while(b, pe, 512, |x| b64url(x) || x == b'=');
            if e - pe < 40 {
                return None;
            }
            ("sentry_token", e)
        }
        "key-" => {
            let e = take_while(b, pe, 40, |x| x.is_ascii_lowercase() || x.is_ascii_digit());
            if e - pe != 32 || !boundary_after(b, e) || !b[pe..e].iter().any(u8::is_ascii_digit) {
                return None;
            }
            ("mailgun_key", e)
        }
        "AccountKey=" | "SharedAccessKey=" => {
            let e = take_while(b, pe, 128, |x| {
                alnum(x) || x == b'+' || x == b'/' || x == b'='
            });
            if e - pe < 40 || text::shannon_entropy(&b[pe..e]) < 4.0 {
                return None;
            }
            return Some(("azure_storage_key", pe, e));
        }
        _ => return None,
    };
    Some((kind, s, e))
}

pub(super) fn private_key(text: &str, s: usize) -> Option<(&'static str, usize, usize)> {
    let b = text.as_bytes();
    let he = take_while(b, s + 11, 64, |x| {
        x.is_ascii_uppercase() || x.is_ascii_digit() || x == b' '
    });
    let label = &b[s + 11..he];
    let rest = &b[he..];
    if !(label.ends_with(b"PRIVATE KEY") || label.ends_with(b"PRIVATE KEY BLOCK"))
        || !rest.starts_with(b"-----")
    {
        return None;
    }
    let body_start = he + 5;
    let window_end = (body_start + 16 * 1024).min(b.len());
    let window = &b[body_start..window_end];
    let (body, end) = match memchr::memmem::find(window, b"-----END") {
        Some(off) => {
            let end_marker = body_start + off;
            let close = memchr::memmem::find(&b[end_marker + 8..window_end], b"-----")
                .map_or(end_marker + 8, |o| end_marker + 8 + o + 5);
            (&b[body_start..end_marker], close)
        }
        None => (window, window_end),
    };
    let b64 = body
        .iter()
        .filter(|&&x| x.is_ascii_alphanumeric() || x == b'+' || x == b'/' || x == b'=')
        .count();
    if b64 < 64 {
        return None;
    }
    Some(("private_key", s, text::ceil_boundary(text, end)))
}

pub(super) fn putty(b: &[u8], s: usize) -> Option<(&'static str, usize, usize)> {
    let window = &b[s..(s + 8192).min(b.len())];
    let off = memchr::memmem::find(window, b"Private-Lines:")?;
    Some(("private_key", s, s + off + 14))
}

pub(super) fn jwt(b: &[u8], s: usize) -> Option<(&'static str, usize, usize)> {
    if (s > 0 && b64url(b[s - 1])) || b.get(s..s + 3)? != b"eyJ" {
        return None;
    }
    let e1 = take_while(b, s, 4096, b64url);
    if e1 - s < 10 || b.get(e1) != Some(&b'.') {
        return None;
    }
    let e2 = take_while(b, e1 + 1, 8192, b64url);
    if e2 - e1 - 1 < 10 || b.get(e2) != Some(&b'.') {
        return None;
    }
    let e3 = take_while(b, e2 + 1, 4096, b64url);
    let sig = &b[e2 + 1..e3];
    if sig == b"SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c" {
        return None;
    }
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&b[s..e1])
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&header).ok()?;
    v.as_object()?.get("alg")?;
    Some(("jwt", s, e3))
}

pub(super) fn url_creds(b: &[u8], p: usize) -> Option<(&'static str, usize, usize)> {
    // Scheme before `://`.
    let mut ss = p;
    while ss > 0 && (b[ss - 1].is_ascii_alphanumeric() || matches!(b[ss - 1], b'+' | b'.' | b'-')) {
        ss -= 1;
    }
    if ss == p || !b[ss].is_ascii_alphabetic() {
        return None;
    }
    let auth_start = p + 3;
    let auth_end = take_while(b, auth_start, 512, |x| {
        !matches!(
            x,
            b'/' | b'?' | b'#' | b' ' | b'\t' | b'\n' | b'\r' | b'"' | b'\'' | b'<' | b'>' | b'`'
        )
    });
    let auth = &b[auth_start..auth_end];
    let at = auth.iter().rposition(|&x| x == b'@')?;
    let userinfo = &auth[..at];
    let colon = userinfo.iter().position(|&x| x == b':')?;
    let pass = &userinfo[colon + 1..];
    let short_word = pass.len() < 8 && pass.iter().all(u8::is_ascii_lowercase);
    if pass.len() < 3 || placeholder(pass) || short_word {
        return None;
    }
    let ps = auth_start + colon + 1;
    Some(("url_credentials", ps, ps + pass.len()))
}

pub(super) fn bearer(b: &[u8], s: usize, e: usize) -> Option<(&'static str, usize, usize)> {
    if !boundary_before(b, s) {
        return None;
    }
    let ve = take_while(b, e, 4096, |x| {
        b64url(x) || matches!(x, b'.' | b'~' | b'+' | b'/' | b'=')
    });
    let v = &b[e..ve];
    let (_, _, d, _) = classes(v);
    if v.len() < 20 || !d || placeholder(v) || text::shannon_entropy(v) < 3.5 {
        return None;
    }
    Some(("bearer_token", e, ve))
}

pub(super) fn basic(b: &[u8], s: usize, e: usize) -> Option<(&'static str, usize, usize)> {
    if !boundary_before(b, s) {
        return None;
    }
    let ve = take_while(b, e, 1024, |x| alnum(x) || matches!(x, b'+' | b'/' | b'='));
    let v = &b[e..ve];
    if v.len() < 8 || !boundary_after(b, ve) {
        return None;
    }
    let dec = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
    let colon = dec.iter().position(|&x| x == b':')?;
    if colon == 0 || dec.len() - colon < 4 || dec.iter().any(|&x| !(0x20..0x7f).contains(&x)) {
        return None;
    }
    Some(("basic_auth", e, ve))
}

pub(super) fn mysql_pass(b: &[u8], from: usize) -> Option<(&'static str, usize, usize)> {
    let line_end = b[from..]
        .iter()
        .position(|&x| x == b'\n')
        .map_or(b.len(), |p| from + p)
        .min(from + 400);
    let line = &b[from..line_end];
    let off = line.windows(3).position(|w| w == b" -p")?;
    let vs = from + off + 3;
    let ve = take_while(b, vs, 128, |x| {
        !matches!(x, b' ' | b'\t' | b'\n' | b'\'' | b'"')
    });
    let v = &b[vs..ve];
    if v.first().is_none_or(|&x| x == b'-') {
        return None;
    }
    credential_value(v, NameClass::Password).map(|k| (k, vs, ve))
}

pub(super) fn telegram(b: &[u8], colon: usize) -> Option<(&'static str, usize, usize)> {
    if b.get(colon..colon + 3)? != b":AA" {
        return None;
    }
    let mut s = colon;
    while s > 0 && b[s - 1].is_ascii_digit() && colon - s < 11 {
        s -= 1;
    }
    if !(8..=10).contains(&(colon - s)) || !boundary_before(b, s) {
        return None;
    }
    let e = take_while(b, colon + 1, 40, b64url);
    (e - colon - 1 == 35 && boundary_after(b, e)).then_some(("telegram_bot_token", s, e))
}

pub(super) fn slack_hook(b: &[u8], _s: usize, e: usize) -> Option<(&'static str, usize, usize)> {
    let ve = take_while(b, e, 128, |x| alnum(x) || x == b'/');
    let parts = b[e..ve]
        .split(|&x| x == b'/')
        .filter(|p| !p.is_empty())
        .count();
    (parts >= 3 && ve - e >= 30).then_some(("slack_webhook", e, ve))
}
