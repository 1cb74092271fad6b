//! Integration tests of `gateway::config` on files: round trips, file modes, generation, key
//! resolution and hot reload. Defaults and validation: `config.rs`.

mod common_gw;

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gateway::config::{
    self, generate, load, resolve_config_path, write_new, ConfigDocument, ConfigError,
    ConfigWatcher, GatewayConfig, GenerateOptions, KeyError, UpstreamConfig,
};
use serde_json::json;

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

// ---------------------------------------------------------------------------------------------
// Round trips and files

const WITH_UNKNOWN_KEYS: &str = r#"{
  "zzz_first": {
    "nested": [
      1,
      2.5,
      "x"
    ]
  },
  "common_mcp_gateway_config": {
    "enkrypt_cache_port": 6379,
    "future_option": {
      "b": 1,
      "a": 2
    },
    "timeout_settings": {
      "default_timeout": 30,
      "escalation_policies": {
        "warn_threshold": 0.8
      }
    }
  },
  "plugins": {
    "telemetry": {
      "provider": "opentelemetry"
    }
  },
  "mcp_configs": {
    "m": {
      "mcp_config_name": "c",
      "mcp_config": [
        {
          "server_name": "s",
          "config": {
            "command": "x",
            "cwd": "/tmp"
          },
          "oauth_config": {
            "enabled": false
          },
          "tool_guardrails_policy": {
            "enabled": false,
            "extra": null
          }
        }
      ],
      "owner": "team-a"
    }
  },
  "projects": {},
  "users": {},
  "apikeys": {},
  "admin_apikey": "kept"
}
"#;

#[test]
fn unknown_keys_survive_load_and_save_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    fs::write(&path, WITH_UNKNOWN_KEYS).unwrap();
    let loaded = load(&path).unwrap();
    assert_eq!(loaded.document.to_json_pretty(), WITH_UNKNOWN_KEYS);
    let out = dir.path().join("out.json");
    loaded.document.save(&out).unwrap();
    assert_eq!(fs::read_to_string(&out).unwrap(), WITH_UNKNOWN_KEYS);
    assert_eq!(load(&out).unwrap().config, loaded.config);
}

#[test]
fn edits_through_the_document_keep_other_keys() {
    let mut doc = ConfigDocument::parse_str(WITH_UNKNOWN_KEYS).unwrap();
    doc.root_mut()["common_mcp_gateway_config"]["enkrypt_cache_port"] = json!(7000);
    let cfg = doc.validate().unwrap();
    assert_eq!(cfg.common.cache_port, 7000);
    let text = doc.to_json_pretty();
    assert!(text.contains("\"future_option\"") && text.contains("\"owner\": \"team-a\""));
    let first_key = doc.root().keys().next().unwrap();
    assert_eq!(first_key, "zzz_first");
}

#[cfg(unix)]
#[test]
fn generated_file_is_private_and_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("fresh")
        .join(".enkrypt")
        .join("enkrypt_mcp_config.json");
    let w = write_new(&path, &GenerateOptions::default(), false).unwrap();
    assert!(w.backup.is_none());
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    let loaded = load(&path).unwrap();
    assert_eq!(loaded.config, w.generated.config);
    let g = &w.generated;
    assert!(g.api_key.expose().len() >= 48);
    let r = loaded.config.resolve_key(g.api_key.expose()).unwrap();
    assert_eq!(
        (r.project_id(), r.user_id(), r.mcp_config_id()),
        (
            g.project_id.as_str(),
            g.user_id.as_str(),
            g.mcp_config_id.as_str()
        )
    );
    let echo = r.mcp_config.server("echo").unwrap();
    match &echo.upstream {
        UpstreamConfig::Stdio(s) => {
            assert_eq!(Path::new(&s.command), std::env::current_exe().unwrap());
            assert_eq!(s.args, ["demo-server"]);
        }
        other => panic!("{other:?}"),
    }
    let pw = loaded.config.common.embedded_cache_password.unwrap();
    assert_eq!(pw.expose().len(), 32);
    // No temp file left behind: the config and the secret its key is hashed with.
    let mut names: Vec<_> = fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            std::ffi::OsString::from("enkrypt_gateway_keys.secret"),
            std::ffi::OsString::from("enkrypt_mcp_config.json")
        ]
    );
    assert_eq!(
        mode(&path.with_file_name("enkrypt_gateway_keys.secret")),
        0o600
    );
}

