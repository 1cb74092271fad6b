//! The external cache's connection beyond host and port: Redis Sentinel
//! (`enkrypt_cache_sentinels`, an array of `"host:port"`, `enkrypt_cache_sentinel_master`,
//! `enkrypt_cache_sentinel_password`), TLS (`enkrypt_cache_tls`, `enkrypt_cache_tls_ca_file`),
//! `enkrypt_cache_username`, and `enkrypt_cache_url` (`rediss://...`, which wins over the
//! separate keys).

use serde_json::{Map, Value};

use super::COMMON;
use super::{describe, given, join, Validator};
use crate::config::model::{
    parse_host_port, CommonConfig, SentinelSettings, DEFAULT_SENTINEL_MASTER,
};
use crate::config::secret::Secret;

impl Validator {
    /// Username, TLS and URL, read from the section (or the top level, as the other keys).
    pub(super) fn cache_connection(
        &mut self,
        common: &mut CommonConfig,
        section: &Map<String, Value>,
        root: &Map<String, Value>,
    ) {
        let pick = |key: &str| -> (&Map<String, Value>, &'static str) {
            if given(section, key).is_some() {
                (section, COMMON)
            } else {
                (root, "")
            }
        };
        let (o, p) = pick("enkrypt_cache_username");
        common.cache_username = self
            .opt_string(o, p, "enkrypt_cache_username")
            .filter(|u| !u.is_empty() && u != "default");
        let (o, p) = pick("enkrypt_cache_tls");
        common.cache_tls = self.bool_field(o, p, "enkrypt_cache_tls", false);
        let (o, p) = pick("enkrypt_cache_tls_ca_file");
        common.cache_tls_ca_file = self
            .opt_string(o, p, "enkrypt_cache_tls_ca_file")
            .filter(|f| !f.trim().is_empty())
            .map(std::path::PathBuf::from);
        let (o, p) = pick("enkrypt_cache_url");
        if let Some(url) = self.opt_string(o, p, "enkrypt_cache_url") {
            match crate::config::cache_url::parse(&url) {
                Ok(u) => u.apply(common),
                Err(e) => self.err(join(p, "enkrypt_cache_url"), e),
            }
        }
    }

    pub(super) fn sentinel(
        &mut self,
        obj: &Map<String, Value>,
        parent: &str,
        master: Option<String>,
        password: Option<Secret>,
    ) -> Option<SentinelSettings> {
        let key = "enkrypt_cache_sentinels";
        let path = join(parent, key);
        let items = match given(obj, key)? {
            Value::Array(items) => items,
            other => {
                self.err(
                    path,
                    format!(
                        "expected an array of \"host:port\" strings, got {}",
                        describe(other)
                    ),
                );
                return None;
            }
        };
        let mut addrs = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item.as_str().and_then(parse_host_port) {
                Some(a) => addrs.push(a),
                None => self.err(
                    format!("{path}[{i}]"),
                    format!("expected \"host:port\", got {}", describe(item)),
                ),
            }
        }
        if addrs.is_empty() {
            return None;
        }
        let master = match master {
            Some(m) if m.trim().is_empty() => {
                self.err(
                    join(parent, "enkrypt_cache_sentinel_master"),
                    "must not be empty",
                );
                DEFAULT_SENTINEL_MASTER.to_string()
            }
            Some(m) => m,
            None => DEFAULT_SENTINEL_MASTER.to_string(),
        };
        Some(SentinelSettings {
            addrs,
            master,
            password,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::config::error::ParseError;
    use crate::config::model::CommonConfig;

    fn with_common(extra: serde_json::Value) -> Result<CommonConfig, ParseError> {
        let mut doc = crate::config::generate(&Default::default())
            .expect("generate")
            .document;
        let common = doc
            .root_mut()
            .get_mut("common_mcp_gateway_config")
            .and_then(|v| v.as_object_mut())
            .expect("common section");
        for (k, v) in extra.as_object().expect("object") {
            common.insert(k.clone(), v.clone());
        }
        crate::config::parse(&doc.to_json_pretty()).map(|l| l.config.common)
    }

    #[test]
    fn sentinels_with_defaults() {
        let c = with_common(json!({"enkrypt_cache_sentinels": ["s1:26379", "10.0.0.2:26380"]}))
            .expect("valid");
        let s = c.cache_sentinel.expect("set");
        assert_eq!(s.addrs[1], ("10.0.0.2".to_string(), 26380));
        assert_eq!(s.master, "mymaster");
        assert!(s.password.is_none());
        let c = with_common(json!({
            "enkrypt_cache_sentinels": ["s1:26379"],
            "enkrypt_cache_sentinel_master": "cache",
            "enkrypt_cache_sentinel_password": "pw"
        }))
        .expect("valid");
        let s = c.cache_sentinel.expect("set");
        assert_eq!(
            (s.master.as_str(), s.password.as_ref().map(|p| p.expose())),
            ("cache", Some("pw"))
        );
        let c = with_common(json!({"enkrypt_cache_sentinels": []})).expect("valid");
        assert!(
            c.cache_sentinel.is_none(),
            "an empty list means no sentinels"
        );
    }

    #[test]
    fn bad_sentinel_entries_are_named_by_path() {
        let Err(ParseError::Invalid(e)) =
            with_common(json!({"enkrypt_cache_sentinels": ["s1:26379", "nope", 5]}))
        else {
            panic!("expected validation errors");
        };
        assert!(
            e.has_path("common_mcp_gateway_config.enkrypt_cache_sentinels[1]"),
            "{e}"
        );
        assert!(
            e.has_path("common_mcp_gateway_config.enkrypt_cache_sentinels[2]"),
            "{e}"
        );
        let Err(ParseError::Invalid(e)) =
            with_common(json!({"enkrypt_cache_sentinels": "s1:26379"}))
        else {
            panic!("expected validation errors");
        };
        assert!(
            e.has_path("common_mcp_gateway_config.enkrypt_cache_sentinels"),
            "{e}"
        );
    }
}
