//! Cards built from an event and a connection's settings: a MessageCard for connector
//! webhooks, an Adaptive Card message for Workflows webhooks; always under Teams' size limit.

use connector_settings::{CardStyle, Subscription, Values, CONNECTOR};
use serde_json::{json, Value};

pub use crate::domain::event::{Event, Fact};
use crate::domain::WebhookKind;

/// Card JSON above this many bytes does not get through Teams reliably.
pub const MAX_CARD_BYTES: usize = 20_000;

/// The accent of highlighted cards (Teams' own "attention" red), whatever the connector's.
const HIGHLIGHT_COLOR: &str = "C4314B";

/// The event of a test card: for the stored connection named `config_name`, or (`None`)
/// for a webhook not stored yet, whose card names only the connector, so that nobody can
/// post text of their own choosing through it.
pub fn test_event(config_name: Option<&str>, settings: &Values) -> Event {
    // The first event type the connection chose, else the connector's first.
    let kind = Subscription::of(settings)
        .events
        .first()
        .copied()
        .unwrap_or(connector_settings::CONNECTOR.event_types()[0].value);
    let name = connector_settings::CONNECTOR.name;
    let (text, facts) = match config_name {
        Some(config_name) => (
            format!("If you can read this, {name} can post to this channel ({config_name})."),
            vec![Fact {
                name: "Subscription".into(),
                value: config_name.into(),
            }],
        ),
        None => (
            format!("If you can read this, {name} can post to this channel."),
            vec![],
        ),
    };
    Event {
        id: None,
        kind: kind.to_string(),
        title: format!("Test card from {name}"),
        text,
        link: None,
        facts,
        project: String::new(),
        account: None,
    }
}

/// The card for `event` as `settings` wants it, for a webhook of `kind`: connector webhooks
/// take MessageCards, Workflows Adaptive Cards.
pub fn card(event: &Event, settings: &Values, kind: WebhookKind) -> Value {
    let subscription = Subscription::of(settings);
    let style = subscription.style;
    let urgent = subscription.highlights(&event.kind);
    let build = |text: &str, facts: &[Fact]| {
        if kind == WebhookKind::Connector {
            message_card(event, style, urgent, text, facts)
        } else {
            adaptive_card(event, style, urgent, text, facts)
        }
    };
    let mut text = event.text.clone();
    let mut facts = event.facts.clone();
    loop {
        let card = build(&text, &facts);
        let size = card.to_string().len();
        if size <= MAX_CARD_BYTES {
            return card;
        }
        // Cut the text first, then the facts, keeping what fits and marking the cut.
        let over = size - MAX_CARD_BYTES;
        if text.chars().count() > 1 {
            let keep = text.chars().count().saturating_sub(over + 16);
            text = text.chars().take(keep).collect::<String>() + "…";
        } else if !facts.is_empty() {
            facts.pop();
        } else {
            let title: String = event.title.chars().take(200).collect();
            return build(&format!("{title}…"), &[]);
        }
    }
}

fn message_card(e: &Event, style: CardStyle, urgent: bool, text: &str, facts: &[Fact]) -> Value {
    let mut section = json!({});
    match style {
        CardStyle::Compact => {}
        CardStyle::Detailed => {
            section["text"] = json!(text);
            section["facts"] = json!(facts);
        }
    }
    if urgent {
        section["activitySubtitle"] = json!("Urgent");
    }
    let mut card = json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": e.title,
        "themeColor": if urgent { HIGHLIGHT_COLOR } else { CONNECTOR.accent_color.trim_start_matches('#') },
        "title": e.title,
        "sections": [section],
    });
    if let Some(link) = e.link.as_deref() {
        card["potentialAction"] = json!([{ "@type": "OpenUri", "name": "Open", "targets": [{ "os": "default", "uri": link }] }]);
    }
    card
}

