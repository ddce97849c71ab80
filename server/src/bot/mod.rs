//! The app's own bot (docs/teams.md "Posting as the app's bot"): Teams sends it Bot Framework
//! activities on `POST /api/messages`, each authenticated ([`verify`]); install and uninstall
//! events ([`activity`]) add or remove the team's conversation reference, whose service URL
//! must be one of Microsoft's ([`service_url`]), as webhook hosts are.

pub mod activity;
pub mod connector;
pub mod managed_identity;
pub mod service_url;
pub mod verify;

pub use activity::{Activity, Change};
pub use connector::{BotPoster, PosterSettings, Sent};
pub use managed_identity::ManagedIdentity;
pub use service_url::ServiceUrlPolicy;
pub use verify::{BotVerifier, VerifyError};

/// The `iss` of every token the Bot Framework sends a bot (MS: bot-docs
/// rest-api/bot-framework-rest-connector-authentication.md, "Connector to bot").
pub const BOT_FRAMEWORK_ISSUER: &str = "https://api.botframework.com";
/// Where the Bot Framework publishes its signing keys (the public cloud).
pub const DEFAULT_OPENID_METADATA_URL: &str =
    "https://login.botframework.com/v1/.well-known/openidconfiguration";
/// The hosts of the service URLs Teams gives bots: the public cloud's (`…/amer/`, `…/emea/`,
/// `…/apac/`, `…/teams/`) and the GCC, GCC High and DoD clouds'.
pub const DEFAULT_SERVICE_HOSTS: &[&str] = &[
    "smba.trafficmanager.net",
    "smba.infra.gcc.teams.microsoft.com",
    "smba.infra.gov.teams.microsoft.us",
    "smba.infra.dod.teams.microsoft.us",
];
/// The channel id of Teams' activities, which the signing key must be endorsed for.
pub const TEAMS_CHANNEL: &str = "msteams";
/// Seconds of clock difference allowed on `exp` and `nbf` (the Bot Framework's 5 minutes).
pub const SKEW_SECS: u64 = 300;

/// The bot as this server is configured for it.
#[derive(Debug, Clone)]
pub struct BotSettings {
    /// The Microsoft App ID: the `aud` of the tokens.
    pub app_id: String,
    pub openid_metadata_url: String,
    pub service_urls: ServiceUrlPolicy,
    /// Who posts as the bot; `None` when no secret is configured (install events are still
    /// taken, but no connection can be on the bot path).
    pub poster: Option<PosterSettings>,
}

/// What the route needs: the settings, and the verifier with its cached keys.
pub struct Bot {
    pub settings: BotSettings,
    pub verifier: BotVerifier,
    /// Shared with the delivery workers.
    pub poster: Option<std::sync::Arc<BotPoster>>,
}

impl Bot {
    pub fn new(settings: BotSettings) -> Bot {
        Bot {
            verifier: BotVerifier::new(&settings.app_id, &settings.openid_metadata_url),
            poster: settings
                .poster
                .clone()
                .map(|p| std::sync::Arc::new(BotPoster::new(p))),
            settings,
        }
    }
}

/// The reason a bot connection is disabled with when the app is no longer in its team.
pub const REMOVED_FROM_TEAM: &str = "the app was removed from this team";
/// The reason a bot connection is disabled with when its channel was deleted in Teams.
pub const CHANNEL_DELETED: &str = "the channel was deleted in Teams";
/// The reason a bot connection is disabled with when its team was deleted in Teams.
pub const TEAM_DELETED: &str = "the team was deleted in Teams";
