//! Reads `connector.toml` into an owned model, checks every rule a connector developer can
//! break, and writes the model as Rust statics. Used by the build script, and by the
//! crate's unit tests so each malformed-file error is tested natively.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Deserialize;
use toml::Spanned;

use super::model::{CardStyle, KindName, Role};
use super::pattern::Pattern;

/// A problem in `connector.toml`, at a 1-based line.
#[derive(Debug, PartialEq)]
pub struct SpecError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "connector.toml:{}: {}", self.line, self.message)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    connector: Spanned<RawConnector>,
    #[serde(default)]
    field: Vec<Spanned<RawField>>,
    account: Option<Spanned<RawAccount>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    service: Spanned<RawText>,
    issuer: Spanned<String>,
    client_id: Spanned<String>,
    scopes: Option<Spanned<Vec<String>>>,
    account_claim: Option<Spanned<String>>,
    name_claim: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnector {
    id: Spanned<String>,
    name: Spanned<String>,
    short_description: Spanned<String>,
    full_description: Spanned<String>,
    accent_color: Spanned<String>,
    developer_name: String,
    website_url: Spanned<String>,
    privacy_url: Spanned<String>,
    terms_url: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawText {
    Plain(String),
    Localized(BTreeMap<String, String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOption {
    value: String,
    label: RawText,
    card: Option<Spanned<String>>,
    highlight: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    id: Spanned<String>,
    kind: Spanned<String>,
    label: Spanned<RawText>,
    help: Spanned<RawText>,
    required: Option<Spanned<bool>>,
    min_length: Option<Spanned<u32>>,
    max_length: Option<Spanned<u32>>,
    pattern: Option<Spanned<String>>,
    pattern_help: Option<Spanned<RawText>>,
    config_name: Option<Spanned<bool>>,
    min_selected: Option<Spanned<u32>>,
    options: Option<Spanned<Vec<Spanned<RawOption>>>>,
    default: Option<Spanned<toml::Value>>,
    role: Option<Spanned<String>>,
}

/// A translated text: `(locale, text)` pairs, English first.
pub type Text = Vec<(String, String)>;

#[derive(Debug)]
pub struct Spec {
    pub id: String,
    pub name: String,
    pub short_description: String,
    pub full_description: String,
    pub accent_color: String,
    pub developer_name: String,
    pub website_url: String,
    pub privacy_url: String,
    pub terms_url: String,
    pub fields: Vec<Field>,
    pub account: Option<Account>,
}

/// The service's accounts (`[account]`): each connection is linked to one, and events name it.
#[derive(Debug, PartialEq)]
pub struct Account {
    pub service: Text,
    pub issuer: String,
    pub client_id: String,
    /// Always starts with `openid`.
    pub scopes: Vec<String>,
    pub account_claim: String,
    pub name_claim: String,
}

#[derive(Debug)]
pub struct Field {
    pub id: String,
    pub label: Text,
    pub help: Text,
    pub kind: Kind,
    pub role: Option<Role>,
}

/// One option of a choice field.
#[derive(Debug)]
pub struct Choice {
    pub value: String,
    pub label: Text,
    /// In the card-style field: the card this option picks.
    pub card: Option<CardStyle>,
    /// In the events field: cards of this event type can be highlighted.
    pub highlight: bool,
}

#[derive(Debug)]
pub enum Kind {
    Text {
        required: bool,
        min_length: u32,
        max_length: u32,
        pattern: Option<String>,
        pattern_help: Option<Text>,
        config_name: bool,
    },
    SingleChoice {
        options: Vec<Choice>,
        default: Option<String>,
    },
    MultiChoice {
        options: Vec<Choice>,
        min_selected: u32,
        default: Vec<String>,
    },
    Toggle {
        default: bool,
    },
}

/// `words` for an error message: "a", "a or b", "a, b or c".
fn one_of<S: AsRef<str>>(words: impl IntoIterator<Item = S>) -> String {
    let words: Vec<String> = words.into_iter().map(|w| w.as_ref().to_string()).collect();
    match words.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// The longest text a field may allow; keeps stored settings and cards small.
const MAX_TEXT: u32 = 1000;

struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn at(&self, offset: usize) -> usize {
        self.0[..offset.min(self.0.len())].matches('\n').count() + 1
    }
    fn err<T>(&self, offset: usize, message: impl Into<String>) -> Result<T, SpecError> {
        Err(SpecError {
            line: self.at(offset),
            message: message.into(),
        })
    }
}

/// Parses and checks the whole file.
pub fn parse(src: &str) -> Result<Spec, SpecError> {
    let lines = Lines(src);
    let raw: RawFile = toml::from_str(src).map_err(|e| SpecError {
        line: e.span().map_or(1, |s| lines.at(s.start)),
        message: e.message().trim_end_matches('\n').to_string(),
    })?;
    let c = raw.connector.get_ref();
    let nonempty = |s: &Spanned<String>, what: &str| -> Result<String, SpecError> {
        if s.get_ref().trim().is_empty() {
            lines.err(
                s.span().start,
                format!("connector {what} must not be empty"),
            )
        } else {
            Ok(s.get_ref().clone())
        }
    };
    let id = nonempty(&c.id, "id")?;
    if !id
        .chars()
        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
    {
        return lines.err(
            c.id.span().start,
            format!("connector id '{id}' may hold only a-z, 0-9 and '-'"),
        );
    }
    let name = nonempty(&c.name, "name")?;
    if name.chars().count() > 30 {
        return lines.err(
            c.name.span().start,
            format!("connector name '{name}' is longer than Teams' 30 characters"),
        );
    }
    let short_description = nonempty(&c.short_description, "short_description")?;
    if short_description.chars().count() > 80 {
        return lines.err(
            c.short_description.span().start,
            "short_description is longer than Teams' 80 characters",
        );
    }
    let full_description = nonempty(&c.full_description, "full_description")?;
    let accent = c.accent_color.get_ref();
    if !(accent.len() == 7
        && accent.starts_with('#')
        && accent[1..].chars().all(|ch| ch.is_ascii_hexdigit()))
    {
        return lines.err(
            c.accent_color.span().start,
            format!("accent_color '{accent}' is not a colour like #5B5FC7"),
        );
    }
    for (url, what) in [
        (&c.website_url, "website_url"),
        (&c.privacy_url, "privacy_url"),
        (&c.terms_url, "terms_url"),
    ] {
        if !url.get_ref().starts_with("https://") {
            return lines.err(
                url.span().start,
                format!("{what} '{}' must start with https://", url.get_ref()),
            );
        }
    }
    if raw.field.is_empty() {
        return lines.err(raw.connector.span().start, "the form has no [[field]]");
    }
    let mut fields = Vec::new();
    let mut ids = BTreeSet::new();
    for f in &raw.field {
        let field = parse_field(f, &lines)?;
        if !ids.insert(field.id.clone()) {
            return lines.err(
                f.get_ref().id.span().start,
                format!("field id '{}' is used twice", field.id),
            );
        }
        fields.push(field);
    }
    let names = fields
        .iter()
        .filter(|f| {
            matches!(
                f.kind,
                Kind::Text {
                    config_name: true,
                    ..
                }
            )
        })
        .count();
    if names != 1 {
        return lines.err(
            raw.connector.span().start,
            format!("exactly one text field needs config_name = true (it becomes Teams' configName); found {names}"),
        );
    }
    check_roles(&raw, &fields, &lines)?;
    let account = match &raw.account {
        Some(a) => Some(parse_account(a.get_ref(), &lines)?),
        None => None,
    };
    Ok(Spec {
        id,
        name,
        short_description,
        full_description,
        accent_color: accent.to_uppercase(),
        developer_name: c.developer_name.clone(),
        website_url: c.website_url.get_ref().clone(),
        privacy_url: c.privacy_url.get_ref().clone(),
        terms_url: c.terms_url.get_ref().clone(),
        fields,
        account,
    })
}

/// Checks `[account]`: an issuer URL discovery can be fetched from, and keys that are single
/// tokens, since they go into URLs, token requests and claim lookups as they are.
fn parse_account(a: &RawAccount, lines: &Lines) -> Result<Account, SpecError> {
    let service = text(&a.service, "[account] service", lines)?;
    let issuer = a.issuer.get_ref();
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| {
            issuer.strip_prefix(p).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with(':') || rest.starts_with('/')
            })
        });
    if !(issuer.starts_with("https://") && issuer.len() > "https://".len() || loopback) {
        return lines.err(
            a.issuer.span().start,
            format!("[account] issuer '{issuer}' must start with https:// (or be http on loopback for development)"),
        );
    }
    if issuer.contains(['?', '#']) || issuer.chars().any(char::is_whitespace) {
        return lines.err(
            a.issuer.span().start,
            format!(
                "[account] issuer '{issuer}' must be a plain URL without query, fragment or spaces"
            ),
        );
    }
    let token = |s: &Spanned<String>, key: &str| -> Result<String, SpecError> {
        let v = s.get_ref();
        if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            lines.err(
                s.span().start,
                format!("[account] {key} '{v}' must be one word without spaces"),
            )
        } else {
            Ok(v.clone())
        }
    };
    let client_id = token(&a.client_id, "client_id")?;
    let claim = |s: &Option<Spanned<String>>, key: &str, default: &str| match s {
        Some(s) => token(s, key),
        None => Ok(default.to_string()),
    };
    let account_claim = claim(&a.account_claim, "account_claim", "sub")?;
    let name_claim = claim(&a.name_claim, "name_claim", "name")?;
    let mut scopes = vec!["openid".to_string()];
    match &a.scopes {
        None => scopes.push("profile".into()),
        Some(list) => {
            for scope in list.get_ref() {
                if scope.is_empty() || scope.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return lines.err(
                        list.span().start,
                        format!(
                            "[account] scopes: scope '{scope}' must be one word without spaces"
                        ),
                    );
                }
                if scope != "openid" && !scopes.contains(scope) {
                    scopes.push(scope.clone());
                }
            }
        }
    }
    Ok(Account {
        service,
        issuer: issuer.clone(),
        client_id,
        scopes,
        account_claim,
        name_claim,
    })
}

