//! Every access rule over real HTTP, one idea a file: the edit key (right, wrong, missing,
//! and the only mover of a Workflows webhook), each form of a connector webhook URL with a
//! new webhook of the same team and another team's or tenant's, the team a connection keeps
//! through any move, single sign-on, the test card before saving, and the page's
//! configuration, the CORS preflight of the new headers and the log lines that never show a
//! credential. Requests go through the harness's client with [`Creds`].

mod connector_webhooks;
mod edit_key;
mod page_cors_logs;
mod single_sign_on;
mod team_moves;
mod test_card;

use std::path::{Path, PathBuf};

use connector_server::config::Config;
use serde_json::Value;

use crate::helpers::TestApp;

const TENANT: &str = "72f9bf00-0000-4000-8000-000000000001";
const GROUP: &str = "0b4f0000-0000-4000-8000-00000000000a";
const USER: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";

/// A connector webhook URL on Microsoft's host.
fn hook(tenant: &str, group: &str, id: &str) -> String {
    format!(
        "https://contoso.webhook.office.com/webhookb2/{group}@{tenant}/IncomingWebhook/{id}/{USER}"
    )
}

fn flow(id: &str) -> String {
    format!("https://default72f988bf.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/{id}/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=sig{id}")
}

/// The harness's dev-mode server (emulator inboxes, no write rate), changed by `change`.
async fn spawn_with(change: impl FnOnce(&mut Config)) -> TestApp {
    TestApp::dev_with(change).await
}

async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

/// The same with single sign-on against the emulator's identity provider.
async fn sso() -> TestApp {
    TestApp::dev_with_flags(&["--dev-sso"]).await
}

async fn error_code(res: reqwest::Response) -> String {
    let body: Value = res.json().await.unwrap();
    body["error"].as_str().unwrap_or_default().to_string()
}

fn db_text(db: &Path) -> String {
    let mut all = std::fs::read(db).unwrap_or_default();
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    all.extend(std::fs::read(PathBuf::from(wal)).unwrap_or_default());
    String::from_utf8_lossy(&all).into_owned()
}
