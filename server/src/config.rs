//! Flags and environment variables.

use std::path::PathBuf;

use clap::Args;

/// The connector server.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "CONNECTOR_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on; 0 picks a free one.
    #[arg(long, env = "CONNECTOR_PORT", default_value_t = 8080)]
    pub port: u16,
    /// SQLite database file, created on first start.
    #[arg(long, env = "CONNECTOR_DB", default_value = "connector.sqlite")]
    pub db: PathBuf,
    /// The built page (Trunk's dist/).
    #[arg(long, env = "CONNECTOR_DIST", default_value = "dist")]
    pub dist: PathBuf,
    /// Dev mode: serve the Teams host emulator and its webhook inboxes.
    #[arg(long, env = "CONNECTOR_DEV")]
    pub dev: bool,
    /// The emulator's static files (dev mode).
    #[arg(long, env = "CONNECTOR_EMULATOR_DIR", default_value = "emulator")]
    pub emulator_dir: PathBuf,
    /// File holding the 32-byte key for the keyed hash of webhook URLs; created if missing.
    /// Defaults to the database path with `.key` appended.
    #[arg(long, env = "CONNECTOR_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Turns on Teams single sign-on: the `aud` tokens must carry (the Entra app's
    /// Application ID URI, as in the manifest's webApplicationInfo.resource).
    #[arg(long, env = "CONNECTOR_SSO_AUDIENCE")]
    pub sso_audience: Option<String>,
    /// The `iss` tokens must carry; `{tid}` stands for the token's tenant.
    #[arg(
        long,
        env = "CONNECTOR_SSO_ISSUER",
        default_value = "https://login.microsoftonline.com/{tid}/v2.0"
    )]
    pub sso_issuer: String,
    /// Where the signing keys are published.
    #[arg(
        long,
        env = "CONNECTOR_SSO_JWKS_URL",
        default_value = "https://login.microsoftonline.com/common/discovery/v2.0/keys"
    )]
    pub sso_jwks_url: String,
    /// Dev mode: webhook URLs may also point at the emulator inbox of another local server
    /// (`http://127.0.0.1:PORT`), which outlives this one (crash tests, benchmarks).
    #[arg(long, env = "CONNECTOR_DEV_INBOX_ORIGIN", requires = "dev")]
    pub dev_inbox_origin: Option<String>,
    /// Dev mode: single sign-on against the emulator's own identity provider.
    #[arg(long, env = "CONNECTOR_DEV_SSO", requires = "dev")]
    pub dev_sso: bool,
    /// The shared secret events are signed with (HMAC-SHA256), at least 32 bytes; without it
    /// /api/events is off.
    #[arg(long, env = "CONNECTOR_EVENTS_SECRET", hide_env_values = true)]
    pub events_secret: Option<String>,
    /// Hosts webhook URLs may point at; `*.example.com` matches subdomains. Repeat the flag
    /// or separate with commas. Defaults to Microsoft's connector and Workflows hosts.
    #[arg(long = "webhook-host", env = "CONNECTOR_WEBHOOK_HOSTS", value_delimiter = ',',
          default_values_t = crate::domain::DEFAULT_HOSTS.iter().map(|h| h.to_string()).collect::<Vec<_>>())]
    pub webhook_hosts: Vec<String>,
    /// Seconds a webhook may take to answer a card before the attempt counts as failed and
    /// is retried (1 to 300).
    #[arg(long, env = "CONNECTOR_WEBHOOK_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub webhook_timeout: u64,
    /// Writes (save, delete) allowed per minute from one client address; 0 turns it off.
    #[arg(long, env = "CONNECTOR_WRITE_RATE", default_value_t = 30)]
    pub write_rate: u32,
    /// Writes allowed per minute for one tenant (from the webhook URL); 0 turns it off.
    #[arg(long, env = "CONNECTOR_TENANT_WRITE_RATE", default_value_t = 300)]
    pub tenant_write_rate: u32,
    /// Take the client address from the first X-Forwarded-For entry (behind a trusted proxy).
    #[arg(long, env = "CONNECTOR_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// Origins of pages served elsewhere (a CDN) that may call the API; repeat the flag or
    /// separate with commas. The page's own origin needs no entry.
    #[arg(
        long = "cors-origin",
        env = "CONNECTOR_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
    /// File of AES-256-GCM keys for webhook URLs at rest, one `id:hex` per line, the first
    /// sealing new values; created with one random key if missing. Defaults to the database
    /// path with `.keys` appended.
    #[arg(long, env = "CONNECTOR_ENCRYPTION_KEY_FILE")]
    pub encryption_key_file: Option<PathBuf>,
    /// The same keys inline, comma-separated (takes precedence over the file).
    #[arg(long, env = "CONNECTOR_ENCRYPTION_KEYS", hide_env_values = true)]
    pub encryption_keys: Option<String>,
    /// The key as 64 hex characters (takes precedence over --key-file).
    #[arg(long, env = "CONNECTOR_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
}