/// The rules between fields: at most one field per role, exactly one events field, and a
/// highlight toggle exactly when some event type can be highlighted.
fn check_roles(raw: &RawFile, fields: &[Field], lines: &Lines) -> Result<(), SpecError> {
    let role_at = |i: usize| {
        raw.field[i]
            .get_ref()
            .role
            .as_ref()
            .map_or(raw.field[i].span().start, |r| r.span().start)
    };
    let mut taken: Vec<(Role, usize)> = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        let Some(role) = f.role else { continue };
        if let Some((_, first)) = taken.iter().find(|(r, _)| *r == role) {
            return lines.err(
                role_at(i),
                format!(
                    "field '{}' has role = \"{}\" but field '{}' (line {}) has it already; at most one field per role",
                    f.id,
                    role.name(),
                    fields[*first].id,
                    lines.at(role_at(*first))
                ),
            );
        }
        taken.push((role, i));
    }
    let find = |role: Role| taken.iter().find(|(r, _)| *r == role).map(|(_, i)| *i);
    let Some(events) = find(Role::Events) else {
        return lines.err(
            raw.connector.span().start,
            "no field has role = \"events\": one multi_choice field's options must be the event types the server accepts",
        );
    };
    let events_field = &fields[events];
    let Kind::MultiChoice { options, .. } = &events_field.kind else {
        unreachable!("the events role is checked to be on a multi_choice field")
    };
    let highlighted = options.iter().filter(|o| o.highlight).count();
    match find(Role::Highlight) {
        Some(toggle) if highlighted == 0 => lines.err(
            role_at(toggle),
            format!(
                "the highlight toggle '{}' highlights nothing: give highlight = true to the options of field '{}' whose cards it marks",
                fields[toggle].id, events_field.id
            ),
        ),
        None if highlighted > 0 => {
            let raw_options = raw.field[events].get_ref().options.as_ref();
            let at = raw_options
                .and_then(|o| o.get_ref().iter().find_map(|o| o.get_ref().highlight.as_ref()))
                .map_or(raw.field[events].span().start, |h| h.span().start);
            lines.err(
                at,
                format!(
                    "options of field '{}' have highlight = true, but no toggle field has role = \"highlight\"",
                    events_field.id
                ),
            )
        }
        _ => Ok(()),
    }
}

