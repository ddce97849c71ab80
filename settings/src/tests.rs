//! Every field rule, and every error a malformed `connector.toml` can produce. Tests of
//! the default file's own fields are ignored when the crate is built from another file
//! (`CONNECTOR_TOML`); the others hold for every connector.

use super::*;

fn text(s: &str) -> Value {
    Value::Text(s.into())
}
fn list(items: &[&str]) -> Value {
    Value::List(items.iter().map(|s| s.to_string()).collect())
}
/// The defaults with a name: valid in both example connectors.
fn valid() -> Values {
    let mut v = default_values();
    v.insert(CONNECTOR.name_field().id.into(), text("Nightly builds"));
    v
}
fn rules(values: Values) -> Vec<(String, Rule)> {
    Settings::parse(values)
        .unwrap_err()
        .into_iter()
        .map(|e| (e.field, e.rule))
        .collect()
}
fn with(key: &str, value: Value) -> Values {
    let mut v = valid();
    v.insert(key.into(), value);
    v
}

#[test]
#[cfg_attr(
    not(default_connector),
    ignore = "checks the fields of the default connector.toml"
)]
fn the_default_connector_toml_describes_the_notification_form() {
    let ids: Vec<_> = CONNECTOR.fields.iter().map(|f| f.id).collect();
    assert_eq!(
        ids,
        [
            "subscription_name",
            "events",
            "filter",
            "card_style",
            "mention_channel"
        ]
    );
    assert_eq!(CONNECTOR.name, "Build Notifications");
    assert_eq!(
        Field::by_id("events").unwrap().label.get(Locale::De),
        "Empfangene Ereignisse"
    );
}

#[test]
#[cfg_attr(
    not(default_connector),
    ignore = "checks the fields of the default connector.toml"
)]
fn valid_settings_parse_and_are_normalised() {
    let mut v = valid();
    v.insert("subscription_name".into(), text("  Nightly builds "));
    v.insert(
        "events".into(),
        list(&["incident_opened", "build_failed", "build_failed"]),
    );
    v.remove("filter");
    let s = Settings::parse(v).unwrap();
    assert_eq!(s.config_name(), "Nightly builds");
    assert_eq!(
        s.values()["events"],
        list(&["build_failed", "incident_opened"])
    );
    assert_eq!(s.values()["filter"], text(""));
}

#[test]
#[cfg_attr(
    not(default_connector),
    ignore = "checks the fields of the default connector.toml"
)]
fn defaults_are_invalid_only_because_the_name_is_empty() {
    assert_eq!(
        rules(default_values()),
        [("subscription_name".into(), Rule::Required)]
    );
}

#[test]
#[cfg_attr(
    not(default_connector),
    ignore = "checks the fields of the default connector.toml"
)]
fn text_rules() {
    assert_eq!(
        rules(with("subscription_name", text("ab"))),
        [("subscription_name".into(), Rule::MinLength(3))]
    );
    assert_eq!(
        rules(with("subscription_name", text("   "))),
        [("subscription_name".into(), Rule::Required)]
    );
    assert_eq!(
        rules(with("subscription_name", text(&"a".repeat(61)))),
        [("subscription_name".into(), Rule::MaxLength(60))]
    );
    assert_eq!(
        rules(with("subscription_name", text("<script>"))),
        [("subscription_name".into(), Rule::Pattern)]
    );
    assert_eq!(
        rules(with("filter", text("a\u{7}b"))),
        [("filter".into(), Rule::Pattern)]
    );
    assert_eq!(
        rules(with("subscription_name", Value::Bool(true))),
        [("subscription_name".into(), Rule::WrongType("text"))]
    );
    assert!(Settings::parse(with("filter", text(""))).is_ok());
    assert!(Settings::parse(with("subscription_name", text("Größe (prod) v1.2"))).is_ok());
}

