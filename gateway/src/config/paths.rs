//! Where the config file lives.
//!
//! Order, first match wins: the `--config PATH` flag, the `ENKRYPT_CONFIG_PATH` environment
//! variable, the container path `/app/.enkrypt/docker/enkrypt_mcp_config.json` when running in a
//! container, and `~/.enkrypt/enkrypt_mcp_config.json`. The reference gateway knows only the last
//! two (it picks the Docker path when it detects a container); the flag and the variable are
//! ours.
//!
//! Container detection is the reference's ([`super::container`]); `ENKRYPT_DOCKER` set to
//! `true`/`1`/`yes` or `false`/`0`/`no` forces it. A leading `~/` in the flag or the variable
//! is expanded to the home directory.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The config file's name.
pub const CONFIG_FILE_NAME: &str = "enkrypt_mcp_config.json";
/// The config path inside a container (the reference's `DOCKER_CONFIG_PATH`).
pub const DOCKER_CONFIG_PATH: &str = "/app/.enkrypt/docker/enkrypt_mcp_config.json";
/// The environment variable that overrides the config path.
pub const CONFIG_PATH_ENV: &str = "ENKRYPT_CONFIG_PATH";
/// The environment variable that forces container detection on or off.
pub const DOCKER_ENV: &str = "ENKRYPT_DOCKER";

/// The config path to use: flag > `ENKRYPT_CONFIG_PATH` > container path > home path.
pub fn resolve_config_path(cli: Option<&Path>) -> PathBuf {
    resolve_with(cli, |k| std::env::var_os(k), in_container(), home_dir())
}

/// Whether the gateway runs in a container ([`super::container`], the reference's rules).
pub fn in_container() -> bool {
    super::container::detect(&super::container::Signals::probe()).0
}

/// `~/.enkrypt/enkrypt_mcp_config.json`, or `.enkrypt/enkrypt_mcp_config.json` relative to the
/// working directory when no home directory is known.
pub fn home_config_path() -> PathBuf {
    home_config_from(home_dir())
}

fn home_config_from(home: Option<PathBuf>) -> PathBuf {
    home.unwrap_or_default()
        .join(".enkrypt")
        .join(CONFIG_FILE_NAME)
}

/// The user's home directory from `HOME` (or `USERPROFILE` on Windows).
fn home_dir() -> Option<PathBuf> {
    let var = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
    std::env::var_os(var)
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

fn expand_tilde(p: &Path, home: Option<&Path>) -> PathBuf {
    match (p.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => p.to_path_buf(),
    }
}

/// The testable core of [`resolve_config_path`].
fn resolve_with(
    cli: Option<&Path>,
    env: impl Fn(&str) -> Option<OsString>,
    container: bool,
    home: Option<PathBuf>,
) -> PathBuf {
    if let Some(p) = cli.filter(|p| !p.as_os_str().is_empty()) {
        return expand_tilde(p, home.as_deref());
    }
    if let Some(p) = env(CONFIG_PATH_ENV).filter(|p| !p.is_empty()) {
        return expand_tilde(Path::new(&p), home.as_deref());
    }
    if container {
        return PathBuf::from(DOCKER_CONFIG_PATH);
    }
    home_config_from(home)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with(v: Option<&str>) -> impl Fn(&str) -> Option<OsString> + '_ {
        move |k| {
            assert_eq!(k, CONFIG_PATH_ENV);
            v.map(OsString::from)
        }
    }

    #[test]
    fn precedence_flag_env_container_home() {
        let home = Some(PathBuf::from("/home/u"));
        let flag = Path::new("/etc/gw.json");
        assert_eq!(
            resolve_with(Some(flag), env_with(Some("/env.json")), true, home.clone()),
            flag
        );
        assert_eq!(
            resolve_with(None, env_with(Some("/env.json")), true, home.clone()),
            Path::new("/env.json")
        );
        assert_eq!(
            resolve_with(None, env_with(Some("")), true, home.clone()),
            Path::new(DOCKER_CONFIG_PATH)
        );
        assert_eq!(
            resolve_with(None, env_with(None), false, home.clone()),
            Path::new("/home/u/.enkrypt/enkrypt_mcp_config.json")
        );
        assert_eq!(
            resolve_with(None, env_with(None), false, None),
            Path::new(".enkrypt/enkrypt_mcp_config.json")
        );
    }

    #[test]
    fn tilde_expands_in_flag_and_env() {
        let home = Some(PathBuf::from("/home/u"));
        assert_eq!(
            resolve_with(
                Some(Path::new("~/x.json")),
                env_with(None),
                false,
                home.clone()
            ),
            Path::new("/home/u/x.json")
        );
        assert_eq!(
            resolve_with(None, env_with(Some("~/y.json")), false, home),
            Path::new("/home/u/y.json")
        );
        assert_eq!(
            resolve_with(Some(Path::new("~user/x")), env_with(None), false, None),
            Path::new("~user/x")
        );
    }
}
