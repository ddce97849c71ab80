//! The build, run and test tasks.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::accounts;
use crate::build::{build_page, Build};
use crate::setup::{self, root, run as sh, tool_path};

fn build_server() -> Result<()> {
    sh(Command::new("cargo")
        .args(["build", "--quiet", "-p", "connector-server"])
        .current_dir(root()))
}

/// The events secret of the local dev server (never of a deployment); the server takes no
/// secret shorter than 32 bytes.
const DEV_EVENTS_SECRET: &str = "dev-events-secret-not-for-production";

/// Arguments of `run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The port the server listens on.
    #[arg(long, value_name = "N", default_value_t = 8080)]
    port: u16,
    /// Build the page as for a deployment.
    #[arg(long)]
    release: bool,
}

pub fn run(args: &RunArgs) -> Result<()> {
    let RunArgs { port, release } = *args;
    let port = port.to_string();
    setup::install(setup::RUN)?;
    build_page(&Build {
        release,
        ..Build::default()
    })?;
    crate::admin_page::build(release, None)?;
    build_server()?;
    let root = root();
    std::fs::create_dir_all(root.join("build"))?;
    let mut server = Command::new(root.join("target/debug/connector-server"));
    // With `[account]`, the service's sign-in is a local provider with two demo users;
    // stopped when dropped, after the server.
    let provider = match &connector_settings::CONNECTOR.account {
        Some(account) => Some(start_demo_provider(&root, account, &port, &mut server)?),
        None => None,
    };
    println!("xtask: starting the server in dev mode (Ctrl-C stops it); data in build/dev.sqlite");
    let kind = connector_settings::CONNECTOR.event_types()[0].value;
    println!(
        "xtask: send an event with: target/debug/connector-server send-event --server http://127.0.0.1:{port} \\\n         --secret {DEV_EVENTS_SECRET} --type {kind} --title 'Something happened'"
    );
    let result = sh(server
        .args([
            "--dev",
            "--port",
            &port,
            "--db",
            "build/dev.sqlite",
            "--dist",
            "dist",
            "--emulator-dir",
            "emulator",
            "--events-secret",
            DEV_EVENTS_SECRET,
        ])
        .current_dir(&root));
    drop(provider);
    result
}

/// Starts the loopback identity provider for `account`'s client and the https front the
/// sign-in needs, and points `server` at them; both stop when dropped.
fn start_demo_provider(
    root: &std::path::Path,
    account: &connector_settings::AccountSpec,
    port: &str,
    server: &mut Command,
) -> Result<[accounts::Helper; 2]> {
    let target = format!("http://127.0.0.1:{port}");
    // The emulator (on the server's origin) hosts the page through the front.
    let config = serde_json::json!({ "apiBaseUrl": "", "validMessageOrigins": [target] });
    // The port after the server's: the same address every run (the certificate is new each
    // run, as it is only for loopback).
    let front_port = port
        .parse::<u16>()
        .ok()
        .and_then(|p| p.checked_add(1))
        .context("the port after --port is no port")?;
    let front = accounts::Helper::https_front(root, &target, front_port, &config.to_string())?;
    let provider = accounts::Helper::provider(
        root,
        account.client_id,
        accounts::DEV_CLIENT_SECRET,
        &[format!("{}/auth/callback.html", front.url)],
    )?;
    server
        .args(["--account-issuer", &provider.url])
        .args(["--account-client-id", account.client_id])
        .args(["--cors-origin", &front.url])
        .env(
            "CONNECTOR_ACCOUNT_CLIENT_SECRET",
            accounts::DEV_CLIENT_SECRET,
        );
    let service = account.service.get(connector_settings::Locale::default());
    let front_url = &front.url;
    println!(
        "xtask: teams-js opens \"Sign in to {service}\" only on https: the page is also at {front_url}/\n\
         xtask: (a self-signed certificate: open that address once and accept it), so open\n\
         xtask:   {target}/emulator/?page={front_url}/"
    );
    println!(
        "xtask: the sign-in is a local OpenID provider at {}; no password, sign in as:",
        provider.url
    );
    for (user, org, name) in accounts::DEMO_USERS {
        println!("xtask:   {user} ({name}, account {org})");
    }
    println!("xtask: events must name their account (acme or globex): it picks the channels");
    Ok([front, provider])
}

