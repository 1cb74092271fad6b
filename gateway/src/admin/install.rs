//! `install --client ...`: adds the gateway to an MCP client's own config file.
//!
//! | client | file (Linux; macOS) | section | entry name |
//! | --- | --- | --- | --- |
//! | `claude-desktop` | `~/.config/Claude/claude_desktop_config.json`; `~/Library/Application Support/Claude/...` | `mcpServers` | `Enkrypt Secure MCP Gateway` |
//! | `cursor` | `~/.cursor/mcp.json` | `mcpServers` | `Enkrypt Secure MCP Gateway` |
//! | `claude-code` | `~/.claude.json` (user scope) | `mcpServers` | `Enkrypt-Secure-MCP-Gateway` |
//! | `vscode` | `~/.config/Code/User/mcp.json`; `~/Library/Application Support/Code/User/mcp.json` | `servers` | `Enkrypt-Secure-MCP-Gateway` |
//!
//! (`$XDG_CONFIG_HOME` replaces `~/.config` when set; on Windows `%APPDATA%` holds `Claude` and
//! `Code/User`.) The entry names and the credentials are the reference's: for stdio,
//! `ENKRYPT_GATEWAY_KEY`, `ENKRYPT_PROJECT_ID` and `ENKRYPT_USER_ID` in `env`; for HTTP the key
//! goes in an `Authorization: Bearer` header. The stdio command is this binary's absolute path
//! with `start --transport stdio` (and `--config <path>` unless the config is at the default
//! `~/.enkrypt/enkrypt_mcp_config.json`).
//!
//! The file keeps every other key, entry and their order; an existing entry of ours is replaced
//! in place. It is written atomically with mode 0600 (it holds a key), the previous file kept
//! as `<file>.bak.<unix-seconds>`. A file that is not a JSON object is refused, not replaced.
//! Results never hold the key: `env`/header values carrying it read `****`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::backup::absolute;
use super::AdminError;
use crate::config::document::write_atomic;

/// The HTTP URL used when none is given (the gateway's local streamable HTTP endpoint).
pub const DEFAULT_URL: &str = "http://localhost:8000/mcp/";

/// MCP clients `install` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    /// Claude Desktop (`claude` also accepted, as by the reference).
    #[value(alias = "claude")]
    ClaudeDesktop,
    /// Cursor.
    Cursor,
    /// Claude Code (user scope).
    ClaudeCode,
    /// Visual Studio Code (user `mcp.json`).
    #[value(alias = "vs-code", alias = "code")]
    Vscode,
}

/// How the client reaches the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientTransport {
    /// The client starts `secure-mcp-gateway start --transport stdio` itself.
    Stdio,
    /// The client connects to a running gateway's streamable HTTP endpoint.
    Http,
}

impl Client {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Client::ClaudeDesktop => "claude-desktop",
            Client::Cursor => "cursor",
            Client::ClaudeCode => "claude-code",
            Client::Vscode => "vscode",
        }
    }

    /// The key under which the client lists its servers.
    pub fn section(self) -> &'static str {
        match self {
            Client::Vscode => "servers",
            _ => "mcpServers",
        }
    }

    /// The name of our entry.
    pub fn entry_name(self) -> &'static str {
        match self {
            Client::ClaudeDesktop | Client::Cursor => "Enkrypt Secure MCP Gateway",
            Client::ClaudeCode | Client::Vscode => "Enkrypt-Secure-MCP-Gateway",
        }
    }

    /// Whether entries carry `"type": "stdio" | "http"`.
    fn typed(self) -> bool {
        matches!(self, Client::ClaudeCode | Client::Vscode)
    }
}

/// Where things are on this machine (from the environment; tests build their own).
#[derive(Debug, Clone)]
pub struct Host {
    /// The home directory.
    pub home: PathBuf,
    /// `$XDG_CONFIG_HOME`, when set to an absolute path.
    pub xdg_config: Option<PathBuf>,
    /// `%APPDATA%` (Windows).
    pub appdata: Option<PathBuf>,
    /// The platform: `macos`, `windows`, or anything else (treated as Linux).
    pub os: &'static str,
}

