//! deploy/alerts.yml (and its promtool tests) name only metrics a running server exports:
//! a rule on a name the server does not have would never fire.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::helpers::{until, Receiver, ServerProcess};

/// The series names in a Prometheus text exposition (`name{labels} value` lines).
fn exported(metrics: &str) -> BTreeSet<String> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// Every `connector_…` word in `text`: the metric names a rules file uses.
fn named(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("connector_"))
        .map(str::to_string)
        .collect()
}

fn read(name: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/").to_string() + name;
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_rules_name_only_metrics_the_server_exports() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alerts.sqlite");
    let receiver = Receiver::start(Duration::ZERO).await;
    let server = ServerProcess::start(
        &receiver.origin,
        [
            "--db",
            db.to_str().unwrap(),
            "--metrics-addr",
            "127.0.0.1:0",
        ],
    );
    // One request for the request counter and histogram; the gauges come with the first read.
    assert_eq!(server.get_path("/api/health").await.status(), 200);
    // The request is counted as its response ends, which may be after the client has it.
    until("the gauges read and the request counted", 30, async || {
        let text = server.scrape().await;
        text.contains("connector_database_up") && text.contains("connector_http_requests_total")
    })
    .await;
    let exported = exported(&server.scrape().await);
    // Counters are there at zero before anything happened, so increase() sees the first.
    assert!(
        exported.contains("connector_deliveries_total"),
        "{exported:?}"
    );
    assert!(exported.contains("connector_requests_shed_total"));

    for (file, at_least) in [("alerts.yml", 5), ("alerts.test.yml", 2)] {
        let used = named(&read(file));
        assert!(used.len() >= at_least, "deploy/{file} names only {used:?}");
        let unknown: Vec<&String> = used.difference(&exported).collect();
        assert!(
            unknown.is_empty(),
            "deploy/{file} names {unknown:?}, which the server does not export (it exports {exported:?})"
        );
    }
}

#[test]
fn names_are_read_from_series_lines_and_whole_words() {
    let text =
        "# HELP x\n# TYPE connector_a counter\nconnector_a{outcome=\"dead\"} 1\nconnector_b 0\n";
    assert_eq!(
        exported(text),
        BTreeSet::from(["connector_a".to_string(), "connector_b".to_string()])
    );
    assert_eq!(
        named("expr: rate(connector_a_total[5m]) connector-server connectors"),
        BTreeSet::from(["connector_a_total".to_string()])
    );
}