#[cfg(unix)]
#[test]
fn save_replaces_modes_of_an_existing_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    fs::write(&path, "{}").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    load(&path).unwrap().document.save(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
}

#[cfg(unix)]
#[test]
fn write_new_refuses_to_overwrite_unless_asked_and_then_backs_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("enkrypt_mcp_config.json");
    fs::write(&path, "{\"old\": true}").unwrap();
    let err = write_new(&path, &GenerateOptions::default(), false).unwrap_err();
    assert!(matches!(err, ConfigError::Exists { .. }), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), "{\"old\": true}");

    let first = write_new(&path, &GenerateOptions::default(), true).unwrap();
    let backup = first.backup.unwrap();
    let name = backup.file_name().unwrap().to_string_lossy().into_owned();
    let secs = name.strip_prefix("enkrypt_mcp_config.json.bak.").unwrap();
    assert!(secs.parse::<u64>().unwrap() > 1_600_000_000, "{name}");
    assert_eq!(fs::read_to_string(&backup).unwrap(), "{\"old\": true}");
    assert_eq!(mode(&backup), 0o600);
    assert_eq!(mode(&path), 0o600);

    // A second overwrite in the same second gets its own backup name.
    let second = write_new(&path, &GenerateOptions::default(), true).unwrap();
    let backup2 = second.backup.unwrap();
    assert_ne!(backup2, backup);
    let old = load(&backup2).unwrap();
    assert!(old
        .config
        .resolve_key(first.generated.api_key.expose())
        .is_ok());
    assert_ne!(first.generated.api_key, second.generated.api_key);
}

// ---------------------------------------------------------------------------------------------
// Identity

#[test]
fn key_resolution_ok_unknown_disabled() {
    let g = generate(&GenerateOptions::default()).unwrap();
    let key = g.api_key.expose().to_string();
    assert!(g.config.resolve_key(&key).is_ok());
    assert_eq!(g.config.resolve_key("nope").unwrap_err(), KeyError::Unknown);
    assert_eq!(
        g.config.resolve_key(&key[..key.len() - 1]).unwrap_err(),
        KeyError::Unknown
    );

    for (field, value) in [
        ("disabled", json!(true)),
        ("is_active", json!(false)),
        ("status", json!("disabled")),
    ] {
        let mut doc = g.document.clone();
        doc.root_mut()["apikeys"][&key][field] = value;
        let cfg = doc.validate().unwrap();
        assert_eq!(
            cfg.resolve_key(&key).unwrap_err(),
            KeyError::Disabled,
            "{field}"
        );
    }
    let mut doc = g.document.clone();
    doc.root_mut()["apikeys"][&key]["is_active"] = json!(true);
    doc.root_mut()["apikeys"][&key]["status"] = json!("active");
    assert!(doc.validate().unwrap().resolve_key(&key).is_ok());
}

#[test]
fn cache_keys_are_hashed() {
    assert_eq!(
        config::keys::tool_cache_key("cfg-123", "github"),
        "enkrypt:tools:eaaea06c00e0cbb11d29c6f7988ad4d1"
    );
    assert_eq!(
        config::keys::key_to_id_key("my-gateway-key"),
        "enkrypt:key_to_id:3f83583cac0f95206f86aad6a1c9d974"
    );
}

#[test]
fn config_path_precedence_flag_then_env() {
    // The only test in this binary that touches ENKRYPT_CONFIG_PATH.
    let flag = Path::new("/tmp/flag.json");
    std::env::set_var(config::CONFIG_PATH_ENV, "/tmp/env.json");
    assert_eq!(resolve_config_path(Some(flag)), flag);
    assert_eq!(resolve_config_path(None), Path::new("/tmp/env.json"));
    std::env::remove_var(config::CONFIG_PATH_ENV);
    let fallback = resolve_config_path(None);
    assert!(
        fallback.ends_with("enkrypt_mcp_config.json"),
        "{}",
        fallback.display()
    );
}

