//! The server binary's helper commands: send a signed event, show a connection's delivery
//! status (clients of a running server), list or replay dead deliveries, back up and
//! restore (on the database the server flags name), and make keys for a new installation.
//! For scripts, operators and trying the connector by hand.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use serde_json::{json, Value};

use crate::config::Config;
use crate::store::{self, AuditEntry, Replay};

// The one definition of the command line: main.rs parses it, and the tests read it to check
// the deploy files and to write docs/configuration.md.
/// The connector server; with a command, a client of a running one.
#[derive(Parser)]
#[command(name = "connector-server", version)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sends an event signed with Standard Webhooks to a running server's /api/events.
    SendEvent {
        /// The server's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        /// The events secret the server was started with (of `id:secret,…`, the first signs;
        /// default: the server's own, CONNECTOR_EVENTS_SECRET or CONNECTOR_EVENTS_SECRET_FILE).
        #[arg(long, hide_env_values = true)]
        secret: Option<String>,
        /// Sign with the deprecated x-connector-signature scheme instead (for servers of the
        /// previous release).
        #[arg(long)]
        legacy_signature: bool,
        /// One of the event types declared in connector.toml (the options of its events
        /// field).
        #[arg(long = "type")]
        kind: String,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        text: String,
        #[arg(long)]
        link: Option<String>,
        /// A fact as NAME=VALUE; repeat for more.
        #[arg(long = "fact")]
        facts: Vec<String>,
        /// What the connections' project filters are matched against.
        #[arg(long, default_value = "")]
        project: String,
        /// The account of the service the event is for (required by a connector with
        /// `[account]`: only that account's connections get it).
        #[arg(long)]
        account: Option<String>,
        /// An id that makes repeating the event harmless (the webhook-id; a random one if
        /// not given).
        #[arg(long)]
        id: Option<String>,
    },
    /// Shows a connection's deliveries: pending, delivered, dead, last error, disabled. With
    /// --admin-url, its detail from the admin API instead (no webhook URL or edit key needed).
    Status {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        #[arg(long)]
        entity_id: String,
        /// The channel's webhook URL: a capability to see its connection.
        #[arg(
            long,
            env = "CONNECTOR_WEBHOOK_URL",
            hide_env_values = true,
            required_unless_present_any = ["edit_key", "admin_url"]
        )]
        webhook_url: Option<String>,
        /// A running server's admin API (its --metrics-addr listener, e.g.
        /// http://127.0.0.1:9090), with the token of CONNECTOR_ADMIN_TOKEN (id:secret).
        #[arg(long, env = "CONNECTOR_ADMIN_URL", conflicts_with_all = ["webhook_url", "edit_key"])]
        admin_url: Option<String>,
        /// The connection's edit key (in a tab's contentUrl after `#editKey=`): the other one.
        #[arg(long, env = "CONNECTOR_EDIT_KEY", hide_env_values = true)]
        edit_key: Option<String>,
    },
    /// Lists dead deliveries, oldest first: from a running server's admin API with
    /// --admin-url, else from the database the server flags name (--db or --database-url,
    /// given before the command; for a server that is down).
    Dead {
        /// Only those that died at or after this time (RFC 3339, e.g. 2025-03-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// A running server's admin API (its --metrics-addr listener, e.g.
        /// http://127.0.0.1:9090), with the token of CONNECTOR_ADMIN_TOKEN (id:secret).
        #[arg(long, env = "CONNECTOR_ADMIN_URL")]
        admin_url: Option<String>,
    },
    /// Makes dead deliveries pending again (attempts reset): one by id, or every one that
    /// died since a time. Deliveries of disabled or deleted connections stay dead.
    Replay {
        /// The delivery id, as `dead` lists it.
        #[arg(long, required_unless_present = "since", conflicts_with = "since")]
        id: Option<i64>,
        /// Every delivery that died at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// A running server's admin API (its --metrics-addr listener, e.g.
        /// http://127.0.0.1:9090), with the token of CONNECTOR_ADMIN_TOKEN (id:secret); else
        /// the database the server flags name.
        #[arg(long, env = "CONNECTOR_ADMIN_URL")]
        admin_url: Option<String>,
        /// Only count what --since would replay (with --admin-url).
        #[arg(long, requires_all = ["since", "admin_url"])]
        dry_run: bool,
    },
    /// Keys and secrets for a new installation.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Copies the SQLite database (--db) to FILE while the server runs (a consistent copy),
    /// with the key files beside it as FILE.key and FILE.keys. For PostgreSQL: pg_dump.
    Backup {
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        /// Replace FILE (and its key files) if they exist.
        #[arg(long)]
        force: bool,
    },
    /// Puts a backup back, once the keys (the configured ones, else FILE.key and FILE.keys)
    /// open its data; with the server stopped.
    Restore {
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Where to restore to (default: the server's --db).
        #[arg(long = "db", value_name = "PATH")]
        to: Option<PathBuf>,
        /// Replace a database that exists.
        #[arg(long)]
        force: bool,
    },
    /// Asks this instance's /readyz (on --port, at 127.0.0.1 when --host is a wildcard) and
    /// fails unless it answers 200 within 3 s: the container image's health check, which
    /// has no shell or curl to run.
    Healthcheck,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Prints a new hash key, encryption key and events secret as env file lines:
    /// `connector-server keys generate > connector.env`.
    Generate {
        /// One JSON object instead.
        #[arg(long)]
        json: bool,
    },
}

