//! PostgreSQL, shared by any number of instances: a connection pool per instance (sqlx,
//! runtime queries, rustls), migrations embedded and run under sqlx's advisory lock so
//! instances starting together migrate once, and LISTEN/NOTIFY to wake every instance.

mod claim;
mod connections;
mod outbox;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

use super::Stores;
use crate::domain::Keyring;

/// The schema, applied in order; `_sqlx_migrations` records what ran.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The channel an accepted event is announced on.
const CHANNEL: &str = "connector_outbox";

/// The advisory lock that lets one instance at a time prune.
pub const PRUNE_LOCK: i64 = 0x636f_6e6e_5052_554e; // "connPRUN"

pub(super) async fn open(
    url: &str,
    pool: u32,
    keys: Keyring,
    stall: Option<Duration>,
) -> anyhow::Result<Stores> {
    let options: PgConnectOptions = url
        .parse()
        .context("the database url is not a postgres:// url")?;
    let options = options
        .application_name("connector-server")
        .log_statements(log::LevelFilter::Off)
        .log_slow_statements(log::LevelFilter::Warn, Duration::from_secs(2));
    let host = host_of(url).unwrap_or("(no host)");
    // One connection first: its error says why (refused, password, TLS), where the pool's
    // would only say it timed out.
    options
        .connect()
        .await
        .with_context(|| format!("cannot connect to postgres at {host}"))?
        .close()
        .await?;
    let pool = PgPoolOptions::new()
        .max_connections(pool.max(2))
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .with_context(|| format!("cannot connect to postgres at {host}"))?;
    // A schema a newer version migrated is not one to run on (or to let sqlx report as a
    // missing migration): say so, naming both versions.
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap_or_default();
    if let Some(problem) = ahead(&applied) {
        anyhow::bail!(problem);
    }
    MIGRATOR
        .run(&pool)
        .await
        .context("cannot migrate the database")?;
    Ok(Stores {
        connections: Arc::new(connections::PgConnections::new(
            pool.clone(),
            keys.clone(),
            stall,
        )),
        outbox: Arc::new(outbox::PgOutbox::new(pool, keys)),
    })
}

/// Why the applied migrations (their versions, ascending) are not this binary's, if they
/// are not.
fn schema_problem(applied: &[i64]) -> Option<String> {
    let known: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    if applied == known.as_slice() {
        return None;
    }
    if let Some(problem) = ahead(applied) {
        return Some(problem);
    }
    let name = |v: Option<&i64>| v.map_or("none".to_string(), |v| v.to_string());
    Some(format!(
        "the database schema is at migration {}; this server needs migration {}",
        name(applied.last()),
        name(known.last())
    ))
}

/// When the database has a migration this binary does not know (a newer version ran it):
/// why this binary cannot use it.
fn ahead(applied: &[i64]) -> Option<String> {
    let newest = *applied.last()?;
    let known = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    (newest > known).then(|| {
        format!(
            "the database schema is at migration {newest}, ahead of this server's migration {known}: a newer version migrated it; run that version here too"
        )
    })
}

/// The host of a database url, for messages (never the password).
fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    Some(authority.rsplit_once('@').map_or(authority, |(_, h)| h))
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_name_the_host_and_never_the_password() {
        assert_eq!(
            super::host_of("postgres://app:s3cret@db.example.com:5432/connector?sslmode=require"),
            Some("db.example.com:5432")
        );
        assert_eq!(super::host_of("postgres://localhost/x"), Some("localhost"));
    }
}
