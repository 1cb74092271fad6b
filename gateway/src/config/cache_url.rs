//! `redis://` and `rediss://` URLs for the external cache, as managed Redis services hand
//! them out: `rediss://[[user]:password@]host[:port][/db]`. The user and password may be
//! percent-encoded; `rediss` means TLS. [`CacheUrl`] is what one says; [`CacheUrl::apply`]
//! writes it over a config's cache fields.

use super::model::CommonConfig;
use super::secret::Secret;

/// A parsed cache URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheUrl {
    /// `rediss`.
    pub tls: bool,
    /// ACL user (absent, empty or `default`: the default user).
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Host (an IPv6 address without brackets).
    pub host: String,
    /// Port (6379 when absent).
    pub port: u16,
    /// Database (0 when absent).
    pub db: u8,
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses a cache URL; the error says what is wrong (never repeating the password).
pub fn parse(url: &str) -> Result<CacheUrl, String> {
    let url = url.trim();
    let (tls, rest) = if let Some(r) = url.strip_prefix("rediss://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("redis://") {
        (false, r)
    } else {
        return Err("must start with redis:// or rediss://".into());
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(ui) => {
            let (u, p) = match ui.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => ("", Some(ui)),
            };
            let u = percent_decode(u).ok_or("the user is not valid percent-encoding")?;
            let p = match p {
                Some(p) => {
                    Some(percent_decode(p).ok_or("the password is not valid percent-encoding")?)
                }
                None => None,
            };
            let u = (!u.is_empty() && u != "default").then_some(u);
            (u, p.filter(|p| !p.is_empty()))
        }
    };
    let (host, port) = if let Some(r) = hostport.strip_prefix('[') {
        let (h, after) = r.split_once(']').ok_or("unclosed [ in the host")?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err("unexpected text after the host".into()),
        };
        (h.to_string(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    let port = match port {
        None => 6379,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or("the port must be 1-65535")?,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let db = if path.is_empty() {
        0
    } else {
        path.parse::<u8>()
            .ok()
            .filter(|d| *d <= 15)
            .ok_or("the database must be 0-15")?
    };
    Ok(CacheUrl {
        tls,
        username,
        password,
        host,
        port,
        db,
    })
}

impl CacheUrl {
    /// Writes the URL's settings over `common`'s cache fields (the password only when the URL
    /// has one).
    pub fn apply(self, common: &mut CommonConfig) {
        common.cache_host = self.host;
        common.cache_port = self.port;
        common.cache_db = self.db;
        common.cache_tls = self.tls;
        common.cache_username = self.username;
        if let Some(p) = self.password {
            common.cache_password = Some(Secret::new(p));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_service_urls() {
        let u = parse("rediss://default:p%40ss%3Aw0rd@cache.example.com:6380/2").expect("ok");
        assert_eq!(
            u,
            CacheUrl {
                tls: true,
                username: None,
                password: Some("p@ss:w0rd".into()),
                host: "cache.example.com".into(),
                port: 6380,
                db: 2
            }
        );
        let u = parse("redis://localhost").expect("ok");
        assert_eq!((u.tls, u.port, u.db, u.password), (false, 6379, 0, None));
        let u = parse("redis://:secret@[::1]:7000").expect("ok");
        assert_eq!(
            (u.host.as_str(), u.port, u.password.as_deref()),
            ("::1", 7000, Some("secret"))
        );
        let u = parse("rediss://app:pw@10.0.0.5/0").expect("ok");
        assert_eq!(u.username.as_deref(), Some("app"));
    }

    #[test]
    fn bad_urls_say_why_without_the_password() {
        for (url, why) in [
            ("http://x", "redis://"),
            ("redis://:hunter2@", "no host"),
            ("redis://h:0", "port"),
            ("redis://h:99999", "port"),
            ("redis://h/16", "database"),
            ("redis://:hunter2%zz@h", "percent"),
        ] {
            let e = parse(url).expect_err(url);
            assert!(e.contains(why), "{url}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
