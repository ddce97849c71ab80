//! The built page: hashed assets cached for a year (a miss not at all), `index.html` and
//! `config.json` never cached, the page's Content-Security-Policy on every answer, and the
//! build's precompressed `.br`/`.gz` files by `Accept-Encoding`.

use std::path::Path;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::services::ServeDir;

use connector_settings::hosting::FRAME_ANCESTORS;

use crate::state::AppState;

pub fn router(dist: &Path) -> Router<AppState> {
    if dist.join("index.html").exists() {
        // ServeDir picks `name.br`, else `name.gz`, else `name` by the request's
        // Accept-Encoding (brotli first at equal q), with the original's Content-Type (so
        // `application/wasm` streams into compilation); it does not say that the answer
        // varies, so caches are told here.
        let files = ServeDir::new(dist).precompressed_br().precompressed_gzip();
        Router::new()
            .fallback_service(files)
            .layer(axum::middleware::map_response(vary_on_encoding))
    } else {
        let shown = dist.display().to_string();
        Router::new().fallback(move || async move {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the page is not built: no {shown}/index.html; run `cargo xtask run`"),
            )
        })
    }
}

/// `/config.json` of the page this server serves, with `"bot": true`: a server that posts as
/// the app's bot says so to its own page (a page on a CDN gets it from `cargo xtask dist
/// --bot`). Read on each request, as the file is, so an edit of `dist/config.json` shows.
pub fn config_with_bot(dist: &Path) -> Router<AppState> {
    let file = dist.join("config.json");
    Router::new().route(
        "/config.json",
        axum::routing::get(move || {
            let file = file.clone();
            async move { page_config_with_bot(&file).await }
        }),
    )
}

async fn page_config_with_bot(file: &Path) -> Response {
    let text = match tokio::fs::read_to_string(file).await {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return (StatusCode::NOT_FOUND, format!("no {}", file.display())).into_response()
        }
        Err(e) => {
            tracing::error!(file = %file.display(), error = %e, "cannot read the page's config.json");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read {}: {e}", file.display()),
            )
                .into_response();
        }
    };
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(mut config)) => {
            config.insert("bot".into(), serde_json::Value::Bool(true));
            axum::Json(config).into_response()
        }
        _ => {
            tracing::error!(file = %file.display(), "the page's config.json is not a JSON object");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{} is not a JSON object", file.display()),
            )
                .into_response()
        }
    }
}

async fn vary_on_encoding(mut res: Response) -> Response {
    res.headers_mut()
        .append(header::VARY, HeaderValue::from_static("accept-encoding"));
    res
}

/// The policy for the page: the `/*` Content-Security-Policy of `dist/_headers` (written at
/// build time with the hashes of the page's inline loader), else `frame-ancestors` alone.
/// In dev mode the server's own origin may frame the page too (the emulator).
pub fn page_policy(dist: &Path, dev: bool) -> anyhow::Result<HeaderValue> {
    let from_file = std::fs::read_to_string(dist.join("_headers"))
        .ok()
        .and_then(|text| {
            let mut in_all = false;
            for line in text.lines() {
                if !line.starts_with(' ') {
                    in_all = line.trim() == "/*";
                } else if in_all {
                    if let Some(v) = line.trim().strip_prefix("Content-Security-Policy:") {
                        return Some(v.trim().to_string());
                    }
                }
            }
            None
        });
    let policy = from_file.unwrap_or_else(|| format!("frame-ancestors {FRAME_ANCESTORS}"));
    let policy = if dev {
        policy.replacen("frame-ancestors ", "frame-ancestors 'self' ", 1)
    } else {
        policy
    };
    HeaderValue::from_str(&policy).map_err(|_| {
        anyhow::anyhow!(
            "the Content-Security-Policy of {} is not a header value (only visible ASCII characters are)",
            dist.join("_headers").display()
        )
    })
}

/// Adds the security and cache headers. A route that set a policy or a caching of its own
/// (the dev-mode emulator's) keeps it.
pub async fn headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let no_store = path.starts_with("/api/");
    let hashed = is_hashed(path);
    let mut res = next.run(req).await;
    let status = res.status();
    let h = res.headers_mut();
    let own_caching = h.contains_key(header::CACHE_CONTROL);
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, state.page_policy.clone());
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    if no_store {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    } else if own_caching {
        // Said by the route itself.
    } else if hashed && (status.is_success() || status == StatusCode::NOT_MODIFIED) {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
    } else if status.is_client_error() || status.is_server_error() {
        // A CDN must not keep a miss: during a deploy the asset may appear a moment later.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    } else {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    res
}

/// Trunk names assets `name-<16 hex>.ext` (and `name-<hash>_bg.wasm`).
fn is_hashed(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or("");
    let stem = file
        .rsplit_once('.')
        .map_or(file, |(stem, _)| stem)
        .trim_end_matches("_bg");
    stem.rsplit_once('-')
        .is_some_and(|(_, h)| h.len() >= 12 && h.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A plain-text 404 for unknown `/api` paths, in the API's JSON shape.
pub async fn api_not_found() -> impl IntoResponse {
    crate::error::AppError::NotFound("no such api route".into())
}

/// `/admin/…` on the public listener: the admin API and page are served only on the
/// internal one, so here they do not exist (not even a built `dist/admin/`).
pub async fn admin_not_here() -> impl IntoResponse {
    crate::error::AppError::NotFound("no such page".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashed_asset_names_are_recognised() {
        assert!(super::is_hashed(
            "/teams-connector-2fcbe94a16a2bb27_bg.wasm"
        ));
        assert!(super::is_hashed("/main-cdc294d455620e5d.css"));
        assert!(super::is_hashed("/teams-js-dece2f4f31c1958e.js"));
        assert!(!super::is_hashed("/index.html"));
        assert!(!super::is_hashed("/config.json"));
    }

    #[test]
    fn the_page_policy_comes_from_headers_and_a_bad_one_is_named() {
        let dist = tempfile::tempdir().unwrap();
        let policy = super::page_policy(dist.path(), false).unwrap();
        assert!(policy.to_str().unwrap().starts_with("frame-ancestors "));
        let headers = dist.path().join("_headers");
        std::fs::write(&headers, "/*\n  Content-Security-Policy: default-src 'self'; frame-ancestors https://teams.microsoft.com\n").unwrap();
        let dev = super::page_policy(dist.path(), true).unwrap();
        assert_eq!(
            dev,
            "default-src 'self'; frame-ancestors 'self' https://teams.microsoft.com"
        );
        std::fs::write(
            &headers,
            "/*\n  Content-Security-Policy: default-src 'self' \u{7f}\n",
        )
        .unwrap();
        let e = super::page_policy(dist.path(), false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("_headers") && e.contains("Content-Security-Policy"),
            "{e}"
        );
    }
}
