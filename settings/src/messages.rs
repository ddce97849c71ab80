//! The languages the form speaks, and the words for each broken rule in them.

use crate::{Field, FieldError, FieldKind, Rule};

/// A language the form is complete in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Locale {
    #[default]
    En,
    De,
    Fr,
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
            "fr" => Locale::Fr,
            _ => Locale::En,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::De => "de",
            Locale::Fr => "fr",
        }
    }

    /// `n` as this locale writes it (CLDR grouping): 1,500 in English, 1.500 in German,
    /// 1 500 in French (a narrow no-break space).
    pub fn number(self, n: u32) -> String {
        let sep = match self {
            Locale::En => ',',
            Locale::De => '.',
            Locale::Fr => '\u{202F}',
        };
        let digits = n.to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, d) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(sep);
            }
            out.push(d);
        }
        out
    }
}

impl FieldError {
    /// What is wrong, in words for the person who typed it.
    pub fn message(&self, locale: Locale) -> String {
        let field = Field::by_id(&self.field);
        let (de, fr) = (locale == Locale::De, locale == Locale::Fr);
        let num = |n: &u32| locale.number(*n);
        match &self.rule {
            Rule::Required if de => "Bitte ausfüllen.".into(),
            Rule::Required if fr => "Ce champ est obligatoire.".into(),
            Rule::Required => "This field is required.".into(),
            Rule::MinLength(n) if de => format!("Mindestens {} Zeichen.", num(n)),
            Rule::MinLength(n) if fr => format!("Au moins {} caractères.", num(n)),
            Rule::MinLength(n) => format!("Use at least {} characters.", num(n)),
            Rule::MaxLength(n) if de => format!("Höchstens {} Zeichen.", num(n)),
            Rule::MaxLength(n) if fr => format!("Au plus {} caractères.", num(n)),
            Rule::MaxLength(n) => format!("Use at most {} characters.", num(n)),
            Rule::Pattern => match field.map(|f| &f.kind) {
                Some(FieldKind::Text {
                    pattern_help: Some(help),
                    ..
                }) => help.get(locale).to_string(),
                _ if de => "Enthält nicht erlaubte Zeichen.".into(),
                _ if fr => "Contient des caractères non autorisés.".into(),
                _ => "Contains characters that are not allowed.".into(),
            },
            Rule::NotAnOption(v) if de => format!("'{v}' ist keine der Auswahlmöglichkeiten."),
            Rule::NotAnOption(v) if fr => format!("'{v}' ne fait pas partie des choix."),
            Rule::NotAnOption(v) => format!("'{v}' is not one of the choices."),
            Rule::MinSelected(1) if de => "Bitte mindestens eine Möglichkeit wählen.".into(),
            Rule::MinSelected(1) if fr => "Choisissez-en au moins un.".into(),
            Rule::MinSelected(1) => "Choose at least one.".into(),
            Rule::MinSelected(n) if de => {
                format!("Bitte mindestens {} Möglichkeiten wählen.", num(n))
            }
            Rule::MinSelected(n) if fr => format!("Choisissez-en au moins {}.", num(n)),
            Rule::MinSelected(n) => format!("Choose at least {}.", num(n)),
            Rule::WrongType(want) if de => format!("Erwartet: {want}."),
            Rule::WrongType(want) if fr => format!("Attendu : {want}."),
            Rule::WrongType(want) => format!("Expected {want}."),
            Rule::UnknownField if de => format!("'{}' ist kein Feld dieses Formulars.", self.field),
            Rule::UnknownField if fr => {
                format!("'{}' n'est pas un champ de ce formulaire.", self.field)
            }
            Rule::UnknownField => format!("'{}' is not a field of this form.", self.field),
        }
    }
}
