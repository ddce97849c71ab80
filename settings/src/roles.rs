//! The fields the server acts on, found by their declared role rather than their id, and
//! what one connection's stored values ask of deliveries.

use crate::{CardStyle, Choice, Connector, Field, FieldKind, Role, Value, Values, CONNECTOR};

impl Connector {
    /// The field with `role`, if the connector declares one (at most one; the build checks).
    pub fn field_with(&self, role: Role) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.role == Some(role))
    }

    /// The text field whose value becomes Teams' `configName`.
    pub fn name_field(&self) -> &'static Field {
        self.fields
            .iter()
            .find(|f| {
                matches!(
                    f.kind,
                    FieldKind::Text {
                        config_name: true,
                        ..
                    }
                )
            })
            .expect("the build checks that exactly one field has config_name = true")
    }

    /// The multiple-choice field whose options are the event types.
    pub fn events_field(&self) -> &'static Field {
        self.field_with(Role::Events)
            .expect("the build checks that exactly one field has role = \"events\"")
    }

    /// The event types the server accepts: the options of the events field, in order.
    pub fn event_types(&self) -> &'static [Choice] {
        match self.events_field().kind {
            FieldKind::MultiChoice { options, .. } => options,
            _ => &[],
        }
    }

    /// The declared event type `value`.
    pub fn event_type(&self, value: &str) -> Option<&'static Choice> {
        self.event_types().iter().find(|c| c.value == value)
    }

    /// The text field that filters events by project.
    pub fn filter_field(&self) -> Option<&'static Field> {
        self.field_with(Role::Filter)
    }

    /// The single-choice field that picks the card style.
    pub fn card_style_field(&self) -> Option<&'static Field> {
        self.field_with(Role::CardStyle)
    }

    /// The toggle that highlights the event types marked `highlight`.
    pub fn highlight_field(&self) -> Option<&'static Field> {
        self.field_with(Role::Highlight)
    }

    /// The first option value of the card-style field that picks `style`.
    pub fn card_style_value(&self, style: CardStyle) -> Option<&'static str> {
        match self.card_style_field()?.kind {
            FieldKind::SingleChoice { options, .. } => options
                .iter()
                .find(|c| c.card == Some(style))
                .map(|c| c.value),
            _ => None,
        }
    }
}

/// What one connection's stored values ask of deliveries, read through the roles. Values
/// stored under an earlier `connector.toml` degrade gently: unknown event types are dropped,
/// an unknown card style is the field's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The declared event types the connection receives, in declaration order.
    pub events: Vec<&'static str>,
    /// The project filter, trimmed and lower-cased; `None` receives every project.
    pub filter: Option<String>,
    /// [`CardStyle::Detailed`] when the connector has no card-style field.
    pub style: CardStyle,
    /// The highlight toggle is on.
    pub highlight: bool,
}

/// What subscriptions match an event by: its type and its project, lower-cased once.
#[derive(Debug, Clone)]
pub struct Topic {
    kind: String,
    project: String,
}

impl Topic {
    pub fn new(event_type: &str, project: &str) -> Topic {
        Topic {
            kind: event_type.to_string(),
            project: project.to_lowercase(),
        }
    }

    /// The event type.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Whether a subscription's project filter (as in [`Subscription::filter`]) lets the
    /// event through: no filter, or one contained in the project.
    pub fn passes(&self, filter: Option<&str>) -> bool {
        filter.is_none_or(|f| self.project.contains(f))
    }
}

impl Subscription {
    pub fn of(values: &Values) -> Subscription {
        let events = match values.get(CONNECTOR.events_field().id) {
            Some(Value::List(chosen)) => CONNECTOR
                .event_types()
                .iter()
                .filter(|t| chosen.iter().any(|c| c == t.value))
                .map(|t| t.value)
                .collect(),
            _ => Vec::new(),
        };
        let filter = CONNECTOR
            .filter_field()
            .and_then(|f| match values.get(f.id) {
                Some(Value::Text(s)) if !s.trim().is_empty() => Some(s.trim().to_lowercase()),
                _ => None,
            });
        let style = match CONNECTOR.card_style_field().map(|f| (f, &f.kind)) {
            Some((
                field,
                FieldKind::SingleChoice {
                    options, default, ..
                },
            )) => {
                let stored = match values.get(field.id) {
                    Some(Value::Text(s)) => options.iter().find(|o| o.value == s),
                    _ => None,
                };
                let default = default.unwrap_or(options[0].value);
                stored
                    .or_else(|| options.iter().find(|o| o.value == default))
                    .and_then(|o| o.card)
                    .unwrap_or(CardStyle::Detailed)
            }
            _ => CardStyle::Detailed,
        };
        let highlight = CONNECTOR
            .highlight_field()
            .is_some_and(|f| values.get(f.id) == Some(&Value::Bool(true)));
        Subscription {
            events,
            filter,
            style,
            highlight,
        }
    }

    /// Whether the connection receives an event of `event_type` about `project`.
    pub fn wants(&self, event_type: &str, project: &str) -> bool {
        self.receives(&Topic::new(event_type, project))
    }

    /// [`Subscription::wants`] for a topic made once for many subscriptions.
    pub fn receives(&self, topic: &Topic) -> bool {
        self.events.contains(&topic.kind()) && topic.passes(self.filter.as_deref())
    }

    /// Whether cards of `event_type` are highlighted for this connection.
    pub fn highlights(&self, event_type: &str) -> bool {
        self.highlight
            && CONNECTOR
                .event_type(event_type)
                .is_some_and(|t| t.highlight)
    }
}
