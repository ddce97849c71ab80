//! Flags and environment variables.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};

use crate::auth::SsoSettings;
use crate::delivery::{DeliveryConfig, FlowTokenSettings, Schedule};
use crate::domain::event::EventSecrets;
use crate::domain::rate_windows::{Limits, MAX_DAILY_BUDGET};
use crate::domain::{HashKey, Keyring};
use crate::store::Database;

/// What one instance runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// The API and delivery workers.
    All,
    /// Only the API (and the page); no deliveries.
    Api,
    /// Only delivery workers (and the health routes).
    Delivery,
}

/// Seconds a claim must outlast twice the webhook time-out.
pub const LEASE_MARGIN_SECS: u64 = 10;

/// Entra's public cloud, where flow tokens come from by default.
pub const DEFAULT_FLOW_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The public cloud's flow service audience (MS: power-automate-docs oauth-authentication.md).
pub const DEFAULT_FLOW_AUDIENCE: &str = crate::delivery::flow_token::FLOW_AUDIENCE;

/// The connector server.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "CONNECTOR_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on; 0 picks a free one.
    #[arg(long, env = "CONNECTOR_PORT", default_value_t = 8080)]
    pub port: u16,
    /// SQLite database file, created on first start (when --database-url is not given).
    #[arg(long, env = "CONNECTOR_DB", default_value = "connector.sqlite")]
    pub db: PathBuf,
    /// PostgreSQL instead of SQLite, shared by any number of instances:
    /// postgres://user:password@host:5432/connector?sslmode=verify-full
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Connections each instance keeps to PostgreSQL.
    #[arg(long, env = "CONNECTOR_DATABASE_POOL", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(2..=500))]
    pub database_pool: u32,
    /// What this instance runs: the API and delivery workers, only the API, or only delivery.
    #[arg(long, env = "CONNECTOR_ROLE", value_enum, default_value_t = Role::All)]
    pub role: Role,
    /// Seconds a claimed delivery stays with its instance before another may take it; at
    /// least twice --webhook-timeout plus 10. Defaults to twice the time-out plus 30.
    #[arg(long, env = "CONNECTOR_CLAIM_LEASE")]
    pub claim_lease: Option<u64>,
    /// Cards posted at once by this instance. Defaults to 32 on SQLite and 128 on
    /// PostgreSQL, whose round trips are longer: more posts in flight keep its claims and
    /// outcome batches full.
    #[arg(long, env = "CONNECTOR_DELIVERY_CONCURRENCY",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub delivery_concurrency: Option<u32>,
    /// Milliseconds between looks for due deliveries when no wake-up came.
    #[arg(long, env = "CONNECTOR_POLL_INTERVAL_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub poll_interval_ms: u64,
    /// Seconds posts in flight may go on after SIGTERM before their deliveries are handed
    /// back to the other instances (never longer than --webhook-timeout).
    #[arg(long, env = "CONNECTOR_SHUTDOWN_GRACE", default_value_t = 20)]
    pub shutdown_grace: u64,
    /// Days delivered cards are kept (then pruned, by one instance at a time); 0 keeps them.
    #[arg(long, env = "CONNECTOR_RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u32,
    /// Tests only: divides the retry schedule, so hours of outage pass in seconds.
    #[arg(long, env = "CONNECTOR_TEST_RETRY_DIVISOR", default_value_t = 1, hide = true,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub test_retry_divisor: u32,
    /// The built page (Trunk's dist/).
    #[arg(long, env = "CONNECTOR_DIST", default_value = "dist")]
    pub dist: PathBuf,
    /// Dev mode: serve the Teams host emulator and its webhook inboxes.
    #[arg(long, env = "CONNECTOR_DEV")]
    pub dev: bool,
    /// The emulator's static files (dev mode).
    #[arg(long, env = "CONNECTOR_EMULATOR_DIR", default_value = "emulator")]
    pub emulator_dir: PathBuf,
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
    /// Posts to flows that take only signed-in callers (Workflows URLs without `sig`, "Who
    /// can trigger the flow: Any user in my tenant") with a token of the connection's tenant:
    /// the client id of the Entra app used for single sign-on, whose service principal each
    /// customer tenant's admin consented to. Off unless given (with --dev-sso: a dev app).
    #[arg(long, env = "CONNECTOR_FLOW_CLIENT_ID")]
    pub flow_client_id: Option<String>,
    /// That app's client secret.
    #[arg(long, env = "CONNECTOR_FLOW_CLIENT_SECRET", hide_env_values = true)]
    pub flow_client_secret: Option<String>,
    /// A file holding that secret (one line), instead of --flow-client-secret.
    #[arg(long, env = "CONNECTOR_FLOW_CLIENT_SECRET_FILE")]
    pub flow_client_secret_file: Option<PathBuf>,
    /// Where flow tokens come from: `{authority}/{tenant}/oauth2/v2.0/token`.
    #[arg(
        long,
        env = "CONNECTOR_FLOW_AUTHORITY",
        default_value = DEFAULT_FLOW_AUTHORITY
    )]
    pub flow_authority: String,
    /// The audience flows want, exactly (trailing slash included); the scope asked for is
    /// it plus `/.default`. Other clouds: https://gov.service.flow.microsoft.us/ (GCC),
    /// https://high.service.flow.microsoft.us/ (GCC High), https://service.flow.appsplatform.us/
    /// (DoD), https://service.powerautomate.cn/ (China).
    #[arg(long, env = "CONNECTOR_FLOW_AUDIENCE", default_value = DEFAULT_FLOW_AUDIENCE)]
    pub flow_audience: String,
    /// The app's bot (docs/teams.md "Posting as the app's bot"): the Microsoft App ID of its
    /// Azure Bot registration, a GUID, which the Bot Framework's tokens on /api/messages must
    /// carry as their audience. Without it (or --dev-bot) /api/messages is off.
    #[arg(long, env = "CONNECTOR_BOT_APP_ID")]
    pub bot_app_id: Option<String>,
    /// Where the Bot Framework's OpenID metadata is, which names the JWKS its tokens are
    /// signed with.
    #[arg(
        long,
        env = "CONNECTOR_BOT_OPENID_METADATA_URL",
        default_value = crate::bot::DEFAULT_OPENID_METADATA_URL
    )]
    pub bot_openid_metadata_url: String,
    /// Hosts an activity's service URL (where the bot posts) may name; `*.example.com`
    /// matches subdomains. Repeat the flag or separate with commas. Defaults to Teams'
    /// hosts in the public, GCC, GCC High and DoD clouds.
    #[arg(long = "bot-service-host", env = "CONNECTOR_BOT_SERVICE_HOSTS", value_delimiter = ',',
          default_values_t = crate::bot::DEFAULT_SERVICE_HOSTS.iter().map(|h| h.to_string()).collect::<Vec<_>>())]
    pub bot_service_hosts: Vec<String>,
    /// The client secret of the bot's Entra app: the bot posts to channels (connections on the
    /// bot path) with a client-credentials token got with it. Without it the bot takes
    /// install events but connections cannot be saved on the bot path.
    #[arg(long, env = "CONNECTOR_BOT_APP_PASSWORD", hide_env_values = true)]
    pub bot_app_password: Option<String>,
    /// The bot posts with tokens of its managed identity instead of a client secret (an Azure
    /// Bot of type UserAssignedMSI): the user-assigned identity's client id, which is the
    /// bot's Microsoft App ID. The tokens come from App Service's identity endpoint when
    /// IDENTITY_ENDPOINT and IDENTITY_HEADER are set, else from the Azure Instance Metadata
    /// Service (http://169.254.169.254/metadata/identity/oauth2/token).
    #[arg(
        long,
        env = "CONNECTOR_BOT_MANAGED_IDENTITY",
        conflicts_with = "bot_app_password"
    )]
    pub bot_managed_identity: Option<String>,
    /// Where the managed identity's tokens come from: App Service sets it (with
    /// IDENTITY_HEADER); without it, the Azure Instance Metadata Service's endpoint.
    #[arg(long, env = "IDENTITY_ENDPOINT")]
    pub bot_identity_endpoint: Option<String>,
    /// The header App Service's identity endpoint wants (X-IDENTITY-HEADER); App Service
    /// sets it. Without it the endpoint is asked as the Instance Metadata Service is
    /// (Metadata: true).
    #[arg(long, env = "IDENTITY_HEADER", hide_env_values = true)]
    pub bot_identity_header: Option<String>,
    /// The tenant the bot's tokens come from: its own tenant id for a single-tenant bot
    /// (every bot registered since 2025-07-31), `botframework.com` for a legacy multi-tenant one.
    #[arg(long, env = "CONNECTOR_BOT_TENANT", default_value = crate::bot::connector::LEGACY_BOT_TENANT)]
    pub bot_tenant: String,
    /// Dev mode: the emulator plays the Bot Framework: it signs the activities it sends to
    /// /api/messages with its own development key, which this server then trusts.
    #[arg(long, env = "CONNECTOR_DEV_BOT", requires = "dev")]
    pub dev_bot: bool,
    /// The secrets events are signed with; without one /api/events is off. One secret, or
    /// several as `id:secret,id:secret` to rotate (any may sign; the id names it in logs).
    /// A secret is a Standard Webhooks key `whsec_<base64 of 24 to 64 bytes>`, or plain text
    /// of at least 32 bytes whose bytes are the key (senders' libraries take it as
    /// `whsec_` + its base64). See docs/events.md.
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
    /// Cards posted to one Workflows webhook (one flow) in any 24 hours, by all instances
    /// together, at most 10,000. Power Automate's "Low" plan (every flow made in Teams by a
    /// user without a Power Automate licence) allows 10,000 Power Platform requests a day
    /// per flow, and each run of Teams' template spends about four (trigger, foreach, post):
    /// the default 2,500 keeps a flow within it. Raise it for flows on a larger plan.
    #[arg(
        long,
        env = "CONNECTOR_WORKFLOWS_DAILY_BUDGET",
        default_value_t = 2_500
    )]
    pub workflows_daily_budget: usize,
    /// Writes (save, delete) allowed per minute from one client address; 0 turns it off.
    #[arg(long, env = "CONNECTOR_WRITE_RATE", default_value_t = 30)]
    pub write_rate: u32,
    /// Writes allowed per minute for one tenant, charged once a write is proven the tenant's
    /// (a sign-in token of it, or an existing connection's own credential); 0 turns it off.
    #[arg(long, env = "CONNECTOR_TENANT_WRITE_RATE", default_value_t = 300)]
    pub tenant_write_rate: u32,
    /// New connections allowed per minute to one webhook, from any address; 0 turns it off.
    #[arg(long, env = "CONNECTOR_TARGET_WRITE_RATE", default_value_t = 10)]
    pub target_write_rate: u32,
    /// Take the client address from the first X-Forwarded-For entry (behind a trusted proxy).
    #[arg(long, env = "CONNECTOR_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// Seconds a client may take to send a request's headers (from its first byte, or
    /// from connecting); a slower one is disconnected.
    #[arg(long, env = "CONNECTOR_HEADER_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout: u64,
    /// Seconds a client may take to send a request's body after its headers; a slower one
    /// is answered 408 and disconnected.
    #[arg(long, env = "CONNECTOR_BODY_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout: u64,
    /// Seconds a keep-alive connection may wait for its next request (keep it longer than
    /// the idle time-out of the proxy in front).
    #[arg(long, env = "CONNECTOR_IDLE_TIMEOUT", default_value_t = 75,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout: u64,
    /// Open client connections at most; at the cap the one waiting longest for a request
    /// to arrive is closed for a new one. Lowered to fit the descriptor limit.
    #[arg(long, env = "CONNECTOR_MAX_CONNECTIONS", default_value_t = 4096,
          value_parser = clap::value_parser!(u64).range(2..=1_000_000))]
    pub max_connections: u64,
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
    /// The hash key (the keyed hash through which webhook URLs and edit keys are looked up)
    /// as 64 hex characters; takes precedence over --hash-key-file.
    #[arg(long, env = "CONNECTOR_HASH_KEY", hide_env_values = true)]
    pub hash_key: Option<String>,
    /// File holding the hash key (64 hex characters); with SQLite created if missing.
    /// Defaults to the database path with `.key` appended.
    #[arg(long, env = "CONNECTOR_HASH_KEY_FILE")]
    pub hash_key_file: Option<PathBuf>,
    /// Where to serve Prometheus metrics (`/metrics`), e.g. 127.0.0.1:9090; off unless given.
    /// Keep it off the public network: it is a listener of its own for that reason.
    #[arg(long, env = "CONNECTOR_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Bearer tokens of the admin API (`/admin/…`, served only on the --metrics-addr
    /// listener): `id:secret`, several comma-separated while rotating; the id names who acted
    /// in the audit log, the secret (16 characters or more) is the bearer token. Without any
    /// the admin API is off.
    #[arg(long, env = "CONNECTOR_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Log lines as text for people or as JSON objects for a log pipeline.
    #[arg(long, env = "CONNECTOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Seconds an API request may take before it is abandoned with 503 (under the page's
    /// 20 s and Teams' 30 s); what it was writing is rolled back.
    #[arg(long, env = "CONNECTOR_REQUEST_DEADLINE", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=120))]
    pub request_deadline: u64,
    /// Requests served at once; beyond it the server answers 503 with Retry-After at once
    /// instead of queueing (health checks are not counted).
    #[arg(long, env = "CONNECTOR_MAX_CONCURRENT_REQUESTS", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_concurrent_requests: u32,
    /// Tests only: every connection save waits this many milliseconds inside its
    /// transaction, as a stalled database would.
    #[arg(long, env = "CONNECTOR_TEST_STALL_WRITES_MS", hide = true)]
    pub test_stall_writes_ms: Option<u64>,
    /// Builds with `[account]`: the OpenID Connect issuer instead of connector.toml's (a
    /// staging provider, or tests' provider on a random port).
    #[arg(long, env = "CONNECTOR_ACCOUNT_ISSUER")]
    pub account_issuer: Option<String>,
    /// Builds with `[account]`: the client id at the issuer instead of connector.toml's.
    #[arg(long, env = "CONNECTOR_ACCOUNT_CLIENT_ID")]
    pub account_client_id: Option<String>,
    /// Builds with `[account]`: the client secret at the issuer (required there).
    #[arg(long, env = "CONNECTOR_ACCOUNT_CLIENT_SECRET", hide_env_values = true)]
    pub account_client_secret: Option<String>,
    #[command(flatten)]
    pub secret_files: SecretFiles,
    #[command(flatten)]
    pub deprecated: DeprecatedNames,
}

