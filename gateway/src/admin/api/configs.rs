//! `/api/v1/configs...` (mcp_configs, their servers and guardrail policies) and
//! `/api/v1/settings/...` (the Enkrypt API key, telemetry): see [`crate::admin::configs`] and
//! [`crate::admin::servers`]. A config in the URL is found by name, else by id.

use std::path::PathBuf;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{answer, by_name, fail, from_admin, ok, ApiState, Body};
use crate::admin::servers::{self, NewServer, PolicyArg, ServerUpdate};
use crate::admin::{configs, AdminError};

async fn list(State(s): State<ApiState>) -> Response {
    answer("Configurations retrieved successfully", move || {
        configs::list(&s.path)
    })
    .await
}

#[derive(Deserialize)]
struct CreateBody {
    config_name: String,
}

async fn create(State(s): State<ApiState>, Body(b): Body<CreateBody>) -> Response {
    answer("Configuration created successfully", move || {
        let mut v = configs::add(&s.path, &b.config_name)?;
        // The reference's names beside ours.
        if let Some(o) = v.as_object_mut() {
            let id = o.get("mcp_config_id").cloned().unwrap_or(Value::Null);
            o.insert("config_id".into(), id);
            o.insert("config_name".into(), json!(b.config_name));
        }
        Ok(v)
    })
    .await
}

#[derive(Deserialize)]
struct CopyBody {
    source_config: String,
    target_config: String,
}

async fn copy(State(s): State<ApiState>, Body(b): Body<CopyBody>) -> Response {
    answer("Configuration copied successfully", move || {
        configs::copy(&s.path, &b.source_config, &b.target_config)
    })
    .await
}

#[derive(Deserialize)]
struct RenameBody {
    new_name: String,
}

async fn rename(
    State(s): State<ApiState>,
    UrlPath(config): UrlPath<String>,
    Body(b): Body<RenameBody>,
) -> Response {
    answer("Configuration renamed successfully", move || {
        configs::rename(&s.path, &by_name(config), &b.new_name)
    })
    .await
}

async fn get_one(State(s): State<ApiState>, UrlPath(config): UrlPath<String>) -> Response {
    answer("Configuration retrieved successfully", move || {
        configs::get(&s.path, &by_name(config))
    })
    .await
}

async fn delete(State(s): State<ApiState>, UrlPath(config): UrlPath<String>) -> Response {
    answer("Configuration deleted successfully", move || {
        configs::remove(&s.path, &by_name(config))
    })
    .await
}

async fn projects(State(s): State<ApiState>, UrlPath(config): UrlPath<String>) -> Response {
    answer("Projects retrieved successfully", move || {
        configs::list_projects(&s.path, &by_name(config))
    })
    .await
}

/// `POST /configs/{config}/validate`: 200 when the gateway would accept it, else 400 naming
/// every problem (as the reference answers 400 for an invalid config).
async fn validate(State(s): State<ApiState>, UrlPath(config): UrlPath<String>) -> Response {
    let path = s.path.clone();
    let r =
        tokio::task::spawn_blocking(move || configs::validate(&path, Some(&by_name(config)))).await;
    match r {
        Ok(Ok(v)) if v["valid"] == Value::Bool(true) => ok("Configuration is valid", v),
        Ok(Ok(v)) => {
            let issues: Vec<&str> = v["issues"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            fail(
                StatusCode::BAD_REQUEST,
                format!(
                    "Configuration validation failed: {}",
                    if issues.is_empty() {
                        "invalid".to_string()
                    } else {
                        issues.join("; ")
                    }
                ),
            )
        }
        Ok(Err(e)) => from_admin(e),
        Err(_) => fail(StatusCode::INTERNAL_SERVER_ERROR, "the operation failed"),
    }
}

#[derive(Deserialize)]
struct ExportBody {
    output_file: PathBuf,
}

async fn export(
    State(s): State<ApiState>,
    UrlPath(config): UrlPath<String>,
    Body(b): Body<ExportBody>,
) -> Response {
    answer("Configuration exported successfully", move || {
        configs::export(&s.path, &by_name(config), &b.output_file)
    })
    .await
}

#[derive(Deserialize)]
struct ImportBody {
    input_file: PathBuf,
    config_name: String,
}

async fn import(State(s): State<ApiState>, Body(b): Body<ImportBody>) -> Response {
    answer("Configuration imported successfully", move || {
        configs::import(&s.path, &b.input_file, &b.config_name)
    })
    .await
}

#[derive(Deserialize)]
struct SearchBody {
    search_term: String,
}

async fn search(State(s): State<ApiState>, Body(b): Body<SearchBody>) -> Response {
    answer("Search completed successfully", move || {
        configs::search(&s.path, &b.search_term)
    })
    .await
}

async fn list_servers(State(s): State<ApiState>, UrlPath(config): UrlPath<String>) -> Response {
    answer("Servers retrieved successfully", move || {
        servers::list(&s.path, &by_name(config))
    })
    .await
}

async fn get_server(
    State(s): State<ApiState>,
    UrlPath((config, server)): UrlPath<(String, String)>,
) -> Response {
    answer("Server details retrieved successfully", move || {
        servers::get(&s.path, &by_name(config), &server)
    })
    .await
}

/// A JSON value given in a body, as the JSON text the library's operations parse (null: not
/// given).
fn text(v: Option<Value>) -> Option<String> {
    v.filter(|v| !v.is_null()).map(|v| v.to_string())
}

/// The reference's `args` list as the library's comma-separated text. An argument holding a
/// comma cannot be carried that way and is refused rather than split.
fn args_text(args: Option<Vec<String>>) -> Result<Option<String>, AdminError> {
    let Some(args) = args.filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    if args.iter().any(|a| a.contains(',')) {
        return Err(AdminError::Invalid(
            "args: an argument containing a comma is not supported".into(),
        ));
    }
    Ok(Some(args.join(",")))
}

/// This gateway has no sandbox runtime: a sandbox setting is refused, not silently dropped.
fn no_sandbox(sandbox: &Option<Value>) -> Result<(), AdminError> {
    match sandbox {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(o)) if o.is_empty() => Ok(()),
        Some(_) => Err(AdminError::Invalid(
            "sandbox: not supported by this gateway".into(),
        )),
    }
}

