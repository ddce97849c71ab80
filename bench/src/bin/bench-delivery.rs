//! `cargo xtask bench delivery`: one or more server processes on SQLite or one PostgreSQL,
//! N connections each with its own local webhook. A fan-out (one event to all N) gives
//! cards per second and latency from accepted to received; a steady phase (RATE events a
//! second, each to one connection) gives latency under load. Both count lost cards,
//! duplicates and rate-window violations (by the receiver's clock), and the peak memory of
//! each instance.

use connector_bench as support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use connector_settings::{CardStyle, Value, CONNECTOR};
use connector_test_kit::process::dev_command;
use connector_test_kit::receiver::{inbox_hook, violations};
use connector_test_kit::{Receiver, ServerProcess};
use serde_json::json;
use sqlx::{Connection, Executor};
use support::ScratchDir;

const SECRET: &str = "bench-events-secret-of-32-bytes-or-more";

/// Connections an account has in a build with `[account]`, unless `--group` says otherwise
/// (1,000 accounts with the default 10,000 connections).
const ACCOUNT_SIZE: usize = 10;

/// One or more server processes with N connections each on its own local webhook: a fan-out,
/// then a steady phase.
#[derive(clap::Parser)]
#[command(name = "bench-delivery")]
struct Options {
    /// Connections for the fan-out (one event to all of them).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10_000,
        conflicts_with = "series"
    )]
    connections: usize,
    /// Fan-outs to 1,000, 10,000 and 100,000 connections instead of one.
    #[arg(long)]
    series: bool,
    /// Server processes sharing the work (more than one needs --database-url).
    #[arg(long, value_name = "N", default_value_t = 1)]
    instances: usize,
    /// The PostgreSQL database the instances share (SQLite files when absent).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// The connector-server binary to start.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "target/release/connector-server"
    )]
    server: String,
    /// Events a second in the steady phase (0: no steady phase).
    #[arg(long = "steady", value_name = "RATE", default_value_t = 200)]
    steady_rate: u32,
    /// How long the steady phase lasts, in seconds.
    #[arg(long, value_name = "S", default_value_t = 30)]
    steady_secs: u64,
    /// Webhooks the steady phase's events go to.
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    steady_webhooks: usize,
    /// Connections each fan-out event goes to: the fan-out is then connections / N events,
    /// each for its own N connections (its account's, in a build with `[account]`, else
    /// those whose project filter it matches) [default: one event to all connections; 10
    /// in a build with `[account]`, where an event reaches only its account's connections].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    group: Option<u64>,
}

impl Options {
    fn parse_checked() -> Result<Options> {
        let o = <Options as clap::Parser>::parse();
        if o.instances > 1 && o.database_url.is_none() {
            bail!("--instances {} needs PostgreSQL (--postgres)", o.instances);
        }
        if CONNECTOR.filter_field().is_none() && o.group.is_some() && CONNECTOR.account.is_none() {
            bail!("--group sends each event to its connections through the project filter, and this connector has neither a filter field nor [account]");
        }
        Ok(o)
    }

    /// Connections each fan-out event of an `n`-connection fan-out goes to.
    fn group(&self, n: usize) -> usize {
        match self.group {
            Some(g) => (g as usize).min(n),
            None if CONNECTOR.account.is_some() => ACCOUNT_SIZE.min(n),
            None => n,
        }
    }

    /// The fan-out sizes, in order.
    fn fan_outs(&self) -> Vec<usize> {
        if self.series {
            vec![1_000, 10_000, 100_000]
        } else {
            vec![self.connections]
        }
    }
}

