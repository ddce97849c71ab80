//! `cargo xtask image --test`: the image's configuration as podman reports it, then its root
//! filesystem run in a chroot (podman cannot run containers on every machine: cgroups), as
//! the image's user with the image's environment, until a card is delivered to a local
//! webhook receiver: on SQLite in its volume, then on a throwaway PostgreSQL.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use connector_settings::{Value as Setting, CONNECTOR};
use serde_json::{json, Value};

use crate::image::{Labels, DATA, UID};
use crate::setup::{root, run as sh};

const SECRET: &str = "image-test-events-secret-of-32-bytes";
const TITLE: &str = "Delivered from the image";

pub fn run(tag: &str, labels: &Labels, started: Instant) -> Result<()> {
    println!("xtask: testing image {tag}");
    let env = check_config(tag, labels)?;
    let rootfs = unpack(tag)?;
    let form = check_form(&rootfs)?;
    let receiver = Receiver::start()?;

    let mut server = Server::start(&rootfs, &env, &receiver.origin)?;
    let result = deliver(&rootfs, &env, &server, &receiver, &form, "SQLite", started);
    server.stop();
    result?;
    // The health check fails once nothing answers: it is not a constant.
    let down = chrooted(&rootfs, &env)
        .args(["--port", &server.port.to_string(), "healthcheck"])
        .stderr(Stdio::null())
        .status()?;
    ensure!(
        !down.success(),
        "the health check passed with the server stopped"
    );

    // The same image on PostgreSQL (a throwaway cluster, over TLS checked against its CA),
    // with keys the image's own `keys generate` made, as a deployment on PostgreSQL has.
    let cluster = crate::postgres::Cluster::start(false)?;
    let ca = "/data/postgres-ca.crt";
    std::fs::copy(cluster.ca(), rootfs.join(ca.trim_start_matches('/')))
        .context("cannot copy the cluster's CA into the image's volume")?;
    let mut pg_env = env.clone();
    pg_env.extend(generated_keys(&rootfs, &env)?);
    pg_env.push((
        "DATABASE_URL".into(),
        format!("{}?sslmode=verify-full&sslrootcert={ca}", cluster.url()),
    ));
    let mut server = Server::start(&rootfs, &pg_env, &receiver.origin)?;
    let result = deliver(
        &rootfs,
        &pg_env,
        &server,
        &receiver,
        &form,
        "PostgreSQL",
        started,
    );
    server.stop();
    result?;
    let stored =
        cluster.query("SELECT count(*) FROM connections WHERE entity_id = 'image-test'")?;
    ensure!(
        stored == "1",
        "the connection saved on PostgreSQL is not in its database (count '{stored}')"
    );
    println!("xtask: image test passed (SQLite and PostgreSQL)");
    Ok(())
}

/// The page in the image names the form it was built from, and it is the one xtask (and so
/// the server, built from the same connector.toml) was built from; returns it.
fn check_form(rootfs: &Path) -> Result<String> {
    let file = rootfs.join("dist").join(connector_settings::api::FORM_FILE);
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("the image's page has no {}", file.display()))?;
    let form = text.trim().to_string();
    ensure!(
        form == connector_settings::FORM,
        "the image's page is of form {form}, the connector.toml of form {}",
        connector_settings::FORM
    );
    Ok(form)
}

/// The hash and encryption keys from the image's `connector-server keys generate`.
fn generated_keys(rootfs: &Path, env: &[(String, String)]) -> Result<Vec<(String, String)>> {
    let out = chrooted(rootfs, env)
        .args(["keys", "generate"])
        .output()
        .context("cannot run keys generate in the image")?;
    ensure!(out.status.success(), "keys generate in the image failed");
    let keys: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| *k == "CONNECTOR_HASH_KEY" || *k == "CONNECTOR_ENCRYPTION_KEYS")
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ensure!(
        keys.len() == 2,
        "keys generate printed no hash key and encryption keys: {keys:?}"
    );
    Ok(keys)
}

