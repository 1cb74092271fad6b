//! `start`: the gateway itself, over HTTP or stdio, with config hot reload.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::TransportArg;
use crate::cache::Cache;
use crate::config;
use crate::service::Gateway;

/// The optional listeners beside the transport: `(host, port)` of each.
pub(super) struct Listeners {
    /// The admin API (`--admin-port`), which serves `/metrics` too.
    pub admin: Option<(String, u16)>,
    /// `/metrics` alone (`--metrics-port`).
    pub metrics: Option<(String, u16)>,
}

pub(super) async fn start(
    path: &Path,
    bind: &crate::bind::Bind,
    port: u16,
    transport: TransportArg,
    listeners: Listeners,
    tls: Option<Arc<crate::tls::Tls>>,
) -> anyhow::Result<()> {
    let Listeners { admin, metrics } = listeners;
    if let Ok(id) = std::env::var(crate::session::INSTANCE_ENV) {
        crate::session::check_instance_id(&id).map_err(anyhow::Error::msg)?;
    }
    let (watcher, mut updates) = config::ConfigWatcher::start(path, Duration::from_millis(1000))
        .with_context(|| format!("loading {}", path.display()))?;
    let mut cfg = (**updates.borrow()).clone();
    let applied = config::env::apply_cache_env(&mut cfg.common).map_err(anyhow::Error::msg)?;
    if !applied.is_empty() {
        tracing::info!(variables = ?applied, "cache settings from the environment");
    }
    let cache = Arc::new(
        Cache::start(&cfg.common)
            .await
            .context("starting the cache")?,
    );
    let gw = Gateway::new(cfg, path.to_path_buf(), cache.clone());
    {
        let gw = gw.clone();
        tokio::spawn(async move {
            while updates.changed().await.is_ok() {
                let mut next = (**updates.borrow()).clone();
                // Checked at start; the environment does not change.
                if let Err(e) = config::env::apply_cache_env(&mut next.common) {
                    tracing::error!(error = %e, "cache settings from the environment");
                }
                tracing::info!("config reloaded");
                gw.set_config(Arc::new(next));
            }
        });
    }
    let admin_task = match admin {
        None => None,
        Some((host, port)) => {
            let listener = tokio::net::TcpListener::bind((host.as_str(), port))
                .await
                .with_context(|| format!("binding the admin API to {host}:{port}"))?;
            let addr = listener.local_addr()?;
            eprintln!(
                "admin API listening on http://{addr}/api/v1/, dashboard at http://{addr}/dashboard (key: admin_apikey in the config)"
            );
            let router = crate::admin::api::router_with(
                path.to_path_buf(),
                Some(gw.clone()),
                crate::telemetry::endpoint::admin_routes(gw.clone()),
            );
            Some(tokio::spawn(async move {
                if let Err(e) =
                    crate::admin::api::serve_router(router, listener, std::future::pending()).await
                {
                    tracing::error!(error = %e, "admin API stopped");
                }
            }))
        }
    };
    let metrics_task = match metrics {
        None => None,
        Some((host, port)) => {
            let listener = tokio::net::TcpListener::bind((host.as_str(), port))
                .await
                .with_context(|| format!("binding the metrics listener to {host}:{port}"))?;
            let addr = listener.local_addr()?;
            eprintln!("metrics on http://{addr}/metrics");
            let gw = gw.clone();
            Some(tokio::spawn(async move {
                if let Err(e) =
                    crate::telemetry::endpoint::serve(gw, listener, std::future::pending()).await
                {
                    tracing::error!(error = %e, "metrics listener stopped");
                }
            }))
        }
    };
    let shutdown = async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    match transport {
        TransportArg::Stdio => {
            tokio::select! {
                r = crate::stdio::serve(gw.clone()) => r?,
                _ = shutdown => {}
            }
        }
        TransportArg::Http => {
            let host = bind.host.as_str();
            tracing::info!(host, reason = %bind.why, "HTTP listen address");
            let listener = tokio::net::TcpListener::bind((host, port))
                .await
                .with_context(|| format!("binding {host}:{port}"))?;
            let addr = listener.local_addr()?;
            tracing::info!(%addr, "listening");
            let scheme = if tls.is_some() { "https" } else { "http" };
            eprintln!("secure-mcp-gateway {} listening on {scheme}://{addr}/mcp/ (health: {scheme}://{addr}/health)", env!("CARGO_PKG_VERSION"));
            let reload = tls.as_ref().map(|t| t.watch());
            let gw2 = gw.clone();
            crate::http::serve_tls(gw.clone(), listener, tls, async move {
                shutdown.await;
                gw2.drain(Duration::from_secs(5)).await;
            })
            .await?;
            if let Some(r) = reload {
                r.abort();
            }
        }
    }
    for t in [admin_task, metrics_task].into_iter().flatten() {
        t.abort();
    }
    watcher.stop();
    // Stdio upstreams (and their process groups) stop with the gateway.
    gw.pool.close_all().await;
    cache.shutdown().await;
    Ok(())
}
