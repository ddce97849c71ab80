//! Keys, backups and restores by command: `keys generate` makes the keys a server starts
//! with, `backup` copies a running server's SQLite database with its key files, and
//! `restore` puts it back only when the keys open it.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{event_types, settings, until, Receiver, ServerProcess};

/// Runs `connector-server <args>`; its stdout, or its error.
fn command(args: &[&str]) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_connector-server"))
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

/// `keys generate`'s env lines, by variable.
fn generated() -> HashMap<String, String> {
    let out = command(&["keys", "generate"]).unwrap();
    out.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.split_once('=').expect("NAME=value");
            (name.to_string(), value.to_string())
        })
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn wipe(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_a_running_server_restores_with_its_keys_and_delivers_again() {
    let keys = generated();
    let other = generated();
    assert_eq!(keys.len(), 3, "{keys:?}");
    for (name, value) in &keys {
        assert_ne!(&other[name], value, "{name} differs between runs");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (db, hash, ring, backup) = (
        path("t.sqlite"),
        path("hash.key"),
        path("ring.keys"),
        path("backups/b.sqlite"),
    );
    std::fs::create_dir(dir.path().join("backups")).unwrap();
    // The generated keys, in the key files the server is started with.
    std::fs::write(&hash, format!("{}\n", keys["CONNECTOR_HASH_KEY"])).unwrap();
    std::fs::write(&ring, format!("{}\n", keys["CONNECTOR_ENCRYPTION_KEYS"])).unwrap();
    let flags: [&str; 6] = [
        "--db",
        &db,
        "--hash-key-file",
        &hash,
        "--encryption-key-file",
        &ring,
    ];

    let receiver = Receiver::start(Duration::ZERO).await;
    let mut server = ServerProcess::start(&receiver.origin, flags);
    let hook = receiver.hook("restored");
    let res = server
        .put("c1", &json!({ "webhookUrl": hook, "settings": settings() }))
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let edit_key = body["editKey"].as_str().unwrap().to_string();
    let kind = event_types()[0];
    let sent = server
        .send(&json!({ "id": "before", "type": kind, "title": "Before the backup" }))
        .await;
    assert_eq!(sent.status(), 202);
    until("the first card", 10, async || receiver.cards().len() == 1).await;

    // While the server runs.
    let out = command(&[&flags[..], &["backup", "--to", backup.as_str()]].concat()).unwrap();
    assert!(out.contains("(connections: 1)"), "{out}");
    for file in [&backup, &format!("{backup}.key"), &format!("{backup}.keys")] {
        assert_eq!(mode(Path::new(file)), 0o600, "{file}");
    }
    assert_eq!(
        std::fs::read_to_string(format!("{backup}.keys")).unwrap(),
        std::fs::read_to_string(&ring).unwrap()
    );
    let again = command(&[&flags[..], &["backup", "--to", backup.as_str()]].concat()).unwrap_err();
    assert!(again.contains("exists; give --force"), "{again}");
    server.terminate();

    // Everything lost but the backup.
    wipe(Path::new(&db));
    std::fs::remove_file(&hash).unwrap();
    std::fs::remove_file(&ring).unwrap();

    let wrong_hash = other["CONNECTOR_HASH_KEY"].as_str();
    let refused = command(&[
        "--db",
        &db,
        "--hash-key",
        wrong_hash,
        "--encryption-key-file",
        &ring,
        "restore",
        "--from",
        &backup,
    ])
    .unwrap_err();
    assert!(
        refused.contains("nothing was restored") && refused.contains("the hash key"),
        "{refused}"
    );
    assert!(!refused.contains(wrong_hash), "{refused}");
    let id = keys["CONNECTOR_ENCRYPTION_KEYS"].split(':').next().unwrap();
    let wrong_ring = format!("{id}:{}", "11".repeat(32));
    let refused = command(&[
        "--db",
        &db,
        "--hash-key-file",
        &hash,
        "--encryption-keys",
        &wrong_ring,
        "restore",
        "--from",
        &backup,
    ])
    .unwrap_err();
    assert!(
        refused.contains(&format!("encryption key '{id}' is not the key")),
        "{refused}"
    );
    assert!(!Path::new(&db).exists(), "a refused restore writes nothing");
    assert!(!Path::new(&hash).exists() && !Path::new(&ring).exists());

    let out = command(&[&flags[..], &["restore", "--from", backup.as_str()]].concat()).unwrap();
    assert!(
        out.contains("(connections: 1); the keys open its data"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(&hash).unwrap().trim(),
        keys["CONNECTOR_HASH_KEY"],
        "the key file is put back from beside the backup"
    );
    assert_eq!(mode(Path::new(&ring)), 0o600);
    let over =
        command(&[&flags[..], &["restore", "--from", backup.as_str()]].concat()).unwrap_err();
    assert!(over.contains("unless --force"), "{over}");

    let server = ServerProcess::start(&receiver.origin, flags);
    let read = server
        .client
        .get(format!("{}/api/connections/c1", server.url))
        .header("x-connector-edit-key", &edit_key)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200, "the connection reads with its edit key");
    let sent = server
        .send(&json!({ "id": "after", "type": kind, "title": "After the restore" }))
        .await;
    assert_eq!(sent.status(), 202);
    until("the card after the restore", 10, async || {
        receiver.cards().len() == 2
    })
    .await;
    assert_eq!(
        receiver.requests("restored").len(),
        2,
        "the first not again"
    );
}

#[test]
fn postgres_backups_are_left_to_pg_dump_and_pg_restore() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.sqlite");
    let file = file.to_str().unwrap();
    let url = [
        "--database-url",
        "postgres://connector@127.0.0.1:1/connector",
    ];
    let backup = command(&[&url[..], &["backup", "--to", file]].concat()).unwrap_err();
    assert!(backup.contains("pg_dump --format=custom"), "{backup}");
    let restore = command(&[&url[..], &["restore", "--from", file]].concat()).unwrap_err();
    assert!(restore.contains("pg_restore"), "{restore}");
    assert!(!Path::new(file).exists());
}