/// The hash key's earlier names, still taken (hidden from `--help`): each one warns at start
/// with its new name ([`Config::read_secret_files`]); giving an old and its new name is an
/// error naming both.
#[derive(Debug, Clone, Default, Args)]
pub struct DeprecatedNames {
    /// Deprecated: --hash-key.
    #[arg(
        long = "secret-key",
        env = "CONNECTOR_SECRET_KEY",
        hide = true,
        hide_env_values = true
    )]
    pub secret_key: Option<String>,
    /// Deprecated: --hash-key-file (this one was never created: a missing file is an error).
    #[arg(
        long = "secret-key-file",
        env = "CONNECTOR_SECRET_KEY_FILE",
        hide = true
    )]
    pub secret_key_file: Option<PathBuf>,
    /// Deprecated: --hash-key-file.
    #[arg(long = "key-file", env = "CONNECTOR_KEY_FILE", hide = true)]
    pub key_file: Option<PathBuf>,
}

/// A deprecated name and the name that replaced it, flag and variable.
struct Renamed {
    old: &'static str,
    new: &'static str,
}

const SECRET_KEY: Renamed = Renamed {
    old: "--secret-key (CONNECTOR_SECRET_KEY)",
    new: "--hash-key (CONNECTOR_HASH_KEY)",
};
const SECRET_KEY_FILE: Renamed = Renamed {
    old: "--secret-key-file (CONNECTOR_SECRET_KEY_FILE)",
    new: "--hash-key-file (CONNECTOR_HASH_KEY_FILE)",
};
const KEY_FILE: Renamed = Renamed {
    old: "--key-file (CONNECTOR_KEY_FILE)",
    new: "--hash-key-file (CONNECTOR_HASH_KEY_FILE)",
};

