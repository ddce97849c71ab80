//! The dead-letter commands: `connector-server dead` lists dead deliveries and `replay`
//! makes them pending again, on the database of a running server.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{event_types, settings, until, Answer, Receiver, ServerProcess};

/// Runs `connector-server --db <db> <args>`; its stdout, or its error.
fn command(db: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_connector-server"))
        .args(["--db", db])
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_deliveries_are_listed_and_replayed_by_command() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.sqlite");
    let db = db.to_str().unwrap();
    let receiver = Receiver::start(Duration::ZERO).await;
    let server = ServerProcess::start(&receiver.origin, ["--db", db]);
    server
        .create("c1", &receiver.hook("refusing"), &settings())
        .await;
    // 400: the card will never be taken, so the delivery is dead at once.
    receiver.answer("refusing", Answer::Status(400));
    for id in ["e1", "e2"] {
        let res = server
            .send(&json!({ "id": id, "type": event_types()[0], "title": "Refused" }))
            .await;
        assert_eq!(res.status(), 202);
    }
    until("two dead deliveries", 10, async || {
        server.status("c1", &receiver.hook("refusing")).await["dead"] == 2
    })
    .await;

    let listed = command(db, &["dead"]).unwrap();
    let rows: Vec<&str> = listed.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{listed}");
    assert!(
        rows[0].contains("webhook refused the card with 400"),
        "{listed}"
    );
    assert!(rows.iter().any(|r| r.contains("e1")) && rows.iter().any(|r| r.contains("e2")));
    let first_id = rows[0].split('\t').next().unwrap();

    receiver.answer("refusing", Answer::Ok);
    let replayed = command(db, &["replay", "--id", first_id]).unwrap();
    assert!(replayed.contains("replayed 1 deliveries"), "{replayed}");
    until("the replayed card", 10, async || {
        receiver.cards().len() == 1
    })
    .await;
    let again = command(db, &["replay", "--id", first_id]).unwrap_err();
    assert!(again.contains("nothing was replayed"), "{again}");

    let since = command(db, &["replay", "--since", "2020-01-01T00:00:00Z"]).unwrap();
    assert!(since.contains("replayed 1 deliveries"), "{since}");
    until("both cards", 10, async || receiver.cards().len() == 2).await;
    assert_eq!(
        command(db, &["dead"]).unwrap().lines().count(),
        1,
        "none left"
    );
    let bad = command(db, &["dead", "--since", "yesterday"]).unwrap_err();
    assert!(bad.contains("time 'yesterday' is not RFC 3339"), "{bad}");
}
