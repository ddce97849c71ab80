//! The operators' console: a page of the admin API, served by the server's internal
//! listener at `/admin/` (never the public one).

mod app;
mod chart;
mod http;
mod time;

use leptos::prelude::*;

// As the configuration page: talc, smaller and faster than dlmalloc in the wasm.
#[cfg(all(not(target_feature = "atomics"), target_family = "wasm"))]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// The theme: `?theme=default|dark|contrast`, else the system's (more contrast or forced
/// colours: contrast; dark: dark), set on `<html data-theme>` as the configuration page does.
fn pick_theme() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let asked = window
        .location()
        .search()
        .ok()
        .and_then(|s| web_sys::UrlSearchParams::new_with_str(&s).ok())
        .and_then(|p| p.get("theme"))
        .filter(|t| ["default", "dark", "contrast"].contains(&t.as_str()));
    let matches = |q: &str| {
        window
            .match_media(q)
            .ok()
            .flatten()
            .is_some_and(|m| m.matches())
    };
    let theme = asked.unwrap_or_else(|| {
        if matches("(forced-colors: active)") || matches("(prefers-contrast: more)") {
            "contrast".into()
        } else if matches("(prefers-color-scheme: dark)") {
            "dark".into()
        } else {
            "default".into()
        }
    });
    if let Some(html) = window.document().and_then(|d| d.document_element()) {
        let _ = html.set_attribute("data-theme", &theme);
    }
}

fn main() {
    console_error_panic_hook::set_once();
    pick_theme();
    mount_to_body(|| view! { <app::App /> });
}