/// The shortest events secret taken: a shorter one (an empty one above all) can be guessed
/// or is a mistake, and would let anyone send events.
pub const MIN_EVENTS_SECRET_BYTES: usize = 32;

impl Config {
    /// The events secret, if set; refused when shorter than [`MIN_EVENTS_SECRET_BYTES`].
    /// The message names the flag and the variable, never the value.
    pub fn checked_events_secret(&self) -> Result<Option<&str>, String> {
        match self.events_secret.as_deref() {
            Some(s) if s.len() < MIN_EVENTS_SECRET_BYTES => Err(format!(
                "the events secret (--events-secret or CONNECTOR_EVENTS_SECRET) is {}; it must be at least {MIN_EVENTS_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`), or unset to turn events off",
                if s.is_empty() { "empty".to_string() } else { format!("only {} bytes", s.len()) }
            )),
            other => Ok(other),
        }
    }

    /// A config for tests: random port, the given database, dev mode as asked.
    pub fn for_tests(db: PathBuf, dist: PathBuf, dev: bool) -> Config {
        Config {
            host: "127.0.0.1".into(),
            port: 0,
            db,
            dist,
            dev,
            emulator_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../emulator")),
            key_file: None,
            cors_origins: Vec::new(),
            events_secret: Some("test-events-secret-of-32-bytes-or-more".into()),
            sso_audience: None,
            sso_issuer: "https://login.microsoftonline.com/{tid}/v2.0".into(),
            sso_jwks_url: "https://login.microsoftonline.com/common/discovery/v2.0/keys".into(),
            dev_sso: false,
            dev_inbox_origin: None,
            webhook_timeout: 30,
            write_rate: 30,
            tenant_write_rate: 300,
            trust_forwarded_for: false,
            webhook_hosts: crate::domain::DEFAULT_HOSTS
                .iter()
                .map(|h| h.to_string())
                .collect(),
            encryption_key_file: None,
            encryption_keys: None,
            secret_key: None,
        }
    }

    pub fn encryption_key_path(&self) -> PathBuf {
        self.encryption_key_file.clone().unwrap_or_else(|| {
            let mut p = self.db.clone().into_os_string();
            p.push(".keys");
            PathBuf::from(p)
        })
    }

    pub fn key_path(&self) -> PathBuf {
        self.key_file.clone().unwrap_or_else(|| {
            let mut p = self.db.clone().into_os_string();
            p.push(".key");
            PathBuf::from(p)
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: super::Config,
    }

    #[test]
    fn a_short_events_secret_is_refused_without_showing_it() {
        let parse = |secret: &str| {
            Cli::try_parse_from(["s", "--events-secret", secret])
                .unwrap()
                .config
        };
        for short in ["", "hunter2", &"s".repeat(31)] {
            let err = parse(short).checked_events_secret().unwrap_err();
            assert!(
                err.contains("--events-secret") && err.contains("CONNECTOR_EVENTS_SECRET"),
                "{err}"
            );
            assert!(short.is_empty() || !err.contains(short), "{err}");
        }
        let long = "s".repeat(32);
        assert_eq!(
            parse(&long).checked_events_secret(),
            Ok(Some(long.as_str()))
        );
        let unset = Cli::try_parse_from(["s"]).unwrap().config;
        assert_eq!(unset.checked_events_secret(), Ok(None));
    }

    #[test]
    fn the_webhook_time_out_is_bounded_and_named_when_wrong() {
        assert_eq!(
            Cli::try_parse_from(["s"]).unwrap().config.webhook_timeout,
            30
        );
        let five = Cli::try_parse_from(["s", "--webhook-timeout", "5"]).unwrap();
        assert_eq!(five.config.webhook_timeout, 5);
        for bad in ["0", "301", "soon"] {
            let err = Cli::try_parse_from(["s", "--webhook-timeout", bad])
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains("--webhook-timeout"), "{bad}: {err}");
        }
    }
}