/// Formatting and clippy, first because they are fast and a failure there needs no test run:
/// the native crates, then the page for the target it ships to.
fn lint(root: &std::path::Path) -> Result<()> {
    println!("xtask: cargo fmt --check, cargo clippy -D warnings");
    sh(Command::new("cargo")
        .args(["fmt", "--all", "--check"])
        .current_dir(root))?;
    sh(Command::new("cargo")
        .args([
            "clippy",
            "--workspace",
            "--exclude",
            "teams-connector",
            "--exclude",
            "connector-admin",
            "--all-targets",
        ])
        .args(["--", "-D", "warnings"])
        .current_dir(root))?;
    sh(Command::new("cargo")
        .args(["clippy", "-p", "teams-connector", "--all-targets"])
        .args(["--target", "wasm32-unknown-unknown", "--", "-D", "warnings"])
        .current_dir(root))?;
    sh(Command::new("cargo")
        .args(["clippy", "-p", "connector-admin", "--all-targets"])
        .args(["--target", "wasm32-unknown-unknown", "--", "-D", "warnings"])
        .current_dir(root))
}

/// The Prometheus rules in deploy/: valid, and their unit tests pass (that every metric they
/// name is one the server exports is a server test).
fn alert_rules(root: &std::path::Path) -> Result<()> {
    setup::promtool()?;
    println!("xtask: promtool check rules, promtool test rules (deploy/alerts.yml)");
    let deploy = root.join("deploy");
    sh(Command::new("promtool")
        .args(["check", "rules", "alerts.yml"])
        .current_dir(&deploy))?;
    sh(Command::new("promtool")
        .args(["test", "rules", "alerts.test.yml"])
        .current_dir(&deploy))
}

/// docs/configuration.md is written by the server's test that checks it, so the flag list
/// has one home: clap's definitions.
pub fn docs() -> Result<()> {
    println!("xtask: writing docs/configuration.md from the server's flags");
    sh(Command::new("cargo")
        .args(["test", "-q", "-p", "connector-server", "--test", "docs"])
        .env("CONNECTOR_WRITE_DOCS", "1")
        .current_dir(root()))
}

/// The second example connector, which `test` also builds and tests against.
const SECOND_CONNECTOR: &str = "connectors/uptime-watch.toml";

