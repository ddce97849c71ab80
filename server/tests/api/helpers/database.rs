//! A fresh PostgreSQL database per test on the server `CONNECTOR_TEST_DATABASE_URL` names
//! (`cargo xtask test` starts a throwaway one and sets it), dropped afterwards.

use sqlx::{Connection, Executor, PgConnection};

pub const URL_VAR: &str = "CONNECTOR_TEST_DATABASE_URL";

pub struct TestDatabase {
    /// The url of the new database.
    pub url: String,
    name: String,
    admin: String,
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let (scheme, rest) = base.split_once("://").expect("a postgres:// url");
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}/{name}{query}")
}

impl TestDatabase {
    /// A new empty database, or `None` when no test server is configured: the caller skips,
    /// saying so. `cargo xtask test` always configures one.
    pub async fn create() -> Option<TestDatabase> {
        let Ok(admin) = std::env::var(URL_VAR) else {
            eprintln!("skipped: {URL_VAR} is not set (cargo xtask test sets it)");
            return None;
        };
        let name = format!("connector_test_{}", hex::encode(rand::random::<[u8; 6]>()));
        let mut conn = PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the test postgres ({URL_VAR}): {e}"));
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        Some(TestDatabase {
            url: with_database(&admin, &name),
            name,
            admin,
        })
    }

    /// A connection to the test database, to look at or hold what the servers cannot show.
    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.unwrap()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Its own runtime: drop cannot await, and the test's runtime may be ending.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    if let Ok(mut conn) = PgConnection::connect(&admin).await {
                        let _ = conn
                            .execute(
                                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                            )
                            .await;
                    }
                })
        })
        .join();
    }
}

/// Gets a test database or returns from the test, saying it was skipped.
#[macro_export]
macro_rules! postgres_or_skip {
    () => {
        match $crate::helpers::TestDatabase::create().await {
            Some(db) => db,
            None => return,
        }
    };
}
