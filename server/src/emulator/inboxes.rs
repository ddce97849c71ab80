//! The emulator's webhook inboxes: what each received and how it answers; and its identity
//! provider's counters. Both live in the emulator's own state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Default)]
pub(crate) struct Inbox {
    pub mode: Mode,
    /// Posts kept for people and tests: every one but those a refusing webhook turned away.
    pub messages: Vec<Value>,
    /// Every post this inbox was sent, kept or turned away.
    pub received: u64,
    /// The flow's tenant: a sig-less Workflows path takes only its tokens.
    pub tenant: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Mode {
    #[default]
    Ok,
    /// Connector: 200 with Teams' throttle text. Workflows: 429 WorkflowRequestsThrottled.
    Throttled,
    Gone,
    Error,
    Slow,
    /// 429 with `Retry-After: 1` and no body.
    RateLimited,
    /// 404: a connector's plain text, a Workflows trigger's WorkflowNotFound.
    NotFound,
    /// Workflows: the flow was turned off (400 WorkflowTriggerIsNotEnabled, 'Disabled').
    TriggerDisabled,
    /// Workflows: the flow was deleted (400 WorkflowTriggerIsNotEnabled, 'Deleted').
    Deleted,
    /// Workflows: Power Automate turned the flow off after 90 days without a trigger.
    Dormant,
    /// Workflows: "Who can trigger the flow" is not Anyone (401 DirectApiAuthorizationRequired).
    Unauthorized,
    /// Workflows: a token of the wrong tenant or audience (403 MisMatchingOAuthClaims).
    MismatchingClaims,
    /// Workflows: a trigger schema the body does not fit (400 TriggerInputSchemaMismatch).
    SchemaMismatch,
}

impl Mode {
    pub const ALL: [Mode; 13] = [
        Mode::Ok,
        Mode::Throttled,
        Mode::RateLimited,
        Mode::Gone,
        Mode::NotFound,
        Mode::Error,
        Mode::Slow,
        Mode::TriggerDisabled,
        Mode::Deleted,
        Mode::Dormant,
        Mode::Unauthorized,
        Mode::MismatchingClaims,
        Mode::SchemaMismatch,
    ];

    /// Its name in the inbox API (`trigger-disabled`).
    pub fn name(self) -> String {
        match serde_json::to_value(self) {
            Ok(Value::String(s)) => s,
            _ => unreachable!("a mode serializes as its name"),
        }
    }

    /// Whether only a Workflows trigger answers this way.
    pub fn workflows_only(self) -> bool {
        matches!(
            self,
            Mode::TriggerDisabled
                | Mode::Deleted
                | Mode::Dormant
                | Mode::Unauthorized
                | Mode::MismatchingClaims
                | Mode::SchemaMismatch
        )
    }

    /// The modes an inbox of this kind offers.
    pub fn offered(workflows: bool) -> Vec<Mode> {
        Mode::ALL
            .into_iter()
            .filter(|m| workflows || !m.workflows_only())
            .collect()
    }
}

/// A Workflows trigger's answer in one of its refusing modes: the status and its
/// Logic-Apps-style body, `None` for modes answered alike by both kinds. The messages
/// imitate Power Automate's; where its wording is unknown (dormant) they are ours.
pub(crate) fn workflows_refusal(mode: Mode, workflow: &str) -> Option<(u16, Value)> {
    let off = |state: &str, why: &str| {
        format!(
            "The workflow '{workflow}' cannot be triggered because it is in state '{state}'.{why}"
        )
    };
    let (status, code, message) = match mode {
        Mode::TriggerDisabled => (400, "WorkflowTriggerIsNotEnabled", off("Disabled", "")),
        Mode::Deleted => (400, "WorkflowTriggerIsNotEnabled", off("Deleted", "")),
        Mode::Dormant => (
            400,
            "WorkflowTriggerIsNotEnabled",
            off(
                "Disabled",
                " It was turned off because it was not triggered for 90 days.",
            ),
        ),
        Mode::NotFound => (
            404,
            "WorkflowNotFound",
            format!("The workflow '{workflow}' could not be found."),
        ),
        Mode::Unauthorized => (
            401,
            "DirectApiAuthorizationRequired",
            "The request must be authenticated with an OAuth bearer token: this flow's trigger takes only signed-in callers.".into(),
        ),
        Mode::MismatchingClaims => (
            403,
            "MisMatchingOAuthClaims",
            "One or more claims either missing or does not match with the open authentication access control policy.".into(),
        ),
        Mode::SchemaMismatch => return Some(schema_mismatch("Required properties are missing from object: contentUrl.")),
        Mode::Throttled => (
            429,
            "WorkflowRequestsThrottled",
            format!("Number of requests for workflow '{workflow}' exceeded the limit. Please retry after some time."),
        ),
        _ => return None,
    };
    Some((status, flow_error(code, &message)))
}

fn flow_error(code: &str, message: &str) -> Value {
    json!({ "error": { "code": code, "message": message } })
}

fn schema_mismatch(details: &str) -> (u16, Value) {
    let message = format!(
        "The input body for trigger 'manual' of type 'Request' did not match its schema definition. Error details: '{details}'."
    );
    (400, flow_error("TriggerInputSchemaMismatch", &message))
}

const ADAPTIVE: &str = "application/vnd.microsoft.card.adaptive";

/// What the trigger of "Send webhook alerts to a channel" answers `body` when it does not
/// fit: every attachment needs `contentUrl` (null), the Adaptive Card content type and an
/// `AdaptiveCard`. A body without attachments is taken, as Power Automate takes it (its run
/// fails later). Checking the card's `type` here is stricter than the real trigger, whose
/// run fails after the 202, so that our own cards are proved right by a test.
pub(crate) fn schema_problem(body: &Value) -> Option<(u16, Value)> {
    let attachments = body.get("attachments")?.as_array()?;
    for a in attachments {
        if a.get("contentUrl").is_none() {
            return Some(schema_mismatch(
                "Required properties are missing from object: contentUrl.",
            ));
        }
        let kind = a.get("contentType").and_then(Value::as_str).unwrap_or("");
        if kind != ADAPTIVE {
            return Some(schema_mismatch(&format!(
                "Value \"{kind}\" is not defined in enum. Path 'contentType'."
            )));
        }
        let card = a.pointer("/content/type").and_then(Value::as_str);
        if card != Some("AdaptiveCard") {
            return Some(schema_mismatch("Property 'type' must be 'AdaptiveCard'."));
        }
    }
    None
}

/// Every inbox, by the webhook URL's path after `/emulator/webhook/` (every form of one
/// connector webhook filed under one key: `super::inbox_key`).
#[derive(Default, Clone)]
pub struct Inboxes(pub(crate) Arc<Mutex<HashMap<String, Inbox>>>);

#[cfg(test)]
mod tests {
    use super::*;

