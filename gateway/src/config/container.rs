//! Whether the gateway runs in a container: the reference's detection (`is_docker()` in its
//! `utils.py`), in its order: `KUBERNETES_SERVICE_HOST` set (kubelet sets it in every pod); the
//! marker files `/.dockerenv` (Docker) or `/run/.containerenv` (podman, CRI-O);
//! `/proc/1/cgroup` mentioning `docker`, `kubepods`, `containerd` or `lxc` (cgroups v1);
//! `/proc/1/cgroup` being exactly `0::/` (cgroups v2: a container's first process sees the root
//! of its own hierarchy, a host's sees `/init.scope`). Before all of these, our
//! `ENKRYPT_DOCKER` (`true`/`1`/`yes` or `false`/`0`/`no`) forces the answer.
//!
//! It decides the default config path ([`super::paths`]) and the default HTTP listen address
//! ([`crate::bind`]). [`detect`] takes its inputs ([`Signals`]) so it can be tested;
//! [`Signals::probe`] reads them from this process's environment and file system.

use std::path::Path;

/// What container detection looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signals {
    /// `ENKRYPT_DOCKER`.
    pub forced: Option<String>,
    /// `KUBERNETES_SERVICE_HOST`.
    pub kubernetes_service_host: Option<String>,
    /// `/.dockerenv` exists.
    pub dockerenv: bool,
    /// `/run/.containerenv` exists.
    pub containerenv: bool,
    /// The text of `/proc/1/cgroup`, if readable.
    pub cgroup: Option<String>,
}

impl Signals {
    /// The signals of this process.
    pub fn probe() -> Signals {
        let var = |k: &str| std::env::var(k).ok();
        Signals {
            forced: var(crate::config::paths::DOCKER_ENV),
            kubernetes_service_host: var("KUBERNETES_SERVICE_HOST"),
            dockerenv: Path::new("/.dockerenv").exists(),
            containerenv: Path::new("/run/.containerenv").exists(),
            cgroup: std::fs::read_to_string("/proc/1/cgroup").ok(),
        }
    }
}

/// Whether the signals say "in a container", and why (for the log).
pub fn detect(s: &Signals) -> (bool, String) {
    let forced = s.forced.as_deref().map(|v| v.trim().to_ascii_lowercase());
    match forced.as_deref() {
        Some("1" | "true" | "yes") => return (true, "ENKRYPT_DOCKER says so".into()),
        Some("0" | "false" | "no") => {
            return (false, "ENKRYPT_DOCKER says it is not a container".into())
        }
        _ => {}
    }
    if s.kubernetes_service_host
        .as_deref()
        .is_some_and(|h| !h.is_empty())
    {
        return (true, "KUBERNETES_SERVICE_HOST is set".into());
    }
    if s.dockerenv {
        return (true, "/.dockerenv exists".into());
    }
    if s.containerenv {
        return (true, "/run/.containerenv exists".into());
    }
    if let Some(text) = &s.cgroup {
        let runtimes = ["docker", "kubepods", "containerd", "lxc"];
        if let Some(word) = runtimes.iter().find(|w| text.contains(*w)) {
            return (true, format!("/proc/1/cgroup mentions {word}"));
        }
        if text.trim() == "0::/" {
            return (
                true,
                "/proc/1/cgroup is the root of a cgroup v2 namespace".into(),
            );
        }
    }
    (false, "no container detected".into())
}
