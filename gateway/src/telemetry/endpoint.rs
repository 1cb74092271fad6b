//! `GET /metrics` and who may read it.
//!
//! The page names the servers and tools of every project, so it is not for every gateway key
//! holder. On the gateway's HTTP port and on a `start --metrics-port` listener it is served:
//!
//! - without a key to a client on the same host (a loopback peer), or to anyone when
//!   `enkrypt_metrics_public` is true (a scraper on a private network, or behind a proxy that
//!   does its own checks);
//! - otherwise only with the admin key (`admin_apikey`) as `Authorization: Bearer` or
//!   `apikey`; a gateway key is not enough (401).
//!
//! A cross-site `Origin`, or a foreign `Host` on a loopback listener, is refused (403) as on
//! `/mcp`. On the admin port it sits behind the admin API's own checks (the admin key always).
//! With `enkrypt_metrics_enabled: false` nothing is recorded and the page is 404.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::service::Gateway;

/// Why a scrape is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Metrics are off.
    Disabled,
    /// No admin key, or a wrong one.
    Unauthorized,
}

/// Who may read `/metrics`: `peer` is the client's address when known, `listener_loopback`
/// whether the listener accepts loopback clients only, `presented` the key sent, `admin_keys`
/// the config's admin keys.
pub fn decide(
    enabled: bool,
    public: bool,
    peer: Option<IpAddr>,
    listener_loopback: bool,
    presented: Option<&str>,
    admin_keys: impl FnOnce() -> Vec<String>,
) -> Result<(), Refusal> {
    if !enabled {
        return Err(Refusal::Disabled);
    }
    let local = match peer {
        Some(ip) => ip.is_loopback() || ip.to_canonical().is_loopback(),
        None => listener_loopback,
    };
    if public || local {
        return Ok(());
    }
    let Some(presented) = presented.map(str::trim).filter(|k| !k.is_empty()) else {
        return Err(Refusal::Unauthorized);
    };
    use subtle::ConstantTimeEq;
    let mut ok = false;
    for k in admin_keys() {
        ok |= bool::from(k.as_bytes().ct_eq(presented.as_bytes()));
    }
    if ok {
        Ok(())
    } else {
        Err(Refusal::Unauthorized)
    }
}

/// The page, freshly read.
pub async fn page(gw: &Gateway) -> Response {
    let body = super::render::render(super::scrape(gw).await);
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(super::render::CONTENT_TYPE),
    );
    r
}

fn refused(why: Refusal) -> Response {
    match why {
        Refusal::Disabled => (
            StatusCode::NOT_FOUND,
            "metrics are disabled (enkrypt_metrics_enabled: false)\n",
        )
            .into_response(),
        Refusal::Unauthorized => {
            let mut r = (
                StatusCode::UNAUTHORIZED,
                "/metrics from another host needs the admin key (admin_apikey) as 'Authorization: Bearer <key>', or enkrypt_metrics_public: true\n",
            )
                .into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"secure-mcp-gateway metrics\""),
            );
            r
        }
    }
}

/// `GET /metrics` on a gateway listener: the access rules of the module header.
pub async fn serve_request(gw: &Gateway, listener_loopback: bool, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let headers: &HeaderMap = &parts.headers;
    let common = gw.config().common.clone();
    let path = gw.config_path.clone();
    let decision = decide(
        common.metrics_enabled,
        common.metrics_public,
        peer,
        listener_loopback,
        crate::http::extract_key(headers),
        || crate::admin::api::admin_keys_in(&path),
    );
    match decision {
        Ok(()) => page(gw).await,
        Err(why) => refused(why),
    }
}

#[derive(Clone)]
struct Own {
    gw: Arc<Gateway>,
    loopback: bool,
}

async fn own_metrics(State(s): State<Own>, req: Request) -> Response {
    serve_request(&s.gw, s.loopback, req).await
}

/// A listener of its own for `/metrics` (`start --metrics-port`), e.g. beside a stdio gateway.
pub async fn serve(
    gw: Arc<Gateway>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let loopback = listener.local_addr()?.ip().is_loopback();
    let app = Router::new()
        .route("/metrics", get(own_metrics))
        .with_state(Own { gw, loopback });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// `/metrics` for the admin API's router (which checks the admin key before it).
pub fn admin_routes<S: Clone + Send + Sync + 'static>(gw: Arc<Gateway>) -> Router<S> {
    async fn admin_metrics(State(gw): State<Arc<Gateway>>) -> Response {
        if !gw.config().common.metrics_enabled {
            return refused(Refusal::Disabled);
        }
        page(&gw).await
    }
    Router::new()
        .route("/metrics", get(admin_metrics))
        .with_state(gw)
}

/// The router, with the client's address in each request's extensions (as axum's
/// `ConnectInfo`), for the `/metrics` access rule.
#[derive(Clone)]
pub struct WithPeer {
    /// The routes.
    pub inner: Router,
    /// The client's address.
    pub peer: SocketAddr,
}

impl<B> tower_service::Service<axum::http::Request<B>> for WithPeer
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = <Router as tower_service::Service<axum::http::Request<B>>>::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        tower_service::Service::<axum::http::Request<B>>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, mut req: axum::http::Request<B>) -> Self::Future {
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(self.peer));
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<String> {
        vec!["admin-secret".to_string()]
    }

    #[test]
    fn who_may_scrape() {
        let lo: Option<IpAddr> = Some("127.0.0.1".parse().unwrap());
        let lo6: Option<IpAddr> = Some("::ffff:127.0.0.1".parse().unwrap());
        let far: Option<IpAddr> = Some("10.1.2.3".parse().unwrap());
        assert_eq!(decide(true, false, lo, false, None, keys), Ok(()));
        assert_eq!(decide(true, false, lo6, false, None, keys), Ok(()));
        assert_eq!(
            decide(true, false, far, false, None, keys),
            Err(Refusal::Unauthorized)
        );
        assert_eq!(
            decide(true, false, far, false, Some("gateway-key"), keys),
            Err(Refusal::Unauthorized)
        );
        assert_eq!(
            decide(true, false, far, false, Some("admin-secret"), keys),
            Ok(())
        );
        assert_eq!(decide(true, true, far, false, None, keys), Ok(()));
        assert_eq!(decide(true, false, None, true, None, keys), Ok(()));
        assert_eq!(
            decide(true, false, None, false, None, keys),
            Err(Refusal::Unauthorized)
        );
        assert_eq!(
            decide(false, true, lo, true, None, keys),
            Err(Refusal::Disabled)
        );
        // No admin key configured: nothing unlocks it from afar.
        assert_eq!(
            decide(true, false, far, false, Some(""), Vec::new),
            Err(Refusal::Unauthorized)
        );
    }
}