/// The commands that work on the database itself.
async fn on_database(command: Command, config: &Config) -> Result<()> {
    let (_, keys) = config.keys()?;
    let stores = store::open_beside_server(&config.database()?, keys).await?;
    match command {
        Command::Dead { since, limit, .. } => {
            let since = since_ms(since.as_deref())?;
            let dead = stores.outbox.dead(since, limit).await?;
            print_dead(dead.iter().map(|d| {
                (
                    d.delivery_id,
                    d.dead_at,
                    d.attempts,
                    d.entity_id.as_str(),
                    d.event_id.as_str(),
                    d.last_error.as_deref(),
                )
            }));
        }
        Command::Replay { id, since, .. } => {
            let which = match (id, since) {
                (Some(id), _) => Replay::one(id),
                (None, Some(since)) => Replay {
                    dead_since: Some(crate::clock::ms_from_rfc3339(&since)?),
                    ..Replay::default()
                },
                (None, None) => bail!("give --id or --since"),
            };
            // The same replay as the admin API's, audited under who ran the command.
            let now = crate::clock::now_ms();
            let audit = AuditEntry {
                id: 0,
                at_ms: now,
                actor: format!(
                    "cli:{}",
                    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
                ),
                action: "replay".into(),
                target: match which.delivery_id {
                    Some(id) => format!("delivery:{id}"),
                    None => "deliveries".into(),
                },
                detail: None,
            };
            let n = stores
                .outbox
                .replay(which, now, false, Some(audit))
                .await?
                .replayed;
            if n == 0 {
                bail!("no dead delivery of an enabled connection matched; nothing was replayed");
            }
            println!("replayed {n} deliveries; running instances pick them up");
        }
        _ => unreachable!("only database commands come here"),
    }
    Ok(())
}

/// `--since` as unix milliseconds (0 without).
fn since_ms(since: Option<&str>) -> Result<i64> {
    Ok(since
        .map(crate::clock::ms_from_rfc3339)
        .transpose()?
        .unwrap_or(0))
}

/// Prints dead deliveries (id, died at, attempts, entity id, event id, last error) as a
/// table, and how many on standard error.
fn print_dead<'a>(rows: impl Iterator<Item = (i64, i64, u32, &'a str, &'a str, Option<&'a str>)>) {
    println!("id\tdied at\tattempts\tentity id\tevent id\tlast error");
    let mut n = 0;
    for (id, dead_at, attempts, entity_id, event_id, error) in rows {
        n += 1;
        println!(
            "{id}\t{}\t{attempts}\t{entity_id}\t{event_id}\t{}",
            crate::clock::rfc3339_from_ms(dead_at),
            error.unwrap_or("")
        );
    }
    eprintln!("{n} dead deliveries");
}

