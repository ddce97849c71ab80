//! `cargo xtask bench api`: a release server (API role, so nothing is delivered meanwhile)
//! on loopback with a fresh database of N connections whose webhooks are its own dev inbox,
//! driven by 64 keep-alive HTTP/1.1 clients for S seconds per scenario: `/healthz` (the
//! floor: the layers every route shares, no work), GET a connection, PUT an update, a 90/10
//! mix, and signed events each matching 10 connections. Prints requests/s, p50/p99/max
//! latency, errors and the server's peak memory per scenario.
//!
//! The load generator is hand-written on hyper's client connection (no pool, no redirects):
//! a general client such as reqwest costs the shared two cores more than the server does.

use connector_bench as support;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use connector_settings::{CardStyle, Value, CONNECTOR};
use connector_test_kit::ServerProcess;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::json;

const SECRET: &str = "bench-events-secret-of-32-bytes-or-more";
/// Connections each event matches.
const FAN_OUT: usize = 10;

/// Drives a release server under load and prints what it answers.
#[derive(clap::Parser)]
#[command(name = "bench-api")]
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
    /// Connections stored before the scenarios.
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(FAN_OUT as u64..))]
    connections: usize,
    /// Keep-alive clients.
    #[arg(long, value_name = "N", default_value_t = 64)]
    clients: usize,
    /// Seconds per scenario.
    #[arg(long, value_name = "S", default_value_t = 20)]
    seconds: u64,
    /// Only these scenarios (all when absent).
    #[arg(long = "scenario", value_enum, value_name = "NAME")]
    scenarios: Vec<Scenario>,
    /// Instead of the connector server, drive an ideal one that only spends a fixed CPU time
    /// on each request (0 to 150 µs): the p99 this machine allows at each throughput.
    #[arg(long, conflicts_with_all = ["database_url", "scenarios"])]
    calibrate: bool,
}

/// CPU times per request of the ideal server, in µs.
const CALIBRATION_COSTS: [u64; 6] = [0, 25, 50, 75, 100, 150];

/// The server process (the test kit's, killed when dropped) and its database's directory.
struct Server {
    process: ServerProcess,
    port: u16,
    _dir: support::ScratchDir,
}

impl Server {
    fn start(o: &Options) -> Result<Server> {
        let dir = support::scratch_dir("api")?;
        let mut cmd = Command::new(&o.server);
        cmd.args([
            "--dev",
            "--role",
            "api",
            "--port",
            "0",
            "--dist",
            "/nonexistent",
        ])
        .args(["--write-rate", "0", "--tenant-write-rate", "0"])
        .args(["--events-secret", SECRET])
        .arg("--db")
        .arg(dir.path().join("bench.sqlite"))
        .stderr(Stdio::null());
        if let Some(url) = &o.database_url {
            cmd.args(["--database-url", url])
                .args(["--encryption-keys", &format!("k1:{}", "11".repeat(32))]);
        }
        // The known key lets the bench link connections to accounts (builds with [account]).
        cmd.args(["--hash-key", support::BENCH_KEY]);
        if CONNECTOR.account.is_some() {
            cmd.args(["--account-client-secret", support::BENCH_ACCOUNT_SECRET]);
        }
        let process = ServerProcess::spawn(cmd, false)?;
        let port = process
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("the server's address {} has no port", process.url))?;
        Ok(Server {
            process,
            port,
            _dir: dir,
        })
    }
}

/// The event type every benchmark event has.
fn kind() -> &'static str {
    CONNECTOR.event_types()[0].value
}

/// Connection `i`'s group: events of project `/p{group}.` match its ten connections only.
fn project(i: usize) -> String {
    format!("/p{}.", i / FAN_OUT)
}

/// Connection `i`'s account in a build with `[account]`: 10 connections an account (1,000
/// accounts with the default 10,000 connections), the same ten its events' project matches.
fn account(i: usize) -> String {
    format!("acct{}", i / FAN_OUT)
}