#[test]
#[cfg_attr(
    not(default_connector),
    ignore = "checks the fields of the default connector.toml"
)]
fn choice_rules() {
    assert_eq!(
        rules(with("events", list(&[]))),
        [("events".into(), Rule::MinSelected(1))]
    );
    assert_eq!(
        rules(with("events", list(&["nope"]))),
        [("events".into(), Rule::NotAnOption("nope".into()))]
    );
    assert_eq!(
        rules(with("events", text("build_failed"))),
        [("events".into(), Rule::WrongType("a list of option values"))]
    );
    assert_eq!(
        rules(with("card_style", text("huge"))),
        [("card_style".into(), Rule::NotAnOption("huge".into()))]
    );
    let mut v = valid();
    v.remove("card_style");
    assert_eq!(rules(v), [("card_style".into(), Rule::Required)]);
}

#[test]
#[cfg_attr(
    not(default_connector),
    ignore = "checks the fields of the default connector.toml"
)]
fn toggle_and_unknown_fields() {
    assert_eq!(
        rules(with("mention_channel", text("yes"))),
        [("mention_channel".into(), Rule::WrongType("true or false"))]
    );
    assert_eq!(
        rules(with("colour", text("red"))),
        [("colour".into(), Rule::UnknownField)]
    );
}

#[test]
#[cfg_attr(
    not(default_connector),
    ignore = "checks the fields of the default connector.toml"
)]
fn every_broken_rule_is_reported_at_once_with_a_message() {
    let mut v = default_values();
    v.insert("events".into(), list(&[]));
    let errs = Settings::parse(v).unwrap_err();
    assert_eq!(errs.len(), 2);
    assert_eq!(errs[1].message(Locale::En), "Choose at least one.");
    assert_eq!(
        errs[1].message(Locale::De),
        "Bitte mindestens eine Möglichkeit wählen."
    );
    let pattern = FieldError {
        field: "subscription_name".into(),
        rule: Rule::Pattern,
    };
    assert!(pattern.message(Locale::En).contains("letters, digits"));
}

