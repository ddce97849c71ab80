//! What the flows read and set in the browser: the page's URL (its `entityId` and the
//! edit key's fragment), the root element's attributes, a new connection id.

use leptos::prelude::*;

/// Where Teams keeps the edit key: the fragment of the `contentUrl` the page saved. A
/// fragment never reaches a server, so no server or CDN log holds it.
pub(super) const KEY_FRAGMENT: &str = "#editKey=";

/// Sets an attribute of the document's root element, where the CSS reads Teams' theme
/// (`data-theme`) and screen readers the language (`lang`).
pub(super) fn set_root(name: &str, value: &str) {
    if let Some(root) = document().document_element() {
        let _ = root.set_attribute(name, value);
    }
}

/// The `entityId` query parameter of this page's URL (set in the `contentUrl` we hand Teams).
pub(super) fn query_entity_id() -> Option<String> {
    let search = window().location().search().ok()?;
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok()?;
    params.get("entityId").filter(|s| !s.is_empty())
}

/// This page's URL carrying `entity_id`, and the edit key in the fragment: what Teams loads
/// to edit the connector, or shows as the tab.
pub(super) fn content_url(entity_id: &str, key: Option<&str>) -> String {
    let location = window().location();
    let origin = location.origin().unwrap_or_default();
    let path = location.pathname().unwrap_or_default();
    let fragment = key
        .map(|k| KEY_FRAGMENT.to_string() + k)
        .unwrap_or_default();
    format!("{origin}{path}?entityId={entity_id}{fragment}")
}

/// A new connection's `entityId`.
pub(super) fn new_entity_id() -> String {
    window()
        .crypto()
        .map(|c| c.random_uuid())
        .unwrap_or_else(|_| format!("{:x}", js_sys::Date::now() as u64))
}