/// One server process (the test kit's), on `db`, posting to `inbox`.
fn start(o: &Options, inbox: &str, db: &Database) -> Result<ServerProcess> {
    let mut cmd = dev_command(&o.server, inbox, SECRET);
    // The known key lets the bench link connections to accounts (builds with [account]).
    cmd.args(["--hash-key", support::BENCH_KEY])
        .env("RUST_LOG", "error");
    if CONNECTOR.account.is_some() {
        cmd.args(["--account-client-secret", support::BENCH_ACCOUNT_SECRET]);
    }
    match db {
        Database::Sqlite(dir) => cmd.arg("--db").arg(dir.path().join("bench.sqlite")),
        Database::Postgres { url, .. } => cmd
            .args(["--database-url", url])
            .args(["--encryption-keys", &format!("k1:{}", "11".repeat(32))]),
    };
    ServerProcess::spawn(cmd, false)
}

/// A fresh database for one run.
enum Database {
    Sqlite(ScratchDir),
    Postgres {
        url: String,
        admin: String,
        name: String,
    },
}

impl Database {
    async fn create(o: &Options, tag: &str) -> Result<Database> {
        let Some(admin) = &o.database_url else {
            return Ok(Database::Sqlite(support::scratch_dir(tag)?));
        };
        let name = format!("bench_{tag}_{}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(admin).await?;
        conn.execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
            .await?;
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await?;
        let (base, query) = admin
            .split_once('?')
            .map_or((admin.as_str(), ""), |(b, q)| (b, q));
        let (scheme, rest) = base.split_once("://").context("a postgres:// url")?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let mut url = format!("{scheme}://{authority}/{name}");
        if !query.is_empty() {
            url = format!("{url}?{query}");
        }
        Ok(Database::Postgres {
            url,
            admin: admin.clone(),
            name,
        })
    }

    async fn drop_it(self) -> Result<()> {
        if let Database::Postgres { admin, name, .. } = self {
            let mut conn = sqlx::PgConnection::connect(&admin).await?;
            conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                .await?;
        }
        Ok(())
    }
}

fn signed_post(client: &reqwest::Client, url: &str, body: String) -> reqwest::RequestBuilder {
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    client
        .post(format!("{url}/api/events"))
        .header("content-type", "application/json")
        .header("x-connector-timestamp", ts.to_string())
        .header(
            "x-connector-signature",
            connector_server::sign_event(SECRET, ts, body.as_bytes()),
        )
        .body(body)
}

/// Settings that want the connector's first event type of projects containing `filter`,
/// in full cards: found by the fields' roles, so the benchmark runs with any connector.toml.
fn settings(filter: String) -> serde_json::Value {
    let mut settings = connector_settings::default_values();
    settings.insert(
        CONNECTOR.name_field().id.into(),
        Value::Text("Bench".into()),
    );
    settings.insert(
        CONNECTOR.events_field().id.into(),
        Value::List(vec![kind().into()]),
    );
    if let Some(field) = CONNECTOR.filter_field() {
        settings.insert(field.id.into(), Value::Text(filter));
    }
    if let (Some(field), Some(value)) = (
        CONNECTOR.card_style_field(),
        CONNECTOR.card_style_value(CardStyle::Detailed),
    ) {
        settings.insert(field.id.into(), Value::Text(value.into()));
    }
    serde_json::to_value(settings).expect("settings are JSON")
}

/// The event type every benchmark event has.
fn kind() -> &'static str {
    CONNECTOR.event_types()[0].value
}

/// Which connections an event reaches: the connections `c{i}` are in groups of `size`
/// (`i / size`), each group its own account in a build with `[account]` and, when `filtered`,
/// its own project filter (`/p{group}.`); `per_connection`: each connection its own filter
/// (`/p{i}.`) within its account's group.
#[derive(Clone, Copy)]
struct Layout {
    size: usize,
    filtered: bool,
    per_connection: bool,
}

impl Layout {
    fn filter(&self, i: usize) -> String {
        if self.per_connection {
            project(i)
        } else if self.filtered {
            project(i / self.size)
        } else {
            String::new()
        }
    }

    fn account(&self, i: usize) -> String {
        account(i / self.size)
    }
}

/// The project of group (or connection) `g`: slashes and the dot keep `/p1.` out of `/p11.`.
fn project(g: usize) -> String {
    format!("/p{g}.")
}