fn text(t: &Spanned<RawText>, what: &str, lines: &Lines) -> Result<Text, SpecError> {
    let out: Text = match t.get_ref() {
        RawText::Plain(s) => vec![("en".into(), s.clone())],
        RawText::Localized(map) => {
            let Some(en) = map.get("en") else {
                return lines.err(
                    t.span().start,
                    format!("{what} has no English text (key 'en')"),
                );
            };
            let mut v = vec![("en".to_string(), en.clone())];
            for (k, s) in map {
                if !(k.len() == 2 && k.chars().all(|c| c.is_ascii_lowercase())) {
                    return lines.err(
                        t.span().start,
                        format!("{what} has locale '{k}'; use a two-letter language like 'de'"),
                    );
                }
                if k != "en" {
                    v.push((k.clone(), s.clone()));
                }
            }
            v
        }
    };
    if out.iter().any(|(_, s)| s.trim().is_empty()) {
        return lines.err(t.span().start, format!("{what} must not be empty"));
    }
    Ok(out)
}

/// One `[[field]]`: the checks every field gets (its id, kind, keys, role, label and help),
/// then those of its kind.
fn parse_field(sf: &Spanned<RawField>, lines: &Lines) -> Result<Field, SpecError> {
    let f = sf.get_ref();
    let id = field_id(f, lines)?;
    let kind_name = kind_name(f, &id, lines)?;
    refuse_keys_of_other_kinds(f, &id, kind_name, lines)?;
    let role = field_role(f, &id, kind_name, lines)?;
    let label = text(&f.label, &format!("label of field '{id}'"), lines)?;
    let help = text(&f.help, &format!("help of field '{id}'"), lines)?;
    let kind = match kind_name {
        KindName::Text => text_kind(sf, &id, lines)?,
        KindName::SingleChoice => single_choice_kind(sf, &id, role, lines)?,
        KindName::MultiChoice => multi_choice_kind(sf, &id, role, lines)?,
        KindName::Toggle => toggle_kind(sf, &id, lines)?,
    };
    Ok(Field {
        id,
        label,
        help,
        kind,
        role,
    })
}

