//! `cargo xtask <task>`: the project's tasks. `run` and `test` first install whatever is
//! missing (and say what they install), so a fresh machine needs only these two commands.

mod bench_page;
mod compress;
mod dist;
mod headers;
mod package;
mod postgres;
mod setup;
mod size;
mod tasks;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  run [--port N] [--release]   build the page, start page + server + Teams host emulator on SQLite
  test                         run every test (settings, server on SQLite and on a throwaway
                               PostgreSQL, page in Chromium, end-to-end);
                               CONNECTOR_TEST_DATABASE_URL=postgres://... uses that server instead
  build [--release] [--public-url PATH]
                               build the page into dist/
  dist --api-url URL [--public-url /path/] [--valid-origin ORIGIN]... [--out DIR]
                               build a deployable dist/ for a static host or CDN, with
                               config.json and _headers for that API
  package --page-url https://... [--connector-id ID] [--app-id GUID] [--version X.Y.Z] [--tab]
          [--out FILE.zip] [--color-icon PNG] [--outline-icon PNG]
          [--sso-client-id GUID --sso-resource api://...]
                               write the Teams app package, validated against the official schema
  package --check FILE.zip     validate an existing package
  bench delivery [--connections N | --series] [--postgres [--instances N]] [--steady RATE]
                               N connections (default 10000) with local webhooks, one event to all:
                               cards/s, p50/p95/p99 latency, lost, duplicates, rate-window
                               violations, peak memory per instance; --series: 1,000 / 10,000 /
                               100,000; --postgres: N instances (default 2) on a throwaway
                               PostgreSQL with fsync on; --steady: RATE events/s (default 200)
  bench page [--rounds N] [--profile fast|slow|both]
                               our release page against a hand-written JavaScript page in the
                               emulator, N rounds (default 15) alternating: time to initialize,
                               to the form being usable, to notifySuccess; bytes; ratios
  size                         build the release page and print what the iframe downloads, raw,
                               gzip and brotli, against the goals
  setup                        only install what is missing (also PostgreSQL for the tests)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => tasks::run(&args[1..]),
        Some("test") => tasks::test(&args[1..]),
        Some("build") => tasks::build_cmd(&args[1..]),
        Some("size") => size::report(),
        Some("dist") => dist::run(&args[1..]),
        Some("bench") => tasks::bench(&args[1..]),
        Some("package") => package::run(&args[1..]),
        Some("setup") => setup::all().and_then(|()| postgres::install().map(drop)),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown task '{other}'\n{USAGE}")),
        None => Err(anyhow::anyhow!("{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain on one line, as ripgrep does.
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("xtask: {}", chain.join(": "));
            ExitCode::FAILURE
        }
    }
}
