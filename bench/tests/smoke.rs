//! The benchmarks run: a short, small `bench-api` against this build's server answers every
//! scenario without an error, its calibration prints every cost, and a small `bench-delivery`
//! delivers every card once (with `[account]`, addressed to 1 of several accounts). `cargo
//! xtask test` runs these against both example connectors.
//!
//! The server they drive is this build's `connector-server` beside the test binary (`cargo test
//! -p connector-server -p connector-bench` builds both), or the one `CONNECTOR_SERVER_BIN` names.

use std::path::PathBuf;
use std::process::Command;

/// The connector-server binary of this build.
fn server() -> String {
    let path = std::env::var_os("CONNECTOR_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // target/<profile>/deps/smoke-… → target/<profile>/connector-server
            let exe = std::env::current_exe().expect("the test binary's path");
            exe.parent()
                .and_then(|deps| deps.parent())
                .expect("the test binary is in target/<profile>/deps")
                .join("connector-server")
        });
    assert!(
        path.is_file(),
        "no server binary at {}: build it with the same CONNECTOR_TOML first (cargo build -p connector-server), or name one in CONNECTOR_SERVER_BIN",
        path.display()
    );
    path.display().to_string()
}

/// Runs `bench-api` with `args`; its standard output, after checking it succeeded.
fn bench_api(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_bench-api"))
        .args(["--server", &server()])
        .args(["--seconds", "1", "--clients", "4"])
        .args(args)
        .output()
        .expect("bench-api runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "bench-api {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn every_scenario_is_driven_without_an_error() {
    let out = bench_api(&["--connections", "20"]);
    for scenario in ["health", "GET", "PUT", "90/10", "events"] {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(scenario))
            .unwrap_or_else(|| panic!("no {scenario} line in:\n{out}"));
        assert!(line.contains("req/s") && line.contains("p99"), "{line}");
        assert!(line.contains("errors     0"), "{line}");
        assert!(line.contains("peak"), "{line}");
    }
}

#[test]
fn the_calibration_drives_the_ideal_server_at_every_cost() {
    let out = bench_api(&["--calibrate"]);
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("ideal ") && l.contains("req/s"))
        .collect();
    assert_eq!(lines.len(), 6, "{out}");
    for line in lines {
        assert!(line.contains("errors     0"), "{line}");
    }
}

/// Runs `bench-delivery` with `args`; its standard output, after checking it succeeded.
fn bench_delivery(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_bench-delivery"))
        .args(["--server", &server()])
        .args(args)
        .output()
        .expect("bench-delivery runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "bench-delivery {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn a_small_delivery_bench_delivers_every_card_once() {
    let out = bench_delivery(&[
        "--connections",
        "40",
        "--steady",
        "40",
        "--steady-secs",
        "1",
        "--steady-webhooks",
        "20",
    ]);
    assert!(out.contains("cards delivered 40,"), "{out}");
    assert!(out.contains("server cpu"), "{out}");
    assert!(out.contains("40 events sent"), "{out}");
    assert!(out.contains("40 cards delivered"), "{out}");
    let tallies: Vec<&str> = out.lines().filter(|l| l.contains("lost ")).collect();
    assert_eq!(tallies.len(), 2, "{out}");
    for line in tallies {
        assert!(
            line.contains("lost 0, duplicates 0, rate-window violations 0"),
            "{line}"
        );
    }
    if connector_settings::CONNECTOR.account.is_some() {
        assert!(
            out.contains("4 events, each to its own 10 connections (one account each: 4 accounts)"),
            "{out}"
        );
    }
}

#[test]
fn a_grouped_fan_out_sends_one_event_per_group() {
    let out = bench_delivery(&["--connections", "30", "--group", "5", "--steady", "0"]);
    assert!(
        out.contains("6 events, each to its own 5 connections"),
        "{out}"
    );
    assert!(out.contains("cards delivered 30,"), "{out}");
    assert!(out.contains("lost 0, duplicates 0"), "{out}");
}

#[test]
fn a_small_admin_bench_times_every_filter_and_finds_what_each_matches() {
    let out = Command::new(env!("CARGO_BIN_EXE_bench-admin"))
        .args(["--server", &server()])
        .args(["--connections", "2000", "--repeat", "5"])
        .output()
        .expect("bench-admin runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "bench-admin failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("seeded 2000 connections"), "{stdout}");
    // What each filter finds among the 2,000 (a page holds 50 at most).
    for (filter, found) in [
        ("none", 50),
        ("tenant", 20),
        ("team", 10),
        ("account", 10),
        ("name", 2),
        ("name (none)", 0),
        ("kind", 50),
        ("state", 20),
        ("tenant+state", 20),
        ("kind+tenant", 20),
    ] {
        let line = stdout
            .lines()
            .find(|l| l.get(11..25).map(str::trim_end) == Some(filter))
            .unwrap_or_else(|| panic!("no {filter} line in:\n{stdout}"));
        assert!(line.contains("p50") && line.contains("p99"), "{line}");
        assert!(line.ends_with(&format!("found {found:>3}")), "{line}");
    }
    assert!(stdout.contains("worst p99"), "{stdout}");
}