impl Renamed {
    fn warning(&self) -> String {
        format!("{} is deprecated: use {}", self.old, self.new)
    }

    fn both(&self) -> anyhow::Error {
        anyhow::anyhow!(
            "{} and its deprecated name {} are both set: give only {}",
            self.new,
            self.old,
            self.new
        )
    }
}

/// The sign-in to the service's accounts, from `[account]` and the flags.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    pub spec: &'static connector_settings::AccountSpec,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

/// Files holding secrets instead of their values, as Docker and Kubernetes hand secrets
/// over; read once at start ([`Config::read_secret_files`]). Each file is one value (a
/// trailing newline is dropped); giving a secret both ways is an error.
#[derive(Debug, Clone, Default, Args)]
pub struct SecretFiles {
    /// A file holding the events secret, instead of --events-secret.
    #[arg(long, env = "CONNECTOR_EVENTS_SECRET_FILE")]
    pub events_secret_file: Option<PathBuf>,
    /// A file holding the PostgreSQL URL, instead of --database-url.
    #[arg(long, env = "DATABASE_URL_FILE")]
    pub database_url_file: Option<PathBuf>,
    /// A file holding the encryption keys, instead of --encryption-keys. Unlike
    /// --encryption-key-file it is never created: a missing file is an error.
    #[arg(long, env = "CONNECTOR_ENCRYPTION_KEYS_FILE")]
    pub encryption_keys_file: Option<PathBuf>,
    /// A file holding the account client secret, instead of --account-client-secret.
    #[arg(long, env = "CONNECTOR_ACCOUNT_CLIENT_SECRET_FILE")]
    pub account_client_secret_file: Option<PathBuf>,
    /// A file holding the admin tokens, instead of --admin-token.
    #[arg(long, env = "CONNECTOR_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
}