/// The commands that ask a running server's admin API (`--admin-url`).
async fn on_admin_api(command: Command, config: &Config) -> Result<()> {
    let token = config.admin_token.as_deref();
    match command {
        Command::Dead {
            since,
            limit,
            admin_url: Some(url),
        } => {
            let client = crate::admin_client::AdminClient::new(&url, token)?;
            let dead =
                crate::admin_client::dead(&client, since_ms(since.as_deref())?, limit).await?;
            print_dead(dead.iter().map(|d| {
                (
                    d.delivery_id,
                    d.dead_at.unwrap_or(0),
                    d.attempts,
                    d.entity_id.as_str(),
                    d.event_id.as_str(),
                    d.last_error.as_deref(),
                )
            }));
        }
        Command::Status {
            entity_id,
            admin_url: Some(url),
            ..
        } => {
            let client = crate::admin_client::AdminClient::new(&url, token)?;
            let detail = crate::admin_client::status(&client, &entity_id).await?;
            println!("{}", serde_json::to_string_pretty(&detail)?);
        }
        Command::Replay {
            id,
            since,
            admin_url: Some(url),
            dry_run,
        } => {
            let client = crate::admin_client::AdminClient::new(&url, token)?;
            match (id, since) {
                (Some(id), _) => {
                    crate::admin_client::replay_one(&client, id).await?;
                    println!("replayed 1 deliveries; running instances pick them up");
                }
                (None, Some(since)) => {
                    let since = crate::clock::ms_from_rfc3339(&since)?;
                    let answer = crate::admin_client::replay_since(&client, since, dry_run).await?;
                    if dry_run {
                        println!(
                            "{} dead deliveries match; a replay would make {} due ({} held: their connection is disabled or deleted)",
                            answer.matched,
                            answer.matched.saturating_sub(answer.held),
                            answer.held
                        );
                    } else if answer.replayed == 0 {
                        bail!(
                            "no dead delivery of an enabled connection matched ({} held); nothing was replayed",
                            answer.held
                        );
                    } else {
                        println!(
                            "replayed {} deliveries; running instances pick them up",
                            answer.replayed
                        );
                    }
                }
                (None, None) => bail!("give --id or --since"),
            }
        }
        _ => unreachable!("only admin API commands come here"),
    }
    Ok(())
}

