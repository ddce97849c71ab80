//! The configuration form, rendered from `connector.toml`: one labelled control per field,
//! its help text, and its message once the field was touched.

use std::collections::{BTreeMap, BTreeSet};

use connector_settings::{
    Field, FieldError, FieldKind, Locale, Settings, Value, Values, CONNECTOR,
};
use leptos::prelude::*;

/// The form's state, shared through context.
#[derive(Clone, Copy)]
pub struct FormState {
    pub values: RwSignal<Values>,
    /// Fields the person has left or changed: only they show their message.
    pub touched: RwSignal<BTreeSet<&'static str>>,
    /// After a save attempt every message shows.
    pub show_all: RwSignal<bool>,
    /// Inputs are disabled while this is true (the page's saving signal).
    pub disabled: RwSignal<bool>,
    /// The person's language: known before the form is first built, and never changes
    /// after, so views read it once instead of subscribing to it.
    pub locale: StoredValue<Locale>,
    /// The broken rules of the current values, by field id.
    pub errors: Memo<BTreeMap<String, FieldError>>,
}

impl FormState {
    pub fn new(values: Values, disabled: RwSignal<bool>) -> FormState {
        let values = RwSignal::new(values);
        let errors = Memo::new(move |_| {
            values.with(|v| match Settings::parse(v.clone()) {
                Ok(_) => BTreeMap::new(),
                Err(errs) => {
                    // A loop, not `collect`: collecting into a map sorts, and the sort costs KBs.
                    let mut by_field = BTreeMap::new();
                    for e in errs {
                        by_field.insert(e.field.clone(), e);
                    }
                    by_field
                }
            })
        });
        FormState {
            values,
            touched: RwSignal::new(BTreeSet::new()),
            show_all: RwSignal::new(false),
            disabled,
            locale: StoredValue::new(Locale::En),
            errors,
        }
    }

    pub fn is_valid(&self) -> bool {
        self.errors.with(|e| e.is_empty())
    }

    fn set(&self, id: &'static str, value: Value) {
        self.values.update(|v| {
            v.insert(id.to_string(), value);
        });
        self.touch(id);
    }

    fn touch(&self, id: &'static str) {
        if !self.touched.with_untracked(|t| t.contains(id)) {
            self.touched.update(|t| {
                t.insert(id);
            });
        }
    }

    /// The message to show under field `id`, if any.
    fn message(&self, id: &'static str) -> Option<String> {
        let shown = self.show_all.get() || self.touched.with(|t| t.contains(id));
        if !shown {
            return None;
        }
        let locale = self.locale.get_value();
        self.errors.with(|e| e.get(id).map(|e| e.message(locale)))
    }

    fn text(&self, id: &'static str) -> String {
        self.values.with(|v| match v.get(id) {
            Some(Value::Text(s)) => s.clone(),
            _ => String::new(),
        })
    }

    /// Whether option `value` of choice field `id` is chosen (one text, or in a list).
    fn has_choice(&self, id: &'static str, value: &str) -> bool {
        self.values.with(|v| match v.get(id) {
            Some(Value::Text(s)) => s == value,
            Some(Value::List(items)) => items.iter().any(|s| s == value),
            _ => false,
        })
    }

    /// A radio (`multi` false) or checkbox of field `id` changed to `on`.
    fn choose(&self, id: &'static str, value: &str, multi: bool, on: bool) {
        if !multi {
            self.set(id, Value::Text(value.to_string()));
            return;
        }
        let mut items = self.values.with_untracked(|v| match v.get(id) {
            Some(Value::List(items)) => items.clone(),
            _ => Vec::new(),
        });
        items.retain(|s| s != value);
        if on {
            items.push(value.to_string());
        }
        self.set(id, Value::List(items));
    }

    fn toggled(&self, id: &'static str) -> bool {
        self.values
            .with(|v| matches!(v.get(id), Some(Value::Bool(true))))
    }
}

/// The whole form, in `connector.toml` order.
#[component]
pub fn ConfigForm(
    /// Controls before the declared fields (a tab's webhook URL).
    #[prop(optional)]
    children: Option<Children>,
) -> impl IntoView {
    view! {
        <form class="form" novalidate=true on:submit=|ev| ev.prevent_default()>
            {children.map(|c| c())}
            {CONNECTOR.fields.iter().map(|field| view! { <FieldView field=field /> }).collect_view()}
        </form>
    }
}

/// One field of the form.
#[component]
fn FieldView(
    /// The field's declaration from `connector.toml`.
    field: &'static Field,
) -> impl IntoView {
    let form = expect_context::<FormState>();
    let id = field.id;
    let input_id = format!("field-{id}");
    let help_id = format!("field-{id}-help");
    let error_id = format!("field-{id}-error");
    let described = format!("{help_id} {error_id}");
    let label_for = input_id.clone();
    let locale = form.locale.get_value();
    let label = field.label.get(locale);
    let help = field.help.get(locale);
    let invalid = move || form.message(id).is_some();
    let disabled = move || form.disabled.get();
    let footer = view! {
        <p id=help_id class="help">{help}</p>
        <p id=error_id class="field-error" aria-live="polite">
            {move || form.message(id)}
        </p>
    };
    match &field.kind {
        FieldKind::Text { required, .. } => {
            let required = *required;
            view! {
                <div class="field" class:invalid=invalid>
                    <label class="label" for=label_for>
                        {label}
                        {required.then(|| view! { <span class="required" aria-hidden="true">" *"</span> })}
                    </label>
                    <input
                        id=input_id
                        class="input"
                        type="text"
                        autocomplete="off"
                        aria-describedby=described
                        aria-required=required.to_string()
                        aria-invalid=move || invalid().to_string()
                        disabled=disabled
                        prop:value=move || form.text(id)
                        on:input=move |ev| form.set(id, Value::Text(event_target_value(&ev)))
                        on:blur=move |_| form.touch(id)
                    />
                    {footer}
                </div>
            }
            .into_any()
        }
        FieldKind::SingleChoice { options, .. } | FieldKind::MultiChoice { options, .. } => {
            // One view for both: radios hold one value (a text), checkboxes several (a list).
            let multi = matches!(field.kind, FieldKind::MultiChoice { .. });
            view! {
                <fieldset class="field group" class:invalid=invalid aria-describedby=described>
                    <legend class="label">{label}</legend>
                    <div class="choices">
                        {options
                            .iter()
                            .map(|o| {
                                let value = o.value;
                                view! {
                                    <label class="choice">
                                        <input
                                            type=if multi { "checkbox" } else { "radio" }
                                            id=format!("field-{id}-{value}")
                                            name=id
                                            value=value
                                            aria-invalid=move || invalid().to_string()
                                            disabled=disabled
                                            prop:checked=move || form.has_choice(id, value)
                                            on:change=move |ev| form.choose(id, value, multi, event_target_checked(&ev))
                                        />
                                        <span>{o.label.get(locale)}</span>
                                    </label>
                                }
                            })
                            .collect_view()}
                    </div>
                    {footer}
                </fieldset>
            }
            .into_any()
        }
        FieldKind::Toggle { .. } => view! {
            <div class="field">
                <label class="switch" for=label_for>
                    <input
                        id=input_id
                        type="checkbox"
                        role="switch"
                        aria-describedby=described
                        disabled=disabled
                        prop:checked=move || form.toggled(id)
                        on:change=move |ev| form.set(id, Value::Bool(event_target_checked(&ev)))
                    />
                    <span class="label">{label}</span>
                </label>
                {footer}
            </div>
        }
        .into_any(),
    }
}
