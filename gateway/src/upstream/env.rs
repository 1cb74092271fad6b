//! The environment a stdio upstream starts with: an allow-list of the gateway's own
//! environment, then the server's `env` from the config (which wins).
//!
//! The gateway's environment holds its secrets (`ENKRYPT_GATEWAY_KEY`, `ENKRYPT_API_KEY`, and
//! whatever else the user's shell or MCP client exported: cloud credentials, tokens), and an
//! upstream server is third-party code: it gets only what a program needs to run. The reference
//! gateway starts its servers the same way (the MCP Python SDK passes `HOME`, `LOGNAME`, `PATH`,
//! `SHELL`, `TERM`, `USER` plus the server's `env`); we add locale, time zone, temporary
//! directory and the few variables `npx`/`node` and `uvx`/`python` read to find their caches and
//! certificates:
//!
//! - identity and shell: `PATH`, `HOME`, `USER`, `LOGNAME`, `SHELL`, `TERM`;
//! - locale and time: `LANG`, `LANGUAGE`, `LC_*`, `TZ`;
//! - temporary files: `TMPDIR` (per-user on macOS), `TEMP`, `TMP`;
//! - per-user directories (npm, uv and pip caches live there when set): `XDG_CACHE_HOME`,
//!   `XDG_CONFIG_HOME`, `XDG_DATA_HOME`, `XDG_STATE_HOME`, `XDG_RUNTIME_DIR`;
//! - `NODE_PATH` (module search path), and CA bundles for networks that intercept TLS:
//!   `NODE_EXTRA_CA_CERTS`, `SSL_CERT_FILE`, `SSL_CERT_DIR` (file paths, not secrets);
//! - Windows: `SYSTEMROOT`, `SYSTEMDRIVE`, `WINDIR`, `COMSPEC`, `PATHEXT`, `APPDATA`,
//!   `LOCALAPPDATA`, `PROGRAMDATA`, `PROGRAMFILES`, `PROGRAMFILES(X86)`, `USERPROFILE`,
//!   `USERNAME`, `HOMEDRIVE`, `HOMEPATH`, `PROCESSOR_ARCHITECTURE` (names compared without case
//!   there, as Windows does).
//!
//! Deliberately not passed: every `ENKRYPT_*` variable, proxies (`HTTP_PROXY`, `HTTPS_PROXY`,
//! `ALL_PROXY`, `NO_PROXY`: their URLs often carry credentials), `NPM_CONFIG_*` and `UV_*`
//! (registry URLs and tokens), and everything else. A server that needs one of them gets it
//! through its own `env` in the config. A value that starts with `()` (an exported shell
//! function) is never inherited.

use std::ffi::{OsStr, OsString};

/// Variables inherited by name.
const INHERITED: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "TERM",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "TEMP",
    "TMP",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
    "XDG_RUNTIME_DIR",
    "NODE_PATH",
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "SYSTEMROOT",
    "SYSTEMDRIVE",
    "WINDIR",
    "COMSPEC",
    "PATHEXT",
    "APPDATA",
    "LOCALAPPDATA",
    "PROGRAMDATA",
    "PROGRAMFILES",
    "PROGRAMFILES(X86)",
    "USERPROFILE",
    "USERNAME",
    "HOMEDRIVE",
    "HOMEPATH",
    "PROCESSOR_ARCHITECTURE",
];

/// Variables inherited by prefix (`LC_ALL`, `LC_CTYPE`, ...).
const INHERITED_PREFIXES: &[&str] = &["LC_"];

/// Whether the gateway's variable `name` is passed to upstream servers.
pub(crate) fn inherited(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    let upper;
    let name = if cfg!(windows) {
        upper = name.to_ascii_uppercase();
        upper.as_str()
    } else {
        name
    };
    INHERITED.contains(&name) || INHERITED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The environment of a stdio upstream: the allowed part of `parent` (the gateway's
/// environment), then `configured` (the server's `env`, in order; it overrides).
pub(crate) fn child_env(
    parent: impl IntoIterator<Item = (OsString, OsString)>,
    configured: &[(String, String)],
) -> Vec<(OsString, OsString)> {
    let mut out: Vec<(OsString, OsString)> = parent
        .into_iter()
        .filter(|(k, v)| inherited(k) && !v.as_encoded_bytes().starts_with(b"()"))
        .collect();
    for (k, v) in configured {
        let key = OsString::from(k);
        out.retain(|(existing, _)| !same_name(existing, &key));
        out.push((key, OsString::from(v)));
    }
    out
}

fn same_name(a: &OsStr, b: &OsStr) -> bool {
    if cfg!(windows) {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    fn names(e: &[(OsString, OsString)]) -> Vec<String> {
        e.iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn only_the_allow_list_and_the_servers_env_pass() {
        let parent = env(&[
            ("PATH", "/usr/bin"),
            ("HOME", "/home/u"),
            ("LC_ALL", "C.UTF-8"),
            ("ENKRYPT_GATEWAY_KEY", "k"),
            ("ENKRYPT_API_KEY", "k2"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("HTTPS_PROXY", "http://user:pw@proxy:3128"),
            ("NPM_CONFIG_REGISTRY", "https://r"),
            ("LANG", "POSIX"),
            ("LCX", "not a locale variable"),
        ]);
        let out = child_env(parent, &[("LANG".into(), "C.UTF-8".into())]);
        assert_eq!(names(&out), ["PATH", "HOME", "LC_ALL", "LANG"]);
        assert_eq!(out[3].1, "C.UTF-8", "the server's env wins");
    }

    #[test]
    fn the_servers_env_may_set_anything_and_shell_functions_are_dropped() {
        let parent = env(&[("TERM", "() { :; }; echo pwned"), ("SHELL", "/bin/sh")]);
        let out = child_env(
            parent,
            &[
                ("GITHUB_TOKEN".into(), "t".into()),
                ("ENKRYPT_PASSED_ON_PURPOSE".into(), "1".into()),
            ],
        );
        assert_eq!(
            names(&out),
            ["SHELL", "GITHUB_TOKEN", "ENKRYPT_PASSED_ON_PURPOSE"]
        );
    }

    #[test]
    fn no_gateway_variable_is_on_the_list() {
        for name in INHERITED {
            assert!(!name.starts_with("ENKRYPT"), "{name}");
        }
        assert!(!inherited(OsStr::new("ENKRYPT_GATEWAY_KEY")));
        assert!(inherited(OsStr::new("LC_CTYPE")));
    }
}
