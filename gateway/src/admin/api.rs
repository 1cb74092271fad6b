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

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{keys, AdminError};

/// What the routes share.
#[derive(Clone)]
pub struct ApiState {
    /// The config file.
    pub path: Arc<PathBuf>,
}

fn ok(message: &str, data: Value) -> Response {
    Json(json!({
        "message": message,
        "data": data,
        "timestamp": crate::config::generate::now_iso8601(),
    }))
    .into_response()
}

fn fail(status: StatusCode, detail: impl Into<String>) -> Response {
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

/// The admin keys the config accepts.
fn admin_keys(state: &ApiState) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(state.path.as_ref()) else {
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
    if req.uri().path() == "/health" {
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

async fn all_keys(State(s): State<ApiState>) -> Response {
    answer("All API keys retrieved successfully", move || {
        keys::list(&s.path, None, None)
    })
    .await
}

async fn key_details(State(s): State<ApiState>, UrlPath(key): UrlPath<String>) -> Response {
    answer("API key details retrieved successfully", move || {
        keys::get(&s.path, &key)
    })
    .await
}

#[derive(Deserialize)]
struct RotateBody {
    api_key: String,
    #[serde(default)]
    grace_seconds: Option<u64>,
}

async fn rotate(State(s): State<ApiState>, Json(b): Json<RotateBody>) -> Response {
    answer("API key rotated successfully", move || {
        keys::rotate(&s.path, &b.api_key, b.grace_seconds)
    })
    .await
}

async fn disable(State(s): State<ApiState>, UrlPath(key): UrlPath<String>) -> Response {
    answer("API key disabled successfully", move || {
        keys::set_disabled(&s.path, &key, true)
    })
    .await
}

async fn enable(State(s): State<ApiState>, UrlPath(key): UrlPath<String>) -> Response {
    answer("API key enabled successfully", move || {
        keys::set_disabled(&s.path, &key, false)
    })
    .await
}

async fn delete_key(State(s): State<ApiState>, UrlPath(key): UrlPath<String>) -> Response {
    answer("API key deleted successfully", move || {
        keys::delete(&s.path, &key)
    })
    .await
}

#[derive(Deserialize)]
struct GenerateBody {
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    project_name: Option<String>,
}

async fn generate(
    State(s): State<ApiState>,
    UrlPath(user): UrlPath<String>,
    Json(b): Json<GenerateBody>,
) -> Response {
    let Some(project) = b.project_id.or(b.project_name) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "project_id or project_name is required",
        );
    };
    answer("API key generated successfully", move || {
        keys::generate(&s.path, &user, &project)
    })
    .await
}

#[derive(Deserialize)]
struct ProjectQuery {
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    project_name: Option<String>,
}

async fn user_keys(
    State(s): State<ApiState>,
    UrlPath(user): UrlPath<String>,
    Query(q): Query<ProjectQuery>,
) -> Response {
    let project = q.project_id.or(q.project_name);
    answer("API keys retrieved successfully", move || {
        keys::list(&s.path, Some(&user), project.as_deref())
    })
    .await
}

async fn delete_user_keys(State(s): State<ApiState>, UrlPath(user): UrlPath<String>) -> Response {
    answer("API keys deleted successfully", move || {
        keys::delete_all(&s.path, &user)
    })
    .await
}

/// The routes.
pub fn router(path: PathBuf) -> Router {
    let state = ApiState {
        path: Arc::new(path),
    };
    Router::new()
        .route("/health", get(health))
        .route("/api/v1/api-keys", get(all_keys))
        .route("/api/v1/api-keys/rotate", post(rotate))
        .route(
            "/api/v1/api-keys/{key}",
            get(key_details).delete(delete_key),
        )
        .route("/api/v1/api-keys/{key}/disable", post(disable))
        .route("/api/v1/api-keys/{key}/enable", post(enable))
        .route(
            "/api/v1/users/{user}/api-keys",
            post(generate).get(user_keys).delete(delete_user_keys),
        )
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Serves the admin API on `listener` until `shutdown` completes.
pub async fn serve(
    path: PathBuf,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(path))
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
