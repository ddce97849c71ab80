//! Every field rule, and every error a malformed `connector.toml` can produce.

use super::*;

fn text(s: &str) -> Value {
    Value::Text(s.into())
}
fn list(items: &[&str]) -> Value {
    Value::List(items.iter().map(|s| s.to_string()).collect())
}
fn valid() -> Values {
    let mut v = default_values();
    v.insert("subscription_name".into(), text("Nightly builds"));
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
fn defaults_are_invalid_only_because_the_name_is_empty() {
    assert_eq!(
        rules(default_values()),
        [("subscription_name".into(), Rule::Required)]
    );
}

#[test]
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
    assert_eq!(Locale::from_tag("fr-FR"), Locale::En);
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

fn spec_err(extra: &str) -> spec::SpecError {
    spec::parse(&format!("{HEAD}{NAME_FIELD}{extra}")).unwrap_err()
}

#[test]
fn the_shipped_file_parses_and_generates_code() {
    let src =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../connector.toml")).unwrap();
    let s = spec::parse(&src).unwrap();
    assert_eq!(s.fields.len(), 5);
    assert!(spec::to_rust(&s).contains("FieldKind::MultiChoice"));
}

#[test]
fn a_minimal_file_parses() {
    let s = spec::parse(&format!("{HEAD}{NAME_FIELD}")).unwrap();
    assert_eq!(s.accent_color, "#112233");
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
}