pub fn test() -> Result<()> {
    setup::install(setup::TEST)?;
    let root = root();
    lint(&root)?;
    alert_rules(&root)?;
    // Stopped when dropped, at the end of this function or on the first failure.
    let (database_url, cluster) = crate::postgres::for_tests()?;
    println!("xtask: native tests (settings, server on SQLite and PostgreSQL, benchmarks, xtask)");
    let mut native = Command::new("cargo");
    native
        .args([
            "test",
            "-p",
            "connector-settings",
            "-p",
            "connector-server",
            "-p",
            "connector-bench",
            "-p",
            "xtask",
        ])
        .env(crate::postgres::URL_VAR, &database_url)
        .current_dir(&root);
    if let Some(cluster) = &cluster {
        native.env(crate::postgres::CA_VAR, cluster.ca());
    }
    sh(&mut native)?;

    // Nothing outside connector.toml may know its fields: the settings, delivery and events
    // tests again, with everything built from a different connector.
    let second = root.join(SECOND_CONNECTOR);
    println!(
        "xtask: settings, delivery, events and accounts tests against {}",
        second.display()
    );
    sh(Command::new("cargo")
        .args(["test", "-p", "connector-settings"])
        .env("CONNECTOR_TOML", &second)
        .current_dir(&root))?;
    sh(Command::new("cargo")
        .args(["test", "-p", "connector-server", "--test", "api", "--"])
        .args(["delivery::", "events::", "accounts::"])
        .env("CONNECTOR_TOML", &second)
        .current_dir(&root))?;
    // The benchmarks against the server just built for it (addressed events, accounts).
    sh(Command::new("cargo")
        .args(["test", "-p", "connector-bench"])
        .env("CONNECTOR_TOML", &second)
        .current_dir(&root))?;
    // While the server is built for it: the second connector's server for the accounts
    // end-to-end tests (it has `[account]`); its page after the page tests for it, below.
    let accounts_server = accounts::build_server_for(&root, &second)?;

    println!("xtask: schemathesis against the server's OpenAPI document");
    build_server()?;
    schemathesis(&root)?;

    println!("xtask: page tests in headless Chromium (wasm-bindgen-test)");
    sh(Command::new("cargo")
        .args([
            "test",
            "-p",
            "teams-connector",
            "--target",
            "wasm32-unknown-unknown",
        ])
        .current_dir(&root)
        .env("PATH", tool_path())
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
            "wasm-bindgen-test-runner",
        )
        .env("CHROMEDRIVER", "/usr/bin/chromedriver")
        .env("WASM_BINDGEN_TEST_TIMEOUT", "120"))?;
    // The sign-in to the sending service exists only in a build with `[account]`.
    println!("xtask: page account tests against {}", second.display());
    sh(Command::new("cargo")
        .args([
            "test",
            "-p",
            "teams-connector",
            "--target",
            "wasm32-unknown-unknown",
        ])
        .args(["--test", "web_accounts"])
        .current_dir(&root)
        .env("CONNECTOR_TOML", &second)
        .env("PATH", tool_path())
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
            "wasm-bindgen-test-runner",
        )
        .env("CHROMEDRIVER", "/usr/bin/chromedriver")
        .env("WASM_BINDGEN_TEST_TIMEOUT", "120"))?;
    let accounts_dist = accounts::build_page_for_accounts(&root, &second)?;

    println!("xtask: end-to-end tests (real server, emulator, teams-js, Chromium)");
    build_page(&Build::default())?;
    // The operators' console in dist/admin/, for e2e/admin.test.mjs.
    crate::admin_page::build(false, None)?;
    // The same page as a static host would serve it: under a sub-path, API elsewhere.
    let subpath_dist = root.join("build/e2e-dist");
    build_page(&Build {
        public_url: Some("/connector/".into()),
        dist: Some(subpath_dist.display().to_string()),
        ..Build::default()
    })?;
    build_server()?;
    // The plain-JavaScript reference page of `bench page`, for its smoke test.
    let reference = crate::bench_page::test_reference_dir();
    crate::bench_page::assemble_reference(&root.join("dist"), &reference)?;
    let mut tests = Vec::new();
    for dir in ["e2e", "e2e/oidc"] {
        for entry in std::fs::read_dir(root.join(dir))? {
            let path = entry?.path();
            if path.to_string_lossy().ends_with(".test.mjs") {
                tests.push(path.display().to_string());
            }
        }
    }
    if tests.is_empty() {
        bail!("no end-to-end tests found in e2e/");
    }
    sh(Command::new("node")
        .args(["--test", "--test-concurrency=1"])
        .args(&tests)
        .current_dir(&root)
        .env("SERVER_BIN", root.join("target/debug/connector-server"))
        .env("DIST_DIR", root.join("dist"))
        .env("SUBPATH_DIST_DIR", &subpath_dist)
        .env("REFERENCE_DIR", &reference)
        .env("ACCOUNTS_DIST_DIR", &accounts_dist)
        .env("ACCOUNTS_SERVER_BIN", &accounts_server))?;

    // The image, run from its root filesystem on SQLite and PostgreSQL: 6.5 min cold (a
    // musl release build and the release page), 12 s warm on 2 cores, within CI's budget.
    // Its chroot needs root; elsewhere it is skipped, saying so.
    if crate::postgres::is_root() {
        println!("xtask: the container image (cargo xtask image --test)");
        crate::image::run(&crate::image::ImageArgs {
            connector: None,
            tag: None,
            source: None,
            test: true,
        })?;
    } else {
        println!("xtask: skipped the image test: it runs the image in a chroot, which needs root");
    }
    println!("xtask: all tests passed");
    Ok(())
}

/// The admin token schemathesis calls the admin API with.
const ADMIN_SECRET: &str = "schemathesis-admin-secret";

