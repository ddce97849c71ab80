//! The one harness of the server's tests: an application in this process or a server
//! process, a typed client of its API, signed events, and a webhook receiver that outlives
//! the servers it receives from.

mod credentials;
mod database;
mod process;
mod receiver;

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use connector_server::config::Config;
use connector_server::startup::Application;
use connector_settings::{CardStyle, Value as Setting, CONNECTOR};
use serde_json::{json, Value};

pub use credentials::{settings_named, Creds};
pub use database::TestDatabase;
pub use process::ServerProcess;
pub use receiver::{create_many, inbox_hook, violations, Answer, Receiver};

/// The events secret of every test server.
pub const SECRET: &str = "test-events-secret-of-32-bytes-or-more";

/// Whether this build has `[account]` (`CONNECTOR_TOML=connectors/uptime-watch.toml`).
pub const CONNECTOR_HAS_ACCOUNTS: bool = CONNECTOR.account.is_some();
/// The account client secret test servers of such a build get.
pub const ACCOUNT_SECRET: &str = "test-account-client-secret";
/// Their hash key, which the harness knows so that tests not about accounts can link
/// their connections to [`HARNESS_ACCOUNT`] without a sign-in (accounts.rs signs in for real).
pub const HARNESS_KEY: &str = "abababababababababababababababababababababababababababababababab";
/// The account the harness links connections to and addresses events to.
pub const HARNESS_ACCOUNT: &str = "harness-account";

/// A proof linking a connection saved without a Teams user to `account`, as the server
/// keyed with [`HARNESS_KEY`] makes them.
pub fn harness_proof(account: &str) -> String {
    use connector_server::account::proof::{Claims, ProofKey, VALID_SECS};
    let key = connector_server::domain::HashKey::from_hex(HARNESS_KEY).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    ProofKey::new(&key).sign(&Claims {
        account: account.into(),
        name: account.into(),
        tenant: None,
        user: None,
        exp: now + VALID_SECS,
    })
}

/// The settings most tests of the API save (the default connector.toml's fields).
pub fn settings() -> Value {
    json!({ "subscription_name": "Nightly builds", "events": ["build_failed"], "filter": "",
            "card_style": "compact", "mention_channel": false })
}

/// The connector's event types, in declaration order.
pub fn event_types() -> Vec<&'static str> {
    CONNECTOR.event_types().iter().map(|t| t.value).collect()
}

/// An event type the highlight toggle marks, and one it does not.
pub fn highlighted_and_plain_types() -> (&'static str, &'static str) {
    let types = CONNECTOR.event_types();
    let marked = types
        .iter()
        .find(|t| t.highlight)
        .expect("a highlighted type");
    let plain = types.iter().find(|t| !t.highlight).expect("a plain type");
    (marked.value, plain.value)
}

/// Settings of a connection named `name` that wants `events` of projects containing
/// `filter`, in cards of `style`, highlighting as `highlight` says. Written through the
/// fields' roles, so the delivery tests run against any connector.toml with every role.
pub fn subscription(
    name: &str,
    events: &[&str],
    filter: &str,
    style: CardStyle,
    highlight: bool,
) -> Value {
    let mut v = connector_settings::default_values();
    let mut set = |field: Option<&connector_settings::Field>, value: Setting| {
        let field = field.expect("the delivery tests need a connector with every role");
        v.insert(field.id.to_string(), value);
    };
    set(Some(CONNECTOR.name_field()), Setting::Text(name.into()));
    set(
        Some(CONNECTOR.events_field()),
        Setting::List(events.iter().map(|e| e.to_string()).collect()),
    );
    set(CONNECTOR.filter_field(), Setting::Text(filter.into()));
    set(
        CONNECTOR.card_style_field(),
        Setting::Text(CONNECTOR.card_style_value(style).unwrap().into()),
    );
    set(CONNECTOR.highlight_field(), Setting::Bool(highlight));
    serde_json::to_value(v).unwrap()
}