#[test]
#[cfg_attr(
    not(default_connector),
    ignore = "checks the fields of the default connector.toml"
)]
fn values_round_trip_as_plain_json() {
    let json = serde_json::to_string(&valid()).unwrap();
    assert!(
        json.contains(r#""events":["build_failed","incident_opened"]"#),
        "{json}"
    );
    let back: Values = serde_json::from_str(&json).unwrap();
    assert_eq!(back, valid());
}

#[test]
fn a_value_of_another_type_names_what_was_expected() {
    for bad in ["5", "null", r#"{"a":1}"#, r#"["a",2]"#] {
        let err = serde_json::from_str::<Value>(bad).unwrap_err().to_string();
        assert!(
            err.contains("a text, a list of texts, or true/false")
                || err.contains("expected a string"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn entity_ids_are_url_safe() {
    assert!(EntityId::parse("3f2a9c1e-0b7d-4c55-9e61-7a0d3f1b2c4d").is_ok());
    assert!(EntityId::parse("").unwrap_err().contains("1 to 100"));
    assert!(EntityId::parse(&"a".repeat(101)).is_err());
    assert!(EntityId::parse("a/b").unwrap_err().contains("'a/b'"));
}

#[test]
fn locales_fall_back_to_the_language_then_english() {
    assert_eq!(Locale::from_tag("de-AT"), Locale::De);
    assert_eq!(Locale::from_tag("de"), Locale::De);
    assert_eq!(Locale::from_tag("fr-CA"), Locale::Fr);
    assert_eq!(Locale::from_tag("es-ES"), Locale::En);
    assert_eq!(Locale::from_tag(""), Locale::En);
}

// ---- connector.toml ----

const HEAD: &str = r##"[connector]
id = "x"
name = "X"
short_description = "s"
full_description = "f"
accent_color = "#112233"
developer_name = "d"
website_url = "https://e.com"
privacy_url = "https://e.com/p"
terms_url = "https://e.com/t"
"##;

const NAME_FIELD: &str = r#"
[[field]]
id = "name"
kind = "text"
label = "Name"
help = "h"
required = true
config_name = true
"#;

/// The events field every connector needs.
const EVENTS_FIELD: &str = r#"
[[field]]
id = "kinds"
kind = "multi_choice"
label = "Kinds"
help = "h"
role = "events"
options = [{ value = "up", label = "Up" }, { value = "down", label = "Down" }]
"#;

fn spec_err(extra: &str) -> spec::SpecError {
    spec::parse(&format!("{HEAD}{NAME_FIELD}{extra}")).unwrap_err()
}

#[test]
fn the_shipped_file_parses_and_generates_code() {
    let src =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../connector.toml")).unwrap();
    let s = spec::parse(&src).unwrap();
    assert_eq!(s.fields.len(), 5);
    assert!(
        s.account.is_none(),
        "the default connector has no [account]"
    );
    assert!(spec::to_rust(&s).contains("FieldKind::MultiChoice"));
    assert!(spec::to_rust(&s).contains("account: None,"));
}

const ACCOUNT: &str = r#"
[account]
service = "Uptime Watch"
issuer = "https://id.example.org"
client_id = "teams-app"
"#;

fn account_spec(extra: &str) -> Result<spec::Spec, spec::SpecError> {
    spec::parse(&format!("{HEAD}{NAME_FIELD}{EVENTS_FIELD}{ACCOUNT}{extra}"))
}

#[test]
fn an_account_section_gets_its_defaults_and_openid_first() {
    let s = account_spec("").unwrap();
    let a = s.account.unwrap();
    assert_eq!(
        a.service,
        vec![("en".to_string(), "Uptime Watch".to_string())]
    );
    assert_eq!(a.scopes, ["openid", "profile"]);
    assert_eq!(
        (a.account_claim.as_str(), a.name_claim.as_str()),
        ("sub", "name")
    );
    let s = account_spec("scopes = [\"email\"]\naccount_claim = \"org\"\n").unwrap();
    let a = s.account.as_ref().unwrap();
    assert_eq!(a.scopes, ["openid", "email"]);
    assert_eq!(a.account_claim, "org");
    let code = spec::to_rust(&s);
    assert!(
        code.contains(r#"scopes: &["openid", "email"], account_claim: "org""#),
        "{code}"
    );
}

#[test]
fn a_bad_account_section_names_the_key() {
    let issuer = |v: &str| {
        let src = format!("{HEAD}{NAME_FIELD}{EVENTS_FIELD}\n[account]\nservice = \"S\"\nissuer = \"{v}\"\nclient_id = \"c\"\n");
        spec::parse(&src).unwrap_err()
    };
    for bad in [
        "http://id.example.org",
        "id.example.org",
        "https://",
        "https://id.example.org/?x=1",
    ] {
        let e = issuer(bad);
        assert!(
            e.message.contains("[account] issuer") && e.message.contains(bad),
            "{bad}: {e}"
        );
    }
    let src = format!("{HEAD}{NAME_FIELD}{EVENTS_FIELD}\n[account]\nservice = \"S\"\nissuer = \"http://127.0.0.1:4011\"\nclient_id = \"c\"\n");
    assert!(
        spec::parse(&src).is_ok(),
        "http on loopback is allowed for development"
    );
    for (extra, key) in [
        ("name_claim = \"full name\"\n", "name_claim"),
        ("account_claim = \"\"\n", "account_claim"),
        ("scopes = [\"a b\"]\n", "scopes"),
        ("audience = \"x\"\n", "audience"),
    ] {
        let e = account_spec(extra).unwrap_err();
        assert!(e.message.contains(key), "{extra}: {e}");
    }
    let no_client = format!(
        "{HEAD}{NAME_FIELD}{EVENTS_FIELD}\n[account]\nservice = \"S\"\nissuer = \"https://i\"\n"
    );
    let e = spec::parse(&no_client).unwrap_err();
    assert!(e.message.contains("client_id"), "{e}");
    let bad_id = format!("{HEAD}{NAME_FIELD}{EVENTS_FIELD}\n[account]\nservice = \"S\"\nissuer = \"https://i\"\nclient_id = \"my app\"\n");
    let e = spec::parse(&bad_id).unwrap_err();
    assert!(e.message.contains("[account] client_id 'my app'"), "{e}");
    let no_service = format!("{HEAD}{NAME_FIELD}{EVENTS_FIELD}\n[account]\nservice = {{ fr = \"S\" }}\nissuer = \"https://i\"\nclient_id = \"c\"\n");
    let e = spec::parse(&no_service).unwrap_err();
    assert!(e.message.contains("[account] service"), "{e}");
}

#[test]
fn a_minimal_file_parses() {
    let s = spec::parse(&format!("{HEAD}{NAME_FIELD}{EVENTS_FIELD}")).unwrap();
    assert_eq!(s.accent_color, "#112233");
    assert_eq!(s.fields[1].role, Some(Role::Events));
}

#[test]
fn toml_syntax_errors_name_the_line() {
    let e = spec_err("\n[[field]]\nid = \n");
    assert_eq!(e.line, 21, "{e}");
}

#[test]
fn unknown_keys_name_the_key_and_line() {
    let e = spec_err(
        "\n[[field]]\nid = \"a\"\nkind = \"toggle\"\nlabel = \"A\"\nhelp = \"h\"\ncolour = 1\n",
    );
    assert!(e.message.contains("colour"), "{e}");
    assert!(e.line >= 21, "{e}");
}

#[test]
fn semantic_errors_name_the_line_and_the_problem() {
    let cases: &[(&str, &str, usize)] = &[
        ("\n[[field]]\nid = \"a\"\nkind = \"slider\"\nlabel = \"A\"\nhelp = \"h\"\n", "kind 'slider'", 22),
        ("\n[[field]]\nid = \"Bad-Id\"\nkind = \"toggle\"\nlabel = \"A\"\nhelp = \"h\"\n", "snake_case", 21),
        ("\n[[field]]\nid = \"name\"\nkind = \"toggle\"\nlabel = \"A\"\nhelp = \"h\"\n", "used twice", 21),
        ("\n[[field]]\nid = \"a\"\nkind = \"toggle\"\nlabel = \"A\"\nhelp = \"h\"\nmin_length = 2\n", "'min_length' does not apply", 25),
        ("\n[[field]]\nid = \"a\"\nkind = \"text\"\nlabel = \"A\"\nhelp = \"h\"\nmin_length = 9\nmax_length = 3\n", "more than its max_length", 25),
        ("\n[[field]]\nid = \"a\"\nkind = \"text\"\nlabel = \"A\"\nhelp = \"h\"\nmax_length = 5000\n", "between 1 and 1000", 25),
        ("\n[[field]]\nid = \"a\"\nkind = \"text\"\nlabel = \"A\"\nhelp = \"h\"\npattern = \"[a-z\"\n", "never closed", 25),
        ("\n[[field]]\nid = \"a\"\nkind = \"single_choice\"\nlabel = \"A\"\nhelp = \"h\"\n", "needs options", 20),
        ("\n[[field]]\nid = \"a\"\nkind = \"single_choice\"\nlabel = \"A\"\nhelp = \"h\"\noptions = [{ value = \"x\", label = \"X\" }]\n", "at least two options", 25),
        ("\n[[field]]\nid = \"a\"\nkind = \"single_choice\"\nlabel = \"A\"\nhelp = \"h\"\noptions = [{ value = \"x\", label = \"X\" }, { value = \"y\", label = \"Y\" }]\ndefault = \"z\"\n", "not one of its option values", 26),
        ("\n[[field]]\nid = \"a\"\nkind = \"multi_choice\"\nlabel = \"A\"\nhelp = \"h\"\nmin_selected = 3\noptions = [{ value = \"x\", label = \"X\" }, { value = \"y\", label = \"Y\" }]\n", "more than its 2 options", 25),
        ("\n[[field]]\nid = \"a\"\nkind = \"toggle\"\nlabel = { de = \"A\" }\nhelp = \"h\"\n", "no English text", 23),
        ("\n[[field]]\nid = \"a\"\nkind = \"toggle\"\nlabel = \"A\"\nhelp = \"h\"\ndefault = \"yes\"\n", "true or false", 25),
    ];
    for (extra, want, line) in cases {
        let e = spec_err(extra);
        assert!(e.message.contains(want), "expected '{want}' in '{e}'");
        assert_eq!(e.line, *line, "line of '{e}'");
        assert!(e
            .to_string()
            .starts_with(&format!("connector.toml:{line}: ")));
    }
}

#[test]
fn connector_block_errors() {
    let bad_colour = HEAD.replace("#112233", "blue");
    let e = spec::parse(&format!("{bad_colour}{NAME_FIELD}")).unwrap_err();
    assert!(
        e.message.contains("accent_color 'blue'") && e.line == 6,
        "{e}"
    );
    let http = HEAD.replace("https://e.com/p", "http://e.com/p");
    assert!(spec::parse(&format!("{http}{NAME_FIELD}"))
        .unwrap_err()
        .message
        .contains("https://"));
    assert!(spec::parse(HEAD)
        .unwrap_err()
        .message
        .contains("no [[field]]"));
    let no_name = NAME_FIELD.replace("config_name = true\n", "");
    assert!(spec::parse(&format!("{HEAD}{no_name}"))
        .unwrap_err()
        .message
        .contains("config_name"));
    let missing = HEAD.replace("name = \"X\"\n", "");
    assert!(spec::parse(&format!("{missing}{NAME_FIELD}"))
        .unwrap_err()
        .message
        .contains("name"));
}

#[test]
fn numbers_in_messages_follow_the_locale() {
    assert_eq!(Locale::En.number(0), "0");
    assert_eq!(Locale::En.number(999), "999");
    assert_eq!(Locale::En.number(1500), "1,500");
    assert_eq!(Locale::De.number(1500), "1.500");
    assert_eq!(Locale::De.number(4_294_967_295), "4.294.967.295");
    let long = FieldError {
        field: "filter".into(),
        rule: Rule::MaxLength(1500),
    };
    assert_eq!(long.message(Locale::En), "Use at most 1,500 characters.");
    assert_eq!(long.message(Locale::De), "Höchstens 1.500 Zeichen.");
    assert_eq!(Locale::Fr.number(1500), "1\u{202F}500");
    assert_eq!(long.message(Locale::Fr), "Au plus 1\u{202F}500 caractères.");
}

// ---- roles ----

#[test]
fn every_connector_declares_what_the_server_needs() {
    let events = CONNECTOR.events_field();
    assert!(matches!(events.kind, FieldKind::MultiChoice { .. }));
    assert_eq!(events.role, Some(Role::Events));
    assert!(CONNECTOR.event_types().len() >= 2);
    assert!(matches!(
        CONNECTOR.name_field().kind,
        FieldKind::Text {
            config_name: true,
            ..
        }
    ));
    for role in [Role::Events, Role::Filter, Role::CardStyle, Role::Highlight] {
        let with: Vec<_> = CONNECTOR
            .fields
            .iter()
            .filter(|f| f.role == Some(role))
            .collect();
        assert!(with.len() <= 1, "{role:?}");
    }
    if let Some(f) = CONNECTOR.filter_field() {
        assert!(matches!(f.kind, FieldKind::Text { .. }));
    }
    if let Some(f) = CONNECTOR.card_style_field() {
        let FieldKind::SingleChoice { options, .. } = f.kind else {
            panic!("{} is not a single choice", f.id)
        };
        assert!(options.iter().all(|o| o.card.is_some()));
    }
    let highlighted = CONNECTOR.event_types().iter().any(|t| t.highlight);
    assert_eq!(CONNECTOR.highlight_field().is_some(), highlighted);
    if let Some(f) = CONNECTOR.highlight_field() {
        assert!(matches!(f.kind, FieldKind::Toggle { .. }));
    }
}

#[test]
fn a_subscription_reads_the_fields_by_their_roles() {
    let types = CONNECTOR.event_types();
    let (first, last) = (types[0].value, types[types.len() - 1].value);
    let filter = CONNECTOR.filter_field().expect("a filter field");
    let style = CONNECTOR.card_style_field().expect("a card style field");
    let compact = CONNECTOR
        .card_style_value(CardStyle::Compact)
        .expect("a compact option");
    let mut v = valid();
    v.insert(CONNECTOR.events_field().id.into(), list(&[last]));
    v.insert(filter.id.into(), text("  API "));
    v.insert(style.id.into(), text(compact));
    if let Some(h) = CONNECTOR.highlight_field() {
        v.insert(h.id.into(), Value::Bool(true));
    }
    // What the roles read is what the form's own rules accept.
    let settings = Settings::parse(v).unwrap();
    let sub = Subscription::of(settings.values());
    assert_eq!(
        sub,
        Subscription {
            events: vec![last],
            filter: Some("api".into()),
            style: CardStyle::Compact,
            highlight: CONNECTOR.highlight_field().is_some(),
        }
    );
    assert!(sub.wants(last, "billing-Api-v2"));
    assert!(!sub.wants(last, "web"));
    assert!(!sub.wants(first, "api"));
    assert!(!sub.wants("never_declared", "api"));
    for t in types {
        assert_eq!(sub.highlights(t.value), t.highlight, "{}", t.value);
    }
    let off = Subscription {
        highlight: false,
        ..sub
    };
    assert!(types.iter().all(|t| !off.highlights(t.value)));
}

#[test]
fn a_new_connection_subscribes_to_the_declared_defaults() {
    let sub = Subscription::of(&default_values());
    let FieldKind::MultiChoice { default, .. } = CONNECTOR.events_field().kind else {
        unreachable!()
    };
    let mut want: Vec<&str> = default.to_vec();
    let mut got = sub.events.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(sub.filter, None);
    if let Some(FieldKind::SingleChoice { options, default }) =
        CONNECTOR.card_style_field().map(|f| &f.kind)
    {
        let value = default.unwrap_or(options[0].value);
        let card = options.iter().find(|o| o.value == value).unwrap().card;
        assert_eq!(Some(sub.style), card);
    }
    if let Some(FieldKind::Toggle { default }) = CONNECTOR.highlight_field().map(|f| &f.kind) {
        assert_eq!(sub.highlight, *default);
    }
}

#[test]
fn values_stored_under_an_older_form_degrade_gently() {
    let kind = CONNECTOR.event_types()[0].value;
    let mut v = Values::new();
    v.insert(
        CONNECTOR.events_field().id.into(),
        list(&["renamed_since", kind]),
    );
    v.insert(
        CONNECTOR.card_style_field().unwrap().id.into(),
        text("gone"),
    );
    let sub = Subscription::of(&v);
    assert_eq!(sub.events, [kind]);
    assert_eq!(sub.style, Subscription::of(&default_values()).style);
    assert!(!sub.highlight);
    let nothing = Subscription::of(&Values::new());
    assert!(nothing.events.is_empty() && !nothing.wants(kind, ""));
}

#[test]
#[cfg_attr(
    not(default_connector),
    ignore = "checks the fields of the default connector.toml"
)]
fn the_default_connector_gives_its_fields_roles() {
    assert_eq!(CONNECTOR.events_field().id, "events");
    assert_eq!(CONNECTOR.filter_field().unwrap().id, "filter");
    assert_eq!(CONNECTOR.card_style_field().unwrap().id, "card_style");
    assert_eq!(CONNECTOR.highlight_field().unwrap().id, "mention_channel");
    assert_eq!(CONNECTOR.name_field().id, "subscription_name");
    let marked: Vec<&str> = CONNECTOR
        .event_types()
        .iter()
        .filter(|t| t.highlight)
        .map(|t| t.value)
        .collect();
    assert_eq!(marked, ["incident_opened"]);
    assert_eq!(
        CONNECTOR.card_style_value(CardStyle::Detailed),
        Some("detailed")
    );
}

#[test]
fn the_second_example_connector_is_another_connector_in_another_language() {
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../connectors/uptime-watch.toml"
    ))
    .unwrap();
    let s = spec::parse(&src).unwrap();
    assert_eq!(s.id, "uptime-watch");
    assert_eq!(s.accent_color, "#0F7B6C");
    let roles: Vec<_> = s.fields.iter().map(|f| (f.id.as_str(), f.role)).collect();
    assert_eq!(
        roles,
        [
            ("libelle", None),
            ("alertes", Some(Role::Events)),
            ("sites", Some(Role::Filter)),
            ("presentation", Some(Role::CardStyle)),
            ("escalade", Some(Role::Highlight)),
            ("remarques", None),
        ]
    );
    assert!(s.fields[0]
        .label
        .iter()
        .any(|(l, t)| l == "fr" && t == "Libellé"));
    let account = s.account.as_ref().expect("uptime-watch declares [account]");
    assert_eq!(account.issuer, "http://127.0.0.1:4011");
    assert_eq!(account.client_id, "uptime-watch-teams");
    assert_eq!(account.account_claim, "org");
    let code = spec::to_rust(&s);
    assert!(code.contains("account: Some(AccountSpec {"), "{code}");
    assert!(code.contains("role: Some(Role::CardStyle)"), "{code}");
    assert!(code.contains("card: Some(CardStyle::Compact)"), "{code}");
    assert!(code.contains("highlight: true"), "{code}");
}

/// The 1-based line of the only occurrence of `needle` in `src`.
fn line_of(src: &str, needle: &str) -> usize {
    assert_eq!(src.matches(needle).count(), 1, "'{needle}' once in\n{src}");
    src[..src.find(needle).unwrap()].matches('\n').count() + 1
}

/// A choice field `id` of `kind` with `extra` keys and `options`, one per line.
fn choice(id: &str, kind: &str, extra: &str, options: &[&str]) -> String {
    format!(
        "\n[[field]]\nid = \"{id}\"\nkind = \"{kind}\"\nlabel = \"A\"\nhelp = \"h\"\n{extra}\noptions = [\n  {}\n]\n",
        options.join(",\n  ")
    )
}

/// A field `id` of `kind` with `extra` keys.
fn plain(id: &str, kind: &str, extra: &str) -> String {
    format!("\n[[field]]\nid = \"{id}\"\nkind = \"{kind}\"\nlabel = \"A\"\nhelp = \"h\"\n{extra}\n")
}

#[test]
fn role_mistakes_name_the_line_and_the_problem() {
    let up = r#"{ value = "up", label = "Up" }"#;
    let down = r#"{ value = "down", label = "Down" }"#;
    let marked = r#"{ value = "down", label = "Down", highlight = true }"#;
    let compact = r#"{ value = "small", label = "S", card = "compact" }"#;
    let events = choice("kinds", "multi_choice", r#"role = "events""#, &[up, down]);
    let events_marked = choice("kinds", "multi_choice", r#"role = "events""#, &[up, marked]);
    let cases: Vec<(String, &str, &str)> = vec![
        (
            plain("a", "toggle", r#"role = "colour""#) + &events,
            "role = \"colour\"",
            "has role 'colour'; expected events, filter, card_style or highlight",
        ),
        (
            plain("a", "toggle", r#"role = "events""#),
            "role = \"events\"",
            "role = \"events\" needs a multi_choice field; field 'a' is toggle",
        ),
        (
            plain("a", "toggle", r#"role = "filter""#) + &events,
            "role = \"filter\"",
            "needs a text field; field 'a' is toggle",
        ),
        (
            choice("a", "multi_choice", r#"role = "card_style""#, &[up, down]) + &events,
            "role = \"card_style\"",
            "needs a single_choice field; field 'a' is multi_choice",
        ),
        (
            plain("a", "text", r#"role = "highlight""#) + &events,
            "role = \"highlight\"",
            "needs a toggle field; field 'a' is text",
        ),
        (
            plain("a", "text", r#"role = "filter""#) + &plain("b", "text", "role  = \"filter\"") + &events,
            "role  = \"filter\"",
            "field 'b' has role = \"filter\" but field 'a' (line 25) has it already; at most one field per role",
        ),
        (
            plain("a", "toggle", ""),
            "[connector]",
            "no field has role = \"events\"",
        ),
        (
            choice("style", "single_choice", r#"role = "card_style""#, &[compact, r#"{ value = "big", label = "B" }"#]) + &events,
            r#"{ value = "big""#,
            "option 'big' of field 'style' needs card = \"compact\" or card = \"detailed\"",
        ),
        (
            choice("style", "single_choice", r#"role = "card_style""#, &[compact, r#"{ value = "big", label = "B", card = "huge" }"#]) + &events,
            r#""huge""#,
            "card 'huge' of option 'big' of field 'style' is not compact or detailed",
        ),
        (
            choice("kinds", "multi_choice", r#"role = "events""#, &[up, r#"{ value = "down", label = "Down", card = "compact" }"#]),
            r#""compact""#,
            "'card' of option 'down' of field 'kinds' applies only to the options of the field with role = \"card_style\"",
        ),
        (
            choice("size", "single_choice", "", &[up, marked]) + &events,
            "highlight = true",
            "'highlight' of option 'down' of field 'size' applies only to the options of the field with role = \"events\"",
        ),
        (
            events.clone() + &plain("urgent", "toggle", r#"role = "highlight""#),
            "role = \"highlight\"",
            "the highlight toggle 'urgent' highlights nothing: give highlight = true to the options of field 'kinds'",
        ),
        (
            events_marked.clone(),
            "highlight = true",
            "options of field 'kinds' have highlight = true, but no toggle field has role = \"highlight\"",
        ),
    ];
    for (fields, at, want) in &cases {
        let src = format!("{HEAD}{NAME_FIELD}{fields}");
        let e = spec::parse(&src).unwrap_err();
        assert!(e.message.contains(want), "expected '{want}' in '{e}'");
        assert_eq!(e.line, line_of(&src, at), "line of '{e}'");
    }
    // The same fields, done right, parse.
    let good = format!(
        "{HEAD}{NAME_FIELD}{events_marked}{}{}{}",
        plain("urgent", "toggle", r#"role = "highlight""#),
        plain("project", "text", r#"role = "filter""#),
        choice(
            "style",
            "single_choice",
            r#"role = "card_style""#,
            &[
                compact,
                r#"{ value = "big", label = "B", card = "detailed" }"#
            ]
        ),
    );
    let s = spec::parse(&good).unwrap();
    let roles: Vec<_> = s.fields.iter().filter_map(|f| f.role).collect();
    assert_eq!(
        roles,
        [Role::Events, Role::Highlight, Role::Filter, Role::CardStyle]
    );
}

#[test]
fn kinds_roles_and_card_styles_are_named_by_one_table_each() {
    for (kind, name) in KindName::ALL {
        assert_eq!(kind.name(), *name);
        assert_eq!(KindName::from_name(name), Some(*kind));
    }
    for (role, name) in Role::ALL {
        assert_eq!(role.name(), *name);
        assert_eq!(Role::from_name(name), Some(*role));
    }
    for (style, name) in CardStyle::ALL {
        assert_eq!(style.name(), *name);
        assert_eq!(CardStyle::from_name(name), Some(*style));
    }
    assert_eq!(KindName::from_name("Text"), None);
    for field in CONNECTOR.fields {
        if let Some(role) = field.role {
            assert_eq!(field.kind.kind_name(), role.kind(), "field {}", field.id);
        }
    }
}