// ---------------------------------------------------------------------------------------------
// Reload

async fn next_change(
    rx: &mut tokio::sync::watch::Receiver<Arc<GatewayConfig>>,
) -> Arc<GatewayConfig> {
    tokio::time::timeout(Duration::from_secs(10), rx.changed())
        .await
        .expect("no reload within 10 s")
        .expect("watcher stopped");
    rx.borrow_and_update().clone()
}

#[tokio::test]
async fn reload_picks_up_changes_and_ignores_invalid_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    fs::write(
        &path,
        r#"{"common_mcp_gateway_config": {"enkrypt_cache_port": 1001}}"#,
    )
    .unwrap();
    let (watcher, mut rx) = ConfigWatcher::start(&path, Duration::from_millis(20)).unwrap();
    assert_eq!(watcher.path(), path);
    assert_eq!(rx.borrow().common.cache_port, 1001);

    // A valid change (same length: only the content hash tells it apart).
    fs::write(
        &path,
        r#"{"common_mcp_gateway_config": {"enkrypt_cache_port": 1002}}"#,
    )
    .unwrap();
    assert_eq!(next_change(&mut rx).await.common.cache_port, 1002);

    // Invalid JSON, then an invalid value: both ignored.
    fs::write(&path, "{ not json").unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    fs::write(
        &path,
        r#"{"common_mcp_gateway_config": {"enkrypt_cache_port": "abc"}}"#,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!rx.has_changed().unwrap());
    assert_eq!(rx.borrow().common.cache_port, 1002);

    // A deleted file keeps the config too.
    fs::remove_file(&path).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!rx.has_changed().unwrap());

    // Fixed again (written atomically, as `save` does): picked up.
    let mut doc = ConfigDocument::parse_str("{}").unwrap();
    doc.root_mut().insert(
        "common_mcp_gateway_config".into(),
        json!({"enkrypt_cache_port": 1003}),
    );
    doc.save(&path).unwrap();
    assert_eq!(next_change(&mut rx).await.common.cache_port, 1003);

    // A change that does not alter the configuration (formatting only) publishes nothing.
    fs::write(
        &path,
        "{\"common_mcp_gateway_config\":{\"enkrypt_cache_port\":1003}}\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!rx.has_changed().unwrap());
    drop(watcher);
}

#[tokio::test]
async fn watcher_start_fails_on_an_invalid_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    fs::write(&path, r#"{"apikeys": {"k": {}}}"#).unwrap();
    let err = ConfigWatcher::start(&path, Duration::from_millis(20)).unwrap_err();
    assert!(err.validation().is_some(), "{err}");
}

/// Captures formatted log output of the current thread.
#[derive(Clone, Default)]
struct LogBuf(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuf {
    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .matches(needle)
            .count()
    }

    /// Waits (up to 10 s) until `needle` has been logged `n` times.
    async fn wait_for(&self, needle: &str, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.count(needle) < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{needle:?} not logged {n} times"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test]
async fn an_invalid_file_is_logged_once_per_change_without_secrets() {
    let logs = LogBuf::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let g = generate(&GenerateOptions::default()).unwrap();
    g.document.save(&path).unwrap();
    let (_watcher, rx) = ConfigWatcher::start(&path, Duration::from_millis(10)).unwrap();

    // An apikey pointing at an unknown project: invalid, and its path involves the key.
    let mut doc = g.document.clone();
    doc.root_mut()["apikeys"][g.api_key.expose()]["project_id"] = json!("gone");
    fs::write(&path, doc.to_json_pretty()).unwrap();
    logs.wait_for("keeping the current configuration", 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await; // ~20 more polls
    assert_eq!(logs.count("keeping the current configuration"), 1);
    assert_eq!(logs.count(r#"unknown project "gone""#), 1);

    fs::write(&path, "{").unwrap();
    logs.wait_for("keeping the current configuration", 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(logs.count("keeping the current configuration"), 2);
    assert!(!rx.has_changed().unwrap());

    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(!text.contains(g.api_key.expose()), "{text}");
    let pw = g.config.common.embedded_cache_password.as_ref().unwrap();
    assert!(!text.contains(pw.expose()));
}
