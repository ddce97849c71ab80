//! Dev mode only: the Teams host emulator's files, and a webhook inbox per webhook that
//! answers like a connector webhook (200 `1`) or, for a Workflows trigger path, like a
//! Workflows trigger (202 after its schema check, or one of its refusals), and keeps what it
//! received, for people and tests.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use connector_settings::webhook::{kind_of_inbox_path, WebhookKind, DEV_INBOX_PATH};
use connector_settings::CONNECTOR;
use serde::Deserialize;
use serde_json::{json, Value};
use tower_http::services::ServeDir;

use crate::delivery::FlowTokenSettings;
use crate::error::AppError;

/// What Teams answers a throttled connector webhook with: HTTP 200 and this text.
pub const THROTTLED_BODY: &str =
    "Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef.0..";

/// The emulator's paths whose rest is a webhook URL's secret part (the inboxes and their
/// API): the one fact of the emulator the production layers know, so request spans show
/// only these prefixes.
pub const SECRET_PATHS: [&str; 4] = [
    DEV_INBOX_PATH,
    "/emulator/api/inbox/",
    "/emulator/api/inbox-mode/",
    "/emulator/api/inbox-tenant/",
];

/// Received cards kept per inbox; older ones are dropped.
const KEEP: usize = 500;

pub mod botframework;
mod flow_auth;
pub mod idp;
mod inboxes;

use inboxes::{Idp, Inboxes, Mode};

/// What the emulator's routes reach, apart from the application's state: its inboxes and
/// identity provider, and the few facts of this server it needs to imitate Teams and Entra.
#[derive(Clone)]
pub struct EmulatorState(Arc<Wing>);

pub struct Wing {
    inboxes: Inboxes,
    idp: Idp,
    /// This server's port: its own inbox and its identity provider's issuer are on it.
    port: u16,
    /// Another local server's inbox this server takes webhooks of too (`--dev-inbox-origin`).
    inbox_origin: Option<String>,
    /// Whether the page signs in against the identity provider (`--dev-sso`).
    sso: bool,
    /// The flow app this server asks flow tokens as, when configured.
    flow_app: Option<FlowTokenSettings>,
    /// With --dev-bot: the bot's app id, whose activities the emulator signs.
    bot_app_id: Option<String>,
    /// The emulated Bot Connector service's conversations.
    conversations: botframework::Conversations,
}

impl EmulatorState {
    pub fn new(
        port: u16,
        inbox_origin: Option<&str>,
        sso: bool,
        flow_app: Option<FlowTokenSettings>,
        bot_app_id: Option<String>,
    ) -> EmulatorState {
        EmulatorState(Arc::new(Wing {
            inboxes: Inboxes::default(),
            idp: Idp::default(),
            port,
            inbox_origin: inbox_origin.map(str::to_string),
            sso,
            flow_app,
            bot_app_id,
            conversations: Default::default(),
        }))
    }
}

impl std::ops::Deref for EmulatorState {
    type Target = Wing;

    fn deref(&self) -> &Wing {
        &self.0
    }
}

/// The emulator's routes with their own state, to be merged into the application's router
/// in dev mode; and the page's `config.json`, which in dev mode names the emulator's inboxes.
pub fn router<S: Clone + Send + Sync + 'static>(dir: &Path, state: EmulatorState) -> Router<S> {
    let page_config = page_config(&state);
    Router::new()
        .route("/emulator/idp/jwks", get(idp::jwks))
        .route("/emulator/idp/token", get(idp::token))
        .route(
            "/emulator/idp/{tenant}/oauth2/v2.0/token",
            post(idp::client_credentials),
        )
        .route("/emulator/api/idp", get(idp::stats).put(idp::change))
        .route(
            "/emulator/botframework/v1/.well-known/openidconfiguration",
            get(botframework::metadata),
        )
        .route(
            "/emulator/botframework/v1/.well-known/keys",
            get(botframework::keys),
        )
        .route("/emulator/api/bot", get(botframework::info))
        .route("/emulator/api/bot/activity", post(botframework::send))
        .route("/emulator/smba/{*rest}", post(botframework::post_activity))
        .route(
            "/emulator/api/bot/conversations/{*id}",
            get(botframework::conversation).put(botframework::set_conversation_mode),
        )
        .route(
            "/emulator/api/inbox-tenant/{*path}",
            put(flow_auth::set_tenant),
        )
        .route("/emulator/api/connector", get(connector))
        .route(
            "/emulator/webhook/{*path}",
            post(receive).layer(DefaultBodyLimit::max(64 * 1024)),
        )
        .route("/emulator/api/inbox/{*path}", get(inbox))
        // Microsoft's Adaptive Cards renderer, from the npm package `cargo xtask` installs.
        .route_service(
            "/emulator/vendor/adaptivecards.js",
            tower_http::services::ServeFile::new(
                dir.join("../node_modules/adaptivecards/dist/adaptivecards.min.js"),
            ),
        )
        .route("/emulator/api/inbox-mode/{*path}", put(set_mode))
        .nest_service("/emulator", ServeDir::new(dir))
        .layer(axum::middleware::from_fn(headers))
        // The built page's config.json knows nothing of dev mode; here it names the
        // emulator's inboxes (which the tab's form then takes as Workflows webhooks) and,
        // with --dev-sso, single sign-on.
        .route(
            "/config.json",
            get(move || async move { Json(page_config) }),
        )
        .with_state(state)
}

