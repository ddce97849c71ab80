//! `cargo xtask bench admin`: the admin API's connection search over many connections. Seeds
//! N connections (100,000 by default) straight through the store (the server's own
//! `ConnectionStore`, on SQLite or PostgreSQL), spread over 100 tenants, teams of 10,
//! accounts of 10, one in five on a Workflows webhook and one in a hundred disabled by an
//! operator; then starts a release server on that database with an admin token and times
//! `GET /admin/connections` with each filter (a page of 50, the default) R times, printing
//! p50/p99/max and how many each page held.

use connector_bench as support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use connector_server::domain::{HashKey, Keyring, WebhookPolicy, WebhookUrl};
use connector_server::store::{self, AuditEntry, ConnectionAccount, Database, Record, Team};
use connector_settings::{EntityId, Value, Values, CONNECTOR};
use connector_test_kit::ServerProcess;

const KEYS: &str = "k1:1111111111111111111111111111111111111111111111111111111111111111";
const TOKEN: &str = "bench-admin-secret-0123456789";
/// Tenants the connections are spread over.
const TENANTS: usize = 100;
/// Connections a team and an account have.
const PER_TEAM: usize = 10;

/// Times the admin API's connection search over a seeded database.
#[derive(clap::Parser)]
#[command(name = "bench-admin")]
struct Options {
    /// The server binary.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "target/release/connector-server"
    )]
    server: String,
    /// PostgreSQL instead of SQLite.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Connections seeded.
    #[arg(long, value_name = "N", default_value_t = 100_000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1000..))]
    connections: usize,
    /// Requests per filter.
    #[arg(long, value_name = "R", default_value_t = 200)]
    repeat: usize,
}

fn policy() -> WebhookPolicy {
    WebhookPolicy::new(
        &[
            "*.webhook.office.com".to_string(),
            "*.api.powerplatform.com".to_string(),
        ],
        None,
    )
    .expect("the policy's hosts")
}

fn tenant(i: usize) -> String {
    format!("t{:02}", i % TENANTS)
}

fn team(i: usize) -> String {
    format!("g{}", i / PER_TEAM)
}

fn account(i: usize) -> String {
    format!("acct{}", i / PER_TEAM)
}

/// Connection `i`: every fifth on a Workflows webhook, the others on their team's
/// connector webhook; one in a thousand is named "Release alerts …".
fn record(i: usize, key: &HashKey, policy: &WebhookPolicy) -> Result<Record> {
    let url = if i % 5 == 4 {
        format!("https://default0a.1b.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/w{i}/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=s{i}")
    } else {
        format!(
            "https://contoso.webhook.office.com/webhookb2/{}@{}/IncomingWebhook/h{i}/u",
            team(i),
            tenant(i)
        )
    };
    let url = WebhookUrl::parse(&url, policy).map_err(anyhow::Error::msg)?;
    let name = if i % 1000 == 7 {
        format!("Release alerts {i}")
    } else {
        format!("Nightly builds {i}")
    };
    let mut settings = Values::new();
    settings.insert(CONNECTOR.name_field().id.into(), Value::Text(name.clone()));
    settings.insert(
        CONNECTOR.events_field().id.into(),
        Value::List(vec![CONNECTOR.event_types()[0].value.into()]),
    );
    Ok(Record {
        entity_id: EntityId::parse(&format!("c{i:07}")).map_err(anyhow::Error::msg)?,
        webhook_hash: key.hash(&url),
        team: Some(Team {
            tenant: tenant(i),
            group: team(i),
        }),
        webhook_url: url,
        config_name: name,
        settings,
        app_type: None,
        tenant_id: Some(tenant(i)),
        owner_oid: None,
        disabled_reason: None,
        edit_key_hash: None,
        user_object_id: None,
        account: Some(ConnectionAccount {
            account: account(i),
            name: account(i),
            linked_by: None,
        }),
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-01T00:00:00Z".into(),
    })
}