/// A proof linking connection `i` to its account.
fn proof(i: usize) -> String {
    support::account_proof(&account(i))
}

fn hook(port: u16, i: usize) -> String {
    format!("http://127.0.0.1:{port}/emulator/webhook/webhookb2/c{i}@t/IncomingWebhook/abc/u")
}

/// Settings that want the connector's first event type of connection `i`'s project, found
/// by the fields' roles (any connector.toml).
fn settings(i: usize, name: &str) -> serde_json::Value {
    let mut s = connector_settings::default_values();
    s.insert(CONNECTOR.name_field().id.into(), Value::Text(name.into()));
    s.insert(
        CONNECTOR.events_field().id.into(),
        Value::List(vec![kind().into()]),
    );
    if let Some(field) = CONNECTOR.filter_field() {
        s.insert(field.id.into(), Value::Text(project(i)));
    }
    if let (Some(field), Some(value)) = (
        CONNECTOR.card_style_field(),
        CONNECTOR.card_style_value(CardStyle::Compact),
    ) {
        s.insert(field.id.into(), Value::Text(value.into()));
    }
    serde_json::to_value(s).expect("settings are JSON")
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum Scenario {
    #[value(skip)]
    Create,
    /// `GET /healthz`: the layers every request goes through (request id, span and log line,
    /// security headers) and no work, so the floor the machine and the load generator set.
    Health,
    Get,
    Put,
    /// 90% GET, 10% PUT.
    Mix,
    /// Signed events, each matching 10 connections.
    Events,
}

/// One request of `scenario` from client `c`'s `n`th turn, with the status it must get.
fn request(
    scenario: Scenario,
    port: u16,
    connections: usize,
    c: usize,
    n: u64,
) -> (Request<Full<Bytes>>, u16) {
    let pick = |salt: u64| {
        // A cheap spread over the connections (no shared random generator).
        let x = (n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (c as u64).wrapping_mul(0xc2b2_ae35))
            .wrapping_add(salt);
        (x % connections as u64) as usize
    };
    let scenario = match scenario {
        Scenario::Mix if n % 10 == 9 => Scenario::Put,
        Scenario::Mix => Scenario::Get,
        s => s,
    };
    let builder = Request::builder().header("host", format!("127.0.0.1:{port}"));
    match scenario {
        Scenario::Health => {
            let req = builder
                .method("GET")
                .uri("/healthz")
                .body(Full::default())
                .unwrap();
            (req, 200)
        }
        Scenario::Get => {
            let i = pick(1);
            let req = builder
                .method("GET")
                .uri(format!("/api/connections/c{i}"))
                .header("x-teams-webhook-url", hook(port, i))
                .body(Full::default())
                .unwrap();
            (req, 200)
        }
        Scenario::Put | Scenario::Create => {
            let i = if scenario == Scenario::Create {
                n as usize
            } else {
                pick(2)
            };
            let name = format!("Bench {c}-{n}");
            let mut body = json!({ "webhookUrl": hook(port, i), "settings": settings(i, &name) });
            // Creates link their account; changes keep it.
            if scenario == Scenario::Create && CONNECTOR.account.is_some() {
                body["accountProof"] = proof(i).into();
            }
            let req = builder
                .method("PUT")
                .uri(format!("/api/connections/c{i}"))
                .header("content-type", "application/json")
                .body(Full::from(body.to_string()))
                .unwrap();
            (
                req,
                if scenario == Scenario::Create {
                    201
                } else {
                    200
                },
            )
        }
        Scenario::Events | Scenario::Mix => {
            let i = pick(3);
            let mut body = json!({ "id": format!("e{c}-{n}"), "type": kind(), "title": "Bench",
                               "project": project(i) });
            if CONNECTOR.account.is_some() {
                body["account"] = account(i).into();
            }
            let body = body.to_string();
            let ts = time::OffsetDateTime::now_utc().unix_timestamp();
            let req = builder
                .method("POST")
                .uri("/api/events")
                .header("content-type", "application/json")
                .header("x-connector-timestamp", ts.to_string())
                .header(
                    "x-connector-signature",
                    connector_server::sign_event(SECRET, ts, body.as_bytes()),
                )
                .body(Full::from(body))
                .unwrap();
            (req, 202)
        }
    }
}

#[derive(Default)]
struct Figures {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

/// Client `c`: one keep-alive connection, requests one after another until `until` (or,
/// when creating, its share of the connections).
async fn client(
    scenario: Scenario,
    port: u16,
    o_connections: usize,
    c: usize,
    clients: usize,
    until: Instant,
    next_create: Arc<AtomicU64>,
) -> Result<Figures> {
    let mut figures = Figures::default();
    let mut sender = None;
    // Each client its own run of turns (the turn picks the connection).
    let mut n: u64 = c as u64 * (u64::MAX / clients as u64);
    loop {
        if scenario == Scenario::Create {
            n = next_create.fetch_add(1, Ordering::Relaxed);
            if n as usize >= o_connections {
                break;
            }
        } else if Instant::now() >= until {
            break;
        } else {
            n += 1;
        }
        if sender.is_none() {
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            stream.set_nodelay(true)?;
            let (s, conn) = http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            sender = Some(s);
        }
        let s = sender.as_mut().unwrap();
        let (req, want) = request(scenario, port, o_connections, c, n);
        let started = Instant::now();
        let answer = async {
            let res = s.send_request(req).await?;
            let status = res.status().as_u16();
            let body = res.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, body))
        }
        .await;
        let took = started.elapsed();
        figures
            .latencies_us
            .push(took.as_micros().min(u32::MAX as u128) as u32);
        let ok = match &answer {
            Ok((status, body)) if *status == want => {
                scenario != Scenario::Events
                    || serde_json::from_slice::<serde_json::Value>(body)
                        .is_ok_and(|v| v["deliveries"] == FAN_OUT)
            }
            _ => false,
        };
        if !ok {
            figures.errors += 1;
            let broken = answer.is_err();
            if figures.first_error.is_none() {
                figures.first_error = Some(match answer {
                    Ok((status, body)) => {
                        format!("{status}: {}", String::from_utf8_lossy(&body))
                    }
                    Err(e) => format!("{e:#}"),
                });
            }
            if broken {
                sender = None;
            }
        }
    }
    Ok(figures)
}

