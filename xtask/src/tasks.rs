//! The build, run and test tasks.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::setup::{self, root, run as sh, tool_path};

/// Options of `build`.
#[derive(Default)]
pub struct Build {
    pub release: bool,
    pub public_url: Option<String>,
    pub dist: Option<String>,
}

pub fn build_cmd(args: &[String]) -> Result<()> {
    setup::page_tools()?;
    let mut opts = Build::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--release" => opts.release = true,
            "--public-url" => {
                opts.public_url = Some(it.next().context("--public-url needs a path")?.clone())
            }
            other => bail!("unknown build option '{other}'"),
        }
    }
    build_page(&opts)
}

/// Builds the page with Trunk into `dist/` (or `opts.dist`), with its headers for static hosts
/// and precompressed copies of its files.
pub fn build_page(opts: &Build) -> Result<()> {
    // Trunk runs cargo offline (Trunk.toml), so fetch first.
    sh(Command::new("cargo").arg("fetch").current_dir(root()))?;
    let mut cmd = Command::new("trunk");
    cmd.arg("build")
        .current_dir(root())
        .env("PATH", tool_path());
    if opts.release {
        cmd.arg("--release");
    }
    if let Some(url) = &opts.public_url {
        cmd.args(["--public-url", url]);
    }
    if let Some(dist) = &opts.dist {
        cmd.args(["--dist", dist]);
    }
    sh(&mut cmd)?;
    let dist = opts
        .dist
        .as_ref()
        .map_or_else(|| root().join("dist"), std::path::PathBuf::from);
    crate::headers::write(&dist, None)?;
    let quality = if opts.release {
        crate::compress::Quality::Best
    } else {
        crate::compress::Quality::Fast
    };
    crate::compress::precompress(&dist, quality)?;
    Ok(())
}

fn build_server() -> Result<()> {
    sh(Command::new("cargo")
        .args(["build", "--quiet", "-p", "connector-server"])
        .current_dir(root()))
}

/// The events secret of the local dev server (never of a deployment); the server takes no
/// secret shorter than 32 bytes.
const DEV_EVENTS_SECRET: &str = "dev-events-secret-not-for-production";

pub fn run(args: &[String]) -> Result<()> {
    let mut port = "8080".to_string();
    let mut release = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--port" => port = it.next().context("--port needs a number")?.clone(),
            "--release" => release = true,
            other => bail!("unknown run option '{other}'"),
        }
    }
    port.parse::<u16>()
        .with_context(|| format!("--port '{port}' is not a port number"))?;
    setup::all()?;
    build_page(&Build {
        release,
        ..Build::default()
    })?;
    build_server()?;
    let root = root();
    std::fs::create_dir_all(root.join("build"))?;
    println!("xtask: starting the server in dev mode (Ctrl-C stops it); data in build/dev.sqlite");
    let kind = connector_settings::CONNECTOR.event_types()[0].value;
    println!(
        "xtask: send an event with: target/debug/connector-server send-event --server http://127.0.0.1:{port} \\\n         --secret {DEV_EVENTS_SECRET} --type {kind} --title 'Something happened'"
    );
    sh(Command::new(root.join("target/debug/connector-server"))
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
        .current_dir(&root))
}

/// The second example connector, which `test` also builds and tests against.
const SECOND_CONNECTOR: &str = "connectors/uptime-watch.toml";

pub fn test(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("unknown test option '{a}'");
    }
    setup::all()?;
    let root = root();
    // Stopped when dropped, at the end of this function or on the first failure.
    let (database_url, cluster) = crate::postgres::for_tests()?;
    println!("xtask: native tests (settings, server on SQLite and PostgreSQL, xtask)");
    let mut native = Command::new("cargo");
    native
        .args([
            "test",
            "-p",
            "connector-settings",
            "-p",
            "connector-server",
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
        "xtask: settings, delivery and events tests against {}",
        second.display()
    );
    sh(Command::new("cargo")
        .args(["test", "-p", "connector-settings"])
        .env("CONNECTOR_TOML", &second)
        .current_dir(&root))?;
    sh(Command::new("cargo")
        .args(["test", "-p", "connector-server", "--test", "api", "--"])
        .args(["delivery::", "events::"])
        .env("CONNECTOR_TOML", &second)
        .current_dir(&root))?;

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

    println!("xtask: end-to-end tests (real server, emulator, teams-js, Chromium)");
    build_page(&Build::default())?;
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
    let tests: Vec<String> = std::fs::read_dir(root.join("e2e"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".test.mjs"))
        .map(|p| p.display().to_string())
        .collect();
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
        .env("REFERENCE_DIR", &reference))?;
    println!("xtask: all tests passed");
    Ok(())
}

/// Runs schemathesis against a fresh server: no 5xx, and every answer as documented.
fn schemathesis(root: &std::path::Path) -> Result<()> {
    use std::io::{BufRead, BufReader};
    setup::schemathesis()?;
    let dir = root.join("build/schemathesis");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mut server = Command::new(root.join("target/debug/connector-server"))
        .args(["--port", "0", "--db"])
        .arg(dir.join("t.sqlite"))
        // Thousands of generated writes from one address are the point here.
        .args(["--write-rate", "0", "--tenant-write-rate", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("cannot start connector-server")?;
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .map(|u| u.trim_end_matches('/').to_string());
    let result = match url {
        Some(url) => sh(Command::new("schemathesis")
            .args(["run", &format!("{url}/api/openapi.json")])
            // Acceptance of generated webhook URLs depends on DNS and the allowed hosts, which a
            // schema cannot say; what the issue asks is checked: no 5xx, answers as documented.
            .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance"])
            .args(["--max-examples", "50", "--request-timeout", "10", "--seed", "1"])
            .current_dir(&dir)),
        None => Err(anyhow::anyhow!("connector-server printed '{}' instead of its address", line.trim())),
    };
    let _ = server.kill();
    let _ = server.wait();
    result
}

/// `bench delivery` (the server's benchmark binary, built in release mode; with `--postgres`,
/// on a throwaway PostgreSQL with fsync on, two instances unless `--instances` says otherwise)
/// and `bench page`.
pub fn bench(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("delivery") => {}
        Some("page") => return crate::bench_page::run(&args[1..]),
        _ => bail!(
            "usage: cargo xtask bench delivery [--connections N | --series] [--postgres [--instances N]] [--steady RATE] | bench page [--rounds N] [--profile fast|slow|both]"
        ),
    }
    let postgres = args.iter().any(|a| a == "--postgres");
    let mut pass: Vec<String> = args[1..]
        .iter()
        .filter(|a| *a != "--postgres")
        .cloned()
        .collect();
    let root = root();
    sh(Command::new("cargo")
        .args(["build", "--release", "-p", "connector-server", "--bins"])
        .current_dir(&root))?;
    // Stopped when dropped, after the benchmark.
    let cluster = if postgres {
        let cluster = crate::postgres::Cluster::start(true)?;
        pass.extend(["--database-url".into(), cluster.url()]);
        if !pass.iter().any(|a| a == "--instances") {
            pass.extend(["--instances".into(), "2".into()]);
        }
        Some(cluster)
    } else {
        None
    };
    let result = sh(Command::new(root.join("target/release/bench-delivery"))
        .args(&pass)
        .args([
            "--server",
            &root
                .join("target/release/connector-server")
                .display()
                .to_string(),
        ])
        .current_dir(&root));
    drop(cluster);
    result
}