/// The secret `name` (its variable, e.g. `CONNECTOR_EVENTS_SECRET`; the flag and the
/// `_FILE` forms follow from it) from its value or from a file, never both. One trailing
/// newline of the file is dropped (editors and `echo` add it). Errors name the variables,
/// flags and path, never the content.
pub fn secret_from(
    value: Option<String>,
    file: Option<PathBuf>,
    name: &str,
) -> anyhow::Result<Option<String>> {
    let flag = format!(
        "--{}",
        name.trim_start_matches("CONNECTOR_")
            .to_ascii_lowercase()
            .replace('_', "-")
    );
    match (value, file) {
        (Some(_), Some(_)) => bail!(
            "{name} ({flag}) and {name}_FILE ({flag}-file) are both set: give the secret one way, not both"
        ),
        (Some(value), None) => Ok(Some(value)),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {name}_FILE '{}'", path.display()))?;
            let text = text.strip_suffix('\n').map_or(text.as_str(), |t| {
                t.strip_suffix('\r').unwrap_or(t)
            });
            Ok(Some(text.to_string()))
        }
        (None, None) => Ok(None),
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The shortest plain events secret taken.
pub const MIN_EVENTS_SECRET_BYTES: usize = crate::domain::event::signing::MIN_PLAIN_BYTES;

impl Config {
    /// Reads the secrets given as files (`…_FILE`) into their values; once at start (the
    /// file names are taken, so a second call changes nothing).
    pub fn read_secret_files(&mut self) -> anyhow::Result<()> {
        for warning in self.take_deprecated_names()? {
            tracing::warn!("{warning}");
        }
        let files = std::mem::take(&mut self.secret_files);
        self.events_secret = secret_from(
            self.events_secret.take(),
            files.events_secret_file,
            "CONNECTOR_EVENTS_SECRET",
        )?;
        self.database_url = secret_from(
            self.database_url.take(),
            files.database_url_file,
            "DATABASE_URL",
        )?;
        self.encryption_keys = secret_from(
            self.encryption_keys.take(),
            files.encryption_keys_file,
            "CONNECTOR_ENCRYPTION_KEYS",
        )?;
        self.account_client_secret = secret_from(
            self.account_client_secret.take(),
            files.account_client_secret_file,
            "CONNECTOR_ACCOUNT_CLIENT_SECRET",
        )?;
        self.admin_token = secret_from(
            self.admin_token.take(),
            files.admin_token_file,
            "CONNECTOR_ADMIN_TOKEN",
        )?;
        Ok(())
    }

    /// Moves the hash key's deprecated names (`--secret-key`, `--secret-key-file`,
    /// `--key-file` and their variables) to the new ones, and says what to write instead;
    /// refuses an old name given with its new one. Called by [`Config::read_secret_files`].
    pub fn take_deprecated_names(&mut self) -> anyhow::Result<Vec<String>> {
        let old = std::mem::take(&mut self.deprecated);
        let mut warnings = Vec::new();
        if let Some(hex) = old.secret_key {
            if self.hash_key.is_some() {
                return Err(SECRET_KEY.both());
            }
            warnings.push(SECRET_KEY.warning());
            self.hash_key = Some(hex);
        }
        if let Some(path) = old.secret_key_file {
            if self.hash_key_file.is_some() {
                return Err(SECRET_KEY_FILE.both());
            }
            if self.hash_key.is_some() {
                bail!(
                    "the hash key is given twice: {} and {} (or its deprecated name {}): give it one way",
                    SECRET_KEY_FILE.old,
                    SECRET_KEY.new,
                    SECRET_KEY.old
                );
            }
            warnings.push(SECRET_KEY_FILE.warning());
            // As before: read now (a missing file is an error), never created.
            self.hash_key = secret_from(self.hash_key.take(), Some(path), "CONNECTOR_SECRET_KEY")?;
        }
        if let Some(path) = old.key_file {
            if self.hash_key_file.is_some() {
                return Err(KEY_FILE.both());
            }
            warnings.push(KEY_FILE.warning());
            self.hash_key_file = Some(path);
        }
        Ok(warnings)
    }

    /// The sign-in to the service's accounts for a build with `[account]` (`spec`): its
    /// secret is required. A build without one refuses the account flags.
    pub fn accounts(
        &self,
        spec: Option<&'static connector_settings::AccountSpec>,
    ) -> anyhow::Result<Option<AccountSettings>> {
        let Some(spec) = spec else {
            let given: Vec<&str> = [
                (
                    self.account_issuer.is_some(),
                    "--account-issuer (CONNECTOR_ACCOUNT_ISSUER)",
                ),
                (
                    self.account_client_id.is_some(),
                    "--account-client-id (CONNECTOR_ACCOUNT_CLIENT_ID)",
                ),
                (
                    self.account_client_secret.is_some(),
                    "the account client secret (CONNECTOR_ACCOUNT_CLIENT_SECRET or _FILE)",
                ),
            ]
            .into_iter()
            .filter_map(|(set, name)| set.then_some(name))
            .collect();
            if !given.is_empty() {
                bail!(
                    "{} is set, but this build has no [account] in connector.toml: unset it, or build with a connector.toml that declares [account] (docs/accounts.md)",
                    given.join(" and ")
                );
            }
            return Ok(None);
        };
        let Some(secret) = self.account_client_secret.clone() else {
            bail!(
                "this build signs in to {} accounts ([account] in connector.toml): set CONNECTOR_ACCOUNT_CLIENT_SECRET or CONNECTOR_ACCOUNT_CLIENT_SECRET_FILE (--account-client-secret[-file]) to the client secret of '{}' at {}",
                spec.service.get(connector_settings::Locale::En),
                self.account_client_id.as_deref().unwrap_or(spec.client_id),
                self.account_issuer.as_deref().unwrap_or(spec.issuer)
            );
        };
        if secret.trim().is_empty() {
            bail!("the account client secret (CONNECTOR_ACCOUNT_CLIENT_SECRET) is empty");
        }
        let issuer = self
            .account_issuer
            .clone()
            .unwrap_or_else(|| spec.issuer.to_string());
        let loopback =
            issuer.starts_with("http://127.0.0.1:") || issuer.starts_with("http://localhost:");
        if !(issuer.starts_with("https://") || loopback) {
            bail!("--account-issuer '{issuer}' must start with https:// (or be http on 127.0.0.1 for development)");
        }
        let client_id = self
            .account_client_id
            .clone()
            .unwrap_or_else(|| spec.client_id.to_string());
        if client_id.trim().is_empty() || client_id.contains(char::is_whitespace) {
            bail!("--account-client-id '{client_id}' must be one word");
        }
        Ok(Some(AccountSettings {
            spec,
            issuer,
            client_id,
            client_secret: secret,
        }))
    }

    /// The admin API's tokens (none: it is off); refused when malformed, with a message that
    /// names the entry by its position or id, never a secret.
    pub fn admin_tokens(&self) -> anyhow::Result<Vec<crate::admin::AdminToken>> {
        match &self.admin_token {
            None => Ok(Vec::new()),
            Some(list) => crate::admin::parse_tokens(list).map_err(|e| {
                anyhow::anyhow!(
                    "the admin tokens (CONNECTOR_ADMIN_TOKEN or CONNECTOR_ADMIN_TOKEN_FILE) are refused: {e}"
                )
            }),
        }
    }

    /// The events secrets, if set (from the flag or the variable, or the file read by
    /// [`Config::read_secret_files`]); refused when malformed or too short. The message names
    /// the flag and the variables, never a value.
    pub fn checked_events_secrets(&self) -> Result<Option<EventSecrets>, String> {
        const NAMES: &str = "--events-secret or CONNECTOR_EVENTS_SECRET";
        let Some(value) = self.events_secret.as_deref() else {
            return Ok(None);
        };
        EventSecrets::parse(value).map(Some).map_err(|e| {
            format!(
                "the events secret ({NAMES}, or CONNECTOR_EVENTS_SECRET_FILE) is refused: {e}; or unset it to turn events off"
            )
        })
    }

    /// The limits on client connections; the cap lowered to leave `reserve` descriptors of
    /// `fd_limit` for the database, webhooks and files.
    pub fn limits(&self, fd_limit: Option<u64>) -> crate::serve::Limits {
        const RESERVE: u64 = 512;
        let mut cap = self.max_connections;
        if let Some(fds) = fd_limit {
            let fits = fds.saturating_sub(RESERVE).max(16);
            if cap > fits {
                tracing::warn!(
                    max_connections = cap,
                    fd_limit = fds,
                    "--max-connections lowered to {fits} to fit the descriptor limit"
                );
                cap = fits;
            }
        }
        crate::serve::Limits {
            header_timeout: std::time::Duration::from_secs(self.header_timeout),
            body_timeout: std::time::Duration::from_secs(self.body_timeout),
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout),
            max_connections: usize::try_from(cap).unwrap_or(usize::MAX),
        }
    }

    /// The database these flags name.
    pub fn database(&self) -> anyhow::Result<Database> {
        match &self.database_url {
            None => Ok(Database::Sqlite(self.db.clone())),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Database::Postgres {
                    url: url.clone(),
                    pool: self.database_pool,
                })
            }
            Some(url) => bail!(
                "database url '{}…' must start with postgres:// or postgresql://",
                url.chars().take(12).collect::<String>()
            ),
        }
    }

    /// The hash key and the encryption keys. With SQLite a missing key file is created; with
    /// PostgreSQL every instance must be given the same keys, so none is made up here.
    pub fn keys(&self) -> anyhow::Result<(HashKey, Keyring)> {
        let shared = self.database_url.is_some();
        let ring = match (&self.encryption_keys, &self.encryption_key_file) {
            (Some(ring), _) => Keyring::parse(ring).context("CONNECTOR_ENCRYPTION_KEYS")?,
            (None, Some(path)) if shared && !path.exists() => {
                bail!("encryption key file {} does not exist", path.display())
            }
            (None, None) if shared => bail!(
                "with --database-url every instance needs the same keys: set CONNECTOR_ENCRYPTION_KEYS or --encryption-key-file"
            ),
            (None, _) => Keyring::load_or_create(&self.encryption_key_path())?,
        };
        let key = match (&self.hash_key, &self.hash_key_file) {
            (Some(hex), _) => HashKey::from_hex(hex).context("CONNECTOR_HASH_KEY")?,
            (None, Some(path)) if shared && !path.exists() => {
                bail!("hash key file {} does not exist", path.display())
            }
            (None, None) if shared => bail!(
                "with --database-url every instance needs the same keys: set CONNECTOR_HASH_KEY or --hash-key-file"
            ),
            (None, _) => HashKey::load_or_create(&self.key_path())?,
        };
        Ok((key, ring))
    }

    /// Each webhook kind's rate windows; refuses a daily budget no flow can have.
    pub fn windows(&self) -> anyhow::Result<Limits> {
        let budget = self.workflows_daily_budget;
        if !(1..=MAX_DAILY_BUDGET).contains(&budget) {
            bail!(
                "--workflows-daily-budget {budget} is out of range: it must be 1 to {MAX_DAILY_BUDGET} \
                 (Power Automate's \"Low\" plan allows {MAX_DAILY_BUDGET} requests a day per flow, and a card spends at least one)"
            );
        }
        Ok(Limits::new(budget))
    }

    /// How this instance delivers; refuses a lease a slow webhook could outlast and a daily
    /// budget out of range.
    pub fn delivery(&self) -> anyhow::Result<DeliveryConfig> {
        let timeout = self.webhook_timeout;
        let least = 2 * timeout + LEASE_MARGIN_SECS;
        let lease = self.claim_lease.unwrap_or(2 * timeout + 30);
        if lease < least {
            bail!(
                "--claim-lease {lease} s is too short for --webhook-timeout {timeout} s: it must be at least \
                 2 × {timeout} + {LEASE_MARGIN_SECS} = {least} s, or a slow webhook's delivery is claimed again and posted twice"
            );
        }
        Ok(DeliveryConfig {
            timeout: std::time::Duration::from_secs(timeout),
            lease: std::time::Duration::from_secs(lease),
            concurrency: self
                .delivery_concurrency
                .unwrap_or(if self.database_url.is_some() { 128 } else { 32 })
                as usize,
            grace: std::time::Duration::from_secs(self.shutdown_grace.min(timeout)),
            poll: std::time::Duration::from_millis(self.poll_interval_ms),
            schedule: Schedule {
                divisor: self.test_retry_divisor,
            },
            retention: (self.retention_days > 0)
                .then(|| std::time::Duration::from_secs(u64::from(self.retention_days) * 86_400)),
            // Set at start, once the server knows its port (dev mode's identity provider).
            flow_tokens: None,
            bot: None,
            windows: self.windows()?,
        })
    }

    /// The single sign-on settings: the emulator's identity provider with `--dev-sso`, Entra's
    /// with `--sso-audience`, else none.
    pub fn sso(&self, port: u16) -> anyhow::Result<Option<SsoSettings>> {
        // clap refuses --dev-sso without --dev (`requires`).
        if self.dev_sso {
            tracing::warn!(
                "dev mode: single sign-on trusts the emulator's development identity provider"
            );
            return Ok(Some(crate::emulator::idp::settings(port)));
        }
        Ok(self.sso_audience.as_ref().map(|audience| SsoSettings {
            audience: audience.clone(),
            issuer_pattern: self.sso_issuer.clone(),
            jwks_url: self.sso_jwks_url.clone(),
        }))
    }

    /// The app's bot, or `None` when /api/messages is off. With --dev-bot the emulator's
    /// development app id and OpenID metadata (on `port`) stand in for what is not given,
    /// and its connector service is a service URL taken too.
    pub fn bot(&self, port: u16) -> anyhow::Result<Option<crate::bot::BotSettings>> {
        use crate::emulator::botframework as dev;
        let dev = self.dev_bot.then_some(port);
        let app_id = match (&self.bot_app_id, dev) {
            (Some(id), _) => id.trim().to_string(),
            (None, Some(_)) => dev::DEV_BOT_APP_ID.to_string(),
            (None, None) => return Ok(None),
        };
        if !is_guid(&app_id) {
            bail!("--bot-app-id '{app_id}' is not a guid: give the Microsoft App ID of the Azure Bot registration");
        }
        let metadata = match dev {
            Some(port)
                if self.bot_openid_metadata_url == crate::bot::DEFAULT_OPENID_METADATA_URL =>
            {
                tracing::warn!(
                    "dev mode: the app's bot trusts the emulator's development Bot Framework key"
                );
                dev::openid_metadata_url(port)
            }
            _ => self.bot_openid_metadata_url.trim().to_string(),
        };
        let local_dev = dev.is_some() && metadata.starts_with("http://127.0.0.1:");
        if !(metadata.starts_with("https://") || local_dev) {
            bail!("--bot-openid-metadata-url '{metadata}' must start with https://");
        }
        let service_urls = crate::bot::ServiceUrlPolicy::new(
            &self.bot_service_hosts,
            dev.map(dev::service_url_prefix),
        )
        .map_err(anyhow::Error::msg)?;
        let managed_identity = self
            .bot_managed_identity
            .as_deref()
            .map(|id| self.managed_identity(id, &app_id))
            .transpose()?;
        let poster = match (&self.bot_app_password, dev) {
            _ if managed_identity.is_some() => Some(crate::bot::PosterSettings {
                app_id: app_id.clone(),
                app_secret: String::new(),
                tenant: self.bot_tenant.trim().to_string(),
                authority: DEFAULT_FLOW_AUTHORITY.into(),
                managed_identity,
            }),
            (Some(secret), _) => Some(crate::bot::PosterSettings {
                app_id: app_id.clone(),
                app_secret: secret.clone(),
                tenant: self.bot_tenant.trim().to_string(),
                authority: DEFAULT_FLOW_AUTHORITY.into(),
                managed_identity: None,
            }),
            // The emulator's token endpoint, which knows the development bot's secret.
            (None, Some(port)) if app_id == dev::DEV_BOT_APP_ID => {
                Some(crate::bot::PosterSettings {
                    app_id: app_id.clone(),
                    app_secret: dev::DEV_BOT_APP_SECRET.into(),
                    tenant: dev::DEV_BOT_TENANT.into(),
                    authority: crate::emulator::idp::authority(port),
                    managed_identity: None,
                })
            }
            (None, _) => None,
        };
        Ok(Some(crate::bot::BotSettings {
            app_id,
            openid_metadata_url: metadata,
            service_urls,
            poster,
        }))
    }

    /// The bot's managed identity `client_id` and where its tokens come from.
    fn managed_identity(
        &self,
        client_id: &str,
        app_id: &str,
    ) -> anyhow::Result<crate::bot::ManagedIdentity> {
        let client_id = client_id.trim();
        if !is_guid(client_id) {
            bail!("--bot-managed-identity '{client_id}' is not a guid: give the client id of the bot's user-assigned managed identity");
        }
        if !client_id.eq_ignore_ascii_case(app_id) {
            bail!("--bot-managed-identity '{client_id}' is not the bot's app id '{app_id}': an Azure Bot of type UserAssignedMSI has its managed identity's client id as its Microsoft App ID");
        }
        let endpoint = self
            .bot_identity_endpoint
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .unwrap_or(crate::bot::managed_identity::IMDS_ENDPOINT);
        match url::Url::parse(endpoint) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => bail!("the managed identity endpoint '{endpoint}' (--bot-identity-endpoint, IDENTITY_ENDPOINT) is not an http(s) url"),
        }
        Ok(crate::bot::ManagedIdentity {
            client_id: client_id.to_ascii_lowercase(),
            endpoint: endpoint.to_string(),
            identity_header: self
                .bot_identity_header
                .clone()
                .filter(|h| !h.trim().is_empty()),
        })
    }

    /// What flow tokens are asked with, or `None` when they are off. With --dev-sso the
    /// emulator's app and identity provider (`dev_authority`) stand in for what is not given.
    pub fn flow_tokens(&self, dev_authority: &str) -> anyhow::Result<Option<FlowTokenSettings>> {
        use crate::emulator::idp::{DEV_FLOW_CLIENT_ID, DEV_FLOW_CLIENT_SECRET};
        let secret = secret_from(
            self.flow_client_secret.clone(),
            self.flow_client_secret_file.clone(),
            "CONNECTOR_FLOW_CLIENT_SECRET",
        )?;
        if secret.as_ref().is_some_and(|s| s.trim().is_empty()) {
            bail!("the flow client secret is empty");
        }
        let dev = self.dev_sso;
        let client_id = self
            .flow_client_id
            .clone()
            .or_else(|| dev.then(|| DEV_FLOW_CLIENT_ID.to_string()));
        let secret = secret.or_else(|| dev.then(|| DEV_FLOW_CLIENT_SECRET.to_string()));
        let (client_id, client_secret) = match (client_id, secret) {
            (None, None) => return Ok(None),
            (None, Some(_)) => bail!(
                "a flow client secret is set but --flow-client-id (CONNECTOR_FLOW_CLIENT_ID) is not: set the client id of the Entra app it belongs to, or unset the secret"
            ),
            (Some(id), None) => bail!(
                "--flow-client-id '{id}' needs its secret: set CONNECTOR_FLOW_CLIENT_SECRET or CONNECTOR_FLOW_CLIENT_SECRET_FILE"
            ),
            (Some(id), _) if id.trim().is_empty() => bail!("--flow-client-id is empty"),
            (Some(id), Some(secret)) => (id, secret),
        };
        let authority = if dev && self.flow_authority == DEFAULT_FLOW_AUTHORITY {
            dev_authority.to_string()
        } else {
            self.flow_authority.trim_end_matches('/').to_string()
        };
        let local_dev = dev && authority.starts_with("http://127.0.0.1:");
        if !(authority.starts_with("https://") || local_dev) {
            bail!("--flow-authority '{authority}' must start with https://");
        }
        let audience = self.flow_audience.trim().to_string();
        if !audience.starts_with("https://") || !audience.ends_with('/') {
            bail!(
                "--flow-audience '{audience}' must be the flow service's audience exactly, trailing slash included, like {DEFAULT_FLOW_AUDIENCE}"
            );
        }
        Ok(Some(FlowTokenSettings {
            client_id,
            client_secret,
            authority,
            audience,
        }))
    }

    pub fn encryption_key_path(&self) -> PathBuf {
        self.encryption_key_file.clone().unwrap_or_else(|| {
            let mut p = self.db.clone().into_os_string();
            p.push(".keys");
            PathBuf::from(p)
        })
    }

    pub fn key_path(&self) -> PathBuf {
        self.hash_key_file.clone().unwrap_or_else(|| {
            let mut p = self.db.clone().into_os_string();
            p.push(".key");
            PathBuf::from(p)
        })
    }
}