/// Where an optional key of a field is, or the field itself when the key is missing.
fn key_at<T>(key: &Option<Spanned<T>>, field: &Spanned<RawField>) -> usize {
    key.as_ref().map_or(field.span().start, |k| k.span().start)
}

/// The field's id, which must be snake_case: it is a key of the stored settings.
fn field_id(f: &RawField, lines: &Lines) -> Result<String, SpecError> {
    let id = f.id.get_ref().clone();
    let ok_id = id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok_id {
        return lines.err(
            f.id.span().start,
            format!("field id '{id}' must be snake_case (a-z, 0-9, _; starting with a letter)"),
        );
    }
    Ok(id)
}

/// The field's `kind`, one of [`KindName::ALL`].
fn kind_name(f: &RawField, id: &str, lines: &Lines) -> Result<KindName, SpecError> {
    match KindName::from_name(f.kind.get_ref()) {
        Some(kind) => Ok(kind),
        None => lines.err(
            f.kind.span().start,
            format!(
                "field '{id}' has kind '{}'; expected {}",
                f.kind.get_ref(),
                one_of(KindName::ALL.iter().map(|(_, name)| *name))
            ),
        ),
    }
}

/// Keys that only make sense for some kinds: naming a key the kind ignores is a mistake.
fn refuse_keys_of_other_kinds(
    f: &RawField,
    id: &str,
    kind: KindName,
    lines: &Lines,
) -> Result<(), SpecError> {
    let allowed: &[&str] = match kind {
        KindName::Text => &[
            "required",
            "min_length",
            "max_length",
            "pattern",
            "pattern_help",
            "config_name",
            "default",
        ],
        KindName::SingleChoice => &["options", "default"],
        KindName::MultiChoice => &["options", "min_selected", "default"],
        KindName::Toggle => &["default"],
    };
    let present: [(&str, Option<usize>); 8] = [
        ("required", f.required.as_ref().map(|s| s.span().start)),
        ("min_length", f.min_length.as_ref().map(|s| s.span().start)),
        ("max_length", f.max_length.as_ref().map(|s| s.span().start)),
        ("pattern", f.pattern.as_ref().map(|s| s.span().start)),
        (
            "pattern_help",
            f.pattern_help.as_ref().map(|s| s.span().start),
        ),
        (
            "config_name",
            f.config_name.as_ref().map(|s| s.span().start),
        ),
        (
            "min_selected",
            f.min_selected.as_ref().map(|s| s.span().start),
        ),
        ("options", f.options.as_ref().map(|s| s.span().start)),
    ];
    for (key, at) in present {
        if let Some(at) = at {
            if !allowed.contains(&key) {
                return lines.err(
                    at,
                    format!(
                        "'{key}' does not apply to field '{id}' of kind {}",
                        kind.name()
                    ),
                );
            }
        }
    }
    Ok(())
}

