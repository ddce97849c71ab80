//! What a webhook's answer says, read by the webhook's kind: a connector webhook answers in
//! plain text (and throttles with 200), a Workflows trigger in Logic-Apps-style JSON
//! (`{"error":{"code":…,"message":…}}`) whose code says what a channel member has to do.

use connector_settings::webhook::WebhookKind;
use serde::Deserialize;

use crate::domain::WebhookUrl;

/// What a webhook's answer says, before attempts and backoff count.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Answer {
    Delivered,
    /// Worth trying again later.
    Transient(String),
    /// The webhook takes nothing until a person acts: the connection is disabled, with a
    /// reason saying what to do.
    Gone(String),
    /// This card will never be taken.
    Refused(String),
}

impl Answer {
    /// The same answer with `f` applied to its text.
    pub(super) fn map_text(self, f: impl FnOnce(String) -> String) -> Answer {
        match self {
            Answer::Delivered => Answer::Delivered,
            Answer::Transient(e) => Answer::Transient(f(e)),
            Answer::Gone(e) => Answer::Gone(f(e)),
            Answer::Refused(e) => Answer::Refused(f(e)),
        }
    }
}

/// What a throttled answer's error starts with (the metrics count those retries apart).
pub(super) const THROTTLED: &str = "throttled by teams";

/// Characters of an answer's body kept in an error.
const EXCERPT: usize = 200;

fn excerpt(text: &str) -> String {
    text.chars().take(EXCERPT).collect()
}

/// Reads `status` and `body` as a webhook of `kind` means them.
pub(super) fn read_answer(kind: WebhookKind, status: u16, body: &str) -> Answer {
    match kind {
        WebhookKind::Connector => connector(status, body),
        WebhookKind::RetiredWorkflows => retired(status, body),
        // A bot connection's answers are sorted by `bot::connector`; read as Workflows'
        // (Adaptive Cards, JSON errors) should one ever come here.
        WebhookKind::Workflows { .. } | WebhookKind::Bot => workflows(status, body),
    }
}

/// Why a Logic Apps trigger URL no longer takes cards, and what helps.
pub(super) const RETIRED: &str = "this Workflows address stopped working in November 2025 (Power Automate retired the logic.azure.com trigger URLs on 2025-11-30): open the workflow's trigger, copy its new URL and paste it in the tab's settings (Replace)";

/// A Logic Apps trigger URL stopped working on 2025-11-30: whatever refusal it answers, the
/// workflow's new URL is what helps, so the connection stops with that advice.
fn retired(status: u16, body: &str) -> Answer {
    match workflows(status, body) {
        Answer::Gone(_) | Answer::Refused(_) if status != 429 => Answer::Gone(RETIRED.into()),
        other => other,
    }
}

fn connector(status: u16, body: &str) -> Answer {
    let short = excerpt(body);
    match status {
        // Connector webhooks answer throttling with 200 and this text, not with 429.
        200..=299 if body.contains("HTTP error 429") => Answer::Transient(THROTTLED.into()),
        200..=299 => Answer::Delivered,
        429 => Answer::Transient(format!("{THROTTLED} (429)")),
        404 | 410 => Answer::Gone(format!(
            "webhook answered {status}: the connector was removed from the channel"
        )),
        408 | 500..=599 => Answer::Transient(format!("webhook answered {status}: {short}")),
        _ => Answer::Refused(format!("webhook refused the card with {status}: {short}")),
    }
}

/// A Workflows trigger's error body.
#[derive(Deserialize)]
struct Envelope {
    error: Failure,
}

#[derive(Deserialize)]
struct Failure {
    code: String,
    #[serde(default)]
    message: String,
}

/// How a channel member gets a connection going again after fixing its workflow: a
/// disabled connection stays off until its settings are saved.
const SAVE_AGAIN: &str = "then save the tab's settings again";
const NEW_FLOW: &str = "create a new one in the channel (Workflows, 'Send webhook alerts to a channel') and paste its URL in the tab's settings";
const WHO_CAN_TRIGGER: &str = "set its trigger's 'Who can trigger the flow' to Anyone and paste the URL the trigger then shows in the tab's settings, or create a new one in the channel from 'Send webhook alerts to a channel', which lets anyone trigger it";

