//! The tab page's binary (frame context `content`, `tab.html`): the tab's view and flows only.

use leptos::prelude::*;
use teams_connector::TabApp;

// Talc instead of the default dlmalloc, as the configuration page (src/main.rs).
#[cfg(all(not(target_feature = "atomics"), target_family = "wasm"))]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

fn main() {
    console_error_panic_hook::set_once();
    mount_to_body(|| view! { <TabApp /> });
}
