//! `/api/v1/api-keys...` and `/api/v1/users/{user}/api-keys`: gateway keys (see
//! [`crate::admin::keys`]).

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::{answer, fail, ApiState, Body};
use crate::admin::keys;

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

async fn rotate(State(s): State<ApiState>, Body(b): Body<RotateBody>) -> Response {
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
    Body(b): Body<GenerateBody>,
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

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
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
}
