//! `/api/v1/projects...`: see [`crate::admin::projects`]. A project in the URL is found by
//! name, else by id; a user by id, else by email.

use std::path::PathBuf;

use axum::extract::{Path as UrlPath, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::{answer, by_name, by_user, ApiState, Body};
use crate::admin::{projects, By};

async fn list(State(s): State<ApiState>) -> Response {
    answer("Projects retrieved successfully", move || {
        projects::list(&s.path)
    })
    .await
}

#[derive(Deserialize)]
struct CreateBody {
    project_name: String,
}

async fn create(State(s): State<ApiState>, Body(b): Body<CreateBody>) -> Response {
    answer("Project created successfully", move || {
        projects::create(&s.path, &b.project_name)
    })
    .await
}

async fn get_one(State(s): State<ApiState>, UrlPath(project): UrlPath<String>) -> Response {
    answer("Project retrieved successfully", move || {
        projects::get(&s.path, &by_name(project))
    })
    .await
}

/// Optional: `force` also deletes the project's gateway keys (refused without it, 409).
#[derive(Deserialize, Default)]
struct DeleteBody {
    #[serde(default)]
    force: bool,
}

async fn delete(
    State(s): State<ApiState>,
    UrlPath(project): UrlPath<String>,
    Body(b): Body<DeleteBody>,
) -> Response {
    answer("Project deleted successfully", move || {
        projects::remove(&s.path, &by_name(project), b.force)
    })
    .await
}

#[derive(Deserialize)]
struct AssignBody {
    #[serde(default)]
    config_name: Option<String>,
    #[serde(default)]
    config_id: Option<String>,
}

async fn assign_config(
    State(s): State<ApiState>,
    UrlPath(project): UrlPath<String>,
    Body(b): Body<AssignBody>,
) -> Response {
    answer(
        "Configuration assigned to project successfully",
        move || {
            let config = By::pick(
                b.config_name.map(By::Name),
                b.config_id.map(By::Id),
                "Either config_name or config_id is required",
            )?;
            projects::assign_config(&s.path, &by_name(project), &config)
        },
    )
    .await
}

async fn unassign_config(State(s): State<ApiState>, UrlPath(project): UrlPath<String>) -> Response {
    answer(
        "Configuration unassigned from project successfully",
        move || projects::unassign_config(&s.path, &by_name(project)),
    )
    .await
}

async fn get_config(State(s): State<ApiState>, UrlPath(project): UrlPath<String>) -> Response {
    answer("Project configuration retrieved successfully", move || {
        projects::get_config(&s.path, &by_name(project))
    })
    .await
}

async fn list_users(State(s): State<ApiState>, UrlPath(project): UrlPath<String>) -> Response {
    answer("Project users retrieved successfully", move || {
        projects::list_users(&s.path, &by_name(project))
    })
    .await
}

#[derive(Deserialize)]
struct AddUserBody {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

async fn add_user(
    State(s): State<ApiState>,
    UrlPath(project): UrlPath<String>,
    Body(b): Body<AddUserBody>,
) -> Response {
    answer("User added to project successfully", move || {
        let user = By::pick(
            b.user_id.map(By::Id),
            b.email.map(By::Name),
            "Either user_id or email is required",
        )?;
        projects::add_user(&s.path, &by_name(project), &user)
    })
    .await
}

async fn remove_user(
    State(s): State<ApiState>,
    UrlPath((project, user)): UrlPath<(String, String)>,
) -> Response {
    answer("User removed from project successfully", move || {
        projects::remove_user(&s.path, &by_name(project), &by_user(user))
    })
    .await
}

async fn remove_all_users(
    State(s): State<ApiState>,
    UrlPath(project): UrlPath<String>,
) -> Response {
    answer("All users removed from project successfully", move || {
        projects::remove_all_users(&s.path, &by_name(project))
    })
    .await
}

#[derive(Deserialize)]
struct ExportBody {
    output_file: PathBuf,
}

async fn export(
    State(s): State<ApiState>,
    UrlPath(project): UrlPath<String>,
    Body(b): Body<ExportBody>,
) -> Response {
    answer("Project exported successfully", move || {
        projects::export(&s.path, &by_name(project), &b.output_file)
    })
    .await
}

#[derive(Deserialize)]
struct SearchBody {
    search_term: String,
}

async fn search(State(s): State<ApiState>, Body(b): Body<SearchBody>) -> Response {
    answer("Search completed successfully", move || {
        projects::search(&s.path, &b.search_term)
    })
    .await
}

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/projects", get(list).post(create))
        .route("/api/v1/projects/search", post(search))
        .route("/api/v1/projects/{project}", get(get_one).delete(delete))
        .route(
            "/api/v1/projects/{project}/assign-config",
            post(assign_config),
        )
        .route(
            "/api/v1/projects/{project}/unassign-config",
            post(unassign_config),
        )
        .route("/api/v1/projects/{project}/config", get(get_config))
        .route(
            "/api/v1/projects/{project}/users",
            get(list_users).post(add_user).delete(remove_all_users),
        )
        .route(
            "/api/v1/projects/{project}/users/{user}",
            axum::routing::delete(remove_user),
        )
        .route("/api/v1/projects/{project}/export", post(export))
}