/// The emulator hosts the page in a frame and is itself framed by nobody.
const EMULATOR_POLICY: &str = "default-src 'self'; img-src 'self' data: https:; frame-src 'self' http://127.0.0.1:* http://localhost:* https:; frame-ancestors 'self'; base-uri 'none'; form-action 'none'; object-src 'none'";

/// The emulator's own policy, and its API and inboxes never cached (the page's headers
/// layer keeps a policy and a caching a route set itself).
async fn headers(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let live = path.starts_with("/emulator/api/") || path.starts_with(DEV_INBOX_PATH);
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(EMULATOR_POLICY),
    );
    if live {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// The page's `config.json` in dev mode: the same origin for the API, single sign-on when
/// the emulator's identity provider is on, and the URL prefixes of the inboxes this server
/// takes as webhooks (`devInboxes`), which only a dev-mode server ever names; `flowTokens`
/// when it posts to flows that take only signed-in callers; `bot` when it posts as the
/// app's bot (`--dev-bot`), so a tab's configuration asks whether the app is in its team.
fn page_config(state: &EmulatorState) -> Value {
    let mut inboxes = Vec::new();
    for host in ["127.0.0.1", "localhost"] {
        inboxes.push(format!("http://{host}:{}{DEV_INBOX_PATH}", state.port));
    }
    if let Some(origin) = &state.inbox_origin {
        inboxes.push(format!("{origin}{DEV_INBOX_PATH}"));
    }
    json!({ "apiBaseUrl": "", "validMessageOrigins": [], "sso": state.sso, "devInboxes": inboxes,
            "flowTokens": state.flow_app.is_some(), "bot": state.bot_app_id.is_some() })
}

async fn connector() -> Json<Value> {
    Json(json!({
        "name": CONNECTOR.name,
        "shortDescription": CONNECTOR.short_description,
        "accentColor": CONNECTOR.accent_color,
    }))
}

/// The inbox a webhook path posts to. Every form of one connector webhook (the legacy
/// `webhook/…`, `webhookb2/…`, with or without a trailing `V2…` segment) reaches the same
/// channel in Teams, so they share one inbox here.
fn inbox_key(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["webhook" | "webhookb2", group, "IncomingWebhook", id, user, rest @ ..]
            if rest.len() <= 1 =>
        {
            format!("webhookb2/{group}/IncomingWebhook/{id}/{user}")
        }
        _ => path.to_string(),
    }
}

/// A Workflows trigger path (`powerautomate/automations/direct/…`, or the retired
/// `workflows/<id>/triggers/…`).
fn is_workflows(path: &str) -> bool {
    kind_of_inbox_path(path).is_workflows()
}

/// The workflow id in a Workflows trigger path (`…/workflows/<id>/triggers/…`).
fn workflow_id(path: &str) -> &str {
    path.split('/')
        .skip_while(|s| *s != "workflows")
        .nth(1)
        .unwrap_or("")
}

/// How an inbox answers one post: status, whether `Retry-After: 1` goes with it, the body.
struct Reply {
    status: StatusCode,
    retry_after: bool,
    body: ReplyBody,
}

