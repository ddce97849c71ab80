//! What a connection's settings are and when they are valid, generated from
//! `connector.toml`: one definition that the page and the server both apply.

pub mod admin;
pub mod api;
pub mod hosting;
mod messages;
mod model;
pub mod pattern;
mod roles;
pub mod webhook;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use messages::Locale;
pub use model::{CardStyle, KindName, Role};
pub use roles::{Subscription, Topic};

/// A text from `connector.toml` in every language it was given: `(locale, text)`, English first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Text(pub &'static [(&'static str, &'static str)]);

impl Text {
    /// The text for `locale`, falling back to English.
    pub fn get(&self, locale: Locale) -> &'static str {
        self.0
            .iter()
            .find(|(l, _)| *l == locale.code())
            .unwrap_or(&self.0[0])
            .1
    }
}

/// The connector, as declared in `connector.toml`.
#[derive(Debug)]
pub struct Connector {
    pub id: &'static str,
    pub name: &'static str,
    pub short_description: &'static str,
    pub full_description: &'static str,
    /// `#RRGGBB`, upper case.
    pub accent_color: &'static str,
    pub developer_name: &'static str,
    pub website_url: &'static str,
    pub privacy_url: &'static str,
    pub terms_url: &'static str,
    pub fields: &'static [Field],
    /// The service's accounts (`[account]`): when set, each connection is linked to an
    /// account by signing in, and each event names the account it is for.
    pub account: Option<AccountSpec>,
}

/// The sending service's OpenID Connect sign-in, from `[account]` in `connector.toml`.
#[derive(Debug)]
pub struct AccountSpec {
    /// Shown in "Sign in to <service>".
    pub service: Text,
    /// The issuer; its discovery document is at `<issuer>/.well-known/openid-configuration`.
    pub issuer: &'static str,
    pub client_id: &'static str,
    /// Asked for at sign-in; `openid` is always the first.
    pub scopes: &'static [&'static str],
    /// The ID token claim whose value is the account id.
    pub account_claim: &'static str,
    /// The ID token claim shown to the person ("Connected as <name>").
    pub name_claim: &'static str,
}

/// One control of the configuration form.
#[derive(Debug)]
pub struct Field {
    /// snake_case key of the field in the stored settings.
    pub id: &'static str,
    pub label: Text,
    pub help: Text,
    pub kind: FieldKind,
    /// What the server does with the field's value (`role = "…"` in `connector.toml`).
    pub role: Option<Role>,
}

/// A choice of a single- or multiple-choice field.
#[derive(Debug)]
pub struct Choice {
    pub value: &'static str,
    pub label: Text,
    /// In the card-style field: the card this option picks.
    pub card: Option<CardStyle>,
    /// In the events field: cards of this event type are highlighted when the connection's
    /// highlight toggle is on.
    pub highlight: bool,
}

#[derive(Debug)]
pub enum FieldKind {
    Text {
        required: bool,
        min_length: u32,
        max_length: u32,
        pattern: Option<&'static str>,
        /// Says what the pattern allows, in words.
        pattern_help: Option<Text>,
        /// This field's value becomes Teams' `configName`.
        config_name: bool,
    },
    SingleChoice {
        options: &'static [Choice],
        default: Option<&'static str>,
    },
    MultiChoice {
        options: &'static [Choice],
        min_selected: u32,
        default: &'static [&'static str],
    },
    Toggle {
        default: bool,
    },
}

impl FieldKind {
    /// The kind's name in `connector.toml`.
    pub fn kind_name(&self) -> KindName {
        match self {
            FieldKind::Text { .. } => KindName::Text,
            FieldKind::SingleChoice { .. } => KindName::SingleChoice,
            FieldKind::MultiChoice { .. } => KindName::MultiChoice,
            FieldKind::Toggle { .. } => KindName::Toggle,
        }
    }
}

/// The connector declared in `connector.toml`.
pub static CONNECTOR: Connector = include!(concat!(env!("OUT_DIR"), "/connector.rs"));

/// The fingerprint of the form this crate was built from (a hash of the parsed
/// connector.toml): page and server each carry it, so a page built from another
/// connector.toml than its server's is told apart (`api::FORM_HEADER`, `dist/form.txt`).
pub const FORM: &str = include!(concat!(env!("OUT_DIR"), "/form.rs"));

