//! Starting the cache: the embedded server, the external client, and what a gateway does when
//! the embedded cache's port is already taken.
//!
//! Several gateways on one config file is the normal case: an HTTP gateway, plus Claude Desktop
//! and Cursor each spawning `start --transport stdio`. The first to start binds
//! `127.0.0.1:<enkrypt_embedded_cache_port>`. A later one finds the port taken and connects to
//! it over RESP with `enkrypt_embedded_cache_password` (a [`Sibling`] backend): every gateway on
//! the config then shares one cache, so one discovery serves them all. When that does not work
//! (no password configured, another password, the port held by a program that is not a RESP
//! server, no answer within `connectivity_timeout` + `cache_timeout`), the gateway warns and
//! runs a private in-process cache on a free port: it serves either way.
//!
//! When the gateway that owns the port goes away, the first sibling whose call fails for it
//! binds the port itself (its cache starts empty) and the others reconnect to it: the group
//! keeps one shared cache without a restart.

use std::sync::OnceLock;

use super::embedded::Embedded;
use super::external::External;
use super::{Backend, Cache, CacheError, CacheOptions, Inner, View, BACKEND_EXTERNAL};
use crate::config::{CommonConfig, Secret};

/// Another gateway's embedded cache, used over RESP; this gateway's own once it took the port
/// over.
pub(crate) struct Sibling {
    remote: External,
    owned: OnceLock<Embedded>,
    taking_over: tokio::sync::Mutex<()>,
    port: u16,
    password: Secret,
    maxmemory: String,
    bind: String,
    dir: Option<String>,
}

impl std::fmt::Debug for Sibling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sibling")
            .field("port", &self.port)
            .field("owned", &self.owned.get().is_some())
            .finish()
    }
}

impl Sibling {
    /// The embedded server, once this gateway took the port over.
    pub(crate) fn owned(&self) -> Option<&Embedded> {
        self.owned.get()
    }

    /// The RESP client to the gateway that owns the port.
    pub(crate) fn remote(&self) -> &External {
        &self.remote
    }

    /// After a failed call: binds the port if its owner is gone. One attempt at a time; false
    /// when the port is still taken (the owner is back, or another sibling was quicker).
    pub(crate) async fn take_over(&self) -> bool {
        if self.owned.get().is_some() {
            return true;
        }
        let _one = self.taking_over.lock().await;
        if self.owned.get().is_some() {
            return true;
        }
        let started = Embedded::start(
            self.port,
            self.password.expose(),
            &self.maxmemory,
            &self.bind,
            self.dir.as_deref(),
        )
        .await;
        match started {
            Ok(e) => {
                let _ = self.owned.set(e);
                tracing::warn!(
                    port = self.port,
                    "the gateway whose embedded cache this one shared went away; this gateway \
                     now serves the cache on its port (starting empty)"
                );
                true
            }
            Err(e) => {
                tracing::debug!(port = self.port, "cache port not taken over: {e}");
                false
            }
        }
    }
}

impl Cache {
    /// Starts the cache `common` asks for, with default [`CacheOptions`].
    ///
    /// Embedded: binds the RESP port now; when it is taken, shares the cache of the gateway
    /// listening there, or runs a private one (see the module header). External: never fails;
    /// the client connects in the background and on demand.
    pub async fn new(common: &CommonConfig) -> Result<Cache, CacheError> {
        Cache::with_options(common, CacheOptions::default()).await
    }

    /// [`Cache::new`] with explicit tunables.
    pub async fn with_options(
        common: &CommonConfig,
        opts: CacheOptions,
    ) -> Result<Cache, CacheError> {
        if common.use_external_cache {
            return Ok(Cache::external(common, opts));
        }
        let generated = common.embedded_cache_password.is_none();
        let password = common
            .embedded_cache_password
            .clone()
            .unwrap_or_else(generate_password);
        if password.expose().chars().any(char::is_control) {
            return Err(CacheError::Embedded(
                "`common_mcp_gateway_config.enkrypt_embedded_cache_password` must not contain \
                 control characters (newlines, tabs, NUL)"
                    .into(),
            ));
        }
        let port = common.embedded_cache_port;
        let started = Embedded::start(
            port,
            password.expose(),
            &opts.embedded_maxmemory,
            &opts.embedded_bind,
            common.embedded_cache_dir.as_deref(),
        )
        .await;
        let e = match started {
            Ok(e) => e,
            Err(CacheError::Bind { reason, .. }) if port != 0 => {
                return Cache::beside(common, opts, password, generated, &reason).await;
            }
            Err(e) => return Err(e),
        };
        tracing::info!(
            port = e.port(),
            password_generated = generated,
            "embedded cache listening on 127.0.0.1 (inspect with redis-cli -p <port> -a \
             <enkrypt_embedded_cache_password>)"
        );
        Ok(Cache::embedded(e, password, common, opts))
    }