/// Checks what podman says of the image; returns its environment.
fn check_config(tag: &str, labels: &Labels) -> Result<Vec<(String, String)>> {
    let out = Command::new("podman")
        .args(["image", "inspect", tag])
        .output()
        .context("cannot run podman image inspect")?;
    ensure!(out.status.success(), "podman image inspect {tag} failed");
    let all: Value = serde_json::from_slice(&out.stdout).context("podman's inspect output")?;
    let image = &all[0];
    let config = &image["Config"];
    let expect = |what: &str, got: &Value, want: Value| -> Result<()> {
        ensure!(*got == want, "the image's {what} is {got}, not {want}");
        Ok(())
    };
    expect("user", &config["User"], json!(format!("{UID}:{UID}")))?;
    expect(
        "entrypoint",
        &config["Entrypoint"],
        json!(["/connector-server"]),
    )?;
    ensure!(
        config["ExposedPorts"].get("8080/tcp").is_some(),
        "the image exposes {}, not 8080/tcp",
        config["ExposedPorts"]
    );
    ensure!(
        config["Volumes"].get(DATA).is_some(),
        "the image's volumes are {}, not {DATA}",
        config["Volumes"]
    );
    let label = |k: &str| config["Labels"][format!("org.opencontainers.image.{k}")].clone();
    expect("version label", &label("version"), json!(labels.version))?;
    expect("licenses label", &label("licenses"), json!(labels.licenses))?;
    if let Some(source) = &labels.source {
        expect("source label", &label("source"), json!(source))?;
    }
    // Podman puts it beside the config, Docker inside it.
    let health = ["Healthcheck", "HealthCheck"]
        .iter()
        .find_map(|k| image.get(*k).or_else(|| config.get(*k)))
        .map(|h| h["Test"].clone())
        .unwrap_or(Value::Null);
    expect(
        "health check",
        &health,
        json!(["CMD", "/connector-server", "healthcheck"]),
    )?;
    let env = config["Env"]
        .as_array()
        .context("the image has no environment")?
        .iter()
        .filter_map(|v| v.as_str()?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<Vec<_>>();
    ensure!(
        env.iter()
            .any(|(k, v)| k == "CONNECTOR_DB" && v == "/data/connector.sqlite"),
        "the image's environment {env:?} has no CONNECTOR_DB=/data/connector.sqlite"
    );
    println!(
        "xtask: image config: user, entrypoint, port, volume, labels, health check as written"
    );
    Ok(env)
}

/// The image's root filesystem, copied out of podman's storage (writable, as a volume is).
fn unpack(tag: &str) -> Result<std::path::PathBuf> {
    let rootfs = root().join("build/image/rootfs");
    if rootfs.exists() {
        std::fs::remove_dir_all(&rootfs)?;
    }
    std::fs::create_dir_all(&rootfs)?;
    let out = Command::new("podman")
        .args(["image", "mount", tag])
        .output()
        .context("cannot run podman image mount")?;
    ensure!(
        out.status.success(),
        "podman image mount {tag} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let mounted = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let copied = sh(Command::new("cp")
        .arg("-a")
        .arg(format!("{mounted}/."))
        .arg(&rootfs));
    sh(Command::new("podman").args(["image", "unmount", tag]))?;
    copied?;
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(rootfs.join("data"))?);
    ensure!(
        owner == UID,
        "/data in the image belongs to {owner}, not {UID}"
    );
    Ok(rootfs)
}