enum ReplyBody {
    Empty,
    Text(&'static str),
    Json(Value),
}

impl Reply {
    fn new(status: u16, body: ReplyBody) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).expect("a valid status"),
            retry_after: false,
            body,
        }
    }

    /// Whether the post is kept: taken, or worth trying again (a refusing webhook turns it
    /// away and nothing reaches the channel).
    fn keeps(&self) -> bool {
        self.status.is_success()
            || self.status.is_server_error()
            || self.status == StatusCode::TOO_MANY_REQUESTS
    }

    fn into_response(self) -> Response {
        let mut res = match self.body {
            ReplyBody::Empty => self.status.into_response(),
            ReplyBody::Text(t) => (self.status, t).into_response(),
            ReplyBody::Json(v) => (self.status, Json(v)).into_response(),
        };
        if self.retry_after {
            res.headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
        }
        res
    }
}

/// What an inbox in `mode` answers `body`, as the webhook `path` names would.
fn reply(mode: Mode, path: &str, body: &Value) -> Reply {
    use ReplyBody::{Empty, Json as JsonBody, Text};
    if kind_of_inbox_path(path) == WebhookKind::RetiredWorkflows
        && matches!(mode, Mode::Ok | Mode::Slow)
    {
        // Logic Apps trigger URLs stopped working on 2025-11-30 ("flows don't trigger");
        // what they answer since is not documented, so this answers as for an unknown flow.
        return Reply::new(
            404,
            JsonBody(json!({ "error": { "code": "WorkflowNotFound",
                "message": "this Logic Apps trigger URL no longer triggers a flow (retired on 2025-11-30)" } })),
        );
    }
    if is_workflows(path) {
        if let Some((status, error)) = inboxes::workflows_refusal(mode, workflow_id(path)) {
            let mut r = Reply::new(status, JsonBody(error));
            r.retry_after = status == 429;
            return r;
        }
        // Even a working trigger checks the body against its schema.
        if matches!(mode, Mode::Ok | Mode::Slow) {
            if let Some((status, error)) = inboxes::schema_problem(body) {
                return Reply::new(status, JsonBody(error));
            }
            // Workflows accept with 202 and no body.
            return Reply::new(202, Empty);
        }
    }
    match mode {
        Mode::Ok | Mode::Slow => Reply::new(200, Text("1")),
        Mode::Throttled => Reply::new(200, Text(THROTTLED_BODY)),
        Mode::Gone => Reply::new(410, Text("connector removed")),
        Mode::NotFound => Reply::new(404, Text("not found")),
        Mode::RateLimited => Reply {
            retry_after: true,
            ..Reply::new(429, Text("too many requests"))
        },
        Mode::Error => Reply::new(500, Text("internal server error")),
        // set_mode takes these for Workflows paths only; should one reach a connector path,
        // it answers as the trigger would.
        Mode::TriggerDisabled
        | Mode::Deleted
        | Mode::Dormant
        | Mode::Unauthorized
        | Mode::MismatchingClaims
        | Mode::SchemaMismatch => {
            let (status, error) = inboxes::workflows_refusal(mode, workflow_id(path))
                .expect("a Workflows mode refuses");
            Reply::new(status, JsonBody(error))
        }
    }
}

