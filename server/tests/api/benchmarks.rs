//! The API benchmark runs: a short, small `bench-api` against this build's server answers
//! every scenario without an error, and its calibration prints every cost.

use std::process::Command;

/// Runs `bench-api` with `args`; its standard output, after checking it succeeded.
fn bench_api(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_bench-api"))
        .args(["--server", env!("CARGO_BIN_EXE_connector-server")])
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
