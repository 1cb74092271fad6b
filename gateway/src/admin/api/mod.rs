//! The admin REST API: the reference's `/api/v1/...` routes over the same operations as the
//! command line ([`super`]), and `GET /health`.
//!
//! Off unless `start --admin-port` is given; listens on loopback unless `--admin-host` says
//! otherwise. Every route but `/health` needs the admin key (`admin_apikey` at the config's top
//! level, or the reference's `enkrypt_config.admin_apikey`) in the `apikey` header (the
//! reference's) or `Authorization: Bearer`, compared in constant time; with none configured
//! the API refuses everything. No CORS headers are ever sent, and a request whose `Origin` is
//! not a loopback page is refused (403): a web page cannot drive it. Answers are the
//! reference's `{"message", "data", "timestamp"}`; errors `{"detail": "..."}` with 400, 401,
//! 403, 404, 409 or 500.
//!
//! Request bodies are JSON with the reference's field names; an empty body reads as `{}`, and a
//! body that is not JSON, or lacks a required field, is refused with 400. The routes are grouped
//! as the command line is: `keys`, `configs` (with servers, guardrail policies and
//! settings), `projects`, `users`, `system`. Export, import, backup and restore take file
//! paths on the gateway's machine, as the reference does: the gateway reads or writes them with
//! its own permissions, which is one more reason the API is key-protected and loopback-only by
//! default.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::{AdminError, By};

mod configs;
mod keys;
mod projects;
mod system;
mod users;

/// What the routes share.
#[derive(Clone)]
pub struct ApiState {
    /// The config file.
    pub path: Arc<PathBuf>,
    /// The running gateway, for the dashboard's live figures (`None` when the API is served
    /// on its own).
    pub gw: Option<Arc<crate::service::Gateway>>,
}

pub(crate) fn ok(message: &str, data: Value) -> Response {
    Json(json!({
        "message": message,
        "data": data,
        "timestamp": crate::config::generate::now_iso8601(),
    }))
    .into_response()
}

pub(crate) fn fail(status: StatusCode, detail: impl Into<String>) -> Response {
    (status, Json(json!({ "detail": detail.into() }))).into_response()
}

fn from_admin(e: AdminError) -> Response {
    let status = match &e {
        AdminError::NotFound(_) => StatusCode::NOT_FOUND,
        AdminError::Conflict(_) => StatusCode::CONFLICT,
        AdminError::Invalid(_) => StatusCode::BAD_REQUEST,
        AdminError::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    fail(status, e.to_string().replace('\n', "; "))
}

/// Runs an operation off the async workers (it reads, locks and writes files) and answers.
async fn answer(
    message: &'static str,
    op: impl FnOnce() -> Result<Value, AdminError> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(op).await {
        Ok(Ok(v)) => ok(message, v),
        Ok(Err(e)) => from_admin(e),
        Err(_) => fail(StatusCode::INTERNAL_SERVER_ERROR, "the operation failed"),
    }
}

/// A JSON request body with the reference's field names. An empty body reads as `{}` (so a
/// body whose fields all have defaults may be left out); anything else that does not
/// deserialize is a 400 with serde's reason.
struct Body<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|t| t.to_ascii_lowercase().contains("json"));
        if !json_type {
            return Err(fail(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the request body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            fail(
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {e}"),
            )
        })?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(text).map(Body).map_err(|e| {
            fail(
                StatusCode::BAD_REQUEST,
                format!("invalid request body: {e}"),
            )
        })
    }
}

/// A config or project named in the URL: by name, else by id (as the reference looks them up).
fn by_name(s: String) -> By {
    By::Name(s)
}

/// A user named in the URL: by id, else by email.
fn by_user(s: String) -> By {
    By::Id(s)
}

/// The admin keys the config accepts.
fn admin_keys(state: &ApiState) -> Vec<String> {
    admin_keys_in(state.path.as_ref())
}

/// The admin keys the config file at `path` holds (`admin_apikey` at the top level, or
/// `enkrypt_config.admin_apikey`); none when it cannot be read.
pub fn admin_keys_in(path: &std::path::Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_str::<Value>(&text) else {
        return Vec::new();
    };
    [
        v.get("admin_apikey"),
        v.pointer("/enkrypt_config/admin_apikey"),
    ]
    .into_iter()
    .flatten()
    .filter_map(Value::as_str)
    .map(str::trim)
    .filter(|k| !k.is_empty())
    .map(String::from)
    .collect()
}

fn loopback_origin(origin: &str) -> bool {
    let rest = origin.split("://").nth(1).unwrap_or(origin);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(r) => r.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Origin check and admin key, before any route.
async fn guard(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let h: &HeaderMap = req.headers();
    if let Some(o) = h.get("origin").and_then(|v| v.to_str().ok()) {
        if !loopback_origin(o) {
            return fail(StatusCode::FORBIDDEN, "Origin not allowed");
        }
    }
    let path = req.uri().path();
    if path == "/health" || super::dashboard::PUBLIC.contains(&path) {
        return next.run(req).await;
    }
    let presented = h
        .get("apikey")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            h.get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|a| a.strip_prefix("Bearer "))
        })
        .map(str::trim);
    let Some(presented) = presented.filter(|p| !p.is_empty()) else {
        return fail(StatusCode::UNAUTHORIZED, "apikey header required");
    };
    let accepted = admin_keys(&state);
    if accepted.is_empty() {
        return fail(
            StatusCode::UNAUTHORIZED,
            "Admin API key not configured: set admin_apikey at the top level of the config",
        );
    }
    use subtle::ConstantTimeEq;
    let mut ok = false;
    for k in &accepted {
        ok |= bool::from(k.as_bytes().ct_eq(presented.as_bytes()));
    }
    if !ok {
        return fail(StatusCode::UNAUTHORIZED, "Invalid API key.");
    }
    next.run(req).await
}

async fn health() -> Response {
    ok(
        "Admin API is healthy",
        json!({ "status": "healthy", "version": env!("CARGO_PKG_VERSION") }),
    )
}

/// The routes; with `gw`, the dashboard's live figures too.
pub fn router(path: PathBuf, gw: Option<Arc<crate::service::Gateway>>) -> Router {
    router_with(path, gw, Router::new())
}

/// The routes, plus `extra` (behind the same origin check and admin key), e.g. `/metrics`.
pub fn router_with(
    path: PathBuf,
    gw: Option<Arc<crate::service::Gateway>>,
    extra: Router<ApiState>,
) -> Router {
    let state = ApiState {
        path: Arc::new(path),
        gw,
    };
    Router::new()
        .route("/health", get(health))
        .merge(super::dashboard::routes())
        .merge(extra)
        .merge(keys::routes())
        .merge(configs::routes())
        .merge(projects::routes())
        .merge(users::routes())
        .merge(system::routes())
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Serves the admin API (and, with `gw`, the dashboard) on `listener` until `shutdown`
/// completes.
pub async fn serve(
    path: PathBuf,
    gw: Option<Arc<crate::service::Gateway>>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_router(router(path, gw), listener, shutdown).await
}

/// Serves `router` (from [`router_with`]) on `listener` until `shutdown` completes.
pub async fn serve_router(
    router: Router,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        for o in [
            "http://localhost:3000",
            "http://127.0.0.1",
            "http://[::1]:8080",
        ] {
            assert!(loopback_origin(o), "{o}");
        }
        for o in ["https://evil.example", "http://127.evil.example", "null"] {
            assert!(!loopback_origin(o), "{o}");
        }
    }
}
