//! `generate-config`: a working default configuration, and writing it safely.
//!
//! Mirrors the reference's `generate_default_config`: one mcp_config, one project, one user
//! (`default@example.com`), one gateway key, ids as UUID v4 strings, `created_at` timestamps;
//! the common section lists every default explicitly so users see what they can tune. Ours: the
//! demo upstream is `echo`, served by this very binary (`<current_exe> demo-server`), and the
//! embedded cache gets a random password.
//!
//! Invariants: every secret comes from the operating system's CSPRNG (`OsRng`); a gateway key is
//! 48 random bytes in unpadded URL-safe base64 (64 characters); the cache password is 32
//! alphanumeric characters (no leading `-` to confuse `redis-cli -a`). [`write_new`] never
//! replaces an existing file unless asked, and then keeps it as `<path>.bak.<unix-seconds>`
//! (mode 0600) first.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::rngs::OsRng;
use rand::TryRngCore;
use serde_json::json;

use super::document::{set_private, ConfigDocument};
use super::error::ConfigError;
use super::model::GatewayConfig;
use super::secret::{GatewayKey, Secret};

/// Name of the demo upstream in a generated config.
pub const DEMO_SERVER_NAME: &str = "echo";
/// The subcommand of this binary that serves the demo MCP server on stdio.
pub const DEMO_SERVER_SUBCOMMAND: &str = "demo-server";
/// Email of the generated user.
pub const DEFAULT_USER_EMAIL: &str = "default@example.com";

/// Options of [`generate`]; `Default` gives the standard config.
#[derive(Debug, Clone, Default)]
pub struct GenerateOptions {
    /// Command of the demo upstream; `None` = `std::env::current_exe()` (falling back to
    /// `secure-mcp-gateway` on `PATH` if that fails).
    pub demo_command: Option<PathBuf>,
    /// Email of the generated user; `None` = [`DEFAULT_USER_EMAIL`].
    pub email: Option<String>,
}

/// A generated configuration and the identifiers and secret the user needs.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The document, ready to save.
    pub document: ConfigDocument,
    /// Its validated view.
    pub config: GatewayConfig,
    /// The gateway key (shown to the user once, e.g. for `ENKRYPT_GATEWAY_KEY`).
    pub api_key: GatewayKey,
    /// The project id.
    pub project_id: String,
    /// The user id.
    pub user_id: String,
    /// The mcp_config id.
    pub mcp_config_id: String,
}

/// What [`write_new`] did.
#[derive(Debug, Clone)]
pub struct Written {
    /// The generated configuration now at the path.
    pub generated: Generated,
    /// Where the replaced file was copied, when one was replaced.
    pub backup: Option<PathBuf>,
}