fn workflows(status: u16, body: &str) -> Answer {
    let failure = serde_json::from_str::<Envelope>(body).ok().map(|e| e.error);
    let code = failure.as_ref().map(|f| f.code.as_str());
    let message = failure.as_ref().map_or("", |f| f.message.as_str());
    match (status, code) {
        // 202 says the trigger took the request; whether the flow posts it shows only in
        // the flow's run history.
        (200..=299, _) => Answer::Delivered,
        (429, _) => Answer::Transient(match code {
            Some(code) => format!("{THROTTLED} (429 {code})"),
            None => format!("{THROTTLED} (429)"),
        }),
        (400..=499, Some("WorkflowTriggerIsNotEnabled")) => {
            Answer::Gone(turned_off(&label(status, code), message))
        }
        (400..=499, Some("WorkflowNotFound")) | (404 | 410, _) => Answer::Gone(format!(
            "the workflow was not found ({}): it was deleted, or the URL is not its whole trigger URL; {NEW_FLOW}",
            label(status, code)
        )),
        (401 | 403, _) => Answer::Gone(refused_caller(&label(status, code), code)),
        (_, Some("TriggerInputSchemaMismatch")) => Answer::Refused(format!(
            "the workflow's trigger refused the card's shape ({}): {}",
            label(status, code),
            excerpt(message)
        )),
        (408 | 500..=599, _) => {
            Answer::Transient(format!("webhook answered {status}: {}", excerpt(body)))
        }
        (_, Some(code)) => Answer::Refused(format!(
            "webhook refused the card with {status} ({code}): {}",
            excerpt(message)
        )),
        (_, None) => Answer::Refused(format!(
            "webhook refused the card with {status}: {}",
            excerpt(body)
        )),
    }
}

/// What a reason's parenthesis names: the status, and the code if the body had one.
fn label(status: u16, code: Option<&str>) -> String {
    match code {
        Some(code) => format!("{status} {code}"),
        None => status.to_string(),
    }
}

/// A flow whose trigger is off: turned off by a person, deleted, or switched off by Power
/// Automate itself. The message names the state (`'Disabled'`, `'Deleted'`).
fn turned_off(label: &str, message: &str) -> String {
    if message.contains("'Deleted'") {
        format!("the workflow was deleted ({label}): {NEW_FLOW}")
    } else if message.contains("'Disabled'") {
        format!(
            "the workflow is turned off ({label}): turn it on in Power Automate, {SAVE_AGAIN}, or {NEW_FLOW} \
             (Power Automate turns flows off by itself after 90 days without a trigger or 14 days of failures, as when their owner left)"
        )
    } else {
        format!(
            "the workflow is turned off or was deleted ({label}): turn it on in Power Automate, {SAVE_AGAIN}, or {NEW_FLOW}"
        )
    }
}

/// 401 or 403: the trigger takes only signed-in callers of its tenant (or some of them),
/// which a service outside that tenant can never be.
fn refused_caller(label: &str, code: Option<&str>) -> String {
    let why = match code {
        Some("DirectApiAuthorizationRequired") => "the workflow takes only signed-in callers",
        Some("MisMatchingOAuthClaims") => {
            "the workflow takes only callers signed in to its own tenant"
        }
        _ => "the workflow does not let this service trigger it",
    };
    format!("{why} ({label}): {WHO_CAN_TRIGGER}")
}

