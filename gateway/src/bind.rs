//! Where the HTTP transport listens when no host is given.
//!
//! In a container the gateway listens on every interface (`0.0.0.0`), as the reference gateway
//! does, so `docker run -p 8000:8000` reaches it; elsewhere it listens on loopback only
//! (`127.0.0.1`): a gateway on a laptop is not offered to the network unless asked. An explicit
//! host always wins: `--host`, or `ENKRYPT_GATEWAY_HOST` (the reference's variable).
//!
//! Container detection is the reference's, in [`crate::config::container`] (the config path
//! uses it too). [`choose`] takes its inputs ([`Signals`]) so it can be tested.

/// Loopback only.
pub const LOOPBACK: &str = "127.0.0.1";
/// Every IPv4 interface.
pub const ALL_INTERFACES: &str = "0.0.0.0";
/// The environment variable that sets the host, as in the reference.
pub const HOST_ENV: &str = "ENKRYPT_GATEWAY_HOST";

pub use crate::config::container::{detect, Signals};

/// The chosen listen host and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// The host to listen on.
    pub host: String,
    /// Why, for the log.
    pub why: String,
}

/// The host to listen on: `explicit` (`--host` or `ENKRYPT_GATEWAY_HOST`) when given and not
/// empty, else [`ALL_INTERFACES`] in a container and [`LOOPBACK`] elsewhere.
pub fn choose(explicit: Option<&str>, signals: &Signals) -> Bind {
    if let Some(h) = explicit.map(str::trim).filter(|h| !h.is_empty()) {
        return Bind {
            host: h.to_string(),
            why: format!("set with --host or {HOST_ENV}"),
        };
    }
    let (inside, why) = detect(signals);
    if inside {
        Bind {
            host: ALL_INTERFACES.into(),
            why: format!(
                "in a container ({why}), so a published port reaches it; --host {LOOPBACK} \
                 keeps it on loopback"
            ),
        }
    } else {
        Bind {
            host: LOOPBACK.into(),
            why: format!(
                "not in a container ({why}); --host {ALL_INTERFACES} accepts other machines"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inside(s: Signals) -> bool {
        detect(&s).0
    }

    #[test]
    fn the_references_rules() {
        assert!(!inside(Signals::default()));
        assert!(inside(Signals {
            kubernetes_service_host: Some("10.0.0.1".into()),
            ..Signals::default()
        }));
        assert!(!inside(Signals {
            kubernetes_service_host: Some(String::new()),
            ..Signals::default()
        }));
        assert!(inside(Signals {
            dockerenv: true,
            ..Signals::default()
        }));
        assert!(inside(Signals {
            containerenv: true,
            ..Signals::default()
        }));
        for text in [
            "12:pids:/docker/3f2a\n",
            "1:name=systemd:/kubepods/burstable/pod1\n",
            "0::/system.slice/containerd.service\n",
            "4:cpu:/lxc/web\n",
            "0::/\n",
        ] {
            assert!(
                inside(Signals {
                    cgroup: Some(text.into()),
                    ..Signals::default()
                }),
                "{text:?}"
            );
        }
        for text in ["0::/init.scope\n", "0::/user.slice/user-1000.slice\n", ""] {
            assert!(
                !inside(Signals {
                    cgroup: Some(text.into()),
                    ..Signals::default()
                }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn enkrypt_docker_forces_the_answer() {
        let docker = Signals {
            dockerenv: true,
            ..Signals::default()
        };
        for (v, expected) in [("false", false), ("0", false), ("NO", false), ("yes", true)] {
            let s = Signals {
                forced: Some(v.into()),
                ..docker.clone()
            };
            assert_eq!(inside(s), expected, "{v}");
        }
        let s = Signals {
            forced: Some("maybe".into()),
            ..docker
        };
        assert!(inside(s), "an unknown value is ignored");
        assert!(inside(Signals {
            forced: Some("true".into()),
            ..Signals::default()
        }));
    }

    #[test]
    fn explicit_host_wins_else_container_decides() {
        let docker = Signals {
            dockerenv: true,
            ..Signals::default()
        };
        assert_eq!(choose(None, &docker).host, ALL_INTERFACES);
        assert_eq!(choose(None, &Signals::default()).host, LOOPBACK);
        assert_eq!(choose(Some("127.0.0.1"), &docker).host, "127.0.0.1");
        assert_eq!(choose(Some("::"), &Signals::default()).host, "::");
        assert_eq!(
            choose(Some(" "), &docker).host,
            ALL_INTERFACES,
            "an empty host is no host"
        );
        let why = choose(None, &docker).why;
        assert!(why.contains("/.dockerenv"), "{why}");
    }
}
