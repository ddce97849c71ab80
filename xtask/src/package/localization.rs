//! `localizationInfo`: the languages the configuration page speaks for this connector, each
//! with its localization file at the zip root (`de.json`, …).

use connector_settings::{Connector, FieldKind, Locale, Text};
use serde_json::{json, Value};

/// The manifest's own language.
pub const DEFAULT: &str = "en";

/// Every language that both the page's own texts and the connector's form speak, English
/// first. Taken from `connector.toml`'s texts, so a connector in English and French declares
/// exactly those two.
pub fn languages(connector: &Connector) -> Vec<&'static str> {
    let mut texts: Vec<&Text> = Vec::new();
    for field in connector.fields {
        texts.extend([&field.label, &field.help]);
        match &field.kind {
            FieldKind::Text { pattern_help, .. } => texts.extend(pattern_help),
            FieldKind::SingleChoice { options, .. } | FieldKind::MultiChoice { options, .. } => {
                texts.extend(options.iter().map(|o| &o.label))
            }
            FieldKind::Toggle { .. } => {}
        }
    }
    let mut out = vec![DEFAULT];
    for (code, _) in texts.iter().flat_map(|t| t.0.iter()) {
        // A language the page's own words (buttons, errors) do not cover would show them in
        // English, so it is not declared.
        let page_speaks = Locale::from_tag(code).code() == *code;
        if page_speaks && !out.contains(code) {
            out.push(code);
        }
    }
    out
}

/// The file name of a language's localization file.
pub fn file_name(language: &str) -> String {
    format!("{language}.json")
}

/// The manifest's `localizationInfo` for `languages` (English first).
pub fn info(languages: &[&str]) -> Value {
    let additional: Vec<Value> = languages
        .iter()
        .filter(|l| **l != DEFAULT)
        .map(|l| json!({ "languageTag": l, "file": file_name(l) }))
        .collect();
    json!({ "defaultLanguageTag": DEFAULT, "additionalLanguages": additional })
}

/// A language's localization file. `connector.toml` gives the app's name and descriptions in
/// one language, so each file carries the manifest's own; the file still tells Teams that the
/// app speaks the language, and a translation goes here once the connector has one.
pub fn file(manifest: &Value, version: &str) -> Value {
    json!({
        "$schema": format!("https://developer.microsoft.com/en-us/json-schemas/teams/v{version}/MicrosoftTeams.Localization.schema.json"),
        "name.short": manifest["name"]["short"],
        "name.full": manifest["name"]["full"],
        "description.short": manifest["description"]["short"],
        "description.full": manifest["description"]["full"],
    })
}

#[cfg(test)]
mod tests {
    use connector_settings::{Choice, Field, CONNECTOR};

    use super::*;

    #[test]
    fn the_default_connector_speaks_english_and_german() {
        assert_eq!(languages(&CONNECTOR), ["en", "de"]);
    }

    static OPTIONS: [Choice; 1] = [Choice {
        value: "down",
        label: Text(&[("en", "Down"), ("fr", "En panne")]),
        card: None,
        highlight: false,
    }];
    static FIELDS: [Field; 2] = [
        Field {
            id: "name",
            label: Text(&[("en", "Name")]),
            help: Text(&[("en", "The name"), ("es", "El nombre")]),
            kind: FieldKind::Toggle { default: false },
            role: None,
        },
        Field {
            id: "alerts",
            label: Text(&[("en", "Alerts")]),
            help: Text(&[("en", "Alerts")]),
            kind: FieldKind::MultiChoice {
                options: &OPTIONS,
                min_selected: 1,
                default: &[],
            },
            role: None,
        },
    ];

    #[test]
    fn languages_come_from_the_connectors_texts_that_the_page_speaks() {
        let uptime = Connector {
            id: "uptime",
            name: "Uptime",
            short_description: "s",
            full_description: "f",
            accent_color: "#000000",
            developer_name: "d",
            website_url: "https://d",
            privacy_url: "https://d",
            terms_url: "https://d",
            fields: &FIELDS,
            account: None,
        };
        // French from an option's label; Spanish is not a language of the page.
        assert_eq!(languages(&uptime), ["en", "fr"]);
        assert_eq!(
            info(&languages(&uptime)),
            json!({ "defaultLanguageTag": "en", "additionalLanguages": [{ "languageTag": "fr", "file": "fr.json" }] })
        );
    }
}
