//! The configuration page's binary (frame contexts `settings` and `remove`, `index.html`):
//! the form, its save and the remove; a tab's frame goes to the tab page (`src/bin/tab.rs`).

use leptos::prelude::*;
use teams_connector::App;

// Talc instead of the default dlmalloc: smaller and faster in the wasm (`cargo xtask size`
// measured -357 B brotli).
#[cfg(all(not(target_feature = "atomics"), target_family = "wasm"))]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

fn main() {
    console_error_panic_hook::set_once();
    mount_to_body(|| view! { <App /> });
}
