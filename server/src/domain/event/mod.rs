//! An event from the connector developer's service: its shape, its rules ([`Event::parse`]),
//! the id it is known by, and how it is signed and verified ([`signing`]).

pub mod signing;

use connector_settings::CONNECTOR;
use serde::{Deserialize, Serialize};

pub use signing::{
    sign, verify, EventSecret, EventSecrets, SecretsError, Signed, SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
};

/// Events may carry more than a connection's settings.
pub const BODY_LIMIT: usize = 64 * 1024;
/// The longest account id an event may name (the stored ones come from ID tokens).
const MAX_ACCOUNT: usize = 200;

/// An event from the connector developer's service.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Repeating an id repeats nothing: the event is accepted once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    #[serde(default)]
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(default)]
    pub facts: Vec<Fact>,
    /// What each connection's project filter is matched against.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub project: String,
    /// The account of the sending service the event is for: required with `[account]`,
    /// where only that account's connections get it; ignored without.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fact {
    pub name: String,
    pub value: String,
}

/// Why an event was refused, with a message naming what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not signed, or not by an events secret (or the signature headers are malformed).
    #[error("{0}")]
    Unsigned(String),
    /// Not an event, or one that breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// The `account` field breaks `rule` (with `[account]`, every event names one).
    #[error("{message}")]
    Account { rule: &'static str, message: String },
}

fn invalid(message: String) -> EventError {
    EventError::Invalid(message)
}

impl Event {
    /// The event in `body`, checked against the connector's rules: its type is one of the
    /// options of the events field of `connector.toml` (found by its role), its title 1 to
    /// 256 characters, its link https, at most 30 facts, and with `[account]` an account.
    pub fn parse(body: &[u8]) -> Result<Event, EventError> {
        let event: Event =
            serde_json::from_slice(body).map_err(|e| invalid(format!("event: {e}")))?;
        event.check()?;
        Ok(event)
    }

    fn check(&self) -> Result<(), EventError> {
        if CONNECTOR.event_type(&self.kind).is_none() {
            let types: Vec<&str> = CONNECTOR.event_types().iter().map(|t| t.value).collect();
            return Err(invalid(format!(
                "event type '{}' is not one of: {}",
                self.kind,
                types.join(", ")
            )));
        }
        if self.title.trim().is_empty() || self.title.chars().count() > 256 {
            return Err(invalid("event title must be 1 to 256 characters".into()));
        }
        if let Some(id) = &self.id {
            check_id(id, "event id")?;
        }
        check_account(self.account.as_deref())?;
        if let Some(link) = &self.link {
            if !link.starts_with("https://") {
                return Err(invalid(format!(
                    "event link '{}' must start with https://",
                    link.chars().take(60).collect::<String>()
                )));
            }
        }
        if self.facts.len() > 30 {
            return Err(invalid(format!(
                "an event has at most 30 facts, not {}",
                self.facts.len()
            )));
        }
        Ok(())
    }

    /// The id the event is known by: the signature's `webhook-id` (the body's `id`, if any,
    /// must be the same), else the body's `id`, else for an old-style event without one its
    /// signature, so that a replay within the timestamp window is a duplicate rather than a
    /// second card.
    pub fn id_signed(&self, signed: &Signed) -> Result<String, EventError> {
        match (&signed.webhook_id, &self.id) {
            (Some(header), Some(body)) if header != body => Err(invalid(format!(
                "the event's id '{}' is not its '{}' '{}': leave the id out or send the same",
                body.chars().take(40).collect::<String>(),
                standardwebhooks::HEADER_WEBHOOK_ID,
                header.chars().take(40).collect::<String>()
            ))),
            (Some(header), _) => {
                check_id(header, standardwebhooks::HEADER_WEBHOOK_ID)?;
                Ok(header.clone())
            }
            (None, Some(id)) => Ok(id.clone()),
            (None, None) => Ok(signed.replay_id.clone()),
        }
    }
}

/// An event id (the body's or the `webhook-id`): what the outbox and logs can hold.
fn check_id(id: &str, what: &str) -> Result<(), EventError> {
    if id.is_empty()
        || id.len() > 100
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:~".contains(c))
    {
        return Err(invalid(format!(
            "{what} '{}' must be 1 to 100 letters, digits or - _ . : ~",
            id.chars().take(40).collect::<String>()
        )));
    }
    Ok(())
}

/// With `[account]`, every event names the account it is for; without, `account` is ignored.
fn check_account(account: Option<&str>) -> Result<(), EventError> {
    if CONNECTOR.account.is_none() {
        return Ok(());
    }
    match account {
        None => Err(EventError::Account {
            rule: "required",
            message: "this connector sends events per account: the event must name its `account`"
                .to_string(),
        }),
        Some(a) if a.is_empty() || a.chars().count() > MAX_ACCOUNT => Err(EventError::Account {
            rule: "length",
            message: format!("the event's `account` must be 1 to {MAX_ACCOUNT} characters"),
        }),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind() -> &'static str {
        CONNECTOR.event_types()[0].value
    }

    #[test]
    fn an_event_is_parsed_and_its_rules_name_what_is_wrong() {
        let ok = format!(r#"{{"type":"{}","title":"Build 42 failed"}}"#, kind());
        let event = Event::parse(ok.as_bytes()).unwrap();
        assert_eq!(event.title, "Build 42 failed");
        let bad = |body: String| Event::parse(body.as_bytes()).unwrap_err().to_string();
        assert!(bad(r#"{"type":"nope","title":"t"}"#.into()).contains("event type 'nope'"));
        assert!(bad(format!(r#"{{"type":"{}","title":" "}}"#, kind())).contains("title"));
        assert!(bad(format!(
            r#"{{"type":"{}","title":"t","link":"http://x"}}"#,
            kind()
        ))
        .contains("must start with https://"));
        assert!(
            bad(format!(r#"{{"type":"{}","title":"t","id":"a b"}}"#, kind()))
                .contains("event id 'a b'")
        );
        assert!(bad(r#"{"title":"t"}"#.into()).starts_with("event: "));
    }

    #[test]
    fn the_signature_id_and_the_body_id_must_agree() {
        let event =
            Event::parse(format!(r#"{{"type":"{}","title":"t","id":"a"}}"#, kind()).as_bytes())
                .unwrap();
        let signed = |id: Option<&str>| Signed {
            webhook_id: id.map(str::to_string),
            secret: "default".into(),
            replay_id: "sig-00".into(),
        };
        assert_eq!(event.id_signed(&signed(Some("a"))).unwrap(), "a");
        assert_eq!(event.id_signed(&signed(None)).unwrap(), "a");
        assert!(event
            .id_signed(&signed(Some("b")))
            .unwrap_err()
            .to_string()
            .contains("is not its 'webhook-id'"));
        let anonymous = Event { id: None, ..event };
        assert_eq!(anonymous.id_signed(&signed(None)).unwrap(), "sig-00");
    }
}
