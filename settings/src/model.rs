//! The names `connector.toml` uses for field kinds, roles and card styles: one definition,
//! compiled into both the crate and its build script (`#[path]` in `build/main.rs`), so the
//! file's words, the build's checks and the generated Rust cannot drift apart.
//!
//! Each enum below is written once, variant beside its name, by `named!`: its table `ALL`
//! lists every variant by construction, and adding a variant makes every exhaustive
//! `match` on it (in the build, the server and the page) fail to compile until handled.

/// An enum whose variants each have a name in `connector.toml`, with the table of them.
macro_rules! named {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $word:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// Every variant with its name in `connector.toml`, in declaration order.
            pub const ALL: &'static [($name, &'static str)] = &[ $( ($name::$variant, $word), )+ ];

            /// The name in `connector.toml`.
            pub fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $word, )+
                }
            }

            /// The variant `connector.toml` calls `word`.
            pub fn from_name(word: &str) -> Option<$name> {
                $name::ALL.iter().find(|(_, w)| *w == word).map(|(v, _)| *v)
            }
        }
    };
}

named! {
    /// Which kind of control a field is (`kind = "…"`), without its rules (the crate's
    /// `FieldKind::kind_name`).
    pub enum KindName {
        /// One line of text.
        Text = "text",
        /// One of several options (radios).
        SingleChoice = "single_choice",
        /// Any of several options (checkboxes).
        MultiChoice = "multi_choice",
        /// On or off (a switch).
        Toggle = "toggle",
    }
}

named! {
    /// The part a field plays in delivering events (`role = "…"`). The build checks that at
    /// most one field has each role, that it is of the kind [`Role::kind`] says, and that
    /// exactly one has [`Role::Events`].
    pub enum Role {
        /// A multiple-choice field whose options are the event types; a connection receives
        /// the types it chose.
        Events = "events",
        /// A text field: only events whose `project` contains it, ignoring case.
        Filter = "filter",
        /// A single-choice field whose options each pick a [`CardStyle`] (`card = "…"`).
        CardStyle = "card_style",
        /// A toggle: when on, cards of the event types marked `highlight` are highlighted.
        Highlight = "highlight",
    }
}

impl Role {
    /// The kind of field that can have this role.
    pub fn kind(self) -> KindName {
        match self {
            Role::Events => KindName::MultiChoice,
            Role::Filter => KindName::Text,
            Role::CardStyle => KindName::SingleChoice,
            Role::Highlight => KindName::Toggle,
        }
    }
}

named! {
    /// How much of an event a card shows (`card = "…"` of an option of the card-style field).
    pub enum CardStyle {
        /// The title and the link.
        Compact = "compact",
        /// The title, the link, the text and every fact.
        Detailed = "detailed",
    }
}