pub async fn run(command: Command, config: &Config) -> Result<()> {
    match command {
        Command::Dead {
            admin_url: Some(_), ..
        }
        | Command::Status {
            admin_url: Some(_), ..
        }
        | Command::Replay {
            admin_url: Some(_), ..
        } => return on_admin_api(command, config).await,
        Command::Dead { .. } | Command::Replay { .. } => return on_database(command, config).await,
        Command::Keys {
            command: KeysCommand::Generate { json },
        } => {
            let values = crate::keygen::generate(time::OffsetDateTime::now_utc());
            if json {
                println!("{}", crate::keygen::json(&values));
            } else {
                print!("{}", crate::keygen::env_file(&values));
            }
            return Ok(());
        }
        Command::Backup { to, force } => return crate::backup::backup(config, &to, force),
        Command::Restore { from, to, force } => {
            return crate::backup::restore(config, &from, to, force).await
        }
        _ => {}
    }
    if matches!(command, Command::Healthcheck) {
        return healthcheck(config).await;
    }
    let client = reqwest::Client::new();
    let res = match command {
        Command::SendEvent {
            server,
            secret,
            legacy_signature,
            kind,
            title,
            text,
            link,
            facts,
            project,
            account,
            id,
        } => {
            let Some(secret) = secret.or_else(|| config.events_secret.clone()) else {
                bail!("give the events secret: --secret, CONNECTOR_EVENTS_SECRET or CONNECTOR_EVENTS_SECRET_FILE");
            };
            let facts: Vec<Value> = facts
                .iter()
                .map(|f| match f.split_once('=') {
                    Some((name, value)) => Ok(json!({ "name": name, "value": value })),
                    None => bail!("fact '{f}' is not NAME=VALUE"),
                })
                .collect::<Result<_>>()?;
            let mut event = json!({ "type": kind, "title": title, "text": text, "facts": facts, "project": project });
            if let Some(link) = link {
                event["link"] = json!(link);
            }
            if let Some(id) = &id {
                event["id"] = json!(id);
            }
            if let Some(account) = account {
                event["account"] = json!(account);
            }
            let body = event.to_string();
            let secrets = crate::domain::event::EventSecrets::parse(&secret).map_err(|e| {
                anyhow::anyhow!("--secret (CONNECTOR_EVENTS_SECRET) is refused: {e}")
            })?;
            let signer = secrets.first();
            let ts = time::OffsetDateTime::now_utc().unix_timestamp();
            let mut req = client
                .post(format!("{}/api/events", server.trim_end_matches('/')))
                .header("content-type", "application/json");
            req = if legacy_signature {
                req.header(crate::domain::event::TIMESTAMP_HEADER, ts.to_string())
                    .header(
                        crate::domain::event::SIGNATURE_HEADER,
                        signer.legacy_sign(ts, body.as_bytes()),
                    )
            } else {
                let id = id.unwrap_or_else(|| format!("evt_{:032x}", rand::random::<u128>()));
                req.header(standardwebhooks::HEADER_WEBHOOK_ID, &id)
                    .header(standardwebhooks::HEADER_WEBHOOK_TIMESTAMP, ts.to_string())
                    .header(
                        standardwebhooks::HEADER_WEBHOOK_SIGNATURE,
                        signer.sign(&id, ts, &body),
                    )
            };
            req.body(body)
                .send()
                .await
                .with_context(|| format!("cannot reach {server}"))?
        }
        Command::Status {
            server,
            entity_id,
            webhook_url,
            edit_key,
            ..
        } => {
            let mut req = client.get(format!(
                "{}/api/connections/{entity_id}/deliveries",
                server.trim_end_matches('/')
            ));
            if let Some(url) = webhook_url {
                req = req.header(connector_settings::api::WEBHOOK_HEADER, url);
            }
            if let Some(key) = edit_key {
                req = req.header(connector_settings::api::EDIT_KEY_HEADER, key);
            }
            req.send()
                .await
                .with_context(|| format!("cannot reach {server}"))?
        }
        Command::Dead { .. }
        | Command::Replay { .. }
        | Command::Keys { .. }
        | Command::Backup { .. }
        | Command::Restore { .. }
        | Command::Healthcheck => unreachable!("answered above"),
    };
    let status = res.status();
    let text = res.text().await?;
    let pretty = serde_json::from_str::<Value>(&text)
        .map(|v| serde_json::to_string_pretty(&v).unwrap_or_default())
        .unwrap_or(text);
    if !status.is_success() {
        bail!("the server answered {status}: {pretty}");
    }
    println!("{pretty}");
    Ok(())
}

/// The local address a health check reaches this instance at.
fn local_url(config: &Config) -> String {
    let host = match config.host.as_str() {
        "" | "0.0.0.0" => "127.0.0.1",
        "::" | "[::]" => "[::1]",
        h if h.contains(':') && !h.starts_with('[') => {
            return format!("http://[{h}]:{}", config.port)
        }
        h => h,
    };
    format!("http://{host}:{}", config.port)
}

async fn healthcheck(config: &Config) -> Result<()> {
    let url = format!("{}/readyz", local_url(config));
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()?;
    let res = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = res.status();
    if status != reqwest::StatusCode::OK {
        bail!(
            "{url} answered {status}: {}",
            res.text().await.unwrap_or_default()
        );
    }
    println!("ready");
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: crate::config::Config,
    }

    fn url(args: &[&str]) -> String {
        let cli = Cli::try_parse_from(std::iter::once("s").chain(args.iter().copied())).unwrap();
        super::local_url(&cli.config)
    }

    #[test]
    fn the_health_check_reaches_a_wildcard_listener_on_loopback() {
        assert_eq!(
            url(&["--host", "0.0.0.0", "--port", "9000"]),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            url(&["--host", "::", "--port", "9000"]),
            "http://[::1]:9000"
        );
        assert_eq!(url(&["--host", "10.0.0.5"]), "http://10.0.0.5:8080");
        assert_eq!(
            url(&["--host", "fd00::5", "--port", "1"]),
            "http://[fd00::5]:1"
        );
    }
}
