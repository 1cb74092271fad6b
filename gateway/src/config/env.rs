//! Cache connection settings from the environment, over the config file's.
//!
//! Container platforms hand a service its cache address as environment variables (the
//! deployment documents' `--set-env-vars "ENKRYPT_CACHE_HOST=REDIS_IP"`), and several gateway
//! instances that share one config volume can then point at the cache without editing the
//! file. A variable that is set wins over the file's value; `start` applies them to each
//! config it loads, including reloads. A value that does not parse stops `start` with the
//! variable's name; the password is never logged.

use super::model::{parse_host_port, CommonConfig, SentinelSettings, DEFAULT_SENTINEL_MASTER};
use super::secret::Secret;

/// `enkrypt_cache_url` (`redis://` or `rediss://`); applied before the single variables.
pub const CACHE_URL: &str = "ENKRYPT_CACHE_URL";
/// `enkrypt_cache_tls`.
pub const CACHE_TLS: &str = "ENKRYPT_CACHE_TLS";
/// `enkrypt_cache_tls_ca_file`.
pub const CACHE_TLS_CA_FILE: &str = "ENKRYPT_CACHE_TLS_CA_FILE";
/// `enkrypt_mcp_use_external_cache`.
pub const USE_EXTERNAL_CACHE: &str = "ENKRYPT_USE_EXTERNAL_CACHE";
/// `enkrypt_cache_host`.
pub const CACHE_HOST: &str = "ENKRYPT_CACHE_HOST";
/// `enkrypt_cache_port`.
pub const CACHE_PORT: &str = "ENKRYPT_CACHE_PORT";
/// `enkrypt_cache_db`.
pub const CACHE_DB: &str = "ENKRYPT_CACHE_DB";
/// `enkrypt_cache_password`.
pub const CACHE_PASSWORD: &str = "ENKRYPT_CACHE_PASSWORD";
/// `enkrypt_cache_sentinels`, comma-separated `host:port` (empty: no sentinels).
pub const CACHE_SENTINELS: &str = "ENKRYPT_CACHE_SENTINELS";
/// `enkrypt_cache_sentinel_master`.
pub const CACHE_SENTINEL_MASTER: &str = "ENKRYPT_CACHE_SENTINEL_MASTER";
/// `enkrypt_cache_sentinel_password`.
pub const CACHE_SENTINEL_PASSWORD: &str = "ENKRYPT_CACHE_SENTINEL_PASSWORD";

/// Applies the variables `get` returns (see the module docs) to `common`; returns the names
/// of those applied, or the first one that does not parse.
pub fn apply_cache_overrides(
    common: &mut CommonConfig,
    get: impl Fn(&str) -> Option<String>,
) -> Result<Vec<&'static str>, String> {
    let mut applied = Vec::new();
    if let Some(v) = get(CACHE_URL) {
        super::cache_url::parse(&v)
            .map_err(|e| format!("{CACHE_URL}: {e}"))?
            .apply(common);
        applied.push(CACHE_URL);
    }
    if let Some(v) = get(CACHE_TLS) {
        common.cache_tls =
            parse_bool(&v).ok_or_else(|| format!("{CACHE_TLS} must be true or false"))?;
        applied.push(CACHE_TLS);
    }
    if let Some(v) = get(CACHE_TLS_CA_FILE) {
        common.cache_tls_ca_file =
            (!v.trim().is_empty()).then(|| std::path::PathBuf::from(v.trim()));
        applied.push(CACHE_TLS_CA_FILE);
    }
    if let Some(v) = get(USE_EXTERNAL_CACHE) {
        common.use_external_cache =
            parse_bool(&v).ok_or_else(|| format!("{USE_EXTERNAL_CACHE} must be true or false"))?;
        applied.push(USE_EXTERNAL_CACHE);
    }
    if let Some(v) = get(CACHE_HOST) {
        let v = v.trim();
        if v.is_empty() {
            return Err(format!("{CACHE_HOST} is empty"));
        }
        common.cache_host = v.to_string();
        applied.push(CACHE_HOST);
    }
    if let Some(v) = get(CACHE_PORT) {
        common.cache_port = v
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{CACHE_PORT} must be a port number (1-65535)"))?;
        applied.push(CACHE_PORT);
    }
    if let Some(v) = get(CACHE_DB) {
        common.cache_db = v
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|d| *d <= 15)
            .ok_or_else(|| format!("{CACHE_DB} must be a database number (0-15)"))?;
        applied.push(CACHE_DB);
    }
    if let Some(v) = get(CACHE_PASSWORD) {
        common.cache_password = (!v.is_empty()).then(|| Secret::new(v));
        applied.push(CACHE_PASSWORD);
    }
    if let Some(v) = get(CACHE_SENTINELS) {
        let mut addrs = Vec::new();
        for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            addrs.push(parse_host_port(part).ok_or_else(|| {
                format!("{CACHE_SENTINELS} must be comma-separated host:port, got {part:?}")
            })?);
        }
        common.cache_sentinel = (!addrs.is_empty()).then(|| SentinelSettings {
            addrs,
            master: DEFAULT_SENTINEL_MASTER.to_string(),
            password: None,
        });
        applied.push(CACHE_SENTINELS);
    }
    if let Some(v) = get(CACHE_SENTINEL_MASTER) {
        let v = v.trim();
        if v.is_empty() {
            return Err(format!("{CACHE_SENTINEL_MASTER} is empty"));
        }
        if let Some(s) = common.cache_sentinel.as_mut() {
            s.master = v.to_string();
        }
        applied.push(CACHE_SENTINEL_MASTER);
    }
    if let Some(v) = get(CACHE_SENTINEL_PASSWORD) {
        if let Some(s) = common.cache_sentinel.as_mut() {
            s.password = (!v.is_empty()).then(|| Secret::new(v));
        }
        applied.push(CACHE_SENTINEL_PASSWORD);
    }
    Ok(applied)
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Some(true),
        "0" | "false" | "no" => Some(false),
        _ => None,
    }
}

