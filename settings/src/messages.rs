//! The languages the form speaks, and the words for each broken rule in them.

use crate::{Field, FieldError, FieldKind, Rule};

/// A language the form is complete in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Locale {
    #[default]
    En,
    De,
}

impl Locale {
    /// The best locale for a BCP 47 tag such as Teams' `de-DE`: the language, else English.
    pub fn from_tag(tag: &str) -> Locale {
        let lang = tag
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match lang.as_str() {
            "de" => Locale::De,
            _ => Locale::En,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::De => "de",
        }
    }
}

impl FieldError {
    /// What is wrong, in words for the person who typed it.
    pub fn message(&self, locale: Locale) -> String {
        let field = Field::by_id(&self.field);
        let de = locale == Locale::De;
        match &self.rule {
            Rule::Required if de => "Bitte ausfüllen.".into(),
            Rule::Required => "This field is required.".into(),
            Rule::MinLength(n) if de => format!("Mindestens {n} Zeichen."),
            Rule::MinLength(n) => format!("Use at least {n} characters."),
            Rule::MaxLength(n) if de => format!("Höchstens {n} Zeichen."),
            Rule::MaxLength(n) => format!("Use at most {n} characters."),
            Rule::Pattern => match field.map(|f| &f.kind) {
                Some(FieldKind::Text {
                    pattern_help: Some(help),
                    ..
                }) => help.get(locale).to_string(),
                _ if de => "Enthält nicht erlaubte Zeichen.".into(),
                _ => "Contains characters that are not allowed.".into(),
            },
            Rule::NotAnOption(v) if de => format!("'{v}' ist keine der Auswahlmöglichkeiten."),
            Rule::NotAnOption(v) => format!("'{v}' is not one of the choices."),
            Rule::MinSelected(1) if de => "Bitte mindestens eine Möglichkeit wählen.".into(),
            Rule::MinSelected(1) => "Choose at least one.".into(),
            Rule::MinSelected(n) if de => format!("Bitte mindestens {n} Möglichkeiten wählen."),
            Rule::MinSelected(n) => format!("Choose at least {n}."),
            Rule::WrongType(want) if de => format!("Erwartet: {want}."),
            Rule::WrongType(want) => format!("Expected {want}."),
            Rule::UnknownField if de => format!("'{}' ist kein Feld dieses Formulars.", self.field),
            Rule::UnknownField => format!("'{}' is not a field of this form.", self.field),
        }
    }
}
