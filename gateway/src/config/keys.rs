//! Cache key layout, as the seed's "What Gets Cached?" table gives it.
//!
//! | entry | key |
//! | --- | --- |
//! | tool discovery | `enkrypt:tools:{md5hex(config_id + ":" + server_name)}` |
//! | gateway config | `enkrypt:gateway_config:{md5hex(gateway_key)}` |
//! | API key mapping | `enkrypt:key_to_id:{md5hex(gateway_key)}` |
//!
//! Invariant: a readable namespace followed by the MD5 hex (32 lowercase digits) of the
//! identifying parts, so `SCAN MATCH enkrypt:tools:*` finds every tool entry while no raw
//! identifier or gateway key is ever stored in, or visible through, the cache. MD5 here is a
//! naming scheme shared with the reference gateway, not a security boundary.

use md5::{Digest, Md5};

/// Prefix of tool-discovery entries.
pub const TOOLS_PREFIX: &str = "enkrypt:tools:";
/// Prefix of gateway-config entries.
pub const GATEWAY_CONFIG_PREFIX: &str = "enkrypt:gateway_config:";
/// Prefix of API-key-to-id entries.
pub const KEY_TO_ID_PREFIX: &str = "enkrypt:key_to_id:";

/// Prefix of tool pins (the hash of each tool definition at first sight).
pub const TOOL_PIN_PREFIX: &str = "enkrypt:tool_pin:";

/// Lowercase hex MD5 of the concatenation of `parts`.
pub fn md5_hex(parts: &[&[u8]]) -> String {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    super::keystore::to_hex(&h.finalize())
}

/// `enkrypt:tools:{md5hex(config_id:server_name)}`: the discovered tools of one upstream server
/// of one mcp_config.
pub fn tool_cache_key(config_id: &str, server_name: &str) -> String {
    format!(
        "{TOOLS_PREFIX}{}",
        md5_hex(&[config_id.as_bytes(), b":", server_name.as_bytes()])
    )
}

/// `enkrypt:tool_pin:{md5hex(config_id:server_name:tool_name)}`: the pinned definition hash of
/// one tool of one server of one mcp_config.
pub fn tool_pin_key(config_id: &str, server_name: &str, tool_name: &str) -> String {
    format!(
        "{TOOL_PIN_PREFIX}{}",
        md5_hex(&[
            config_id.as_bytes(),
            b":",
            server_name.as_bytes(),
            b":",
            tool_name.as_bytes()
        ])
    )
}

/// `enkrypt:gateway_config:{md5hex(gateway_key)}`: the user/project/config mapping of a key.
pub fn gateway_config_key(gateway_key: &str) -> String {
    format!(
        "{GATEWAY_CONFIG_PREFIX}{}",
        md5_hex(&[gateway_key.as_bytes()])
    )
}

/// `enkrypt:key_to_id:{md5hex(gateway_key)}`: the key-to-config-id mapping.
pub fn key_to_id_key(gateway_key: &str) -> String {
    format!("{KEY_TO_ID_PREFIX}{}", md5_hex(&[gateway_key.as_bytes()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected digests computed independently with `printf '%s' ... | md5sum`.
    #[test]
    fn md5_matches_known_digests() {
        assert_eq!(md5_hex(&[]), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            md5_hex(&[b"cfg-123", b":github"]),
            "eaaea06c00e0cbb11d29c6f7988ad4d1"
        );
    }

    #[test]
    fn key_strings() {
        assert_eq!(
            tool_cache_key("cfg-123", "github"),
            "enkrypt:tools:eaaea06c00e0cbb11d29c6f7988ad4d1"
        );
        assert_eq!(
            tool_cache_key("3f1c2a4e-0000-4000-8000-000000000001", "echo"),
            "enkrypt:tools:eac5e1c202b93df8398a8cd35aa8db52"
        );
        assert_eq!(
            gateway_config_key("my-gateway-key"),
            "enkrypt:gateway_config:3f83583cac0f95206f86aad6a1c9d974"
        );
        assert_eq!(
            key_to_id_key("my-gateway-key"),
            "enkrypt:key_to_id:3f83583cac0f95206f86aad6a1c9d974"
        );
    }
}