/// [`apply_cache_overrides`] from this process's environment.
pub fn apply_cache_env(common: &mut CommonConfig) -> Result<Vec<&'static str>, String> {
    apply_cache_overrides(common, |k| std::env::var(k).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn common() -> CommonConfig {
        crate::config::generate(&Default::default())
            .expect("generate")
            .config
            .common
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn variables_win_over_the_file() {
        let mut c = common();
        assert!(!c.use_external_cache);
        let applied = apply_cache_overrides(
            &mut c,
            env(&[
                (USE_EXTERNAL_CACHE, "true"),
                (CACHE_HOST, "cache.internal"),
                (CACHE_PORT, "6390"),
                (CACHE_DB, "3"),
                (CACHE_PASSWORD, "s3cret"),
            ]),
        )
        .expect("valid");
        assert_eq!(applied.len(), 5);
        assert!(c.use_external_cache);
        assert_eq!(c.cache_host, "cache.internal");
        assert_eq!(c.cache_port, 6390);
        assert_eq!(c.cache_db, 3);
        assert_eq!(
            c.cache_password.as_ref().map(|s| s.expose()),
            Some("s3cret")
        );
    }

    #[test]
    fn sentinels_from_the_environment() {
        let mut c = common();
        apply_cache_overrides(
            &mut c,
            env(&[
                (CACHE_SENTINELS, "s1:26379, s2:26380,[::1]:26381"),
                (CACHE_SENTINEL_MASTER, "cache"),
                (CACHE_SENTINEL_PASSWORD, "spw"),
            ]),
        )
        .expect("valid");
        let s = c.cache_sentinel.expect("sentinels set");
        assert_eq!(
            s.addrs,
            vec![
                ("s1".to_string(), 26379),
                ("s2".to_string(), 26380),
                ("::1".to_string(), 26381)
            ]
        );
        assert_eq!(s.master, "cache");
        assert_eq!(s.password.as_ref().map(|p| p.expose()), Some("spw"));
        let e = apply_cache_overrides(&mut common(), env(&[(CACHE_SENTINELS, "s1")]))
            .expect_err("no port");
        assert!(e.starts_with(CACHE_SENTINELS), "{e}");
    }

    #[test]
    fn a_url_then_single_variables() {
        let mut c = common();
        apply_cache_overrides(
            &mut c,
            env(&[
                (CACHE_URL, "rediss://:pw@cache.example.com:6380/1"),
                (CACHE_PORT, "6390"),
                (CACHE_TLS_CA_FILE, "/etc/ca.pem"),
            ]),
        )
        .expect("valid");
        assert!(c.cache_tls);
        assert_eq!(
            (c.cache_host.as_str(), c.cache_port, c.cache_db),
            ("cache.example.com", 6390, 1)
        );
        assert_eq!(c.cache_password.as_ref().map(|p| p.expose()), Some("pw"));
        assert_eq!(
            c.cache_tls_ca_file.as_deref(),
            Some(std::path::Path::new("/etc/ca.pem"))
        );
        let e = apply_cache_overrides(&mut common(), env(&[(CACHE_URL, "http://x")]))
            .expect_err("scheme");
        assert!(e.starts_with(CACHE_URL), "{e}");
    }

    #[test]
    fn unset_variables_leave_the_file_alone() {
        let mut c = common();
        let before = c.clone();
        assert!(apply_cache_overrides(&mut c, env(&[]))
            .expect("ok")
            .is_empty());
        assert_eq!(c, before);
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (k, v) in [
            (CACHE_PORT, "0"),
            (CACHE_PORT, "70000"),
            (CACHE_DB, "16"),
            (USE_EXTERNAL_CACHE, "maybe"),
            (CACHE_HOST, " "),
        ] {
            let mut c = common();
            let e = apply_cache_overrides(&mut c, env(&[(k, v)])).expect_err(v);
            assert!(e.starts_with(k), "{e}");
        }
    }
}