/// A test configuration: random port, a database in `dir`, dev mode as asked; every other
/// value is the server's own default.
pub fn config(dir: &Path, dev: bool) -> Config {
    config_with(dir, dev, &[])
}

/// The same with `flags` added, parsed as the server parses its command line.
pub fn config_with(dir: &Path, dev: bool, flags: &[&str]) -> Config {
    let emulator = concat!(env!("CARGO_MANIFEST_DIR"), "/../emulator");
    let mut args: Vec<String> = ["--port", "0", "--database-pool", "4"]
        .into_iter()
        .map(String::from)
        .collect();
    let paths = [
        ("--db", dir.join("t.sqlite")),
        ("--dist", dir.join("dist")),
        ("--emulator-dir", PathBuf::from(emulator)),
    ];
    for (flag, path) in paths {
        args.push(flag.into());
        args.push(path.to_str().expect("a UTF-8 test path").into());
    }
    args.extend(["--events-secret".into(), SECRET.into()]);
    if dev {
        args.push("--dev".into());
    }
    if CONNECTOR_HAS_ACCOUNTS {
        args.extend(["--hash-key".into(), HARNESS_KEY.into()]);
        args.extend(["--account-client-secret".into(), ACCOUNT_SECRET.into()]);
    }
    args.extend(flags.iter().map(|f| f.to_string()));
    parse_config(&args)
}

/// The server's flags (its clap definitions, with their rules and defaults) parsed from
/// `args`, without the environment's `CONNECTOR_…` variables, so that a test's server is
/// the same wherever it runs. Panics with clap's message on flags the server refuses.
pub fn parse_config(args: &[String]) -> Config {
    use clap::{CommandFactory, FromArgMatches, Parser};

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        config: Config,
    }

    let command = Flags::command().mut_args(|a| a.env(None));
    let matches = command
        .try_get_matches_from(
            std::iter::once("connector-server-test").chain(args.iter().map(String::as_str)),
        )
        .unwrap_or_else(|e| panic!("test flags {args:?} refused: {e}"));
    Flags::from_arg_matches(&matches)
        .unwrap_or_else(|e| panic!("test flags {args:?}: {e}"))
        .config
}

/// The keys every instance of one test shares (with PostgreSQL they must be given).
pub fn shared_keys(c: &mut Config) {
    c.hash_key = Some("ab".repeat(32));
    c.encryption_keys = Some(format!("k1:{}", "11".repeat(32)));
}

/// `c` on the PostgreSQL database `db`, with the shared keys.
pub fn on_postgres(c: &mut Config, db: &TestDatabase) {
    c.database_url = Some(db.url.clone());
    shared_keys(c);
}

/// A server process's flags for the PostgreSQL database `db`, with the shared keys.
pub fn postgres_args(db: &TestDatabase) -> Vec<String> {
    vec![
        "--database-url".into(),
        db.url.clone(),
        "--hash-key".into(),
        "ab".repeat(32),
        "--encryption-keys".into(),
        format!("k1:{}", "11".repeat(32)),
    ]
}

/// Builds and runs an application in this process; its API at the returned client.
pub async fn start(config: Config) -> Api {
    start_stoppable(config).await.0
}

/// The same, with the handle that stops it (to start another on the same database).
pub async fn start_stoppable(
    config: Config,
) -> (Api, tokio::task::JoinHandle<std::io::Result<()>>) {
    let app = Application::build(config).await.expect("server starts");
    let url = app.url();
    (Api::new(url), tokio::spawn(app.run_until_stopped()))
}

/// A typed client of one server's API.
#[derive(Clone)]
pub struct Api {
    pub url: String,
    pub client: reqwest::Client,
}

/// An application in this process with its own directory (database, dist).
pub struct TestApp {
    pub api: Api,
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub dist: PathBuf,
}

impl Deref for TestApp {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl TestApp {
    /// A production-mode server with a fresh database.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_in(tempfile::tempdir().unwrap(), false, |_| {}).await
    }