fn adaptive_card(e: &Event, style: CardStyle, urgent: bool, text: &str, facts: &[Fact]) -> Value {
    let mut body = vec![
        json!({ "type": "TextBlock", "text": e.title, "weight": "Bolder", "size": "Medium", "wrap": true }),
    ];
    if urgent {
        body.push(json!({ "type": "TextBlock", "text": "Urgent", "color": "Attention", "weight": "Bolder" }));
    }
    match style {
        CardStyle::Compact => {}
        CardStyle::Detailed => {
            if !text.is_empty() {
                body.push(json!({ "type": "TextBlock", "text": text, "wrap": true }));
            }
            if !facts.is_empty() {
                let facts: Vec<Value> = facts
                    .iter()
                    .map(|f| json!({ "title": f.name, "value": f.value }))
                    .collect();
                body.push(json!({ "type": "FactSet", "facts": facts }));
            }
        }
    }
    let mut content = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    if let Some(link) = e.link.as_deref() {
        content["actions"] = json!([{ "type": "Action.OpenUrl", "title": "Open", "url": link }]);
    }
    // The trigger's schema marks `contentUrl` required, and null (grafana#99477: flows built
    // on it answer 400 TriggerInputSchemaMismatch without it).
    json!({ "type": "message", "attachments": [{ "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": content }] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_settings::Value as Setting;

    fn settings(style: &str, filter: &str) -> Values {
        let mut v = Values::new();
        v.insert(
            "events".into(),
            Setting::List(vec!["build_failed".into(), "incident_opened".into()]),
        );
        v.insert("filter".into(), Setting::Text(filter.into()));
        v.insert("card_style".into(), Setting::Text(style.into()));
        v.insert("mention_channel".into(), Setting::Bool(true));
        v
    }

    fn event(kind: &str, text: &str) -> Event {
        Event {
            id: None,
            kind: kind.into(),
            title: "Build 42 failed".into(),
            text: text.into(),
            link: Some("https://ci.example.com/42".into()),
            facts: vec![Fact {
                name: "Branch".into(),
                value: "main".into(),
            }],
            project: "api-gateway".into(),
            account: None,
        }
    }

    fn matches(kind: &str, project: &str, settings: &Values) -> bool {
        Subscription::of(settings).wants(kind, project)
    }

    #[test]
    fn connections_get_the_event_types_they_chose_filtered_by_project() {
        assert!(matches(
            "build_failed",
            "api-gateway",
            &settings("compact", "")
        ));
        assert!(matches(
            "build_failed",
            "api-gateway",
            &settings("compact", "API")
        ));
        assert!(!matches("build_failed", "web", &settings("compact", "api")));
        assert!(!matches(
            "deployment_finished",
            "api",
            &settings("compact", "")
        ));
    }

    #[test]
    fn connector_webhooks_get_message_cards_and_workflows_adaptive_cards() {
        let s = settings("detailed", "");
        let m = card(&event("build_failed", "log"), &s, WebhookKind::Connector);
        assert_eq!(m["@type"], "MessageCard");
        assert_eq!(m["sections"][0]["facts"][0]["name"], "Branch");
        assert_eq!(m["themeColor"], "5B5FC7", "the connector's accent colour");
        let a = card(
            &event("build_failed", "log"),
            &s,
            WebhookKind::Workflows { signed: true },
        );
        assert_eq!(a["type"], "message");
        assert_eq!(a["attachments"][0]["content"]["type"], "AdaptiveCard");
        assert!(
            a["attachments"][0]
                .get("contentUrl")
                .is_some_and(Value::is_null),
            "the trigger's schema requires contentUrl: null"
        );
        assert_eq!(
            a["attachments"][0]["content"]["actions"][0]["url"],
            "https://ci.example.com/42"
        );
    }

    #[test]
    fn compact_cards_leave_out_text_and_facts_and_incidents_can_be_urgent() {
        let m = card(
            &event("incident_opened", "details"),
            &settings("compact", ""),
            WebhookKind::Connector,
        );
        assert!(m["sections"][0].get("text").is_none());
        assert_eq!(m["sections"][0]["activitySubtitle"], "Urgent");
        assert_eq!(m["themeColor"], "C4314B");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis_to_stay_under_the_size_cap() {
        for kind in [
            WebhookKind::Connector,
            WebhookKind::Workflows { signed: true },
        ] {
            let c = card(
                &event("build_failed", &"x".repeat(100_000)),
                &settings("detailed", ""),
                kind,
            );
            let size = c.to_string().len();
            assert!(
                size <= MAX_CARD_BYTES && size > MAX_CARD_BYTES - 200,
                "{kind:?}: {size}"
            );
            assert!(c.to_string().contains("x…"), "{kind:?}");
        }
    }
}
