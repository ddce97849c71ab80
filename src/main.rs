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