/// The field's `role`, if any: one of [`Role::ALL`], on a field of the kind it needs.
fn field_role(
    f: &RawField,
    id: &str,
    kind: KindName,
    lines: &Lines,
) -> Result<Option<Role>, SpecError> {
    let Some(r) = &f.role else { return Ok(None) };
    let Some(role) = Role::from_name(r.get_ref()) else {
        return lines.err(
            r.span().start,
            format!(
                "field '{id}' has role '{}'; expected {}",
                r.get_ref(),
                one_of(Role::ALL.iter().map(|(_, name)| *name))
            ),
        );
    };
    if role.kind() != kind {
        return lines.err(
            r.span().start,
            format!(
                "role = \"{}\" needs a {} field; field '{id}' is {}",
                role.name(),
                role.kind().name(),
                kind.name()
            ),
        );
    }
    Ok(Some(role))
}

/// A text field's rules: lengths within [`MAX_TEXT`], a pattern that parses, and the
/// config_name field required.
fn text_kind(sf: &Spanned<RawField>, id: &str, lines: &Lines) -> Result<Kind, SpecError> {
    let f = sf.get_ref();
    let required = f.required.as_ref().is_some_and(|r| *r.get_ref());
    let min_length = f
        .min_length
        .as_ref()
        .map_or(u32::from(required), |m| *m.get_ref());
    let max_length = f.max_length.as_ref().map_or(200, |m| *m.get_ref());
    if max_length == 0 || max_length > MAX_TEXT {
        return lines.err(
            key_at(&f.max_length, sf),
            format!("max_length of field '{id}' must be between 1 and {MAX_TEXT}"),
        );
    }
    if min_length > max_length {
        return lines.err(
            key_at(&f.min_length, sf),
            format!(
                "min_length {min_length} of field '{id}' is more than its max_length {max_length}"
            ),
        );
    }
    let pattern = match &f.pattern {
        Some(p) => {
            Pattern::parse(p.get_ref()).map_err(|e| SpecError {
                line: lines.at(p.span().start),
                message: format!("pattern of field '{id}': {e}"),
            })?;
            Some(p.get_ref().clone())
        }
        None => None,
    };
    let pattern_help = match &f.pattern_help {
        Some(t) => Some(text(t, &format!("pattern_help of field '{id}'"), lines)?),
        None => None,
    };
    let config_name = f.config_name.as_ref().is_some_and(|c| *c.get_ref());
    if config_name && !required {
        return lines.err(
            key_at(&f.config_name, sf),
            format!("field '{id}' is the config_name, so it must be required = true"),
        );
    }
    if f.default.is_some() {
        return lines.err(
            key_at(&f.default, sf),
            format!(
                "'default' does not apply to field '{id}' of kind {}",
                KindName::Text.name()
            ),
        );
    }
    Ok(Kind::Text {
        required,
        min_length,
        max_length,
        pattern,
        pattern_help,
        config_name,
    })
}

/// A single-choice field: its options, and a default that is one of them.
fn single_choice_kind(
    sf: &Spanned<RawField>,
    id: &str,
    role: Option<Role>,
    lines: &Lines,
) -> Result<Kind, SpecError> {
    let f = sf.get_ref();
    let options = choice_options(sf, id, KindName::SingleChoice, role, lines)?;
    let default = match f.default.as_ref().map(|d| d.get_ref()) {
        None => None,
        Some(toml::Value::String(s)) if is_option(&options, s) => Some(s.clone()),
        Some(other) => {
            return lines.err(
                key_at(&f.default, sf),
                format!("default {other} of field '{id}' is not one of its option values"),
            )
        }
    };
    Ok(Kind::SingleChoice { options, default })
}

/// A multiple-choice field: its options, a `min_selected` it can reach, and a default
/// list of its options.
fn multi_choice_kind(
    sf: &Spanned<RawField>,
    id: &str,
    role: Option<Role>,
    lines: &Lines,
) -> Result<Kind, SpecError> {
    let f = sf.get_ref();
    let options = choice_options(sf, id, KindName::MultiChoice, role, lines)?;
    let min_selected = f.min_selected.as_ref().map_or(0, |m| *m.get_ref());
    if min_selected as usize > options.len() {
        return lines.err(
            key_at(&f.min_selected, sf),
            format!(
                "min_selected {min_selected} of field '{id}' is more than its {} options",
                options.len()
            ),
        );
    }
    let default_at = key_at(&f.default, sf);
    let default = match f.default.as_ref().map(|d| d.get_ref()) {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => {
            let mut out = Vec::new();
            for item in items {
                match item {
                    toml::Value::String(s) if is_option(&options, s) => out.push(s.clone()),
                    other => {
                        return lines.err(
                            default_at,
                            format!(
                                "default {other} of field '{id}' is not one of its option values"
                            ),
                        )
                    }
                }
            }
            out
        }
        Some(other) => {
            return lines.err(
                default_at,
                format!("default of field '{id}' must be a list of option values, not {other}"),
            )
        }
    };
    Ok(Kind::MultiChoice {
        options,
        min_selected,
        default,
    })
}

