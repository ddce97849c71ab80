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

/// The configuration page's file (frame contexts `settings` and `remove`), beside the tab's.
pub(super) const CONFIG_PAGE: &str = "index.html";
/// The tab page's file (frame context `content`), beside the configuration page.
pub(super) const TAB_PAGE: &str = "tab.html";

/// The URL of `file` in this page's directory (`None`: this page itself), without query or
/// fragment.
fn page_url(file: Option<&str>) -> String {
    let location = window().location();
    let origin = location.origin().unwrap_or_default();
    let path = location.pathname().unwrap_or_default();
    match file {
        Some(file) => {
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            format!("{origin}{dir}{file}")
        }
        None => origin + &path,
    }
}

/// The URL of `file` (`None`: this page) carrying `entity_id`, and the edit key in the
/// fragment: what Teams loads to edit the connector, to show the tab, or to remove it.
pub(super) fn content_url(file: Option<&str>, entity_id: &str, key: Option<&str>) -> String {
    let fragment = key
        .map(|k| KEY_FRAGMENT.to_string() + k)
        .unwrap_or_default();
    format!("{}?entityId={entity_id}{fragment}", page_url(file))
}

/// Replaces this page with `file` in the same directory, keeping the query (the `entityId`)
/// and the fragment (the edit key): a frame loaded at the other binary's page.
pub(super) fn go_to(file: &str) {
    let location = window().location();
    let search = location.search().unwrap_or_default();
    let hash = location.hash().unwrap_or_default();
    let _ = location.replace(&format!("{}{search}{hash}", page_url(Some(file))));
}

/// A new connection's `entityId`.
pub(super) fn new_entity_id() -> String {
    window()
        .crypto()
        .map(|c| c.random_uuid())
        .unwrap_or_else(|_| format!("{:x}", js_sys::Date::now() as u64))
}
