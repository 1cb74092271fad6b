//! Masking of secrets in what the gateway shows about its config (the meta tools' server
//! entries, error texts, cache status): a secret is replaced whole by [`MASK`], never shown in
//! part.
//!
//! What counts as secret:
//! - the value of an `env` variable, header or query parameter whose name looks secret
//!   ([`secret_name`]: `KEY`, `TOKEN`, `SECRET`, `PASSWORD`, `AUTH`, `CREDENTIAL`, `SIG`, ...);
//! - the user information of a URL (`https://user:pass@host` -> `https://****@host`);
//! - in a command's arguments, the value of a secret-looking flag (`--token=x`, `--api-key x`)
//!   or `NAME=value` pair.
//!
//! Names are compared without case and without `-`/`_`, so `X-Api-Key`, `api_key` and
//! `APIKEY` are one name. Over-masking a harmless value is preferred to showing a secret.

/// What a masked value shows.
pub const MASK: &str = "****";

/// Parts of names that mark a secret value.
const SECRET_PARTS: &[&str] = &[
    "key",
    "token",
    "secret",
    "pass",
    "pwd",
    "auth",
    "credential",
    "cred",
    "cookie",
    "session",
    "sig",
    "private",
    "bearer",
    "jwt",
    "dsn",
];

/// True when a variable, header, parameter or flag name looks like it holds a secret.
pub fn secret_name(name: &str) -> bool {
    let n: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    SECRET_PARTS.iter().any(|p| n.contains(p))
}

/// The value of `name` as it may be shown: [`MASK`] when the name looks secret, else the
/// value with any URL credentials in it masked.
pub fn value(name: &str, value: &str) -> String {
    if secret_name(name) {
        MASK.to_string()
    } else {
        text(value)
    }
}