/// A field's value as stored and sent: text, one choice (a string), several choices, or a toggle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Text(String),
    List(Vec<String>),
}

// By hand rather than `#[serde(untagged)]`: that buffers every value and says only "did not
// match any variant" on bad input; this names what was expected, and is smaller in the page.
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Value;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a text, a list of texts, or true/false")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Bool(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Text(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Value, E> {
                Ok(Value::Text(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(Value::List(items))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// Field id to value.
pub type Values = BTreeMap<String, Value>;

/// What is wrong with one field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    Required,
    MinLength(u32),
    MaxLength(u32),
    Pattern,
    NotAnOption(String),
    MinSelected(u32),
    /// The value has the wrong JSON type; names the type the field wants.
    WrongType(&'static str),
    UnknownField,
}

impl Rule {
    /// A stable machine-readable name of the rule, used in the API's error body.
    pub fn code(&self) -> &'static str {
        match self {
            Rule::Required => "required",
            Rule::MinLength(_) => "min_length",
            Rule::MaxLength(_) => "max_length",
            Rule::Pattern => "pattern",
            Rule::NotAnOption(_) => "not_an_option",
            Rule::MinSelected(_) => "min_selected",
            Rule::WrongType(_) => "wrong_type",
            Rule::UnknownField => "unknown_field",
        }
    }
}

/// A broken rule, with the id of the field that broke it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub rule: Rule,
}

impl Field {
    /// The field with this id.
    pub fn by_id(id: &str) -> Option<&'static Field> {
        CONNECTOR.fields.iter().find(|f| f.id == id)
    }

    /// The value a new connection starts with.
    pub fn default_value(&self) -> Value {
        match &self.kind {
            FieldKind::Text { .. } => Value::Text(String::new()),
            FieldKind::SingleChoice { default, options } => {
                Value::Text(default.unwrap_or(options[0].value).to_string())
            }
            FieldKind::MultiChoice { default, .. } => {
                Value::List(default.iter().map(|s| s.to_string()).collect())
            }
            FieldKind::Toggle { default } => Value::Bool(*default),
        }
    }

    /// Checks one value against this field's rules; `None` is a missing value.
    pub fn check(&self, value: Option<&Value>) -> Result<(), Rule> {
        match (&self.kind, value) {
            (FieldKind::Text { required, .. }, None) => {
                if *required {
                    Err(Rule::Required)
                } else {
                    Ok(())
                }
            }
            (
                FieldKind::Text {
                    required,
                    min_length,
                    max_length,
                    pattern,
                    ..
                },
                Some(Value::Text(s)),
            ) => {
                let len = s.trim().chars().count() as u32;
                if len == 0 {
                    return if *required {
                        Err(Rule::Required)
                    } else {
                        Ok(())
                    };
                }
                if len < *min_length {
                    return Err(Rule::MinLength(*min_length));
                }
                if s.chars().count() as u32 > *max_length {
                    return Err(Rule::MaxLength(*max_length));
                }
                // Control characters never belong in a one-line setting, pattern or not.
                if s.chars().any(char::is_control) {
                    return Err(Rule::Pattern);
                }
                match pattern.map(pattern::Pattern::parse) {
                    Some(Ok(p)) if !p.matches(s) => Err(Rule::Pattern),
                    _ => Ok(()),
                }
            }
            (FieldKind::Text { .. }, Some(_)) => Err(Rule::WrongType("text")),
            (FieldKind::SingleChoice { .. }, None) => Err(Rule::Required),
            (FieldKind::SingleChoice { options, .. }, Some(Value::Text(s))) => {
                if options.iter().any(|o| o.value == s) {
                    Ok(())
                } else {
                    Err(Rule::NotAnOption(s.clone()))
                }
            }
            (FieldKind::SingleChoice { .. }, Some(_)) => Err(Rule::WrongType("one option value")),
            (FieldKind::MultiChoice { min_selected, .. }, None) => {
                if *min_selected > 0 {
                    Err(Rule::MinSelected(*min_selected))
                } else {
                    Ok(())
                }
            }
            (
                FieldKind::MultiChoice {
                    options,
                    min_selected,
                    ..
                },
                Some(Value::List(items)),
            ) => {
                if let Some(bad) = items
                    .iter()
                    .find(|s| !options.iter().any(|o| o.value == s.as_str()))
                {
                    return Err(Rule::NotAnOption(bad.clone()));
                }
                // Every item is an option now, so the distinct items are the options that
                // appear (counted without a sort, which would cost the page's wasm KBs).
                let distinct = options
                    .iter()
                    .filter(|o| items.iter().any(|i| i == o.value))
                    .count();
                if (distinct as u32) < *min_selected {
                    Err(Rule::MinSelected(*min_selected))
                } else {
                    Ok(())
                }
            }
            (FieldKind::MultiChoice { .. }, Some(_)) => {
                Err(Rule::WrongType("a list of option values"))
            }
            (FieldKind::Toggle { .. }, None | Some(Value::Bool(_))) => Ok(()),
            (FieldKind::Toggle { .. }, Some(_)) => Err(Rule::WrongType("true or false")),
        }
    }
}

