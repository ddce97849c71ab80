//! Dev mode's identity provider: it signs the tokens the emulator answers
//! `authentication.getAuthToken` with, and serves its key as a JWKS, so development and
//! tests run the same validation code as production. The key is a fixed development key,
//! published in this repository: only a server started with `--dev-sso` trusts it.

use std::sync::atomic::Ordering;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;
use serde_json::{json, Value};

use super::EmulatorState;
use crate::auth::SsoSettings;
use crate::delivery::FlowTokenSettings;
use crate::error::AppError;

const KEY_ID: &str = "emulator-dev-1";
const PRIVATE_KEY: &str = include_str!("dev-idp-key.pem");
/// Another key, signing under the same key id: a token with a bad signature.
pub(super) const IMPOSTOR_KEY: &str = include_str!("dev-idp-impostor-key.pem");
const MODULUS: &str = include_str!("dev-idp-n.txt");
/// The tenant an "other tenant" token comes from.
/// The `--dev-bot` bot's client secret at this identity provider (published in the code, so
/// only the emulator takes it).
pub const DEV_BOT_APP_SECRET: &str = "emulator-dev-bot-client-secret";

pub const OTHER_TENANT: &str = "00000000-0000-4000-8000-0000000000ff";
/// The Entra app a `--dev-sso` server asks flow tokens as, unless told another.
pub const DEV_FLOW_CLIENT_ID: &str = "00000000-0000-4000-8000-00000000f10e";
/// Its client secret: published here, so only the emulator's identity provider takes it.
pub const DEV_FLOW_CLIENT_SECRET: &str = "emulator-dev-flow-client-secret";
/// Seconds a flow token lasts unless a test asks for less (Entra's are about an hour).
const FLOW_TOKEN_LIFETIME: u64 = 3599;

/// Where the identity provider of a dev server on `port` is (the flow tokens' authority).
pub fn authority(port: u16) -> String {
    format!("http://127.0.0.1:{port}/emulator/idp")
}

/// What a server with `--dev-sso` on `port` expects.
pub fn settings(port: u16) -> SsoSettings {
    let base = authority(port);
    SsoSettings {
        audience: format!("api://127.0.0.1:{port}/emulator-connector"),
        issuer_pattern: format!("{base}/{{tid}}/v2.0"),
        jwks_url: format!("{base}/jwks"),
    }
}

pub async fn jwks() -> Json<Value> {
    Json(
        json!({ "keys": [{ "kty": "RSA", "use": "sig", "alg": "RS256", "kid": KEY_ID, "n": MODULUS.trim(), "e": "AQAB" }] }),
    )
}

#[derive(Deserialize)]
pub struct TokenRequest {
    tid: String,
    oid: String,
    #[serde(default)]
    variant: Option<String>,
}

/// A token for `tid`/`oid`; `variant` makes it expired, not yet valid, for another
/// audience, issuer or tenant, or badly signed.
pub async fn token(
    State(state): State<EmulatorState>,
    Query(q): Query<TokenRequest>,
) -> Result<Json<Value>, AppError> {
    let s = settings(state.port);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let variant = q.variant.as_deref().unwrap_or("valid");
    let tid = if variant == "other-tenant" {
        OTHER_TENANT.to_string()
    } else {
        q.tid
    };
    let mut claims = json!({
        "aud": s.audience,
        "iss": s.issuer_pattern.replace("{tid}", &tid),
        "tid": tid,
        "oid": q.oid,
        "name": "Megan Bowen",
        "iat": now, "nbf": now - 5, "exp": now + 3600,
    });
    match variant {
        "valid" | "other-tenant" | "bad-signature" => {}
        "expired" => {
            claims["nbf"] = json!(now - 7200);
            claims["exp"] = json!(now - 3600);
        }
        "not-yet-valid" => claims["nbf"] = json!(now + 3600),
        "wrong-audience" => claims["aud"] = json!("api://someone-else.example/other-app"),
        "wrong-issuer" => claims["iss"] = json!("https://login.evil.example/tenant/v2.0"),
        other => {
            return Err(AppError::BadRequest {
                code: "invalid_variant",
                message: format!("token variant '{other}' is unknown"),
                fields: vec![],
            })
        }
    }
    let pem = if variant == "bad-signature" {
        IMPOSTOR_KEY
    } else {
        PRIVATE_KEY
    };
    let key =
        EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| AppError::Internal(e.to_string()))?;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KEY_ID.into());
    let token = encode(&header, &claims, &key).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(Json(json!({ "token": token })))
}

#[derive(Deserialize)]
pub struct ClientCredentials {
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    scope: String,
}

/// An error as Entra's token endpoint writes it.
fn entra_error(status: StatusCode, error: &str, description: String) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description, "error_codes": [] })),
    )
        .into_response()
}