/// Runs schemathesis against a fresh server, its API and its admin API: no 5xx, and every
/// answer as documented.
fn schemathesis(root: &std::path::Path) -> Result<()> {
    use std::io::{BufRead, BufReader};
    let dir = root.join("build/schemathesis");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mut server = Command::new(root.join("target/debug/connector-server"))
        .args(["--port", "0", "--db"])
        .arg(dir.join("t.sqlite"))
        // Thousands of generated writes from one address are the point here.
        .args(["--write-rate", "0", "--tenant-write-rate", "0"])
        // The admin API on the internal listener, checked against its own document.
        .args(["--metrics-addr", "127.0.0.1:0"])
        .env(
            "CONNECTOR_ADMIN_TOKEN",
            format!("schemathesis:{ADMIN_SECRET}"),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("cannot start connector-server")?;
    let mut out = BufReader::new(server.stdout.take().unwrap());
    let mut address = |prefix: &str| -> Option<String> {
        let mut line = String::new();
        out.read_line(&mut line).ok()?;
        line.trim()
            .strip_prefix(prefix)
            .map(|u| u.trim_end_matches('/').to_string())
    };
    let url = address("listening on ");
    let metrics = address("metrics on ");
    // Acceptance of generated webhook URLs depends on DNS and the allowed hosts, which a
    // schema cannot say; what the issue asks is checked: no 5xx, answers as documented.
    let checks = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance";
    let run = |document: String, extra: &[&str]| {
        sh(Command::new("schemathesis")
            .args(["run", &document])
            .args(["--checks", checks])
            .args([
                "--max-examples",
                "50",
                "--request-timeout",
                "10",
                "--seed",
                "1",
            ])
            .args(extra)
            .current_dir(&dir))
    };
    let result = match (url, metrics) {
        (Some(url), Some(metrics)) => run(format!("{url}/api/openapi.json"), &[]).and_then(|()| {
            println!("xtask: schemathesis against the admin API's OpenAPI document");
            let internal = metrics.trim_end_matches("/metrics");
            run(
                format!("{internal}/admin/openapi.json"),
                &["-H", &format!("Authorization: Bearer {ADMIN_SECRET}")],
            )
        }),
        _ => Err(anyhow::anyhow!(
            "connector-server did not print its addresses"
        )),
    };
    let _ = server.kill();
    let _ = server.wait();
    result
}

/// The benchmarks.
#[derive(clap::Subcommand)]
pub enum Bench {
    /// N connections (default 10000) with local webhooks, a fan-out then a steady phase:
    /// cards/s, p50/p95/p99 latency, lost, duplicates, rate-window violations, peak memory and
    /// CPU per card. Every flag after xtask's own goes to `bench-delivery` (`-- --help` lists
    /// them).
    Delivery(DeliveryArgs),
    /// Our release page against a hand-written JavaScript page in the emulator, alternating:
    /// time to initialize, to the form being usable, to notifySuccess; bytes; ratios.
    Page(crate::bench_page::Options),
    /// A release server with N connections under 64 keep-alive clients, S seconds per
    /// scenario (/healthz, GET, PUT, 90/10, signed events of fan-out 10): requests/s,
    /// p50/p99/max, errors, CPU per request, peak memory; on SQLite, then on a throwaway
    /// PostgreSQL. Every flag after xtask's own goes to `bench-api` (`-- --help` lists them).
    Api(ApiArgs),
    /// The admin API's connection search: N connections (default 100000) seeded through the
    /// store, then `GET /admin/connections` by each filter (tenant, team, account, name,
    /// kind, state, some together) R times on a release server: p50/p99/max per filter; on
    /// SQLite, then on a throwaway PostgreSQL. Every flag after xtask's own goes to
    /// `bench-admin` (`-- --help` lists them).
    Admin(ApiArgs),
}

/// `bench api`'s own flags; the rest are `bench-api`'s.
#[derive(clap::Args)]
pub struct ApiArgs {
    /// Only SQLite.
    #[arg(long, conflicts_with = "postgres")]
    sqlite: bool,
    /// Only PostgreSQL (a throwaway cluster with fsync on).
    #[arg(long)]
    postgres: bool,
    #[command(flatten)]
    build: BenchBuild,
}

/// `bench delivery`'s own flags; the rest are `bench-delivery`'s.
#[derive(clap::Args)]
pub struct DeliveryArgs {
    /// On a throwaway PostgreSQL with fsync on instead of SQLite (two instances unless
    /// `--instances N` says otherwise).
    #[arg(long)]
    postgres: bool,
    #[command(flatten)]
    build: BenchBuild,
}

/// What both server benchmarks take: the build, and the benchmark binary's own flags.
#[derive(clap::Args)]
pub struct BenchBuild {
    /// The server and the benchmarks built from this connector.toml instead of the
    /// workspace's (e.g. connectors/uptime-watch.toml, which has `[account]`).
    #[arg(long, value_name = "FILE")]
    connector: Option<std::path::PathBuf>,
    /// The benchmark binary's flags, passed on as they are.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "FLAGS"
    )]
    flags: Vec<String>,
}