/// The reference's `ServerAddRequest`, plus the command line's remote-server fields
/// (`server_url`, `transport`, `type`, `headers`, `denied_tools`).
#[derive(Deserialize)]
struct AddServerBody {
    server_name: String,
    #[serde(default)]
    server_command: Option<String>,
    #[serde(default)]
    args: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Value>,
    #[serde(default)]
    tools: Option<Value>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    input_guardrails_config: Option<Value>,
    #[serde(default)]
    output_guardrails_config: Option<Value>,
    #[serde(default)]
    sandbox: Option<Value>,
    #[serde(default)]
    server_url: Option<String>,
    #[serde(default)]
    transport: Option<String>,
    #[serde(default, rename = "type")]
    server_type: Option<String>,
    #[serde(default)]
    headers: Option<Value>,
    #[serde(default)]
    denied_tools: Option<Value>,
}

async fn add_server(
    State(s): State<ApiState>,
    UrlPath(config): UrlPath<String>,
    Body(b): Body<AddServerBody>,
) -> Response {
    answer("Server added successfully", move || {
        no_sandbox(&b.sandbox)?;
        let new = NewServer {
            name: b.server_name,
            command: b.server_command,
            args: args_text(b.args)?,
            env: text(b.env),
            url: b.server_url,
            transport: b.transport,
            server_type: b.server_type,
            headers: text(b.headers),
            tools: text(b.tools),
            denied_tools: text(b.denied_tools),
            description: b.description.unwrap_or_default(),
            input_guardrails: text(b.input_guardrails_config),
            output_guardrails: text(b.output_guardrails_config),
        };
        servers::add(&s.path, &by_name(config), &new)
    })
    .await
}

/// The reference's `ServerUpdateRequest`.
#[derive(Deserialize)]
struct UpdateServerBody {
    #[serde(default)]
    server_command: Option<String>,
    #[serde(default)]
    args: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Value>,
    #[serde(default)]
    tools: Option<Value>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    sandbox: Option<Value>,
    #[serde(default)]
    input_guardrails_config: Option<Value>,
    #[serde(default)]
    output_guardrails_config: Option<Value>,
}

/// A policy given inline (the body's object), as the library takes it.
fn inline_policy(v: Option<Value>) -> PolicyArg {
    PolicyArg {
        file: None,
        json: text(v),
    }
}

async fn update_server(
    State(s): State<ApiState>,
    UrlPath((config, server)): UrlPath<(String, String)>,
    Body(b): Body<UpdateServerBody>,
) -> Response {
    answer("Server updated successfully", move || {
        no_sandbox(&b.sandbox)?;
        let by = by_name(config);
        let u = ServerUpdate {
            command: b.server_command,
            args: args_text(b.args)?,
            env: text(b.env),
            tools: text(b.tools),
            description: b.description,
        };
        let mut v = servers::update(&s.path, &by, &server, &u)?;
        // The policies, when given, as `update-server-guardrails` sets them.
        let input = inline_policy(b.input_guardrails_config);
        let output = inline_policy(b.output_guardrails_config);
        if input.json.is_some() || output.json.is_some() {
            let g = servers::update_guardrails(
                &s.path,
                &by,
                &server,
                Some((&input, "input_guardrails_config")),
                Some((&output, "output_guardrails_config")),
            )?;
            if let (Some(list), Some(sides)) = (
                v.get_mut("updated").and_then(Value::as_array_mut),
                g["updated"].as_array(),
            ) {
                for side in sides.iter().filter_map(Value::as_str) {
                    list.push(json!(format!("{side}_guardrails_config")));
                }
            }
        }
        Ok(v)
    })
    .await
}

async fn delete_server(
    State(s): State<ApiState>,
    UrlPath((config, server)): UrlPath<(String, String)>,
) -> Response {
    answer("Server removed successfully", move || {
        servers::remove(&s.path, &by_name(config), &server)
    })
    .await
}

