//! The operators' console (`dist/admin/`): served by the internal listener at `/admin/`
//! (its files without a token, the API still behind one), never by the public listener.

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;

const OPS: &str = "ops-secret-0123456789";
const LOADER: &str = "import init from '/admin/connector-admin-0123456789abcdef.js'; init();";
const SCRIPT: &str = "connector-admin-0123456789abcdef.js";

/// A dist/ with the configuration page's index and a console in admin/ (with a brotli copy
/// of its script, as the build writes).
fn dist(dir: &Path) {
    std::fs::create_dir_all(dir.join("admin")).unwrap();
    std::fs::write(
        dir.join("index.html"),
        "<html>the configuration page</html>",
    )
    .unwrap();
    std::fs::write(
        dir.join("admin/index.html"),
        format!("<html><script type=\"module\">{LOADER}</script></html>"),
    )
    .unwrap();
    std::fs::write(
        dir.join("admin").join(SCRIPT),
        "export default function init() {}",
    )
    .unwrap();
    std::fs::write(
        dir.join("admin").join(format!("{SCRIPT}.br")),
        b"brotli bytes",
    )
    .unwrap();
}

fn server(dir: &Path, tokens: bool) -> connector_test_kit::ServerProcess {
    let mut command = Command::new(env!("CARGO_BIN_EXE_connector-server"));
    command
        .args(["--port", "0", "--metrics-addr", "127.0.0.1:0", "--db"])
        .arg(dir.join("t.sqlite"))
        .arg("--dist")
        .arg(dir.join("dist"))
        .args(["--events-secret", crate::helpers::SECRET])
        .env_remove("CONNECTOR_ADMIN_TOKEN")
        .env_remove("CONNECTOR_ADMIN_TOKEN_FILE")
        .env("RUST_LOG", "error");
    if tokens {
        command.args(["--admin-token", &format!("ops:{OPS}")]);
    }
    if crate::helpers::CONNECTOR_HAS_ACCOUNTS {
        command
            .env(
                "CONNECTOR_ACCOUNT_CLIENT_SECRET",
                crate::helpers::ACCOUNT_SECRET,
            )
            .env("CONNECTOR_HASH_KEY", crate::helpers::HARNESS_KEY);
    }
    connector_test_kit::ServerProcess::spawn(command, false).unwrap_or_else(|e| panic!("{e:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_by_the_internal_listener_only() {
    let dir = tempfile::tempdir().unwrap();
    dist(&dir.path().join("dist"));
    let server = server(dir.path(), true);
    let internal = server
        .metrics
        .as_ref()
        .unwrap()
        .trim_end_matches("/metrics");
    let client = reqwest::Client::new();

    // Internal: the index without a token, with a policy allowing its loader by hash and no
    // framing, never cached; the hashed script cached for good, brotli when asked.
    let res = client
        .get(format!("{internal}/admin/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let hash = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(LOADER))
    };
    assert!(csp.contains(&format!("'sha256-{hash}'")), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(res.headers()["cache-control"], "no-cache");
    assert!(res.text().await.unwrap().contains(LOADER));
    let res = client
        .get(format!("{internal}/admin/{SCRIPT}"))
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-encoding"], "br");
    assert!(res.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    // The API is as it was: a token needed, also for a file the console does not have.
    for path in ["/admin/connections", "/admin/missing-0123456789abcdef.js"] {
        let res = client
            .get(format!("{internal}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let res = client
        .get(format!("{internal}/admin/connections"))
        .bearer_auth(OPS)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Writing to a file's path is the API's business (and refused without a token).
    let res = client
        .post(format!("{internal}/admin/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Public: none of the console's files, while the configuration page is there.
    let public = &server.url;
    let res = client.get(format!("{public}/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    for path in [
        "/admin/".to_string(),
        "/admin/index.html".to_string(),
        format!("/admin/{SCRIPT}"),
        "/admin".to_string(),
    ] {
        let res = client
            .get(format!("{public}{path}"))
            .header("accept-encoding", "br")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "public {path}");
        let body = res.text().await.unwrap();
        assert!(!body.contains(LOADER) && !body.contains("brotli"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_admin_api_the_console_is_not_served_either() {
    let dir = tempfile::tempdir().unwrap();
    dist(&dir.path().join("dist"));
    let server = server(dir.path(), false);
    let internal = server
        .metrics
        .as_ref()
        .unwrap()
        .trim_end_matches("/metrics");
    let res = reqwest::get(format!("{internal}/admin/")).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