/// The service principal's object id in `tenant` (stable, as a real one is per tenant).
fn service_principal_id(tenant: &str, client_id: &str) -> String {
    use sha2::Digest;
    let h = hex::encode(sha2::Sha256::digest(format!("{tenant}/{client_id}")));
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// `POST /emulator/idp/{tenant}/oauth2/v2.0/token`: client credentials as Entra takes them,
/// checked against the flow app this server is configured with; the token's `aud` is the
/// scope without `/.default`, as Entra's is.
pub async fn client_credentials(
    State(state): State<EmulatorState>,
    Path(tenant): Path<String>,
    Form(f): Form<ClientCredentials>,
) -> Response {
    state.idp.0.token_requests.fetch_add(1, Ordering::Relaxed);
    if f.grant_type != "client_credentials" {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!(
                "AADSTS70003: The app requested an unsupported grant type '{}'.",
                f.grant_type
            ),
        );
    }
    // The apps registered here: the flow app, and with --dev-bot the bot's.
    let bot = state.bot_app_id.as_ref().map(|id| FlowTokenSettings {
        client_id: id.clone(),
        client_secret: DEV_BOT_APP_SECRET.into(),
        authority: String::new(),
        audience: String::new(),
    });
    let app = [state.flow_app.as_ref(), bot.as_ref()]
        .into_iter()
        .flatten()
        .find(|a| a.client_id == f.client_id)
        .or(state.flow_app.as_ref());
    let Some(app) = app else {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            format!("AADSTS700016: Application with identifier '{}' was not found (this dev server has no flow app configured).", f.client_id),
        );
    };
    if f.client_id != app.client_id {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            format!("AADSTS700016: Application with identifier '{}' was not found in the directory '{tenant}'.", f.client_id),
        );
    }
    if f.client_secret != app.client_secret {
        return entra_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            format!("AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.", f.client_id),
        );
    }
    let Some(audience) = f.scope.strip_suffix("/.default").filter(|a| !a.is_empty()) else {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!("AADSTS1002012: The provided value for scope '{}' is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.", f.scope),
        );
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let lifetime = match state.idp.0.lifetime.load(Ordering::Relaxed) {
        0 => FLOW_TOKEN_LIFETIME,
        n => n,
    };
    let mut claims = json!({
        "aud": audience,
        "iss": settings(state.port).issuer_pattern.replace("{tid}", &tenant),
        "tid": tenant,
        "appid": f.client_id, "azp": f.client_id, "idtyp": "app",
        "oid": service_principal_id(&tenant, &f.client_id),
        "iat": now, "nbf": now - 5, "exp": now + lifetime as i64,
    });
    // The bot's switch "tokens already expired": the answer says the token lasts, the token
    // itself ended ten minutes ago (a clock far off, or a token revoked), so the Bot
    // Connector service answers 401 to it.
    let is_bot = state.bot_app_id.as_deref() == Some(f.client_id.as_str());
    if is_bot
        && state
            .idp
            .0
            .bot_expired_tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    {
        claims["iat"] = json!(now - 4200);
        claims["nbf"] = json!(now - 4200);
        claims["exp"] = json!(now - 600);
    }
    let signed = EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes()).and_then(|key| {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KEY_ID.into());
        encode(&header, &claims, &key)
    });
    match signed {
        Ok(token) => Json(json!({ "token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token })).into_response(),
        Err(e) => entra_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", e.to_string()),
    }
}

/// The claims of a flow token signed by this identity provider for `audience`, if it is one
/// (signature, expiry, audience and issuer checked); `None` otherwise.
pub fn verified_flow_token(port: u16, token: &str, audience: &str) -> Option<Value> {
    let key = DecodingKey::from_rsa_components(MODULUS.trim(), "AQAB").ok()?;
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[audience]);
    let claims = decode::<Value>(token, &key, &v).ok()?.claims;
    let tid = claims["tid"].as_str()?;
    let issuer = settings(port).issuer_pattern.replace("{tid}", tid);
    (claims["iss"].as_str() == Some(issuer.as_str())).then_some(claims)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdpChange {
    #[serde(default)]
    token_lifetime: Option<u64>,
    /// How many of the next tokens for the `--dev-bot` bot are already expired (0: none).
    #[serde(default)]
    bot_expired_tokens: Option<u64>,
}

/// `GET /emulator/api/idp`: flow tokens asked for so far, and how long they last.
pub async fn stats(State(state): State<EmulatorState>) -> Json<Value> {
    let lifetime = match state.idp.0.lifetime.load(Ordering::Relaxed) {
        0 => FLOW_TOKEN_LIFETIME,
        n => n,
    };
    Json(json!({
        "tokenRequests": state.idp.0.token_requests.load(Ordering::Relaxed),
        "tokenLifetime": lifetime,
        "botExpiredTokens": state.idp.0.bot_expired_tokens.load(Ordering::Relaxed),
    }))
}

/// `PUT /emulator/api/idp` `{"tokenLifetime"?: seconds, "botExpiredTokens"?: n}`: how long
/// flow tokens last from now on; how many of the bot's next tokens are already expired.
pub async fn change(
    State(state): State<EmulatorState>,
    Json(c): Json<IdpChange>,
) -> Result<StatusCode, AppError> {
    if let Some(lifetime) = c.token_lifetime.filter(|l| !(1..=86_400).contains(l)) {
        return Err(AppError::BadRequest {
            code: "invalid_lifetime",
            message: format!("token lifetime {lifetime} s is not between 1 and 86400"),
            fields: vec![],
        });
    }
    if let Some(n) = c.bot_expired_tokens.filter(|n| *n > 1000) {
        return Err(AppError::BadRequest {
            code: "invalid_count",
            message: format!("botExpiredTokens {n} is not between 0 and 1000"),
            fields: vec![],
        });
    }
    if c.token_lifetime.is_none() && c.bot_expired_tokens.is_none() {
        return Err(AppError::BadRequest {
            code: "invalid_change",
            message: "name tokenLifetime or botExpiredTokens".into(),
            fields: vec![],
        });
    }
    if let Some(lifetime) = c.token_lifetime {
        state.idp.0.lifetime.store(lifetime, Ordering::Relaxed);
    }
    if let Some(n) = c.bot_expired_tokens {
        state.idp.0.bot_expired_tokens.store(n, Ordering::Relaxed);
    }
    Ok(StatusCode::NO_CONTENT)
}