impl Host {
    /// The current machine. Fails when no home directory is known.
    pub fn current() -> Result<Host, AdminError> {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let home = var(if cfg!(windows) { "USERPROFILE" } else { "HOME" })
            .ok_or_else(|| AdminError::Invalid("no home directory ($HOME is not set)".into()))?;
        Ok(Host {
            home,
            xdg_config: var("XDG_CONFIG_HOME").filter(|p| p.is_absolute()),
            appdata: var("APPDATA"),
            os: std::env::consts::OS,
        })
    }

    /// The client's config file.
    pub fn client_file(&self, client: Client) -> PathBuf {
        let config_home = || {
            self.xdg_config
                .clone()
                .unwrap_or_else(|| self.home.join(".config"))
        };
        let app_support = || self.home.join("Library").join("Application Support");
        let appdata = || {
            self.appdata
                .clone()
                .unwrap_or_else(|| self.home.join("AppData").join("Roaming"))
        };
        match client {
            Client::Cursor => self.home.join(".cursor").join("mcp.json"),
            Client::ClaudeCode => self.home.join(".claude.json"),
            Client::ClaudeDesktop => {
                let dir = match self.os {
                    "macos" => app_support(),
                    "windows" => appdata(),
                    _ => config_home(),
                };
                dir.join("Claude").join("claude_desktop_config.json")
            }
            Client::Vscode => {
                let dir = match self.os {
                    "macos" => app_support(),
                    "windows" => appdata(),
                    _ => config_home(),
                };
                dir.join("Code").join("User").join("mcp.json")
            }
        }
    }

    /// The default config path (`~/.enkrypt/enkrypt_mcp_config.json`).
    fn default_config(&self) -> PathBuf {
        self.home
            .join(".enkrypt")
            .join(crate::config::paths::CONFIG_FILE_NAME)
    }
}

/// What to install.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// The client.
    pub client: Client,
    /// stdio or HTTP.
    pub transport: ClientTransport,
    /// The gateway URL for HTTP (default [`DEFAULT_URL`]).
    pub url: Option<String>,
    /// The gateway key to install; default: the config's first enabled key.
    pub api_key: Option<String>,
    /// Show the change, write nothing.
    pub dry_run: bool,
    /// The command clients run for stdio (normally `std::env::current_exe()`).
    pub exe: PathBuf,
}

/// Adds (or updates) the gateway's entry in the client's config file. Returns what was (or,
/// with `dry_run`, would be) written, the key masked.
pub fn install(
    config_path: &Path,
    opts: &InstallOptions,
    host: &Host,
) -> Result<Value, AdminError> {
    let loaded = super::read(config_path)?;
    let config_abs = absolute(config_path);

    let file = host.client_file(opts.client);
    // A symlinked client config (dotfile managers) is updated where it points.
    let target = match fs::symlink_metadata(&file) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(&file).unwrap_or(file.clone()),
        _ => file.clone(),
    };
    let (mut root, existed) = read_client_file(&target)?;
    let section = opts.client.section();
    let servers = root
        .entry(section.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(servers) = servers else {
        return Err(AdminError::Invalid(format!(
            "{}: `{section}` is not an object; fix the file first (it was not changed)",
            target.display()
        )));
    };
    // Only now that the client file is known to be writable may a key be issued for it.
    let key = pick_key(
        config_path,
        &loaded.config,
        opts.api_key.as_deref(),
        opts.dry_run,
    )?;
    let entry = build_entry(opts, &key, &config_abs, host)?;
    let name = opts.client.entry_name();
    let action = match servers.get(name) {
        None => "added",
        Some(old) if *old == entry => "unchanged",
        Some(_) => "updated",
    };
    servers.insert(name.to_string(), entry.clone());

    let mut backup = None;
    if !opts.dry_run {
        if action == "unchanged" {
            restrict(&target)?;
        } else {
            if existed {
                backup = Some(crate::config::generate::backup_file(&target)?);
            }
            let mut text =
                serde_json::to_string_pretty(&Value::Object(root)).unwrap_or_else(|_| "{}".into());
            text.push('\n');
            write_atomic(&target, text.as_bytes())?;
        }
    }
    Ok(json!({
        "client": opts.client.as_str(),
        "path": target.display().to_string(),
        "section": section,
        "server_name": name,
        "transport": match opts.transport {
            ClientTransport::Stdio => "stdio",
            ClientTransport::Http => "http",
        },
        "action": action,
        "dry_run": opts.dry_run,
        "backup": backup.map(|p| p.display().to_string()),
        "project_id": key.project_id,
        "user_id": key.user_id,
        "key_issued": key.issued,
        "entry": masked(entry),
    }))
}