/// Settings that passed every rule of `connector.toml`, normalised: every field present,
/// texts trimmed, choices de-duplicated in declaration order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Settings(Values);

impl Settings {
    /// Checks `values` against every field; all broken rules are returned, in form order.
    pub fn parse(values: Values) -> Result<Settings, Vec<FieldError>> {
        let mut errors: Vec<FieldError> = values
            .keys()
            .filter(|k| Field::by_id(k).is_none())
            .map(|k| FieldError {
                field: k.clone(),
                rule: Rule::UnknownField,
            })
            .collect();
        let mut out = Values::new();
        for field in CONNECTOR.fields {
            let value = values.get(field.id);
            if let Err(rule) = field.check(value) {
                errors.push(FieldError {
                    field: field.id.to_string(),
                    rule,
                });
                continue;
            }
            let normal = match (&field.kind, value) {
                (FieldKind::Text { .. }, None) => Value::Text(String::new()),
                (FieldKind::Text { .. }, Some(Value::Text(s))) => Value::Text(s.trim().to_string()),
                (FieldKind::SingleChoice { .. }, None) => {
                    unreachable!("a missing single choice fails its check")
                }
                (FieldKind::MultiChoice { .. }, None) => Value::List(Vec::new()),
                (FieldKind::MultiChoice { options, .. }, Some(Value::List(items))) => Value::List(
                    options
                        .iter()
                        .filter(|o| items.iter().any(|i| i == o.value))
                        .map(|o| o.value.to_string())
                        .collect(),
                ),
                (FieldKind::Toggle { .. }, None) => Value::Bool(false),
                // A value that passed its check and needs no normalising is kept as it is.
                (
                    FieldKind::Text { .. }
                    | FieldKind::SingleChoice { .. }
                    | FieldKind::MultiChoice { .. }
                    | FieldKind::Toggle { .. },
                    Some(v),
                ) => v.clone(),
            };
            out.insert(field.id.to_string(), normal);
        }
        if errors.is_empty() {
            Ok(Settings(out))
        } else {
            Err(errors)
        }
    }

    pub fn values(&self) -> &Values {
        &self.0
    }

    pub fn into_values(self) -> Values {
        self.0
    }

    /// The value of the `config_name` field: the name Teams shows for the connection.
    pub fn config_name(&self) -> &str {
        config_name(&self.0).unwrap_or_default()
    }
}

/// The `config_name` field's value in `values`, if it is a text.
pub fn config_name(values: &Values) -> Option<&str> {
    match values.get(CONNECTOR.name_field().id) {
        Some(Value::Text(s)) => Some(s.trim()),
        _ => None,
    }
}

/// The values a new connection's form starts with.
pub fn default_values() -> Values {
    // Inserted one by one: `collect` into a map sorts first, and the sort alone costs the
    // page's wasm several KB.
    let mut values = Values::new();
    for f in CONNECTOR.fields {
        values.insert(f.id.to_string(), f.default_value());
    }
    values
}

/// A connection's id: Teams' `entityId`. Kept to URL-safe characters because it travels in
/// paths and in `contentUrl`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct EntityId(String);

impl EntityId {
    pub const MAX_LEN: usize = 100;

    pub fn parse(s: &str) -> Result<EntityId, String> {
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(format!(
                "entity id '{}' must be 1 to {} characters",
                truncate(s),
                Self::MAX_LEN
            ));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
        {
            return Err(format!(
                "entity id '{}' may hold only letters, digits and - _ . ~",
                truncate(s)
            ));
        }
        Ok(EntityId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for EntityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
#[path = "../build/spec.rs"]
mod spec;

#[cfg(test)]
mod tests;
