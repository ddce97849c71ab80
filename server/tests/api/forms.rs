//! Page and server from one form: a page built from another connector.toml is refused with
//! 409 `form_mismatch`, requests without the page's header pass, and the server does not
//! start on a dist of another form.

use connector_server::startup::Application;
use connector_settings::api::{FORM_FILE, FORM_HEADER};
use connector_settings::FORM;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{config, error_of, settings, TestApp};

const HOOK: &str =
    "https://contoso.webhook.office.com/webhookb2/0b4f@72f9/IncomingWebhook/8c2a9d/e3c1";
/// A fingerprint that is not this build's (FORM is never all zeros but for a hash of 0).
const OTHER: &str = "0000000000000000";

#[tokio::test]
async fn a_page_of_another_form_is_refused_with_409_naming_both_forms() {
    assert_ne!(FORM, OTHER);
    let app = TestApp::spawn().await;
    let body = json!({ "webhookUrl": HOOK, "settings": settings() });
    let res = app
        .client
        .put(format!("{}/api/connections/c1", app.url))
        .header(FORM_HEADER, OTHER)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let e = error_of(res).await;
    assert_eq!(e["error"], "form_mismatch");
    let message = e["message"].as_str().unwrap();
    assert_eq!(
        message,
        format!("this page was built from another connector.toml (form {OTHER}), the server from form {FORM}: deploy page and server from one build")
    );
    // Refused before anything was stored.
    assert_eq!(
        app.get("c1", Some(HOOK)).await.status(),
        StatusCode::NOT_FOUND
    );

    // The page of this form, and a caller that names none (a sender, curl, an older page).
    let res = app
        .client
        .put(format!("{}/api/connections/c1", app.url))
        .header(FORM_HEADER, FORM)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(app.get("c1", Some(HOOK)).await.status(), StatusCode::OK);
    // Every API route, not only saving.
    let res = app
        .client
        .get(format!("{}/api/connections/c1", app.url))
        .header("x-teams-webhook-url", HOOK)
        .header(FORM_HEADER, "not even hex")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(error_of(res).await["message"]
        .as_str()
        .unwrap()
        .contains("(form not even hex)"));
}

#[tokio::test]
async fn the_health_answer_names_the_servers_form() {
    let app = TestApp::spawn().await;
    let body: Value = app.get_path("/api/health").await.json().await.unwrap();
    assert_eq!(body["form"], FORM);
    assert_eq!(FORM.len(), 16, "{FORM}");
}

fn dist_with(dir: &std::path::Path, form: Option<&str>) {
    let dist = dir.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><title>page</title>",
    )
    .unwrap();
    if let Some(form) = form {
        std::fs::write(dist.join(FORM_FILE), format!("{form}\n")).unwrap();
    }
}

#[tokio::test]
async fn the_server_does_not_start_on_a_dist_of_another_form() {
    let dir = tempfile::tempdir().unwrap();
    dist_with(dir.path(), Some(OTHER));
    let e = Application::build(config(dir.path(), false))
        .await
        .err()
        .expect("refused");
    let shown = format!("{e:#}");
    assert!(
        shown.contains(&format!("form {OTHER}"))
            && shown.contains(&format!("form {FORM}"))
            && shown.contains("form.txt"),
        "{shown}"
    );
    // Refused before the database was made (or migrated).
    assert!(!dir.path().join("t.sqlite").exists());

    // Its own form, and a dist that names none (older builds), start.
    dist_with(dir.path(), Some(FORM));
    Application::build(config(dir.path(), false)).await.unwrap();
    let other = tempfile::tempdir().unwrap();
    dist_with(other.path(), None);
    Application::build(config(other.path(), false))
        .await
        .unwrap();
}