    fn embedded(e: Embedded, password: Secret, common: &CommonConfig, opts: CacheOptions) -> Cache {
        let view = View::embedded(e.port());
        Cache::assemble(Backend::Embedded(e), view, Some(password), common, opts)
    }

    /// The embedded port is taken (`reason`): the cache of the gateway listening there, or a
    /// private one.
    async fn beside(
        common: &CommonConfig,
        opts: CacheOptions,
        password: Secret,
        generated: bool,
        reason: &str,
    ) -> Result<Cache, CacheError> {
        let port = common.embedded_cache_port;
        let why = if generated {
            "no `enkrypt_embedded_cache_password` is configured, so the cache there cannot be \
             shared (set one to share it)"
                .to_string()
        } else {
            let remote = External::new(
                "127.0.0.1",
                port,
                0,
                Some(password.clone()),
                common.timeouts.connectivity,
                common.timeouts.cache,
            );
            let limit = common.timeouts.connectivity + common.timeouts.cache;
            match tokio::time::timeout(limit, remote.ping()).await {
                Ok(Ok(())) => {
                    tracing::info!(
                        port,
                        "embedded cache port in use by another gateway: sharing its cache"
                    );
                    let sibling = Sibling {
                        remote,
                        owned: OnceLock::new(),
                        taking_over: tokio::sync::Mutex::new(()),
                        port,
                        password: password.clone(),
                        maxmemory: opts.embedded_maxmemory.clone(),
                        bind: opts.embedded_bind.clone(),
                        dir: common.embedded_cache_dir.clone(),
                    };
                    let view = View::embedded(port);
                    let backend = Backend::Sibling(Box::new(sibling));
                    return Ok(Cache::assemble(backend, view, Some(password), common, opts));
                }
                Ok(Err(e)) => format!("the program there cannot be used as a cache ({e})"),
                Err(_) => format!(
                    "the program there did not answer a RESP PING within {} ms",
                    limit.as_millis()
                ),
            }
        };
        // A private cache beside another gateway's: not persisted (the data directory
        // belongs to the cache on the configured port).
        let e = Embedded::start(
            0,
            password.expose(),
            &opts.embedded_maxmemory,
            &opts.embedded_bind,
            None,
        )
        .await?;
        tracing::warn!(
            port,
            private_port = e.port(),
            "embedded cache port {port} is taken ({reason}) and {why}; using a private cache \
             instead: discovery is not shared with other gateways"
        );
        Ok(Cache::embedded(e, password, common, opts))
    }

    /// The external backend of `common` (`enkrypt_cache_host/port/db/password`).
    pub(super) fn external(common: &CommonConfig, opts: CacheOptions) -> Cache {
        let x = External::configured(common);
        let view = View {
            backend: BACKEND_EXTERNAL,
            host: Some(common.cache_host.clone()),
            port: Some(common.cache_port),
            db: Some(common.cache_db),
            embedded_port: None,
        };
        Cache::assemble(Backend::External(x), view, None, common, opts)
    }

    pub(super) fn assemble(
        backend: Backend,
        view: View,
        embedded_password: Option<Secret>,
        common: &CommonConfig,
        opts: CacheOptions,
    ) -> Cache {
        let inner = std::sync::Arc::new(Inner {
            backend,
            health: super::health::Health::new(opts.backoff, view.backend),
            view,
            flights: super::flight::Flights::default(),
            memo: dashmap::DashMap::new(),
            tool_ttl: common.tool_cache_ttl,
            gateway_ttl: common.gateway_cache_ttl,
            cache_timeout: common.timeouts.cache,
            opts,
            embedded_password,
            closed: std::sync::atomic::AtomicBool::new(false),
            tools_epoch: std::sync::atomic::AtomicU64::new(0),
            server_epochs: dashmap::DashMap::new(),
        });
        if !matches!(inner.backend, Backend::Embedded(_)) {
            // Connect early, so an unreachable backend is reported at start, not on first use.
            let warm = inner.clone();
            tokio::spawn(async move {
                let _ = warm.ping().await;
            });
        }
        Cache { inner }
    }
}

fn generate_password() -> Secret {
    use rand::distr::{Alphanumeric, SampleString};
    Secret::new(Alphanumeric.sample_string(&mut rand::rng(), 32))
}
