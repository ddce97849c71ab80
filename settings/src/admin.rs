//! The JSON of the admin API (`/admin/…`, the internal listener only), shared by the server
//! that answers it, the admin page and the command line that read it. No type here has a
//! field for a webhook URL, an edit key or a signature: of a webhook only its host and kind.

use serde::{Deserialize, Serialize};

use crate::api::{ConnectionAccount, DeliveryStatus};
use crate::Values;

/// What a reason given through the admin API is stored after, so the tab page's notice says
/// who disabled it. A save by the channel's owner keeps a reason starting with it (only an
/// operator's enable clears it); every other reason (the webhook is gone) a save clears.
pub const REASON_PREFIX: &str = "disabled by an operator: ";

/// The operator's own words when `disabled` (a connection's disabled reason) is an
/// operator's disable; `None` for every other reason.
pub fn operator_reason(disabled: &str) -> Option<&str> {
    disabled.strip_prefix(REASON_PREFIX)
}

/// A connection as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConnectionView {
    pub entity_id: String,
    pub name: String,
    /// The webhook's kind (`connector`, `workflows`, `workflows-sign-in`, `workflows-retired`), or `bot`.
    pub kind: String,
    /// The webhook's host only.
    pub host: Option<String>,
    pub tenant_id: Option<String>,
    pub team: Option<TeamView>,
    pub account: Option<ConnectionAccount>,
    pub app_type: Option<String>,
    /// `enabled` or `disabled`.
    pub state: String,
    /// Why it is disabled: an operator's reason starts with "disabled by an operator: ".
    pub disabled_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// The Teams team a connection belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TeamView {
    pub tenant: String,
    pub group: String,
}

/// `GET /admin/connections`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConnectionPage {
    pub connections: Vec<ConnectionView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// `GET /admin/connections/{id}`, and the answer of every action on one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConnectionDetail {
    #[serde(flatten)]
    pub connection: ConnectionView,
    pub settings: Values,
    pub deliveries: DeliveryStatus,
}

/// Body of `POST /admin/connections/{id}/disable`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DisableBody {
    /// Why, 1 to 500 characters; the tab page shows it.
    pub reason: String,
}

/// The answer of `DELETE /admin/connections/{id}`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    pub entity_id: String,
    /// How many of its deliveries were still pending (dropped with it, never posted).
    pub pending_dropped: u64,
}

/// The answer of `POST /admin/connections/{id}/test`: the test card the configuration
/// page sends, queued to the connection's webhook, and how its first attempt ended.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestCardAnswer {
    /// The test card's event id (`GET /admin/deliveries?event=…` shows it later).
    pub event_id: String,
    /// `delivered`; `failed` (the webhook refused it and a retry is due), `dead` (refused
    /// for good); or `pending` (no attempt ended within the wait).
    pub outcome: String,
    /// The webhook's error, when it failed.
    pub error: Option<String>,
}

/// A delivery as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRow {
    pub delivery_id: i64,
    pub event_id: String,
    pub entity_id: String,
    /// When it was made: when its event was accepted (unix milliseconds; none for rows an
    /// older version stored without that time).
    pub created_at: Option<i64>,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    pub attempts: u32,
    /// When a pending one is due next (unix milliseconds).
    pub next_at: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
    pub dead_at: Option<i64>,
}

/// `GET /admin/deliveries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryRow>,
    /// Pass as `before` for the next (older) page; `null` on the last one.
    pub next_before: Option<i64>,
}

/// One action taken through the admin API, as its audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Given by the store (ignored when writing); later entries have larger ids.
    pub id: i64,
    /// Unix milliseconds.
    pub at_ms: i64,
    /// The id of the admin token that acted.
    pub actor: String,
    /// What was done, e.g. `disable`.
    pub action: String,
    /// What it was done to, e.g. a connection's entity id.
    pub target: String,
    pub detail: Option<String>,
}

/// `GET /admin/audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; `null` on the last one.
    pub next_before: Option<i64>,
}

/// One attempt at a delivery: when, the webhook's answer code (none when no answer came:
/// refused connection, timeout) and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// Unix milliseconds.
    pub at_ms: i64,
    /// The HTTP status the webhook answered with.
    pub code: Option<u16>,
    /// `delivered`, `retried` (another attempt is due) or `dead` (no more attempts).
    pub outcome: String,
    pub error: Option<String>,
}

/// `GET /admin/deliveries/{id}`: the delivery with every attempt made at it, oldest first
/// (a replay keeps the attempts before it).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: DeliveryRow,
    pub attempt_log: Vec<Attempt>,
}

/// Body of `POST /admin/deliveries/replay`: every dead delivery matching all the given
/// filters; with `dryRun` only counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplayFilter {
    /// A connection's entity id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Died at or after (unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    /// Died before (unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
    #[serde(default)]
    pub dry_run: bool,
}

/// The answer of a replay: how many dead deliveries matched, how many of those stay dead
/// (their connection disabled or deleted), and how many were made due again (none on a dry
/// run: there `matched - held` would be).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ReplayAnswer {
    pub matched: u64,
    /// Of those matched, how many stay dead because their connection is disabled (enable
    /// it first) or deleted.
    pub held: u64,
    pub replayed: u64,
    pub dry_run: bool,
}

/// `GET /admin/stats`: attempts per minute over the last day by outcome, and the oldest
/// delivery that is due and not yet sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeliveryStats {
    /// Oldest first; only minutes with an attempt.
    pub minutes: Vec<MinuteCounts>,
    /// How many deliveries are due now.
    pub due: u64,
    /// When the oldest of them became due (unix milliseconds).
    pub oldest_due_at: Option<i64>,
}

/// Attempts that ended in each outcome during one minute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct MinuteCounts {
    /// The minute's start (unix milliseconds).
    pub minute: i64,
    pub delivered: u64,
    pub retried: u64,
    pub dead: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_operators_reason_is_one() {
        assert_eq!(
            operator_reason("disabled by an operator: abuse report 42"),
            Some("abuse report 42")
        );
        assert_eq!(operator_reason("webhook answered 410"), None);
        assert_eq!(operator_reason("an operator: x"), None);
    }
}