/// A URL with its user information and secret-looking query (and fragment) parameters masked.
pub fn url(u: &str) -> String {
    let Some(scheme_end) = u.find("://") else {
        return u.to_string();
    };
    let rest_start = scheme_end + 3;
    let rest = &u[rest_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let mut out = String::with_capacity(u.len());
    out.push_str(&u[..rest_start]);
    match authority.rfind('@') {
        Some(at) => {
            out.push_str(MASK);
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let tail = &rest[authority_len..];
    let (before_fragment, fragment) = match tail.find('#') {
        Some(i) => (&tail[..i], Some(&tail[i + 1..])),
        None => (tail, None),
    };
    match before_fragment.find('?') {
        Some(i) => {
            out.push_str(&before_fragment[..=i]);
            out.push_str(&params(&before_fragment[i + 1..]));
        }
        None => out.push_str(before_fragment),
    }
    if let Some(f) = fragment {
        out.push('#');
        if f.contains('=') {
            out.push_str(&params(f));
        } else {
            out.push_str(f);
        }
    }
    out
}

/// `a=1&token=x` -> `a=1&token=****`.
fn params(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if secret_name(&percent_decoded(k)) => format!("{k}={MASK}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A query parameter name with `%XX` escapes and `+` decoded (for the name check only).
fn percent_decoded(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    // Two hex digits make one byte.
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Free text (an error message, a log field) with every URL in it masked by [`url`].
pub fn text(s: &str) -> String {
    if !s.contains("://") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut done = 0;
    let mut search = 0;
    while let Some(found) = s[search..].find("://") {
        let sep = search + found;
        let start = s[..sep]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            .last()
            .map_or(sep, |(i, _)| i);
        let end = s[sep..]
            .char_indices()
            .find(|(_, c)| c.is_whitespace() || "\"'<>()[]{}`,;|\\".contains(*c))
            .map_or(s.len(), |(i, _)| sep + i);
        if start < done {
            search = sep + 3;
            continue;
        }
        out.push_str(&s[done..start]);
        out.push_str(&url(&s[start..end]));
        done = end;
        search = end.max(sep + 3);
    }
    out.push_str(&s[done..]);
    out
}

/// A command's arguments with secret flag values and `NAME=value` secrets masked, and URL
/// credentials in any argument.
pub fn args(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut hide_next = false;
    for a in args {
        if hide_next {
            hide_next = false;
            if !a.starts_with('-') {
                out.push(MASK.to_string());
                continue;
            }
        }
        match a.split_once('=') {
            Some((name, _)) if !name.contains("://") && secret_name(name) => {
                out.push(format!("{name}={MASK}"));
            }
            Some(_) => out.push(text(a)),
            None if a.starts_with('-') && secret_name(a) => {
                hide_next = true;
                out.push(a.clone());
            }
            None => out.push(text(a)),
        }
    }
    out
}

/// Every string in a JSON value passed through [`text`] (for status reports that may carry
/// an address with credentials in an error).
pub fn json_text(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if s.contains("://") => *s = text(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(json_text),
        serde_json::Value::Object(o) => o.values_mut().for_each(json_text),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        for n in [
            "API_TOKEN",
            "GITHUB_PERSONAL_ACCESS_TOKEN",
            "X-Api-Key",
            "apikey",
            "Authorization",
            "DB_PASSWORD",
            "passwd",
            "AWS_SECRET_ACCESS_KEY",
            "CREDENTIALS_FILE",
            "Cookie",
            "sig",
            "X-Amz-Signature",
            "SENTRY_DSN",
            "private_key",
        ] {
            assert!(secret_name(n), "{n}");
        }
        for n in [
            "DEMO_MODE",
            "X-Trace",
            "region",
            "LOG_DIR",
            "HOME",
            "Accept",
        ] {
            assert!(!secret_name(n), "{n}");
        }
    }

    #[test]
    fn urls_lose_credentials_and_secret_parameters_whole() {
        assert_eq!(
            url("https://user:hunter2@host.example:8443/sse?token=abc&region=eu#frag"),
            "https://****@host.example:8443/sse?token=****&region=eu#frag"
        );
        assert_eq!(url("https://tok@host/"), "https://****@host/");
        assert_eq!(
            url("https://h/p?api_key=a&API-KEY=b&sig=c&x=1&code"),
            "https://h/p?api_key=****&API-KEY=****&sig=****&x=1&code"
        );
        assert_eq!(
            url("https://h/cb#access_token=z&s=1"),
            "https://h/cb#access_token=****&s=1"
        );
        assert_eq!(url("https://h/p?a%5Ftoken=z"), "https://h/p?a%5Ftoken=****");
        // An @ in the path is not user information.
        assert_eq!(url("https://h/users/@me?x=1"), "https://h/users/@me?x=1");
        assert_eq!(
            url("http://127.0.0.1:9/events"),
            "http://127.0.0.1:9/events"
        );
        assert_eq!(url("not a url"), "not a url");
    }

    #[test]
    fn text_masks_every_url_in_it() {
        assert_eq!(
            text("error sending request for url (https://u:p@h/sse?token=t): refused; retry postgres://a:b@db/x."),
            "error sending request for url (https://****@h/sse?token=****): refused; retry postgres://****@db/x."
        );
        assert_eq!(text("no url here: a@b"), "no url here: a@b");
        assert_eq!(text("://odd"), "://odd");
    }

    #[test]
    fn values_by_name() {
        assert_eq!(value("API_TOKEN", "Bearer sk-live-0123456789abcdef"), MASK);
        assert_eq!(
            value("DATABASE_URL", "postgres://app:pw@db/app"),
            "postgres://****@db/app"
        );
        assert_eq!(value("DEMO_MODE", "visible"), "visible");
        // Short values too: nothing of a secret is shown.
        assert_eq!(value("KEY", "ab"), MASK);
    }

    #[test]
    fn arguments() {
        let a: Vec<String> = [
            "-y",
            "--token",
            "t0k3n",
            "--api-key=k3y",
            "--verbose",
            "GITHUB_TOKEN=ghp_x",
            "https://u:p@h/x",
            "--password",
            "--port",
            "8080",
            "plain",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            args(&a),
            [
                "-y",
                "--token",
                "****",
                "--api-key=****",
                "--verbose",
                "GITHUB_TOKEN=****",
                "https://****@h/x",
                "--password",
                "--port",
                "8080",
                "plain"
            ]
        );
    }

    #[test]
    fn json_strings() {
        let mut v = serde_json::json!({"last_error": "connect https://u:p@h failed", "n": 1, "l": ["redis://:pw@h:6379"]});
        json_text(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"last_error": "connect https://****@h failed", "n": 1, "l": ["redis://****@h:6379"]})
        );
    }
}