async fn receive(
    State(state): State<EmulatorState>,
    UrlPath(path): UrlPath<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match flow_auth::check(&state, &path, uri.query(), &headers) {
        Ok(caller) => caller,
        Err(refused) => return *refused,
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let parsed = serde_json::from_slice::<Value>(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
    let (mode, reply) = {
        let mut all = state.inboxes.0.lock().expect("inbox lock");
        let inbox = all.entry(inbox_key(&path)).or_default();
        let reply = reply(inbox.mode, &path, &parsed);
        inbox.received += 1;
        if reply.keeps() {
            inbox.messages.push(json!({
                "receivedAt": crate::clock::now_rfc3339(),
                // Which form of the webhook URL was posted to.
                "path": path,
                "headers": { "content-type": header("content-type"), "idempotency-key": header("idempotency-key") },
                "body": parsed,
                // The claims of the bearer token a flow for signed-in callers took.
                "caller": caller,
            }));
            if inbox.messages.len() > KEEP {
                inbox.messages.remove(0);
            }
        }
        (inbox.mode, reply)
    };
    if mode == Mode::Slow {
        tokio::time::sleep(Duration::from_secs(15)).await;
    }
    reply.into_response()
}

async fn inbox(State(state): State<EmulatorState>, UrlPath(path): UrlPath<String>) -> Json<Value> {
    let all = state.inboxes.0.lock().expect("inbox lock");
    let (mode, messages, received) = all
        .get(&inbox_key(&path))
        .map_or((Mode::Ok, Vec::new(), 0), |i| {
            (i.mode, i.messages.clone(), i.received)
        });
    // The kind and the modes it answers with, for the emulator's switch.
    let workflows = is_workflows(&path);
    let modes: Vec<String> = Mode::offered(workflows)
        .into_iter()
        .map(Mode::name)
        .collect();
    Json(json!({
        "mode": mode, "workflows": workflows, "modes": modes, "messages": messages, "received": received,
    }))
}

#[derive(Deserialize)]
struct SetMode {
    mode: String,
}

async fn set_mode(
    State(state): State<EmulatorState>,
    UrlPath(path): UrlPath<String>,
    Json(body): Json<SetMode>,
) -> Result<StatusCode, AppError> {
    let invalid = |message: String| AppError::BadRequest {
        code: "invalid_mode",
        message,
        fields: vec![],
    };
    let mode: Mode = serde_json::from_value(Value::String(body.mode.clone())).map_err(|_| {
        let all: Vec<String> = Mode::ALL.into_iter().map(Mode::name).collect();
        invalid(format!(
            "mode '{}' is not one of {}",
            body.mode,
            all.join(", ")
        ))
    })?;
    if mode.workflows_only() && !is_workflows(&path) {
        let offered: Vec<String> = Mode::offered(false).into_iter().map(Mode::name).collect();
        return Err(invalid(format!(
            "mode '{}' is a Workflows trigger's answer; a connector webhook's inbox takes {}",
            body.mode,
            offered.join(", ")
        )));
    }
    state
        .inboxes
        .0
        .lock()
        .expect("inbox lock")
        .entry(inbox_key(&path))
        .or_default()
        .mode = mode;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_emulator_brings_its_own_policy_and_state_and_names_its_inboxes() {
        use tower::ServiceExt;
        let dir = tempfile::tempdir().unwrap();
        let state = EmulatorState::new(4321, Some("http://127.0.0.1:9999"), true, None, None);
        let app: Router = router(dir.path(), state);
        let get = |path: &str| {
            app.clone().oneshot(
                axum::http::Request::get(path)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
        };
        let inbox = get("/emulator/api/inbox/webhookb2/g@t/IncomingWebhook/a/u")
            .await
            .unwrap();
        assert_eq!(
            inbox.headers()[header::CONTENT_SECURITY_POLICY],
            EMULATOR_POLICY
        );
        assert_eq!(inbox.headers()[header::CACHE_CONTROL], "no-store");
        let files = get("/emulator/missing.html").await.unwrap();
        assert_eq!(
            files.headers()[header::CONTENT_SECURITY_POLICY],
            EMULATOR_POLICY
        );
        assert!(!files.headers().contains_key(header::CACHE_CONTROL));
        // The page's config.json gets the page's policy (from the application's layer).
        let config = get("/config.json").await.unwrap();
        assert!(!config
            .headers()
            .contains_key(header::CONTENT_SECURITY_POLICY));
        let body = axum::body::to_bytes(config.into_body(), 4096)
            .await
            .unwrap();
        let config: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            config["devInboxes"],
            json!([
                "http://127.0.0.1:4321/emulator/webhook/",
                "http://localhost:4321/emulator/webhook/",
                "http://127.0.0.1:9999/emulator/webhook/"
            ])
        );
        assert_eq!(
            (
                config["sso"].clone(),
                config["flowTokens"].clone(),
                config["bot"].clone()
            ),
            (json!(true), json!(false), json!(false))
        );
    }

    #[test]
    fn every_form_of_a_connector_webhook_shares_its_inbox() {
        let b2 = "webhookb2/g@t/IncomingWebhook/abc/u";
        assert_eq!(inbox_key(b2), b2);
        assert_eq!(inbox_key("webhook/g@t/IncomingWebhook/abc/u"), b2);
        assert_eq!(inbox_key("webhookb2/g@t/IncomingWebhook/abc/u/V2xyz"), b2);
        assert_eq!(
            inbox_key("webhookb2/g@t/IncomingWebhook/other/u"),
            "webhookb2/g@t/IncomingWebhook/other/u"
        );
        let flow = "workflows/abc/triggers/manual/paths/invoke";
        assert_eq!(inbox_key(flow), flow);
        assert!(is_workflows(flow) && !is_workflows(b2));
    }

    const FLOW: &str =
        "powerautomate/automations/direct/cu/07/workflows/abc/triggers/manual/paths/invoke";
    const HOOK: &str = "webhookb2/g@t/IncomingWebhook/abc/u";

    fn card() -> Value {
        json!({ "type": "message", "attachments": [{ "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null, "content": { "type": "AdaptiveCard", "body": [] } }] })
    }

    fn code(r: &Reply) -> Option<&str> {
        match &r.body {
            ReplyBody::Json(v) => v["error"]["code"].as_str(),
            _ => None,
        }
    }

    #[test]
    fn a_retired_logic_apps_path_triggers_nothing_any_more() {
        let retired = "workflows/abc/triggers/manual/paths/invoke";
        let r = reply(Mode::Ok, retired, &card());
        assert_eq!(
            (r.status.as_u16(), code(&r)),
            (404, Some("WorkflowNotFound"))
        );
        assert!(!r.keeps(), "nothing reaches the channel");
    }

    #[test]
    fn a_workflows_inbox_answers_each_mode_as_the_trigger_would() {
        assert_eq!(workflow_id(FLOW), "abc");
        let ok = reply(Mode::Ok, FLOW, &card());
        assert!(ok.status == StatusCode::ACCEPTED && matches!(ok.body, ReplyBody::Empty));
        assert!(ok.keeps());
        let cases = [
            (Mode::TriggerDisabled, 400, "WorkflowTriggerIsNotEnabled"),
            (Mode::Deleted, 400, "WorkflowTriggerIsNotEnabled"),
            (Mode::Dormant, 400, "WorkflowTriggerIsNotEnabled"),
            (Mode::NotFound, 404, "WorkflowNotFound"),
            (Mode::Unauthorized, 401, "DirectApiAuthorizationRequired"),
            (Mode::MismatchingClaims, 403, "MisMatchingOAuthClaims"),
            (Mode::SchemaMismatch, 400, "TriggerInputSchemaMismatch"),
        ];
        for (mode, status, want) in cases {
            let r = reply(mode, FLOW, &card());
            assert_eq!(
                (r.status.as_u16(), code(&r)),
                (status, Some(want)),
                "{mode:?}"
            );
            assert!(!r.keeps(), "{mode:?}: turned away");
        }
        let throttled = reply(Mode::Throttled, FLOW, &card());
        assert_eq!(code(&throttled), Some("WorkflowRequestsThrottled"));
        assert!(throttled.retry_after && throttled.keeps());
        // Even in ok mode, a body the trigger's schema rejects is refused.
        let mut bare = card();
        bare["attachments"][0]
            .as_object_mut()
            .unwrap()
            .remove("contentUrl");
        let r = reply(Mode::Ok, FLOW, &bare);
        assert_eq!(code(&r), Some("TriggerInputSchemaMismatch"));
    }

    #[test]
    fn a_connector_inbox_answers_as_before() {
        let r = |m| reply(m, HOOK, &json!({ "@type": "MessageCard" }));
        assert!(matches!(r(Mode::Ok).body, ReplyBody::Text("1")));
        assert_eq!(r(Mode::Ok).status, StatusCode::OK);
        assert!(matches!(
            r(Mode::Throttled).body,
            ReplyBody::Text(THROTTLED_BODY)
        ));
        assert_eq!(r(Mode::NotFound).status, StatusCode::NOT_FOUND);
        assert_eq!(
            code(&r(Mode::NotFound)),
            None,
            "plain text, not Workflows JSON"
        );
        assert_eq!(r(Mode::Gone).status, StatusCode::GONE);
        assert!(r(Mode::RateLimited).retry_after);
        assert!(!r(Mode::Gone).keeps() && r(Mode::Error).keeps());
    }
}