async fn drive(scenario: Scenario, o: &Options, port: u16, secs: u64) -> Result<Figures> {
    let until = Instant::now() + Duration::from_secs(secs);
    let next_create = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..o.clients)
        .map(|c| {
            tokio::spawn(client(
                scenario,
                port,
                o.connections,
                c,
                o.clients,
                until,
                next_create.clone(),
            ))
        })
        .collect();
    let mut all = Figures::default();
    for t in tasks {
        let f = t.await??;
        all.latencies_us.extend(f.latencies_us);
        all.errors += f.errors;
        all.first_error = all.first_error.or(f.first_error);
    }
    Ok(all)
}

fn ms(us: u32) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

/// `server`: the server's peak memory and the CPU seconds it spent in the scenario.
fn report(db: &str, name: &str, mut f: Figures, took: Duration, server: Option<(f64, f64)>) {
    f.latencies_us.sort_unstable();
    let n = f.latencies_us.len();
    let at = |q: f64| f.latencies_us[((n as f64 * q) as usize).min(n - 1)];
    println!(
        "{db:<10} {name:<8} {:>9.0} req/s  p50 {:>9}  p99 {:>9}  max {:>9}  errors {:>5}{}",
        n as f64 / took.as_secs_f64(),
        ms(at(0.50)),
        ms(at(0.99)),
        ms(f.latencies_us[n - 1]),
        f.errors,
        server
            .map(|(peak, cpu)| format!(
                "  cpu {:>4.0} µs/req  peak {peak:.1} MiB",
                cpu * 1e6 / n.max(1) as f64
            ))
            .unwrap_or_default()
    );
    if let Some(e) = f.first_error {
        println!(
            "           first error: {}",
            e.chars().take(200).collect::<String>()
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let o = <Options as clap::Parser>::parse();
    if o.calibrate {
        return calibrate(&o).await;
    }
    let db = if o.database_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let server = Server::start(&o)?;
    let started = Instant::now();
    let created = drive(Scenario::Create, &o, server.port, 0).await?;
    if created.errors > 0 {
        bail!(
            "creating the connections: {} errors, first: {}",
            created.errors,
            created.first_error.unwrap_or_default()
        );
    }
    println!(
        "{db}: {} connections created in {:.1} s; {} clients, {} s a scenario",
        o.connections,
        started.elapsed().as_secs_f64(),
        o.clients,
        o.seconds
    );
    for (name, scenario) in [
        ("health", Scenario::Health),
        ("GET", Scenario::Get),
        ("PUT", Scenario::Put),
        ("90/10", Scenario::Mix),
        ("events", Scenario::Events),
    ] {
        if !o.scenarios.is_empty() && !o.scenarios.contains(&scenario) {
            continue;
        }
        server.process.reset_peak();
        let cpu = server.process.cpu_secs();
        let started = Instant::now();
        let f = drive(scenario, &o, server.port, o.seconds).await?;
        let cpu = server.process.cpu_secs() - cpu;
        report(
            db,
            name,
            f,
            started.elapsed(),
            Some((server.process.peak_mib(), cpu)),
        );
    }
    println!(
        "{db}: events each stored {FAN_OUT} deliveries (checked on every answer){}; cpu is the server's user and system time per request, peak memory its VmHWM over each scenario",
        if CONNECTOR.account.is_some() {
            format!(", each for one of {} accounts of {FAN_OUT} connections", o.connections / FAN_OUT)
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Drives the ideal server at each CPU time per request, as the scenarios drive the real one.
async fn calibrate(o: &Options) -> Result<()> {
    println!(
        "ideal server: {} worker threads, a fixed CPU time per request; {} clients, {} s each",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        o.clients,
        o.seconds
    );
    for cost in CALIBRATION_COSTS {
        let ideal = IdealServer::start(Duration::from_micros(cost))?;
        let started = Instant::now();
        let f = drive(Scenario::Health, o, ideal.port, o.seconds).await?;
        report("ideal", &format!("{cost} µs"), f, started.elapsed(), None);
    }
    Ok(())
}

/// A server that does nothing but spin for its CPU time on each request, on a runtime of its
/// own with as many worker threads as the connector server has: an even, CPU-bound server.
struct IdealServer {
    port: u16,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl IdealServer {
    fn start(cost: Duration) -> Result<IdealServer> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (bound, port) = std::sync::mpsc::channel();
        std::thread::spawn(move || -> Result<()> {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
                bound.send(listener.local_addr()?.port())?;
                let serve = async {
                    loop {
                        let (stream, _) = listener.accept().await?;
                        stream.set_nodelay(true)?;
                        tokio::spawn(async move {
                            let answer = hyper::service::service_fn(move |_req| async move {
                                let started = Instant::now();
                                while started.elapsed() < cost {
                                    std::hint::spin_loop();
                                }
                                anyhow::Ok(hyper::Response::new(Full::new(Bytes::from_static(
                                    b"ok",
                                ))))
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), answer)
                                .await;
                        });
                    }
                    #[allow(unreachable_code)]
                    anyhow::Ok(())
                };
                tokio::select! {
                    r = serve => r,
                    _ = stopped => Ok(()),
                }
            })
        });
        let port = port
            .recv_timeout(Duration::from_secs(5))
            .context("the ideal server did not start")?;
        Ok(IdealServer { port, _stop: stop })
    }
}