/// Stores the connections through the server's store, eight writers at a time (one on
/// SQLite, whose store has one connection anyway).
async fn seed(db: &Database, n: usize) -> Result<()> {
    let key = HashKey::from_hex(support::BENCH_KEY)?;
    let ring = Keyring::parse(KEYS)?;
    let stores = store::open(db, ring.clone()).await?;
    store::check_keys(stores.connections.as_ref(), &key, &ring).await?;
    let writers = if matches!(db, Database::Sqlite(_)) {
        1
    } else {
        8
    };
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let connections = stores.connections.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            let policy = policy();
            for i in (w..n).step_by(writers) {
                connections.upsert(record(i, &key, &policy)?).await?;
                if i % 100 == 50 {
                    let id = EntityId::parse(&format!("c{i:07}")).map_err(anyhow::Error::msg)?;
                    let audit = AuditEntry {
                        id: 0,
                        at_ms: 0,
                        actor: "bench".into(),
                        action: "disable".into(),
                        target: id.as_str().into(),
                        detail: None,
                    };
                    let why = format!("{}bench", connector_server::admin::REASON_PREFIX);
                    connections.set_disabled(&id, Some(why), audit).await?;
                }
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    println!(
        "seeded {n} connections in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn start(o: &Options, db_path: &std::path::Path) -> Result<ServerProcess> {
    let mut cmd = Command::new(&o.server);
    cmd.args(["--role", "api", "--port", "0", "--dist", "/nonexistent"])
        .args(["--metrics-addr", "127.0.0.1:0"])
        .args(["--admin-token", &format!("bench:{TOKEN}")])
        .args(["--hash-key", support::BENCH_KEY, "--encryption-keys", KEYS])
        .args(["--events-secret", "bench-events-secret-of-32-bytes-or-more"])
        .arg("--db")
        .arg(db_path)
        .stderr(Stdio::null());
    if let Some(url) = &o.database_url {
        cmd.args(["--database-url", url]);
    }
    // A build with [account] does not start without its sign-in's client secret.
    if CONNECTOR.account.is_some() {
        cmd.args(["--account-client-secret", support::BENCH_ACCOUNT_SECRET]);
    }
    ServerProcess::spawn(cmd, false)
}

/// The `q`-quantile of sorted durations.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<()> {
    let o: Options = clap::Parser::parse();
    let dir = support::scratch_dir("admin")?;
    let db_path = dir.path().join("bench.sqlite");
    let db = match &o.database_url {
        Some(url) => Database::Postgres {
            url: url.clone(),
            pool: 8,
        },
        None => Database::Sqlite(db_path.clone()),
    };
    let on = if o.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    seed(&db, o.connections).await?;
    let server = start(&o, &db_path)?;
    let base = server
        .metrics
        .as_deref()
        .context("the server printed no metrics address")?
        .trim_end_matches("/metrics")
        .to_string();
    let client = reqwest::Client::new();
    let n = o.connections;
    let rare = 4usize.min(n - 1);
    let filters: Vec<(&str, String)> = vec![
        ("none", String::new()),
        ("tenant", format!("tenant={}", tenant(42))),
        ("team", format!("team={}", team(n / 2))),
        ("account", format!("account={}", account(n / 3))),
        ("name", "name=release".into()),
        ("name (none)", "name=no-such-name".into()),
        ("kind", "kind=workflows".into()),
        ("state", "state=disabled".into()),
        (
            "tenant+state",
            format!("tenant={}&state=disabled", tenant(50)),
        ),
        (
            "kind+tenant",
            format!("kind=workflows&tenant={}", tenant(rare)),
        ),
    ];
    println!(
        "GET /admin/connections over {n} connections on {on}, {} requests each (a page of 50):",
        o.repeat
    );
    let mut worst = Duration::ZERO;
    for (label, query) in &filters {
        let url = format!("{base}/admin/connections?{query}");
        let mut times = Vec::with_capacity(o.repeat);
        let mut found = 0;
        for r in 0..o.repeat + 5 {
            let t = Instant::now();
            let res = client.get(&url).bearer_auth(TOKEN).send().await?;
            let status = res.status();
            let body: serde_json::Value = res.json().await?;
            let took = t.elapsed();
            if !status.is_success() {
                bail!("{url} answered {status}: {body}");
            }
            found = body["connections"].as_array().map_or(0, Vec::len);
            // The first few warm the caches.
            if r >= 5 {
                times.push(took);
            }
        }
        times.sort();
        let p99 = quantile(&times, 0.99);
        worst = worst.max(p99);
        println!(
            "{on:<10} {label:<14} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  found {found:>3}",
            ms(quantile(&times, 0.5)),
            ms(p99),
            ms(*times.last().expect("at least one request")),
        );
    }
    println!("{on:<10} worst p99 {:.2} ms", ms(worst));
    drop(server);
    Ok(())
}