impl BenchBuild {
    /// Builds the release server and the benchmarks; the path of benchmark `name`.
    fn build(&self, root: &std::path::Path, name: &str) -> Result<std::path::PathBuf> {
        // After the first of the benchmark's flags everything is the benchmark's.
        for own in ["--postgres", "--sqlite", "--connector"] {
            if self.has(own) {
                bail!("{own} is a flag of xtask's: put it before the benchmark's flags (cargo xtask bench … {own} … FLAGS)");
            }
        }
        let mut cmd = Command::new("cargo");
        cmd.args([
            "build",
            "--release",
            "-p",
            "connector-server",
            "-p",
            "connector-bench",
        ])
        .args(["--bin", "connector-server", "--bin", name])
        .current_dir(root);
        if let Some(file) = &self.connector {
            let file = std::fs::canonicalize(file)
                .with_context(|| format!("--connector {}: no such file", file.display()))?;
            println!(
                "xtask: the server and benchmarks built from {}",
                file.display()
            );
            cmd.env("CONNECTOR_TOML", file);
        }
        sh(&mut cmd)?;
        Ok(root.join("target/release").join(name))
    }

    /// Whether the benchmark's flags include `flag`.
    fn has(&self, flag: &str) -> bool {
        self.flags
            .iter()
            .any(|f| f == flag || f.starts_with(&format!("{flag}=")))
    }

    /// The benchmark, run with its flags and this build's server.
    fn command(&self, root: &std::path::Path, bench: &std::path::Path) -> Command {
        let mut cmd = Command::new(bench);
        cmd.args(&self.flags)
            .arg("--server")
            .arg(root.join("target/release/connector-server"))
            .current_dir(root);
        cmd
    }
}

/// `bench delivery` (the benchmark built in release mode; with `--postgres`, on a throwaway
/// PostgreSQL with fsync on), `bench api` and `bench page`.
pub fn bench(bench: &Bench) -> Result<()> {
    let args = match bench {
        Bench::Delivery(args) => args,
        Bench::Page(o) => return crate::bench_page::run(o),
        Bench::Api(a) => return bench_api(a),
        Bench::Admin(a) => return bench_admin(a),
    };
    let root = root();
    let binary = args.build.build(&root, "bench-delivery")?;
    let mut cmd = args.build.command(&root, &binary);
    if args.build.has("--help") || args.build.has("-h") {
        return sh(&mut cmd);
    }
    // Stopped when dropped, after the benchmark.
    let cluster = if args.postgres {
        let cluster = crate::postgres::Cluster::start(true)?;
        cmd.args(["--database-url", &cluster.url()]);
        if !args.build.has("--instances") {
            cmd.args(["--instances", "2"]);
        }
        Some(cluster)
    } else {
        None
    };
    let result = sh(&mut cmd);
    drop(cluster);
    result
}

/// `bench admin`: the admin API's search, on SQLite and then on a throwaway PostgreSQL with
/// fsync on (`--sqlite` or `--postgres` for one of them).
fn bench_admin(args: &ApiArgs) -> Result<()> {
    let root = root();
    let binary = args.build.build(&root, "bench-admin")?;
    if args.build.has("--help") || args.build.has("-h") {
        return sh(&mut args.build.command(&root, &binary));
    }
    if !args.postgres {
        sh(&mut args.build.command(&root, &binary))?;
    }
    if !args.sqlite {
        // Stopped when dropped, after the benchmark.
        let cluster = crate::postgres::Cluster::start(true)?;
        sh(args
            .build
            .command(&root, &binary)
            .args(["--database-url", &cluster.url()]))?;
    }
    Ok(())
}

/// `bench api`: the API under load from 64 clients, on SQLite and then on a throwaway
/// PostgreSQL with fsync on (`--sqlite` or `--postgres` for one of them; `--calibrate`, the
/// ideal server, once).
fn bench_api(args: &ApiArgs) -> Result<()> {
    let root = root();
    let binary = args.build.build(&root, "bench-api")?;
    let once = ["--calibrate", "--help", "-h"]
        .iter()
        .any(|f| args.build.has(f));
    if once {
        return sh(&mut args.build.command(&root, &binary));
    }
    if !args.postgres {
        sh(&mut args.build.command(&root, &binary))?;
    }
    if !args.sqlite {
        // Stopped when dropped, after the benchmark.
        let cluster = crate::postgres::Cluster::start(true)?;
        sh(args
            .build
            .command(&root, &binary)
            .args(["--database-url", &cluster.url()]))?;
    }
    Ok(())
}
