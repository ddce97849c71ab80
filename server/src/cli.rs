//! The server binary's helper commands: send a signed event, show a connection's delivery
//! status. For scripts and for trying the connector by hand.

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::{json, Value};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sends a signed event to a running server's /api/events.
    SendEvent {
        /// The server's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        /// The events secret the server was started with.
        #[arg(long, env = "CONNECTOR_EVENTS_SECRET", hide_env_values = true)]
        secret: String,
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
        /// An id that makes repeating the event harmless.
        #[arg(long)]
        id: Option<String>,
    },
    /// Shows a connection's deliveries: pending, delivered, dead, last error, disabled.
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
            required_unless_present = "edit_key"
        )]
        webhook_url: Option<String>,
        /// The connection's edit key (in a tab's contentUrl after `#editKey=`): the other one.
        #[arg(long, env = "CONNECTOR_EDIT_KEY", hide_env_values = true)]
        edit_key: Option<String>,
    },
}

pub async fn run(command: Command) -> Result<()> {
    let client = reqwest::Client::new();
    let res = match command {
        Command::SendEvent {
            server,
            secret,
            kind,
            title,
            text,
            link,
            facts,
            project,
            id,
        } => {
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
            if let Some(id) = id {
                event["id"] = json!(id);
            }
            let body = event.to_string();
            let ts = time::OffsetDateTime::now_utc().unix_timestamp();
            client
                .post(format!("{}/api/events", server.trim_end_matches('/')))
                .header("content-type", "application/json")
                .header(crate::routes::events::TIMESTAMP_HEADER, ts.to_string())
                .header(
                    crate::routes::events::SIGNATURE_HEADER,
                    crate::routes::events::sign(&secret, ts, body.as_bytes()),
                )
                .body(body)
                .send()
                .await
                .with_context(|| format!("cannot reach {server}"))?
        }
        Command::Status {
            server,
            entity_id,
            webhook_url,
            edit_key,
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