/// Builds a fresh default configuration (see the module header).
pub fn generate(opts: &GenerateOptions) -> Result<Generated, ConfigError> {
    let api_key = GatewayKey::new(super::keystore::new_key()?.0);
    let cache_password = Secret::new(random_alphanumeric(32)?);
    let project_id = uuid_v4()?;
    let user_id = uuid_v4()?;
    let mcp_config_id = uuid_v4()?;
    let now = now_iso8601();
    let command = opts
        .demo_command
        .clone()
        .or_else(|| std::env::current_exe().ok())
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "secure-mcp-gateway".to_string());
    let email = opts.email.as_deref().unwrap_or(DEFAULT_USER_EMAIL);

    let value = json!({
        "common_mcp_gateway_config": {
            "enkrypt_log_level": "INFO",
            "enkrypt_use_remote_mcp_config": false,
            "enkrypt_remote_mcp_gateway_name": "enkrypt-secure-mcp-gateway-1",
            "enkrypt_remote_mcp_gateway_version": "v1",
            "enkrypt_mcp_use_external_cache": false,
            "enkrypt_cache_host": "localhost",
            "enkrypt_cache_port": 6379,
            "enkrypt_cache_db": 0,
            "enkrypt_cache_password": null,
            "enkrypt_tool_cache_expiration": 4,
            "enkrypt_gateway_cache_expiration": 24,
            "enkrypt_async_input_guardrails_enabled": false,
            "enkrypt_async_output_guardrails_enabled": false,
            "enkrypt_telemetry": {
                "enabled": false,
                "insecure": true,
                "endpoint": "http://localhost:4317"
            },
            "timeout_settings": {
                "default_timeout": 30,
                "guardrail_timeout": 15,
                "auth_timeout": 10,
                "tool_execution_timeout": 60,
                "discovery_timeout": 20,
                "cache_timeout": 5,
                "connectivity_timeout": 2
            },
            "enkrypt_embedded_cache_port": 6380,
            "enkrypt_embedded_cache_password": cache_password.expose(),
            "enkrypt_gateway_tools_mode": "both",
            "enkrypt_gateway_unprefixed_names": true
        },
        "mcp_configs": {
            mcp_config_id.clone(): {
                "mcp_config_name": "default_config",
                "mcp_config": [{
                    "server_name": DEMO_SERVER_NAME,
                    "description": "Demo echo server (built into the gateway binary)",
                    "config": {
                        "command": command,
                        "args": [DEMO_SERVER_SUBCOMMAND]
                    },
                    "tools": {},
                    "denied_tools": [],
                    "enable_tool_guardrails": false,
                    "enable_server_info_validation": false,
                    "input_guardrails_config": {
                        "enabled": false,
                        "guardrail_name": "local",
                        "additional_config": {"pii_redaction": false, "pin_tools": "warn"},
                        "block": ["injection_attack", "pii", "secrets", "keyword_detector",
                                  "sponge_attack", "command_injection", "path_traversal", "ssrf"]
                    },
                    "output_guardrails_config": {
                        "enabled": false,
                        "guardrail_name": "local",
                        "additional_config": {"relevancy": false, "hallucination": false, "adherence": false},
                        "block": ["injection_attack", "secrets"]
                    }
                }]
            }
        },
        "projects": {
            project_id.clone(): {
                "project_name": "default_project",
                "mcp_config_id": mcp_config_id.clone(),
                "users": [user_id.clone()],
                "created_at": now.clone()
            }
        },
        "users": {
            user_id.clone(): {
                "email": email,
                "created_at": now.clone()
            }
        },
        "apikeys": {
            api_key.expose(): {
                "project_id": project_id.clone(),
                "user_id": user_id.clone(),
                "created_at": now
            }
        }
    });
    let document = ConfigDocument::from_value(value).map_err(|e| match e {
        super::error::ParseError::Invalid(v) => ConfigError::Invalid(v),
        other => ConfigError::Random(other.to_string()),
    })?;
    let config = document.validate()?;
    Ok(Generated {
        document,
        config,
        api_key,
        project_id,
        user_id,
        mcp_config_id,
    })
}

/// Generates a config and saves it at `path` (mode 0600, parent 0700). An existing file is an
/// error unless `overwrite`, in which case it is first copied to `<path>.bak.<unix-seconds>`.
pub fn write_new(
    path: &Path,
    opts: &GenerateOptions,
    overwrite: bool,
) -> Result<Written, ConfigError> {
    let mut generated = generate(opts)?;
    let exists = fs::symlink_metadata(path).is_ok();
    let backup = match (exists, overwrite) {
        (true, false) => {
            return Err(ConfigError::Exists {
                path: path.to_path_buf(),
            })
        }
        (true, true) => Some(backup_file(path)?),
        (false, _) => None,
    };
    // The key is stored only as its hash, under the secret beside the file.
    let secret = super::keystore::load_or_create_secret(path)?;
    super::keystore::hash_plain_keys(&mut generated.document, &secret, None)?;
    generated.config = generated.document.validate()?;
    generated.config.key_secret = Some(secret);
    generated.document.save(path)?;
    Ok(Written { generated, backup })
}

/// Copies `path` to a fresh `<path>.bak.<unix-seconds>[.<n>]` with mode 0600.
pub fn backup_file(path: &Path) -> Result<PathBuf, ConfigError> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let content = fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let base = format!("{}.bak.{secs}", path.display());
    for n in 0..1000u32 {
        let candidate = if n == 0 {
            PathBuf::from(&base)
        } else {
            PathBuf::from(format!("{base}.{n}"))
        };
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let werr = |source: io::Error| ConfigError::Write {
            path: candidate.clone(),
            source,
        };
        match opts.open(&candidate) {
            Ok(mut f) => {
                use std::io::Write;
                set_private(&f).map_err(werr)?;
                f.write_all(&content).map_err(werr)?;
                f.sync_all().map_err(werr)?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(werr(e)),
        }
    }
    Err(ConfigError::Write {
        path: PathBuf::from(base),
        source: io::Error::new(io::ErrorKind::AlreadyExists, "too many backups this second"),
    })
}