/// A toggle: only its default, true or false.
fn toggle_kind(sf: &Spanned<RawField>, id: &str, lines: &Lines) -> Result<Kind, SpecError> {
    let f = sf.get_ref();
    let default = match f.default.as_ref().map(|d| d.get_ref()) {
        None => false,
        Some(toml::Value::Boolean(b)) => *b,
        Some(other) => {
            return lines.err(
                key_at(&f.default, sf),
                format!("default of toggle '{id}' must be true or false, not {other}"),
            )
        }
    };
    Ok(Kind::Toggle { default })
}

/// Whether `value` is the value of one of `options`.
fn is_option(options: &[Choice], value: &str) -> bool {
    options.iter().any(|o| o.value == value)
}

/// The options of a choice field of `kind`: at least two, each value once, each with an
/// English label, and `card` and `highlight` only where the field's role uses them.
fn choice_options(
    sf: &Spanned<RawField>,
    id: &str,
    kind: KindName,
    role: Option<Role>,
    lines: &Lines,
) -> Result<Vec<Choice>, SpecError> {
    let Some(opts) = &sf.get_ref().options else {
        return lines.err(
            sf.span().start,
            format!("field '{id}' of kind {} needs options", kind.name()),
        );
    };
    if opts.get_ref().len() < 2 {
        return lines.err(
            opts.span().start,
            format!("field '{id}' needs at least two options"),
        );
    }
    let mut options = Vec::new();
    let mut seen = BTreeSet::new();
    for so in opts.get_ref() {
        let o = so.get_ref();
        if o.value.trim().is_empty() || !seen.insert(o.value.clone()) {
            return lines.err(
                opts.span().start,
                format!(
                    "option value '{}' of field '{id}' is empty or used twice",
                    o.value
                ),
            );
        }
        options.push(Choice {
            value: o.value.clone(),
            label: option_label(o, id, opts.span().start, lines)?,
            card: option_card(so, id, role, lines)?,
            highlight: option_highlight(o, id, role, lines)?,
        });
    }
    Ok(options)
}

/// The label of an option: a text, or texts by locale with an English one (reported at
/// `opts_at`, the field's `options`).
fn option_label(o: &RawOption, id: &str, opts_at: usize, lines: &Lines) -> Result<Text, SpecError> {
    match &o.label {
        RawText::Plain(s) => Ok(vec![("en".to_string(), s.clone())]),
        RawText::Localized(m) => {
            let Some(en) = m.get("en") else {
                return lines.err(
                    opts_at,
                    format!("option '{}' of field '{id}' has no English label", o.value),
                );
            };
            let mut v = vec![("en".to_string(), en.clone())];
            v.extend(
                m.iter()
                    .filter(|(k, _)| *k != "en")
                    .map(|(k, s)| (k.clone(), s.clone())),
            );
            Ok(v)
        }
    }
}

/// The `highlight` of an option: only in the events field.
fn option_highlight(
    o: &RawOption,
    id: &str,
    role: Option<Role>,
    lines: &Lines,
) -> Result<bool, SpecError> {
    match &o.highlight {
        Some(h) if role != Some(Role::Events) => lines.err(
            h.span().start,
            format!(
                "'highlight' of option '{}' of field '{id}' applies only to the options of the field with role = \"{}\"",
                o.value,
                Role::Events.name()
            ),
        ),
        Some(h) => Ok(*h.get_ref()),
        None => Ok(false),
    }
}

