//! The operators' console (`dist/admin/`, built from `admin/`): served beside the admin API
//! on the internal listener only, at `/admin/` and `/admin/<file>`, without a token (the page
//! asks for one and sends it with each API call). The public listener never serves it
//! (`routes::static_files::admin_not_here`). A path that is not one of the console's files
//! goes on to the admin API, whose names have no dot, behind its token check.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, Uri};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tower::ServiceExt as _;
use tower_http::services::ServeDir;

/// The console's files and the policy its answers carry.
struct Page {
    dir: PathBuf,
    policy: HeaderValue,
}

/// `api` with the console in `dir` in front of it, when `dir` holds a built console.
pub fn with_page(api: Router, dir: &Path) -> Router {
    let Ok(index) = std::fs::read_to_string(dir.join("index.html")) else {
        tracing::info!(dir = %dir.display(), "no operators' console built: /admin/ on the internal listener serves only the admin API");
        return api;
    };
    let policy = match HeaderValue::from_str(&policy(&index)) {
        Ok(p) => p,
        Err(_) => {
            tracing::warn!(dir = %dir.display(), "the console's index.html yields no header value for its policy: not served");
            return api;
        }
    };
    tracing::info!(dir = %dir.display(), "the operators' console is at /admin/ on the internal listener");
    let page = Arc::new(Page {
        dir: dir.to_path_buf(),
        policy,
    });
    api.layer(middleware::from_fn_with_state(page, serve))
}

/// The Content-Security-Policy of the console: its own origin only, its inline loader
/// script by hash, never framed.
pub fn policy(index_html: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let mut script = String::from("'self' 'wasm-unsafe-eval'");
    for body in inline_scripts(index_html) {
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body));
        script.push_str(&format!(" 'sha256-{hash}'"));
    }
    format!(
        "default-src 'none'; script-src {script}; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'"
    )
}

/// The bodies of the `<script>` elements without `src`.
fn inline_scripts(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let Some(open_end) = after.find('>') else {
            break;
        };
        let tag = &after[..open_end];
        let body_start = open_end + 1;
        let Some(close) = after[body_start..].find("</script>") else {
            break;
        };
        if !tag.contains(" src=") {
            out.push(&after[body_start..body_start + close]);
        }
        rest = &after[body_start + close..];
    }
    out
}

/// The console's file a path names: `/admin/` is its index; `/admin/<name>` a file of
/// its directory whose name has a dot (no sub-directories, nothing hidden).
fn file_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/admin/")?;
    if rest.is_empty() {
        return Some("index.html");
    }
    let plain = !rest.contains('/')
        && !rest.contains('\\')
        && !rest.starts_with('.')
        && rest.contains('.')
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    plain.then_some(rest)
}

async fn serve(State(page): State<Arc<Page>>, req: Request, next: Next) -> Response {
    let reading = req.method() == Method::GET || req.method() == Method::HEAD;
    let file = file_of(req.uri().path())
        .filter(|_| reading)
        .filter(|f| page.dir.join(f).is_file())
        .map(str::to_string);
    let Some(file) = file else {
        return next.run(req).await;
    };
    let (mut parts, body) = req.into_parts();
    parts.uri = Uri::builder()
        .path_and_query(format!("/{file}"))
        .build()
        .expect("a file name is a path");
    let files = ServeDir::new(&page.dir)
        .precompressed_br()
        .precompressed_gzip()
        .append_index_html_on_directories(false);
    let res = files
        .oneshot(Request::from_parts(parts, body))
        .await
        .unwrap_or_else(|e| match e {});
    let mut res = res.map(axum::body::Body::new);
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, page.policy.clone());
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    // Trunk's asset names carry their content's hash; the index names the current ones.
    let caching = if file == "index.html" {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(caching));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_consoles_own_files_are_named() {
        assert_eq!(file_of("/admin/"), Some("index.html"));
        assert_eq!(
            file_of("/admin/connector-admin-6e1659b90b9a27f_bg.wasm"),
            Some("connector-admin-6e1659b90b9a27f_bg.wasm")
        );
        for api in [
            "/admin",
            "/admin/connections",
            "/admin/connections/x.y",
            "/admin/../form.txt",
            "/admin/.hidden.txt",
            "/other/index.html",
        ] {
            assert_eq!(file_of(api), None, "{api}");
        }
    }

    #[test]
    fn the_policy_allows_the_inline_loader_by_hash_and_no_framing() {
        let html =
            "<html><script type=\"module\">init()</script><script src=\"x.js\"></script></html>";
        let p = policy(html);
        // echo -n 'init()' | openssl dgst -sha256 -binary | base64
        assert!(
            p.contains("'sha256-w4ujnOpjBoH2vcasx+reJRUwYivG8Q3afx/XevGJod8='"),
            "{p}"
        );
        assert_eq!(p.matches("'sha256-").count(), 1, "{p}");
        assert!(p.contains("frame-ancestors 'none'"), "{p}");
        assert!(p.contains("connect-src 'self'"), "{p}");
    }
}
