//! The JSON the page and the server exchange. The webhook URL travels only towards the
//! server: no response type has a field for it. The edit key comes back once, in the
//! answer to the save that created it.

use serde::{Deserialize, Serialize};

use crate::{FieldError, Locale, Values};

/// Header that carries the channel's webhook URL: the capability to read, change or
/// delete that channel's connection.
pub const WEBHOOK_HEADER: &str = "x-teams-webhook-url";

/// Header that carries a connection's edit key: the capability to read, change or delete it
/// where Teams hands the page no webhook URL (a configurable tab).
pub const EDIT_KEY_HEADER: &str = "x-connector-edit-key";

/// Header with which the page sends the fingerprint of the form it was built from
/// (`crate::FORM`); the server refuses a request of another form with 409 `form_mismatch`.
pub const FORM_HEADER: &str = "x-connector-form";

/// The file beside `index.html` that names the form the page was built from (`crate::FORM`).
pub const FORM_FILE: &str = "form.txt";

/// Why a page and a server of different forms cannot work together, naming both.
pub fn form_mismatch(page: &str, server: &str) -> String {
    format!(
        "this page was built from another connector.toml (form {page}), the server from form {server}: deploy page and server from one build"
    )
}

/// Body of `PUT /api/connections/{entityId}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SaveConnection {
    /// The channel's webhook URL: from `getSettings` (connector), or pasted (a tab's
    /// Workflows webhook). Required to create; when changing a connection with its edit key,
    /// absent keeps the stored one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    pub settings: Values,
    /// `getSettings().appType`, when Teams gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_type: Option<String>,
    /// `getSettings().userObjectId`: who configured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_object_id: Option<String>,
    /// The proof `POST /api/account/link` answered with: links the connection to that
    /// account. Required to create a connection when the build has `[account]`; absent when
    /// changing one keeps its account. Refused when the build has no `[account]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_proof: Option<String>,
    /// The bot path, instead of `webhookUrl`: the channel the tab is in (from Teams'
    /// `getContext`), which the app's bot posts to. Taken only when the server holds the
    /// bot's install for that team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<BotChannel>,
}

/// `GET /api/bot/install?tenantId=…&teamId=…`: whether a connection of that team can be on
/// the bot path (the configuration page asks no webhook URL then).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BotInstallStatus {
    /// The server posts as the app's bot (it has its app id and secret).
    pub available: bool,
    /// The server holds the bot's install for the team.
    pub installed: bool,
}

/// A channel of a team the app's bot is in, as the tab's context names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BotChannel {
    /// `context.user.tenant.id`.
    pub tenant_id: String,
    /// `context.team.internalId` (`19:…@thread.tacv2`), the id Teams' install event names.
    pub team_id: String,
    /// `context.channel.id`.
    pub channel_id: String,
}

/// A stored connection as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub entity_id: String,
    pub config_name: String,
    pub settings: Values,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
    /// Why deliveries stopped: the webhook answered 404 or 410 (saving enables it again),
    /// or an operator disabled it (the reason starts with `admin::REASON_PREFIX`; saving
    /// keeps it disabled, only the operator enables it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<String>,
    /// What kind of webhook the connection posts to, as `webhook::WebhookKind::name` says
    /// (`connector`, `workflows`, `workflows-sign-in`, `workflows-retired`, `bot`: no webhook,
    /// the app's bot posts to the channel saved with `bot`): the page words its counts and
    /// advice by it, and opens a `bot` connection on the bot path. Empty from a server that
    /// predates it.
    #[serde(default)]
    pub webhook_kind: String,
    /// The connection's edit key, only in the answer to the save that made it (the first
    /// save, or the first save of a connection stored before edit keys existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_key: Option<String>,
    /// The account of the sending service this connection gets events for (builds with
    /// `[account]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<ConnectionAccount>,
}

/// The account a connection is linked to.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionAccount {
    /// The account id: the value of `[account] account_claim`; events name it.
    pub account: String,
    /// Shown to the person: the value of `[account] name_claim`.
    pub name: String,
    /// The Teams `userObjectId` of who linked it, when Teams gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_by: Option<String>,
}

/// Answer of `GET /api/account`: what the sign-in popup needs to start an authorization
/// code flow at the service's identity provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountInfo {
    /// The service's name, in English ("Sign in to <service>").
    pub service: String,
    /// From the issuer's discovery document.
    pub authorization_endpoint: String,
    pub client_id: String,
    pub scopes: Vec<String>,
}

/// Body of `POST /api/account/link`: what the sign-in popup handed back.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkAccount {
    pub code: String,
    /// The PKCE verifier whose S256 challenge started the sign-in.
    pub code_verifier: String,
    /// The nonce the sign-in was started with; the ID token must carry it.
    pub nonce: String,
    /// The redirect URI the sign-in was started with.
    pub redirect_uri: String,
    /// `getContext().user.id`: the proof is bound to this Teams user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_object_id: Option<String>,
    /// `getContext().user.tenant.id`: the proof is bound to this tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

/// Answer of `POST /api/account/link`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkedAccount {
    pub account: String,
    pub name: String,
    /// Goes in the save's `accountProof`; valid until `expires_at`.
    pub proof: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// Body of `POST /api/test-card`: a test card to a webhook no connection is stored with yet,
/// so the person sees it arrive before saving.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TryWebhook {
    pub webhook_url: String,
    /// The form as it is (the card follows its style); need not be valid yet.
    #[serde(default)]
    pub settings: Values,
}

/// Answer of `POST /api/test-card`: whether the webhook took the card, and if not, why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TryOutcome {
    pub delivered: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Answer of `POST /api/connections/{entityId}/test-card`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestCard {
    pub event_id: String,
}

/// Delivery counts of a connection (or of one event to it).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryStatus {
    pub pending: u64,
    pub delivered: u64,
    pub dead: u64,
    pub last_error: Option<String>,
    pub disabled: Option<String>,
}

/// Every error the API answers with.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable kind, e.g. `validation_failed`, `not_found`.
    pub error: String,
    /// What went wrong, for a person.
    pub message: String,
    /// One entry per broken field rule, for `validation_failed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldProblem>,
}

/// One broken field rule in an [`ErrorBody`].
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldProblem {
    pub field: String,
    pub rule: String,
    pub message: String,
}

impl From<&FieldError> for FieldProblem {
    fn from(e: &FieldError) -> Self {
        FieldProblem {
            field: e.field.clone(),
            rule: e.rule.code().to_string(),
            message: e.message(Locale::En),
        }
    }
}