/// The `card` of an option: required in the card-style field, refused elsewhere.
fn option_card(
    so: &Spanned<RawOption>,
    id: &str,
    role: Option<Role>,
    lines: &Lines,
) -> Result<Option<CardStyle>, SpecError> {
    let o = so.get_ref();
    match (&o.card, role) {
        (None, Some(Role::CardStyle)) => lines.err(
            so.span().start,
            format!(
                "option '{}' of field '{id}' needs {} (the field has role = \"{}\")",
                o.value,
                one_of(CardStyle::ALL.iter().map(|(_, name)| format!("card = \"{name}\""))),
                Role::CardStyle.name()
            ),
        ),
        (None, _) => Ok(None),
        (Some(c), Some(Role::CardStyle)) => match CardStyle::from_name(c.get_ref()) {
            Some(style) => Ok(Some(style)),
            None => lines.err(
                c.span().start,
                format!(
                    "card '{}' of option '{}' of field '{id}' is not {}",
                    c.get_ref(),
                    o.value,
                    one_of(CardStyle::ALL.iter().map(|(_, name)| *name))
                ),
            ),
        },
        (Some(c), _) => lines.err(
            c.span().start,
            format!(
                "'card' of option '{}' of field '{id}' applies only to the options of the field with role = \"{}\"",
                o.value,
                Role::CardStyle.name()
            ),
        ),
    }
}

/// The spec as Rust source for the statics in `connector_settings::CONNECTOR`.
pub fn to_rust(spec: &Spec) -> String {
    fn text(t: &Text) -> String {
        let pairs: Vec<String> = t.iter().map(|(l, s)| format!("({l:?}, {s:?})")).collect();
        format!("Text(&[{}])", pairs.join(", "))
    }
    fn options(o: &[Choice]) -> String {
        let items: Vec<String> = o
            .iter()
            .map(|c| {
                // The shared enum's `Debug` is its Rust name (`CardStyle::Detailed`).
                let card = c
                    .card
                    .map_or("None".to_string(), |c| format!("Some(CardStyle::{c:?})"));
                format!(
                    "Choice {{ value: {:?}, label: {}, card: {card}, highlight: {} }}",
                    c.value,
                    text(&c.label),
                    c.highlight
                )
            })
            .collect();
        format!("&[{}]", items.join(", "))
    }
    let mut out = String::from("Connector {\n");
    for (k, v) in [
        ("id", &spec.id),
        ("name", &spec.name),
        ("short_description", &spec.short_description),
        ("full_description", &spec.full_description),
        ("accent_color", &spec.accent_color),
        ("developer_name", &spec.developer_name),
        ("website_url", &spec.website_url),
        ("privacy_url", &spec.privacy_url),
        ("terms_url", &spec.terms_url),
    ] {
        let _ = writeln!(out, "    {k}: {v:?},");
    }
    out.push_str("    fields: &[\n");
    for f in &spec.fields {
        let kind = match &f.kind {
            Kind::Text { required, min_length, max_length, pattern, pattern_help, config_name } => format!(
                "FieldKind::Text {{ required: {required}, min_length: {min_length}, max_length: {max_length}, pattern: {pattern:?}, pattern_help: {}, config_name: {config_name} }}",
                pattern_help.as_ref().map_or("None".to_string(), |t| format!("Some({})", text(t)))
            ),
            Kind::SingleChoice { options: o, default } => {
                format!("FieldKind::SingleChoice {{ options: {}, default: {default:?} }}", options(o))
            }
            Kind::MultiChoice { options: o, min_selected, default } => format!(
                "FieldKind::MultiChoice {{ options: {}, min_selected: {min_selected}, default: &{default:?} }}",
                options(o)
            ),
            Kind::Toggle { default } => format!("FieldKind::Toggle {{ default: {default} }}"),
        };
        let role = f
            .role
            .map_or("None".to_string(), |r| format!("Some(Role::{r:?})"));
        let _ = writeln!(
            out,
            "        Field {{ id: {:?}, label: {}, help: {}, kind: {kind}, role: {role} }},",
            f.id,
            text(&f.label),
            text(&f.help)
        );
    }
    out.push_str("    ],\n");
    match &spec.account {
        None => out.push_str("    account: None,\n"),
        Some(a) => {
            let _ = writeln!(
                out,
                "    account: Some(AccountSpec {{ service: {}, issuer: {:?}, client_id: {:?}, scopes: &{:?}, account_claim: {:?}, name_claim: {:?} }}),",
                text(&a.service),
                a.issuer,
                a.client_id,
                a.scopes,
                a.account_claim,
                a.name_claim
            );
        }
    }
    out.push_str("}\n");
    out
}