    /// A dev-mode server (emulator and inboxes) without a write rate, changed by `change`.
    pub async fn dev_with(change: impl FnOnce(&mut Config)) -> TestApp {
        TestApp::spawn_in(tempfile::tempdir().unwrap(), true, |c| {
            c.write_rate = 0;
            change(c)
        })
        .await
    }

    pub async fn dev() -> TestApp {
        TestApp::dev_with(|_| {}).await
    }

    /// A dev-mode server without a write rate, started with the server's `flags` as well.
    pub async fn dev_with_flags(flags: &[&str]) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let mut all = vec!["--write-rate", "0"];
        all.extend_from_slice(flags);
        let c = config_with(dir.path(), true, &all);
        TestApp::start_in(dir, c).await
    }

    /// A server on `dir` (which may already hold files), changed by `change`.
    pub async fn spawn_in(
        dir: tempfile::TempDir,
        dev: bool,
        change: impl FnOnce(&mut Config),
    ) -> TestApp {
        let mut c = config(dir.path(), dev);
        change(&mut c);
        TestApp::start_in(dir, c).await
    }

    /// A server on `dir` with the configuration `c`.
    pub async fn start_in(dir: tempfile::TempDir, c: Config) -> TestApp {
        let (db, dist) = (c.db.clone(), c.dist.clone());
        TestApp {
            api: start(c).await,
            dir,
            db,
            dist,
        }
    }
}

impl Api {
    pub fn new(url: String) -> Api {
        Api {
            url,
            client: reqwest::Client::new(),
        }
    }

    pub async fn get_path(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }

    /// `PUT /api/connections/{id}` with a JSON body.
    pub async fn put(&self, id: &str, body: &Value) -> reqwest::Response {
        self.client
            .put(format!("{}/api/connections/{id}", self.url))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// The same with a body sent as it is.
    pub async fn put_raw(&self, id: &str, body: &str) -> reqwest::Response {
        self.client
            .put(format!("{}/api/connections/{id}", self.url))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    /// `GET /api/connections/{id}`, with the webhook URL header when given.
    pub async fn get(&self, id: &str, hook: Option<&str>) -> reqwest::Response {
        let c = Creds {
            hook,
            ..Creds::default()
        };
        self.get_as(id, c).await
    }

    pub async fn delete(&self, id: &str, hook: &str) -> reqwest::Response {
        self.delete_as(id, Creds::hook(hook)).await
    }

    /// Saves connection `id` to `hook` with `settings`, asserting it was created.
    pub async fn create(&self, id: &str, hook: &str, settings: &Value) {
        let mut body = json!({ "webhookUrl": hook, "settings": settings });
        if CONNECTOR_HAS_ACCOUNTS {
            body["accountProof"] = harness_proof(HARNESS_ACCOUNT).into();
        }
        let res = self.put(id, &body).await;
        assert_eq!(res.status(), reqwest::StatusCode::CREATED, "creating {id}");
    }

    /// A dev-mode inbox URL of this server.
    pub fn hook(&self, name: &str) -> String {
        inbox_hook(&self.url, name)
    }

    /// A connection `id` to this server's inbox named `id`, wanting `events` of projects
    /// matching `filter`, in card `style`, not highlighting; returns its webhook URL.
    pub async fn connect(
        &self,
        id: &str,
        events: &[&str],
        filter: &str,
        style: CardStyle,
    ) -> String {
        let hook = self.hook(id);
        let settings = subscription(&format!("Sub {id}"), events, filter, style, false);
        self.create(id, &hook, &settings).await;
        hook
    }

    /// A connection `id` like [`Api::connect`]'s, to this server's Workflows inbox named `id`.
    pub async fn connect_flow(&self, id: &str, events: &[&str], style: CardStyle) -> String {
        let hook = flow_hook(&self.url, id);
        let settings = subscription(&format!("Sub {id}"), events, "", style, false);
        self.create(id, &hook, &settings).await;
        hook
    }

    /// Posts `event`, signed with [`SECRET`].
    pub async fn send(&self, event: &Value) -> reqwest::Response {
        let ts = time::OffsetDateTime::now_utc().unix_timestamp();
        self.send_at(&event.to_string(), ts).await
    }

    /// Posts `body` as an event at `timestamp`, signed with [`SECRET`].
    pub async fn send_at(&self, body: &str, timestamp: i64) -> reqwest::Response {
        let signature = connector_server::sign_event(SECRET, timestamp, body.as_bytes());
        self.post_event(body, &timestamp.to_string(), Some(&signature))
            .await
    }

    /// Posts `body` to `/api/events` with these timestamp and signature headers.
    pub async fn post_event(
        &self,
        body: &str,
        timestamp: &str,
        signature: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("{}/api/events", self.url))
            .header("content-type", "application/json")
            .header("x-connector-timestamp", timestamp);
        if let Some(sig) = signature {
            req = req.header("x-connector-signature", sig);
        }
        req.body(body.to_string()).send().await.unwrap()
    }

    /// What the emulator inbox behind `hook` received.
    pub async fn inbox(&self, hook: &str) -> Vec<Value> {
        let path = hook.split("/emulator/webhook/").nth(1).unwrap();
        let v: Value = self
            .get_path(&format!("/emulator/api/inbox/{path}"))
            .await
            .json()
            .await
            .unwrap();
        v["messages"].as_array().unwrap().clone()
    }

    /// How many posts the emulator inbox behind `hook` was sent, kept or turned away.
    pub async fn received(&self, hook: &str) -> u64 {
        let path = hook.split("/emulator/webhook/").nth(1).unwrap();
        let v: Value = self
            .get_path(&format!("/emulator/api/inbox/{path}"))
            .await
            .json()
            .await
            .unwrap();
        v["received"].as_u64().unwrap()
    }

    /// Sets how the emulator inbox behind `hook` answers.
    pub async fn mode(&self, hook: &str, mode: &str) {
        let path = hook.split("/emulator/webhook/").nth(1).unwrap();
        let res = self
            .client
            .put(format!("{}/emulator/api/inbox-mode/{path}", self.url))
            .json(&json!({ "mode": mode }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::NO_CONTENT);
    }

    /// `GET /api/connections/{id}/deliveries`.
    pub async fn status(&self, id: &str, hook: &str) -> Value {
        self.request(
            reqwest::Method::GET,
            &format!("{id}/deliveries"),
            Creds::hook(hook),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
    }
}

/// A dev inbox URL at `origin` of today's Workflows shape (Power Platform's
/// `…/powerautomate/automations/direct/cu/<NN>/workflows/<id>/…`, signed: anyone may post).
pub fn flow_hook(origin: &str, name: &str) -> String {
    format!(
        "{origin}/emulator/webhook/powerautomate/automations/direct/cu/07/workflows/{name}/triggers/manual/paths/invoke\
         ?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=abc"
    )
}

/// An event of `kind` for `project`.
/// With `[account]` it is addressed to [`HARNESS_ACCOUNT`].
pub fn event(kind: &str, project: &str) -> Value {
    let mut e = json!({ "type": kind, "title": "Build 42 failed", "text": "Step 'test' failed", "link": "https://ci.example.com/42",
            "facts": [{ "name": "Branch", "value": "main" }], "project": project });
    if CONNECTOR_HAS_ACCOUNTS {
        e["account"] = HARNESS_ACCOUNT.into();
    }
    e
}

/// Waits up to `secs` for `f` to hold.
pub async fn until(what: &str, secs: u64, mut f: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(secs) {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after {secs} s waiting for {what}");
}

/// Asserts that an error answer is JSON and returns its body.
pub async fn error_of(res: reqwest::Response) -> Value {
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    res.json().await.unwrap()
}