/// `text` without `url` or the parts of it that are credentials (a webhook URL lets anyone
/// post to the channel), in case an answer's body echoed them.
pub(super) fn without_secrets(text: String, url: &WebhookUrl) -> String {
    let Ok(parsed) = url::Url::parse(url.as_str()) else {
        return text;
    };
    let path_and_query = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_string(),
    };
    let sig = parsed
        .query_pairs()
        .find(|(k, _)| k == "sig")
        .map(|(_, v)| v.into_owned());
    let mut secrets = vec![
        url.as_str().to_string(),
        path_and_query,
        parsed.path().to_string(),
    ];
    secrets.extend(sig);
    let mut text = text;
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        text = text.replace(secret.as_str(), "<webhook url>");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOW: WebhookKind = WebhookKind::Workflows { signed: true };
    const CONNECTOR: WebhookKind = WebhookKind::Connector;

    fn flow_error(code: &str, message: &str) -> String {
        serde_json::json!({ "error": { "code": code, "message": message } }).to_string()
    }

    fn gone(kind: WebhookKind, status: u16, body: &str) -> String {
        match read_answer(kind, status, body) {
            Answer::Gone(reason) => reason,
            other => panic!("{status} {body}: {other:?}"),
        }
    }

    #[test]
    fn connector_answers_are_read_as_connectors_answer() {
        let r = |status, body| read_answer(CONNECTOR, status, body);
        assert_eq!(r(200, "1"), Answer::Delivered);
        assert_eq!(
            r(
                200,
                "Microsoft Teams endpoint returned HTTP error 429 with ContextId"
            ),
            Answer::Transient(THROTTLED.into())
        );
        assert_eq!(r(429, ""), Answer::Transient(format!("{THROTTLED} (429)")));
        for status in [404, 410] {
            assert!(gone(CONNECTOR, status, "").contains("connector was removed"));
        }
        assert!(
            matches!(r(503, "down"), Answer::Transient(e) if e == "webhook answered 503: down")
        );
        // A Workflows code means nothing from a connector webhook.
        let off = flow_error("WorkflowTriggerIsNotEnabled", "state 'Disabled'");
        assert!(
            matches!(r(400, &off), Answer::Refused(e) if e.starts_with("webhook refused the card with 400"))
        );
        assert!(matches!(r(401, ""), Answer::Refused(_)));
    }

    #[test]
    fn a_retired_logic_apps_url_that_refuses_says_to_copy_the_new_url() {
        for status in [400, 401, 403, 404, 410] {
            assert_eq!(
                gone(WebhookKind::RetiredWorkflows, status, ""),
                RETIRED,
                "{status}"
            );
        }
        assert!(matches!(
            read_answer(WebhookKind::RetiredWorkflows, 202, ""),
            Answer::Delivered
        ));
        assert!(matches!(
            read_answer(WebhookKind::RetiredWorkflows, 503, ""),
            Answer::Transient(_)
        ));
    }

    #[test]
    fn a_turned_off_workflow_says_how_to_turn_it_on() {
        let off = flow_error(
            "WorkflowTriggerIsNotEnabled",
            "The workflow 'abc' cannot be triggered because it is in state 'Disabled'.",
        );
        let reason = gone(FLOW, 400, &off);
        assert!(
            reason.starts_with("the workflow is turned off (400 WorkflowTriggerIsNotEnabled): turn it on in Power Automate"),
            "{reason}"
        );
        assert!(reason.contains("90 days") && reason.contains("save the tab's settings again"));
    }

    #[test]
    fn a_deleted_workflow_says_to_create_a_new_one() {
        let deleted = flow_error(
            "WorkflowTriggerIsNotEnabled",
            "The workflow 'abc' cannot be triggered because it is in state 'Deleted'.",
        );
        let reason = gone(FLOW, 400, &deleted);
        assert!(
            reason.starts_with("the workflow was deleted (400 WorkflowTriggerIsNotEnabled): create a new one in the channel"),
            "{reason}"
        );
        // Without a state in the message, both are named.
        let unknown = gone(FLOW, 400, &flow_error("WorkflowTriggerIsNotEnabled", ""));
        assert!(unknown.starts_with("the workflow is turned off or was deleted"));
    }

    #[test]
    fn an_unknown_workflow_is_gone() {
        let reason = gone(
            FLOW,
            404,
            &flow_error("WorkflowNotFound", "The workflow 'abc' could not be found."),
        );
        assert!(reason.starts_with("the workflow was not found (404 WorkflowNotFound)"));
        assert!(reason.contains("paste its URL in the tab's settings"));
        // A bare 404 or 410 from a Workflows host says the same, not "connector".
        for status in [404, 410] {
            let reason = gone(FLOW, status, "not found");
            assert!(
                reason.starts_with(&format!("the workflow was not found ({status})")),
                "{reason}"
            );
        }
        // The retired shape is a Workflows webhook too.
        assert!(gone(WebhookKind::RetiredWorkflows, 404, "").contains("workflow"));
    }

    #[test]
    fn a_trigger_for_signed_in_callers_names_who_can_trigger_the_flow() {
        let cases = [
            (
                401,
                "DirectApiAuthorizationRequired",
                "takes only signed-in callers",
            ),
            (401, "MisMatchingOAuthClaims", "signed in to its own tenant"),
            (403, "MisMatchingOAuthClaims", "signed in to its own tenant"),
        ];
        for (status, code, why) in cases {
            let reason = gone(FLOW, status, &flow_error(code, "x"));
            assert!(reason.contains(why), "{reason}");
            assert!(reason.contains(&format!("({status} {code})")), "{reason}");
            assert!(
                reason.contains("'Who can trigger the flow' to Anyone"),
                "{reason}"
            );
        }
        // A caller missing from the allow list gets a 403 without a code we know.
        let reason = gone(FLOW, 403, "");
        assert!(reason.starts_with("the workflow does not let this service trigger it (403)"));
        assert!(reason.contains("'Who can trigger the flow'"));
    }

    #[test]
    fn a_schema_mismatch_kills_the_card_with_its_code() {
        let body = flow_error(
            "TriggerInputSchemaMismatch",
            "The input body for trigger 'manual' of type 'Request' did not match its schema definition. Error details: 'Required properties are missing from object: contentUrl.'.",
        );
        let Answer::Refused(e) = read_answer(FLOW, 400, &body) else {
            panic!()
        };
        assert!(e.contains("(400 TriggerInputSchemaMismatch)"), "{e}");
        assert!(e.contains("missing from object: contentUrl"), "{e}");
    }

    #[test]
    fn a_throttled_workflow_is_retried() {
        let body = flow_error("WorkflowRequestsThrottled", "too many");
        assert_eq!(
            read_answer(FLOW, 429, &body),
            Answer::Transient(format!("{THROTTLED} (429 WorkflowRequestsThrottled)"))
        );
        assert_eq!(
            read_answer(FLOW, 429, ""),
            Answer::Transient(format!("{THROTTLED} (429)"))
        );
        // The connector's throttle text is not a Workflows answer: 202 is taken.
        assert_eq!(read_answer(FLOW, 202, ""), Answer::Delivered);
        assert_eq!(
            read_answer(
                FLOW,
                200,
                "Microsoft Teams endpoint returned HTTP error 429"
            ),
            Answer::Delivered
        );
        assert!(matches!(
            read_answer(FLOW, 502, "bad gateway"),
            Answer::Transient(_)
        ));
    }

    #[test]
    fn other_workflows_refusals_keep_their_code() {
        let body = flow_error("InvalidRequestContent", "The request content is not valid.");
        assert_eq!(
            read_answer(FLOW, 400, &body),
            Answer::Refused(
                "webhook refused the card with 400 (InvalidRequestContent): The request content is not valid."
                    .into()
            )
        );
        assert_eq!(
            read_answer(FLOW, 400, "plain"),
            Answer::Refused("webhook refused the card with 400: plain".into())
        );
        let long = flow_error("SomethingElse", &"m".repeat(1000));
        let Answer::Refused(e) = read_answer(FLOW, 400, &long) else {
            panic!()
        };
        assert!(e.len() < 260, "{}", e.len());
    }

    #[test]
    fn an_echoed_webhook_url_is_cut_from_the_error() {
        let url = WebhookUrl::trusted(
            "https://default1.2a.environment.api.powerplatform.com/powerautomate/automations/direct/workflows/abc/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=SECRETSIGNATURE".into(),
        );
        let echoed = format!(
            "no trigger at {} (sig=SECRETSIGNATURE, path {})",
            url.as_str(),
            "/powerautomate/automations/direct/workflows/abc/triggers/manual/paths/invoke"
        );
        let text = without_secrets(echoed, &url);
        assert!(!text.contains("SECRETSIGNATURE"), "{text}");
        assert!(!text.contains("/workflows/abc/"), "{text}");
        assert!(!text.contains("powerplatform.com/"), "{text}");
        let connector = WebhookUrl::trusted(
            "https://contoso.webhook.office.com/webhookb2/0b4f@72f9/IncomingWebhook/8c2a/e3c1"
                .into(),
        );
        let text = without_secrets(
            "unknown webhook /webhookb2/0b4f@72f9/IncomingWebhook/8c2a/e3c1".into(),
            &connector,
        );
        assert_eq!(text, "unknown webhook <webhook url>");
    }
}