/// The gateway key an entry carries, and whose it is.
struct Chosen {
    key: String,
    project_id: String,
    user_id: String,
    /// A new key was issued for the entry (keys stored as hashes cannot be read back).
    issued: bool,
}

/// `wanted` (which must be a usable key of the config), else the first enabled key stored in
/// plain text, else a new key for the user and project of the first enabled hashed key (keys
/// stored as hashes cannot be read back). (The reference takes the first key even when it is
/// disabled; a disabled key cannot connect.)
fn pick_key(
    config_path: &Path,
    cfg: &crate::config::GatewayConfig,
    wanted: Option<&str>,
    dry_run: bool,
) -> Result<Chosen, AdminError> {
    use crate::config::model::StoredKey;
    if let Some(w) = wanted.map(str::trim) {
        let e = cfg.find_key(w).ok_or_else(|| {
            AdminError::NotFound("the --api-key given is not a gateway key of this config".into())
        })?;
        if cfg.resolve_entry(e).is_err() {
            return Err(AdminError::Invalid(
                "the --api-key given is disabled or expired; enable it or choose another".into(),
            ));
        }
        return Ok(Chosen {
            key: w.to_string(),
            project_id: e.project_id.clone(),
            user_id: e.user_id.clone(),
            issued: false,
        });
    }
    let usable = || cfg.apikeys.iter().filter(|e| cfg.resolve_entry(e).is_ok());
    if let Some((k, e)) = usable().find_map(|e| match &e.key {
        StoredKey::Plain(k) => Some((k, e)),
        StoredKey::Hashed { .. } => None,
    }) {
        return Ok(Chosen {
            key: k.expose().to_string(),
            project_id: e.project_id.clone(),
            user_id: e.user_id.clone(),
            issued: false,
        });
    }
    let e = usable().next().ok_or_else(|| {
        AdminError::NotFound(
            "the config has no enabled gateway key; create one (`user generate-api-key`) \
             or pass --api-key"
                .into(),
        )
    })?;
    let key = if dry_run {
        "<a new key, issued when not --dry-run>".to_string()
    } else {
        let g = super::keys::generate(config_path, &e.user_id, &e.project_id)?;
        g["api_key"].as_str().unwrap_or_default().to_string()
    };
    Ok(Chosen {
        key,
        project_id: e.project_id.clone(),
        user_id: e.user_id.clone(),
        issued: true,
    })
}

fn build_entry(
    opts: &InstallOptions,
    key: &Chosen,
    config_abs: &Path,
    host: &Host,
) -> Result<Value, AdminError> {
    let mut e = Map::new();
    match opts.transport {
        ClientTransport::Stdio => {
            if opts.url.is_some() {
                return Err(AdminError::Invalid("--url is for --transport http".into()));
            }
            if opts.client.typed() {
                e.insert("type".into(), json!("stdio"));
            }
            let mut args = vec![json!("start"), json!("--transport"), json!("stdio")];
            if config_abs != host.default_config() {
                args.push(json!("--config"));
                args.push(json!(config_abs.display().to_string()));
            }
            e.insert(
                "command".into(),
                json!(absolute(&opts.exe).display().to_string()),
            );
            e.insert("args".into(), Value::Array(args));
            e.insert(
                "env".into(),
                json!({
                    "ENKRYPT_GATEWAY_KEY": key.key,
                    "ENKRYPT_PROJECT_ID": key.project_id,
                    "ENKRYPT_USER_ID": key.user_id,
                }),
            );
        }
        ClientTransport::Http => {
            let url = opts.url.as_deref().unwrap_or(DEFAULT_URL).trim();
            match reqwest::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => {
                    return Err(AdminError::Invalid(format!(
                        "--url {}: expected an http(s) URL such as {DEFAULT_URL}",
                        crate::mask::url(url)
                    )))
                }
            }
            if opts.client.typed() {
                e.insert("type".into(), json!("http"));
            }
            e.insert("url".into(), json!(url));
            e.insert(
                "headers".into(),
                json!({ "Authorization": format!("Bearer {}", key.key) }),
            );
        }
    }
    Ok(Value::Object(e))
}