/// The account of group `g`.
fn account(g: usize) -> String {
    format!("acct{g}")
}

/// An event of the benchmark, addressed to its account's group where the build has
/// `[account]`.
fn event(id: &str, title: &str, project: Option<String>, group: usize) -> String {
    let mut body = json!({ "id": id, "type": kind(), "title": title,
        "text": "A benchmark event", "facts": [{ "name": "Run", "value": "1" }] });
    if let Some(p) = project {
        body["project"] = p.into();
    }
    if CONNECTOR.account.is_some() {
        body["account"] = account(group).into();
    }
    body.to_string()
}

/// Connections `c{i}` to webhooks `g{i}` as `layout` says (linked to their account in a
/// build with `[account]`), spread over the instances' APIs, 16 at a time.
async fn create(
    client: &reqwest::Client,
    urls: &[String],
    inbox: &str,
    n: usize,
    layout: Layout,
) -> Result<()> {
    let mut tasks = Vec::new();
    for w in 0..16 {
        let (client, urls, inbox) = (client.clone(), urls.to_vec(), inbox.to_string());
        tasks.push(tokio::spawn(async move {
            for i in (w..n).step_by(16) {
                let hook = inbox_hook(&inbox, &format!("g{i}"));
                let mut body =
                    json!({ "webhookUrl": hook, "settings": settings(layout.filter(i)) });
                if CONNECTOR.account.is_some() {
                    body["accountProof"] = support::account_proof(&layout.account(i)).into();
                }
                let url = &urls[i % urls.len()];
                let res = client
                    .put(format!("{url}/api/connections/c{i}"))
                    .json(&body)
                    .send()
                    .await?;
                anyhow::ensure!(
                    res.status() == 201,
                    "creating connection {i}: {} {}",
                    res.status(),
                    res.text().await.unwrap_or_default()
                );
            }
            Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// What the receiver saw, against the expected cards.
struct Tally {
    latencies_ms: Vec<f64>,
    lost: usize,
    duplicates: usize,
    violations: usize,
    last_ms: f64,
    /// When the last expected card came.
    last_at: Option<Instant>,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// `accepted`: when each expected card's event was accepted, by idempotency key.
fn tally(got: &Receiver, accepted: &HashMap<String, Instant>) -> Tally {
    let cards = got.cards();
    // Per webhook, its cards' arrivals: how many of Teams' windows saw more posts than
    // allowed (the benchmark's webhooks are connector webhooks).
    let mut per_hook: HashMap<&str, Vec<Instant>> = HashMap::new();
    let mut first: HashMap<&str, Instant> = HashMap::new();
    let mut duplicates = 0;
    for card in &cards {
        per_hook.entry(&card.path).or_default().push(card.at);
        match first.get(card.idempotency_key.as_str()) {
            Some(_) => duplicates += 1,
            None => {
                first.insert(&card.idempotency_key, card.at);
            }
        }
    }
    let violations_n: usize = per_hook.values().map(|times| violations(times)).sum();
    let mut latencies_ms = Vec::with_capacity(accepted.len());
    let mut lost = 0;
    let mut last_ms: f64 = 0.0;
    let mut last_at: Option<Instant> = None;
    for (key, at) in accepted {
        match first.get(key.as_str()) {
            Some(t) => {
                let ms = t.saturating_duration_since(*at).as_secs_f64() * 1000.0;
                latencies_ms.push(ms);
                last_ms = last_ms.max(ms);
                last_at = last_at.max(Some(*t));
            }
            None => lost += 1,
        }
    }
    latencies_ms.sort_by(|a, b| a.total_cmp(b));
    Tally {
        latencies_ms,
        lost,
        duplicates,
        violations: violations_n,
        last_ms,
        last_at,
    }
}

/// Waits until every expected card came (or `limit` passed).
async fn wait(got: &Receiver, expected: usize, limit: Duration) {
    let started = Instant::now();
    while started.elapsed() < limit {
        let have = got.count();
        if have >= expected {
            // A moment for duplicates still on their way.
            tokio::time::sleep(Duration::from_millis(300)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn report(t: &Tally) {
    println!(
        "  accepted -> received:   p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms, last {:.0} ms",
        pct(&t.latencies_ms, 0.50),
        pct(&t.latencies_ms, 0.95),
        pct(&t.latencies_ms, 0.99),
        t.last_ms
    );
    println!(
        "  lost {}, duplicates {}, rate-window violations {}",
        t.lost, t.duplicates, t.violations
    );
}

fn memory(instances: &[ServerProcess]) {
    let peaks: Vec<String> = instances
        .iter()
        .map(|i| format!("{:.1} MiB", i.peak_mib()))
        .collect();
    println!("  peak memory per instance (VmHWM): {}", peaks.join(", "));
}

async fn fan_out(o: &Options, n: usize) -> Result<()> {
    let got = Receiver::start(Duration::ZERO).await;
    let inbox = got.origin.clone();
    let db = Database::create(o, &format!("fan{n}")).await?;
    let instances = (0..o.instances)
        .map(|_| start(o, &inbox, &db))
        .collect::<Result<Vec<_>>>()?;
    let urls: Vec<String> = instances.iter().map(|i| i.url.clone()).collect();
    let client = reqwest::Client::new();
    let size = o.group(n);
    let groups = n.div_ceil(size);
    let layout = Layout {
        size,
        filtered: groups > 1 && CONNECTOR.filter_field().is_some(),
        per_connection: false,
    };
    let setup = Instant::now();
    create(&client, &urls, &inbox, n, layout).await?;
    println!(
        "fan-out to {n} webhooks, {} instance(s) on {}: {n} connections created in {:.1} s",
        o.instances,
        if o.database_url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        setup.elapsed().as_secs_f64()
    );
    if groups > 1 {
        println!(
            "  {groups} events, each to its own {size} connections ({})",
            if CONNECTOR.account.is_some() {
                format!("one account each: {groups} accounts")
            } else {
                "by their project filter".to_string()
            }
        );
    }
    let cpu: Vec<f64> = instances.iter().map(|i| i.cpu_secs()).collect();
    let started = Instant::now();
    // The events, 16 at a time; each card's expected key with its event's acceptance.
    let mut sends = tokio::task::JoinSet::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for _ in 0..16.min(groups) {
        let (client, urls, next) = (client.clone(), urls.clone(), next.clone());
        sends.spawn(async move {
            let mut accepted = Vec::new();
            loop {
                let g = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if g >= groups {
                    return anyhow::Ok(accepted);
                }
                let id = format!("bench-{g}");
                let project = layout.filtered.then(|| project(g));
                let body = event(&id, "Benchmark", project, g);
                let res = signed_post(&client, &urls[g % urls.len()], body)
                    .send()
                    .await?;
                let at = Instant::now();
                anyhow::ensure!(
                    res.status() == 202,
                    "event {id}: {} {}",
                    res.status(),
                    res.text().await.unwrap_or_default()
                );
                for i in g * size..((g + 1) * size).min(n) {
                    accepted.push((format!("{id}:c{i}"), at));
                }
            }
        });
    }
    let mut accepted: HashMap<String, Instant> = HashMap::with_capacity(n);
    while let Some(r) = sends.join_next().await {
        accepted.extend(r??);
    }
    wait(&got, n, Duration::from_secs(900)).await;
    let t = tally(&got, &accepted);
    let delivered = t.latencies_ms.len();
    let span = t.last_at.map_or(0.0, |at| {
        at.saturating_duration_since(started).as_secs_f64()
    });
    let cpu: f64 = instances
        .iter()
        .zip(cpu)
        .map(|(i, before)| i.cpu_secs() - before)
        .sum();
    println!(
        "  cards delivered {delivered}, {:.0} cards/s ({:.1} µs per card; server cpu {:.1} µs per card)",
        delivered as f64 / span,
        span * 1e6 / delivered.max(1) as f64,
        cpu * 1e6 / delivered.max(1) as f64
    );
    report(&t);
    memory(&instances);
    drop(instances);
    db.drop_it().await
}

async fn steady(o: &Options) -> Result<()> {
    let got = Receiver::start(Duration::ZERO).await;
    let inbox = got.origin.clone();
    let db = Database::create(o, "steady").await?;
    let instances = (0..o.instances)
        .map(|_| start(o, &inbox, &db))
        .collect::<Result<Vec<_>>>()?;
    let urls: Vec<String> = instances.iter().map(|i| i.url.clone()).collect();
    let client = reqwest::Client::new();
    let webhooks = o.steady_webhooks;
    if CONNECTOR.filter_field().is_none() {
        bail!("the steady phase sends each event to one connection through the project filter, and this connector has no filter field (--steady 0 skips it)");
    }
    let layout = Layout {
        size: ACCOUNT_SIZE,
        filtered: true,
        per_connection: true,
    };
    create(&client, &urls, &inbox, webhooks, layout).await?;
    let total = o.steady_rate as u64 * o.steady_secs;
    println!(
        "steady {} events/s for {} s, each to one of {webhooks} webhooks{}, through {} instance(s):",
        o.steady_rate,
        o.steady_secs,
        if CONNECTOR.account.is_some() {
            format!(" (in {} accounts of {ACCOUNT_SIZE})", webhooks.div_ceil(ACCOUNT_SIZE))
        } else {
            String::new()
        },
        o.instances
    );
    let accepted: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    // How long each POST took to be answered 202 (the event and its delivery stored).
    let answers: Arc<Mutex<Vec<f64>>> = Arc::default();
    let mut every = tokio::time::interval(Duration::from_secs_f64(1.0 / o.steady_rate as f64));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut sends = tokio::task::JoinSet::new();
    for k in 0..total {
        every.tick().await;
        let i = k as usize % webhooks;
        let body = event(
            &format!("s{k}"),
            "Steady",
            Some(project(i)),
            i / layout.size,
        );
        let req = signed_post(&client, &urls[k as usize % urls.len()], body);
        let (accepted, answers) = (accepted.clone(), answers.clone());
        sends.spawn(async move {
            let posted = Instant::now();
            let res = req.send().await?;
            // Accepted: the 202 is read (a card may even come before it).
            let at = Instant::now();
            answers
                .lock()
                .unwrap()
                .push((at - posted).as_secs_f64() * 1000.0);
            anyhow::ensure!(res.status() == 202, "event s{k}: {}", res.status());
            accepted.lock().unwrap().insert(format!("s{k}:c{i}"), at);
            Ok(())
        });
    }
    while let Some(r) = sends.join_next().await {
        r??;
    }
    let sent_in = started.elapsed().as_secs_f64();
    wait(&got, total as usize, Duration::from_secs(120)).await;
    let t = tally(&got, &accepted.lock().unwrap());
    println!(
        "  {total} events sent in {sent_in:.1} s ({:.0}/s), {} cards delivered",
        total as f64 / sent_in,
        t.latencies_ms.len()
    );
    let mut answers = answers.lock().unwrap().clone();
    answers.sort_by(|a, b| a.total_cmp(b));
    println!(
        "  POST -> 202 (event stored): p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms",
        pct(&answers, 0.50),
        pct(&answers, 0.95),
        pct(&answers, 0.99)
    );
    report(&t);
    memory(&instances);
    drop(instances);
    db.drop_it().await
}

#[tokio::main]
async fn main() -> Result<()> {
    let o = Options::parse_checked()?;
    for n in o.fan_outs() {
        fan_out(&o, n).await?;
    }
    if o.steady_rate > 0 {
        steady(&o).await?;
    }
    Ok(())
}