/// Fills `buf` from the OS CSPRNG.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), ConfigError> {
    OsRng
        .try_fill_bytes(buf)
        .map_err(|e| ConfigError::Random(e.to_string()))
}

/// A new gateway key: 48 random bytes, unpadded URL-safe base64 (64 characters).
pub fn random_key() -> Result<String, ConfigError> {
    let mut buf = [0u8; 48];
    fill_random(&mut buf)?;
    Ok(base64_url(&buf))
}

/// `len` random characters from `[A-Za-z0-9]` (rejection sampling, no modulo bias).
pub fn random_alphanumeric(len: usize) -> Result<String, ConfigError> {
    random_chars(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        len,
    )
}

/// `len` characters drawn uniformly from `alphabet` (at most 256 of them) with the OS RNG.
pub fn random_chars(alphabet: &[u8], len: usize) -> Result<String, ConfigError> {
    let n = alphabet.len().clamp(1, 256);
    // Bytes below the largest multiple of n map uniformly.
    let limit = 256 - 256 % n;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        fill_random(&mut buf)?;
        for b in buf {
            if usize::from(b) < limit && out.len() < len {
                out.push(char::from(alphabet[usize::from(b) % n]));
            }
        }
    }
    Ok(out)
}

/// A random (version 4) UUID in its canonical lowercase form.
pub fn uuid_v4() -> Result<String, ConfigError> {
    let mut b = [0u8; 16];
    fill_random(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// Unpadded URL-safe base64 (RFC 4648 §5).
fn base64_url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SS.ffffff+00:00` (Python's `isoformat`, with an
/// explicit offset).
pub fn now_iso8601() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_utc(d.as_secs(), d.subsec_micros())
}

fn format_utc(secs: u64, micros: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}+00:00",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64_url(b""), "");
        assert_eq!(base64_url(b"f"), "Zg");
        assert_eq!(base64_url(b"fo"), "Zm8");
        assert_eq!(base64_url(b"foo"), "Zm9v");
        assert_eq!(base64_url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn secrets_have_the_promised_shape() {
        let k = random_key().unwrap();
        assert_eq!(k.len(), 64);
        assert!(k
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(k, random_key().unwrap());
        let p = random_alphanumeric(32).unwrap();
        assert_eq!(p.len(), 32);
        assert!(p.bytes().all(|b| b.is_ascii_alphanumeric()));
        let u = uuid_v4().unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc(0, 0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(
            format_utc(951_782_400, 5),
            "2000-02-29T00:00:00.000005+00:00"
        );
        assert_eq!(
            format_utc(1_735_689_599, 999_999),
            "2024-12-31T23:59:59.999999+00:00"
        );
    }

    #[test]
    fn generated_config_is_valid_and_consistent() {
        let g = generate(&GenerateOptions {
            demo_command: Some(PathBuf::from("/usr/bin/gw")),
            email: None,
        })
        .unwrap();
        let r = g.config.resolve_key(g.api_key.expose()).unwrap();
        assert_eq!(r.project_id(), g.project_id);
        assert_eq!(r.user_id(), g.user_id);
        assert_eq!(r.mcp_config_id(), g.mcp_config_id);
        assert_eq!(r.user.email.as_deref(), Some(DEFAULT_USER_EMAIL));
        let echo = r.mcp_config.server(DEMO_SERVER_NAME).unwrap();
        match &echo.upstream {
            super::super::model::UpstreamConfig::Stdio(s) => {
                assert_eq!(s.command, "/usr/bin/gw");
                assert_eq!(s.args, vec![DEMO_SERVER_SUBCOMMAND.to_string()]);
            }
            other => panic!("{other:?}"),
        }
        let pw = g.config.common.embedded_cache_password.as_ref().unwrap();
        assert_eq!(pw.expose().len(), 32);
        let server = &g.document.root()["mcp_configs"][&g.mcp_config_id]["mcp_config"][0];
        assert_eq!(server["server_name"], DEMO_SERVER_NAME);
        // Debug output of the whole thing carries no secret.
        let dbg = format!("{g:?}");
        assert!(!dbg.contains(g.api_key.expose()) && !dbg.contains(pw.expose()));
    }
}