/// The image's entrypoint in a chroot of `rootfs`, as the image's user, with only the
/// image's environment.
fn chrooted(rootfs: &Path, env: &[(String, String)]) -> Command {
    // A fixed path: the child's environment is the image's, with no PATH to look it up on.
    let chroot = ["/usr/sbin/chroot", "/usr/bin/chroot", "/sbin/chroot"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("chroot");
    let mut cmd = Command::new(chroot);
    cmd.arg(format!("--userspec={UID}:{UID}"))
        .arg(rootfs)
        .arg("/connector-server")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)));
    cmd
}

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(rootfs: &Path, env: &[(String, String)], inbox: &str) -> Result<Server> {
        let mut child = chrooted(rootfs, env)
            .args(["--port", "0", "--dev", "--dev-inbox-origin", inbox])
            .args(["--events-secret", SECRET])
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start the image's server in a chroot")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line)?;
        // The image listens on 0.0.0.0: reached here on loopback.
        let port = line
            .trim()
            .strip_prefix("listening on http://0.0.0.0:")
            .and_then(|rest| rest.trim_end_matches('/').parse().ok());
        match port {
            Some(port) => Ok(Server { child, port }),
            None => {
                let _ = child.kill();
                bail!(
                    "the image's server printed '{}' instead of listening on 0.0.0.0",
                    line.trim()
                )
            }
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn deliver(
    rootfs: &Path,
    env: &[(String, String)],
    server: &Server,
    receiver: &Receiver,
    form: &str,
    database: &str,
    started: Instant,
) -> Result<()> {
    let port = server.port;
    let ready_by = Instant::now() + Duration::from_secs(20);
    loop {
        match http(port, "GET", "/readyz", &[], "") {
            Ok((200, _)) => break,
            other if Instant::now() > ready_by => bail!("/readyz never answered 200: {other:?}"),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    println!("xtask: /readyz answered 200 in the chroot on {database}");
    let (_, health) = http(port, "GET", "/api/health", &[], "")?;
    let health: Value = serde_json::from_str(&health).context("/api/health's answer")?;
    ensure!(
        health["form"] == form,
        "the image's server is of form {}, its page of form {form}",
        health["form"]
    );
    let health = chrooted(rootfs, env)
        .args(["--port", &port.to_string(), "healthcheck"])
        .status()?;
    ensure!(health.success(), "the image's health check failed");

    let hook = format!(
        "{}/emulator/webhook/powerautomate/automations/direct/cu/07/workflows/imagetest/triggers/manual/paths/invoke\
         ?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=abc",
        receiver.origin
    );
    let body = json!({ "webhookUrl": hook, "settings": settings() }).to_string();
    let (status, answer) = http(
        port,
        "PUT",
        "/api/connections/image-test",
        &[
            ("content-type", "application/json"),
            (connector_settings::api::FORM_HEADER, form),
        ],
        &body,
    )?;
    ensure!(
        status == 201,
        "saving a connection answered {status}: {answer}"
    );
    println!("xtask: connection saved");

    let kind = CONNECTOR.event_types()[0].value;
    let sent = chrooted(rootfs, env)
        .args([
            "send-event",
            "--server",
            &format!("http://127.0.0.1:{port}"),
        ])
        .args(["--secret", SECRET, "--type", kind, "--title", TITLE])
        .stdout(Stdio::null())
        .status()?;
    ensure!(sent.success(), "send-event from the image failed");
    let card = receiver
        .cards
        .recv_timeout(Duration::from_secs(30))
        .context("no card reached the receiver within 30 s")?;
    ensure!(
        card.contains(TITLE),
        "the receiver got a card without the event's title: {card}"
    );
    // Drained: the next database's card must be its own.
    while receiver.cards.try_recv().is_ok() {}
    println!(
        "xtask: card delivered on {database} {:.0} s after `cargo xtask image` started",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Settings wanting every event type, written through the fields' roles.
fn settings() -> Value {
    let mut v = connector_settings::default_values();
    v.insert(
        CONNECTOR.name_field().id.to_string(),
        Setting::Text("Image test".into()),
    );
    v.insert(
        CONNECTOR.events_field().id.to_string(),
        Setting::List(
            CONNECTOR
                .event_types()
                .iter()
                .map(|t| t.value.to_string())
                .collect(),
        ),
    );
    serde_json::to_value(v).unwrap()
}

/// One HTTP/1.1 request to 127.0.0.1:`port` on its own connection: status and body.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(15)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes())?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no HTTP status in '{}'", raw.lines().next().unwrap_or("")))?;
    let body = raw
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}

/// A webhook receiver on loopback: answers every POST 202 as a Workflows trigger does and
/// passes each body on.
struct Receiver {
    origin: String,
    cards: mpsc::Receiver<String>,
}

impl Receiver {
    fn start() -> Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let origin = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let (tx, cards) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Ok(body) = receive(stream) {
                    let _ = tx.send(body);
                }
            }
        });
        Ok(Receiver { origin, cards })
    }
}

/// Reads one request (headers, then content-length bytes of body) and answers 202.
fn receive(stream: TcpStream) -> Result<String> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    reader
        .get_mut()
        .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}
