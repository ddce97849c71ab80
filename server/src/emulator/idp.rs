//! Dev mode's identity provider: it signs the tokens the emulator answers
//! `authentication.getAuthToken` with, and serves its key as a JWKS, so development and
//! tests run the same validation code as production. The key is a fixed development key,
//! published in this repository: only a server started with `--dev-sso` trusts it.

use axum::extract::{Query, State};
use axum::Json;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::SsoSettings;
use crate::error::AppError;
use crate::state::AppState;

const KEY_ID: &str = "emulator-dev-1";
const PRIVATE_KEY: &str = include_str!("dev-idp-key.pem");
/// Another key, signing under the same key id: a token with a bad signature.
const IMPOSTOR_KEY: &str = include_str!("dev-idp-impostor-key.pem");
const MODULUS: &str = include_str!("dev-idp-n.txt");
/// The tenant an "other tenant" token comes from.
pub const OTHER_TENANT: &str = "00000000-0000-4000-8000-0000000000ff";

/// What a server with `--dev-sso` on `port` expects.
pub fn settings(port: u16) -> SsoSettings {
    let base = format!("http://127.0.0.1:{port}/emulator/idp");
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
    State(state): State<AppState>,
    Query(q): Query<TokenRequest>,
) -> Result<Json<Value>, AppError> {
    let port = state.webhooks.dev_inbox().unwrap_or_default();
    let s = settings(port);
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
