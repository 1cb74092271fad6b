//! `/api/v1/users...` (their keys are in [`super::keys`]): see [`crate::admin::users`]. A user
//! in the URL is found by id, else by email.

use axum::extract::{Path as UrlPath, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::{answer, by_user, ApiState, Body};
use crate::admin::users;

async fn list(State(s): State<ApiState>) -> Response {
    answer("Users retrieved successfully", move || users::list(&s.path)).await
}

#[derive(Deserialize)]
struct CreateBody {
    email: String,
}

async fn create(State(s): State<ApiState>, Body(b): Body<CreateBody>) -> Response {
    answer("User created successfully", move || {
        users::create(&s.path, &b.email)
    })
    .await
}

async fn get_one(State(s): State<ApiState>, UrlPath(user): UrlPath<String>) -> Response {
    answer("User retrieved successfully", move || {
        users::get(&s.path, &by_user(user))
    })
    .await
}

#[derive(Deserialize)]
struct UpdateBody {
    new_email: String,
}

async fn update(
    State(s): State<ApiState>,
    UrlPath(user): UrlPath<String>,
    Body(b): Body<UpdateBody>,
) -> Response {
    answer("User updated successfully", move || {
        users::update(&s.path, &by_user(user), &b.new_email)
    })
    .await
}

/// The reference's `UserDeleteRequest`; the body may be left out.
#[derive(Deserialize)]
struct DeleteBody {
    #[serde(default)]
    force: bool,
}

async fn delete(
    State(s): State<ApiState>,
    UrlPath(user): UrlPath<String>,
    Body(b): Body<DeleteBody>,
) -> Response {
    answer("User deleted successfully", move || {
        users::delete(&s.path, &by_user(user), b.force)
    })
    .await
}

async fn projects(State(s): State<ApiState>, UrlPath(user): UrlPath<String>) -> Response {
    answer("User projects retrieved successfully", move || {
        users::list_projects(&s.path, &by_user(user))
    })
    .await
}

#[derive(Deserialize)]
struct SearchBody {
    search_term: String,
}

async fn search(State(s): State<ApiState>, Body(b): Body<SearchBody>) -> Response {
    answer("Search completed successfully", move || {
        users::search(&s.path, &b.search_term)
    })
    .await
}

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/users", get(list).post(create))
        .route("/api/v1/users/search", post(search))
        .route(
            "/api/v1/users/{user}",
            get(get_one).put(update).delete(delete),
        )
        .route("/api/v1/users/{user}/projects", get(projects))
}