/// The client file's object and whether the file exists. Missing or empty: `{}`.
fn read_client_file(path: &Path) -> Result<(Map<String, Value>, bool), AdminError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Map::new(), false)),
        Err(e) => {
            return Err(AdminError::Invalid(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let refuse = |why: String| {
        AdminError::Invalid(format!(
            "{}: {why}; fix or move the file first (it was not changed)",
            path.display()
        ))
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| refuse("not UTF-8 text".into()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Ok((Map::new(), true));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok((m, true)),
        Ok(_) => Err(refuse("the top level is not a JSON object".into())),
        Err(e) => Err(refuse(
            crate::config::error::ParseError::from_json(&e).to_string(),
        )),
    }
}

fn restrict(path: &Path) -> Result<(), AdminError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(|source| {
            crate::config::ConfigError::Write {
                path: path.to_path_buf(),
                source,
            }
        })?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The entry with the key hidden (`env` values carrying it, the `Authorization` header).
fn masked(mut entry: Value) -> Value {
    if let Some(env) = entry.get_mut("env").and_then(Value::as_object_mut) {
        if let Some(v) = env.get_mut("ENKRYPT_GATEWAY_KEY") {
            *v = json!("****");
        }
    }
    if let Some(h) = entry.get_mut("headers").and_then(Value::as_object_mut) {
        if let Some(v) = h.get_mut("Authorization") {
            *v = json!("Bearer ****");
        }
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(os: &'static str) -> Host {
        Host {
            home: PathBuf::from("/h"),
            xdg_config: None,
            appdata: None,
            os,
        }
    }

    #[test]
    fn client_paths() {
        let l = host("linux");
        let m = host("macos");
        assert_eq!(
            l.client_file(Client::ClaudeDesktop),
            Path::new("/h/.config/Claude/claude_desktop_config.json")
        );
        assert_eq!(
            m.client_file(Client::ClaudeDesktop),
            Path::new("/h/Library/Application Support/Claude/claude_desktop_config.json")
        );
        assert_eq!(
            l.client_file(Client::Cursor),
            Path::new("/h/.cursor/mcp.json")
        );
        assert_eq!(
            m.client_file(Client::ClaudeCode),
            Path::new("/h/.claude.json")
        );
        assert_eq!(
            l.client_file(Client::Vscode),
            Path::new("/h/.config/Code/User/mcp.json")
        );
        assert_eq!(
            m.client_file(Client::Vscode),
            Path::new("/h/Library/Application Support/Code/User/mcp.json")
        );
        let x = Host {
            xdg_config: Some(PathBuf::from("/x")),
            ..host("linux")
        };
        assert_eq!(
            x.client_file(Client::Vscode),
            Path::new("/x/Code/User/mcp.json")
        );
    }

    #[test]
    fn masking_hides_the_key() {
        let e = json!({"command": "gw", "env": {"ENKRYPT_GATEWAY_KEY": "k3y", "ENKRYPT_USER_ID": "u"},
                       "headers": {"Authorization": "Bearer k3y"}});
        let s = masked(e).to_string();
        assert!(!s.contains("k3y") && s.contains("\"u\""), "{s}");
    }
}
