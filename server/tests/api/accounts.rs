//! Linking connections to the service's accounts against a real OpenID provider (the npm
//! `oidc-provider` package, e2e/oidc/provider.mjs, on loopback), whose login and consent
//! forms are posted as a browser would. These run on a build with `[account]`
//! (`CONNECTOR_TOML=connectors/uptime-watch.toml`, as `cargo xtask test` runs them); on
//! one without, what such a build refuses is tested instead.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Digest;

use crate::helpers::{
    error_of, event, event_types, subscription, until, TestApp, CONNECTOR_HAS_ACCOUNTS,
};
use connector_settings::CardStyle;

const CLIENT_SECRET: &str = "provider-client-secret";
const REDIRECT: &str = "http://127.0.0.1:9/auth/callback.html";
/// A second application registered at the same provider.
const OTHER_CLIENT: &str = "another-app";

/// The provider process, stopped when dropped.
struct Provider {
    child: Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn provider() -> Provider {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../e2e/oidc/provider.mjs");
    let client_id = connector_settings::CONNECTOR
        .account
        .as_ref()
        .unwrap()
        .client_id;
    let mut child = Command::new("node")
        .args([
            script,
            "--port",
            "0",
            "--client-id",
            client_id,
            "--client-secret",
            CLIENT_SECRET,
        ])
        .args(["--redirect-uri", REDIRECT])
        .args([
            "--client",
            &format!("{OTHER_CLIENT}:other-secret:{REDIRECT}"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs e2e/oidc/provider.mjs (npm ci first)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let issuer = serde_json::from_str::<Value>(&line)
        .unwrap_or_else(|e| panic!("the provider's first line '{line}': {e}"))["issuer"]
        .as_str()
        .unwrap()
        .to_string();
    Provider { child, issuer }
}

/// A dev-mode server pointed at `p`.
async fn server(p: &Provider) -> TestApp {
    let issuer = p.issuer.clone();
    TestApp::dev_with(move |c| {
        c.account_issuer = Some(issuer);
        c.account_client_secret = Some(CLIENT_SECRET.into());
    })
    .await
}

/// What a sign-in popup hands back.
struct SignIn {
    code: String,
    verifier: String,
    nonce: String,
}

/// Signs `user` in at `authorize` (the server's `authorizationEndpoint`) as `client_id`,
/// posting the login and consent forms, and returns the code the provider redirects with.
async fn sign_in(authorize: &str, client_id: &str, user: &str, nonce: &str) -> SignIn {
    let verifier = URL_SAFE_NO_PAD.encode(rand_bytes());
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut cookies: HashMap<String, String> = HashMap::new();
    let mut url = reqwest::Url::parse_with_params(
        authorize,
        &[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("scope", "openid profile"),
            ("state", "st-1"),
            ("nonce", nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    let mut form: Option<Vec<(&str, String)>> = None;
    for _ in 0..20 {
        let cookie = cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let req = match form.take() {
            Some(fields) => http.post(url.clone()).form(&fields),
            None => http.get(url.clone()),
        };
        let res = req.header("cookie", cookie).send().await.unwrap();
        for c in res.headers().get_all("set-cookie") {
            let pair = c.to_str().unwrap().split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                cookies.insert(k.trim().into(), v.into());
            }
        }
        if res.status().is_redirection() {
            let location = res.headers()["location"].to_str().unwrap().to_string();
            let next = url.join(&location).unwrap();
            if next.as_str().starts_with(REDIRECT) {
                let query: HashMap<String, String> = next.query_pairs().into_owned().collect();
                assert_eq!(query.get("state").map(String::as_str), Some("st-1"));
                let code = query
                    .get("code")
                    .unwrap_or_else(|| panic!("no code in {next}"))
                    .clone();
                return SignIn {
                    code,
                    verifier,
                    nonce: nonce.into(),
                };
            }
            url = next;
            continue;
        }
        let status = res.status();
        let html = res.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{html}");
        // The page's form: login (username) first, then consent ("Allow").
        let action = |end: &str| {
            let at = html.find(end)?;
            let start = html[..at].rfind("action=\"")? + "action=\"".len();
            Some(html[start..at + end.len() - 1].to_string())
        };
        if let Some(login) = action("/login\"") {
            url = url.join(&login).unwrap();
            form = Some(vec![("username", user.to_string())]);
        } else if let Some(confirm) = action("/confirm\"") {
            url = url.join(&confirm).unwrap();
            form = Some(vec![]);
        } else {
            panic!("neither a login nor a consent form: {html}");
        }
    }
    panic!("the sign-in did not end at the redirect uri");
}

fn rand_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    for (i, byte) in b.iter_mut().enumerate() {
        *byte = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
            .wrapping_mul(i as u32 + 7)
            >> 3) as u8;
    }
    b
}

impl TestApp {
    async fn authorize_url(&self) -> String {
        let res = self.get_path("/api/account").await;
        assert_eq!(res.status(), StatusCode::OK);
        let info: Value = res.json().await.unwrap();
        info["authorizationEndpoint"].as_str().unwrap().to_string()
    }

    async fn link(&self, s: &SignIn, user: Option<&str>) -> reqwest::Response {
        self.client
            .post(format!("{}/api/account/link", self.url))
            .json(
                &json!({ "code": s.code, "codeVerifier": s.verifier, "nonce": s.nonce,
                           "redirectUri": REDIRECT, "userObjectId": user, "tenantId": "t1" }),
            )
            .send()
            .await
            .unwrap()
    }

    /// Signs `who` in and links, as Teams user `user`; the proof.
    async fn proof(&self, who: &str, user: &str) -> String {
        let s = sign_in(&self.authorize_url().await, client_id(), who, "n-1").await;
        let res = self.link(&s, Some(user)).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().await.unwrap()["proof"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn save(&self, id: &str, proof: Option<&str>, user: &str) -> reqwest::Response {
        let settings = subscription(id, &[event_types()[0]], "", CardStyle::Compact, false);
        let mut body =
            json!({ "webhookUrl": self.hook(id), "settings": settings, "userObjectId": user });
        if let Some(p) = proof {
            body["accountProof"] = p.into();
        }
        self.put(id, &body).await
    }
}

fn client_id() -> &'static str {
    connector_settings::CONNECTOR
        .account
        .as_ref()
        .unwrap()
        .client_id
}

fn addressed(account: Option<&str>) -> Value {
    let mut e = event(event_types()[0], "shop.example.org");
    match account {
        Some(a) => e["account"] = a.into(),
        None => {
            e.as_object_mut().unwrap().remove("account");
        }
    }
    e
}

macro_rules! with_accounts {
    () => {
        if !CONNECTOR_HAS_ACCOUNTS {
            eprintln!("skipped: this build has no [account] (CONNECTOR_TOML=connectors/uptime-watch.toml)");
            return;
        }
    };
}

#[tokio::test]
async fn linked_connections_get_only_their_accounts_events() {
    with_accounts!();
    let p = provider();
    let app = server(&p).await;
    let alice = app.proof("alice", "u-alice").await;
    let res = app.save("c-alice", Some(&alice), "u-alice").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let saved: Value = res.json().await.unwrap();
    assert_eq!(
        saved["account"],
        json!({ "account": "acme", "name": "Alice Example", "linkedBy": "u-alice" })
    );
    let bob = app.proof("bob", "u-bob").await;
    assert_eq!(
        app.save("c-bob", Some(&bob), "u-bob").await.status(),
        StatusCode::CREATED
    );

    let res = app.send(&addressed(Some("acme"))).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(res.json::<Value>().await.unwrap()["deliveries"], 1);
    until("alice's card", 10, async || {
        app.received(&app.hook("c-alice")).await == 1
    })
    .await;
    let res = app.send(&addressed(Some("globex"))).await;
    assert_eq!(res.json::<Value>().await.unwrap()["deliveries"], 1);
    until("bob's card", 10, async || {
        app.received(&app.hook("c-bob")).await == 1
    })
    .await;
    assert_eq!(
        app.received(&app.hook("c-alice")).await,
        1,
        "alice got only acme's"
    );
    let res = app.send(&addressed(Some("initech"))).await;
    assert_eq!(res.json::<Value>().await.unwrap()["deliveries"], 0);
}

#[tokio::test]
async fn an_event_without_its_account_is_refused_naming_the_field() {
    with_accounts!();
    let app = TestApp::dev().await;
    let res = app.send(&addressed(None)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let e = error_of(res).await;
    assert_eq!(e["error"], "validation_failed");
    assert_eq!(e["fields"][0]["field"], "account");
    assert!(e["message"].as_str().unwrap().contains("`account`"), "{e}");
}

#[tokio::test]
async fn a_replayed_code_a_wrong_nonce_and_another_apps_code_are_refused_and_store_nothing() {
    with_accounts!();
    let p = provider();
    let app = server(&p).await;
    let authorize = app.authorize_url().await;
    assert!(authorize.starts_with(&p.issuer), "{authorize}");
    let s = sign_in(&authorize, client_id(), "alice", "n-1").await;
    assert_eq!(app.link(&s, Some("u-alice")).await.status(), StatusCode::OK);
    let again = error_of(app.link(&s, Some("u-alice")).await).await;
    assert_eq!(again["error"], "account_code_refused", "{again}");
    assert!(
        again["message"].as_str().unwrap().contains("already used"),
        "{again}"
    );

    let mut s = sign_in(&authorize, client_id(), "alice", "n-1").await;
    s.nonce = "n-other".into();
    let res = app.link(&s, Some("u-alice")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let e = error_of(res).await;
    assert_eq!(e["error"], "account_token_invalid");
    assert!(e["message"].as_str().unwrap().contains("nonce"), "{e}");

    // A code the provider gave another application is not this server's to redeem (the
    // provider refuses it; the audience check of the token itself is a unit test of oidc.rs).
    let s = sign_in(&authorize, OTHER_CLIENT, "alice", "n-1").await;
    let e = error_of(app.link(&s, Some("u-alice")).await).await;
    assert_eq!(e["error"], "account_code_refused", "{e}");
}

#[tokio::test]
async fn a_save_needs_a_proof_of_its_own_user_and_a_change_keeps_or_replaces_the_account() {
    with_accounts!();
    let p = provider();
    let app = server(&p).await;
    let res = app.save("c1", None, "u-alice").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let e = error_of(res).await;
    assert_eq!(e["error"], "account_required");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("sign in to Uptime Watch"),
        "{e}"
    );

    let alice = app.proof("alice", "u-alice").await;
    let res = app.save("c1", Some(&alice), "u-mallory").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_of(res).await["error"], "account_proof_mismatch");
    let res = app.save("c1", Some("eyJhIjoxfQ.AAAA"), "u-alice").await;
    assert_eq!(error_of(res).await["error"], "account_proof_invalid");
    let hook = app.hook("c1");
    let read = app.get("c1", Some(&hook)).await;
    assert_eq!(
        read.status(),
        StatusCode::NOT_FOUND,
        "no refusal stored anything"
    );

    assert_eq!(
        app.save("c1", Some(&alice), "u-alice").await.status(),
        StatusCode::CREATED
    );
    // A change without a new sign-in keeps the account.
    let res = app.save("c1", None, "u-alice").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["account"]["account"],
        "acme"
    );
    // One with a sign-in moves the connection to that account.
    let bob = app.proof("bob", "u-bob").await;
    let res = app.save("c1", Some(&bob), "u-bob").await;
    assert_eq!(res.status(), StatusCode::OK);
    let moved: Value = res.json().await.unwrap();
    assert_eq!(moved["account"]["account"], "globex");
    assert_eq!(moved["account"]["linkedBy"], "u-bob");
    let res = app.send(&addressed(Some("acme"))).await;
    assert_eq!(res.json::<Value>().await.unwrap()["deliveries"], 0);
    let res = app.send(&addressed(Some("globex"))).await;
    assert_eq!(res.json::<Value>().await.unwrap()["deliveries"], 1);
}

#[tokio::test]
async fn an_unreachable_provider_answers_503_naming_the_issuer() {
    with_accounts!();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let i = issuer.clone();
    let app = TestApp::dev_with(move |c| c.account_issuer = Some(i)).await;
    let res = app.get_path("/api/account").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let e = error_of(res).await;
    assert_eq!(e["error"], "account_unavailable");
    assert!(e["message"].as_str().unwrap().contains(&issuer), "{e}");
}

#[tokio::test]
async fn a_build_without_accounts_refuses_the_account_routes_and_proofs() {
    if CONNECTOR_HAS_ACCOUNTS {
        return;
    }
    let app = TestApp::dev().await;
    let res = app.get_path("/api/account").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_of(res).await["error"], "no_accounts");
    let settings = crate::helpers::settings();
    let res = app
        .put(
            "c1",
            &json!({ "webhookUrl": app.hook("c1"), "settings": settings, "accountProof": "x.y" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let e = error_of(res).await;
    assert_eq!(e["fields"][0]["field"], "accountProof", "{e}");
    // Events need no account, and one that names it is taken all the same.
    let mut e = event("build_failed", "");
    e["account"] = "acme".into();
    assert_eq!(app.send(&e).await.status(), StatusCode::ACCEPTED);
}
