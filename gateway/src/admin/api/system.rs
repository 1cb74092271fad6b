//! `/api/v1/system/...`: health, backup, restore, reset (see [`crate::admin::health`] and
//! [`crate::admin::backup`]).

use std::path::PathBuf;

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::{answer, from_admin, ok, ApiState, Body};
use crate::admin::{backup, health};

#[derive(Deserialize)]
struct HealthQuery {
    /// Only the config checks (no upstream started, nothing connected to).
    #[serde(default)]
    offline: bool,
}

/// The config report and, unless `?offline=true`, the live checks (cache, every upstream,
/// the guardrail API), each within its time limit. 200 with `status` healthy or unhealthy.
async fn health_check(State(s): State<ApiState>, Query(q): Query<HealthQuery>) -> Response {
    match health::health_check(&s.path, q.offline).await {
        Ok(v) => ok("System health check completed", v),
        Err(e) => from_admin(e),
    }
}

/// `output_file` is optional here (default: beside the config, as `system backup` writes).
#[derive(Deserialize)]
struct BackupBody {
    #[serde(default)]
    output_file: Option<PathBuf>,
}

async fn backup_route(State(s): State<ApiState>, Body(b): Body<BackupBody>) -> Response {
    answer("System backup completed successfully", move || {
        backup::backup(&s.path, b.output_file.as_deref())
    })
    .await
}

#[derive(Deserialize)]
struct RestoreBody {
    input_file: PathBuf,
}

async fn restore(State(s): State<ApiState>, Body(b): Body<RestoreBody>) -> Response {
    answer("System restore completed successfully", move || {
        backup::restore(&s.path, &b.input_file)
    })
    .await
}

#[derive(Deserialize)]
struct ResetBody {
    #[serde(default)]
    confirm: bool,
}

async fn reset(State(s): State<ApiState>, Body(b): Body<ResetBody>) -> Response {
    answer("System reset completed successfully", move || {
        backup::reset(&s.path, b.confirm)
    })
    .await
}

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/system/health", get(health_check))
        .route("/api/v1/system/backup", post(backup_route))
        .route("/api/v1/system/restore", post(restore))
        .route("/api/v1/system/reset", post(reset))
}
