//! The built page's precompressed files (`cargo xtask build` writes `.br` and `.gz` beside
//! each text and wasm file), served by `Accept-Encoding` over real HTTP.

use std::path::Path;

use reqwest::header::{HeaderMap, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use reqwest::StatusCode;

use crate::helpers::TestApp;

const WASM: &str = "teams-connector-0123456789abcdef_bg.wasm";
const GLUE: &str = "teams-connector-0123456789abcdef.js";

/// A dist/ whose compressed copies are told apart by their bytes (the server never decodes
/// them, so they need not be real brotli or gzip).
fn dist(dir: &Path) {
    let files: &[(&str, &[u8])] = &[
        ("index.html", b"<!doctype html><title>page</title>"),
        ("index.html.br", b"index-as-br"),
        ("index.html.gz", b"index-as-gz"),
        (WASM, b"\0asm\x01\0\0\0original"),
        (&format!("{WASM}.br"), b"wasm-as-br"),
        (&format!("{WASM}.gz"), b"wasm-as-gz"),
        (GLUE, b"export default function init() {}"),
        (&format!("{GLUE}.br"), b"glue-as-br"),
        (&format!("{GLUE}.gz"), b"glue-as-gz"),
        ("config.json", b"{\"apiBaseUrl\":\"\"}"),
    ];
    std::fs::create_dir_all(dir).unwrap();
    for (name, body) in files {
        std::fs::write(dir.join(name), body).unwrap();
    }
}

/// A production-mode server whose dist/ is [`dist`] (kept while the app lives).
async fn start() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    dist(&dir.path().join("dist"));
    TestApp::spawn_in(dir, false, |_| {}).await
}

/// GET `path` with `accept` as Accept-Encoding (none when `None`): status, headers, body.
async fn get(url: &str, path: &str, accept: Option<&str>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = reqwest::Client::new().get(format!("{url}{path}"));
    if let Some(a) = accept {
        req = req.header("accept-encoding", a);
    }
    let res = req.send().await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    (status, headers, res.bytes().await.unwrap().to_vec())
}

fn header(h: &HeaderMap, name: reqwest::header::HeaderName) -> Option<&str> {
    h.get(name).map(|v| v.to_str().unwrap())
}

fn varies_on_encoding(h: &HeaderMap) -> bool {
    h.get_all(VARY).iter().any(|v| {
        v.to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("accept-encoding")
    })
}

#[tokio::test]
async fn wasm_is_served_as_brotli_when_the_browser_accepts_it_and_keeps_its_content_type() {
    let app = start().await;
    let url = &app.url;
    let (status, h, body) = get(url, &format!("/{WASM}"), Some("gzip, deflate, br, zstd")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"wasm-as-br");
    assert_eq!(header(&h, CONTENT_ENCODING), Some("br"));
    // application/wasm, not the encoding's type: browsers compile it while it streams.
    assert_eq!(header(&h, CONTENT_TYPE), Some("application/wasm"));
    assert!(varies_on_encoding(&h), "{h:?}");
    assert_eq!(
        header(&h, CACHE_CONTROL),
        Some("public, max-age=31536000, immutable")
    );
}

#[tokio::test]
async fn gzip_is_served_when_brotli_is_not_accepted() {
    let app = start().await;
    let url = &app.url;
    let (_, h, body) = get(url, &format!("/{GLUE}"), Some("gzip")).await;
    assert_eq!(body, b"glue-as-gz");
    assert_eq!(header(&h, CONTENT_ENCODING), Some("gzip"));
    assert!(header(&h, CONTENT_TYPE).unwrap().contains("javascript"));
    assert!(varies_on_encoding(&h));
    // Refused by q=0, brotli is not chosen even though it is listed.
    let (_, h, body) = get(url, &format!("/{GLUE}"), Some("br;q=0, gzip")).await;
    assert_eq!(body, b"glue-as-gz");
    assert_eq!(header(&h, CONTENT_ENCODING), Some("gzip"));
}

#[tokio::test]
async fn the_original_is_served_without_accept_encoding_and_still_varies() {
    let app = start().await;
    let url = &app.url;
    let (_, h, body) = get(url, &format!("/{WASM}"), None).await;
    assert_eq!(body, b"\0asm\x01\0\0\0original");
    assert_eq!(header(&h, CONTENT_ENCODING), None);
    assert_eq!(header(&h, CONTENT_TYPE), Some("application/wasm"));
    assert!(
        varies_on_encoding(&h),
        "a cache must not hand this to a brotli client"
    );
    let (_, h, body) = get(url, &format!("/{WASM}"), Some("identity")).await;
    assert_eq!(body, b"\0asm\x01\0\0\0original");
    assert_eq!(header(&h, CONTENT_ENCODING), None);
}

#[tokio::test]
async fn the_page_itself_is_served_compressed_and_never_cached() {
    let app = start().await;
    let url = &app.url;
    for path in ["/", "/index.html"] {
        let (status, h, body) = get(url, path, Some("br, gzip")).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body, b"index-as-br", "{path}");
        assert_eq!(header(&h, CONTENT_ENCODING), Some("br"));
        assert!(header(&h, CONTENT_TYPE).unwrap().starts_with("text/html"));
        assert_eq!(header(&h, CACHE_CONTROL), Some("no-cache"));
        assert!(varies_on_encoding(&h));
    }
}

#[tokio::test]
async fn a_file_without_compressed_copies_is_served_as_it_is() {
    // config.json is edited per deployment after the build, so the build compresses it not.
    let app = start().await;
    let url = &app.url;
    let (status, h, body) = get(url, "/config.json", Some("br, gzip")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"{\"apiBaseUrl\":\"\"}");
    assert_eq!(header(&h, CONTENT_ENCODING), None);
    assert_eq!(header(&h, CONTENT_TYPE), Some("application/json"));
}