    fn adaptive() -> Value {
        json!({ "type": "message", "attachments": [{ "contentType": ADAPTIVE, "contentUrl": null,
                "content": { "type": "AdaptiveCard", "version": "1.4", "body": [] } }] })
    }

    fn code(answer: Option<(u16, Value)>) -> (u16, String) {
        let (status, body) = answer.expect("a refusal");
        (status, body["error"]["code"].as_str().unwrap().to_string())
    }

    #[test]
    fn the_trigger_schema_takes_adaptive_cards_with_content_url_only() {
        assert_eq!(schema_problem(&adaptive()), None);
        assert_eq!(schema_problem(&json!({ "@type": "MessageCard" })), None);
        let mut no_url = adaptive();
        no_url["attachments"][0]
            .as_object_mut()
            .unwrap()
            .remove("contentUrl");
        let (status, body) = schema_problem(&no_url).unwrap();
        assert_eq!(status, 400);
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Required properties are missing from object: contentUrl"));
        let mut hero = adaptive();
        hero["attachments"][0]["contentType"] = json!("application/vnd.microsoft.card.hero");
        assert_eq!(
            code(schema_problem(&hero)),
            (400, "TriggerInputSchemaMismatch".into())
        );
        let mut not_a_card = adaptive();
        not_a_card["attachments"][0]["content"]["type"] = json!("MessageCard");
        assert_eq!(
            code(schema_problem(&not_a_card)),
            (400, "TriggerInputSchemaMismatch".into())
        );
    }

    #[test]
    fn each_workflows_mode_answers_with_its_code() {
        let cases = [
            (Mode::TriggerDisabled, 400, "WorkflowTriggerIsNotEnabled"),
            (Mode::Deleted, 400, "WorkflowTriggerIsNotEnabled"),
            (Mode::Dormant, 400, "WorkflowTriggerIsNotEnabled"),
            (Mode::NotFound, 404, "WorkflowNotFound"),
            (Mode::Unauthorized, 401, "DirectApiAuthorizationRequired"),
            (Mode::MismatchingClaims, 403, "MisMatchingOAuthClaims"),
            (Mode::SchemaMismatch, 400, "TriggerInputSchemaMismatch"),
            (Mode::Throttled, 429, "WorkflowRequestsThrottled"),
        ];
        for (mode, status, want) in cases {
            assert_eq!(
                code(workflows_refusal(mode, "abc")),
                (status, want.to_string()),
                "{mode:?}"
            );
        }
        let state = |m| workflows_refusal(m, "abc").unwrap().1["error"]["message"].to_string();
        assert!(state(Mode::TriggerDisabled).contains("'Disabled'"));
        assert!(state(Mode::Deleted).contains("'Deleted'"));
        assert!(state(Mode::Dormant).contains("not triggered for 90 days"));
        for m in [
            Mode::Ok,
            Mode::Gone,
            Mode::Error,
            Mode::Slow,
            Mode::RateLimited,
        ] {
            assert_eq!(workflows_refusal(m, "abc"), None, "{m:?}");
        }
    }

    #[test]
    fn connector_inboxes_offer_no_workflows_mode() {
        let names = |w| -> Vec<String> { Mode::offered(w).into_iter().map(Mode::name).collect() };
        assert_eq!(
            names(false),
            [
                "ok",
                "throttled",
                "rate-limited",
                "gone",
                "not-found",
                "error",
                "slow"
            ]
        );
        assert_eq!(names(true).len(), Mode::ALL.len());
        assert!(names(true).contains(&"mismatching-claims".to_string()));
    }
}

/// What the emulator's identity provider counts and how long its flow tokens last (tests
/// set it).
#[derive(Default, Clone)]
pub struct Idp(pub(crate) Arc<IdpCounters>);

#[derive(Default)]
pub struct IdpCounters {
    pub(crate) token_requests: std::sync::atomic::AtomicU64,
    /// 0: the identity provider's default flow token lifetime.
    pub(crate) lifetime: std::sync::atomic::AtomicU64,
    /// How many of the next tokens for the `--dev-bot` bot are handed out already expired.
    pub(crate) bot_expired_tokens: std::sync::atomic::AtomicU64,
}