async fn delete_all_servers(
    State(s): State<ApiState>,
    UrlPath(config): UrlPath<String>,
) -> Response {
    answer("All servers removed successfully", move || {
        servers::remove_all(&s.path, &by_name(config))
    })
    .await
}

/// The reference's `GuardrailsUpdateRequest`: a policy file on the gateway's machine, or the
/// policy itself.
#[derive(Deserialize)]
struct PolicyBody {
    #[serde(default)]
    policy_file: Option<PathBuf>,
    #[serde(default)]
    policy: Option<Value>,
}

impl PolicyBody {
    fn arg(self) -> PolicyArg {
        PolicyArg {
            file: self.policy_file,
            json: text(self.policy),
        }
    }
}

async fn input_guardrails(
    State(s): State<ApiState>,
    UrlPath((config, server)): UrlPath<(String, String)>,
    Body(b): Body<PolicyBody>,
) -> Response {
    answer("Input guardrails updated successfully", move || {
        let p = b.arg();
        servers::update_guardrails(
            &s.path,
            &by_name(config),
            &server,
            Some((&p, "policy")),
            None,
        )
    })
    .await
}

async fn output_guardrails(
    State(s): State<ApiState>,
    UrlPath((config, server)): UrlPath<(String, String)>,
    Body(b): Body<PolicyBody>,
) -> Response {
    answer("Output guardrails updated successfully", move || {
        let p = b.arg();
        servers::update_guardrails(
            &s.path,
            &by_name(config),
            &server,
            None,
            Some((&p, "policy")),
        )
    })
    .await
}

/// The reference's `CombinedGuardrailsUpdateRequest`.
#[derive(Deserialize)]
struct BothPoliciesBody {
    #[serde(default)]
    input_policy_file: Option<PathBuf>,
    #[serde(default)]
    input_policy: Option<Value>,
    #[serde(default)]
    output_policy_file: Option<PathBuf>,
    #[serde(default)]
    output_policy: Option<Value>,
}

async fn guardrails(
    State(s): State<ApiState>,
    UrlPath((config, server)): UrlPath<(String, String)>,
    Body(b): Body<BothPoliciesBody>,
) -> Response {
    answer("Guardrails updated successfully", move || {
        let i = PolicyArg {
            file: b.input_policy_file,
            json: text(b.input_policy),
        };
        let o = PolicyArg {
            file: b.output_policy_file,
            json: text(b.output_policy),
        };
        servers::update_guardrails(
            &s.path,
            &by_name(config),
            &server,
            Some((&i, "input_policy")),
            Some((&o, "output_policy")),
        )
    })
    .await
}

#[derive(Deserialize)]
struct EnkryptKeyBody {
    api_key: String,
}

async fn set_enkrypt_key(State(s): State<ApiState>, Body(b): Body<EnkryptKeyBody>) -> Response {
    answer("Enkrypt API key updated successfully", move || {
        configs::set_enkrypt_api_key(&s.path, &b.api_key)
    })
    .await
}

async fn get_enkrypt_key(State(s): State<ApiState>) -> Response {
    answer("Enkrypt API key retrieved successfully", move || {
        configs::get_enkrypt_api_key(&s.path)
    })
    .await
}

#[derive(Deserialize)]
struct TelemetryBody {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    insecure: Option<bool>,
}

async fn telemetry(State(s): State<ApiState>, Body(b): Body<TelemetryBody>) -> Response {
    if b.enabled.is_none() && b.url.is_none() && b.insecure.is_none() {
        return fail(
            StatusCode::BAD_REQUEST,
            "At least one option (enabled, url, or insecure) must be provided",
        );
    }
    answer("Telemetry configuration updated successfully", move || {
        configs::configure_telemetry(&s.path, b.enabled, b.url.as_deref(), b.insecure)
    })
    .await
}

pub(super) fn routes() -> Router<ApiState> {
    let server = "/api/v1/configs/{config}/servers/{server}";
    Router::new()
        .route("/api/v1/configs", get(list).post(create))
        .route("/api/v1/configs/copy", post(copy))
        .route("/api/v1/configs/import", post(import))
        .route("/api/v1/configs/search", post(search))
        .route("/api/v1/configs/{config}", get(get_one).delete(delete))
        .route("/api/v1/configs/{config}/rename", put(rename))
        .route("/api/v1/configs/{config}/projects", get(projects))
        .route("/api/v1/configs/{config}/validate", post(validate))
        .route("/api/v1/configs/{config}/export", post(export))
        .route(
            "/api/v1/configs/{config}/servers",
            get(list_servers)
                .post(add_server)
                .delete(delete_all_servers),
        )
        .route(
            server,
            get(get_server).put(update_server).delete(delete_server),
        )
        .route(&format!("{server}/input-guardrails"), put(input_guardrails))
        .route(
            &format!("{server}/output-guardrails"),
            put(output_guardrails),
        )
        .route(&format!("{server}/guardrails"), put(guardrails))
        .route(
            "/api/v1/settings/enkrypt-api-key",
            put(set_enkrypt_key).get(get_enkrypt_key),
        )
        .route("/api/v1/settings/telemetry", put(telemetry))
}