/// Whether `s` is a GUID (8-4-4-4-12 hex digits), as Microsoft App IDs are.
fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
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
    fn admin_tokens_are_read_from_the_flag_or_a_file_and_refused_without_showing_them() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("s").chain(args.iter().copied()))
                .unwrap()
                .config
        };
        assert!(parse(&[]).admin_tokens().unwrap().is_empty());
        let two = parse(&["--admin-token", "a:0123456789abcdef,b:0123456789abcdeg"]);
        let ids: Vec<String> = two
            .admin_tokens()
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
        let err = parse(&["--admin-token", "a:hunter2"])
            .admin_tokens()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("CONNECTOR_ADMIN_TOKEN")
                && err.contains("'a'")
                && !err.contains("hunter2"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens");
        std::fs::write(&file, "ops:0123456789abcdef\n").unwrap();
        let f = file.to_str().unwrap();
        let mut from_file = parse(&["--admin-token-file", f]);
        from_file.read_secret_files().unwrap();
        assert_eq!(from_file.admin_tokens().unwrap()[0].id, "ops");
        let mut both = parse(&[
            "--admin-token",
            "ops:0123456789abcdef",
            "--admin-token-file",
            f,
        ]);
        let err = both.read_secret_files().unwrap_err().to_string();
        assert!(
            err.contains("CONNECTOR_ADMIN_TOKEN_FILE (--admin-token-file)"),
            "{err}"
        );
    }

    #[test]
    fn a_short_events_secret_is_refused_without_showing_it() {
        let parse = |secret: &str| {
            Cli::try_parse_from(["s", "--events-secret", secret])
                .unwrap()
                .config
        };
        for short in ["", "hunter2", &"s".repeat(31), "old:hunter2"] {
            let err = parse(short).checked_events_secrets().unwrap_err();
            assert!(
                err.contains("--events-secret") && err.contains("CONNECTOR_EVENTS_SECRET"),
                "{err}"
            );
            assert!(err.contains("at least 32 bytes"), "{err}");
            assert!(
                !err.contains("hunter2") && !err.contains(&"s".repeat(31)),
                "{err}"
            );
        }
        let long = "s".repeat(32);
        let ids = |c: super::Config| -> Vec<String> {
            c.checked_events_secrets()
                .unwrap()
                .unwrap()
                .iter()
                .map(|s| s.id.clone())
                .collect()
        };
        assert_eq!(ids(parse(&long)), ["default"]);
        assert_eq!(ids(parse(&format!("b:{long},a:{long}"))), ["b", "a"]);
        let unset = Cli::try_parse_from(["s"]).unwrap().config;
        assert!(unset.checked_events_secrets().unwrap().is_none());
    }

    #[test]
    fn the_events_secret_file_drops_its_newline_and_is_not_given_twice() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("events");
        let long = "f".repeat(32);
        std::fs::write(&file, format!("new:{long}\n")).unwrap();
        let f = file.to_str().unwrap();
        let mut c = Cli::try_parse_from(["s", "--events-secret-file", f])
            .unwrap()
            .config;
        c.read_secret_files().unwrap();
        let secrets = c.checked_events_secrets().unwrap().unwrap();
        assert_eq!(secrets.first().id, "new");
        // The key is the 32 bytes without the newline: it signs as the flag's would.
        let flag = Cli::try_parse_from(["s", "--events-secret", &format!("new:{long}")])
            .unwrap()
            .config;
        let from_flag = flag.checked_events_secrets().unwrap().unwrap();
        assert_eq!(
            secrets.first().sign("m", 1, "{}"),
            from_flag.first().sign("m", 1, "{}")
        );
        let mut both =
            Cli::try_parse_from(["s", "--events-secret", &long, "--events-secret-file", f])
                .unwrap()
                .config;
        let err = both.read_secret_files().unwrap_err().to_string();
        assert!(
            err.contains("CONNECTOR_EVENTS_SECRET_FILE") && !err.contains(&long),
            "{err}"
        );
        let mut missing = Cli::try_parse_from(["s", "--events-secret-file", "/nonexistent/x"])
            .unwrap()
            .config;
        let err = missing.read_secret_files().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/x"), "{err}");
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

    #[test]
    fn a_lease_shorter_than_twice_the_time_out_plus_the_margin_stops_the_start() {
        let parse = |args: &[&str]| {
            let mut all = vec!["s"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all).unwrap().config.delivery()
        };
        assert_eq!(
            parse(&[]).unwrap().lease.as_secs(),
            90,
            "default: 2 × 30 + 30"
        );
        assert_eq!(
            parse(&["--webhook-timeout", "300"])
                .unwrap()
                .lease
                .as_secs(),
            630
        );
        assert!(parse(&["--claim-lease", "70"]).is_ok());
        let err = parse(&["--claim-lease", "69"]).unwrap_err().to_string();
        assert!(
            err.contains("--claim-lease 69 s is too short for --webhook-timeout 30 s")
                && err.contains("at least 2 × 30 + 10 = 70 s"),
            "{err}"
        );
    }

    #[test]
    fn the_bot_posts_with_its_managed_identity_from_imds_or_app_service() {
        let parse = |args: &[&str]| {
            let mut all = vec!["s"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all).map(|c| c.config.bot(4321))
        };
        let id = "5a1c0b2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d";
        let imds = parse(&["--bot-app-id", id, "--bot-managed-identity", id])
            .unwrap()
            .unwrap()
            .unwrap();
        let mi = imds.poster.unwrap().managed_identity.unwrap();
        assert_eq!(
            (
                mi.client_id.as_str(),
                mi.endpoint.as_str(),
                mi.identity_header
            ),
            (
                id,
                "http://169.254.169.254/metadata/identity/oauth2/token",
                None
            )
        );
        let app_service = parse(&[
            "--bot-app-id",
            id,
            "--bot-managed-identity",
            &id.to_ascii_uppercase(),
            "--bot-identity-endpoint",
            "http://localhost:8081/msi/token",
            "--bot-identity-header",
            "h",
        ])
        .unwrap()
        .unwrap()
        .unwrap();
        let mi = app_service.poster.unwrap().managed_identity.unwrap();
        assert_eq!(
            (mi.endpoint.as_str(), mi.identity_header.as_deref()),
            ("http://localhost:8081/msi/token", Some("h"))
        );
        let other = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a";
        let e = parse(&["--bot-app-id", id, "--bot-managed-identity", other])
            .unwrap()
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not the bot's app id"), "{e}");
        let e = parse(&["--bot-app-id", id, "--bot-managed-identity", "mine"])
            .unwrap()
            .unwrap_err()
            .to_string();
        assert!(e.contains("'mine' is not a guid"), "{e}");
        let e = parse(&[
            "--bot-app-id",
            id,
            "--bot-managed-identity",
            id,
            "--bot-identity-endpoint",
            "file:///etc/passwd",
        ])
        .unwrap()
        .unwrap_err()
        .to_string();
        assert!(e.contains("is not an http(s) url"), "{e}");
        // A secret and a managed identity at once: refused.
        assert!(parse(&[
            "--bot-app-id",
            id,
            "--bot-managed-identity",
            id,
            "--bot-app-password",
            "x"
        ])
        .is_err());
    }

    #[test]
    fn the_bot_is_off_unless_configured_and_bad_values_are_named() {
        let parse = |args: &[&str]| {
            let mut all = vec!["s"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all).unwrap().config.bot(4321)
        };
        assert!(parse(&[]).unwrap().is_none());
        let id = "5a1c0b2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d";
        let on = parse(&["--bot-app-id", id]).unwrap().unwrap();
        assert_eq!(on.app_id, id);
        assert_eq!(
            on.openid_metadata_url,
            "https://login.botframework.com/v1/.well-known/openidconfiguration"
        );
        assert!(on
            .service_urls
            .check("https://smba.trafficmanager.net/amer/")
            .is_ok());
        assert!(
            on.service_urls
                .check("http://127.0.0.1:4321/emulator/smba/amer/")
                .is_err(),
            "the emulator's service url only with --dev-bot"
        );
        let e = parse(&["--bot-app-id", "my-bot"]).unwrap_err().to_string();
        assert!(e.contains("--bot-app-id 'my-bot' is not a guid"), "{e}");
        let e = parse(&[
            "--bot-app-id",
            id,
            "--bot-openid-metadata-url",
            "http://x.example/m",
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("must start with https://"), "{e}");
        let e = parse(&["--bot-app-id", id, "--bot-service-host", "a b"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("bot service host 'a b'"), "{e}");
        // The emulator plays the Bot Framework with --dev-bot only (which needs --dev).
        assert!(Cli::try_parse_from(["s", "--dev-bot"]).is_err());
        let dev = parse(&["--dev", "--dev-bot"]).unwrap().unwrap();
        assert_eq!(dev.app_id, crate::emulator::botframework::DEV_BOT_APP_ID);
        assert_eq!(
            dev.openid_metadata_url,
            "http://127.0.0.1:4321/emulator/botframework/v1/.well-known/openidconfiguration"
        );
        assert!(dev
            .service_urls
            .check("http://127.0.0.1:4321/emulator/smba/amer/")
            .is_ok());
    }

    #[test]
    fn flow_tokens_are_off_unless_configured_and_bad_combinations_are_named() {
        let parse = |args: &[&str]| {
            let mut all = vec!["s"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all)
                .unwrap()
                .config
                .flow_tokens("http://127.0.0.1:1/emulator/idp")
        };
        assert!(parse(&[]).unwrap().is_none());
        let on = parse(&[
            "--flow-client-id",
            "app-1",
            "--flow-client-secret",
            "s3cret",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (on.authority.as_str(), on.audience.as_str()),
            (super::DEFAULT_FLOW_AUTHORITY, super::DEFAULT_FLOW_AUDIENCE)
        );
        assert_eq!(on.scope(), "https://service.flow.microsoft.com//.default");
        let err = |args: &[&str]| parse(args).unwrap_err().to_string();
        let e = err(&["--flow-client-secret", "s3cret"]);
        assert!(
            e.contains("--flow-client-id") && !e.contains("s3cret"),
            "{e}"
        );
        let e = err(&["--flow-client-id", "app-1"]);
        assert!(e.contains("needs its secret"), "{e}");
        let e = err(&[
            "--flow-client-id",
            "a",
            "--flow-client-secret",
            "s",
            "--flow-audience",
            "https://service.flow.microsoft.com",
        ]);
        assert!(e.contains("trailing slash"), "{e}");
        let e = err(&[
            "--flow-client-id",
            "a",
            "--flow-client-secret",
            "s",
            "--flow-authority",
            "http://login.example",
        ]);
        assert!(e.contains("https://"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "from-file\n").unwrap();
        let f = file.to_str().unwrap();
        let from_file = parse(&["--flow-client-id", "a", "--flow-client-secret-file", f])
            .unwrap()
            .unwrap();
        assert_eq!(from_file.client_secret, "from-file");
        let e = err(&[
            "--flow-client-id",
            "a",
            "--flow-client-secret",
            "s",
            "--flow-client-secret-file",
            f,
        ]);
        assert!(e.contains("not both"), "{e}");
        let dev = parse(&["--dev", "--dev-sso"]).unwrap().unwrap();
        assert_eq!(dev.authority, "http://127.0.0.1:1/emulator/idp");
        assert_eq!(dev.client_id, crate::emulator::idp::DEV_FLOW_CLIENT_ID);
    }

    #[test]
    fn the_workflows_daily_budget_is_2500_by_default_and_at_most_10000() {
        use crate::domain::rate_windows::{Limits, Windows};
        use connector_settings::webhook::WebhookKind;
        let windows = |args: &[&str]| {
            let mut all = vec!["s"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all)
                .unwrap()
                .config
                .delivery()
                .map(|d| d.windows)
        };
        let flow = WebhookKind::Workflows { signed: true };
        let daily = |l: Limits| l.for_kind(flow).list().last().unwrap().limit;
        assert_eq!(daily(windows(&[]).unwrap()), 2_500);
        assert_eq!(
            daily(windows(&["--workflows-daily-budget", "10000"]).unwrap()),
            10_000
        );
        assert_eq!(
            windows(&["--workflows-daily-budget", "400"])
                .unwrap()
                .for_kind(WebhookKind::Connector),
            &Windows::connector(),
            "connector webhooks keep their table"
        );
        for bad in ["10001", "0"] {
            let err = windows(&["--workflows-daily-budget", bad])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("--workflows-daily-budget {bad} is out of range"))
                    && err.contains("1 to 10000"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_secret_file_loses_one_trailing_newline_and_both_forms_are_refused() {
        use super::secret_from;
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, content: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            Some(path)
        };
        let read = |path| secret_from(None, path, "CONNECTOR_EVENTS_SECRET").unwrap();
        assert_eq!(read(file("a", b"s3cret\n")).as_deref(), Some("s3cret"));
        assert_eq!(read(file("b", b"s3cret\r\n")).as_deref(), Some("s3cret"));
        assert_eq!(
            read(file("c", b"s3cret\n\n")).as_deref(),
            Some("s3cret\n"),
            "one newline only"
        );
        assert_eq!(read(file("d", b"s3cret")).as_deref(), Some("s3cret"));
        assert_eq!(
            secret_from(Some("v".into()), None, "X").unwrap().as_deref(),
            Some("v")
        );
        assert_eq!(secret_from(None, None, "X").unwrap(), None);

        let both = secret_from(
            Some("inline-s3cret".into()),
            file("e", b"file-s3cret"),
            "CONNECTOR_EVENTS_SECRET",
        )
        .unwrap_err()
        .to_string();
        assert!(
            both.contains("CONNECTOR_EVENTS_SECRET (--events-secret)")
                && both.contains("CONNECTOR_EVENTS_SECRET_FILE (--events-secret-file)")
                && !both.contains("s3cret"),
            "{both}"
        );
        let db_both = secret_from(Some("u".into()), file("f", b"u"), "DATABASE_URL")
            .unwrap_err()
            .to_string();
        assert!(
            db_both.contains(
                "DATABASE_URL (--database-url) and DATABASE_URL_FILE (--database-url-file)"
            ),
            "{db_both}"
        );

        let missing = dir.path().join("nowhere");
        let err = format!(
            "{:#}",
            secret_from(None, Some(missing.clone()), "CONNECTOR_SECRET_KEY").unwrap_err()
        );
        assert!(
            err.contains(&format!(
                "cannot read CONNECTOR_SECRET_KEY_FILE '{}'",
                missing.display()
            )),
            "{err}"
        );
        // Not text: the error names the file, not what is in it.
        let binary = file("g", b"s3cret\xff\xfe").unwrap();
        let err = format!(
            "{:#}",
            secret_from(None, Some(binary.clone()), "CONNECTOR_SECRET_KEY").unwrap_err()
        );
        assert!(
            err.contains(&format!("'{}'", binary.display())) && !err.contains("s3cret"),
            "{err}"
        );
    }

    #[test]
    fn every_secret_can_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, content: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            path.to_str().unwrap().to_string()
        };
        let events = write("events", &format!("{}\n", "e".repeat(40)));
        let url = write("url", "postgres://db.example/c\n");
        let hash = write("hash", &format!("{}\n", "ab".repeat(32)));
        let ring = write("ring", &format!("k2:{}\n", "11".repeat(32)));
        let mut config = Cli::try_parse_from([
            "s",
            "--events-secret-file",
            &events,
            "--database-url-file",
            &url,
            "--hash-key-file",
            &hash,
            "--encryption-keys-file",
            &ring,
        ])
        .unwrap()
        .config;
        config.read_secret_files().unwrap();
        assert_eq!(
            config.events_secret.as_deref(),
            Some("e".repeat(40).as_str())
        );
        assert!(config.checked_events_secrets().unwrap().is_some());
        assert!(matches!(
            config.database().unwrap(),
            crate::store::Database::Postgres { url, .. } if url == "postgres://db.example/c"
        ));
        let (_, keys) = config.keys().expect("keys from files, with postgres");
        assert_eq!(keys.current_id(), "k2");
        // Read once: the file names are taken.
        config.read_secret_files().unwrap();
        assert!(config.events_secret.is_some());

        let mut twice = Cli::try_parse_from([
            "s",
            "--encryption-keys",
            "k1:00",
            "--encryption-keys-file",
            &ring,
        ])
        .unwrap()
        .config;
        let err = twice.read_secret_files().unwrap_err().to_string();
        assert!(err.contains("CONNECTOR_ENCRYPTION_KEYS_FILE"), "{err}");
    }

    #[test]
    fn the_dev_only_flags_need_dev_mode() {
        for flag in [
            &["--dev-sso"][..],
            &["--dev-inbox-origin", "http://127.0.0.1:1"],
        ] {
            let mut all = vec!["s"];
            all.extend_from_slice(flag);
            let err = Cli::try_parse_from(&all).err().unwrap().to_string();
            assert!(err.contains(flag[0]) && err.contains("--dev"), "{err}");
            all.push("--dev");
            assert!(Cli::try_parse_from(&all).is_ok(), "{all:?}");
        }
    }

    #[test]
    fn the_hash_key_is_given_by_its_own_names() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hash");
        std::fs::write(&file, format!("{}\n", "cd".repeat(32))).unwrap();
        let f = file.to_str().unwrap();
        let db = [
            "--database-url",
            "postgres://db/c",
            "--encryption-keys",
            &format!("k1:{}", "11".repeat(32)),
        ];
        let with = |args: &[&str]| {
            let mut all = db.to_vec();
            all.extend_from_slice(args);
            config(&all)
        };
        let inline = with(&["--hash-key", &"ab".repeat(32)]);
        assert_eq!(inline.hash_key.as_deref(), Some("ab".repeat(32).as_str()));
        let (key, _) = inline.keys().unwrap();
        let (same, _) = with(&["--hash-key-file", f, "--hash-key", &"ab".repeat(32)])
            .keys()
            .unwrap();
        assert_eq!(key.check(), same.check(), "the inline key takes precedence");
        let (from_file, _) = with(&["--hash-key-file", f]).keys().unwrap();
        assert_ne!(key.check(), from_file.check());
        let missing = dir.path().join("nowhere");
        let err = with(&["--hash-key-file", missing.to_str().unwrap()])
            .keys()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("hash key file") && err.contains("does not exist"),
            "{err}"
        );
        let err = with(&[]).keys().unwrap_err().to_string();
        assert!(
            err.contains("CONNECTOR_HASH_KEY or --hash-key-file"),
            "{err}"
        );
        // With SQLite a missing file is made, as --encryption-key-file's is.
        let made = dir.path().join("made.key");
        let sqlite = Cli::try_parse_from([
            "s",
            "--db",
            dir.path().join("c.sqlite").to_str().unwrap(),
            "--hash-key-file",
            made.to_str().unwrap(),
        ])
        .unwrap()
        .config;
        assert_eq!(sqlite.key_path(), made);
        sqlite.keys().unwrap();
        assert!(made.exists());
    }

    #[test]
    fn the_hash_keys_old_names_still_work_and_warn_with_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hash");
        std::fs::write(&file, format!("{}\n", "cd".repeat(32))).unwrap();
        let f = file.to_str().unwrap();
        let parse = |args: &[&str]| {
            let mut all = vec!["s"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all).unwrap().config
        };
        let hex = "ab".repeat(32);
        for (old, value, new, moved) in [
            (
                "--secret-key",
                hex.as_str(),
                "--hash-key (CONNECTOR_HASH_KEY)",
                true,
            ),
            (
                "--secret-key-file",
                f,
                "--hash-key-file (CONNECTOR_HASH_KEY_FILE)",
                true,
            ),
            (
                "--key-file",
                f,
                "--hash-key-file (CONNECTOR_HASH_KEY_FILE)",
                false,
            ),
        ] {
            let mut c = parse(&[old, value]);
            let warnings = c.take_deprecated_names().unwrap();
            assert_eq!(warnings.len(), 1, "{old}: {warnings:?}");
            assert!(
                warnings[0].contains(&format!("{old} (CONNECTOR_"))
                    && warnings[0].contains("deprecated")
                    && warnings[0].contains(new)
                    && !warnings[0].contains(&hex),
                "{old}: {}",
                warnings[0]
            );
            if moved {
                let expect = if old == "--secret-key" {
                    hex.clone()
                } else {
                    "cd".repeat(32)
                };
                assert_eq!(c.hash_key.as_deref(), Some(expect.as_str()), "{old}");
            } else {
                assert_eq!(c.hash_key_file.as_deref(), Some(file.as_path()), "{old}");
            }
            // Once moved, nothing is left to warn about.
            assert!(c.take_deprecated_names().unwrap().is_empty());
        }
        // Through read_secret_files, as at start.
        let mut c = parse(&["--secret-key", &hex]);
        c.read_secret_files().unwrap();
        assert_eq!(c.hash_key.as_deref(), Some(hex.as_str()));
        assert!(parse(&[]).take_deprecated_names().unwrap().is_empty());
    }

    #[test]
    fn an_old_and_a_new_name_of_the_hash_key_together_are_refused_naming_both() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hash");
        std::fs::write(&file, "cd".repeat(32)).unwrap();
        let f = file.to_str().unwrap();
        let hex = "ab".repeat(32);
        let err = |args: &[&str]| {
            let mut all = vec!["s"];
            all.extend_from_slice(args);
            let mut c = Cli::try_parse_from(all).unwrap().config;
            let e = c.read_secret_files().unwrap_err().to_string();
            assert!(!e.contains(&hex) && !e.contains("cdcd"), "{e}");
            e
        };
        let e = err(&["--hash-key", &hex, "--secret-key", &hex]);
        assert!(
            e.contains("--hash-key (CONNECTOR_HASH_KEY)")
                && e.contains("--secret-key (CONNECTOR_SECRET_KEY)"),
            "{e}"
        );
        let e = err(&["--hash-key-file", f, "--key-file", f]);
        assert!(
            e.contains("--hash-key-file (CONNECTOR_HASH_KEY_FILE)")
                && e.contains("--key-file (CONNECTOR_KEY_FILE)"),
            "{e}"
        );
        let e = err(&["--hash-key-file", f, "--secret-key-file", f]);
        assert!(
            e.contains("--hash-key-file (CONNECTOR_HASH_KEY_FILE)")
                && e.contains("--secret-key-file (CONNECTOR_SECRET_KEY_FILE)"),
            "{e}"
        );
        let e = err(&["--hash-key", &hex, "--secret-key-file", f]);
        assert!(
            e.contains("--hash-key (CONNECTOR_HASH_KEY)")
                && e.contains("--secret-key-file (CONNECTOR_SECRET_KEY_FILE)"),
            "{e}"
        );
    }

    #[test]
    fn postgres_needs_keys_given_not_made_up() {
        let cli = Cli::try_parse_from(["s", "--database-url", "postgres://db/c"]).unwrap();
        let err = cli.config.keys().unwrap_err().to_string();
        assert!(err.contains("every instance needs the same keys"), "{err}");
        let bad = Cli::try_parse_from(["s", "--database-url", "mysql://db/c"]).unwrap();
        assert!(bad
            .config
            .database()
            .unwrap_err()
            .to_string()
            .contains("postgres://"));
    }

    static SPEC: connector_settings::AccountSpec = connector_settings::AccountSpec {
        service: connector_settings::Text(&[("en", "Uptime Watch")]),
        issuer: "https://id.example.org",
        client_id: "teams-app",
        scopes: &["openid"],
        account_claim: "sub",
        name_claim: "name",
    };

    fn config(args: &[&str]) -> super::Config {
        let mut all = vec!["s"];
        all.extend_from_slice(args);
        let mut c = Cli::try_parse_from(all).unwrap().config;
        c.read_secret_files().unwrap();
        c
    }

    #[test]
    fn a_build_with_accounts_needs_the_client_secret_and_takes_the_overrides() {
        let err = config(&[]).accounts(Some(&SPEC)).unwrap_err().to_string();
        assert!(
            err.contains("CONNECTOR_ACCOUNT_CLIENT_SECRET") && err.contains("_FILE"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "s3cret\n").unwrap();
        let c = config(&[
            "--account-client-secret-file",
            file.to_str().unwrap(),
            "--account-issuer",
            "http://127.0.0.1:4011",
        ]);
        let a = c.accounts(Some(&SPEC)).unwrap().unwrap();
        assert_eq!(a.client_secret, "s3cret");
        assert_eq!(a.issuer, "http://127.0.0.1:4011");
        assert_eq!(a.client_id, "teams-app");
        let err = config(&[
            "--account-client-secret",
            "s",
            "--account-issuer",
            "http://id.example.org",
        ])
        .accounts(Some(&SPEC))
        .unwrap_err()
        .to_string();
        assert!(err.contains("https://"), "{err}");
    }

    #[test]
    fn a_build_without_accounts_refuses_the_account_flags() {
        assert!(config(&[]).accounts(None).unwrap().is_none());
        let err = config(&["--account-client-id", "x"])
            .accounts(None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--account-client-id") && err.contains("no [account]"),
            "{err}"
        );
    }
}
